import Foundation
import PipelineCore

/// Array output as NumPy files, for frames, spectrograms and token ids alike.
enum NPYStages {
    static let specs: [StageSpec] = [npy, decode]

    static let decode = StageSpec(
        type: "npy_decode", role: .stage,
        summary: "turns .npy file bytes (a WebDataset `frames.npy` member, an MDS bytes column) into arrays, "
            + "as numpy.load does: the other stages' arrays again",
        parameters: [
            ParameterSpec("fields", .strings,
                          help: "the fields holding .npy bytes, each replaced by its array (default: every bytes field whose name ends in npy)"),
        ],
        parallel: true
    ) { parameters, _ in
        let named = parameters.strings("fields")
        return .map { sample in
            var out = sample
            let fields = named.isEmpty ? sample.fields.keys.filter { $0.hasSuffix("npy") } : named
            for field in fields {
                guard case let .bytes(bytes)? = sample[field] else {
                    guard named.isEmpty else { throw StageError(path: sample.itemDescription, reason: "no bytes field '\(field)' to read an array from") }
                    continue
                }
                do { out[field] = .array(try NPY.decode(bytes, file: "\(sample.itemDescription).\(field)")) } catch {
                    throw StageError(path: sample.itemDescription, reason: "\(error)")
                }
            }
            return [out]
        }
    }

    static let npy = StageSpec(
        type: "npy", role: .sink,
        summary: "writes each array field as <id>.<field>.npy (<position> without a usable id) "
            + "and the other fields, with those file names, to index.jsonl",
        parameters: [
            ParameterSpec("directory", .output, required: true, help: "output directory, relative to the pipeline's output"),
        ]
    ) { parameters, environment in
        let sink = try NPYFilesSink(directory: parameters.output("directory"))
        environment.writing(sink.index.output)
        return .sink(sink)
    }
}

/// Writes array fields as .npy files and an index.jsonl of the remaining fields with those
/// files' names, one row per item. Names are unique and bounded: the item's `id` (characters
/// other than letters, digits, `.`, `-`, `_` become `_`), else its 0-based position in the
/// sink's input. Two items that would write the same name are an error on the second (under
/// `skip`, it is quarantined), so every row names its own files. The index is renamed into place
/// only when the run ends cleanly, like the jsonl sink.
final class NPYFilesSink: Sink {
    /// Stems longer than this fall back to the position, keeping names under NAME_MAX (255).
    static let maxStemBytes = 160

    private let directory: URL
    let index: JSONLinesSink
    private var position = 0
    /// Stem -> the item that took it.
    private var taken: [String: String] = [:]

    init(directory: URL) throws {
        self.directory = directory
        try OutputPaths.createDirectory(directory)
        index = try JSONLinesSink(url: directory.appendingPathComponent("index.jsonl"))
    }

    func consume(_ item: Sample) throws {
        defer { position += 1 }
        let stem = Self.stem(id: item["id"]) ?? String(format: "%08d", position)
        if let earlier = taken[stem] {
            throw StageError(.outputCollision, path: item.itemDescription,
                             reason: "its files would be named \(stem).*.npy, which \(earlier) already wrote (ids must be unique)")
        }
        var row = Sample()
        var written: [URL] = []
        do {
            for (key, value) in item.fields {
                guard case let .array(array) = value else {
                    row[key] = value
                    continue
                }
                let name = "\(stem).\(Self.safe(key)).npy"
                guard name.utf8.count <= 255 else {
                    throw StageError(.outputFailed, path: item.itemDescription, reason: "field name '\(key)' makes the file name too long")
                }
                let url = directory.appendingPathComponent(name)
                try OutputPaths.checkReplaceable(url, what: "an .npy file")
                try NPY.write(array, to: url)
                written.append(url)
                row[key] = .string(name)
            }
        } catch {
            // This item's files would be in no index row: take them back.
            for url in written { unlink(url.path) }
            throw error
        }
        taken[stem] = item.itemDescription
        try index.consume(row)
    }

    func finish(_ completion: Completion) throws {
        try index.finish(completion)
    }

    /// The file-name stem an `id` gives, or nil when there is none or it would be too long.
    static func stem(id: Value?) -> String? {
        let text: String
        switch id {
        case .string(let s)?: text = s
        case .int(let n)?: text = String(n)
        default: return nil
        }
        let stem = safe(text)
        guard !stem.isEmpty, stem.utf8.count <= maxStemBytes, !stem.hasPrefix(".") else { return nil }
        return stem
    }

    /// `text` with every character but ASCII letters, digits, `.`, `-` and `_` as `_`.
    static func safe(_ text: String) -> String {
        String(text.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
    }
}
