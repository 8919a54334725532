import ArgumentParser
import Foundation
import PipelineCore
import Pipelines
import Tensor
import Training

/// `sluice spoken-moments train|eval|embed|search`.
struct SpokenMomentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spoken-moments",
        abstract: "Spoken Moments: video <-> spoken-caption (and, optionally, caption text) retrieval (MMS, or the paper's Adaptive Mean Margin loss, or NCE).",
        subcommands: [SpokenMomentsTrain.self, SpokenMomentsEval.self, SpokenMomentsEmbed.self, SpokenMomentsSearch.self])
}

struct SpokenMomentsTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train video and spoken-caption towers on a clip manifest; report held-out retrieval both ways.",
        discussion: """
            The manifest is JSONL, one clip per line: "id", "video", "audio" (the spoken caption; the video's own track when absent), "caption" (text, needed with --text-branch) and "split", paths relative to the manifest. Training clips are decoded again every epoch as they stream in (memory stays bounded for any manifest; --augment draws new views of each), through the pipeline --print-pipeline prints. --text-branch adds a caption text tower (WordPiece ids of --vocab, embedding, linear, max over tokens, its own GLU head) and the video<->text and audio<->text terms of the same loss; eval, embed and search then take text too. Clips of --eval-split are held out and ranked every eval_every updates: R@1/5/10, median rank and mAP both ways, beside the set size and chance. A clip that cannot be used (a malformed line, a missing or undecodable file, no audio track, a caption shorter than one mel frame) is left out and written to OUT/quarantine.jsonl (held-out ones to OUT/heldout-quarantine.jsonl) with the manifest file, line and reason. OUT gets checkpoint.safetensors (which `eval`, `embed` and `search` load), metrics.jsonl and TensorBoard events; --resume continues with the same losses.

              sluice spoken-moments train --manifest samples/shapes/manifest.jsonl \\
                --out out/spoken-moments

            Trainer settings:
            \(TrainerSettings<SpokenMomentsOptions>.help)
            """)

    @OptionGroup var common: ClipTrainingArguments
    @Option(help: ArgumentHelp("With --backbone resnet*: torchvision weights converted to safetensors (README, \"Encoders\").", valueName: "file"), transform: localPath)
    var backboneWeights: String?
    @Option(help: ArgumentHelp("With --text-branch (its path is kept in the checkpoint): " + CaptionVocabulary.help, valueName: "file"), transform: localPath)
    var vocab = CaptionVocabulary.defaultPath

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Trainer settings (listed above).", valueName: "setting"))
    var settings: [String] = []

    func validate() throws {
        let options = try TrainerSettings<SpokenMomentsOptions>.parse(settings)
        if options.backbone != .frameCNN, backboneWeights == nil, !common.resume {
            throw ValidationError("--backbone \(options.backbone.rawValue) needs --backbone-weights: a frozen random backbone learns nothing")
        }
        if options.textBranch { try CaptionVocabulary.check(vocab) }
    }

    func run() throws {
        let options = try TrainerSettings<SpokenMomentsOptions>.parse(settings)
        var sink: [(name: String, value: String)] = backboneWeights.map { [("backbone_weights", $0)] } ?? []
        if options.textBranch, vocab != CaptionVocabulary.defaultPath { sink.append(("vocab", vocab)) }
        try common.train(common.pipeline(.spokenMoments, options, command: "spoken-moments train", sink: sink), overwrite: options.loop.overwrite)
    }
}

/// The clips a trained model is applied to: its checkpoint and a manifest, decoded the way training decoded them.
struct CheckpointClips: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `spoken-moments train` (OUT/checkpoint.safetensors).", valueName: "file"), transform: localPath)
    var checkpoint: String
    @Option(help: ArgumentHelp("Clip manifest (JSONL).", valueName: "file"), transform: localPath) var manifest: String
    @Option(help: "Only the clips of this split ('' for all of them).") var split = "test"
    @Option(help: "Math threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    /// The model and the manifest's clips of `split`.
    func load() throws -> (model: SpokenMomentsTraining, clips: [DecodedClip], data: ClipDataset) {
        ComputeThreads.configure(max(1, threads))
        let model = try SpokenMomentsTraining(checkpoint: URL(fileURLWithPath: checkpoint))
        let clips = try ClipManifest(path: manifest).decode(model.clip, split: split.isEmpty ? nil : split)
        guard clips.count >= 2 else { throw ValidationError("\(manifest): \(clips.count) clip of split '\(split)'; at least 2 are needed") }
        return (model, clips, try ClipDataset(clips, clip: model.clip, batchSize: 2, seed: 0))
    }
}

