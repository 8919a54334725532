import Testing
@testable import Tensor

// Gradient checks against finite differences and against PyTorch references, shared by the
// tests of Tensor, Models and Training.

/// Random tensor with entries in [-1, 1), from a fixed seed.
public func randomTensor(_ shape: [Int], seed: UInt64, requiresGrad: Bool = true) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: -1, high: 1, rng: &rng, requiresGrad: requiresGrad)
}

/// Compares the autodiff gradient of `sum(f(inputs) * w)` (w random, fixed) with central finite
/// differences, element by element (at most `samples` elements per input).
public func expectGradientsMatch(_ inputs: [Tensor], samples: Int = 24, eps: Float = 1e-2,
                          rtol: Float = 1e-2, atol: Float = 2e-3,
                          sourceLocation: SourceLocation = #_sourceLocation,
                          _ f: ([Tensor]) throws -> Tensor) rethrows {
    let probe = try GradMode.withoutGradients { try f(inputs) }
    let weights = randomTensor(probe.shape, seed: 99, requiresGrad: false)
    func loss() throws -> Double {
        let out = try GradMode.withoutGradients { try f(inputs) }
        return zip(out.scalars, weights.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    inputs.forEach { $0.zeroGrad() }
    try (f(inputs) * weights).sum().backward()
    for (n, input) in inputs.enumerated() where input.requiresGrad {
        guard let grad = input.grad else {
            Issue.record("input \(n) got no gradient", sourceLocation: sourceLocation)
            continue
        }
        #expect(grad.shape == input.shape, sourceLocation: sourceLocation)
        let step = max(1, input.count / samples)
        for i in stride(from: 0, to: input.count, by: step) {
            let original = input.storage.pointer[i]
            input.storage.pointer[i] = original + eps
            let plus = try loss()
            input.storage.pointer[i] = original - eps
            let minus = try loss()
            input.storage.pointer[i] = original
            let numeric = Float((plus - minus) / (2 * Double(eps)))
            let analytic = grad.storage.pointer[i]
            #expect(abs(analytic - numeric) <= atol + rtol * abs(numeric),
                    "input \(n) element \(i): autodiff \(analytic), finite difference \(numeric)",
                    sourceLocation: sourceLocation)
        }
    }
}

/// Checks a gradient against a PyTorch reference to 1e-4 relative; a reference that vanishes
/// analytically (a bias whose shift a softmax or BatchNorm cancels) must vanish here too, to float32
/// round-off: the cancelling sums of O(1) terms leave about 1e-6, depending on the BLAS kernel's order.
public func expectMatchesReference(_ ours: Tensor, _ theirs: Tensor, _ name: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    if theirs.scalars.allSatisfy({ abs($0) < 1e-10 }) {
        let largest = ours.scalars.map(abs).max() ?? 0
        #expect(largest < 1e-5, "\(name) should vanish, largest \(largest)", sourceLocation: sourceLocation)
    } else {
        let error = relativeError(ours, theirs)
        #expect(error < 1e-4, "\(name): relative error \(error)", sourceLocation: sourceLocation)
    }
}

/// max |a - b| / max |b|: relative error of a whole tensor.
public func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let scale = b.scalars.map(abs).max() ?? 1
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max().map { $0 / max(scale, 1e-30) } ?? 0
}
