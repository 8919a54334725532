import Foundation
import Testing
@testable import Models
@testable import Tensor
import TestSupport

struct ResDAVEnetTests {
    static let fixtureConfig = ResDAVEnet.Config(stemWidth: 8, stageWidths: [8, 12, 16, 16], blocks: [2, 1, 1, 1])

    @Test func forwardAndBackwardMatchPyTorch() throws {
        let (url, tensors) = try EncoderFixtures.read("resdavenet.safetensors")
        var rng = RandomGenerator(seed: 0)
        let model = ResDAVEnet(Self.fixtureConfig, rng: &rng)
        try model.load(tensors, from: url)
        let mel = try #require(tensors["mel"])
        mel.requiresGrad = true
        let lengths = try #require(tensors["lengths"]).scalars.map { Int($0) }
        let worst = try EncoderFixtures.expectForwardBackwardMatch(model, tensors, inputs: [("mel", mel)]) {
            model(mel, lengths: lengths, training: $0)
        }
        print("ResDAVEnet fixture: worst relative error \(worst)")
    }

    /// Padding changes neither pooling: the mean and the maximum are over each clip's true frames.
    @Test func aPaddedBatchEmbedsLikeTheUnpaddedClips() {
        var rng = RandomGenerator(seed: 1)
        let model = ResDAVEnet(ResDAVEnet.Config(stemWidth: 8, stageWidths: [8, 8, 16, 16], blocks: [1, 1, 1, 1]), rng: &rng)
        // Eval mode with non-trivial running statistics, so BatchNorm's shift would leak into padding.
        for (_, buffer) in model.namedBuffers { buffer.assign(Tensor.uniform(buffer.shape, low: 0.5, high: 1.5, rng: &rng)) }
        let short = Tensor.uniform([1, 40, 19], low: -1, high: 1, rng: &rng)
        let long = Tensor.uniform([1, 40, 45], low: -1, high: 1, rng: &rng)
        let padded = concat([concat([short, Tensor.full([1, 40, 26], 3)], axis: 2), long], axis: 0)
        GradMode.withoutGradients {
            for pooling in FeaturePooling.allCases {
                let alone = model(short, lengths: [19], training: false, pooling: pooling)
                let batched = model(padded, lengths: [19, 45], training: false, pooling: pooling)
                #expect(EncoderFixtures.relativeError(batched.slice(axis: 0, 0..<1), alone) < 1e-5, "\(pooling)")
                #expect(EncoderFixtures.relativeError(batched.slice(axis: 0, 1..<2), model(long, lengths: [45], training: false, pooling: pooling)) < 1e-5,
                        "\(pooling)")
            }
            #expect(model.outputFrames(45) == 3 && model.outputFrames(19) == 2)
        }
    }
}

