import ArgumentParser
import Foundation
import Media
import Models
import Tensor
import Training

/// `sluice spoken-moments train`.
struct SpokenMomentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spoken-moments",
        abstract: "Spoken Moments: video <-> spoken-caption retrieval with the Adaptive Mean Margin loss.",
        subcommands: [SpokenMomentsTrain.self])
}

struct SpokenMomentsTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train video and spoken-caption towers on a clip manifest; report held-out retrieval both ways.",
        discussion: """
            The manifest is JSONL, one clip per line: "id", "video", "audio" (the spoken caption; the video's own track when absent) and "split", paths relative to the manifest. Clips of --eval-split are held out and ranked every eval_every updates: R@1/5/10, median rank and mAP both ways, beside the set size and chance. A clip that cannot be used (a malformed line, a missing or undecodable file, no audio track, a caption shorter than one mel frame) is left out and written to OUT/quarantine.jsonl with the manifest file, line and reason. OUT gets checkpoint.safetensors, metrics.jsonl and TensorBoard events; --resume continues with the same losses.

              sluice spoken-moments train --manifest samples/shapes/manifest.jsonl \\
                --out out/spoken-moments

            Trainer settings:
            \(TrainerSettings<SpokenMomentsOptions>.help)
            """)

    @Option(help: ArgumentHelp("Clip manifest (JSONL).", valueName: "file")) var manifest: String
    @Option(help: ArgumentHelp("Output directory.", valueName: "dir")) var out: String
    @Flag(help: "Continue from OUT/checkpoint.safetensors.") var resume = false
    @Option(help: "Frames per clip, spread evenly over it.") var frames = 8
    @Option(help: "Frame width and height.") var size = 32
    @Option(help: "Longest spoken caption in seconds (the paper: a 10 s window).") var seconds = 10.0
    @Option(help: "Clips per batch (every other clip of the batch is a negative).") var batchSize = 16
    @Option(help: "The manifest split held out for evaluation.") var evalSplit = "test"
    @Option(help: "Math threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Trainer settings (listed above).", valueName: "setting"))
    var settings: [String] = []

    func validate() throws {
        _ = try TrainerSettings<SpokenMomentsOptions>.parse(settings)
        guard frames >= 1, frames <= 64, size >= 8, size <= 512, batchSize >= 2, seconds > 0, seconds <= 600 else {
            throw ValidationError("--frames 1...64, --size 8...512, --batch-size at least 2, --seconds up to 600")
        }
    }

    func run() throws {
        let options = try TrainerSettings<SpokenMomentsOptions>.parse(settings)
        ComputeThreads.configure(max(1, threads))
        let melOptions = MelOptions()
        let clips = try ClipManifest(path: manifest, quarantine: URL(fileURLWithPath: out).appendingPathComponent("quarantine.jsonl")).decode(frames: frames, size: size, seconds: seconds, mel: melOptions)
        let train = clips.filter { $0.split != evalSplit }, heldout = clips.filter { $0.split == evalSplit }
        let frameShape = [frames, 3, size, size]
        func dataset(_ clips: [DecodedClip], batchSize: Int) throws -> ClipDataset {
            try ClipDataset(frames: clips.map(\.frames), mels: clips.map(\.mel), ids: clips.map(\.id), captions: clips.map(\.caption), frameShape: frameShape,
                            melBins: melOptions.melBins, batchSize: batchSize, seed: options.loop.seed)
        }
        let data = try dataset(train, batchSize: min(batchSize, train.count))
        let evalSet = try heldout.count >= 2 ? dataset(heldout, batchSize: heldout.count) : nil
        let model = SpokenMomentsTraining(options: options, melBins: melOptions.melBins)
        printError("\(train.count) training clips, \(heldout.count) held out (\(evalSplit)); \(model.parameterCount) parameters")

        let trainer = Trainer(model: model, options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: URL(fileURLWithPath: out), name: "spoken-moments",
                                  unit: "examples", resume: resume)
        if resume { printError("resumed at update \(trainer.step) (batch \(trainer.dataPosition))") }
        if let evalSet { run.evaluate = { try retrievalFigures($0, on: evalSet) } }
        var index = 0
        while !run.isComplete {
            try run.feed(data.batch(index), waitingOn: "batch")
            index += 1
        }
        try run.finish()
    }
}

/// Held-out retrieval both ways, in embedding chunks, with chance beside each recall.
func retrievalFigures(_ model: SpokenMomentsTraining, on clips: ClipDataset) throws -> [(name: String, value: Double)] {
    var video: [Float] = [], audio: [Float] = []
    for start in stride(from: 0, to: clips.count, by: 64) {
        let (v, a) = model.embed(clips.batch(of: Array(start..<min(clips.count, start + 64))), training: false)
        video += v.scalars
        audio += a.scalars
    }
    let result = try PairedRetrieval(a: video, b: audio, dimension: model.options.embedding)
    var figures: [(name: String, value: Double)] = [("set_size", Double(result.setSize)), ("chance_r1", result.forward.chance(at: 1))]
    for (direction, f) in [("video_to_caption", result.forward), ("caption_to_video", result.backward)] {
        figures += [1, 5, 10].map { ("\(direction)_r\($0)", f.recall[$0] ?? 0) }
        figures += [("\(direction)_median_rank", f.medianRank), ("\(direction)_map", f.meanAveragePrecision)]
    }
    return figures
}
