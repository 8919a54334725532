import Foundation
import PipelineCore
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

    @Test func abortStopsAtOnceEvenWithFullQueues() throws {
        let run = Pipeline(name: "abort")
            .source("forever", SequenceSource(0...))
            .forEach("very slow") { _ in usleep(1_000) }
            .start()
        usleep(50_000)
        run.abort()
        let report = run.wait()
        #expect(report.completion == .failed)
        #expect(report.failure == .aborted)
    }

    // The watchdog limits below are generous so that a loaded CI machine never times out a
    // healthy item; only the deliberately hung one can reach them.
    @Test func watchdogQuarantinesAHungItemAndGoesOn() throws {
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let out = Collected<Int>()
        let options = PipelineOptions(chunkSize: 4, errorPolicy: .skip, itemTimeout: .milliseconds(500))
        let started = Date()
        let report = try Pipeline(name: "hang", options: options)
            .source("numbers", SequenceSource(0..<40))
            .map("decode", workers: 2) { n in
                if n == 13 { release.wait() }  // a decoder stuck on a bad file
                return n
            }
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(out.items == (0..<40).filter { $0 != 13 })
        #expect(report.quarantined.count == 1)
        #expect(report.quarantined.first?.item == "13")
        #expect(report.quarantined.first?.error.contains("timed out") == true)
    }

    @Test func watchdogTurnsAHangIntoAnErrorUnderFail() throws {
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let options = PipelineOptions(errorPolicy: .fail, itemTimeout: .milliseconds(500))
        let pipeline = Pipeline(name: "hang", options: options)
            .source("numbers", SequenceSource(0..<10))
            .forEach("stuck sink") { n in if n == 2 { release.wait() } }
        let started = Date()
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
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func metricsCountItemsAndNameTheBottleneck() throws {
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
        #expect(stages[3].waitingInputSeconds > stages[3].busySeconds)
        #expect(report.snapshot.bottleneck(over: report.snapshot.elapsedSeconds)?.name == "slow")
    }
}

/// Resident set size of this process, from /proc.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
