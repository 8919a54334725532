import Tensor

/// A network that embeds every frame of a clip: the video half of a retrieval model.
public protocol FrameEncoder: Layer {
    /// Width of each frame's feature vector.
    var featureWidth: Int { get }
    /// `[N, T, featureWidth]` for clips `[N, T, 3, H, W]`.
    func frameFeatures(_ clips: Tensor, training: Bool) -> Tensor
}

/// `[N * T, C, H, W]` frames of `[N, T, C, H, W]` clips (a view).
func flattenedFrames(_ clips: Tensor) -> Tensor {
    precondition(clips.rank == 5, "expects clips [N, T, C, H, W], got \(clips.shape)")
    return clips.reshaped([clips.shape[0] * clips.shape[1], clips.shape[2], clips.shape[3], clips.shape[4]])
}

extension ResNet: FrameEncoder {
    /// Every frame through the backbone (no classifier); frames of a clip meet only through the
    /// temporal shift, when it is on.
    public func frameFeatures(_ clips: Tensor, training: Bool) -> Tensor {
        features(flattenedFrames(clips), training: training, frames: clips.shape[1])
            .reshaped([clips.shape[0], clips.shape[1], -1])
    }
}

/// A small CNN for data sets without a pretrained backbone: stride-2 3x3 conv-BN-ReLU layers
/// (`conv1`/`bn1`, ...), pooled over each frame's last map (`spatialPooling`), with an optional
/// temporal shift (TSM) before every layer but the first so that features see neighbouring frames.
public struct FrameCNN: FrameEncoder {
    public let layers: [ConvNorm]
    /// Whether layers after the first see shifted channels from adjacent frames.
    public let temporalShift: Bool
    /// How the last layer's map becomes a frame's features.
    public let spatialPooling: FeaturePooling

    public var featureWidth: Int { layers.last?.conv.weight.shape[0] ?? 0 }

    public init(widths: [Int] = [32, 64, 128], inChannels: Int = 3, temporalShift: Bool = true, spatialPooling: FeaturePooling = .mean,
                rng: inout RandomGenerator) {
        precondition(!widths.isEmpty, "FrameCNN: needs at least one layer")
        var channels = inChannels
        layers = widths.map { width in
            defer { channels = width }
            return ConvNorm(channels, width, kernel: (3, 3), stride: (2, 2), padding: (1, 1), rng: &rng)
        }
        (self.temporalShift, self.spatialPooling) = (temporalShift, spatialPooling)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { $0.element.named("conv\($0.offset + 1)", "bn\($0.offset + 1)") }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { prefixedBuffers("bn\($0.offset + 1)", $0.element.norm) }
    }

    public func frameFeatures(_ clips: Tensor, training: Bool) -> Tensor {
        let (n, frames) = (clips.shape[0], clips.shape[1])
        var x = flattenedFrames(clips)
        for (index, layer) in layers.enumerated() {
            if index > 0 && temporalShift { x = x.temporalShift(frames: frames) }
            x = layer(x, training: training, relu: true)
        }
        return spatialPooling(x.reshaped([n * frames, featureWidth, x.shape[2] * x.shape[3]]), axis: 2).reshaped([n, frames, featureWidth])
    }
}
