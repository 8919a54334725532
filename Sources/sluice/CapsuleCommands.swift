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
    /// The manifest's clips of `splits` (all when nil), every one with caption text; with `cache`,
    /// decoded once into that file and read back from it by later runs of the same manifest and shape.
    func dataset(_ manifest: String, splits: (String) -> Bool = { _ in true }, batchSize: Int? = nil, seed: UInt64 = 0,
                 cache: String? = nil) throws -> ClipDataset {
        var mel = MelOptions()
        mel.melBins = melBins
        let clips = try decoded(manifest, mel: mel, cache: cache).filter { splits($0.split) }
        if let bare = clips.first(where: { $0.caption.isEmpty }) {
            throw ValidationError("\(manifest): clip '\(bare.id)' has no \"caption\" text (the capsule model embeds it)")
        }
        guard clips.count >= 2 else { throw ValidationError("\(manifest): \(clips.count) clips in the split asked for, at least 2 needed") }
        return try ClipDataset(frames: clips.map(\.frames), mels: clips.map(\.mel), ids: clips.map(\.id), captions: clips.map(\.caption),
                               frameShape: [frames, 3, size, size], melBins: mel.melBins, batchSize: min(batchSize ?? clips.count, clips.count),
                               seed: seed)
    }
}

extension ClipShape {
    /// Every decodable clip of the manifest, from `cache` when it holds this manifest at this shape.
    func decoded(_ manifest: String, mel: MelOptions, cache: String?) throws -> [DecodedClip] {
        let key = "\(URL(fileURLWithPath: manifest).standardizedFileURL.path) frames \(frames) size \(size) seconds \(seconds) mels \(mel.melBins)"
        if let cache, FileManager.default.fileExists(atPath: cache) {
            let (tensors, metadata) = try SafeTensors.read(URL(fileURLWithPath: cache))
            guard metadata["clips"] == key else { throw ValidationError("\(cache): holds '\(metadata["clips"] ?? "?")', not '\(key)'; remove it or give another --cache") }
            return try DecodedClip.unpack(tensors, metadata, perClip: frames * 3 * size * size, melBins: mel.melBins, source: cache)
        }
        let clips = try ClipManifest(path: manifest).decode(self)
        if let cache {
            let (tensors, metadata) = try DecodedClip.pack(clips, melBins: mel.melBins)
            try SafeTensors.write(tensors, metadata: metadata.merging(["clips": key]) { $1 }, to: URL(fileURLWithPath: cache))
        }
        return clips
    }
}

extension DecodedClip {
    /// Clips as two tensors (frames, mel frames end to end) and their ids, splits, captions and
    /// caption lengths as JSON in the metadata.
    static func pack(_ clips: [DecodedClip], melBins: Int) throws -> ([(name: String, tensor: Tensor)], [String: String]) {
        func json(_ value: Any) throws -> String { String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self) }
        let mels = clips.flatMap(\.mel)
        return ([("frames", Tensor(shape: [clips.count, clips.first?.frames.count ?? 0], scalars: clips.flatMap(\.frames))),
                 ("mel", Tensor(shape: [mels.count / melBins, melBins], scalars: mels))],
                ["ids": try json(clips.map(\.id)), "splits": try json(clips.map(\.split)), "captions": try json(clips.map(\.caption)),
                 "mel_frames": try json(clips.map { $0.mel.count / melBins })])
    }

    static func unpack(_ tensors: [String: Tensor], _ metadata: [String: String], perClip: Int, melBins: Int, source: String) throws -> [DecodedClip] {
        func strings(_ key: String) -> [String]? { metadata[key].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] } }
        let lengths = metadata["mel_frames"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Int] }
        guard let ids = strings("ids"), let splits = strings("splits"), let captions = strings("captions"), let lengths,
              let frames = tensors["frames"], let mel = tensors["mel"], splits.count == ids.count, captions.count == ids.count,
              lengths.count == ids.count, lengths.allSatisfy({ $0 > 0 }), frames.shape == [ids.count, perClip],
              mel.shape == [lengths.reduce(0, +), melBins] else {
            throw ValidationError("\(source): not a clip cache of this shape (tensors frames [clips, \(perClip)], mel [frames, \(melBins)] and their metadata)")
        }
        let (pixels, values) = (frames.scalars, mel.scalars)
        var start = 0
        return ids.indices.map { i in
            defer { start += lengths[i] * melBins }
            return DecodedClip(id: ids[i], split: splits[i], caption: captions[i], fields: [:], frames: Array(pixels[i * perClip..<(i + 1) * perClip]),
                               mel: Array(values[start..<start + lengths[i] * melBins]))
        }
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
    @Option(help: ArgumentHelp(CaptionVocabulary.help, valueName: "file"))
    var vocab = CaptionVocabulary.defaultPath
    @Option(help: ArgumentHelp("Keep the decoded clips in this file, and read them from it when it holds this manifest at this shape.",
                               valueName: "file")) var cache: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Trainer settings (listed above).", valueName: "setting"))
    var settings: [String] = []

    func validate() throws {
        _ = try TrainerSettings<CapsuleOptions>.parse(settings)
        try CaptionVocabulary.check(vocab)
    }

    func run() throws {
        let options = try TrainerSettings<CapsuleOptions>.parse(settings)
        ComputeThreads.configure(max(1, common.threads))
        try common.claimOut(overwrite: options.loop.overwrite)
        let (shape, manifest, evalSplit) = (common.clip, common.manifest, common.evalSplit)
        let vocabURL = URL(fileURLWithPath: vocab)
        let tokenizer = try BertTokenizer(contentsOf: vocabURL)
        let clean = try shape.dataset(manifest, splits: { $0 != evalSplit }, batchSize: common.batchSize, seed: options.loop.seed, cache: cache)
        let data = try clean.mismatchingCaptions(share: options.noise, seed: options.loop.seed)
        let heldout = try? shape.dataset(manifest, splits: { $0 == evalSplit }, cache: cache)
        var model = CapsuleTraining(options: options, melBins: data.melBins, tokenizer: tokenizer)
        model.metadata = shape.metadata.merging(["vocab": vocabURL.standardizedFileURL.path]) { $1 }
        printError("\(data.count) training clips (\(Int((options.noise * Float(data.count)).rounded())) given another's caption), "
                   + "\(heldout?.count ?? 0) held out (\(evalSplit)); \(options.routing.rawValue) routing, \(model.parameterCount) parameters")

        let trainer = Trainer(model: model, options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: URL(fileURLWithPath: common.out), name: "capsules", unit: "examples",
                                  resume: common.resume)
        if common.resume { printError("resumed at update \(trainer.step) (batch \(trainer.dataPosition))") }
        if let heldout { run.evaluate = { try $0.retrievalFigures(on: heldout) } }
        var index = 0
        while !run.isComplete {
            try run.feed(data.batch(index), waitingOn: "batch")
            index += 1
        }
        try run.finish()
        if let heldout { printRetrieval(try trainer.model.retrievalFigures(on: heldout)) }
    }
}

/// The checkpoint and manifest options eval, embed and search share.
struct CapsuleCheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `capsules train`.", valueName: "file")) var checkpoint: String
    @Option(help: ArgumentHelp("Clip manifest (JSONL).", valueName: "file")) var manifest: String
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
    @Option(help: ArgumentHelp("Output directory.", valueName: "dir")) var out: String

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
    @Option(help: ArgumentHelp("A spoken query (any audio file the decoder reads).", valueName: "file")) var wav: String?
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
