import ArgumentParser
import Foundation
import Models
import PipelineCore
import Pipelines
import SystemErrors
import Tensor
import Training

/// A clip trainer's model as its commands name it: `sluice COMMAND eval|embed|search` are the same
/// three commands for every `RetrievalModel`.
protocol RetrievalCommandModel: RetrievalModel {
    /// `spoken-moments`, `capsules`.
    static var command: String { get }
}

extension SpokenMomentsTraining: RetrievalCommandModel { static var command: String { "spoken-moments" } }
extension CapsuleTraining: RetrievalCommandModel { static var command: String { "capsules" } }

/// The clips a trained model is applied to: its checkpoint and a manifest, decoded the way training decoded them.
struct CheckpointClips<Model: RetrievalCommandModel>: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `train` (OUT/checkpoint.safetensors).", valueName: "file"), transform: localPath)
    var checkpoint: String
    @Option(help: ArgumentHelp("Clip manifest (JSONL or CSV).", valueName: "file"), transform: localPath) var manifest: String
    @Option(help: "Only the clips of this split ('' for all of them).") var split = "test"
    @OptionGroup var threads: ThreadsOption

    /// The model and the manifest's clips of `split`.
    func load() throws -> (model: Model, clips: [DecodedClip], data: ClipDataset) {
        threads.configure()
        let model = try Model(checkpoint: URL(fileURLWithPath: checkpoint))
        let clips = try ClipManifest(path: manifest).decode(model.clip, split: split.isEmpty ? nil : split)
        guard clips.count >= 2 else {
            throw InputError(.tooSmall, path: manifest, "\(clips.count) clip\(clips.count == 1 ? "" : "s") of split '\(split)'; at least 2 are needed")
        }
        return (model, clips, try ClipDataset(clips, clip: model.clip, batchSize: 2, seed: 0))
    }
}

struct RetrievalEval<Model: RetrievalCommandModel>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "eval",
            abstract: "Rank a manifest's held-out clips in every direction with a trained model: R@1/5/10, median rank and mAP beside chance.",
            discussion: """
                Sets larger than --subset-size are ranked as --subsets random subsets of that size and averaged (the Spoken Moments paper: five of 1,000). Ties count against the match. Directions through the caption text are left out when a clip has none. --label names a manifest field (say direction) whose agreement at rank 1 is reported too, over the whole set: whether the model tells those apart even where it misses the exact clip.

                  sluice \(Model.command) eval --checkpoint out/\(Model.command)/checkpoint.safetensors \\
                    --manifest samples/shapes/manifest.jsonl --label direction
                """)
    }

    @OptionGroup var input: CheckpointClips<Model>
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
            let labels = clips.map { $0.fields[field] ?? "" }
            let with = labels.filter { !$0.isEmpty }.count
            guard with > 0 else { throw InputError(.empty, path: input.manifest, "no clip has a text field '\(field)'") }
            for (name, agreement) in try retrieval.labelAgreement(labels) {
                print("\(field) at rank 1, \(name.replacingOccurrences(of: "_to_", with: " -> ")): \(HeldOutRetrieval.percent(agreement.atRank1)) "
                      + "(chance \(HeldOutRetrieval.percent(agreement.chance)))"
                      + (with < clips.count ? ", \(with) clips with the field (\(clips.count - with) without it left out)" : ""))
            }
        }
    }
}

struct RetrievalEmbed<Model: RetrievalCommandModel>: ParsableCommand {
    static var configuration: CommandConfiguration {
        let files = Modality.allCases.map { Model.name(of: $0) + ".npy" }.joined(separator: ", ")
        return CommandConfiguration(
            commandName: "embed",
            abstract: "Embed a manifest's clips, one .npy per modality the model has (\(files)) and ids.txt: the index `search` reads.",
            discussion: """
                Writes a new directory OUT (refused when it exists): float32 [clips, embedding] arrays, row i being line i of ids.txt, one per tower of the checkpoint (the caption text only where the model has a text tower; every clip then needs "caption" text), built in OUT.partial and renamed when complete, so an index is never a mix of two runs.

                  sluice \(Model.command) embed --checkpoint out/\(Model.command)/checkpoint.safetensors \\
                    --manifest samples/shapes/manifest.jsonl --split '' --out out/\(Model.command)-index
                """)
    }

    @OptionGroup var input: CheckpointClips<Model>
    @Option(help: ArgumentHelp("Directory for the index (new).", valueName: "dir"), transform: localPath) var out: String

