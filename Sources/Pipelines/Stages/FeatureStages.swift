import Foundation
import Models
import PipelineCore
import Tensor

/// Stages that run a frozen encoder over decoded media and emit float32 feature arrays for the
/// shard writer, as Spoken Moments precomputes its video features. Each batches clips across
/// items (one forward over all their frames) and owns the math threads: it sets `ComputeThreads`
/// (OpenBLAS and the engine's kernels) once, to `threads`, so the decode workers of the stages
/// before it keep the other cores.
enum FeatureStages {
    static let specs: [StageSpec] = [videoFeatures, audioFeatures]

    static let common = [
        ParameterSpec("weights", .inputs(objects: false),
                      help: "safetensors file with the encoder's weights (torchvision names for ResNets); "
                          + "without it the weights are random from `seed`, for plumbing and throughput only"),
        ParameterSpec("seed", .int(), default: "0", help: "seed of the random weights when no file is given"),
        ParameterSpec("batch", .int(min: 1, max: 4096), default: "8", help: "clips per forward pass"),
        ParameterSpec("threads", .int(min: 0, max: 256), default: "0",
                      help: "math threads (GEMM and kernels); 0: half the cores, the rest left to decoding"),
        ParameterSpec("keep_input", .bool, default: "false", help: "keep the input field (default: replace it by the features)"),
    ]

    static let videoFeatures = StageSpec(
        type: "video_features", role: .stage,
        summary: "frozen video encoder over the frames in `field` (uint8 T x H x W x 3 or float32 T x 3 x H x W), "
            + "pooled over time into a float32 array in `output`",
        parameters: [
            ParameterSpec("field", .string, default: "frames", help: "the frames from video_frames"),
            ParameterSpec("output", .string, default: "video_features", help: "the field the features go to"),
            ParameterSpec("model", .choice(["resnet18", "resnet34", "resnet50", "frame_cnn"]), default: "resnet18",
                          help: "the encoder: torchvision's ResNets, or the small TSM frame CNN"),
            ParameterSpec("pooling", .choice(["max", "mean", "none"]), default: "max",
                          help: "over frames: max or mean gives [D]; none keeps [T, D]"),
            ParameterSpec("temporal_shift", .bool, default: "false",
                          help: "shift channels between neighbouring frames in every block (TSM), so features see motion"),
        ] + common
    ) { parameters, _ in
        let encoder = try videoEncoder(parameters)
        let field = parameters.string("field")
        let pooling = parameters.optionalString("pooling").flatMap(FeaturePooling.init)
        configureThreads(parameters)
        return .transform(BatchedEncoder(parameters, field: field, output: parameters.string("output")) { sample in
            try clipTensor(sample, field: field)
        } encode: { clips in
            let features = encoder.frameFeatures(concat(clips.map { $0.reshaped([1] + $0.shape) }, axis: 0), training: false)
            let pooled = pooling.map { $0(features, axis: 1) } ?? features
            return (0..<clips.count).map { pooled.slice(axis: 0, $0..<($0 + 1)).reshaped(Array(pooled.shape.dropFirst())) }
        })
    }

    static let audioFeatures = StageSpec(
        type: "audio_features", role: .stage,
        summary: "frozen ResDAVEnet over the log-mel in `field` (float32 frames x mels), masked mean over its frames, "
            + "into a float32 array in `output`",
        parameters: [
            ParameterSpec("field", .string, default: "mel", help: "the spectrogram from log_mel"),
            ParameterSpec("output", .string, default: "audio_features", help: "the field the features go to"),
            ParameterSpec("widths", .strings, help: "channels of each stage, two blocks each (default [128, 256, 512, 1024])"),
        ] + common
    ) { parameters, _ in
        var config = ResDAVEnet.Config()
        let texts = parameters.strings("widths"), widths = texts.compactMap { Int($0) }
        guard widths.count == texts.count, widths.allSatisfy({ $0 > 0 && $0 <= 1 << 14 }) else {
            throw PlanError(stage: parameters.stageName, "widths must be integers from 1 to 16384, got \(texts)")
        }
        if !widths.isEmpty { (config.stageWidths, config.blocks) = (widths, widths.map { _ in 2 }) }
        var rng = RandomGenerator(seed: UInt64(bitPattern: Int64(parameters.int("seed"))))
        let model = ResDAVEnet(config, rng: &rng), melBins = config.melBins
        try loadWeights(model, parameters)
        let field = parameters.string("field")
        configureThreads(parameters)
        return .transform(BatchedEncoder(parameters, field: field, output: parameters.string("output"), groupByShape: false) { sample in
            guard case let .array(mel)? = sample[field], mel.dtype == .float32, mel.shape.count == 2,
                  mel.shape[1] == melBins, mel.shape[0] > 0 else {
                throw StageError(path: sample.itemDescription,
                                 reason: "'\(field)' is not a float32 frames x \(melBins) spectrogram")
            }
            return mel.tensor()
        } encode: { spectrograms in
            let lengths = spectrograms.map { $0.shape[0] }, longest = lengths.max() ?? 0
            let padded = concat(spectrograms.map { mel in
                let frames = mel.transposed(0, 1)
                let filled = mel.shape[0] == longest ? frames : concat([frames, .zeros([melBins, longest - mel.shape[0]])], axis: 1)
                return filled.reshaped([1, melBins, longest])
            }, axis: 0)
            let embeddings = model(padded, lengths: lengths, training: false)
            return (0..<spectrograms.count).map { embeddings.slice(axis: 0, $0..<($0 + 1)).reshaped([model.embeddingWidth]) }
        })
    }

