import Foundation
import PipelineCore

/// Runs a checked pipeline plan: live progress, then a manifest next to the output.
public struct PipelineRunner {
    public var plan: PipelinePlan
    /// Receives progress text; nil runs quietly.
    public var progress: ProgressSink?
    /// Seconds between progress updates.
    public var interval: Double

    public init(plan: PipelinePlan, progress: ProgressSink?, interval: Double = 0.5) {
        self.plan = plan
        self.progress = progress
        self.interval = interval
    }

    /// What a finished run left behind.
    public struct Outcome: Sendable {
        public var report: PipelineReport
        /// The manifest's local file (for one bound for a bucket, the copy uploaded;
        /// `plan.records.manifest` says where it went).
        public var manifest: URL
    }

    /// Runs to the end. `started` gets the live run, e.g. so Ctrl-C can stop it.
    public func run(started: (PipelineRun) -> Void = { _ in }) throws -> Outcome {
        let environment = RunEnvironment(outputDirectory: plan.outputDirectory)
        try OutputPaths.createDirectory(plan.outputDirectory)
        try plan.records.prepare()
        let startedAt = Date()
        let pipeline = try plan.build(in: environment)
        let run = pipeline.start()
        environment.attach(run)
        started(run)
        let reporter = progress.map { ProgressLoop(run: run, sink: $0, interval: interval) }
        reporter?.start()
        let report = run.wait()
        reporter?.finish(report.snapshot)
        let manifest = plan.records.localFile(plan.records.manifest)
        try RunManifest(plan: plan, environment: environment, report: report, started: startedAt, finished: Date())
            .write(to: manifest)
        try plan.records.publish()
        return Outcome(report: report, manifest: plan.records.keptFile(plan.records.manifest))
    }
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

/// Redraws the stage table every `interval` on its own thread until the run ends.
final class ProgressLoop: @unchecked Sendable {
    let run: PipelineRun
    let sink: ProgressSink
    let interval: Double
    private let done = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private var drawnLines = 0

    init(run: PipelineRun, sink: ProgressSink, interval: Double) {
        self.run = run
        self.sink = sink
        self.interval = interval
    }

    func start() {
        let thread = Thread { [self] in
            var previous: PipelineSnapshot?
            // Logs get a line every ten intervals; terminals are redrawn every interval.
            let period = sink.interactive ? interval : interval * 10
            while done.wait(timeout: .now() + period) == .timedOut {
                let current = run.snapshot()
                draw(ProgressRenderer.live(current, previous: previous))
                previous = current
            }
            stopped.signal()
        }
        thread.name = "progress"
        thread.start()
    }

    func finish(_ final: PipelineSnapshot) {
        done.signal()
        stopped.wait()
        draw(ProgressRenderer.summary(final))
    }

    private func draw(_ lines: [String]) {
        var text = ""
        if sink.interactive && drawnLines > 0 { text += "\u{1B}[\(drawnLines)F\u{1B}[J" }
        text += lines.joined(separator: "\n") + "\n"
        drawnLines = lines.count
        sink.write(text)
    }
}
