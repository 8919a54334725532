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
        subcommands: [SpokenMomentsTrain.self, RetrievalEval<SpokenMomentsTraining>.self, RetrievalEmbed<SpokenMomentsTraining>.self,
                      RetrievalSearch<SpokenMomentsTraining>.self])
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