    /// The one place a feature stage decides how many threads the math gets.
    private static func configureThreads(_ parameters: StageParameters) {
        let requested = parameters.int("threads")
        ComputeThreads.configure(requested > 0 ? requested : max(1, ProcessInfo.processInfo.activeProcessorCount / 2))
    }

    private static func videoEncoder(_ parameters: StageParameters) throws -> any FrameEncoder {
        var rng = RandomGenerator(seed: UInt64(bitPattern: Int64(parameters.int("seed"))))
        let shift = parameters.bool("temporal_shift")
        let encoder: any FrameEncoder
        if parameters.optionalString("model") == "frame_cnn" {
            encoder = FrameCNN(temporalShift: shift, rng: &rng)
        } else {
            let depth: ResNet.Depth = switch parameters.optionalString("model") {
            case "resnet34": .resnet34
            case "resnet50": .resnet50
            default: .resnet18
            }
            var resnet = ResNet(depth, classes: nil, rng: &rng)
            resnet.temporalShift = shift
            encoder = resnet
        }
        try loadWeights(encoder, parameters)
        return encoder
    }

    /// Loads `weights` when given (a torchvision file's `fc` is not needed and is ignored).
    private static func loadWeights(_ model: some Layer, _ parameters: StageParameters) throws {
        guard let file = parameters.inputs("weights").first else { return }
        do { try model.load(SafeTensors.read(file).tensors, from: file) } catch {
            throw PlanError(stage: parameters.stageName, "\(error)")
        }
    }

    /// `[T, 3, H, W]` float frames of a clip: uint8 HWC RGB normalised as torchvision does, or
    /// float32 CHW frames (video_frames' `format: float32`, already normalised) as they are.
    static func clipTensor(_ sample: Sample, field: String) throws -> Tensor {
        guard case let .array(frames)? = sample[field] else {
            throw StageError(path: sample.itemDescription, reason: "no array field '\(field)' of frames")
        }
        let s = frames.shape
        if frames.dtype == .float32, s.count == 4, s[1] == 3, s.allSatisfy({ $0 > 0 }) {
            return frames.tensor()
        }
        guard frames.dtype == .uint8, s.count == 4, s[3] == 3, s.allSatisfy({ $0 > 0 }) else {
            throw StageError(path: sample.itemDescription,
                             reason: "'\(field)' is \(frames.dtype) \(s), not uint8 T x H x W x 3 or float32 T x 3 x H x W")
        }
        let (count, plane) = (s[0], s[1] * s[2])
        var values = [Float](repeating: 0, count: frames.count)
        frames.data.withUnsafeBufferPointer { bytes in
            for frame in 0..<count {
                for channel in 0..<3 {
                    let scale = 1 / (255 * ResNet.imageNetStd[channel]), shift = ResNet.imageNetMean[channel] / ResNet.imageNetStd[channel]
                    let out = (frame * 3 + channel) * plane, input = frame * plane * 3 + channel
                    for p in 0..<plane { values[out + p] = Float(bytes[input + 3 * p]) * scale - shift }
                }
            }
        }
        return Tensor(shape: [count, 3, s[1], s[2]], scalars: values)
    }
}

/// Holds up to `batch` items, then encodes their inputs in one frozen forward pass and emits each
/// item with its features in `output`. Under `groupByShape`, a clip whose input shape differs from
/// the held ones first flushes them (a batch is one tensor).
struct BatchedEncoder: Transform {
    let batch: Int, output: String, input: String?, groupByShape: Bool
    let prepare: @Sendable (Sample) throws -> Tensor
    let encode: ([Tensor]) -> [Tensor]
    private var held: [(sample: Sample, input: Tensor)] = []

    init(_ parameters: StageParameters, field: String, output: String, groupByShape: Bool = true,
         prepare: @escaping @Sendable (Sample) throws -> Tensor, encode: @escaping ([Tensor]) -> [Tensor]) {
        batch = parameters.int("batch")
        input = parameters.bool("keep_input") ? nil : field
        (self.output, self.groupByShape, self.prepare, self.encode) = (output, groupByShape, prepare, encode)
    }

    mutating func process(_ item: Sample, into output: inout [Sample]) throws {
        let tensor = try prepare(item)
        if groupByShape, let first = held.first, first.input.shape != tensor.shape { flush(into: &output) }
        held.append((item, tensor))
        if held.count >= batch { flush(into: &output) }
    }

    mutating func finish(into output: inout [Sample]) throws { flush(into: &output) }

    private mutating func flush(into output: inout [Sample]) {
        guard !held.isEmpty else { return }
        let features = GradMode.withoutGradients { encode(held.map(\.input)) }
        for ((sample, _), feature) in zip(held, features) {
            var out = sample
            if let input { out[input] = nil }
            out[self.output] = .array(NDArray(shape: feature.shape, values: feature.scalars))
            output.append(out)
        }
        held.removeAll(keepingCapacity: true)
    }
}