struct SpokenMomentsEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Rank a manifest's held-out clips both ways with a trained model: R@1/5/10, median rank and mAP beside chance.",
        discussion: """
            Sets larger than --subset-size are ranked as --subsets random subsets of that size and averaged (the paper: five of 1,000). Ties count against the match. --label names a manifest field (say direction) whose agreement at rank 1 is reported too, over the whole set: whether the model tells those apart even where it misses the exact clip.

              sluice spoken-moments eval --checkpoint out/spoken-moments/checkpoint.safetensors \\
                --manifest samples/shapes/manifest.jsonl --label direction
            """)

    @OptionGroup var input: CheckpointClips
    @Option(help: "Pairs per ranked subset.") var subsetSize = 1000
    @Option(help: "Subsets averaged when the set is larger than --subset-size.") var subsets = 5
    @Option(help: ArgumentHelp("A manifest field whose agreement at rank 1 is reported (repeatable).", valueName: "field"))
    var label: [String] = []

    func validate() throws {
        guard subsetSize >= 2, subsets >= 1, subsets <= 100 else { throw ValidationError("--subset-size at least 2, --subsets 1...100") }
    }

    func run() throws {
        let (model, clips, data) = try input.load()
        let retrieval = try HeldOutRetrieval(model: model, clips: data, subsetSize: subsetSize, subsets: subsets)
        print(retrieval.report)
        for field in label {
            // Only clips that have the field are ranked for it: a missing one is no label to agree on.
            let rows = clips.indices.filter { !(clips[$0].fields[field] ?? "").isEmpty }
            guard !rows.isEmpty else { throw ValidationError("\(input.manifest): no clip has a text field '\(field)'") }
            let labels = rows.map { clips[$0].fields[field]! }
            let dimension = model.options.embedding
            func rowsOf(_ x: [Float]) -> [Float] { rows.flatMap { x[$0 * dimension..<($0 + 1) * dimension] } }
            let left = clips.count - rows.count
            for (name, a, b) in [("video -> caption", retrieval.video, retrieval.audio), ("caption -> video", retrieval.audio, retrieval.video)] {
                let agreement = try LabelAgreement(queries: rowsOf(a), candidates: rowsOf(b), dimension: dimension,
                                                   queryLabels: labels, candidateLabels: labels)
                print("\(field) at rank 1, \(name): \(HeldOutRetrieval.percent(agreement.atRank1)) (chance \(HeldOutRetrieval.percent(agreement.chance)))"
                      + (left > 0 ? ", \(rows.count) clips with the field (\(left) without it left out)" : ""))
            }
        }
    }
}

struct SpokenMomentsEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed a manifest's clips, spoken captions and (with the text branch) caption texts into .npy files: the index `search` reads.",
        discussion: """
            Writes a new directory OUT (refused when it exists): video.npy and caption.npy (float32 [clips, embedding], row i is line i of ids.txt), text.npy too when the checkpoint has the caption text branch (every clip then needs "caption" text), and ids.txt, built in OUT.partial and renamed when complete, so an index is never a mix of two runs.

              sluice spoken-moments embed --checkpoint out/spoken-moments/checkpoint.safetensors \\
                --manifest samples/shapes/manifest.jsonl --split '' --out out/shapes-index
            """)

    @OptionGroup var input: CheckpointClips
    @Option(help: ArgumentHelp("Directory for video.npy, caption.npy and ids.txt.", valueName: "dir"), transform: localPath) var out: String

    func run() throws {
        let directory = URL(fileURLWithPath: out), partial = URL(fileURLWithPath: out + ".partial")
        for path in [directory, partial] where FileManager.default.fileExists(atPath: path.path) {
            throw ValidationError("\(path.path) exists; give --out a new directory (nothing was written)")
        }
        let (model, clips, data) = try input.load()
        if let bad = clips.first(where: { $0.id.isEmpty || $0.id.contains(where: \.isNewline) }) {
            throw ValidationError("\(input.manifest): clip id \(String(reflecting: bad.id)) cannot be a line of ids.txt (empty or with a line break)")
        }
        if model.text != nil, let bare = clips.first(where: { $0.caption.isEmpty }) {
            throw ValidationError("\(input.manifest): clip '\(bare.id)' has no \"caption\" text; the checkpoint's text branch embeds every clip's (nothing was written)")
        }
        let (video, audio) = model.embed(data)
        let text = model.text != nil ? try model.embedTexts(data) : nil
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        let shape = [clips.count, model.options.embedding]
        try NPY.write(NDArray(shape: shape, values: video), to: partial.appendingPathComponent("video.npy"))
        try NPY.write(NDArray(shape: shape, values: audio), to: partial.appendingPathComponent("caption.npy"))
        if let text { try NPY.write(NDArray(shape: shape, values: text), to: partial.appendingPathComponent("text.npy")) }
        try Data(clips.map { $0.id + "\n" }.joined().utf8).write(to: partial.appendingPathComponent("ids.txt"))
        guard rename(partial.path, directory.path) == 0 else {
            throw ValidationError("\(partial.path): cannot rename to \(out) (\(String(cString: strerror(errno)))); the index is complete there")
        }
        printError("\(clips.count) clips\(text == nil ? "" : " and caption texts") embedded into \(out) (\(model.options.embedding) dimensions)")
    }
}

