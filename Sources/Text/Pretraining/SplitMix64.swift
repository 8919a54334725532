/// A small seeded generator (SplitMix64) whose streams are the same on every platform and Swift
/// version, so masking is reproducible from a seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose stream depends only on `seed`.
    public init(seed: UInt64) { state = seed }

    @inline(__always)
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<n (n > 0), by Lemire's multiply-shift (bias below 2^-32 for n < 2^32).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: n).multipliedFullWidth(by: next())).high)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// An independent stream for item `index` of a job seeded with `seed` (for parallel work).
    public static func stream(seed: UInt64, index: Int) -> SplitMix64 {
        var g = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        return SplitMix64(seed: g.next())
    }
}
