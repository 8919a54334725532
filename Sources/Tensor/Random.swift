import Foundation

/// A seeded generator (xoshiro256**) whose whole state can be saved in a checkpoint, so a resumed
/// run draws the same dropout masks and shuffles as an uninterrupted one.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// The four state words; save them and restore with `init?(state:)` to continue the stream.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A generator seeded through SplitMix64 (so nearby seeds give unrelated streams).
    public init(seed: UInt64) {
        var x = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
    }

    /// A generator continuing from a saved state (four words, not all zero).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotate(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotate(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (converted through Int32, exact below 2^24: x86 has no
    /// single instruction for UInt64 to Float, and dropout draws one per element).
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(Int32(truncatingIfNeeded: next() >> 40)) * (1.0 / 16_777_216.0)
    }

    /// Standard normal (Box-Muller).
    public mutating func nextNormal() -> Float {
        let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(1 - u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension Tensor {
    /// Uniform in [low, high): PyTorch's default for Linear weights and biases uses
    /// low = -high = -1/sqrt(fan_in).
    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout RandomGenerator,
                               requiresGrad: Bool = false) -> Tensor {
        let result = Tensor(uninitialized: shape)
        let out = result.storage.pointer
        for i in 0..<result.count { out[i] = low + (high - low) * rng.nextUniform() }
        result.requiresGrad = requiresGrad
        return result
    }

    /// Normal with the given mean and standard deviation (PyTorch's Embedding default is N(0, 1);
    /// BERT initialises with std 0.02).
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout RandomGenerator,
                              requiresGrad: Bool = false) -> Tensor {
        let result = Tensor(uninitialized: shape)
        let out = result.storage.pointer
        for i in 0..<result.count { out[i] = mean + std * rng.nextNormal() }
        result.requiresGrad = requiresGrad
        return result
    }
}
