/// Which frames to take from a video. Every case resolves to exact frame numbers through the
/// file's `FrameIndex`, so the same selection gives the same pictures on every run.
public enum FrameSelection: Sendable, Equatable {
    /// Every frame.
    case all
    /// These frame numbers, in the order given (repeats allowed).
    case indices([Int])
    /// For each time, in seconds from the container's start, the first frame starting at or after
    /// it: the picture `ffmpeg -ss T -i F -frames:v 1` gives.
    case timestamps([Double])
    /// `count` frames spread evenly: the middle frame of each of `count` equal segments.
    case uniform(count: Int)
    /// `count` frames, one drawn from `seed` inside each of `count` equal segments: `uniform`
    /// with temporal jitter, a new view of a clip for each seed.
    case jittered(count: Int, seed: UInt64)
    /// Resampled to `fps` as `ffmpeg -vf fps=F` does (frames dropped or repeated; see
    /// `FrameIndex.resampled(fps:)`).
    case fps(Double)
    /// The frames starting inside a window of `seconds` whose start is drawn uniformly from `seed`.
    case randomClip(seconds: Double, seed: UInt64)
    /// Every `step`-th frame from `start`.
    case stride(Int, start: Int = 0)

    /// The most frames one selection may name (uniform counts, resampled rates): ten million
    /// frame numbers are 80 MB, and far more pictures than any batch can hold.
    public static let maximumFrames = 10_000_000

    /// The frame numbers this selection means for a stream indexed by `index`.
    public func frameNumbers(in index: FrameIndex, path: String) throws(MediaError) -> [Int] {
        let count = index.count
        func invalid(_ reason: String) -> MediaError { MediaError(.outOfRange, path: path, reason) }
        guard count > 0 else { throw MediaError(.invalidData, path: path, "video stream has no frames") }
        switch self {
        case .all:
            return Array(0..<count)
        case .indices(let numbers):
            if let bad = numbers.first(where: { $0 < 0 || $0 >= count }) {
                throw invalid("frame \(bad) requested; the stream has frames 0..<\(count)")
            }
            return numbers
        case .timestamps(let times):
            return try times.map { (time) throws(MediaError) -> Int in
                guard time >= 0, time.isFinite else { throw invalid("time \(time) s requested; times are finite and count from 0") }
                guard let frame = index.frame(atOrAfter: time) else {
                    throw invalid("no frame starts at or after \(time) s; the last starts at \(index.seconds(ofFrame: count - 1)) s")
                }
                return frame
            }
        case .uniform(let n):
            guard n > 0, n <= Self.maximumFrames else {
                throw invalid("uniform frame count must be in 1...\(Self.maximumFrames), got \(n)")
            }
            return (0..<n).map { min(count - 1, Int((Double($0) + 0.5) * Double(count) / Double(n))) }
        case .jittered(let n, let seed):
            guard n > 0, n <= Self.maximumFrames else {
                throw invalid("uniform frame count must be in 1...\(Self.maximumFrames), got \(n)")
            }
            var generator = SplitMix64(seed: seed)
            return (0..<n).map { min(count - 1, Int((Double($0) + generator.nextUnit()) * Double(count) / Double(n))) }
        case .fps(let fps):
            guard fps > 0, fps.isFinite else { throw invalid("target fps must be a positive number, got \(fps)") }
            guard let numbers = index.resampled(fps: fps) else {
                throw invalid("\(fps) fps over \(index.duration) s would make more than \(Self.maximumFrames) frames")
            }
            return numbers
        case .randomClip(let seconds, let seed):
            guard seconds > 0, seconds <= index.duration else {
                throw invalid("clip of \(seconds) s requested; the stream lasts \(index.duration) s")
            }
            var generator = SplitMix64(seed: seed)
            let start = index.seconds(ofFrame: 0) + generator.nextUnit() * (index.duration - seconds)
            let end = start + seconds
            return (0..<count).filter { index.seconds(ofFrame: $0) >= start && index.seconds(ofFrame: $0) < end }
        case .stride(let step, let start):
            guard step > 0, start >= 0, start < count else {
                throw invalid("stride \(step) from frame \(start) is outside frames 0..<\(count)")
            }
            return Array(Swift.stride(from: start, to: count, by: step))
        }
    }
}

/// SplitMix64: a tiny seeded generator, so "random" windows are the same on every platform and run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose whole sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double uniformly in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
