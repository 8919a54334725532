import Foundation
import PipelineCore
import Testing
@testable import Shards

/// Column encodings: exact MDS bytes, round trips, and clear refusals.
struct EncodingTests {
    func encode(_ value: ShardValue, _ encoding: String) throws -> [UInt8] {
        var out: [UInt8] = []
        try ColumnEncoding(parsing: encoding).encode(value, column: "c", into: &out)
        return out
    }

    func decode(_ bytes: [UInt8], _ encoding: String) throws -> ShardValue {
        try bytes.withBytes { raw throws(ShardError) in
            try ColumnEncoding(parsing: encoding).decode(raw) { ShardError(.damaged, path: "test", $0) }
        }
    }

    @Test(arguments: [
        (ShardValue.bytes([0, 255, 7]), "bytes"), (.string("écluse 水門 🚀"), "str"), (.int(-5), "int"),
        (.uint(255), "uint8"), (.uint(65_535), "uint16"), (.uint(4_000_000_000), "uint32"), (.uint(.max), "uint64"),
        (.int(-128), "int8"), (.int(-32_768), "int16"), (.int(Int64(Int32.min)), "int32"), (.int(.min), "int64"),
        (.float(0.333251953125), "float16"), (.float(-0.5), "float32"), (.float(1e-300), "float64"),
        (.int(-123_456_789_012), "str_int"), (.float(1e16), "str_float"), (.float(.infinity), "str_float"),
        (.json(.object([("b", .array([.int(1), .double(2.5), .null])), ("a", .string("ü"))])), "json"),
        (.bytes([0xFF, 0xD8, 0xFF]), "jpeg"),
    ] as [(ShardValue, String)])
    func scalarsRoundTrip(value: ShardValue, encoding: String) throws {
        let bytes = try encode(value, encoding)
        if let size = try ColumnEncoding(parsing: encoding).fixedSize { #expect(bytes.count == size) }
        #expect(try decode(bytes, encoding) == value)
    }

    @Test func int32MinFitsAndOverflowIsRefused() throws {
        #expect(try encode(.int(Int64(Int32.min)), "int32") == [0, 0, 0, 0x80])
        #expect(throws: ShardError.self) { try encode(.int(Int64(Int32.max) + 1), "int32") }
        #expect(throws: ShardError.self) { try encode(.int(-1), "uint8") }
        #expect(throws: ShardError.self) { try encode(.string("7"), "int") }
    }

    /// Dynamic dtype and shape: `[dtype code] [ndim << 2 | shape width] [shape] [values]`.
    @Test func dynamicNDArrayBytesAreMDSs() throws {
        let array = NDArray(shape: [2, 300], values: [UInt16](repeating: 1, count: 600))
        let bytes = try encode(.array(array), "ndarray")
        #expect(Array(bytes.prefix(6)) == [16, 2 << 2 | 1, 2, 0, 0x2C, 0x01])
        #expect(bytes.count == 6 + 1_200)
        #expect(try decode(bytes, "ndarray") == .array(array))
    }

    @Test func ndarrayShapeWidthsUpToUInt32() throws {
        let wide = NDArray(shape: [70_000], values: [UInt8](repeating: 3, count: 70_000))
        let bytes = try encode(.array(wide), "ndarray:uint8")
        #expect(Array(bytes.prefix(5)) == [1 << 2 | 2, 0x70, 0x11, 0x01, 0x00])
        #expect(try decode(bytes, "ndarray:uint8") == .array(wide))
    }

    @Test func fixedShapeNDArrayStoresOnlyValues() throws {
        let grid = NDArray(shape: [2, 3], values: [Int16]([1, 2, 3, -4, -5, -6]))
        let bytes = try encode(.array(grid), "ndarray:int16:2,3")
        #expect(bytes.count == 12)
        #expect(try ColumnEncoding(parsing: "ndarray:int16:2,3").fixedSize == 12)
        #expect(try decode(bytes, "ndarray:int16:2,3") == .array(grid))
        #expect(grid.nestedList == .array([.array([.int(1), .int(2), .int(3)]), .array([.int(-4), .int(-5), .int(-6)])]))
        let wrongShape = NDArray(shape: [3, 2], values: [Int16](repeating: 0, count: 6))
        #expect(throws: ShardError.self) { try encode(.array(wrongShape), "ndarray:int16:2,3") }
        #expect(throws: ShardError.self) { try encode(.array(grid), "ndarray:float32") }
        let flags = NDArray(shape: [2], values: [true, false])
        #expect(throws: ShardError.self, "MDS has no bool arrays") { try encode(.array(flags), "ndarray") }
        #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "ndarray:bool") }
    }

    @Test func truncatedArrayIsReportedNotCrashed() throws {
        let error = #expect(throws: ShardError.self) { try decode([34, 1 << 2, 4, 0, 0], "ndarray") }
        #expect(error?.reason.contains("needs 16 bytes") == true)
        #expect(throws: ShardError.self) { try decode([], "ndarray") }
        #expect(throws: ShardError.self) { try decode([99], "ndarray") }
        #expect(throws: ShardError.self) { try decode([0xC3, 0x28], "str") }
    }

    @Test func unknownEncodingsAreNamed() {
        let error = #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "pkl", column: "obj") }
        #expect(error?.description.contains("column obj") == true)
        #expect(error?.description.contains("'pkl'") == true)
        #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "ndarray:complex64") }
        #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "ndarray::2,3") }
        #expect(throws: ShardError.self) { try ColumnEncoding(parsing: "ndarray:uint8:0") }
        #expect(throws: ShardError.self) { try Compression(parsing: "br") }
        #expect(throws: ShardError.self) { try Compression(parsing: "zstd:99") }
    }

    /// Floats print as Python's `repr` does, so json and str_float bytes match Python's.
    @Test(arguments: [
        (0.1, "0.1"), (1e16, "1e+16"), (1e15, "1000000000000000.0"), (1e-05, "1e-05"), (0.0001, "0.0001"),
        (123456789.0, "123456789.0"), (-2.5e-300, "-2.5e-300"), (-0.0, "-0.0"), (1.5, "1.5"), (2.0 / 3, "0.6666666666666666"),
    ])
    func floatsPrintLikePythonRepr(value: Double, text: String) {
        #expect(JSONValue.pythonRepr(value) == text)
    }

    @Test func jsonEscapesLikePythonDumps() throws {
        let value = JSONValue.object([("z", .string("tab\t \"q\" é 🚀 \u{7F}")), ("a", .array([]))])
        let text = value.pythonJSON()
        #expect(text == #"{"z": "tab\t \"q\" \u00e9 \ud83d\ude80 \u007f", "a": []}"#)
        #expect(try JSONValue.parse(Array(text.utf8), what: "t") == value)
        #expect(value.pythonJSON(sortKeys: true).hasPrefix(#"{"a": []"#))
        #expect(throws: ShardError.self) { try JSONValue.parse(Array("{\"a\": [1,".utf8), what: "t") }
    }
}
