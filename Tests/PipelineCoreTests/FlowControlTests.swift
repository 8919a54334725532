import Foundation
@testable import PipelineCore
import Synchronization
import Testing

/// Backpressure, cancellation and the watchdog: the properties that keep long jobs alive.
struct FlowControlTests {
    /// Items emitted minus items consumed, tracked as they happen.
    final class InFlight: Sendable {
        let emitted = Atomic<Int>(0)
        let consumed = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        func emit() {
            let now = emitted.add(1, ordering: .relaxed).newValue - consumed.load(ordering: .relaxed)
            var seen = peak.load(ordering: .relaxed)
            while now > seen {
                let (exchanged, original) = peak.compareExchange(
                    expected: seen, desired: now, ordering: .relaxed)
                if exchanged { break }
                seen = original
            }
        }
        func consume() { consumed.add(1, ordering: .relaxed) }
    }

    struct CountingSource: Source {
        let count: Int
        let tracker: InFlight
        func run(_ emitter: Emitter<[UInt8]>) throws {
            for n in 0..<count {
                tracker.emit()
                try emitter.emit([UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 1024))
            }
        }
    }

    @Test func slowSinkSuspendsTheProducerAndMemoryStaysBounded() throws {
        let tracker = InFlight()
        let options = PipelineOptions(chunkSize: 64, queueCapacity: 4)
        let rssBefore = residentBytes()
        let total = 1_000_000
        try Pipeline(name: "backpressure", options: options)
            .source("bytes", CountingSource(count: total, tracker: tracker))
            .map("pass") { $0 }
            .forEach("slow sink") { _ in
                tracker.consume()
                if tracker.consumed.load(ordering: .relaxed) % 20_000 == 0 { usleep(2_000) }
            }
            .run()
        #expect(tracker.consumed.load(ordering: .relaxed) == total)
        // Two queues of 4 chunks, plus one chunk held by each of the three stages, plus the
        // one item being emitted. 1 KB items: unbounded queues would hold up to 1 GB.
        let bound = (2 * options.queueCapacity + 3) * options.chunkSize + 1
        #expect(tracker.peak.load(ordering: .relaxed) <= bound)
        #expect(residentBytes() - rssBefore < 256 << 20)  // other suites share the process
    }

    @Test func stopDrainsWhatIsInFlightAndFinishesSinks() throws {
        let tracker = InFlight()
        let out = Collected<Int>()
        let run = Pipeline(name: "endless", options: PipelineOptions(chunkSize: 16))
            .source("forever", SequenceSource((0...).lazy.map { n -> Int in tracker.emit(); return n }))
            .map("pass") { $0 }
            .sink("collect", CollectingSink(into: out))
            .start()
        while out.items.count < 1_000 { usleep(1_000) }
        run.stop()
        let report = run.wait()
        #expect(report.completion == .stopped)
        #expect(report.failure == nil)
        #expect(out.completion == .stopped)
        // Nothing emitted is lost: everything the source handed over reached the sink, in order.
        #expect(out.items == Array(0..<out.items.count))
        #expect(out.items.count >= tracker.emitted.load(ordering: .relaxed) - 1)
    }

    /// Collects items and, on the last one, tells the test and waits until it may go on.
    struct GatedSink: Sink {
        let out: Collected<Int>
        let last: Int
        let arrived = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        func consume(_ item: Int) throws {
            out.append(item)
            if item == last {
                arrived.signal()
                release.wait()
            }
        }
        func finish(_ completion: Completion) throws { out.end(completion) }
    }

    /// A Ctrl-C that comes once every item of the source is on its way loses nothing, so the run
    /// finishes (a jsonl sink once left its whole output as `.partial` here).
    @Test func aStopAfterTheLastItemReachedTheSinkStillFinishes() throws {
        let out = Collected<Int>()
        let sink = GatedSink(out: out, last: 9)
        let run = Pipeline(name: "all through")
            .source("numbers", SequenceSource(0..<10))
            .map("pass") { $0 }
            .sink("collect", sink)
            .start()
        sink.arrived.wait()
        run.stop()
        sink.release.signal()
        let report = run.wait()
        #expect(out.items == Array(0..<10))
        #expect(report.completion == .finished)
        #expect(out.completion == .finished)
    }

    @Test func abortStopsAtOnceEvenWithFullQueues() throws {
        let taken = Atomic<Int>(0)
        let run = Pipeline(name: "abort", options: PipelineOptions(chunkSize: 4, queueCapacity: 2))
            .source("forever", SequenceSource(0...))
            .forEach("very slow") { _ in
                taken.add(1, ordering: .relaxed)
                usleep(1_000)
            }
            .start()
        // Once the slow sink has started its second chunk, the source has filled the queue.
        while taken.load(ordering: .relaxed) <= 4 { usleep(1_000) }
        run.abort()
        let report = run.wait()
        #expect(report.completion == .failed)
        #expect(report.failure == .aborted)
    }

    // The watchdog limits below are generous so that a loaded CI machine never times out a
    // healthy item; only the deliberately hung one can reach them. The hung item is released only
    // after the run returns, so a run that returns at all got past it; the time limit only turns a
    // broken watchdog into a failure instead of a hang.
    @Test(.timeLimit(.minutes(1))) func watchdogQuarantinesAHungItemAndGoesOn() throws {
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let out = Collected<Int>()
        let options = PipelineOptions(chunkSize: 4, errorPolicy: .skip, itemTimeout: .milliseconds(500))
        let report = try Pipeline(name: "hang", options: options)
            .source("numbers", SequenceSource(0..<40))
            .map("decode", workers: 2) { n in
                if n == 13 { release.wait() }  // a decoder stuck on a bad file
                return n
            }
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(out.items == (0..<40).filter { $0 != 13 })
        #expect(report.quarantined.count == 1)
        #expect(report.quarantined.first?.item == "13")
        #expect(report.quarantined.first?.error.contains("timed out") == true)
    }