struct VideoEncoderTests {
    @Test func resNet18MatchesTorchvisionInEvalAndTrainMode() throws {
        let (_, tensors) = try EncoderFixtures.read("resnet18.safetensors")
        var rng = RandomGenerator(seed: 0)
        let model = ResNet(.resnet18, rng: &rng)
        #expect(model.namedState.count == 122 - 20)  // torchvision's state_dict less 20 num_batches_tracked
        for (name, tensor) in model.namedState { tensor.assign(EncoderFixtures.fill(name, shape: tensor.shape)) }
        let check = try #require(tensors["check.layer3.0.downsample.0.weight"])
        #expect(EncoderFixtures.fill("layer3.0.downsample.0.weight", shape: [256, 128, 1, 1]).slice(axis: 0, 0..<4).scalars
            == check.scalars)
        let images = try #require(tensors["images"])
        let evaluated = GradMode.withoutGradients { model(images, training: false) }
        let evalError = EncoderFixtures.expectClose(evaluated, tensors, "logits.eval")
        let trainError = EncoderFixtures.expectClose(model(images, training: true), tensors, "logits.train")
        EncoderFixtures.expectClose(model.stages[3][1].namedBuffers[2].tensor, tensors, "after.layer4.1.bn2.running_mean")
        print("ResNet-18 fixture: relative error eval \(evalError), train \(trainError)")
    }

    @Test func checkpointErrorsNameTheTensorAndBothShapes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resnet-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var rng = RandomGenerator(seed: 2)
        let state = ResNet(.resnet18, classes: 10, rng: &rng).namedState
        let missing = directory.appendingPathComponent("missing.safetensors")
        try SafeTensors.write(state.filter { $0.name != "layer2.1.bn1.running_var" }, to: missing)
        #expect { try ResNet(.resnet18, contentsOf: missing) } throws: {
            "\($0)".contains("'layer2.1.bn1.running_var' is missing (the model needs shape [128])")
        }
        let misshaped = directory.appendingPathComponent("misshaped.safetensors")
        try SafeTensors.write(state.map { $0.name == "layer3.0.conv1.weight" ? ($0.name, Tensor.zeros([256, 128, 1, 3])) : $0 },
                              to: misshaped)
        #expect { try ResNet(.resnet18, contentsOf: misshaped) } throws: {
            "\($0)".contains("'layer3.0.conv1.weight' has shape [256, 128, 1, 3], the model needs [256, 128, 3, 3]")
        }
        // The classifier's size comes from the file.
        let whole = directory.appendingPathComponent("whole.safetensors")
        try SafeTensors.write(state, to: whole)
        #expect(try ResNet(.resnet18, contentsOf: whole).fc?.outFeatures == 10)
        // A deeper file is refused, not loaded into the first blocks.
        let deeper = directory.appendingPathComponent("resnet34.safetensors")
        try SafeTensors.write(ResNet(.resnet34, classes: 10, rng: &rng).namedState, to: deeper)
        #expect { try ResNet(.resnet18, contentsOf: deeper) } throws: { "\($0)".contains("holds the blocks of a ResNet-34, not of a ResNet-18") }
        #expect(ResNet.Depth.allCases.allSatisfy { depth in ResNet.Depth.held(in: ResNet(depth, rng: &rng).namedState.map(\.name)) == depth })
    }

    @Test func resNetDepthsHaveTorchvisionShapes() {
        var rng = RandomGenerator(seed: 3)
        let resnet50 = ResNet(.resnet50, classes: 1000, rng: &rng)
        // torchvision: 25,557,032 parameters in ResNet-50, 21,797,672 in ResNet-34.
        #expect(resnet50.parameterCount == 25_557_032)
        #expect(resnet50.featureWidth == 2048)
        #expect(resnet50.namedState.contains { $0.name == "layer4.2.conv3.weight" && $0.tensor.shape == [2048, 512, 1, 1] })
        #expect(ResNet(.resnet34, rng: &rng).parameterCount == 21_797_672)
        let x = Tensor.uniform([2, 3, 32, 32], low: -1, high: 1, rng: &rng)
        #expect(GradMode.withoutGradients { resnet50.features(x, training: false) }.shape == [2, 2048])
    }

    @Test func temporalShiftMakesFrameFeaturesDependOnFrameOrder() {
        var rng = RandomGenerator(seed: 8)
        var model = ResNet(.resnet18, classes: nil, rng: &rng)
        let clip = Tensor.uniform([1, 3, 3, 32, 32], low: -1, high: 1, rng: &rng)
        let reversed = concat((0..<3).reversed().map { clip.slice(axis: 1, $0..<($0 + 1)) }, axis: 1)
        func lastFrame(_ clip: Tensor) -> Tensor {
            GradMode.withoutGradients { model.frameFeatures(clip, training: false).slice(axis: 1, 2..<3) }
        }
        func firstFrame(_ clip: Tensor) -> Tensor {
            GradMode.withoutGradients { model.frameFeatures(clip, training: false).slice(axis: 1, 0..<1) }
        }
        // A per-frame network only sees each frame: played backwards, the features are reversed.
        #expect(EncoderFixtures.relativeError(firstFrame(reversed), lastFrame(clip)) < 1e-6)
        // With the shift, a frame's features depend on its neighbours: "moves left" and "moves right" differ.
        model.temporalShift = true
        #expect(EncoderFixtures.relativeError(firstFrame(reversed), lastFrame(clip)) > 1e-2)
        #expect(model.namedState.count == 100)  // no new parameters (torchvision's 102 less fc): its weights still load
    }

    @Test func frameCNNWithTemporalShiftMatchesPyTorch() throws {
        let (url, tensors) = try EncoderFixtures.read("frame_cnn.safetensors")
        var rng = RandomGenerator(seed: 0)
        let model = FrameCNN(widths: [8, 16, 16], rng: &rng)
        try model.load(tensors, from: url)
        let clips = try #require(tensors["clips"])
        clips.requiresGrad = true
        let worst = try EncoderFixtures.expectForwardBackwardMatch(model, tensors, inputs: [("clips", clips)]) {
            FeaturePooling.max(model.frameFeatures(clips, training: $0), axis: 1)
        }
        print("FrameCNN fixture: worst relative error \(worst)")
    }
}
