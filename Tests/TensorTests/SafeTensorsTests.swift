import Foundation
import Testing
@testable import Tensor

final class SafeTensorsTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID())")

    init() throws { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, bytes: [UInt8]? = nil) throws -> URL {
        let url = directory.appendingPathComponent(name)
        if let bytes { try Data(bytes).write(to: url) }
        return url
    }

    /// A file with the given JSON header and data bytes.
    func handMade(_ name: String, header: String, data: [UInt8] = []) throws -> URL {
        var length = UInt64(header.utf8.count).littleEndian
        let prefix = withUnsafeBytes(of: &length) { Array($0) }
        return try file(name, bytes: prefix + Array(header.utf8) + data)
    }

    @Test func roundTripKeepsNamesShapesValuesAndMetadata() throws {
        let url = try file("roundtrip.safetensors")
        let a = Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, 1e-8, -7])
        try SafeTensors.write([("bert.embeddings.word_embeddings.weight", a), ("scalar", Tensor(4))],
                              metadata: ["step": "12"], to: url)
        let (tensors, metadata) = try SafeTensors.read(url)
        #expect(tensors["bert.embeddings.word_embeddings.weight"]?.shape == [2, 3])
        #expect(tensors["bert.embeddings.word_embeddings.weight"]?.scalars == a.scalars)
        #expect(tensors["scalar"]?.shape == [] && tensors["scalar"]?.item == 4)
        #expect(metadata == ["step": "12"])
        // The data starts 8-byte aligned.
        let headerLength = try Data(contentsOf: url).prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(headerLength % 8 == 0)
    }

    @Test func readsHalfPrecisionTypes() throws {
        // 1.5 as F16 is 0x3E00; as BF16 0x3FC0.
        let url = try handMade("half.safetensors",
            header: #"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]}}"#,
            data: [0x00, 0x3E, 0xC0, 0x3F])
        let (tensors, _) = try SafeTensors.read(url)
        #expect(tensors["h"]?.item == 1.5 && tensors["b"]?.item == 1.5)
    }

    @Test func badFilesGiveErrorsNamingFileTensorAndReason() throws {
        let cases: [(URL, String)] = [
            (try file("short.safetensors", bytes: [1, 2, 3]), "shorter than"),
            (try file("huge-header.safetensors", bytes: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B]), "exceeds the file size"),
            (try handMade("not-json.safetensors", header: "{nope"), "not valid JSON"),
            (try handMade("dtype.safetensors", header: #"{"w":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[0,1]}}"#,
                          data: [0]), "tensor 'w': unsupported dtype F8_E5M2"),
            (try handMade("offsets.safetensors", header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                          data: Array(repeating: 0, count: 8)), "tensor 'w': data_offsets"),
            (try handMade("fields.safetensors", header: #"{"w":{"dtype":"F32"}}"#), "tensor 'w': entry needs"),
            // Shapes and offsets near 2^63 must be errors, not overflow traps.
            (try handMade("huge-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#),
             "tensor 'w': shape [4611686018427387904, 4] has more elements than memory can hold"),
            (try handMade("huge-offsets.safetensors", header: #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[9223372036854775806,9223372036854775807]}}"#,
                          data: [0]), "tensor 'w': data_offsets"),
            (directory.appendingPathComponent("absent.safetensors"), "cannot read"),
        ]
        for (url, reason) in cases {
            do {
                _ = try SafeTensors.read(url)
                Issue.record("\(url.lastPathComponent) was accepted")
            } catch {
                #expect(error.description.contains(url.path) && error.description.contains(reason), "\(error)")
            }
        }
    }

    @Test func loadingNamesTheMissingOrMisshapenTensor() throws {
        var rng = RandomGenerator(seed: 1)
        let layer = Linear(3, 2, rng: &rng)
        let url = try file("weights.safetensors")
        #expect(throws: TensorError.self) { try layer.load(["weight": .zeros([2, 3])], from: url) }
        do {
            try layer.load(["weight": .zeros([3, 2]), "bias": .zeros([2])], from: url)
            Issue.record("wrong shape accepted")
        } catch {
            #expect(error.description.contains("'weight' has shape [3, 2], the model needs [2, 3]"))
        }
        try layer.load(["encoder.weight": .full([2, 3], 1), "encoder.bias": .zeros([2])], prefix: "encoder.", from: url)
        #expect(layer.weight.scalars == [1, 1, 1, 1, 1, 1])
    }
}