struct SpokenMomentsSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the clips a spoken (--audio) or written (--text) query describes, or the spoken captions that describe a video (--video), in an index from `embed`.",
        discussion: """
            --text needs a checkpoint trained with --text-branch.

              sluice spoken-moments search --checkpoint out/spoken-moments/checkpoint.safetensors \\
                --index out/shapes-index --audio samples/shapes/audio/shapes-00000.wav --top 5
              sluice spoken-moments search --checkpoint out/spoken-moments/checkpoint.safetensors \\
                --index out/shapes-index --text "a red circle moving left"
            """)

    @Option(help: ArgumentHelp("The checkpoint the index was embedded with.", valueName: "file"), transform: localPath) var checkpoint: String
    @Option(help: ArgumentHelp("A directory written by `embed`.", valueName: "dir"), transform: localPath) var index: String
    @Option(help: ArgumentHelp("A spoken query (any audio file, or a video's track): ranks the index's clips.", valueName: "file"), transform: localPath)
    var audio: String?
    @Option(help: ArgumentHelp("A video query: ranks the index's spoken captions.", valueName: "file"), transform: localPath) var video: String?
    @Option(help: ArgumentHelp("A written query (with a checkpoint's text branch): ranks the index's clips.", valueName: "words")) var text: String?
    @Option(help: "Results to print.") var top = 10

    func validate() throws {
        guard [audio, video, text].compactMap({ $0 }).count == 1 else { throw ValidationError("give one query: --audio, --video or --text") }
        guard top >= 1 else { throw ValidationError("--top at least 1") }
    }

    func run() throws {
        let model = try SpokenMomentsTraining(checkpoint: URL(fileURLWithPath: checkpoint))
        if text != nil, model.text == nil {
            throw ValidationError("\(checkpoint): trained without the caption text branch, so it cannot embed a --text query (train with --text-branch, or query with --audio)")
        }
        let decoder = try ClipDecoder(model.clip)
        let directory = URL(fileURLWithPath: index)
        let ids = try String(contentsOf: directory.appendingPathComponent("ids.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        let file = directory.appendingPathComponent(video == nil ? "video.npy" : "caption.npy")
        let candidates = try NPY.decode(Array(try Data(contentsOf: file)), file: file.path)
        let dimension = model.options.embedding
        guard candidates.dtype == .float32, candidates.shape == [ids.count, dimension] else {
            throw ValidationError("\(file.path): shape \(candidates.shape) of \(candidates.dtype); this checkpoint needs float32 [\(ids.count), \(dimension)] (one row per line of ids.txt)")
        }
        let query = try GradMode.withoutGradients {
            if let text { return try model.embedText([text]).scalars }
            if let audio {
                let (mel, lengths) = ClipDataset.padded([try decoder.mel(of: audio)], melBins: model.clip.melBins)
                return model.embedCaptions(mel, lengths: lengths, training: false).scalars
            }
            let frames = Tensor(shape: [1] + model.clip.frameShape, scalars: try decoder.frames(of: video!))
            return model.embedVideo(frames, training: false).scalars
        }
        let scores = try RankingFigures.scores(queries: query, candidates: candidates.values(as: Float.self), dimension: dimension)
        for (rank, i) in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top).enumerated() {
            print("\(rank + 1)\t\(ids[i])\t\(String(format: "%.4f", scores[i]))")
        }
    }
}

