import Foundation
import PipelineCore
import Testing

struct SampleTests {
    @Test func jsonLineKeepsFieldOrderAndEncodesEveryKind() throws {
        var sample = Sample()
        sample["id"] = .string("clip-1")
        sample["n"] = .int(3)
        sample["ok"] = .bool(true)
        sample["raw"] = .bytes([0, 255])
        sample["ids"] = .array(NDArray(shape: [2, 2], values: [Int32(1), 2, 3, 4]))
        sample["x"] = .double(0.5)
        let line = String(decoding: try sample.jsonLine(), as: UTF8.self)
        #expect(line == #"{"id":"clip-1","n":3,"ok":true,"raw":"AP8=","ids":[[1,2],[3,4]],"x":0.5}"# + "\n")
        #expect(sample.itemDescription == "clip-1")
        #expect(sample.byteCount == 6 + 8 + 1 + 2 + 16 + 8)
    }

    /// What `encode` writes reads back; a header that claims more than the file holds, a shape
    /// whose size overflows, or Fortran order is an error naming the file, not a trap.
    @Test func npyDecodesWhatItEncodesAndRefusesLies() throws {
        let array = NDArray(shape: [2, 3], values: (0..<6).map(Float.init))
        let bytes = [UInt8](NPY.encode(array))
        #expect(try NPY.decode(bytes, file: "a.npy") == array)
        func header(_ text: String) -> [UInt8] {
            [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count), 0] + Array(text.utf8)
        }
        let lies: [[UInt8]] = [
            Array(bytes.dropLast(4)),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }") + [0, 0, 0, 0],
            header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") + [0, 0, 0, 0],
            header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") + [0, 0, 0, 0],
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
            Array(bytes.prefix(9)),
        ]
        for lie in lies {
            #expect(throws: NPYError.self) { try NPY.decode(lie, file: "lie.npy") }
        }
    }

    /// Byte-for-byte what `numpy.save` writes for np.arange(6, dtype='<f4').reshape(2, 3)
    /// and for np.array([7], dtype='u1').
    @Test func npyMatchesNumPy() {
        let floats = NPY.encode(NDArray(shape: [2, 3], values: (0..<6).map(Float.init)))
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        var expected = Data([0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0]) + Data(header.utf8)
        expected += Data(String(repeating: " ", count: 128 - 10 - header.utf8.count - 1).utf8) + Data([0x0A])
        expected += (0..<6).map(Float.init).withUnsafeBytes { Data($0) }
        #expect(floats == expected)
        #expect(floats.count % 64 == 24)

        let bytes = NPY.encode(NDArray(shape: [1], values: [UInt8(7)]))
        let byteHeader = "{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }"
        #expect(bytes.count == 128 + 1)
        #expect(String(decoding: bytes[10..<(10 + byteHeader.utf8.count)], as: UTF8.self) == byteHeader)
    }

    /// A .npy written in pieces is the file `NPY.encode` makes of the whole array; it appears
    /// only when complete, and a writer that stops short leaves nothing behind.
    @Test func npyWrittenInPiecesIsTheWholeArraysFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("npy-pieces-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let array = NDArray(dtype: .uint8, shape: [3, 2, 2], data: (0..<12).map(UInt8.init))
        let url = directory.appendingPathComponent("a.npy")
        let writer = try NPYFileWriter(url: url, shape: array.shape, dtype: .uint8)
        for piece in 0..<3 {
            try array.data[piece * 4..<(piece + 1) * 4].withUnsafeBytes { try writer.append($0) }
            #expect(!FileManager.default.fileExists(atPath: url.path))
        }
        #expect(throws: NPYError.self) { try [UInt8(0)].withUnsafeBytes { try writer.append($0) } }
        try writer.finish()
        #expect(try Data(contentsOf: url) == NPY.encode(array))

        let short = directory.appendingPathComponent("short.npy")
        var stopped: NPYFileWriter? = try NPYFileWriter(url: short, shape: [4], dtype: .uint8)
        try [UInt8(1), 2].withUnsafeBytes { try stopped?.append($0) }
        #expect(throws: NPYError.self) { try stopped?.finish() }
        stopped = nil
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.npy"])
    }

    /// A link left at the `.partial` name is replaced, not written through: the file it points to
    /// keeps its bytes.
    @Test func npyNeverWritesThroughALinkAtItsPartialName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("npy-link-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let victim = directory.appendingPathComponent("victim.txt"), url = directory.appendingPathComponent("a.npy")
        try Data("keep me".utf8).write(to: victim)
        try FileManager.default.createSymbolicLink(atPath: url.path + ".partial", withDestinationPath: victim.path)
        let array = NDArray(dtype: .uint8, shape: [2], data: [1, 2])
        try NPY.write(array, to: url)
        #expect(try Data(contentsOf: victim) == Data("keep me".utf8))
        #expect(try Data(contentsOf: url) == NPY.encode(array))
    }

    /// A device is written directly, never replaced by a rename (which would turn /dev/null into a file).
    @Test func npyToADeviceWritesThroughIt() throws {
        try NPY.write(NDArray(dtype: .uint8, shape: [2], data: [1, 2]), to: URL(fileURLWithPath: "/dev/null"))
        var status = stat()
        #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.partial"))
    }
}
