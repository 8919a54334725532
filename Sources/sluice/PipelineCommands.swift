import ArgumentParser
import Dispatch
import MPIRanks
import Foundation
import PipelineCore
import Pipelines
import SystemErrors

/// Options shared by commands that read a pipeline file.
struct PipelineFileOptions: ParsableArguments {
    @Argument(help: "The pipeline file (YAML).", transform: localPath)
    var file: String

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override a value: --set stages.0.workers=4 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    /// The plan, or every problem of the file printed and exit 65 (74 when it cannot be read).
    func plan() throws -> PipelinePlan {
        do {
            return try PipelineFile().load(path: file, overrides: overrides)
        } catch {
            printError(error.description)
            throw ExitCode(Failure(of: error))
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline, with live progress and a manifest next to its output.",
        discussion: """
            Ctrl-C stops cleanly (in-flight items drain, sinks finish); a second Ctrl-C aborts.
            On N MPI ranks (`mpiexec -n N sluice run FILE`) rank R takes the source's items R, R+N, ...
            and writes under OUTPUT/part-R/; when all have finished, rank 0 merges the parts into OUTPUT
            (one index.json per MDS dataset, JSON lines concatenated, one manifest). A failing rank
            stops the job, naming itself, and nothing is merged.
            The manifest and quarantine go to OUTPUT unless the file's options name other places:
            `options: {manifest: runs/a.json, quarantine: "s3://bucket/runs/a/quarantine.jsonl"}`
            (objects are staged as .partial files and uploaded when the run ends).
            """)

    @OptionGroup var pipeline: PipelineFileOptions

    @Option(help: ArgumentHelp("Also write the final per-stage metrics as JSON here.", valueName: "file"), transform: localPath)
    var metrics: String?

    @Flag(help: "No progress display.")
    var quiet = false

    func run() throws {
        let plan = try pipeline.plan()
        let world = try jobWorld()
        guard world.size == 1 else {
            return try world.abortingOnError {
                do { try runPartitioned(plan, world) } catch { throw plainWords(error) }
            }
        }
        try plan.runInProcess(quiet: quiet, metrics: metrics)
    }
}

extension PipelinePlan {
    /// Runs in this process with live progress (unless `quiet`); Ctrl-C stops cleanly, a second
    /// aborts. Says where the records went and, last, which outputs a run that did not finish left
    /// as `.partial`; a stopped or aborted run exits 130, a failed one 65 (bad data) or 74 (I/O).
    func runInProcess(quiet: Bool, metrics: String? = nil) throws {
        let runner = PipelineRunner(plan: self, progress: quiet ? nil : .standardError)
        let interrupts = InterruptHandler()
        let outcome = try runner.run { interrupts.watch($0) }
        let report = outcome.report
        if let metrics {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(report.snapshot).write(to: URL(fileURLWithPath: metrics), options: .atomic)
            } catch {
                var isDirectory: ObjCBool = false
                let why = FileManager.default.fileExists(atPath: metrics, isDirectory: &isDirectory) && isDirectory.boolValue
                    ? "it is a directory" : "the directory is missing or not writable"
                throw FileSystemError(.writeFailed, path: metrics, "cannot write the metrics: \(why)")
            }
        }
        if !report.quarantined.isEmpty {
            printError("\(report.quarantined.count) item(s) skipped; see \(records.quarantine)")
        }
        printError("manifest: \(records.manifest)")
        let left = outcome.leftPartial.map { "\($0.file.relativePath) left as \($0.partial.relativePath)" }
        let leftLine = left.isEmpty ? [] : [left.joined(separator: "; ") + " (rerun to redo)"]
        switch report.completion {
        case .finished: return
        case .stopped:
            let taken = report.snapshot.stages.last?.itemsIn ?? 0
            printError((["stopped by Ctrl-C after the sink took \(taken) items"] + leftLine).joined(separator: "; "))
            throw ExitCode.interrupted
        case .failed:
            printError("error: \(report.failure?.description ?? "failed")")
            leftLine.forEach(printError)
            throw ExitCode(report.failure?.failure ?? .data)
        }
    }
}

extension Run {
    /// One rank of `mpiexec -n N sluice run FILE`: this rank's part of the items into OUT/part-RANK,
    /// then, once every rank has finished, rank 0 merges the parts. A rank that fails aborts the
    /// job (naming itself), so nothing is merged and no rank waits forever.
    func runPartitioned(_ plan: PipelinePlan, _ world: World) throws {
        let partitioned = try PartitionedRun(plan: plan, rank: world.rank, size: world.size)
        let job = JobProgress(outputDirectory: plan.outputDirectory, rank: world.rank, size: world.size)
        let runner = PipelineRunner(plan: try partitioned.rankPlan(), progress: quiet || !world.isPrimary ? nil : .standardError,
                                    job: quiet ? nil : job)
        let interrupts = InterruptHandler()
        let report = try runner.run { interrupts.watch($0) }.report
        switch report.completion {
        case .finished: break
        case .stopped: throw UnmergedPart(.stopped, cause: nil)
        case .failed: throw UnmergedPart(.failed, cause: report.failure)
        }
        try world.barrier()
        guard world.isPrimary else { return }
        try partitioned.merge()
        if !quiet { printError(job.lines(previous: nil, summary: true).lines.joined(separator: "\n")) }
        job.remove()
        printError("\(world.size) ranks' parts merged into \(plan.outputDirectory.relativePath); manifest: \(plan.records.manifest)")
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file and report every problem with file, line and key.",
        discussion: """
            Exit 65: the file is wrong. Exit 74: the file is right but the pipeline cannot run as things
            stand (an input another pipeline writes is not there yet, which names that pipeline; an
            output path taken by a file of the wrong kind), as `run` would fail now. Exit 0: ok.
            """)

    @OptionGroup var pipeline: PipelineFileOptions

    func run() throws {
        let plan = try pipeline.plan()
        let obstacles = PipelineFile().obstacles(plan)
        guard obstacles.isEmpty else {
            for obstacle in obstacles { printError(obstacle.description) }
            printError("\(pipeline.file): the file is right, but '\(plan.name)' cannot run as things stand")
            throw ExitCode.ioFailure
        }
        print("\(pipeline.file): ok: '\(plan.name)', \(plan.stages.count) stages: "
              + plan.stages.map { $0.workers > 1 ? "\($0.name)×\($0.workers)" : $0.name }.joined(separator: " -> "))
    }
}

struct Stages: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the stage types pipeline files can use.")

    func run() throws {
        for role in [StageSpec.Role.source, .stage, .sink] {
            print("\(role)s:")
            for spec in StageCatalog.standard.specs(role: role) {
                print("  \(spec.type)\(spec.parallel ? " (workers, ordered)" : ""): \(spec.summary)")
                for parameter in spec.parameters {
                    let note = parameter.required ? "required" : parameter.defaultValue.map { "default \($0)" } ?? "optional"
                    print("      \(parameter.name) (\(note)): \(parameter.help)")
                }
            }
        }
    }
}

/// First Ctrl-C stops the run cleanly; the second aborts it; the third exits at once.
final class InterruptHandler: @unchecked Sendable {
    private var source: DispatchSourceSignal?
    private var count = 0

    func watch(_ run: PipelineRun) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [self] in
            count += 1
            switch count {
            case 1:
                printError("\nstopping: draining in-flight items (Ctrl-C again to abort)")
                run.stop()
            case 2:
                printError("\naborting")
                run.abort()
            default:
                exit(ExitCode.interrupted.rawValue)
            }
        }
        source.resume()
        self.source = source
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