    func run() throws {
        let directory = URL(fileURLWithPath: out), partial = URL(fileURLWithPath: out + ".partial")
        for path in [directory, partial] where FileManager.default.fileExists(atPath: path.path) {
            throw FileSystemError(.writeFailed, path: path.path, "exists; give --out a new directory (nothing was written)")
        }
        let (model, clips, data) = try input.load()
        if let bad = clips.first(where: { $0.id.isEmpty || $0.id.contains(where: \.isNewline) }) {
            throw InputError(.invalidRecord, path: input.manifest, "clip id \(String(reflecting: bad.id)) cannot be a line of ids.txt (empty or with a line break)")
        }
        if model.modalities.contains(.text), let bare = clips.first(where: { $0.caption.isEmpty }) {
            throw InputError(.invalidRecord, path: input.manifest, "clip '\(bare.id)' has no \"caption\" text; the checkpoint's text tower embeds every clip's (nothing was written)")
        }
        let embeddings = try model.embeddings(of: data)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        for modality in model.modalities {
            try NPY.write(NDArray(shape: [clips.count, model.retrieval.embedding], values: embeddings[modality] ?? []),
                          to: partial.appendingPathComponent(Model.name(of: modality) + ".npy"))
        }
        try Data(clips.map { $0.id + "\n" }.joined().utf8).write(to: partial.appendingPathComponent("ids.txt"))
        guard rename(partial.path, directory.path) == 0 else {
            throw FileSystemError(.writeFailed, path: partial.path, "cannot rename to \(out): \(SystemErrorText.words(errno: errno)); the index is complete there")
        }
        let files = model.modalities.map { Model.name(of: $0) + ".npy" }.joined(separator: ", ")
        printError("\(clips.count) clips embedded into \(out): \(files), ids.txt (\(model.retrieval.embedding) dimensions)")
    }
}

struct RetrievalSearch<Model: RetrievalCommandModel>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "search",
            abstract: "Find the clips a spoken (--audio) or written (--text) query describes, or the spoken captions that describe a video (--video), in an index from `embed`.",
            discussion: """
                --text needs a checkpoint with a caption text tower.

                  sluice \(Model.command) search --checkpoint out/\(Model.command)/checkpoint.safetensors \\
                    --index out/\(Model.command)-index --audio samples/shapes/audio/shapes-00000.wav --top 5
                  sluice \(Model.command) search --checkpoint out/\(Model.command)/checkpoint.safetensors \\
                    --index out/\(Model.command)-index --text "a red circle moving left"
                """)
    }

    @Option(help: ArgumentHelp("The checkpoint the index was embedded with.", valueName: "file"), transform: localPath) var checkpoint: String
    @Option(help: ArgumentHelp("A directory written by `embed`.", valueName: "dir"), transform: localPath) var index: String
    @Option(help: ArgumentHelp("A spoken query (any audio file, or a video's track): ranks the index's clips.", valueName: "file"), transform: localPath)
    var audio: String?
    @Option(help: ArgumentHelp("A video query: ranks the index's spoken captions.", valueName: "file"), transform: localPath) var video: String?
    @Option(help: ArgumentHelp("A written query (with a caption text tower): ranks the index's clips.", valueName: "words")) var text: String?
    @Option(help: "Results to print.") var top = 10
    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        guard [audio, video, text].compactMap({ $0 }).count == 1 else { throw ValidationError("give one query: --audio, --video or --text") }
        guard top >= 1 else { throw ValidationError("--top at least 1") }
    }

    func run() throws {
        threads.configure()
        let model = try Model(checkpoint: URL(fileURLWithPath: checkpoint))
        let query: Modality = text != nil ? .text : audio != nil ? .audio : .video
        guard model.modalities.contains(query) else {
            let missing = query == .text ? "the caption text branch" : "a \(query.rawValue) tower"
            throw TrainingError(.checkpoint, checkpoint, "trained without \(missing), so it cannot embed a --\(query.rawValue) query")
        }
        let candidates: Modality = query == .video ? .audio : .video
        let directory = URL(fileURLWithPath: index)
        let ids = try String(contentsOf: directory.appendingPathComponent("ids.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        let file = directory.appendingPathComponent(Model.name(of: candidates) + ".npy")
        let index = try NPY.decode(Array(try Data(contentsOf: file)), file: file.path)
        let dimension = model.retrieval.embedding
        guard index.dtype == .float32, index.shape == [ids.count, dimension] else {
            throw InputError(.mismatch, path: file.path, "shape \(index.shape) of \(index.dtype); this checkpoint needs float32 [\(ids.count), \(dimension)] (one row per line of ids.txt)")
        }
        let vector = try GradMode.withoutGradients { try model.embed(try queryBatch(model.clip), [query], training: false)[query]!.scalars }
        let scores = try RankingFigures.scores(queries: vector, candidates: index.values(as: Float.self), dimension: dimension)
        for (rank, i) in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top).enumerated() {
            print("\(rank + 1)\t\(ids[i])\t\(String(format: "%.4f", scores[i]))")
        }
    }

    /// A batch of one clip holding the query, decoded as training decoded clips; the other
    /// modalities' fields are minimal placeholders the model does not read.
    private func queryBatch(_ clip: ClipShape) throws -> ClipBatch {
        let decoder = try ClipDecoder(clip)
        var (mel, lengths) = (Tensor.zeros([1, clip.melBins, 1]), [1])
        if let audio { (mel, lengths) = ClipDataset.padded([try decoder.mel(of: audio)], melBins: clip.melBins) }
        let frames = try video.map { Tensor(shape: [1] + clip.frameShape, scalars: try decoder.frames(of: $0)) } ?? Tensor.zeros([1, 1, 3, 1, 1])
        return ClipBatch(frames: frames, mel: mel, melLengths: lengths, captions: [text ?? ""])
    }
}
