import Foundation
import Testing
@testable import Models
@testable import Tensor
import TestSupport

/// The encoder fixtures tools/encoder_fixtures.py wrote with PyTorch 1.13 (float64 reference).
enum EncoderFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func read(_ name: String) throws -> (url: URL, tensors: [String: Tensor]) {
        let url = directory.appendingPathComponent(name)
        return (url, try SafeTensors.read(url).tensors)
    }

    /// max |a - b| / max |b| over the whole tensor.
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.count == b.count, "comparing \(a.shape) with \(b.shape)")
        let scale = b.scalars.map(abs).max() ?? 1
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max().map { $0 / max(scale, 1e-30) } ?? 0
    }

    /// Expects `ours` within 1e-4 relative of the fixture's `name`; returns the error measured.
    @discardableResult
    static func expectClose(_ ours: Tensor?, _ tensors: [String: Tensor], _ name: String,
                            sourceLocation: SourceLocation = #_sourceLocation) -> Float {
        guard let ours, let theirs = tensors[name] else {
            Issue.record("missing \(name)", sourceLocation: sourceLocation)
            return .infinity
        }
        let error = relativeError(ours, theirs)
        #expect(error < 1e-4, "\(name): relative error \(error)", sourceLocation: sourceLocation)
        return error
    }

    /// Training-mode output, every gradient of sum(output * probe) and the running statistics
    /// after the step, then the eval-mode output, against the fixture; returns the worst error.
    static func expectForwardBackwardMatch(_ model: some Layer, _ tensors: [String: Tensor], inputs: [(String, Tensor)],
                                           sourceLocation: SourceLocation = #_sourceLocation,
                                           _ forward: (Bool) -> Tensor) throws -> Float {
        let trained = forward(true)
        var worst = expectClose(trained, tensors, "output.train", sourceLocation: sourceLocation)
        (trained * (try #require(tensors["probe"]))).sum().backward()
        for (name, tensor) in model.namedParameters + inputs {
            worst = max(worst, expectClose(tensor.grad, tensors, "grad." + name, sourceLocation: sourceLocation))
        }
        for (name, tensor) in model.namedBuffers {
            worst = max(worst, expectClose(tensor, tensors, "after." + name, sourceLocation: sourceLocation))
        }
        let evaluated = GradMode.withoutGradients { forward(false) }
        return max(worst, expectClose(evaluated, tensors, "output.eval", sourceLocation: sourceLocation))
    }

    /// The value tools/encoder_fixtures.py's `fill` gives state tensor `name`: splitmix64 over a
    /// counter from the FNV-1a hash of the name, scaled by the tensor's role.
    static func fill(_ name: String, shape: [Int]) -> Tensor {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { seed = (seed ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let count = shape.reduce(1, *)
        let fanIn = Double(count / max(shape.first ?? 1, 1))
        let values = (1...max(count, 1)).prefix(count).map { i -> Float in
            var z = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let u = Double(z >> 40) / Double(1 << 24)
            if name.hasSuffix("running_var") || (name.hasSuffix("weight") && shape.count == 1) { return Float(0.5 + u) }
            if shape.count == 1 { return Float(0.4 * u - 0.2) }
            return Float((2 * u - 1) * (3 / fanIn).squareRoot())
        }
        return Tensor(shape: shape, scalars: values)
    }
}
