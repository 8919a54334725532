import ArgumentParser
import Foundation
import Media

/// One clip of a manifest, decoded: frames `[T, 3, H, W]` in [0, 1], caption log-mel `[frames, mels]`,
/// and the caption's text (empty when the manifest has none).
struct DecodedClip {
    var id: String
    var split: String
    var caption: String
    var frames: [Float]
    var mel: [Float]
}

/// A JSONL clip manifest; paths resolve from its directory.
struct ClipManifest {
    let path: String

    func decode(frames: Int, size: Int, seconds: Double, mel options: MelOptions) throws -> [DecodedClip] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("\(path): cannot read the manifest (\(error.localizedDescription))")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        let extractor = try MelExtractor(options: options)
        var clips: [DecodedClip] = [], skipped = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do {
                clips.append(try decode(line: String(line), base: base, frames: frames, size: size, seconds: seconds, extractor: extractor))
            } catch {
                skipped += 1
                printError("\(path):\(number + 1): skipped: \(error)")
            }
        }
        guard !clips.isEmpty else { throw ValidationError("\(path): no clip could be decoded") }
        if skipped > 0 { printError("\(path): \(skipped) clips skipped, \(clips.count) kept") }
        return clips
    }

    private func decode(line: String, base: URL, frames: Int, size: Int, seconds: Double, extractor: MelExtractor) throws -> DecodedClip {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let id = object["id"] as? String, let video = object["video"] as? String else {
            throw ValidationError("not a JSON object with string 'id' and 'video'")
        }
        func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path }
        let batch = try VideoReader(path: resolve(video)).frames(.uniform(count: frames),
                                                                 output: FrameOutput(size: .exact(width: size, height: size)))
        guard batch.count == frames else { throw ValidationError("\(video): \(batch.count) frames decoded, \(frames) wanted") }
        // N x H x W x 3 bytes -> N x 3 x H x W in [0, 1].
        let plane = size * size
        var pixels = [Float](repeating: 0, count: frames * 3 * plane)
        for n in 0..<frames { for p in 0..<plane { for c in 0..<3 {
            pixels[(n * 3 + c) * plane + p] = Float(batch.pixels[(n * plane + p) * 3 + c]) / 255
        } } }
        var audio = try AudioReader.load(path: resolve(object["audio"] as? String ?? video), sampleRate: extractor.options.sampleRate)
        let limit = Int(seconds * Double(extractor.options.sampleRate))
        if audio.samples.count > limit { audio.samples = Array(audio.samples.prefix(limit)) }
        let spectrogram = try extractor.compute(audio)
        guard spectrogram.frames > 0 else { throw ValidationError("caption shorter than one mel frame") }
        return DecodedClip(id: id, split: object["split"] as? String ?? "train", caption: object["caption"] as? String ?? "",
                           frames: pixels, mel: spectrogram.values)
    }
}
