import Foundation
import Testing
@testable import Tensor

struct ConvolutionTests {
    @Test func convolutionsAndBatchNormMatchPyTorch() throws {
        let (r, _) = try fixture("convolution.safetensors")
        func t(_ name: String) throws -> Tensor { try #require(r[name], "fixture tensor \(name)") }
        let x = try t("x"), signal = try t("signal")
        var rng = RandomGenerator(seed: 1)
        let conv = Conv2d(3, 4, kernel: (3, 2), stride: (2, 1), padding: (1, 1), rng: &rng)
        let conv1 = Conv1d(3, 5, kernel: 3, stride: 2, padding: 1, rng: &rng)
        let bn = BatchNorm(4)
        let file = URL(fileURLWithPath: "convolution.safetensors")
        try conv.load(r, prefix: "conv.", from: file)
        try conv1.load(r, prefix: "conv1d.", from: file)
        try bn.load(["bn.weight": try t("bn.weight"), "bn.bias": try t("bn.bias"),
                     "bn.running_mean": .zeros([4]), "bn.running_var": .full([4], 1)], prefix: "bn.", from: file)
        x.requiresGrad = true
        signal.requiresGrad = true
        let out2d = bn(conv(x), training: true).relu()
        let out1d = conv1(signal)
        #expect(relativeError(out2d, try t("out2d")) < 1e-4)
        #expect(relativeError(out1d, try t("out1d")) < 1e-4)
        #expect(relativeError(bn.runningMean, try t("bn.running_mean")) < 1e-4)
        #expect(relativeError(bn.runningVariance, try t("bn.running_var")) < 1e-4)
        let probe2d = try t("probe2d"), probe1d = try t("probe1d")
        ((out2d * probe2d).sum() + (out1d * probe1d).sum()).backward()
        let pairs: [(Tensor, String)] = [
            (x, "grad.x"), (conv.weight, "grad.conv.weight"), (try #require(conv.bias), "grad.conv.bias"),
            (bn.weight, "grad.bn.weight"), (bn.bias, "grad.bn.bias"), (signal, "grad.signal"),
            (conv1.weight, "grad.conv1d.weight"), (try #require(conv1.bias), "grad.conv1d.bias"),
        ]
        // The conv bias's gradient vanishes: BatchNorm subtracts the per-channel mean.
        for (tensor, name) in pairs { expectMatchesReference(try #require(tensor.grad), try t(name), name) }
    }

    @Test func im2colGradientWithStrideAndPadding() {
        let x = randomTensor([1, 2, 5, 4], seed: 50)
        expectGradientsMatch([x]) { im2col($0[0], kernel: (3, 2), stride: (2, 2), padding: (1, 0)) }
    }

    @Test func batchNormUsesRunningStatisticsInEval() {
        let bn = BatchNorm(2)
        bn.runningMean.assign(Tensor(shape: [2], scalars: [1, -1]))
        bn.runningVariance.assign(Tensor(shape: [2], scalars: [4, 0.25]))
        let y = bn(Tensor(shape: [1, 2, 1], scalars: [3, 0]), training: false)
        #expect(zip(y.scalars, [1, 2]).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(bn.namedState.map(\.name) == ["weight", "bias", "running_mean", "running_var"])
    }

    @Test func residualBlockShapesAndGradients() {
        var rng = RandomGenerator(seed: 51)
        let block = ResidualBlock(2, 4, stride: 2, rng: &rng)
        let x = randomTensor([2, 2, 6, 6], seed: 52)
        #expect(block(x, training: true).shape == [2, 4, 3, 3])
        #expect(block.namedParameters.map(\.name).contains("downsample.0.weight"))
        #expect(block.namedBuffers.count == 6)
        expectGradientsMatch([x, block.conv1.weight], samples: 12) { block($0[0], training: false) }
    }

    @Test func gluAndMaxPoolOverTime() {
        let x = randomTensor([2, 3, 6], seed: 53)
        expectGradientsMatch([x]) { $0[0].glu() }
        let gated = Tensor(shape: [1, 2], scalars: [3, 0]).glu()
        #expect(gated.scalars == [1.5])
        // Max-pooling over time of [B, T, C] is a max over axis 1.
        expectGradientsMatch([x]) { $0[0].max(axis: 1) }
    }
}
