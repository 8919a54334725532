import Crypto
import Foundation
import ObjectStore
import PipelineCore
import SystemErrors

/// Stages over plain files: list them, checksum them, write records as JSON lines.
enum FileStages {
    static let specs: [StageSpec] = [files, checksum, jsonl]

    static let files = StageSpec(
        type: "files", role: .source,
        summary: "every file matching the patterns, as {path, bytes}",
        parameters: [
            ParameterSpec("paths", .inputs(objects: true), required: true,
                          help: "files, directories or glob patterns (`samples/**/*.mp4`), s3://bucket/prefix, or an http(s):// URL "
                              + "(one file: HTTP has no listing); remote files are cached under the output's .cache/"),
        ]
    ) { parameters, environment in
        .source(FilesSource(urls: parameters.inputs("paths"), log: environment.inputs,
                            objects: ObjectInputs(outputDirectory: environment.outputDirectory)))
    }

    static let checksum = StageSpec(
        type: "checksum", role: .stage,
        summary: "adds the file's digest (streamed in 1 MiB blocks, so any size fits in memory)",
        parameters: [
            ParameterSpec("algorithm", .choice(Digest.allCases.map(\.rawValue)), default: "sha256",
                          help: "digest to compute"),
            ParameterSpec("field", .string, default: "path", help: "the field holding the file path"),
        ],
        parallel: true
    ) { parameters, _ in
        let digest = Digest(rawValue: parameters.string("algorithm")) ?? .sha256
        let field = parameters.string("field")
        return .map { sample in
            guard case let .string(path)? = sample[field] else {
                throw StageError(path: sample.itemDescription, reason: "no string field '\(field)' to read a file from")
            }
            var out = sample
            out[digest.rawValue] = .string(try digest.hex(ofFile: path))
            return [out]
        }
    }

    static let jsonl = StageSpec(
        type: "jsonl", role: .sink,
        summary: "writes each sample as one JSON object per line, atomically",
        parameters: [
            ParameterSpec("path", .output, required: true, help: "output file, relative to the pipeline's output"),
        ],
        obstacles: { parameters in
            do throws(StageError) { try JSONLinesSink.checkPlace(parameters.output("path")) } catch {
                return [Obstacle(key: "path", error.description)]
            }
            return []
        }
    ) { parameters, environment in
        let sink = try JSONLinesSink(url: parameters.output("path"))
        environment.writing(sink.output)
        return .sink(sink)
    }
}

/// Lists files; a file that vanished or cannot be read is reported, not silently dropped. Objects
/// under an `s3://` prefix, and the object an `http(s)://` URL names, are downloaded to the run's
/// cache and listed by their local copy's path, with their URL under `object`.
struct FilesSource: Source {
    let urls: [URL]
    let log: InputLog
    let objects: ObjectInputs

    func run(_ emitter: Emitter<Sample>) throws {
        for url in urls {
            switch ObjectInputs.remote(url) {
            case .object(let prefix)?:
                try emitObjects(under: prefix, emitter)
                continue
            case .web(let web)?:
                try emitObject(.web(web), size: nil, emitter)
                continue
            case nil: break
            }
            guard let file = InputFile(path: url.path) else {
                try emitter.skip(item: url.relativePath, reason: "file is missing or unreadable", failure: .io)
                continue
            }
            if let kind = file.irregularKind {
                try emitter.skip(item: url.relativePath, reason: "is \(kind), not a regular file")
                continue
            }
            log.record(url)
            try emitter.emit(Sample(["path": .string(url.relativePath), "bytes": .int(file.bytes)]))
        }
    }
}

extension FilesSource {
    private func emitObjects(under prefix: ObjectURL, _ emitter: Emitter<Sample>) throws {
        let found: [ObjectInfo]
        do { found = try objects.list(prefix) } catch {
            try emitter.skip(item: prefix.description, reason: error.description, failure: error.failure)
            return
        }
        for info in found { try emitObject(.object(info.object), size: info.size, emitter) }
    }

    /// Downloads one object (unless cached) and emits its local copy; a failure is quarantined by URL.
    private func emitObject(_ remote: ObjectInputs.Remote, size: Int?, _ emitter: Emitter<Sample>) throws {
        let local: URL
        do { local = try objects.localCopy(of: remote, size: size) } catch {
            try emitter.skip(item: remote.description, reason: error.description, failure: error.failure)
            return
        }
        log.record(local)
        // The copy is the object's size: it was checked against it (or downloaded whole) just now.
        let bytes = size ?? InputFile(path: local.path)?.bytes ?? 0
        try emitter.emit(Sample(["path": .string(local.path), "bytes": .int(bytes), "object": .string(remote.description)]))
    }
}

/// Digests the checksum stage offers, from swift-crypto (BoringSSL's assembly on Linux).
enum Digest: String, CaseIterable {
    case sha256, sha512, sha1, md5

    func hex(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StageError(.unreadableInput, path: path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        switch self {
        case .sha256: return try Self.stream(handle, path, into: SHA256())
        case .sha512: return try Self.stream(handle, path, into: SHA512())
        case .sha1: return try Self.stream(handle, path, into: Insecure.SHA1())
        case .md5: return try Self.stream(handle, path, into: Insecure.MD5())
        }
    }

    private static func stream<H: HashFunction>(_ handle: FileHandle, _ path: String, into hasher: H) throws -> String {
        var hasher = hasher
        while true {
            let block: Data
            do { block = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw StageError(.unreadableInput, path: path, reason: "read failed: \(SystemErrorText.words(error))")
            }
            if block.isEmpty { break }
            hasher.update(data: block)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// Writes JSON lines to `<path>.partial` and renames it into place only when every item went
/// through, so a file under the final name is always whole. A stopped (Ctrl-C) or failed run
/// leaves the `.partial` file, holding every record written before it ended. A path taken by a
/// directory or anything else the run did not write is refused before the run starts.
final class JSONLinesSink: Sink {
    let url: URL
    private let partial: URL
    private let handle: FileHandle
    private var buffer = Data()

    var output: PartialOutput { PartialOutput(file: url, partial: partial) }

    init(url: URL) throws(StageError) {
        self.url = url
        partial = url.appendingPathExtension("partial")
        try Self.checkPlace(url)
        try OutputPaths.createDirectory(url.deletingLastPathComponent())
        unlink(partial.path)  // a link left there is replaced, not followed
        let descriptor = open(partial.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StageError(.outputFailed, path: partial.relativePath, reason: "cannot create the output file: \(SystemErrorText.words(errno: errno))")
        }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Fails unless `url` and its `.partial` are absent or files the sink may replace.
    static func checkPlace(_ url: URL) throws(StageError) {
        try OutputPaths.checkReplaceable(url, what: "a JSON lines file")
        try OutputPaths.checkReplaceable(url.appendingPathExtension("partial"), what: "the JSON lines file being written")
    }

    func consume(_ item: Sample) throws {
        buffer.append(try item.jsonLine())
        if buffer.count >= 1 << 20 { try flush() }
    }

    func finish(_ completion: Completion) throws {
        try flush()
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw StageError(.outputFailed, path: partial.relativePath, reason: "cannot flush to disk: \(SystemErrorText.words(error))")
        }
        guard completion == .finished else { return }
        try OutputPaths.commit(partial, to: url)
    }

    private func flush() throws(StageError) {
        guard !buffer.isEmpty else { return }
        do { try handle.write(contentsOf: buffer) } catch {
            throw StageError(.outputFailed, path: partial.relativePath, reason: "cannot write: \(SystemErrorText.words(error))")
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
