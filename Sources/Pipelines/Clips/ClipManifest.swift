import Foundation
import Media
import PipelineCore
import SystemErrors
import Training

/// One clip of a manifest, decoded: frames `[T, 3, H, W]` in [0, 1], caption log-mel `[frames, mels]`,
/// the caption's text (empty when the manifest has none), and the line's other text fields
/// (`direction`, `shape`) for evaluations that group clips by them.
public struct DecodedClip: Sendable {
    public var id: String
    public var split: String
    public var caption: String
    public var fields: [String: String]
    public var frames: [Float]
    public var mel: [Float]
}

/// Decodes media into what a clip model takes: `clip.frames` frames spread evenly over a video,
/// scaled to `clip.size` squared, and the log-mel of at most `clip.seconds` of a caption's audio.
public struct ClipDecoder {
    public let clip: ClipShape
    let extractor: MelExtractor

    public init(_ clip: ClipShape) throws {
        var options = MelOptions()
        options.melBins = clip.melBins
        (self.clip, extractor) = (clip, try MelExtractor(options: options))
    }

    /// `[frames, 3, size, size]` in [0, 1].
    public func frames(of path: String) throws -> [Float] {
        let (count, size) = (clip.frames, clip.size)
        let batch = try VideoReader(path: path).frames(.uniform(count: count), output: FrameOutput(size: .exact(width: size, height: size)))
        guard batch.count == count else { throw StageError(.unreadableInput, path: path, reason: "\(batch.count) frames decoded, \(count) wanted") }
        guard let pixels = batch.ndarray.planarFrames() else { throw StageError(.unreadableInput, path: path, reason: "frames are not RGB") }
        return pixels
    }

    /// `[melFrames, melBins]` of the audio of `path` (a sound file or a video's track).
    public func mel(of path: String) throws -> [Float] {
        var audio = try AudioReader.load(path: path, sampleRate: extractor.options.sampleRate)
        // Centred framing gives even an empty waveform a frame of padding: a caption must fill one window.
        guard audio.samples.count >= extractor.options.windowLength else {
            throw StageError(.invalidItem, path: path, reason: "the spoken caption has \(audio.samples.count) samples, shorter than one mel frame of \(extractor.options.windowLength)")
        }
        let limit = Int(clip.boundedSeconds * Double(extractor.options.sampleRate))
        if audio.samples.count > limit { audio.samples = Array(audio.samples.prefix(limit)) }
        return try extractor.compute(audio).values
    }
}

/// A clip manifest (JSON lines, or CSV/TSV with a header row: `ManifestRows`); paths resolve from
/// its directory. A clip that cannot be used (a malformed row, a missing or undecodable file, no
/// audio track, a caption shorter than one mel window) is reported and left out; with `quarantine`,
/// each goes there as one JSON line with the manifest file, the line number, the clip's id and the
/// reason (the file is written whole, `.partial` then renamed, also when nothing was left out, so
/// it is never a previous run's).
public struct ClipManifest {
    public let path: String
    public var quarantine: URL?
    /// Column renames (`file_name` -> `video`), as the manifest source's `columns`.
    public var columns: [String: String]

    public init(path: String, quarantine: URL? = nil, columns: [String: String] = [:]) {
        (self.path, self.quarantine, self.columns) = (path, quarantine, columns)
    }

    /// Every clip of the manifest (of `split` when given) that decodes, the first `limit` of them
    /// (later rows are not decoded, so memory is bounded by `limit` whatever the manifest's size).
    public func decode(_ clip: ClipShape, split: String? = nil, limit: Int = .max) throws -> [DecodedClip] {
        let rows = ManifestRows(file: URL(fileURLWithPath: path), name: path, columns: columns).makeIterator()
        try rows.check()
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        let decoder = try ClipDecoder(clip)
        var clips: [DecodedClip] = [], skipped: [[String: Any]] = []
        while clips.count < limit, let row = rows.next() {
            do {
                if let decoded = try decode(row, item: "\(path):\(row.line)", base: base, split: split, decoder: decoder) {
                    clips.append(decoded)
                }
            } catch {
                skipped.append(["file": path, "line": row.line, "id": row.fields["id"]?.string ?? NSNull(), "reason": "\(error)"])
                standardError("\(path):\(row.line): skipped: \(error)")
            }
        }
        try quarantine.map { try write(skipped, to: $0) }
        guard !clips.isEmpty else { throw StageError(.invalidItem, path: path, reason: "no clip\(split.map { " of split '\($0)'" } ?? "") could be decoded") }
        if !skipped.isEmpty {
            standardError("\(path): \(skipped.count) clips skipped, \(clips.count) kept" + (quarantine.map { "; see \($0.path)" } ?? ""))
        }
        return clips
    }

    private func write(_ records: [[String: Any]], to file: URL) throws {
        let partial = file.appendingPathExtension("partial")
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            var data = Data()
            for record in records {
                data += try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
                data.append(0x0A)
            }
            try data.write(to: partial)
            guard rename(partial.path, file.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw StageError(.outputFailed, path: file.path, reason: "cannot write the quarantine file: \(SystemErrorText.words(error))")
        }
    }

    private func decode(_ row: ManifestRow, item: String, base: URL, split wanted: String?, decoder: ClipDecoder) throws -> DecodedClip? {
        if let problem = row.problem { throw StageError(.invalidItem, path: item, reason: problem) }
        guard let id = row.fields["id"]?.string, let video = row.fields["video"]?.string else {
            throw StageError(.invalidItem, path: item, reason: "a row needs string 'id' and 'video'")
        }
        let split = row.fields["split"]?.string ?? "train"
        if let wanted, split != wanted { return nil }
        func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path }
        return DecodedClip(id: id, split: split, caption: row.fields["caption"]?.string ?? "",
                           fields: row.fields.compactMapValues(\.string),
                           frames: try decoder.frames(of: resolve(video)),
                           mel: try decoder.mel(of: resolve(row.fields["audio"]?.string ?? video)))
    }
}

extension ClipDataset {
    /// Decoded clips batched `batchSize` at a time in a seeded order.
    public init(_ clips: [DecodedClip], clip: ClipShape, batchSize: Int, seed: UInt64) throws {
        try self.init(frames: clips.map(\.frames), mels: clips.map(\.mel), ids: clips.map(\.id), captions: clips.map(\.caption),
                      frameShape: clip.frameShape, melBins: clip.melBins, batchSize: batchSize, seed: seed)
    }
}

private func standardError(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
