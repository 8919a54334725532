import ArgumentParser
import Foundation
import Media
import Training

/// One clip of a manifest, decoded: frames `[T, 3, H, W]` in [0, 1], caption log-mel `[frames, mels]`,
/// the caption's text (empty when the manifest has none), and the line's other text fields
/// (`direction`, `shape`) for evaluations that group clips by them.
struct DecodedClip {
    var id: String
    var split: String
    var caption: String
    var fields: [String: String]
    var frames: [Float]
    var mel: [Float]
}

/// Decodes media into what a clip model takes: `clip.frames` frames spread evenly over a video,
/// scaled to `clip.size` squared, and the log-mel of at most `clip.seconds` of a caption's audio.
struct ClipDecoder {
    let clip: ClipShape
    let extractor: MelExtractor

    init(_ clip: ClipShape) throws {
        var options = MelOptions()
        options.melBins = clip.melBins
        (self.clip, extractor) = (clip, try MelExtractor(options: options))
    }

    /// `[frames, 3, size, size]` in [0, 1].
    func frames(of path: String) throws -> [Float] {
        let (count, size) = (clip.frames, clip.size)
        let batch = try VideoReader(path: path).frames(.uniform(count: count), output: FrameOutput(size: .exact(width: size, height: size)))
        guard batch.count == count else { throw ValidationError("\(path): \(batch.count) frames decoded, \(count) wanted") }
        // N x H x W x 3 bytes -> N x 3 x H x W in [0, 1].
        let plane = size * size
        var pixels = [Float](repeating: 0, count: count * 3 * plane)
        for n in 0..<count { for p in 0..<plane { for c in 0..<3 {
            pixels[(n * 3 + c) * plane + p] = Float(batch.pixels[(n * plane + p) * 3 + c]) / 255
        } } }
        return pixels
    }

    /// `[melFrames, melBins]` of the audio of `path` (a sound file or a video's track).
    func mel(of path: String) throws -> [Float] {
        var audio = try AudioReader.load(path: path, sampleRate: extractor.options.sampleRate)
        let limit = Int(clip.seconds * Double(extractor.options.sampleRate))
        if audio.samples.count > limit { audio.samples = Array(audio.samples.prefix(limit)) }
        let spectrogram = try extractor.compute(audio)
        guard spectrogram.frames > 0 else { throw ValidationError("\(path): caption shorter than one mel frame") }
        return spectrogram.values
    }
}

/// A JSONL clip manifest; paths resolve from its directory.
struct ClipManifest {
    let path: String

    /// Every clip of the manifest (of `split` when given) that decodes; the others are reported
    /// with their line and reason and left out.
    func decode(_ clip: ClipShape, split: String? = nil) throws -> [DecodedClip] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("\(path): cannot read the manifest (\(error.localizedDescription))")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        let decoder = try ClipDecoder(clip)
        var clips: [DecodedClip] = [], skipped = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do {
                if let decoded = try decode(line: String(line), base: base, split: split, decoder: decoder) { clips.append(decoded) }
            } catch {
                skipped += 1
                printError("\(path):\(number + 1): skipped: \(error)")
            }
        }
        guard !clips.isEmpty else { throw ValidationError("\(path): no clip\(split.map { " of split '\($0)'" } ?? "") could be decoded") }
        if skipped > 0 { printError("\(path): \(skipped) clips skipped, \(clips.count) kept") }
        return clips
    }

    private func decode(line: String, base: URL, split wanted: String?, decoder: ClipDecoder) throws -> DecodedClip? {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let id = object["id"] as? String, let video = object["video"] as? String else {
            throw ValidationError("not a JSON object with string 'id' and 'video'")
        }
        let split = object["split"] as? String ?? "train"
        if let wanted, split != wanted { return nil }
        func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path }
        return DecodedClip(id: id, split: split, caption: object["caption"] as? String ?? "",
                           fields: object.compactMapValues { $0 as? String },
                           frames: try decoder.frames(of: resolve(video)),
                           mel: try decoder.mel(of: resolve(object["audio"] as? String ?? video)))
    }
}

extension ClipDataset {
    /// Decoded clips batched `batchSize` at a time in a seeded order.
    init(_ clips: [DecodedClip], clip: ClipShape, batchSize: Int, seed: UInt64) throws {
        try self.init(frames: clips.map(\.frames), mels: clips.map(\.mel), ids: clips.map(\.id), captions: clips.map(\.caption),
                      frameShape: clip.frameShape, melBins: clip.melBins, batchSize: batchSize, seed: seed)
    }
}
