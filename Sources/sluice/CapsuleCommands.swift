import ArgumentParser
import Foundation
import Pipelines
import Training

/// `sluice capsules train|eval|embed|search`.
struct CapsulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capsules",
        abstract: "Multimodal capsules: video, spoken caption and caption text in one space, routed by self-attention.",
        subcommands: [CapsulesTrain.self, RetrievalEval<CapsuleTraining>.self, RetrievalEmbed<CapsuleTraining>.self, RetrievalSearch<CapsuleTraining>.self])
}

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
