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

    /// This generator `n` draws further on, without drawing them. Threads that each start at their
    /// own offset draw between them exactly the numbers one thread would draw in order.
    ///
    /// xoshiro's state update is linear over GF(2): n updates are the 256 x 256 bit matrix T^n,
    /// the product of the precomputed T^(2^i) for the set bits of n.
    public func advanced(by n: UInt64) -> RandomGenerator {
        var state = (s0, s1, s2, s3)
        var bits = n
        while bits != 0 {
            state = Self.powers.apply(bits.trailingZeroBitCount, to: state)
            bits &= bits &- 1
        }
        var result = self
        (result.s0, result.s1, result.s2, result.s3) = state
        return result
    }

    /// The matrices T^(2^i), i < 64: column j of T^(2^i) is the state that 2^i updates make
    /// from the state with only bit j set (built once, 512 KB).
    private static let powers = StepPowers()

    private struct StepPowers: Sendable {
        typealias State = (UInt64, UInt64, UInt64, UInt64)
        /// 64 matrices x 256 columns x 4 words.
        private var words = [UInt64](repeating: 0, count: 64 * 256 * 4)

        init() {
            for j in 0..<256 {
                var unit: [UInt64] = [0, 0, 0, 0]
                unit[j / 64] = 1 << UInt64(j % 64)
                var generator = RandomGenerator(seed: 0)
                (generator.s0, generator.s1, generator.s2, generator.s3) = (unit[0], unit[1], unit[2], unit[3])
                _ = generator.next()
                store((generator.s0, generator.s1, generator.s2, generator.s3), power: 0, column: j)
            }
            for i in 1..<64 {
                for j in 0..<256 { store(apply(i - 1, to: column(i - 1, j)), power: i, column: j) }
            }
        }

        private func column(_ power: Int, _ j: Int) -> State {
            let base = (power &* 256 &+ j) &* 4
            return (words[base], words[base + 1], words[base + 2], words[base + 3])
        }

        private mutating func store(_ state: State, power: Int, column j: Int) {
            let base = (power &* 256 &+ j) &* 4
            (words[base], words[base + 1], words[base + 2], words[base + 3]) = state
        }

        /// T^(2^power) times `state`: the XOR of the columns for the state's set bits.
        func apply(_ power: Int, to state: State) -> State {
            var result: State = (0, 0, 0, 0)
            for (index, word) in [state.0, state.1, state.2, state.3].enumerated() {
                var bits = word
                while bits != 0 {
                    let c = column(power, index &* 64 &+ bits.trailingZeroBitCount)
                    result = (result.0 ^ c.0, result.1 ^ c.1, result.2 ^ c.2, result.3 ^ c.3)
                    bits &= bits &- 1
                }
            }
            return result
        }
    }
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
