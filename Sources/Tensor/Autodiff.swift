/// How a recorded tensor was computed: its inputs and the rule that maps the gradient of the
/// result to gradients of the inputs (`nil` for inputs that need none).
final class Node {
    let inputs: [Tensor]
    let backward: (Tensor) -> [Tensor?]

    init(inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether operations are being recorded for autodiff.
///
/// A task-local value, so inference in one task never switches recording off for another.
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// Whether operations run now are recorded.
    public static var isRecording: Bool { isEnabled }

    /// Runs `body` in inference mode: nothing is recorded, no graph is kept alive.
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false, operation: body)
    }
}

/// Links `result` to `inputs` when recording is on and some input needs a gradient.
///
/// `backward` must not capture `result` itself (that would be a reference cycle): capture a
/// `detached()` view of it instead.
@discardableResult
func record(_ result: Tensor, _ inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return result }
    result.requiresGrad = true
    result.node = Node(inputs: inputs, backward: backward)
    return result
}

extension Tensor {
    /// Reverse-mode autodiff from this tensor: adds d(self)/d(leaf) times `seed` (ones by default,
    /// i.e. the gradient of a scalar loss) into `grad` of every leaf that requires grad.
    ///
    /// Gradients accumulate across calls until `zeroGrad`, which is how gradient accumulation over
    /// micro-batches works.
    public func backward(seed: Tensor? = nil) {
        precondition(node != nil || requiresGrad, "backward: tensor was not computed from anything requiring grad")
        let start = seed ?? Tensor.full(shape, 1)
        precondition(start.count == count, "backward: seed shape \(start.shape) does not match \(shape)")
        GradMode.withoutGradients {
            let order = topologicalOrder()
            var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
            // Storage a leaf may not adopt as its `grad`: the caller's seed, and storage another
            // leaf adopted in this pass (later passes add into a leaf's grad in place).
            var taken: Set<ObjectIdentifier> = [ObjectIdentifier(start.storage)]
            for tensor in order.reversed() {
                guard let gradient = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                guard let node = tensor.node else {
                    tensor.accumulateLeafGradient(gradient, taken: &taken)
                    continue
                }
                let inputGradients = node.backward(gradient)
                for (input, inputGradient) in zip(node.inputs, inputGradients) {
                    guard input.requiresGrad, let inputGradient else { continue }
                    precondition(inputGradient.count == input.count,
                                 "backward: gradient \(inputGradient.shape) for input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    // Never add in place into a pending gradient: it may share storage with another's.
                    pending[key] = pending[key].map { addScalars($0, inputGradient, shape: input.shape) }
                        ?? inputGradient
                }
            }
        }
    }

    /// Every recorded tensor this one depends on, inputs before results.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
        var stack: [(Tensor, Int)] = [(self, 0)]
        while let (tensor, next) = stack.popLast() {
            let inputs = tensor.node?.inputs ?? []
            if next < inputs.count {
                stack.append((tensor, next + 1))
                let input = inputs[next]
                if input.requiresGrad, visited.insert(ObjectIdentifier(input)).inserted {
                    stack.append((input, 0))
                }
            } else {
                order.append(tensor)
            }
        }
        return order
    }

    private func accumulateLeafGradient(_ gradient: Tensor, taken: inout Set<ObjectIdentifier>) {
        if let grad {
            let target = grad.storage.pointer, source = gradient.storage.pointer
            parallelFor(count) { start, end in
                for i in start..<end { target[i] += source[i] }
            }
        } else if taken.insert(ObjectIdentifier(gradient.storage)).inserted {
            grad = Tensor(shape: shape, storage: gradient.storage)
        } else {
            let owned = Tensor(uninitialized: shape)
            owned.storage.pointer.update(from: gradient.storage.pointer, count: count)
            taken.insert(ObjectIdentifier(owned.storage))
            grad = owned
        }
    }
}

/// Elementwise sum of two equally sized tensors into a new one of `shape`.
func addScalars(_ a: Tensor, _ b: Tensor, shape: [Int]) -> Tensor {
    let result = Tensor(uninitialized: shape)
    let pa = a.storage.pointer, pb = b.storage.pointer, out = result.storage.pointer
    parallelFor(result.count) { start, end in
        for i in start..<end { out[i] = pa[i] + pb[i] }
    }
    return result
}
