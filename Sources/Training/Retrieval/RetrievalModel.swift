import Foundation
import Models
import Settings
import Tensor

/// A clip trainer's model as the retrieval kit sees it: towers that embed each modality of a clip
/// into one space, scored and trained by its `RetrievalOptions`. Held-out figures
/// (`HeldOutRetrieval`), embedding a set of clips, checkpoints and the `eval`, `embed` and
/// `search` commands are written once against this protocol; a new retrieval trainer brings its
/// towers and its loss.
public protocol RetrievalModel: TrainableModel where Batch == ClipBatch {
    associatedtype Options: RetrievalSettings
    /// Its settings, the scoring and loss among them.
    var options: Options { get }
    /// The clips it takes, recorded in its checkpoints.
    var clip: ClipShape { get }
    /// The vocab.txt its caption text tower reads (nil without one), recorded in its checkpoints.
    var captionVocabulary: URL? { get }
    /// The modalities it has a tower for.
    var modalities: [Modality] { get }
    /// The directions its held-out figures rank, as (queries, candidates).
    var rankedDirections: [(Modality, Modality)] { get }
    /// What a modality is called in figure names and index files (Spoken Moments says `caption`
    /// for the spoken caption).
    static func name(of modality: Modality) -> String

    /// `[B, embedding]` of each of `modalities` of the batch's clips (the others' fields unread).
    func embed(_ batch: ClipBatch, _ modalities: [Modality], training: Bool) throws -> [Modality: Tensor]

    /// The model `checkpoint` holds, rebuilt from its settings, clip shape and vocabulary.
    init(checkpoint: RetrievalCheckpoint<Options>) throws
}

/// A retrieval trainer's options: its settings, the kit's scoring and loss among them.
public protocol RetrievalSettings: SettingsDescribed {
    var retrieval: RetrievalOptions { get }
}

extension RetrievalModel {
    public static func name(of modality: Modality) -> String { modality.rawValue }

    public var retrieval: RetrievalOptions { options.retrieval }

    /// The model a checkpoint file holds, with its weights.
    public init(checkpoint file: URL) throws {
        let checkpoint = try RetrievalCheckpoint<Options>(file)
        try self.init(checkpoint: checkpoint)
        try load(checkpoint.tensors, from: file)
    }

    /// Its settings, clip shape and caption vocabulary, so `init(checkpoint:)` rebuilds it.
    public var checkpointMetadata: [String: String] {
        var metadata = clip.metadata.merging(options.settingValues.map { ("setting." + $0.key, $0.value) }) { $1 }
        if let captionVocabulary { metadata["vocab"] = captionVocabulary.path }
        return metadata
    }

    /// Every clip's embedding per modality (rows in clip order, `[count * embedding]` each), in
    /// batches of 64 without gradients.
    public func embeddings(of clips: ClipDataset, _ modalities: [Modality]? = nil) throws -> [Modality: [Float]] {
        try GradMode.withoutGradients {
            var result: [Modality: [Float]] = [:]
            for start in stride(from: 0, to: clips.count, by: 64) {
                let batch = clips.batch(of: Array(start..<min(clips.count, start + 64)))
                for (modality, tensor) in try embed(batch, modalities ?? self.modalities, training: false) {
                    result[modality, default: []] += tensor.scalars
                }
            }
            return result
        }
    }
}

/// What a clip trainer's checkpoint holds besides the optimizer's state: its settings
/// (`setting.*`), the clip shape (`clip.*`), the caption vocabulary (`vocab`, with a text tower)
/// and the tensors, checked before any tower is built.
public struct RetrievalCheckpoint<Options: RetrievalSettings> {
    public let file: URL
    public let options: Options
    public let clip: ClipShape
    public let vocabulary: URL?
    public let tensors: [String: Tensor]

    public init(_ file: URL) throws {
        let (extra, tensors) = try Checkpoint.open(file)
        var settings = Dictionary(uniqueKeysWithValues: extra.compactMap { key, value in
            key.hasPrefix("setting.") ? (String(key.dropFirst(8)), value) : nil
        })
        guard !settings.isEmpty else {
            throw TrainingError(.checkpoint, file.path, "no 'extra.setting.*' entries: not a checkpoint of this trainer")
        }
        // Checkpoints written before `frame_pooling` and `audio_pooling` existed pooled by the mean,
        // and still load as they were trained (a trainer without one of them ignores it).
        settings.merge(["frame_pooling": FeaturePooling.mean.rawValue, "audio_pooling": FeaturePooling.mean.rawValue]) { own, _ in own }
        do throws(SettingError) {
            options = try Options(settingValues: settings)
        } catch {
            throw TrainingError(.checkpoint, file.path, "its recorded setting \(error.description)")
        }
        clip = try ClipShape(metadata: extra, file: file.path)
        vocabulary = extra["vocab"].map { URL(fileURLWithPath: $0) }
        (self.file, self.tensors) = (file, tensors)
    }

    /// The caption vocabulary a text tower needs.
    public func requireVocabulary() throws(TrainingError) -> URL {
        guard let vocabulary else { throw TrainingError(.checkpoint, file.path, "its text tower has no vocabulary (metadata 'extra.vocab')") }
        return vocabulary
    }
}
