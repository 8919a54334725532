import Foundation
import PipelineCore

/// MDS's view of PipelineCore's element types: the one-byte codes it writes before an array whose
/// column does not fix the dtype. `bool` has none: MDS cannot store boolean arrays.
extension DType {
    public var mdsCode: UInt8? {
        switch self {
        case .bool: nil
        case .uint8: 8
        case .int8: 9
        case .uint16: 16
        case .int16: 17
        case .float16: 18
        case .uint32: 32
        case .int32: 33
        case .float32: 34
        case .uint64: 64
        case .int64: 65
        case .float64: 66
        }
    }

    init?(mdsCode: UInt8) {
        guard let match = DType.allCases.first(where: { $0.mdsCode == mdsCode }) else { return nil }
        self = match
    }

    /// The dtype MDS names `name` (`"float32"`), if MDS has it.
    init?(mdsName name: String) {
        guard let dtype = DType(rawValue: name), dtype.mdsCode != nil else { return nil }
        self = dtype
    }

    /// float16, float32 or float64.
    public var isFloat: Bool { self == .float16 || self == .float32 || self == .float64 }
}

extension NDArray {
    /// Element `i` widened to a JSON number (ints stay ints), for printing.
    func element(_ i: Int) -> JSONValue {
        data.withUnsafeBytes { raw in
            let o = i * dtype.byteWidth
            switch dtype {
            case .bool: return .bool(raw[o] != 0)
            case .uint8: return .int(Int64(raw[o]))
            case .int8: return .int(Int64(Int8(bitPattern: raw[o])))
            case .uint16: return .int(Int64(raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
            case .int16: return .int(Int64(raw.loadUnaligned(fromByteOffset: o, as: Int16.self)))
            case .uint32: return .int(Int64(raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
            case .int32: return .int(Int64(raw.loadUnaligned(fromByteOffset: o, as: Int32.self)))
            case .int64: return .int(raw.loadUnaligned(fromByteOffset: o, as: Int64.self))
            case .uint64:
                let v = raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                return v <= UInt64(Int64.max) ? .int(Int64(v)) : .uint(v)
            case .float16: return .double(Double(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self))))
            case .float32: return .double(Double(raw.loadUnaligned(fromByteOffset: o, as: Float.self)))
            case .float64: return .double(raw.loadUnaligned(fromByteOffset: o, as: Double.self))
            }
        }
    }

    /// The array as nested JSON lists, the way `ndarray.tolist()` prints it.
    public var nestedList: JSONValue {
        var index = 0
        func level(_ axis: Int) -> JSONValue {
            if axis == shape.count - 1 {
                defer { index += shape[axis] }
                return .array((index..<index + shape[axis]).map(element))
            }
            return .array((0..<shape[axis]).map { _ in level(axis + 1) })
        }
        return shape.isEmpty ? element(0) : level(0)
    }
}

/// One column's value in a sample.
public enum ShardValue: Equatable, Sendable {
    /// `bytes`, and the undecoded image columns `jpeg` / `png`.
    case bytes([UInt8])
    /// `str`.
    case string(String)
    /// `int`, `int8`...`int64`, `str_int`.
    case int(Int64)
    /// `uint8`...`uint64`.
    case uint(UInt64)
    /// `float16`, `float32`, `float64`, `str_float`.
    case float(Double)
    /// `ndarray[:dtype[:shape]]`.
    case array(NDArray)
    /// `json`.
    case json(JSONValue)

    /// The value as one JSON value, as `sluice shards cat` prints it: bytes as base64, arrays as
    /// nested lists.
    public var jsonValue: JSONValue {
        switch self {
        case .bytes(let b): .string(Data(b).base64EncodedString())
        case .string(let s): .string(s)
        case .int(let i): .int(i)
        case .uint(let u): u <= UInt64(Int64.max) ? .int(Int64(u)) : .uint(u)
        case .float(let d): .double(d)
        case .array(let a): a.nestedList
        case .json(let j): j
        }
    }
}

/// A sample: column name to value.
public typealias ShardSample = [String: ShardValue]
