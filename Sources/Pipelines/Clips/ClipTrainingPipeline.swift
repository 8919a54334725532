import Foundation
import Media
import Training

/// The pipeline `sluice spoken-moments train` and `sluice capsules train` run, as the file
/// `sluice run` takes (`--print-pipeline` prints it; pipelines/*-onthefly.yaml are such prints,
/// kept equal by a test): the manifest's training rows decoded again every epoch in a new seeded
/// order, with new random views when augmented, batched and streamed into the trainer sink, which
/// ranks the held-out split as it trains. Nothing is held but the queues and the held-out clips,
/// so memory stays bounded whatever the manifest's size.
public struct ClipTrainingPipeline: Sendable {
    public enum Trainer: String, Sendable {
        case spokenMoments = "spoken_moments_train"
        case capsules = "capsules_train"

        var name: String { self == .spokenMoments ? "spoken-moments" : "capsules" }
    }

    public var trainer: Trainer
    public var manifest: String
    public var out: String
    public var clip = ClipShape()
    public var batchSize = 16
    /// The split the sink ranks, when `ranksHeldOut`.
    public var evalSplit = "test"
    public var ranksHeldOut = true
    public var augment = false
    public var resume = false
    /// The share of training rows given another row's caption (the capsule paper's noise).
    public var mismatch: Float = 0
    public var seed = 0
    /// Trainer settings that differ from the defaults, by name (`steps`, `lr`), as the sink takes them.
    public var settings: [(name: String, value: String)] = []
    /// The command line that made it, recorded at the top of the file.
    public var command = ""

    public init(trainer: Trainer, manifest: String, out: String) {
        (self.trainer, self.manifest, self.out) = (trainer, manifest, out)
    }

    public var yaml: String {
        var lines = [
            "# What `\(command)` runs;",
            "# `sluice run` runs this file the same way. Each epoch reads the manifest's training rows in a new",
            "# seeded order and decodes them again (\(clip.frames) frames of \(clip.size)x\(clip.size) and the spoken caption's log-mel, the",
            "# video's own track when a row has no audio), " + (augment
                ? "draws new crops, frame offsets, speeds, gains, noise and\n# SpecAugment masks for each clip (seeded by seed, clip and epoch), batches them and trains;"
                : "batches them and trains;"),
            "# the sink ranks the held-out split as it goes and stops the run at `steps`. A clip that cannot",
            "# be used is quarantined with its manifest line (quarantine.jsonl) and training goes on.",
            "# After a kill: the same command with --resume, or `sluice run FILE --set sink.resume=true`.",
            "name: \(trainer.name)-train",
            "description: clip manifest -> frames + caption log-mel\(augment ? " -> augmentation" : "") -> clip batches -> \(trainer.name) trainer",
            "output: \(quoted(out))",
            "",
            "options:",
            "  on_error: skip",
            "  item_timeout: 60s",
            "  chunk_size: 4",
            "",
            "source:",
            "  type: manifest",
            "  path: \(quoted(manifest))",
            "  split: train",
            "  epochs: 1000000       # until the trainer's steps are done",
            "  shuffle: true",
            "  seed: \(seed)",
        ]
        if mismatch > 0 { lines.append("  mismatch: \(mismatch)") }
        lines += [
            "",
            "stages:",
            "  - type: video_frames",
            "    select: uniform",
            "    count: \(clip.frames)",
            "    size: \(clip.size)x\(clip.size)",
        ]
        if augment { lines += ["    jitter: true", "    seed: \(seed)", "  - type: frame_augment", "    seed: \(seed)"] }
        lines += ["  - type: audio_decode", "    fallback: video", "    sample_rate: \(MelOptions().sampleRate)"]
        if augment { lines += ["  - type: audio_augment", "    seed: \(seed)"] }
        lines += ["  - type: log_mel", "    n_mels: \(clip.melBins)"]
        if augment { lines += ["  - type: spec_augment", "    seed: \(seed)"] }
        lines += [
            "  - type: clip_record",
            "  - type: clip_batch",
            "    size: \(batchSize)",
            "    last: drop",
            "    max_frames: \(clip.windowFrames)",
            "    window: \(augment ? "random" : "start")",
            "    seed: \(seed)",
            "",
            "sink:",
            "  type: \(trainer.rawValue)",
            "  out: .",
            "  frames: \(clip.frames)",
            "  size: \(clip.size)",
            "  seconds: \(clip.seconds)",
            "  mel_bins: \(clip.melBins)",
        ]
        if ranksHeldOut { lines += ["  heldout: \(quoted(manifest))", "  heldout_split: \(quoted(evalSplit))"] }
        if resume { lines.append("  resume: true") }
        lines += settings.map { "  \($0.name): \($0.value)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A path or split as a YAML scalar: plain when it is safe, else double-quoted.
    private func quoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.allSatisfy { $0.isLetter || $0.isNumber || "/._-+".contains($0) } && !text.hasPrefix("-")
        guard !plain else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
