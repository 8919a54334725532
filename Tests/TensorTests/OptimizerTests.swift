import Foundation
import Testing
@testable import Tensor
import TestSupport

struct OptimizerTests {
    @Test func optimizersMatchPyTorch() throws {
        let (reference, _) = try fixture("optimizers.safetensors")
        for (label, make) in [("adamw", { (p: Tensor) -> any Optimizer in
                                   Adam(parameters: [("p", p)], weightDecay: 0.1) }),
                              ("adam", { (p: Tensor) -> any Optimizer in
                                   Adam(parameters: [("p", p)], weightDecay: 0.1, decoupledWeightDecay: false) }),
                              ("sgd", { (p: Tensor) -> any Optimizer in
                                   SGD(parameters: [("p", p)], momentum: 0.9, weightDecay: 0.01) })] {
            let p = try #require(reference["start"]).copy()
            p.requiresGrad = true
            var optimizer = make(p)
            for i in 0..<3 {
                p.zeroGrad()
                (p * (try #require(reference["grad\(i)"]))).sum().backward()
                optimizer.step(learningRate: label == "sgd" ? 0.1 : 0.01)
            }
            #expect(relativeError(p, try #require(reference[label])) < 1e-5, "\(label)")
        }
    }

    @Test func schedules() {
        let linear = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, decay: .linear)
        #expect(linear.rate(at: 0) == 0 && linear.rate(at: 5) == 0.5 && linear.rate(at: 10) == 1)
        #expect(linear.rate(at: 60) == 0.5 && linear.rate(at: 110) == 0)
        let cosine = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 100, decay: .cosine)
        #expect(abs(cosine.rate(at: 50) - 1) < 1e-6 && abs(cosine.rate(at: 100)) < 1e-6)
    }

    @Test func clippingScalesToTheGlobalNorm() throws {
        let a = Tensor.zeros([2], requiresGrad: true), b = Tensor.zeros([1], requiresGrad: true)
        (a * Tensor(shape: [2], scalars: [3, 0]) + (b * 4).sum()).sum().backward()
        // Gradients (3, 0) and 8 (b is broadcast over 2): norm sqrt(9 + 64).
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(abs(norm - Float(73).squareRoot()) < 1e-5)
        let clipped = try (#require(a.grad).scalars + #require(b.grad).scalars).map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(abs(clipped - 1) < 1e-4)
    }
}
