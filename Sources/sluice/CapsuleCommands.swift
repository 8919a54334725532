import ArgumentParser
import Foundation
import Media
import Models
import PipelineCore
import Pipelines
import Tensor
import Text
import Training

/// `sluice capsules train|eval|embed|search`.
struct CapsulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capsules",
        abstract: "Multimodal capsules: video, spoken caption and caption text in one space, routed by self-attention.",
        subcommands: [CapsulesTrain.self, CapsulesEval.self, CapsulesEmbed.self, CapsulesSearch.self])
}

extension ClipShape {
    /// The manifest's clips of `splits` (all when nil), every one with caption text.
    func dataset(_ manifest: String, splits: (String) -> Bool = { _ in true }) throws -> ClipDataset {
        let clips = try ClipManifest(path: manifest).decode(self).filter { splits($0.split) }
        if let bare = clips.first(where: { $0.caption.isEmpty }) {
            throw ValidationError("\(manifest): clip '\(bare.id)' has no \"caption\" text (the capsule model embeds it)")
        }
        guard clips.count >= 2 else { throw ValidationError("\(manifest): \(clips.count) clips in the split asked for, at least 2 needed") }
        return try ClipDataset(clips, clip: self, batchSize: clips.count, seed: 0)
    }
}

/// Figures as `name value` lines, each recall beside its chance.
func printRetrieval(_ figures: [(name: String, value: Double)]) {
    let values = Dictionary(figures, uniquingKeysWith: { $1 })
    print("set size \(Int(values["set_size"] ?? 0)); chance R@1 \(format(values["chance_r1"])), R@5 \(format(values["chance_r5"])), R@10 \(format(values["chance_r10"]))")
    for direction in ["text_to_video", "video_to_text", "audio_to_video"] {
        let recalls = [1, 5, 10].map { "R@\($0) \(format(values["\(direction)_r\($0)"]))" }.joined(separator: ", ")
        print("\(direction.replacingOccurrences(of: "_to_", with: "->")): \(recalls), median rank \(format(values["\(direction)_median_rank"]))")
    }
}

private func format(_ value: Double?) -> String { String(format: "%.4f", value ?? .nan) }

struct CapsulesTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the capsule network on a clip manifest; report held-out text->video, video->text and audio->video retrieval.",
        discussion: """
            The manifest is the one `spoken-moments train` reads (JSONL: "id", "video", "audio", "caption", "split"), and every clip needs caption text. Each modality is embedded alone through the one capsule layer; the loss sums MMS (or --loss amm) over audio-video, audio-text and text-video. --noise 0.2 gives a fifth of the training clips another clip's caption (seeded). OUT gets checkpoint.safetensors (which eval, embed and search read), metrics.jsonl and TensorBoard events.

              sluice capsules train --manifest samples/shapes/manifest.jsonl --out out/capsules \\
                --routing self_attention --steps 200

            Trainer settings:
            \(TrainerSettings<CapsuleOptions>.help)
            """)

    @OptionGroup var common: ClipTrainingArguments
    @Option(help: ArgumentHelp(CaptionVocabulary.help, valueName: "file"), transform: localPath)
    var vocab = CaptionVocabulary.defaultPath

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Trainer settings (listed above).", valueName: "setting"))
    var settings: [String] = []

    func validate() throws {
        _ = try TrainerSettings<CapsuleOptions>.parse(settings)
        try CaptionVocabulary.check(vocab)
    }

    func run() throws {
        let options = try TrainerSettings<CapsuleOptions>.parse(settings)
        var pipeline = common.pipeline(.capsules, options, command: "capsules train", sink: vocab == CaptionVocabulary.defaultPath ? [] : [("vocab", vocab)],
                                       leavingOut: ["noise"])
        if options.noise > 0 {
            pipeline.mismatch = options.noise
            pipeline.command += " --noise \(options.noise)"
        }
        try common.train(pipeline, overwrite: options.loop.overwrite)
    }
}

/// The checkpoint and manifest options eval, embed and search share.
struct CapsuleCheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `capsules train`.", valueName: "file"), transform: localPath) var checkpoint: String
    @Option(help: ArgumentHelp("Clip manifest (JSONL).", valueName: "file"), transform: localPath) var manifest: String
    @Option(help: "Only clips of this split (all when absent).") var split: String?
    @Option(help: "Math threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func load() throws -> (model: CapsuleTraining, clips: ClipDataset) {
        ComputeThreads.configure(max(1, threads))
        let model = try CapsuleTraining(checkpoint: URL(fileURLWithPath: checkpoint))
        let clips = try ClipShape(metadata: model.metadata, file: checkpoint).dataset(manifest, splits: { split == nil || $0 == split })
        return (model, clips)
    }
}

struct CapsulesEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Text->video, video->text and audio->video retrieval of a checkpoint on a manifest's clips.")

    @OptionGroup var common: CapsuleCheckpointOptions

    func run() throws {
        let (model, clips) = try common.load()
        printRetrieval(try model.retrievalFigures(on: clips))
    }
}

struct CapsulesEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed a manifest's clips: OUT/video.npy, audio.npy and text.npy ([clips, embedding] float32) and ids.txt.")

    @OptionGroup var common: CapsuleCheckpointOptions
    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"), transform: localPath) var out: String

    func run() throws {
        let (model, clips) = try common.load()
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (modality, values) in try model.embeddings(of: clips) {
            try NPY.write(NDArray(shape: [clips.count, model.options.embedding], values: values),
                          to: directory.appendingPathComponent("\(modality.rawValue).npy"))
        }
        try Data((clips.ids.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("ids.txt"), options: .atomic)
        print("\(clips.count) clips embedded into \(out) (video.npy, audio.npy, text.npy, ids.txt)")
    }
}

struct CapsulesSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "The clips whose video best matches a text query (or a spoken one, --wav): top-k ids with scores.")

    @OptionGroup var common: CapsuleCheckpointOptions
    @Option(help: "A text query.") var query: String?
    @Option(help: ArgumentHelp("A spoken query (any audio file the decoder reads).", valueName: "file"), transform: localPath) var wav: String?
    @Option(help: "Clips to list.") var top = 5

    func validate() throws {
        guard (query == nil) != (wav == nil) else { throw ValidationError("give one of --query TEXT or --wav FILE") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let (model, clips) = try common.load()
        let videos = try model.embeddings(of: clips, [.video])[.video] ?? []
        var captions = [query ?? ""], mel = Tensor.zeros([1, clips.melBins, 1]), melLengths = [1]
        if let wav {
            let options = MelOptions()
            let spectrogram = try MelExtractor(options: options).compute(try AudioReader.load(path: wav, sampleRate: options.sampleRate))
            guard spectrogram.frames > 0, options.melBins == clips.melBins else { throw ValidationError("\(wav): shorter than one mel frame") }
            // [frames, melBins] -> [1, melBins, frames]
            mel = Tensor(shape: [1, spectrogram.frames, clips.melBins], scalars: spectrogram.values).transposed(1, 2)
            (captions, melLengths) = ([""], [spectrogram.frames])
        }
        let batch = ClipBatch(frames: Tensor.zeros([1] + clips.frameShape), mel: mel, melLengths: melLengths, captions: captions)
        let modality: Modality = wav == nil ? .text : .audio
        guard let embedded = try GradMode.withoutGradients({ try model.embed(batch, [modality], training: false) })[modality] else { return }
        let queryVector = embedded.scalars
        let scores = try RankingFigures.scores(queries: queryVector, candidates: videos, dimension: model.options.embedding)
        for index in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top) {
            print(String(format: "%@\t%.4f", clips.ids[index], scores[index]))
        }
    }
}
