import Tensor

/// The ResDAVEnet speech encoder (Harwath et al.'s DAVEnet line): a first convolution spanning
/// every mel bin, then residual stages of 1 x `kernel` convolutions that each halve time.
///
/// Activations past each clip's true length are zeroed before every convolution, so a clip
/// padded into a longer batch sees exactly the zeros an unpadded clip's convolution padding
/// gives, and pooling over its true frames only makes its embedding padding-invariant
/// in eval mode. (In training, BatchNorm's batch statistics still include the padded zeros.)
public struct ResDAVEnet: Layer {
    public struct Config: Sendable, Equatable {
        public var melBins = 40
        /// Channels of the first convolution.
        public var stemWidth = 128
        /// Output channels of each stage; every stage halves time.
        public var stageWidths = [128, 256, 512, 1024]
        /// Residual blocks per stage.
        public var blocks = [2, 2, 2, 2]
        /// Width in frames of the stages' convolutions (odd).
        public var kernel = 9

        public init(melBins: Int = 40, stemWidth: Int = 128, stageWidths: [Int] = [128, 256, 512, 1024],
                    blocks: [Int] = [2, 2, 2, 2], kernel: Int = 9) {
            (self.melBins, self.stemWidth, self.stageWidths, self.blocks, self.kernel) = (melBins, stemWidth, stageWidths, blocks, kernel)
        }
    }

    public let config: Config
    public let stem: ConvNorm
    public let stages: [[BasicBlock]]

    /// Width of the embedding: the last stage's channels.
    public var embeddingWidth: Int { config.stageWidths.last ?? config.stemWidth }

    public init(_ config: Config = Config(), rng: inout RandomGenerator) {
        precondition(config.stageWidths.count == config.blocks.count && config.blocks.allSatisfy { $0 > 0 }
                     && config.kernel % 2 == 1, "ResDAVEnet: \(config)")
        self.config = config
        stem = ConvNorm(1, config.stemWidth, kernel: (config.melBins, 1), rng: &rng)
        var channels = config.stemWidth
        stages = zip(config.stageWidths, config.blocks).map { width, count in
            (0..<count).map { block in
                defer { channels = width }
                return BasicBlock(channels, width, kernel: (1, config.kernel), stride: (1, block == 0 ? 2 : 1), rng: &rng)
            }
        }
    }

    /// DAVEnet's names: `conv1`, `bn1`, `layer1.0.conv1`, ...
    public var namedParameters: [(name: String, tensor: Tensor)] {
        stem.named("conv1", "bn1") + stageEntries(stages, \.namedParameters)
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("bn1", stem.norm) + stageEntries(stages, \.namedBuffers)
    }

    /// Frames left of a clip of `frames` frames after every stage (each halves time, rounding up).
    public func outputFrames(_ frames: Int) -> Int {
        config.stageWidths.reduce(frames) { length, _ in (length + 1) / 2 }
    }

    /// `[N, channels, T']` frame features of log-mel `[N, melBins, T]` whose clip `i` has
    /// `lengths[i]` real frames (the rest padding), and each clip's frame count after the stages.
    public func frames(_ mel: Tensor, lengths: [Int], training: Bool) -> (features: Tensor, lengths: [Int]) {
        precondition(mel.rank == 3 && mel.shape[1] == config.melBins && lengths.count == mel.shape[0]
                     && lengths.allSatisfy { $0 > 0 && $0 <= mel.shape[2] },
                     "ResDAVEnet: mel \(mel.shape) with lengths \(lengths) (expects [N, \(config.melBins), T], 1 <= length <= T)")
        var lengths = lengths
        let (n, frames) = (mel.shape[0], mel.shape[2])
        var x = stem(mel.reshaped([n, 1, config.melBins, frames]), training: training, relu: true)
            .masked(frameMask(lengths, frames: frames))
        for stage in stages {
            lengths = lengths.map { ($0 + 1) / 2 }
            let mask = frameMask(lengths, frames: (x.shape[3] + 1) / 2)
            for block in stage { x = block(x, training: training, mask: mask, shiftFrames: nil) }
        }
        return (x.reshaped([n, x.shape[1], x.shape[3]]), lengths)
    }

    /// `[N, embeddingWidth]`: each clip's frame features pooled over its true frames (the mean, or
    /// the maximum per feature).
    public func callAsFunction(_ mel: Tensor, lengths: [Int], training: Bool, pooling: FeaturePooling = .mean) -> Tensor {
        let (features, lengths) = frames(mel, lengths: lengths, training: training)
        return pooling(features, lengths: lengths)
    }
}

/// `[N, 1, 1, frames]`: 1 for the first `lengths[i]` frames of row i, 0 after; nil when no row
/// is padded, so an unpadded batch skips a multiplication over every activation.
func frameMask(_ lengths: [Int], frames: Int) -> Tensor? {
    guard lengths.contains(where: { $0 < frames }) else { return nil }
    return Tensor(shape: [lengths.count, 1, 1, frames],
                  scalars: lengths.flatMap { length in (0..<frames).map { $0 < length ? 1 : 0 } })
}
