import Foundation
import Synchronization

/// Where every frame of a video stream is: presentation timestamps and keyframes, from one demux
/// pass (no decoding). Frame k is the k-th frame in presentation order, which is the k-th frame
/// the decoder outputs and the k-th frame the ffmpeg CLI numbers (`select=eq(n\,k)`).
public struct FrameIndex: Sendable, Equatable {
    /// Presentation timestamps in stream time-base ticks, ascending; one per frame.
    public let timestamps: [Int64]
    /// Frame numbers (ascending) that are keyframes: where decoding can start after a seek.
    public let keyframes: [Int]
    /// The stream time base, seconds per tick = numerator / denominator.
    public let timeBase: (numerator: Int64, denominator: Int64)
    /// The container's start time in ticks: the ffmpeg CLI counts output time from here.
    public let clockStart: Int64
    /// Ticks the last frame lasts (its packet's duration, else the gap before it).
    public let lastFrameTicks: Int64
    /// Frames are numbered by counting decoded pictures from the start, not by packet timestamps:
    /// for raw streams, packets without unique timestamps (MPEG program streams) and files that
    /// cannot seek. Every access then decodes forward from frame 0, the only keyframe listed.
    public let sequential: Bool

    /// Seconds per tick of `timestamps`.
    public var secondsPerTick: Double { Double(timeBase.numerator) / Double(timeBase.denominator) }

    /// The true number of frames (the container header's count may be missing or wrong).
    public var count: Int { timestamps.count }

    /// Builds the index from packets in any order (decode order in the file).
    init(packets: [(timestamp: Int64, duration: Int64, isKey: Bool)], timeBase: (numerator: Int64, denominator: Int64),
         clockStart: Int64) {
        let sorted = packets.sorted { $0.timestamp < $1.timestamp }
        timestamps = sorted.map(\.timestamp)
        keyframes = sorted.indices.filter { sorted[$0].isKey }
        self.timeBase = timeBase
        self.clockStart = clockStart
        let gap = sorted.count > 1 ? sorted[sorted.count - 1].timestamp &- sorted[sorted.count - 2].timestamp : 0
        lastFrameTicks = sorted.last.map { $0.duration > 0 ? $0.duration : gap } ?? 0
        sequential = false
    }

    /// The index of a stream read by counting decoded pictures: `timestamps` (ascending) in
    /// decoding order, each picture lasting `frameTicks`.
    init(decodedTimestamps timestamps: [Int64], frameTicks: Int64, timeBase: (numerator: Int64, denominator: Int64),
         clockStart: Int64) {
        self.timestamps = timestamps
        keyframes = [0]
        self.timeBase = timeBase
        self.clockStart = clockStart
        lastFrameTicks = frameTicks
        sequential = true
    }

    public static func == (a: FrameIndex, b: FrameIndex) -> Bool {
        a.timestamps == b.timestamps && a.keyframes == b.keyframes && a.timeBase == b.timeBase
            && a.clockStart == b.clockStart && a.lastFrameTicks == b.lastFrameTicks && a.sequential == b.sequential
    }

    /// Frame numbers resampled to `fps` exactly as the ffmpeg CLI's `fps` filter does: on the
    /// container clock, output slot j holds the last frame whose time rounds (half away from
    /// zero) to at most j x (1/fps), for every slot from the first frame's to the end of the last.
    /// Nil when that would be more than `limit` output frames (or `fps` is not a positive number).
    public func resampled(fps: Double, limit: Int = FrameSelection.maximumFrames) -> [Int]? {
        guard count > 0 else { return [] }
        func time(_ ticks: Int64) -> Double {
            (Double(ticks &- clockStart) * Double(timeBase.numerator) * fps / Double(timeBase.denominator))
                .rounded(.toNearestOrAwayFromZero)
        }
        let first = time(timestamps[0]), last = time(timestamps[count - 1] &+ lastFrameTicks)
        guard fps > 0, last - first <= Double(limit), abs(first) < 0x1p62, abs(last) < 0x1p62 else { return nil }
        // Every slot lies between `first` and `last`, so each fits an Int64.
        func slot(_ ticks: Int64) -> Int64 { Int64(time(ticks)) }
        let end = slot(timestamps[count - 1] &+ lastFrameTicks)
        var numbers: [Int] = [], frame = 0
        var j = slot(timestamps[0])
        while j < end {
            while frame + 1 < count && slot(timestamps[frame + 1]) <= j { frame += 1 }
            numbers.append(frame)
            j += 1
        }
        return numbers
    }

