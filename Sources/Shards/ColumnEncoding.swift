import Foundation
import PipelineCore

/// How one column's values become bytes, named as MDS names them in `index.json`
/// (`"str"`, `"int"`, `"float32"`, `"ndarray:uint8:2,3"`, `"json"`, ...).
public enum ColumnEncoding: Equatable, Sendable, CustomStringConvertible {
    case bytes
    case str
    /// `int`: an int64, the same bytes as `int64` under its own name.
    case int
    /// A fixed-width number: `uint8`...`float64` (also `int64`).
    case scalar(DType)
    /// `str_int` / `str_float`: the number's decimal text, as Python's `str()` prints it.
    case strInt, strFloat
    /// `ndarray`, with an optional fixed dtype and, only with a dtype, an optional fixed shape.
    case ndarray(dtype: DType?, shape: [Int]?)
    case json
    /// Encoded image files kept as bytes (`jpeg`, `png`): sluice does not decode them here.
    case jpeg, png

    /// Parses an MDS encoding name; `column` names the column in the error.
    public init(parsing name: String, column: String = "?") throws(ShardError) {
        let parts = name.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch parts[0] {
        case "bytes" where parts.count == 1: self = .bytes
        case "str" where parts.count == 1: self = .str
        case "int" where parts.count == 1: self = .int
        case "str_int" where parts.count == 1: self = .strInt
        case "str_float" where parts.count == 1: self = .strFloat
        case "json" where parts.count == 1: self = .json
        case "jpeg" where parts.count == 1: self = .jpeg
        case "png" where parts.count == 1: self = .png
        case "ndarray":
            var dtype: DType?
            var shape: [Int]?
            if parts.count >= 2 && !parts[1].isEmpty {
                guard let d = DType(mdsName: parts[1]) else {
                    throw ShardError(.unsupported, path: "column \(column)", "unknown ndarray dtype '\(parts[1])' in '\(name)'")
                }
                dtype = d
            }
            if parts.count == 3 {
                guard dtype != nil else {
                    throw ShardError(.invalidArgument, path: "column \(column)", "a fixed ndarray shape needs a dtype: '\(name)'")
                }
                let dims = parts[2].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                    throw ShardError(.invalidArgument, path: "column \(column)", "bad ndarray shape '\(parts[2])' in '\(name)'")
                }
                shape = dims.compactMap { $0 }
                // A sample's bytes sit between two 32-bit shard offsets.
                guard let bytes = NDArray.byteCount(shape: shape!, dtype: dtype!), bytes <= UInt32.max else {
                    throw ShardError(.invalidArgument, path: "column \(column)", "ndarray shape '\(parts[2])' in '\(name)' is over 4 GiB per value")
                }
            }
            self = .ndarray(dtype: dtype, shape: shape)
        default:
            if parts.count == 1, let d = DType(mdsName: name) {
                self = .scalar(d)
            } else {
                throw ShardError(.unsupported, path: "column \(column)",
                                 "unsupported encoding '\(name)' (sluice reads bytes, str, int, str_int, str_float, "
                                     + "the numeric scalars, ndarray, json, jpeg, png)")
            }
        }
    }

    /// The name written to `index.json`.
    public var description: String {
        switch self {
        case .bytes: "bytes"
        case .str: "str"
        case .int: "int"
        case .scalar(let d): d.rawValue
        case .strInt: "str_int"
        case .strFloat: "str_float"
        case .json: "json"
        case .jpeg: "jpeg"
        case .png: "png"
        case .ndarray(let dtype, let shape):
            switch (dtype, shape) {
            case (nil, _): "ndarray"
            case (let d?, nil): "ndarray:\(d.rawValue)"
            case (let d?, let s?): "ndarray:\(d.rawValue):" + s.map(String.init).joined(separator: ",")
            }
        }
    }

    /// Bytes every value takes when fixed (no size prefix is then stored), as `column_sizes` says.
    public var fixedSize: Int? {
        switch self {
        case .int: 8
        case .scalar(let d): d.byteWidth
        // Parsing bounds the shape; an unparsed one too large for an Int can match no bytes.
        case .ndarray(let d?, let s?): NDArray.byteCount(shape: s, dtype: d) ?? Int.max
        default: nil
        }
    }
}

