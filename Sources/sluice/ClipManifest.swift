import ArgumentParser
import Foundation
import Media
import Pipelines

/// One clip of a manifest, decoded: frames `[T, 3, H, W]` in [0, 1], caption log-mel `[frames, mels]`,
/// and the caption's text (empty when the manifest has none).
struct DecodedClip {
    var id: String
    var split: String
    var caption: String
    var frames: [Float]
    var mel: [Float]
}

/// A JSONL clip manifest; paths resolve from its directory. A clip that cannot be used (a
/// malformed line, a missing or undecodable file, no audio track, a caption shorter than one mel
/// window) is reported and left out; with `quarantine`, each goes there as one JSON line with the
/// manifest file, the line number, the clip's id and the reason (the file is written whole,
/// `.partial` then renamed, also when nothing was left out, so it is never a previous run's).
struct ClipManifest {
    let path: String
    var quarantine: URL?

    func decode(frames: Int, size: Int, seconds: Double, mel options: MelOptions) throws -> [DecodedClip] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("\(path): cannot read the manifest (\(error.localizedDescription))")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        let extractor = try MelExtractor(options: options)
        var clips: [DecodedClip] = [], skipped: [[String: Any]] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                clips.append(try decode(line: String(line), base: base, frames: frames, size: size, seconds: seconds, extractor: extractor))
            } catch {
                let id = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
                skipped.append(["file": path, "line": number + 1, "id": id ?? NSNull(), "reason": "\(error)"])
                printError("\(path):\(number + 1): skipped: \(error)")
            }
        }
        try quarantine.map { try write(skipped, to: $0) }
        guard !clips.isEmpty else { throw ValidationError("\(path): no clip could be decoded") }
        if !skipped.isEmpty {
            printError("\(path): \(skipped.count) clips skipped, \(clips.count) kept" + (quarantine.map { "; see \($0.path)" } ?? ""))
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
            throw ValidationError("\(file.path): cannot write the quarantine file (\(error.localizedDescription))")
        }
    }

    private func decode(line: String, base: URL, frames: Int, size: Int, seconds: Double, extractor: MelExtractor) throws -> DecodedClip {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let id = object["id"] as? String, let video = object["video"] as? String else {
            throw ValidationError("not a JSON object with string 'id' and 'video'")
        }
        func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path }
        let batch = try VideoReader(path: resolve(video)).frames(.uniform(count: frames),
                                                                 output: FrameOutput(size: .exact(width: size, height: size)))
        guard batch.count == frames else { throw ValidationError("\(video): \(batch.count) frames decoded, \(frames) wanted") }
        guard let pixels = batch.ndarray.planarFrames() else { throw ValidationError("\(video): frames are not RGB") }
        var audio = try AudioReader.load(path: resolve(object["audio"] as? String ?? video), sampleRate: extractor.options.sampleRate)
        // Centred framing gives even an empty waveform a frame of padding: a caption must fill one window.
        guard audio.samples.count >= extractor.options.windowLength else {
            throw ValidationError("the spoken caption has \(audio.samples.count) samples, shorter than one mel frame of \(extractor.options.windowLength)")
        }
        let limit = Int(seconds * Double(extractor.options.sampleRate))
        if audio.samples.count > limit { audio.samples = Array(audio.samples.prefix(limit)) }
        let spectrogram = try extractor.compute(audio)
        return DecodedClip(id: id, split: object["split"] as? String ?? "train", caption: object["caption"] as? String ?? "",
                           frames: pixels, mel: spectrogram.values)
    }
}
