import Foundation
import SystemErrors

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}`, then the raw data.
public enum SafeTensors {
    /// Every tensor in the file (F32, F16, BF16 and F64 are converted to Float32) and its metadata.
    public static func read(_ file: URL) throws(TensorError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: file, options: .alwaysMapped) } catch {
            throw TensorError(.unreadableFile, file, "cannot read: \(SystemErrorText.words(error))")
        }
        guard data.count >= 8 else { throw TensorError(.invalidFile, file, "shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw TensorError(.invalidFile, file, "header length \(headerLength) exceeds the file size \(data.count)")
        }
        let dataStart = 8 + Int(headerLength)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart)) } catch {
            throw TensorError(.invalidFile, file, "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw TensorError(.invalidFile, file, "header is not a JSON object") }
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let entries = value as? [String: String] else {
                    throw TensorError(.invalidFile, file, "__metadata__ must map strings to strings")
                }
                metadata = entries
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ $0 as? Int }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ $0 as? Int }), offsets.count == 2
            else { throw TensorError(.invalidFile, file, "tensor '\(name)': entry needs dtype, shape and two data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 }), (entry["shape"] as? [Any])?.count == shape.count else {
                throw TensorError(.invalidFile, file, "tensor '\(name)': bad shape")
            }
            guard let width = elementWidth[dtype] else {
                throw TensorError(.invalidFile, file, "tensor '\(name)': unsupported dtype \(dtype)")
            }
            // Every size is checked against the file before use: a hostile header's shape or
            // offsets near 2^63 must not overflow, nor size an allocation the file cannot fill.
            guard let count = checkedProduct(shape), case (let bytes, false) = count.multipliedReportingOverflow(by: width) else {
                throw TensorError(.invalidFile, file, "tensor '\(name)': shape \(shape) has more elements than memory can hold")
            }
            let (begin, end) = (offsets[0], offsets[1])
            let available = data.count - dataStart
            guard begin >= 0, end >= begin, end <= available, end - begin == bytes else {
                throw TensorError(.invalidFile, file, "tensor '\(name)': data_offsets \(offsets) do not hold \(count) \(dtype) values inside the file")
            }
            let tensor = Tensor(uninitialized: shape)
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                guard let base = raw.baseAddress else { return }
                decode(dtype, base + dataStart + begin, count: count, into: tensor.storage.pointer)
            }
            tensors[name] = tensor
        }
        return (tensors, metadata)
    }

    /// Writes `tensors` as F32 in the given order, with string `metadata`.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to file: URL) throws(TensorError) {
        let output = try encode(tensors, metadata: metadata, file: file)
        do { try output.write(to: file, options: .atomic) } catch {
            throw TensorError(.unwritableFile, file, "cannot write: \(SystemErrorText.words(error))")
        }
    }

    /// The file's bytes: the header, then `tensors` as F32 in the given order. `file` names it in errors.
    /// Separate from `write` so a caller can write the bytes itself and say what they are ("cannot
    /// write the checkpoint").
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                              file: URL) throws(TensorError) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, tensor) in tensors {
            guard header[name] == nil else { throw TensorError(.invalidFile, file, "tensor '\(name)' appears twice") }
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.count]]
            offset += 4 * tensor.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json: Data
        do { json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) } catch {
            throw TensorError(.unwritableFile, file, "cannot encode the header: \(SystemErrorText.words(error))")
        }
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var output = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { output.append(contentsOf: $0) }
        output.append(json)
        for (_, tensor) in tensors {
            output.append(UnsafeBufferPointer(start: tensor.storage.pointer, count: tensor.count))
        }
        return output
    }

    /// Bytes per element of each dtype read. Integer tensors (HF checkpoints carry
    /// `position_ids` as I64) are converted to Float32 too.
    private static let elementWidth = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8,
                                       "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    /// Converts `count` little-endian values of `dtype` at `p` to Float32 (F32 is a plain copy:
    /// the platforms Swift runs on here, x86-64 and arm64, are little-endian).
    private static func decode(_ dtype: String, _ p: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        func convert<T>(_: T.Type, _ value: (T) -> Float) {
            for i in 0..<count { out[i] = value(p.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self)) }
        }
        switch dtype {
        case "F32": UnsafeMutableRawPointer(out).copyMemory(from: p, byteCount: count * 4)
        case "F16": convert(UInt16.self) { Float(Float16(bitPattern: UInt16(littleEndian: $0))) }
        case "BF16": convert(UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
        case "F64": convert(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
        case "I64": convert(Int64.self) { Float(Int64(littleEndian: $0)) }
        case "I32": convert(Int32.self) { Float(Int32(littleEndian: $0)) }
        case "I16": convert(Int16.self) { Float(Int16(littleEndian: $0)) }
        case "I8": convert(Int8.self) { Float($0) }
        default: convert(UInt8.self) { Float($0) }  // U8, BOOL
        }
    }
}

extension Layer {
    /// Copies `tensors[prefix + name]` into every parameter and buffer (e.g. prefix "bert." for
    /// a Hugging Face BERT checkpoint); tensors the layer does not use are ignored. Checkpoints from
    /// the original BERT release name LayerNorm's weight and bias `gamma` and `beta`: those are
    /// accepted too. Fails, naming the tensor, when one is missing or has another shape.
    public func load(_ tensors: [String: Tensor], prefix: String = "", from file: URL) throws(TensorError) {
        for (name, parameter) in namedState {
            guard let source = tensors[prefix + name] ?? tensors[prefix + legacyLayerNormName(name)] else {
                throw TensorError(.missingTensor, file, "tensor '\(prefix + name)' is missing (the model needs shape \(parameter.shape))")
            }
            guard source.shape == parameter.shape else {
                throw TensorError(.shapeMismatch, file, "tensor '\(prefix + name)' has shape \(source.shape), the model needs \(parameter.shape)")
            }
            parameter.assign(source)
        }
    }
}

/// The product of `factors`, or nil when it overflows an `Int`.
private func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = next
    }
    return product
}

/// `...LayerNorm.gamma` / `...LayerNorm.beta` for `...LayerNorm.weight` / `...LayerNorm.bias`.
private func legacyLayerNormName(_ name: String) -> String {
    if name.hasSuffix("LayerNorm.weight") { return String(name.dropLast("weight".count)) + "gamma" }
    if name.hasSuffix("LayerNorm.bias") { return String(name.dropLast("bias".count)) + "beta" }
    return name
}
