import Models
import Settings
import Tensor

/// The two encoders every clip trainer trains from scratch, with their settings written once: a
/// frame CNN (stride-2 3x3 layers, the first `videoWidth` wide, doubling) with the temporal shift
/// between layers, so it can tell which way a shape moves, and the maximum over its last map's
/// positions (the mean lets a busy background drown a small object: BENCHMARKS.md, "What the clip
/// trainers learn"), and ResDAVEnet over the caption's
/// log-mel (a stem and four stages, `audioWidth` wide doubling per stage, `audioBlocks` each).
public struct ClipTowerOptions: Sendable, Equatable {
    public var videoLayers = 3
    public var videoWidth = 32
    public var temporalShift = true
    public var framePooling = FeaturePooling.max
    public var audioWidth = 32
    public var audioBlocks = 1

    public init(audioWidth: Int = 32) { self.audioWidth = audioWidth }

    /// Their settings, lifted into a trainer's options by `path`.
    public static func settings<Options>(at path: WritableKeyPath<Options, ClipTowerOptions>) -> [Setting<Options>] {
        let own: [Setting<ClipTowerOptions>] = [
            .int("video_layers", \.videoLayers, max: 8, "frame CNN: stride-2 conv layers"),
            .int("video_width", \.videoWidth, max: 1024, "frame CNN: width of the first layer (doubling after)"),
            .flag("temporal_shift", \.temporalShift, "frame CNN: temporal shift between layers (motion)"),
            .choice("frame_pooling", \.framePooling, "frame CNN: its last map to a frame's features, max or mean over positions"),
            .int("audio_width", \.audioWidth, max: 1024, "ResDAVEnet: width of the stem and first stage (doubling per stage)"),
            .int("audio_blocks", \.audioBlocks, max: 8, "ResDAVEnet: residual blocks per stage"),
        ]
        return own.map { $0.lifted(path) }
    }

    public func frameCNN(rng: inout RandomGenerator) -> FrameCNN {
        FrameCNN(widths: (0..<videoLayers).map { videoWidth << $0 }, temporalShift: temporalShift, spatialPooling: framePooling, rng: &rng)
    }

    public func resDAVEnet(melBins: Int, rng: inout RandomGenerator) -> ResDAVEnet {
        ResDAVEnet(.init(melBins: melBins, stemWidth: audioWidth, stageWidths: (0..<4).map { audioWidth << $0 },
                         blocks: Array(repeating: audioBlocks, count: 4)), rng: &rng)
    }

    /// Refuses widths whose widest tensors a checkpoint does not hold, before the towers are
    /// built: a few bytes of metadata must not make a model allocate gigabytes.
    func checkWidths(against tensors: [String: Tensor], video: String?, audio: String, file: String) throws(TrainingError) {
        var expected = [("\(audio).layer4.\(audioBlocks - 1).conv2.weight", audioWidth << 3)]
        if let video { expected.append(("\(video).conv\(videoLayers).weight", videoWidth << (videoLayers - 1))) }
        try checkRows(expected, in: tensors, file: file)
        if let video, tensors["\(video).conv\(videoLayers + 1).weight"] != nil {
            throw TrainingError(.checkpoint, file, "its settings say \(videoLayers) frame CNN layers; the file holds more")
        }
    }
}

/// Each named tensor must be in the checkpoint with that many rows.
func checkRows(_ expected: [(name: String, rows: Int)], in tensors: [String: Tensor], file: String) throws(TrainingError) {
    for (name, rows) in expected where tensors[name]?.shape.first != rows {
        throw TrainingError(.checkpoint, file, "its settings need tensor '\(name)' of \(rows) rows; the file has "
            + (tensors[name].map { "shape \($0.shape)" } ?? "none"))
    }
}
