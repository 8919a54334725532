import Foundation
import PipelineCore
import SystemErrors

/// Runs a checked pipeline plan: live progress, then a manifest next to the output.
public struct PipelineRunner {
    public var plan: PipelinePlan
    /// Receives progress text; nil runs quietly.
    public var progress: ProgressSink?
    /// Seconds between progress updates.
    public var interval: Double
    /// On one rank of several: where this rank's progress goes and (on rank 0) the others' comes from.
    public var job: JobProgress?

    public init(plan: PipelinePlan, progress: ProgressSink?, interval: Double = 0.5, job: JobProgress? = nil) {
        self.plan = plan
        self.progress = progress
        self.interval = interval
        self.job = job
    }

    /// What a finished run left behind.
    public struct Outcome: Sendable {
        public var report: PipelineReport
        /// The manifest's local file (for one bound for a bucket, the copy uploaded;
        /// `plan.records.manifest` says where it went).
        public var manifest: URL
        /// The sinks' files left under their `.partial` name: those of a run that did not finish.
        public var leftPartial: [PartialOutput]
    }

    /// Runs to the end. `started` gets the live run, e.g. so Ctrl-C can stop it.
    public func run(started: (PipelineRun) -> Void = { _ in }) throws -> Outcome {
        let environment = RunEnvironment(outputDirectory: plan.outputDirectory)
        try OutputPaths.createDirectory(plan.outputDirectory)
        try plan.records.prepare(resuming: plan.resumes)
        let startedAt = Date()
        let pipeline = try plan.build(in: environment)
        let run = pipeline.start()
        environment.attach(run)
        started(run)
        let reporter = progress != nil || job != nil ? ProgressLoop(run: run, sink: progress, interval: interval, job: job) : nil
        reporter?.start()
        let report = run.wait()
        reporter?.finish(report.snapshot)
        let manifest = plan.records.localFile(plan.records.manifest)
        do {
            try RunManifest(plan: plan, environment: environment, report: report, started: startedAt, finished: Date())
                .write(to: manifest)
            try plan.records.publish()
        } catch {
            guard let failure = report.failure else { throw error }
            throw RunWithoutRecords(run: failure, records: error)
        }
        return Outcome(report: report, manifest: plan.records.keptFile(plan.records.manifest),
                       leftPartial: environment.leftPartial)
    }
}

/// A run that failed and whose records could not be written either. The run's failure comes
/// first: it is the cause to act on (a disk that filled up under a shard fails the manifest next).
public struct RunWithoutRecords: CodedError {
    public typealias Code = PipelineError.Code
    /// Why the run failed.
    public var run: PipelineError
    /// Why its records could not be written.
    public var records: any Error

    public var code: Code { run.code }
    public var path: String { run.path }
    public var reason: String { "\(run.reason); the run's records could not be written either: \(records)" }
    public var failure: Failure { run.failure }

    public var description: String { "\(run); the run's records could not be written either: \(records)" }
}

/// Where progress text goes: a terminal redraws in place, a log gets a line now and then.
public struct ProgressSink: Sendable {
    public var interactive: Bool
    public var write: @Sendable (String) -> Void

    public init(interactive: Bool, write: @escaping @Sendable (String) -> Void) {
        self.interactive = interactive
        self.write = write
    }

