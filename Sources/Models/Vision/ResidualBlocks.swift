import Tensor

/// One residual block of a ResNet-style network, named as torchvision names its parts.
public protocol ResidualUnit: Layer {
    /// Channels of the block's output.
    var outChannels: Int { get }
    /// The block on `[N, C, H, W]`; with `mask` (`[N, 1, 1, W]`, ones and zeros) every activation a
    /// convolution reads is zeroed where the mask is, so padding past a clip's end stays zero.
    /// With `shiftFrames` (N is clips x frames), the residual branch reads the temporally shifted
    /// input (TSM's "residual shift"), the shortcut the input as it is.
    func callAsFunction(_ x: Tensor, training: Bool, mask: Tensor?, shiftFrames: Int?) -> Tensor
}

/// Every entry `part` lists of each block, as `layer<stage>.<block>.<name>` (torchvision's and
/// DAVEnet's naming of residual stages).
func stageEntries(_ stages: [[any ResidualUnit]], _ part: (any ResidualUnit) -> [(name: String, tensor: Tensor)])
    -> [(name: String, tensor: Tensor)] {
    stages.enumerated().flatMap { stage in
        stage.element.enumerated().flatMap { block in
            part(block.element).map { ("layer\(stage.offset + 1).\(block.offset).\($0.name)", $0.tensor) }
        }
    }
}

/// The shortcut when a block changes shape: a strided 1x1 convolution and BatchNorm
/// (torchvision's `downsample.0` / `downsample.1`).
private func projectionShortcut(_ inChannels: Int, _ outChannels: Int, stride: (Int, Int),
                                rng: inout RandomGenerator) -> ConvNorm? {
    stride == (1, 1) && inChannels == outChannels
        ? nil : ConvNorm(inChannels, outChannels, kernel: (1, 1), stride: stride, rng: &rng)
}

extension Tensor {
    /// Zeroes what `mask` zeroes; no mask leaves the tensor as it is.
    func masked(_ mask: Tensor?) -> Tensor { mask.map { self * $0 } ?? self }

    /// Temporally shifted over clips of `frames` frames, or as it is without.
    func shifted(_ frames: Int?) -> Tensor { frames.map { temporalShift(frames: $0) } ?? self }
}

/// ResNet's basic block: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU. Square 3x3 kernels
/// make torchvision's ResNet-18/34 block; 1x9 kernels striding over time make ResDAVEnet's.
public struct BasicBlock: ResidualUnit {
    public let first: ConvNorm, second: ConvNorm
    public let downsample: ConvNorm?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int) = (3, 3), stride: (Int, Int) = (1, 1),
                rng: inout RandomGenerator) {
        let padding = ((kernel.0 - 1) / 2, (kernel.1 - 1) / 2)
        first = ConvNorm(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding, rng: &rng)
        second = ConvNorm(outChannels, outChannels, kernel: kernel, padding: padding, rng: &rng)
        downsample = projectionShortcut(inChannels, outChannels, stride: stride, rng: &rng)
    }

    public var outChannels: Int { second.conv.weight.shape[0] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        first.named("conv1", "bn1") + second.named("conv2", "bn2") + (downsample.map { prefixed("downsample", $0) } ?? [])
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("bn1", first.norm) + prefixedBuffers("bn2", second.norm)
            + (downsample.map { prefixedBuffers("downsample", $0) } ?? [])
    }

    public func callAsFunction(_ x: Tensor, training: Bool, mask: Tensor? = nil, shiftFrames: Int? = nil) -> Tensor {
        let h = first(x.shifted(shiftFrames), training: training, relu: true).masked(mask)
        let shortcut = downsample.map { $0(x, training: training) } ?? x
        return second(h, training: training, adding: shortcut, relu: true).masked(mask)
    }
}

/// ResNet-50's bottleneck block (torchvision's "v1.5": the stride sits on the 3x3 convolution):
/// 1x1 down to `width`, 3x3, 1x1 up to 4 x `width`, plus the shortcut.
public struct Bottleneck: ResidualUnit {
    public static let expansion = 4
    public let reduce: ConvNorm, spatial: ConvNorm, expand: ConvNorm
    public let downsample: ConvNorm?

    public init(_ inChannels: Int, width: Int, stride: Int = 1, rng: inout RandomGenerator) {
        let out = width * Self.expansion
        reduce = ConvNorm(inChannels, width, kernel: (1, 1), rng: &rng)
        spatial = ConvNorm(width, width, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), rng: &rng)
        expand = ConvNorm(width, out, kernel: (1, 1), rng: &rng)
        downsample = projectionShortcut(inChannels, out, stride: (stride, stride), rng: &rng)
    }

    public var outChannels: Int { expand.conv.weight.shape[0] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        reduce.named("conv1", "bn1") + spatial.named("conv2", "bn2") + expand.named("conv3", "bn3")
            + (downsample.map { prefixed("downsample", $0) } ?? [])
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("bn1", reduce.norm) + prefixedBuffers("bn2", spatial.norm) + prefixedBuffers("bn3", expand.norm)
            + (downsample.map { prefixedBuffers("downsample", $0) } ?? [])
    }

    public func callAsFunction(_ x: Tensor, training: Bool, mask: Tensor? = nil, shiftFrames: Int? = nil) -> Tensor {
        let h = spatial(reduce(x.shifted(shiftFrames), training: training, relu: true).masked(mask), training: training,
                        relu: true).masked(mask)
        let shortcut = downsample.map { $0(x, training: training) } ?? x
        return expand(h, training: training, adding: shortcut, relu: true).masked(mask)
    }
}
