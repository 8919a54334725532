import Foundation
import PipelineCore

/// Batching for pipeline files: N samples become one sample whose fields are stacked.
enum BatchStages {
    static let specs: [StageSpec] = [batch]

    static let batch = StageSpec(
        type: "batch", role: .stage,
        summary: "stacks `size` samples into one: equal-shape arrays and numbers become one array "
            + "with a leading batch axis; variable-length arrays are padded when pad_value is set",
        parameters: [
            ParameterSpec("size", .int(min: 1, max: 1 << 20), required: true, help: "samples per batch"),
            ParameterSpec("drop_last", .bool, default: "false", help: "drop a final short batch"),
            ParameterSpec("pad_value", .int(), help: "pads arrays of different lengths along their first axis"),
        ]
    ) { parameters, _ in
        .transform(SampleBatcher(
            size: parameters.int("size"), dropLast: parameters.bool("drop_last"),
            padValue: parameters.optionalInt("pad_value")))
    }
}

/// Collects samples and stacks each field across the batch.
struct SampleBatcher: Transform {
    var batcher: Batcher<Sample>
    let padValue: Int?

    init(size: Int, dropLast: Bool, padValue: Int?) {
        batcher = Batcher(size: size, dropLast: dropLast)
        self.padValue = padValue
    }

    mutating func process(_ item: Sample, into output: inout [Sample]) throws {
        var batches: [[Sample]] = []
        try batcher.process(item, into: &batches)
        output += try batches.map(stack)
    }

    mutating func finish(into output: inout [Sample]) throws {
        var batches: [[Sample]] = []
        try batcher.finish(into: &batches)
        output += try batches.map(stack)
    }

    func stack(_ samples: [Sample]) throws -> Sample {
        var out = Sample()
        for key in samples[0].fields.keys {
            var values: [Value] = []
            for sample in samples {
                guard let value = sample[key] else {
                    throw StageError(path: sample.itemDescription,
                                     reason: "has no field '\(key)' that other samples in its batch have")
                }
                values.append(value)
            }
            out[key] = try stack(values, field: key)
        }
        return out
    }

    func stack(_ values: [Value], field: String) throws -> Value {
        if let ints = values.allCases(of: { if case let .int(n) = $0 { n } else { nil } }) {
            return .array(NDArray(shape: [ints.count], values: ints.map(Int64.init)))
        }
        if let doubles = values.allCases(of: { if case let .double(x) = $0 { x } else { nil } }) {
            return .array(NDArray(shape: [doubles.count], values: doubles))
        }
        guard let arrays = values.allCases(of: { if case let .array(a) = $0 { a } else { nil } }),
              let first = arrays.first, arrays.allSatisfy({ $0.dtype == first.dtype })
        else { return .list(values) }
        if arrays.allSatisfy({ $0.shape == first.shape }) {
            return .array(NDArray(dtype: first.dtype, shape: [arrays.count] + first.shape,
                                  data: arrays.flatMap(\.data)))
        }
        let tails = Set(arrays.map { $0.shape.dropFirst() })
        guard let padValue, tails.count == 1, !first.shape.isEmpty else {
            throw StageError(path: "field '\(field)'",
                             reason: "arrays of shapes \(Set(arrays.map(\.shape)).sorted { $0.lexicographicallyPrecedes($1) }) "
                                 + "cannot be stacked; set pad_value to pad along the first axis")
        }
        return .array(pad(arrays, to: arrays.map { $0.shape[0] }.max()!, with: padValue))
    }

    /// Pads each array along its first axis to `length` rows of `value`, then stacks them.
    func pad(_ arrays: [NDArray], to length: Int, with value: Int) -> NDArray {
        let dtype = arrays[0].dtype
        let rowElements = arrays[0].shape.dropFirst().reduce(1, *)
        let fill = Self.bytes(of: value, as: dtype)
        var data: [UInt8] = []
        data.reserveCapacity(arrays.count * length * rowElements * dtype.byteWidth)
        for array in arrays {
            data += array.data
            for _ in 0..<((length - array.shape[0]) * rowElements) { data += fill }
        }
        return NDArray(dtype: dtype, shape: [arrays.count, length] + arrays[0].shape.dropFirst(), data: data)
    }

    /// `value` in the array's element encoding.
    static func bytes(of value: Int, as dtype: DType) -> [UInt8] {
        func raw<T: BitwiseCopyable>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x) { Array($0) } }
        switch dtype {
        case .bool: return [value != 0 ? 1 : 0]
        case .uint8: return raw(UInt8(truncatingIfNeeded: value))
        case .int8: return raw(Int8(truncatingIfNeeded: value))
        case .uint16: return raw(UInt16(truncatingIfNeeded: value))
        case .int16: return raw(Int16(truncatingIfNeeded: value))
        case .uint32: return raw(UInt32(truncatingIfNeeded: value))
        case .int32: return raw(Int32(truncatingIfNeeded: value))
        case .uint64: return raw(UInt64(truncatingIfNeeded: value))
        case .int64: return raw(Int64(value))
        case .float16: return raw(Float16(Float(value)).bitPattern)
        case .float32: return raw(Float(value))
        case .float64: return raw(Double(value))
        }
    }
}

extension Array where Element == Value {
    /// The payloads when every value is of the case `extract` picks, else nil.
    fileprivate func allCases<T>(of extract: (Value) -> T?) -> [T]? {
        var out: [T] = []
        out.reserveCapacity(count)
        for value in self {
            guard let payload = extract(value) else { return nil }
            out.append(payload)
        }
        return out
    }
}
