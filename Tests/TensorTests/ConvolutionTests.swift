import Foundation
import Testing
@testable import Tensor
import TestSupport

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

    @Test func conv2dGradientsWithStrideAndPadding() {
        let x = randomTensor([2, 3, 7, 6], seed: 50), weight = randomTensor([4, 3, 3, 2], seed: 54)
        let bias = randomTensor([4], seed: 55)
        expectGradientsMatch([x, weight, bias]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 3), padding: (1, 2))
        }
    }

    @Test func conv1dGradientsAndOneByOne() {
        let signal = randomTensor([2, 3, 11], seed: 56), weight = randomTensor([5, 3, 9], seed: 57)
        expectGradientsMatch([signal, weight]) { conv1d($0[0], weight: $0[1], bias: nil, stride: 2, padding: 4) }
        // A 1x1 convolution is a per-position matrix product over channels.
        let x = randomTensor([2, 3, 2, 2], seed: 58), w = randomTensor([4, 3, 1, 1], seed: 59)
        let expected = matmul(x.permuted([0, 2, 3, 1]), w.reshaped([4, 3]), transposeB: true).permuted([0, 3, 1, 2])
        #expect(relativeError(conv2d(x, weight: w, bias: nil), expected) < 1e-6)
    }

    @Test func batchNormGradientsInTrainAndEval() {
        let x = randomTensor([3, 2, 2, 3], seed: 60)
        let bn = BatchNorm(2)
        bn.weight.assign(Tensor(shape: [2], scalars: [1.5, -0.5]))
        bn.runningMean.assign(Tensor(shape: [2], scalars: [0.2, -0.1]))
        bn.runningVariance.assign(Tensor(shape: [2], scalars: [0.5, 2]))
        expectGradientsMatch([x, bn.weight, bn.bias]) { bn($0[0], training: false) }
        // Training updates the running statistics on every call; compare on a copy that keeps them.
        let frozen = BatchNorm(2, momentum: 0)
        frozen.weight.assign(bn.weight)
        expectGradientsMatch([x, frozen.weight, frozen.bias]) { frozen($0[0], training: true) }
    }

    @Test func foldedConvolutionEqualsConvolutionThenEvalBatchNorm() {
        var rng = RandomGenerator(seed: 61)
        let conv = Conv2d(3, 4, kernel: (3, 3), stride: (2, 2), padding: (1, 1), rng: &rng)
        let bn = BatchNorm(4)
        bn.weight.assign(randomTensor([4], seed: 62))
        bn.bias.assign(randomTensor([4], seed: 63))
        bn.runningMean.assign(randomTensor([4], seed: 64))
        bn.runningVariance.assign(randomTensor([4], seed: 65, requiresGrad: false).squared() + 0.1)
        let x = randomTensor([2, 3, 9, 8], seed: 66, requiresGrad: false)
        let unit = ConvNorm(conv, bn)
        let folded = GradMode.withoutGradients { unit(x, training: false) }
        #expect(relativeError(folded, bn(conv(x), training: false)) < 1e-5)
    }

    @Test func fusedResidualBlockTailEqualsItsParts() {
        var rng = RandomGenerator(seed: 70)
        let unit = ConvNorm(3, 4, kernel: (3, 3), padding: (1, 1), rng: &rng)
        unit.norm.runningMean.assign(randomTensor([4], seed: 71, requiresGrad: false))
        unit.norm.runningVariance.assign(randomTensor([4], seed: 72, requiresGrad: false).squared() + 0.1)
        let x = randomTensor([2, 3, 6, 5], seed: 73, requiresGrad: false)
        let shortcut = randomTensor([2, 4, 6, 5], seed: 74, requiresGrad: false)
        let parts = (unit.norm(unit.conv(x), training: false) + shortcut).relu()
        GradMode.withoutGradients {
            // The same float operations in the same order as the folded convolution, then + and ReLU.
            let fused = unit(x, training: false, adding: shortcut, relu: true)
            #expect(fused.scalars == (unit(x, training: false) + shortcut).relu().scalars)
            #expect(relativeError(fused, parts) < 1e-5)
        }
        // Recording gradients takes the unfused path, with the same values.
        #expect(relativeError(unit(x, training: false, adding: shortcut, relu: true), parts) < 1e-5)
    }

    /// Convolution by its definition, one multiply-add at a time: the reference for the fast paths.
    private func naiveConv2d(_ x: Tensor, _ w: Tensor, stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding.0 - kh) / stride.0 + 1, ow = (wd + 2 * padding.1 - kw) / stride.1 + 1
        let xs = x.scalars, ws = w.scalars
        var out = [Float](repeating: 0, count: n * o * oh * ow)
        for image in 0..<n { for oc in 0..<o { for y in 0..<oh { for xo in 0..<ow {
            var total: Float = 0
            for ic in 0..<c { for dy in 0..<kh { for dx in 0..<kw {
                let iy = y * stride.0 - padding.0 + dy, ix = xo * stride.1 - padding.1 + dx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                total += xs[((image * c + ic) * h + iy) * wd + ix] * ws[((oc * c + ic) * kh + dy) * kw + dx]
            } } }
            out[((image * o + oc) * oh + y) * ow + xo] = total
        } } } }
        return Tensor(shape: [n, o, oh, ow], scalars: out)
    }

    @Test func stride1Stride2AndOneByOneFastPathsMatchTheDefinition() {
        let x = randomTensor([3, 2, 16, 9], seed: 75, requiresGrad: false)
        // Stride 1 with the output as wide as the input: im2col copies whole shifted planes.
        // Kernels taller than their padding cover lose rows over the border; the last case pads
        // rows more than the kernel needs.
        for (kernel, padding) in [((3, 3), (1, 1)), ((3, 5), (2, 2)), ((1, 9), (0, 4)), ((2, 1), (3, 0))] {
            let w = randomTensor([4, 2, kernel.0, kernel.1], seed: 76, requiresGrad: false)
            #expect(relativeError(conv2d(x, weight: w, bias: nil, padding: padding),
                                  naiveConv2d(x, w, stride: (1, 1), padding: padding)) < 1e-6, "kernel \(kernel)")
        }
        // Stride 2 over rows wide enough for the vector gather of every other input, and its tail.
        let wide = randomTensor([2, 2, 5, 45], seed: 80, requiresGrad: false)
        for (kernel, padding) in [((3, 3), (1, 1)), ((1, 1), (0, 0)), ((7, 7), (3, 3))] {
            let w = randomTensor([3, 2, kernel.0, kernel.1], seed: 81, requiresGrad: false)
            #expect(relativeError(conv2d(wide, weight: w, bias: nil, stride: (2, 2), padding: padding),
                                  naiveConv2d(wide, w, stride: (2, 2), padding: padding)) < 1e-6, "kernel \(kernel)")
        }
        // 1x1 over 144 positions: each image's plane is the GEMM's operand, with no patch matrix.
        let w = randomTensor([5, 2, 1, 1], seed: 77, requiresGrad: false)
        #expect(relativeError(conv2d(x, weight: w, bias: nil), naiveConv2d(x, w, stride: (1, 1), padding: (0, 0))) < 1e-6)
        let xg = randomTensor([2, 2, 16, 8], seed: 78), wg = randomTensor([3, 2, 1, 1], seed: 79)
        expectGradientsMatch([xg, wg]) { conv2d($0[0], weight: $0[1], bias: nil) }
    }

    @Test func poolingMatchesHandComputedWindows() {
        let x = Tensor(shape: [1, 1, 3, 4], scalars: [1, 5, 2, 0, 3, 4, 9, 1, 7, 2, 6, 8])
        // 3x3 windows, stride 2, padding 1 (the ResNet stem pool): rows {0, 1}, {1, 2} by columns {0, 1}, {1, 2, 3}.
        #expect(x.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).scalars == [5, 9, 7, 9])
        #expect(x.averagePool2d(kernel: (2, 2)).scalars == [13 / 4, 12 / 4])
        // Adaptive pooling of 3 rows into 2 overlaps on the middle row, as PyTorch's.
        #expect(x.adaptiveAveragePool2d((2, 1)).scalars == [25 / 8, 40 / 8])
        #expect(x.adaptiveAveragePool2d((1, 1)).scalars == [48 / 12])
    }

    @Test func poolingGradients() {
        let x = randomTensor([2, 3, 5, 6], seed: 67)
        // Max pooling: distinct values 0.05 apart, so no finite-difference step swaps a winner.
        var rng = RandomGenerator(seed: 69)
        let spaced = Tensor(shape: [2, 3, 5, 6], scalars: (0..<180).map { Float($0) * 0.05 }.shuffled(using: &rng),
                            requiresGrad: true)
        expectGradientsMatch([spaced]) { $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        expectGradientsMatch([x]) { $0[0].averagePool2d(kernel: (2, 3), stride: (1, 2), padding: (1, 1)) }
        expectGradientsMatch([x]) { $0[0].adaptiveAveragePool2d((2, 4)) }
    }

    @Test func batchNormUsesRunningStatisticsInEval() {
        let bn = BatchNorm(2)
        bn.runningMean.assign(Tensor(shape: [2], scalars: [1, -1]))
        bn.runningVariance.assign(Tensor(shape: [2], scalars: [4, 0.25]))
        let y = bn(Tensor(shape: [1, 2, 1], scalars: [3, 0]), training: false)
        #expect(zip(y.scalars, [1, 2]).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(bn.namedState.map(\.name) == ["weight", "bias", "running_mean", "running_var"])
    }

    @Test func temporalShiftMatchesHandComputedExample() {
        // One clip of 3 frames, 8 channels of 1x1: x[t][c] = 10 t + c; C / 8 = 1 channel per direction.
        let x = Tensor(shape: [3, 8, 1, 1], scalars: (0..<3).flatMap { t in (0..<8).map { Float(10 * t + $0) } })
        let shifted = x.temporalShift(frames: 3)
        #expect(shifted.scalars == [
            10, 0, 2, 3, 4, 5, 6, 7,  // frame 0: channel 0 from frame 1, channel 1 has no frame -1
            20, 1, 12, 13, 14, 15, 16, 17,  // frame 1: channel 0 from frame 2, channel 1 from frame 0
            0, 11, 22, 23, 24, 25, 26, 27,  // frame 2: channel 0 has no frame 3, channel 1 from frame 1
        ])
        // Two clips never exchange frames, and the gradient is the opposite shift.
        let clips = randomTensor([6, 16, 2, 3], seed: 68)
        #expect(clips.temporalShift(frames: 3).slice(axis: 0, 0..<3).scalars
            == clips.slice(axis: 0, 0..<3).temporalShift(frames: 3).scalars)
        expectGradientsMatch([clips]) { $0[0].temporalShift(frames: 3) }
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