    /// Seconds from the container's start to the start of frame `k`: the clock the ffmpeg CLI's
    /// `-ss` counts on (ffprobe's pts_time minus the container's start_time).
    public func seconds(ofFrame k: Int) -> Double {
        Double(timestamps[k] &- clockStart) * secondsPerTick
    }

    /// Seconds the stream lasts: from the start of the first frame to the end of the last.
    public var duration: Double {
        guard count > 0 else { return 0 }
        return Double(timestamps[count - 1] &- timestamps[0] &+ lastFrameTicks) * secondsPerTick
    }

    /// The first frame starting at or after `seconds` on the container clock: the picture
    /// `ffmpeg -ss T -i F -frames:v 1` gives (the time rounds to the nearest tick first, as
    /// FFmpeg's trim does). Nil when no frame starts that late, or for a negative time.
    public func frame(atOrAfter seconds: Double) -> Int? {
        guard count > 0, seconds >= 0 else { return nil }
        // In floating point first: a time past the last frame (1e19 s, infinity) has no tick.
        let ticks = (seconds / secondsPerTick).rounded(.toNearestOrAwayFromZero)
        guard ticks <= Double(timestamps[count - 1]) - Double(clockStart) else { return nil }
        let tick = clockStart &+ Int64(ticks)
        var low = 0, high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if timestamps[middle] >= tick { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The keyframe at or before frame `k` (frame 0 when none is marked before it).
    public func keyframe(atOrBefore k: Int) -> Int {
        let after = keyframesUpTo(k)
        return after > 0 ? keyframes[after - 1] : 0
    }

    /// The keyframe nearest frame `k`, the earlier one when two are equally near.
    public func keyframe(nearest k: Int) -> Int {
        let after = keyframesUpTo(k)
        let before = after > 0 ? keyframes[after - 1] : 0
        guard after < keyframes.count else { return before }
        return keyframes[after] - k < k - before ? keyframes[after] : before
    }

    /// How many keyframes are at or before frame `k` (the position of the first one after it).
    private func keyframesUpTo(_ k: Int) -> Int {
        var low = 0, high = keyframes.count
        while low < high {
            let middle = (low + high) / 2
            if keyframes[middle] <= k { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Looks up a frame number by its timestamp.
    func frameNumber(ofTimestamp timestamp: Int64) -> Int? {
        var low = 0, high = count - 1
        while low <= high {
            let middle = (low + high) / 2
            if timestamps[middle] == timestamp { return middle }
            if timestamps[middle] < timestamp { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }
}

/// Indexes already built in this process, keyed by file identity, so reopening a file for
/// random access does not rescan it.
enum FrameIndexCache {
    /// Path plus size and modification time: a rewritten file gets a new entry.
    struct Key: Hashable {
        let path: String
        let size: Int
        let modified: Double
        let stream: Int32
    }

    /// Bound on entries: an index costs about 8 bytes per frame (150 KB for 10 minutes at 30 fps),
    /// so this stays under ~40 MB even for long videos and is a few MB for short clips; cleared
    /// wholesale when full (simple, and a miss only costs one demux pass).
    static let capacity = 256
    private static let entries = Mutex<[Key: FrameIndex]>([:])

    /// The key of the file `path` names (of its target, for a symbolic link), nil if it is gone.
    static func key(path: String, stream: Int32) -> Key? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
        return Key(path: path, size: Int(status.st_size), modified: modified, stream: stream)
    }

    static func lookup(_ key: Key) -> FrameIndex? {
        entries.withLock { $0[key] }
    }

    static func removeAll() {
        entries.withLock { $0.removeAll() }
    }

    static func store(_ index: FrameIndex, for key: Key) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = index
        }
    }
}