// MARK: - Encoding values

extension ColumnEncoding {
    /// Appends `value`'s bytes to `out`; `column` names the column in errors.
    func encode(_ value: ShardValue, column: String, into out: inout [UInt8]) throws(ShardError) {
        func mismatch() -> ShardError {
            ShardError(.invalidValue, path: "column \(column)", "value \(value) does not fit encoding \(self)")
        }
        switch (self, value) {
        case (.bytes, .bytes(let b)), (.jpeg, .bytes(let b)), (.png, .bytes(let b)):
            out += b
        case (.str, .string(let s)):
            out += s.utf8  // copied from the string's own storage, with no array in between
        case (.int, .int(let i)):
            Self.appendLittleEndian(i, to: &out)
        case (.strInt, .int(let i)):
            out += String(i).utf8
        case (.strFloat, .float(let d)):
            // Python's str(float): repr digits, but "inf" / "nan" rather than JSON's "Infinity" / "NaN".
            let text = d.isNaN ? "nan" : d.isInfinite ? (d < 0 ? "-inf" : "inf") : JSONValue.pythonRepr(d)
            out += text.utf8
        case (.json, .json(let j)):
            out += j.pythonJSON().utf8
        case (.scalar(let dtype), _):
            try Self.appendScalar(value, as: dtype, to: &out, mismatch: mismatch)
        case (.ndarray(let dtype, let shape), .array(let a)):
            guard let code = a.dtype.mdsCode else { throw mismatch() }
            if let dtype {
                guard a.dtype == dtype else { throw mismatch() }
            } else {
                out.append(code)
            }
            if let shape {
                guard a.shape == shape else { throw mismatch() }
            } else {
                guard !a.shape.isEmpty, a.shape.count < 64, a.shape.allSatisfy({ $0 > 0 }) else { throw mismatch() }
                let largest = UInt64(a.shape.max() ?? 0)
                let widthCode: UInt8 = largest < 1 << 8 ? 0 : largest < 1 << 16 ? 1 : largest < 1 << 32 ? 2 : 3
                out.append(UInt8(a.shape.count) << 2 | widthCode)
                for dim in a.shape {
                    switch widthCode {
                    case 0: out.append(UInt8(dim))
                    case 1: Self.appendLittleEndian(UInt16(dim), to: &out)
                    case 2: Self.appendLittleEndian(UInt32(dim), to: &out)
                    default: Self.appendLittleEndian(UInt64(dim), to: &out)
                    }
                }
            }
            out += a.data
        default:
            throw mismatch()
        }
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    private static func appendScalar(
        _ value: ShardValue, as dtype: DType, to out: inout [UInt8], mismatch: () -> ShardError
    ) throws(ShardError) {
        switch value {
        case .int(let i) where !dtype.isFloat:
            try appendInteger(Int128(i), dtype, &out, mismatch)
        case .uint(let u) where !dtype.isFloat:
            try appendInteger(Int128(u), dtype, &out, mismatch)
        case .float(let d) where dtype == .float16:
            appendLittleEndian(Float16(d).bitPattern, to: &out)
        case .float(let d) where dtype == .float32:
            appendLittleEndian(Float(d).bitPattern, to: &out)
        case .float(let d) where dtype == .float64:
            appendLittleEndian(d.bitPattern, to: &out)
        default:
            throw mismatch()
        }
    }

    private static func appendInteger(
        _ v: Int128, _ dtype: DType, _ out: inout [UInt8], _ mismatch: () -> ShardError
    ) throws(ShardError) {
        switch dtype {
        case .uint8: guard let x = UInt8(exactly: v) else { throw mismatch() }; out.append(x)
        case .int8: guard let x = Int8(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .uint16: guard let x = UInt16(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .int16: guard let x = Int16(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .uint32: guard let x = UInt32(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .int32: guard let x = Int32(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .uint64: guard let x = UInt64(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .int64: guard let x = Int64(exactly: v) else { throw mismatch() }; appendLittleEndian(x, to: &out)
        case .float16, .float32, .float64, .bool: throw mismatch()
        }
    }
}

// MARK: - Decoding values

extension ColumnEncoding {
    /// Decodes one value from exactly its bytes; `fail` builds an error naming file, sample, column.
    func decode(_ data: UnsafeRawBufferPointer, fail: (String) -> ShardError) throws(ShardError) -> ShardValue {
        switch self {
        case .bytes, .jpeg, .png:
            return .bytes(Array(data))
        case .str:
            guard let s = String(validating: data, as: UTF8.self) else { throw fail("not valid UTF-8") }
            return .string(s)
        case .int:
            guard data.count == 8 else { throw fail("int takes 8 bytes, found \(data.count)") }
            return .int(Int64(littleEndian: data.loadUnaligned(as: Int64.self)))
        case .strInt:
            guard let s = String(validating: data, as: UTF8.self), let i = Int64(s) else {
                throw fail("str_int is not a decimal integer")
            }
            return .int(i)
        case .strFloat:
            guard let s = String(validating: data, as: UTF8.self), let d = Double(s) else {
                throw fail("str_float is not a number")
            }
            return .float(d)
        case .json:
            do {
                return .json(try JSONValue.parse(data, what: "json"))
            } catch {
                throw fail(error.reason)
            }
        case .scalar(let dtype):
            guard data.count == dtype.byteWidth else { throw fail("\(dtype) takes \(dtype.byteWidth) bytes, found \(data.count)") }
            return Self.decodeScalar(data, dtype)
        case .ndarray(let fixedDType, let fixedShape):
            var offset = 0
            let dtype: DType
            if let fixedDType {
                dtype = fixedDType
            } else {
                guard data.count > 0, let d = DType(mdsCode: data[0]) else { throw fail("unknown ndarray dtype code") }
                dtype = d
                offset = 1
            }
            let shape: [Int]
            if let fixedShape {
                shape = fixedShape
            } else {
                guard offset < data.count else { throw fail("ndarray shape missing") }
                let byte = data[offset]
                offset += 1
                let ndim = Int(byte >> 2)
                let width = 1 << Int(byte & 3)
                guard ndim > 0, offset + ndim * width <= data.count else { throw fail("ndarray shape truncated") }
                var dims: [Int] = []
                for axis in 0..<ndim {
                    let at = offset + axis * width
                    let dim: UInt64 = switch width {
                    case 1: UInt64(data[at])
                    case 2: UInt64(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
                    case 4: UInt64(UInt32(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                    default: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                    }
                    guard dim > 0, dim < UInt64(Int32.max) else { throw fail("ndarray dimension \(dim) out of range") }
                    dims.append(Int(dim))
                }
                offset += ndim * width
                shape = dims
            }
            guard let expected = NDArray.byteCount(shape: shape, dtype: dtype), expected == data.count - offset else {
                let needs = NDArray.byteCount(shape: shape, dtype: dtype).map { "\($0) bytes" } ?? "more bytes than memory holds"
                throw fail("ndarray of shape \(shape) \(dtype) needs \(needs), found \(data.count - offset)")
            }
            return .array(NDArray(dtype: dtype, shape: shape, data: Array(data[offset...])))
        }
    }

    private static func decodeScalar(_ data: UnsafeRawBufferPointer, _ dtype: DType) -> ShardValue {
        switch dtype {
        case .uint8: .uint(UInt64(data[0]))
        case .int8: .int(Int64(Int8(bitPattern: data[0])))
        case .uint16: .uint(UInt64(UInt16(littleEndian: data.loadUnaligned(as: UInt16.self))))
        case .int16: .int(Int64(Int16(littleEndian: data.loadUnaligned(as: Int16.self))))
        case .uint32: .uint(UInt64(UInt32(littleEndian: data.loadUnaligned(as: UInt32.self))))
        case .int32: .int(Int64(Int32(littleEndian: data.loadUnaligned(as: Int32.self))))
        case .uint64: .uint(UInt64(littleEndian: data.loadUnaligned(as: UInt64.self)))
        case .int64: .int(Int64(littleEndian: data.loadUnaligned(as: Int64.self)))
        case .float16: .float(Double(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(as: UInt16.self)))))
        case .float32: .float(Double(Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(as: UInt32.self)))))
        case .float64: .float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(as: UInt64.self))))
        case .bool: .uint(UInt64(data[0]))  // not an MDS scalar: parsing refuses it
        }
    }
}
