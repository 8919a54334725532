import Foundation
import Tensor

/// torchvision's ResNet-18/34/50 with its parameter names (`conv1`, `bn1`, `layer1.0.conv1`,
/// ..., `fc`), so weights converted from torchvision load as they are:
///
///     /usr/bin/python3 tools/backbone_weights.py resnet18.pth resnet18.safetensors
///
/// (README, "Encoders"; `num_batches_tracked` and other tensors the model does not use are
/// ignored). Nothing is downloaded here.
public struct ResNet: Layer {
    /// The depths torchvision defines: blocks per stage and which block.
    public enum Depth: Int, Sendable, CaseIterable {
        case resnet18 = 18, resnet34 = 34, resnet50 = 50

        var blocks: [Int] { self == .resnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3] }
        var bottleneck: Bool { self == .resnet50 }

        /// The depth whose blocks a torchvision state dict's tensor names hold (layer3's block
        /// count, and whether blocks have a `conv3`); nil when they hold no such depth.
        public static func held(in names: some Sequence<String>) -> Depth? {
            var layer3 = Set<Substring>(), bottleneck = false
            for name in names {
                if name.hasPrefix("layer3.") { layer3.insert(name.dropFirst(7).prefix { $0 != "." }) }
                if name.hasPrefix("layer1.0.conv3.") { bottleneck = true }
            }
            return allCases.first { $0.blocks[2] == layer3.count && $0.bottleneck == bottleneck }
        }

        /// Refuses weights whose blocks are another depth's: loading ignores tensors a model does
        /// not use, so a ResNet-34 file would fill a ResNet-18's first blocks without a word.
        public func check(_ names: some Sequence<String>, file: URL) throws(ModelError) {
            guard let held = Depth.held(in: names), held != self else { return }
            throw ModelError(.invalidWeights, file.path, "holds the blocks of a ResNet-\(held.rawValue), not of a ResNet-\(rawValue)")
        }
    }

    public let depth: Depth
    public let stem: ConvNorm
    /// `layer1` ... `layer4`.
    public let stages: [[any ResidualUnit]]
    /// The classifier; nil for a backbone that only embeds.
    public let fc: Linear?
    /// Whether every block's residual branch sees a temporal shift across a clip's frames (the
    /// TSM ResNet of Spoken Moments' video tower); it adds no parameters, so torchvision weights load.
    public var temporalShift = false

    /// Width of `features`: 512 for ResNet-18/34, 2048 for ResNet-50.
    public var featureWidth: Int { stages.last?.last?.outChannels ?? 0 }

    /// Randomly initialised; `inChannels` 1 gives the spectrogram variant (a 1-channel first conv).
    public init(_ depth: Depth, classes: Int? = 1000, inChannels: Int = 3, rng: inout RandomGenerator) {
        self.depth = depth
        stem = ConvNorm(inChannels, 64, kernel: (7, 7), stride: (2, 2), padding: (3, 3), rng: &rng)
        var channels = 64
        var stages: [[any ResidualUnit]] = []
        for (index, count) in depth.blocks.enumerated() {
            let width = 64 << index
            stages.append((0..<count).map { block in
                let stride = block == 0 && index > 0 ? 2 : 1
                let unit: any ResidualUnit = depth.bottleneck
                    ? Bottleneck(channels, width: width, stride: stride, rng: &rng)
                    : BasicBlock(channels, width, stride: (stride, stride), rng: &rng)
                channels = unit.outChannels
                return unit
            })
        }
        self.stages = stages
        fc = classes.map { Linear(channels, $0, rng: &rng) }
    }

    /// A ResNet holding the weights of a safetensors file in torchvision's names; the classifier's
    /// size comes from the file's `fc.weight` (a file without one gives a backbone).
    public init(_ depth: Depth, contentsOf file: URL, inChannels: Int = 3) throws(ModelError) {
        let tensors: [String: Tensor]
        do { tensors = try SafeTensors.read(file).tensors } catch { throw ModelError(error) }
        try depth.check(tensors.keys, file: file)
        var rng = RandomGenerator(seed: 0)
        self.init(depth, classes: tensors["fc.weight"]?.shape.first, inChannels: inChannels, rng: &rng)
        do { try load(tensors, from: file) } catch { throw ModelError(error) }
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        stem.named("conv1", "bn1") + stageEntries(stages, \.namedParameters) + (fc.map { prefixed("fc", $0) } ?? [])
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("bn1", stem.norm) + stageEntries(stages, \.namedBuffers)
    }

    /// `[N, featureWidth]`: the globally averaged output of the last stage for `[N, C, H, W]`
    /// images; with `temporalShift`, N is clips x `frames` and blocks shift across each clip.
    public func features(_ images: Tensor, training: Bool, frames: Int? = nil) -> Tensor {
        let shift = temporalShift ? frames : nil
        var x = stem(images, training: training, relu: true).maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        for stage in stages {
            for block in stage { x = block(x, training: training, mask: nil, shiftFrames: shift) }
        }
        return x.adaptiveAveragePool2d((1, 1)).reshaped([images.shape[0], -1])
    }

    /// ImageNet's per-channel mean and standard deviation, which torchvision's weights expect.
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406], imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// Clips `[N, T, 3, H, W]` in [0, 1] normalised per channel as torchvision's weights expect.
    public static func imageNetNormalized(_ clips: Tensor) -> Tensor {
        let scale = Tensor(shape: [1, 1, 3, 1, 1], scalars: imageNetStd.map { 1 / $0 })
        let shift = Tensor(shape: [1, 1, 3, 1, 1], scalars: zip(imageNetMean, imageNetStd).map { -$0 / $1 })
        return clips * scale + shift
    }

    /// Class scores `[N, classes]` (the features when there is no classifier).
    public func callAsFunction(_ images: Tensor, training: Bool) -> Tensor {
        let pooled = features(images, training: training)
        return fc.map { $0(pooled) } ?? pooled
    }
}