    /// Standard error; redraws in place when it is a terminal.
    public static var standardError: ProgressSink {
        ProgressSink(interactive: isatty(STDERR_FILENO) != 0) { text in
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}

/// A multi-rank run's progress, shown whole on rank 0: every rank writes its snapshot to
/// `OUT/.progress/rank-R.json` each interval (written whole and renamed into place) and rank 0 sums
/// them. Files rather than MPI messages: a collective would need every rank to call it at the same
/// moment from its progress thread (and MPI_THREAD_MULTIPLE), while the ranks already share the
/// output directory, and a few hundred bytes per rank per interval cost nothing. Progress is a
/// display: a snapshot that cannot be written or read is skipped, never a reason to stop the run.
public struct JobProgress: Sendable {
    public let directory: URL
    public let rank: Int
    public let size: Int

    public init(outputDirectory: URL, rank: Int, size: Int) {
        directory = outputDirectory.appendingPathComponent(".progress")
        (self.rank, self.size) = (rank, size)
    }

    func file(_ rank: Int) -> URL { directory.appendingPathComponent("rank-\(rank).json") }

    func publish(_ snapshot: PipelineSnapshot) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? JSONEncoder().encode(snapshot).write(to: file(rank), options: .atomic)
    }

    /// Every rank's latest snapshot, by rank; a rank that has written none yet is left out.
    public func snapshots() -> [(rank: Int, snapshot: PipelineSnapshot)] {
        (0..<size).compactMap { rank in
            guard let data = FileManager.default.contents(atPath: file(rank).path),
                  let snapshot = try? JSONDecoder().decode(PipelineSnapshot.self, from: data) else { return nil }
            return (rank, snapshot)
        }
    }

    /// The job's stage table (counters of every rank summed) and what each rank has put into its sink.
    public func lines(previous: PipelineSnapshot?, summary: Bool = false) -> (lines: [String], job: PipelineSnapshot?) {
        let ranks = snapshots()
        guard var job = PipelineSnapshot.combined(ranks.map(\.snapshot)) else { return ([], nil) }
        job.pipeline += " (\(size) ranks)"
        var lines = summary ? ProgressRenderer.summary(job) : ProgressRenderer.live(job, previous: previous)
        lines.append("ranks: " + ranks.map { "\($0.rank): \($0.snapshot.stages.last?.itemsIn ?? 0)" }.joined(separator: ", ")
                     + " items into the sink" + (ranks.count < size ? " (\(size - ranks.count) not started)" : ""))
        return (lines, job)
    }

    /// Removes the snapshots once the job is over (rank 0, after the merge).
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// Redraws the stage table every `interval` on its own thread until the run ends; on a rank of
/// several, also publishes the rank's snapshot, and (with a sink, on rank 0) shows the whole job.
final class ProgressLoop: @unchecked Sendable {
    let run: PipelineRun
    let sink: ProgressSink?
    let interval: Double
    let job: JobProgress?
    private let done = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private var drawnLines = 0

    init(run: PipelineRun, sink: ProgressSink?, interval: Double, job: JobProgress?) {
        self.run = run
        self.sink = sink
        self.interval = interval
        self.job = job
    }

    func start() {
        job?.publish(run.snapshot())
        let thread = Thread { [self] in
            var previous: PipelineSnapshot?
            // Logs get a line every ten intervals; terminals are redrawn (and ranks publish) every interval.
            let period = sink?.interactive == false ? interval * 10 : interval
            while done.wait(timeout: .now() + period) == .timedOut {
                let current = run.snapshot()
                job?.publish(current)
                guard sink != nil else { continue }
                if let job {
                    let (lines, whole) = job.lines(previous: previous)
                    draw(lines)
                    previous = whole
                } else {
                    draw(ProgressRenderer.live(current, previous: previous))
                    previous = current
                }
            }
            stopped.signal()
        }
        thread.name = "progress"
        thread.start()
    }

    func finish(_ final: PipelineSnapshot) {
        done.signal()
        stopped.wait()
        job?.publish(final)
        guard sink != nil else { return }
        // A rank's own summary; the job's comes once every rank has finished.
        draw(job == nil ? ProgressRenderer.summary(final) : ["rank 0 finished its part:"] + ProgressRenderer.summary(final))
    }

    private func draw(_ lines: [String]) {
        guard let sink else { return }
        var text = ""
        if sink.interactive && drawnLines > 0 { text += "\u{1B}[\(drawnLines)F\u{1B}[J" }
        text += lines.joined(separator: "\n") + "\n"
        drawnLines = lines.count
        sink.write(text)
    }
}
