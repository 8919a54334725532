import Foundation
import Media
import PipelineCore
import Pipelines
import Shards
import Tensor
import Text
import WebDataset

/// The parsers of untrusted files, each as a function of raw bytes that may throw the module's
/// error but must never trap, hang or allocate more than the input can justify.
enum FuzzTarget: String, CaseIterable {
    case pipeline, index, shard, safetensors, npy, vocab, tokenizerjson, json, container, mediabytes, tar, csv

    /// A scratch directory of this process for targets that read files.
    static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func run(_ bytes: [UInt8]) {
        switch self {
        case .pipeline:
            _ = try? PipelineFile(catalog: Self.catalog).plan(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
        case .index:
            write(bytes, to: "index.json")
            guard let dataset = try? ShardDataset(directory: Self.scratch, options: ReadOptions(verifyHashes: false)) else { return }
            for i in [0, dataset.count / 2, dataset.count - 1] { _ = try? dataset.sample(i) }
        case .shard:
            shard(bytes)
        case .safetensors:
            _ = try? SafeTensors.read(write(bytes, to: "fuzz.safetensors"))
        case .npy:
            // Shapes from the bytes: the checked size must agree with an encodable array.
            var shape: [Int] = []
            for offset in stride(from: 0, to: min(32, bytes.count - bytes.count % 4), by: 4) {
                let word = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
                shape.append(word)
            }
            guard let size = NDArray.byteCount(shape: shape, dtype: .uint8), size <= 1 << 16 else { return }
            _ = NPY.encode(NDArray(dtype: .uint8, shape: shape, data: [UInt8](repeating: 0, count: size)))
        case .vocab:
            guard let tokenizer = try? BertTokenizer(vocabFile: write(bytes, to: "vocab.txt")) else { return }
            _ = tokenizer.encode("Hello, world! Unaffable café 東京", pair: "second")
        case .tokenizerjson:
            guard let tokenizer = try? BertTokenizer(tokenizerJSON: write(bytes, to: "tokenizer.json")) else { return }
            _ = tokenizer.encode("Hello, world! Unaffable café 東京", pair: "second")
        case .json:
            _ = try? JSONValue.parse(bytes, what: "fuzz")
        case .container:
            container(bytes)
        case .mediabytes:
            mediaBytes(bytes)
        case .tar:
            // Every sample and rejection of the bytes as a (possibly compressed) WebDataset shard,
            // members capped at 1 MiB so a lying header costs no more than the input.
            guard let reader = try? TarReader(FileShardBytes(path: write(bytes, to: "shard.tar").path), path: "fuzz.tar") else { return }
            let samples = ShardSamples(reader, maximumMemberBytes: 1 << 20)
            while (try? samples.next()) != nil {}
        case .csv:
            // Every row of the bytes as a CSV manifest with a column renamed, as the manifest source reads one.
            for _ in ManifestRows(file: write(bytes, to: "manifest.csv"), columns: ["file_name": "video"]) {}
        }
    }

    /// The bytes as a media file, as `sluice frames` and `audio_decode` take one: probed with a
    /// frame count, the first and last frames decoded (small, so a hostile picture size costs
    /// the scaler, not the batch), and the audio track decoded. No extension: FFmpeg goes by
    /// the contents alone.
    private func container(_ bytes: [UInt8]) {
        let path = write(bytes, to: "media").path
        if let reader = try? VideoReader(path: path), let info = try? reader.probe(countFrames: true),
           let count = info.frameCount, count > 0 {
            _ = try? reader.frames(.indices([0, count - 1]), output: FrameOutput(size: .exact(width: 8, height: 8)))
        }
        _ = try? AudioReader.load(path: path, sampleRate: 16000)
    }

    /// The bytes as a WebDataset member: the container target's reads through FFmpeg's memory I/O
    /// (and libsndfile's virtual I/O, named as FLAC), then as a still image.
    private func mediaBytes(_ bytes: [UInt8]) {
        let source = MediaSource.bytes(name: "fuzz.tar:member", bytes)
        if let reader = try? VideoReader(source), let info = try? reader.probe(countFrames: true),
           let count = info.frameCount, count > 0 {
            _ = try? reader.frames(.indices([0, count - 1]), output: FrameOutput(size: .exact(width: 8, height: 8)))
        }
        _ = try? AudioReader.load(source, sampleRate: 16000)
        _ = try? AudioReader.load(.bytes(name: "fuzz.tar:member.flac", bytes), sampleRate: 16000)
        _ = try? ImageReader.decode(source, output: FrameOutput(size: .exact(width: 8, height: 8)))
    }

    @discardableResult
    private func write(_ bytes: [UInt8], to name: String) -> URL {
        let url = Self.scratch.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url
    }

    /// The bytes as one shard of a dataset whose index agrees with them (columns chosen by the
    /// first byte, zstd-compressed when it is odd), every sample decoded.
    private func shard(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let layouts: [[String: ColumnEncoding]] = [
            ["a": .int, "b": .str], ["x": .ndarray(dtype: nil, shape: nil), "j": .json],
            ["f": .scalar(.float32), "s": .strFloat, "i": .strInt], ["g": .ndarray(dtype: .int16, shape: [2, 3]), "b": .bytes],
        ]
        let config = ShardConfig(columns: layouts[Int(selector >> 1) % layouts.count],
                                 compression: selector & 1 == 1 ? .zstd : nil, sizeLimit: nil)
        let count = body.count >= 4 ? Int(body[0]) | Int(body[1]) << 8 : 0
        let raw = ShardFileInfo(basename: "shard.00000.mds", bytes: body.count, hashes: [:])
        var zip: ShardFileInfo?
        if let compression = config.compression,
           let packed = try? body.withUnsafeBytes({ raw in try compression.compress(raw) }) {
            write(packed, to: "shard.00000.mds.zstd")
            zip = ShardFileInfo(basename: "shard.00000.mds.zstd", bytes: packed.count, hashes: [:])
        } else {
            write(body, to: "shard.00000.mds")
        }
        let index = DatasetIndex(shards: [ShardInfo(config: config, samples: count, rawData: raw, zipData: zip)])
        guard (try? index.save(directory: Self.scratch)) != nil,
              let dataset = try? ShardDataset(directory: Self.scratch, options: ReadOptions(verifyHashes: false)) else { return }
        _ = dataset.verify()
    }

    /// Stage kinds with every parameter kind but `inputs`, which would walk the file system.
    static let catalog = StageCatalog([
        StageSpec(type: "src", role: .source, summary: "", parameters: [
            ParameterSpec("n", .int(min: 0, max: 1000), help: ""), ParameterSpec("names", .strings, help: ""),
        ]) { _, _ in .source(SequenceSource([Sample]())) },
        StageSpec(type: "step", role: .stage, summary: "", parameters: [
            ParameterSpec("x", .double(min: 0), help: ""), ParameterSpec("wait", .duration, help: ""),
            ParameterSpec("mode", .choice(["a", "b"]), help: ""), ParameterSpec("on", .bool, help: ""),
        ], parallel: true) { _, _ in .map { [$0] } },
        StageSpec(type: "out", role: .sink, summary: "", parameters: [
            ParameterSpec("path", .output, required: true, help: ""),
        ]) { _, _ in .map { [$0] } },
    ])
}