    @Test(.timeLimit(.minutes(1))) func watchdogTurnsAHangIntoAnErrorUnderFail() throws {
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let options = PipelineOptions(errorPolicy: .fail, itemTimeout: .milliseconds(500))
        let pipeline = Pipeline(name: "hang", options: options)
            .source("numbers", SequenceSource(0..<10))
            .forEach("stuck sink") { n in if n == 2 { release.wait() } }
        do {
            try pipeline.run()
            Issue.record("a hung sink must fail the run")
        } catch let error as PipelineError {
            guard case let .timedOut(stage, item, seconds) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(stage == "stuck sink")
            #expect(item == "2")
            #expect(seconds >= 0.5)
        }
    }

    /// Counters are exact; times have only the lower bounds the stages' own sleeps guarantee, since
    /// on a loaded machine any stage may lose the core for a while.
    @Test func metricsCountItemsAndTimeInsideTheStage() throws {
        let report = try Pipeline(name: "metrics", options: PipelineOptions(chunkSize: 10))
            .source("numbers", SequenceSource(0..<200))
            .map("fast") { $0 }
            .map("slow") { n in usleep(1_000); return n }
            .forEach("sink") { _ in }
            .run()
        let stages = report.snapshot.stages
        #expect(stages.map(\.name) == ["numbers", "fast", "slow", "sink"])
        #expect(stages.map(\.itemsOut) == [200, 200, 200, 0])
        #expect(stages.dropFirst().map(\.itemsIn) == [200, 200, 200])
        #expect(stages[2].busySeconds >= 0.2)
        #expect(report.snapshot.elapsedSeconds >= stages[2].busySeconds)
    }

    /// The bottleneck is the stage whose workers were busiest: busy time per worker over the wall time.
    @Test func theBottleneckIsTheBusiestStagePerWorker() {
        func stage(_ name: String, workers: Int, busy: Double) -> StageSnapshot {
            StageSnapshot(name: name, kind: "map", workers: workers, itemsIn: 10, itemsOut: 10, bytesOut: 0, errors: 0,
                          busySeconds: busy, waitingInputSeconds: 0, blockedOutputSeconds: 0)
        }
        let snapshot = PipelineSnapshot(pipeline: "p", elapsedSeconds: 10, stages: [
            stage("read", workers: 1, busy: 3), stage("decode", workers: 4, busy: 20), stage("resize", workers: 1, busy: 6),
        ])
        #expect(snapshot.bottleneck(over: 10)?.name == "resize")
        #expect(snapshot.stages.map { $0.utilisation(over: 10) } == [0.3, 0.5, 0.6])
        #expect(PipelineSnapshot(pipeline: "p", elapsedSeconds: 0, stages: []).bottleneck(over: 0) == nil)
    }

    /// Busy and waiting time used to be counted when a chunk or a wait ended, so the half-second
    /// interval a chunk of slow items ended in read `busy 387%` (and the ones before it 0%). Built
    /// from the ledger at set instants, every interval's shares stay within its worker time.
    @Test func progressSharesOfSlowChunksStayWithinTheWorkersTime() throws {
        let time = WorkerTime()
        let nanos = { (seconds: Double) in Int(seconds * 1e9) }
        func snapshot(at seconds: Double) -> PipelineSnapshot {
            let spent = time.seconds(at: nanos(seconds))
            return PipelineSnapshot(pipeline: "p", elapsedSeconds: seconds, stages: [
                StageSnapshot(name: "checksum", kind: "map", workers: 2, itemsIn: 0, itemsOut: 0, bytesOut: 0, errors: 0,
                              busySeconds: spent.busy, waitingInputSeconds: spent.waitingInput, blockedOutputSeconds: spent.blockedOutput),
            ])
        }
        // Two workers, snapshots every half second: one waits 0.2 s for a chunk and hashes it
        // until 3.87 s; the other hashes its chunk from the start to 3.3 s, then waits.
        let waited = time.begin(.waitingInput, at: 0)
        let second = time.begin(.busy, at: 0)
        var taken = [snapshot(at: 0)]
        time.end(.waitingInput, startedAt: waited, at: nanos(0.2))
        let first = time.begin(.busy, at: nanos(0.2))
        taken += [0.5, 1, 1.5, 2, 2.5, 3].map(snapshot(at:))
        time.end(.busy, startedAt: second, at: nanos(3.3))
        time.begin(.waitingInput, at: nanos(3.3))
        taken.append(snapshot(at: 3.5))
        time.end(.busy, startedAt: first, at: nanos(3.87))
        taken.append(snapshot(at: 4))

        let shares = try zip(taken, taken.dropFirst()).map { previous, current in
            let line = try #require(ProgressRenderer.live(current, previous: previous).last)
            return ["busy ", "wait-in "].map { label in
                line.range(of: label).flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) } ?? 0
            }
        }
        // Shares of the two workers' second per interval; after 3.87 s one of them is idle.
        #expect(shares == [[80, 20], [100, 0], [100, 0], [100, 0], [100, 0], [100, 0], [80, 20], [37, 50]])
    }
}

/// Resident set size of this process, from /proc.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
