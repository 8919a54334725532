import Foundation
import OrderedCollections

/// One record flowing through a pipeline declared in YAML: named fields in a stable order,
/// so stages from different modules can hand each other paths, text, token ids or frames.
public struct Sample: Sendable, Equatable, ByteCounted, ItemDescribing {
    public var fields: OrderedDictionary<String, Value>

    public init(_ fields: OrderedDictionary<String, Value> = [:]) { self.fields = fields }

    public subscript(key: String) -> Value? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    public var byteCount: Int { fields.values.reduce(0) { $0 &+ $1.byteCount } }

    /// Names the sample in errors: its `id`, else its `path`, else its first text field.
    public var itemDescription: String {
        for key in ["id", "path", "file"] {
            if case let .string(text)? = fields[key] { return text }
        }
        for value in fields.values { if case let .string(text) = value { return text } }
        return "sample with fields \(fields.keys.joined(separator: ", "))"
    }

    /// One line of JSONL with keys in field order: numbers as numbers, arrays as nested lists,
    /// bytes as base64.
    public func jsonLine() throws -> Data {
        var line = Data("{".utf8)
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            line.append(try JSONSerialization.data(withJSONObject: key, options: .fragmentsAllowed))
            line.append(UInt8(ascii: ":"))
            line.append(try JSONSerialization.data(
                withJSONObject: value.jsonValue, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
        }
        line.append(contentsOf: "}\n".utf8)
        return line
    }
}

/// A field's value.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array(NDArray)
    case list([Value])

    public var byteCount: Int {
        switch self {
        case .null, .bool: 1
        case .int, .double: 8
        case let .string(text): text.utf8.count
        case let .bytes(bytes): bytes.count
        case let .array(array): array.data.count
        case let .list(values): values.reduce(0) { $0 &+ $1.byteCount }
        }
    }

    /// The value as JSONSerialization takes it.
    public var jsonValue: Any {
        switch self {
        case .null: NSNull()
        case let .bool(flag): flag
        case let .int(number): number
        case let .double(number): number
        case let .string(text): text
        case let .bytes(bytes): Data(bytes).base64EncodedString()
        case let .array(array): array.nestedLists()
        case let .list(values): values.map(\.jsonValue)
        }
    }
}

/// Element types of `NDArray`, with the NumPy names they round-trip to.
public enum DType: String, Sendable, Codable, CaseIterable {
    case bool, uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64

    public var byteWidth: Int {
        switch self {
        case .bool, .uint8, .int8: 1
        case .uint16, .int16, .float16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        }
    }

    /// NumPy's little-endian type string (`<f4`, `|u1`), as .npy headers write it.
    public var numpyDescriptor: String {
        let kind: String
        switch self {
        case .bool: kind = "b"
        case .uint8, .uint16, .uint32, .uint64: kind = "u"
        case .int8, .int16, .int32, .int64: kind = "i"
        case .float16, .float32, .float64: kind = "f"
        }
        return (byteWidth == 1 ? "|" : "<") + kind + String(byteWidth)
    }
}

/// A dense little-endian n-dimensional array: frames, spectrograms, token ids.
public struct NDArray: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public var data: [UInt8]

    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        precondition(Self.byteCount(shape: shape, dtype: dtype) == data.count, "shape does not match data")
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// An array of plain numbers, e.g. `NDArray(shape: [2, 3], values: [Float](...))`.
    public init<T: BitwiseCopyable>(shape: [Int], values: [T]) {
        let dtype: DType =
            switch T.self {
            case is Float.Type: .float32
            case is Double.Type: .float64
            case is UInt8.Type: .uint8
            case is Int8.Type: .int8
            case is UInt16.Type: .uint16
            case is Int16.Type: .int16
            case is UInt32.Type: .uint32
            case is Int32.Type: .int32
            case is UInt64.Type: .uint64
            case is Int64.Type, is Int.Type: .int64
            case is Bool.Type: .bool
            default: preconditionFailure("no dtype for \(T.self)")
            }
        self.init(dtype: dtype, shape: shape, data: values.withUnsafeBytes { Array($0) })
    }

    public var count: Int { data.count / dtype.byteWidth }

    /// Elements of an array of `shape`, or nil when a dimension is negative or the product does
    /// not fit in an `Int`: the check to make before trusting a shape read from a file.
    public static func elementCount(shape: some Sequence<Int>) -> Int? {
        var total = 1
        var overflowed = false
        for dim in shape {
            guard dim >= 0 else { return nil }
            if dim == 0 { return shape.allSatisfy { $0 >= 0 } ? 0 : nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            overflowed = overflowed || overflow
            total = product
        }
        return overflowed ? nil : total
    }

    /// Bytes of an array of `shape` and `dtype`, or nil when that does not fit in an `Int`.
    public static func byteCount(shape: some Sequence<Int>, dtype: DType) -> Int? {
        guard let elements = elementCount(shape: shape) else { return nil }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteWidth)
        return overflow ? nil : bytes
    }

    /// The elements as `T`, which must match the dtype's width.
    public func values<T: BitwiseCopyable>(as _: T.Type) -> [T] {
        precondition(MemoryLayout<T>.stride == dtype.byteWidth, "\(T.self) does not match \(dtype)")
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: T.self)) }
    }

    /// Elements as Swift numbers in nested arrays following `shape`, for JSON output.
    public func nestedLists() -> Any {
        let flat: [Any] = data.withUnsafeBytes { raw in
            switch dtype {
            case .bool: raw.map { $0 != 0 }
            case .uint8: raw.map { Int($0) }
            case .int8: raw.bindMemory(to: Int8.self).map { Int($0) }
            case .uint16: raw.bindMemory(to: UInt16.self).map { Int($0) }
            case .int16: raw.bindMemory(to: Int16.self).map { Int($0) }
            case .uint32: raw.bindMemory(to: UInt32.self).map { Int($0) }
            case .int32: raw.bindMemory(to: Int32.self).map { Int($0) }
            case .uint64: raw.bindMemory(to: UInt64.self).map { $0 }
            case .int64: raw.bindMemory(to: Int64.self).map { Int($0) }
            case .float16: raw.bindMemory(to: UInt16.self).map { Double(Float(Float16(bitPattern: $0))) }
            case .float32: raw.bindMemory(to: Float.self).map { Double($0) }
            case .float64: raw.bindMemory(to: Double.self).map { $0 }
            }
        }
        func nest(_ elements: ArraySlice<Any>, _ dims: ArraySlice<Int>) -> Any {
            guard let first = dims.first else { return elements.first ?? NSNull() }
            // From the element count rather than the remaining dims: [0, 2^40, 2^40] is a valid empty array.
            let step = first == 0 ? 0 : elements.count / first
            return (0..<first).map { i in
                nest(elements[(elements.startIndex + i * step)..<(elements.startIndex + (i + 1) * step)],
                     dims.dropFirst())
            }
        }
        return nest(flat[...], shape[...])
    }
}
