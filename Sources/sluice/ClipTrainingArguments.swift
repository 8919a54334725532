import ArgumentParser
import Foundation
import PipelineCore
import Pipelines
import Settings
import Tensor
import Training

extension CaptionVocabulary {
    static let help = "BERT WordPiece vocab.txt of the caption text; the default is relative to the current directory "
        + "(a clone's top directory): elsewhere pass --vocab PATH."

    /// Refuses `--vocab`'s default when it is not there, before any clip is decoded.
    static func check(_ path: String) throws {
        if let reason = missingDefault(path, option: "--vocab") { throw ValidationError(reason) }
    }
}

/// What `spoken-moments train` and `capsules train` both take: the clips, where the run goes,
/// and how clips are decoded and batched. Both run `ClipTrainingPipeline`, the pipeline
/// `--print-pipeline` shows.
struct ClipTrainingArguments: ParsableArguments {
    /// The pipeline's own defaults, which the options below start from.
    private static let standard = ClipTrainingPipeline(trainer: .spokenMoments, manifest: "", out: "")

    @Option(help: ArgumentHelp("Clip manifest (JSONL).", valueName: "file"), transform: localPath) var manifest: String
    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"), transform: localPath) var out: String
    @Flag(help: "Continue from OUT/checkpoint.safetensors.") var resume = false
    @Option(help: "Frames per clip, spread evenly over it.") var frames = ClipShape().frames
    @Option(help: "Frame width and height.") var size = ClipShape().size
    @Option(help: "Longest spoken caption in seconds (the paper: a 10 s window).") var seconds = ClipShape().seconds
    @Option(help: "Clips per batch (every other clip of the batch is a negative).") var batchSize = Self.standard.batchSize
    @Option(help: "The manifest split held out for evaluation.") var evalSplit = Self.standard.evalSplit
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "New random views of every clip each epoch: crops, frame offsets, speed, gain, noise, SpecAugment masks.")
    var augment = false
    @Flag(help: "Print the pipeline this command runs (a file `sluice run` takes) and stop.") var printPipeline = false

    /// Refuses an OUT holding another run before the clips are decoded (and the quarantine list
    /// written into OUT), not minutes later when the run opens.
    func claimOut(overwrite: Bool) throws {
        try RunDirectory.claim(URL(fileURLWithPath: out), resume: resume, overwrite: overwrite)
    }

    /// The clip shape's flags are checked by its own settings (the ranges its checkpoints take).
    func validate() throws {
        guard batchSize >= 2 else { throw ValidationError("--batch-size at least 2 (every other clip of the batch is a negative)") }
        var shape = ClipShape()
        do throws(SettingError) {
            try shape.apply([("--frames", String(frames)), ("--size", String(size)), ("--seconds", String(seconds))])
        } catch {
            throw ValidationError(error.description)
        }
    }

    var clip: ClipShape { ClipShape(frames: frames, size: size, seconds: seconds, melBins: ClipShape().melBins) }

    /// The pipeline this command runs: `trainer` with the settings that differ from `Options()`.
    func pipeline<Options: SettingsDescribed>(_ trainer: ClipTrainingPipeline.Trainer, _ options: Options, command: String,
                                              sink: [(name: String, value: String)] = [], leavingOut: Set<String> = []) -> ClipTrainingPipeline {
        var pipeline = ClipTrainingPipeline(trainer: trainer, manifest: manifest, out: out)
        (pipeline.clip, pipeline.batchSize, pipeline.evalSplit, pipeline.augment, pipeline.resume) = (clip, batchSize, evalSplit, augment, resume)
        pipeline.ranksHeldOut = manifestHasRows(of: evalSplit)
        let defaults = Options()
        let changed = Options.settings.filter { !leavingOut.contains($0.name) && $0.read(options) != $0.read(defaults) }
        pipeline.settings = sink + changed.compactMap { setting in setting.read(options).map { (setting.name, $0) } }
        pipeline.seed = Options.settings.first { $0.name == "seed" }?.read(options).flatMap { Int($0) } ?? 0
        var words = ["sluice"] + command.split(separator: " ").map(String.init) + ["--manifest", manifest, "--out", out]
        let standard = Self.standard
        for (flag, value, usual) in [("--frames", frames, standard.clip.frames), ("--size", size, standard.clip.size),
                                     ("--batch-size", batchSize, standard.batchSize)]
        where value != usual { words += [flag, String(value)] }
        if seconds != standard.clip.seconds { words += ["--seconds", String(seconds)] }
        if evalSplit != standard.evalSplit { words += ["--eval-split", evalSplit] }
        if augment { words.append("--augment") }
        if resume { words.append("--resume") }
        words += sink.flatMap { ["--" + $0.name.replacingOccurrences(of: "_", with: "-"), $0.value] }
        words += changed.flatMap { setting in setting.read(options).map { [setting.flag, $0] } ?? [] }
        pipeline.command = words.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        return pipeline
    }

    /// Whether the manifest has rows of `split` (an unreadable one is the pipeline's to report).
    /// Without them training goes on unranked, as it says.
    func manifestHasRows(of split: String) -> Bool {
        let rows = ManifestRows(file: URL(fileURLWithPath: manifest)).makeIterator()
        guard rows.failure == nil else { return true }
        let found = IteratorSequence(rows).contains { $0.fields["split"]?.string == split }
        if !found, !printPipeline { printError("\(manifest): no clips of split '\(split)'; training without held-out ranking") }
        return found
    }

    /// Prints the pipeline (`--print-pipeline`) or runs it here, as `sluice run` would run its file.
    func train(_ pipeline: ClipTrainingPipeline, overwrite: Bool) throws {
        if printPipeline { return print(pipeline.yaml, terminator: "") }
        threads.configure()
        try claimOut(overwrite: overwrite)
        let plan = try PipelineFile().plan(yaml: pipeline.yaml, file: "\(pipeline.trainer) pipeline")
        try plan.runInProcess(quiet: false)
    }
}
