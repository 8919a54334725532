import Synchronization

/// Contiguous Float32 memory shared by a tensor and its reshaped views.
///
/// A class so that `reshape` can hand out a view without copying, and so that optimizers update
/// parameters in place.
public final class TensorStorage {
    /// The first element.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int

    /// Uninitialised memory for `count` elements; every kernel writes all of it before reading.
    init(uninitializedCount count: Int) {
        self.count = count
        pointer = BufferCache.shared.take(count) ?? .allocate(capacity: max(count, 1))
    }

    /// Zero-filled memory for `count` elements.
    convenience init(zeros count: Int) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: 0, count: count)
    }

    deinit {
        if !BufferCache.shared.give(pointer, count: count) { pointer.deallocate() }
    }
}

/// Keeps freed large buffers for reuse by the next tensor of the same size.
///
/// A training step allocates the same activation and gradient shapes every time; fresh large
/// allocations come from mmap and cost a page fault per 4 KiB on first touch (15-20% of a small
/// BERT step measured here). Holds at most `limit` bytes (a small BERT step frees about 1 GiB).
final class BufferCache: Sendable {
    static let shared = BufferCache()
    /// Buffers below this many elements go straight to malloc, which reuses them cheaply.
    let minimumCount = 1 << 16
    let limit = 2 << 30
    /// Free buffers by element count (addresses as integers), and their total size in bytes.
    private let free = Mutex<(buffers: [Int: [Int]], bytes: Int)>(([:], 0))

    func take(_ count: Int) -> UnsafeMutablePointer<Float>? {
        guard count >= minimumCount else { return nil }
        let address = free.withLock { state -> Int? in
            guard let address = state.buffers[count]?.popLast() else { return nil }
            state.bytes -= count * 4
            return address
        }
        return address.flatMap { UnsafeMutablePointer(bitPattern: $0) }
    }

    /// Keeps `pointer` if it is large and fits under the limit; false means the caller frees it.
    func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        guard count >= minimumCount else { return false }
        let address = Int(bitPattern: pointer)
        return free.withLock { state in
            guard state.bytes + count * 4 <= limit else { return false }
            state.buffers[count, default: []].append(address)
            state.bytes += count * 4
            return true
        }
    }
}

/// A Float32 tensor: a shape over contiguous row-major storage, plus what autodiff needs.
///
/// A reference type because the autodiff graph links results to their inputs by identity and
/// accumulates gradients into parameters across several backward passes.
public final class Tensor {
    /// Extent of each axis, outermost first.
    public let shape: [Int]
    /// The elements, row-major; possibly shared with views made by `reshaped`.
    public let storage: TensorStorage
    /// Whether backward should compute a gradient for this tensor (true for parameters).
    public var requiresGrad: Bool
    /// Accumulated gradient of a leaf that requires grad; `nil` until the first backward pass.
    public internal(set) var grad: Tensor?
    /// How this tensor was computed, when it was recorded for autodiff.
    var node: Node?

    init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "Tensor: shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `scalars` (row-major) with the given shape.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        let storage = scalars.withUnsafeBufferPointer { Self.storage(shape: shape, copying: $0) }
        self.init(shape: shape, storage: storage, requiresGrad: requiresGrad)
    }

    /// A tensor holding a copy of `scalars` (row-major), read straight from where they are (a
    /// pipeline array's bytes, say) without an intermediate array.
    public convenience init(shape: [Int], copying scalars: UnsafeBufferPointer<Float>, requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Self.storage(shape: shape, copying: scalars), requiresGrad: requiresGrad)
    }

    private static func storage(shape: [Int], copying scalars: UnsafeBufferPointer<Float>) -> TensorStorage {
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        let storage = TensorStorage(uninitializedCount: scalars.count)
        if let base = scalars.baseAddress { storage.pointer.initialize(from: base, count: scalars.count) }
        return storage
    }

    /// A zero-filled tensor.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(zeros: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// A tensor with every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        let result = Tensor(uninitialized: shape)
        result.storage.pointer.update(repeating: value, count: result.count)
        result.requiresGrad = requiresGrad
        return result
    }

    /// A scalar (rank-0) tensor.
    public convenience init(_ value: Float) {
        self.init(shape: [], scalars: [value])
    }

    /// Storage the caller must fill completely before anyone reads it.
    init(uninitialized shape: [Int]) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: count)
        self.requiresGrad = false
    }

    /// Number of elements.
    public var count: Int { storage.count }
    /// Number of axes.
    public var rank: Int { shape.count }
    /// The elements as an array, row-major (a copy).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }
    /// The single element of a one-element tensor (a loss, typically).
    public var item: Float {
        precondition(count == 1, "Tensor.item: tensor of shape \(shape) has \(count) elements")
        return storage.pointer[0]
    }

    /// A copy that shares nothing with this tensor and records no history.
    public func copy() -> Tensor {
        let result = Tensor(uninitialized: shape)
        result.storage.pointer.update(from: storage.pointer, count: count)
        return result
    }

    /// A copy that is a new trainable parameter (a layer converted into another keeps its bias).
    public func trainableCopy() -> Tensor {
        let result = copy()
        result.requiresGrad = true
        return result
    }

    /// The same values cut off from the autodiff graph (a view; no copy).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Overwrites this tensor's elements with `other`'s (same element count), outside autodiff;
    /// used to load weights and restore optimizer state.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "Tensor.assign: \(other.shape) into \(shape)")
        storage.pointer.update(from: other.storage.pointer, count: count)
    }

    /// Forgets the accumulated gradient (call between optimizer steps).
    public func zeroGrad() { grad = nil }

    /// Resolves a possibly negative axis against this tensor's rank.
    func axisIndex(_ axis: Int) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        precondition(resolved >= 0 && resolved < rank, "axis \(axis) out of range for shape \(shape)")
        return resolved
    }
}

extension Tensor: CustomStringConvertible {
    /// Shape and the first few elements, for debugging.
    public var description: String {
        let head = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}

/// Product of the extents in `shape[range]`.
@inline(__always)
func product(_ shape: [Int], _ range: Range<Int>) -> Int {
    var result = 1
    for i in range { result &*= shape[i] }
    return result
}
