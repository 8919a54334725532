import Foundation
import PipelineCore
import Testing
@testable import Shards

/// Indexes, shards and JSON crafted to overflow, over-allocate or escape: each is a `ShardError`
/// naming the file and the reason, never a trap or an allocation the file cannot back.
struct HostileInputTests {
    /// A finished zstd dataset of 10 numbered samples in one shard, and its index text.
    func dataset(_ label: String = #function) throws -> (URL, String) {
        let directory = Fixture.scratch(label)
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns, compression: .zstd))
        for sample in numberedSamples(10) { try writer.write(sample) }
        try writer.finish()
        return (directory, try String(contentsOf: directory.appendingPathComponent("index.json"), encoding: .utf8))
    }

    func rewriteIndex(_ directory: URL, _ text: String) throws {
        try Data(text.utf8).write(to: directory.appendingPathComponent("index.json"))
    }

    @Test func sampleCountsBeyondWhatTheShardCanHoldAreRefused() throws {
        let (directory, text) = try dataset()
        defer { try? FileManager.default.removeItem(at: directory) }
        for claim in ["4611686018427387904", "\(Int.max)", "1000"] {
            try rewriteIndex(directory, text.replacingOccurrences(of: #""samples": 10"#, with: #""samples": \#(claim)"#))
            let error = #expect(throws: ShardError.self) { try ShardDataset(directory: directory) }
            #expect(error?.code == .damaged)
            #expect(error?.reason.contains("claims \(claim) samples, more than its") == true, "\(claim)")
        }
    }

    @Test func rawSizeClaimsAreBoundedBeforeAllocating() throws {
        let (directory, text) = try dataset()
        defer { try? FileManager.default.removeItem(at: directory) }
        let raw = try DatasetIndex.load(directory: directory).shards[0].rawData.bytes
        let range = text.range(of: #""bytes": \#(raw)"#)!
        try rewriteIndex(directory, text.replacingCharacters(in: range, with: #""bytes": 1000000000000"#))
        let error = #expect(throws: ShardError.self) { try ShardDataset(directory: directory) }
        #expect(error?.reason == "raw_data claims 1000000000000 bytes; an MDS shard holds at most 4294967295 (32-bit offsets)")
    }

    /// The output grows with the stream, so claiming 4 GiB for a few bytes costs a megabyte.
    @Test func decompressionChecksTheClaimedSizeAgainstTheStream() throws {
        let data = [UInt8](repeating: 7, count: 1000)
        for compression in [Compression.zstd, .gzip] {
            let packed = try data.withBytes { raw throws(ShardError) in try compression.compress(raw) }
            let whole = try packed.withBytes { raw throws(ShardError) in try compression.decompress(raw, rawSize: 1000, file: "s") }
            #expect(whole == data)
            let over = #expect(throws: ShardError.self) {
                try packed.withBytes { raw throws(ShardError) in try compression.decompress(raw, rawSize: Int(UInt32.max), file: "s") }
            }
            #expect(over?.reason == "decompressed to 1000 bytes, index says 4294967295", "\(compression)")
            let under = #expect(throws: ShardError.self) {
                try packed.withBytes { raw throws(ShardError) in try compression.decompress(raw, rawSize: 999, file: "s") }
            }
            #expect(under?.reason == "decompresses to more than the 999 bytes the index says", "\(compression)")
            let cut = #expect(throws: ShardError.self) {
                try Array(packed.prefix(packed.count / 2)).withBytes { raw throws(ShardError) in
                    try compression.decompress(raw, rawSize: 1000, file: "s")
                }
            }
            #expect(cut != nil, "\(compression)")
        }
    }

    @Test func ndarrayShapesWhoseProductOverflowsAreErrors() throws {
        // float64, three u32 dimensions: 2^30 * 2^30 * 4 elements of 8 bytes is 2^65 bytes.
        var bytes: [UInt8] = [DType.float64.mdsCode!, 3 << 2 | 2]
        for dim in [UInt32(1 << 30), 1 << 30, 4] { withUnsafeBytes(of: dim.littleEndian) { bytes += $0 } }
        bytes += [UInt8](repeating: 0, count: 8)
        let error = #expect(throws: ShardError.self) {
            try bytes.withBytes { raw throws(ShardError) in
                try ColumnEncoding.ndarray(dtype: nil, shape: nil).decode(raw) { ShardError(.damaged, path: "s", sample: 0, $0) }
            }
        }
        #expect(error?.reason == "ndarray of shape [1073741824, 1073741824, 4] float64 needs more bytes than memory holds, found 8")
        #expect(NDArray.byteCount(shape: [1 << 32, 1 << 32], dtype: .uint8) == nil)
        #expect(NDArray.elementCount(shape: [0, 1 << 40, 1 << 40]) == 0)

        let declared = #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "ndarray:uint8:4294967296,4294967296", column: "x") }
        #expect(declared?.reason == "ndarray shape '4294967296,4294967296' in 'ndarray:uint8:4294967296,4294967296' is over 4 GiB per value")
    }

    @Test func loneSurrogatesAreErrorsNotTraps() {
        for (text, reason) in [(#""\ud800\u0041""#, #"\ud800 is not followed by a low surrogate (\u41)"#),
                               (#""\udc00""#, #"\udc00 is a lone surrogate, which a string cannot hold"#),
                               (#""\ud83d\ude00""#, nil)] {
            do {
                let value = try JSONValue.parse(Array(text.utf8), what: "meta")
                #expect(reason == nil && value == .string("😀"))
            } catch {
                #expect(reason.map { error.reason.hasSuffix($0) } == true, "\(text): \(error.reason)")
            }
        }
    }

    @Test func writerNamesTheFileInTheWayOfItsDirectory() throws {
        let root = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("taken")
        try Data("keep".utf8).write(to: file)
        for (target, reason) in [(file, "is a file, not a dataset directory"),
                                 (file.appendingPathComponent("sub"), "cannot create the directory: \(file.path) is a file")] {
            let error = #expect(throws: ShardError.self) { try ShardWriter(directory: target, config: ShardConfig(columns: numberedColumns)) }
            #expect(error?.code == .writeFailed)
            #expect(error?.reason == reason)
        }
        #expect(try String(contentsOf: file, encoding: .utf8) == "keep")
    }

    @Test func mergeRefusesPartsOutsideTheDirectoryAndRepeats() throws {
        let root = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let writer = try ShardWriter(directory: root.appendingPathComponent("p0"), config: ShardConfig(columns: numberedColumns))
        for sample in numberedSamples(3) { try writer.write(sample) }
        try writer.finish()
        for parts in [["../other"], ["/tmp"], ["p0/../.."], ["."]] {
            let error = #expect(throws: ShardError.self) { try DatasetIndex.merge(parts: parts, into: root) }
            #expect(error?.reason == "a part must be a subdirectory of \(root.path), given relative to it", "\(parts)")
        }
        for parts in [["p0", "p0"], ["p0", "./p0/"]] {
            let error = #expect(throws: ShardError.self) { try DatasetIndex.merge(parts: parts, into: root) }
            #expect(error?.reason == "is named twice; each part is merged once", "\(parts)")
        }
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("index.json").path))
        #expect(try DatasetIndex.merge(parts: ["./p0/"], into: root).shards.map(\.rawData.basename) == ["p0/shard.00000.mds"])
    }
}
