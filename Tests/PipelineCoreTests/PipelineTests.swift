import Foundation
import PipelineCore
import Synchronization
import Testing

/// Collects what a sink receives and how the run ended, shared with the test body.
final class Collected<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T] = []
    private var ended: Completion?
    func append(_ item: T) { lock.withLock { storage.append(item) } }
    func end(_ completion: Completion) { lock.withLock { ended = completion } }
    var items: [T] { lock.withLock { storage } }
    var completion: Completion? { lock.withLock { ended } }
}

/// A sink that records into a `Collected`.
struct CollectingSink<T: Sendable>: Sink {
    let into: Collected<T>
    func consume(_ item: T) throws { into.append(item) }
    func finish(_ completion: Completion) throws { into.end(completion) }
}

struct Boom: Error, CustomStringConvertible {
    let value: Int
    var description: String { "cannot handle \(value)" }
}

struct PipelineTests {
    @Test func parallelMapKeepsInputOrder() throws {
        let out = Collected<Int>()
        try Pipeline(name: "order", options: PipelineOptions(chunkSize: 7))
            .source("numbers", SequenceSource(0..<5_000))
            .map("jitter", workers: 4) { n in
                if n % 97 == 0 { usleep(UInt32(200 + (n % 5) * 300)) }  // uneven work per chunk
                return n * 2
            }
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(out.items == (0..<5_000).map { $0 * 2 })
        #expect(out.completion == .finished)
    }

    @Test func unorderedParallelMapDeliversEveryItemOnce() throws {
        let out = Collected<Int>()
        try Pipeline(name: "unordered", options: PipelineOptions(chunkSize: 5))
            .source("numbers", SequenceSource(0..<2_000))
            .map("slow", workers: 3, ordered: false) { n in
                if n % 50 == 0 { usleep(500) }
                return n
            }
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(out.items.sorted() == Array(0..<2_000))
    }

    @Test func batchesAndFlatMapsKeepEveryItem() throws {
        let out = Collected<[Int]>()
        try Pipeline(name: "batch")
            .source("numbers", SequenceSource(0..<103))
            .flatMap("twice") { [$0, $0] }
            .batch("batch", size: 10)
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(out.items.count == 21)
        #expect(out.items.dropLast().allSatisfy { $0.count == 10 })
        #expect(out.items.last?.count == 6)
        #expect(out.items.flatMap { $0 } == (0..<103).flatMap { [$0, $0] })
    }

    @Test func failPolicyStopsWithTheItemAndReason() throws {
        let out = Collected<Int>()
        let pipeline = Pipeline(name: "fail")
            .source("numbers", SequenceSource(0..<100_000))
            .map("check") { n in
                if n == 500 { throw Boom(value: n) }
                return n
            }
            .sink("collect", CollectingSink(into: out))
        let error = #expect(throws: PipelineError.itemFailed(stage: "check", item: "500", reason: "cannot handle 500")) {
            try pipeline.run()
        }
        #expect(error?.code == .itemFailed)
        #expect(out.completion == .failed)
        #expect(out.items.count <= 500)
        #expect(out.items == Array(0..<out.items.count))
    }

    @Test func skipPolicyQuarantinesFailuresAndKeepsTheRest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let quarantine = dir.appendingPathComponent("quarantine.jsonl")
        let out = Collected<Int>()
        let report = try Pipeline(
            name: "skip", options: PipelineOptions(errorPolicy: .skip, quarantineFile: quarantine)
        )
        .source("numbers", SequenceSource(0..<1_000))
        .map("check", workers: 2) { n in
            if n % 100 == 7 { throw Boom(value: n) }
            return n
        }
        .sink("collect", CollectingSink(into: out))
        .run()

        let failed = Set(stride(from: 7, to: 1_000, by: 100))
        #expect(out.items == (0..<1_000).filter { !failed.contains($0) })
        #expect(report.quarantined.count == 10)
        let lines = try String(contentsOf: quarantine, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONDecoder().decode(QuarantineRecord.self, from: Data($0.utf8)) }
        #expect(Set(records.map(\.item)) == Set(failed.map(String.init)))
        #expect(records.allSatisfy { $0.stage == "check" && $0.error.contains("cannot handle") })
        #expect(report.snapshot.stages[1].errors == 10)
    }

    /// A stage error wrapping a file error names the file once, not once per layer.
    @Test func itemNameIsNotRepeatedInTheReason() throws {
        struct Wrapped: Error, CustomStringConvertible {
            let path: String
            var description: String { "\(path): \(path): cannot open" }
        }
        struct Named: ItemDescribing, Sendable { let itemDescription: String }
        let report = try Pipeline(name: "names", options: PipelineOptions(errorPolicy: .skip))
            .source("files", SequenceSource([Named(itemDescription: "in/a.mp4")]))
            .map("decode") { (item: Named) -> Named in throw Wrapped(path: item.itemDescription) }
            .forEach("drop") { _ in }
            .run()
        #expect(report.quarantined.map(\.error) == ["stage 'decode' failed on in/a.mp4: cannot open"])
    }

    @Test func sourceCanQuarantineItemsItCannotProduce() throws {
        struct FlakySource: Source {
            func run(_ emitter: Emitter<Int>) throws {
                for n in 0..<10 {
                    if n == 3 { try emitter.skip(item: "file-3.bin", reason: "truncated header") } else {
                        try emitter.emit(n)
                    }
                }
            }
        }
        let out = Collected<Int>()
        let report = try Pipeline(name: "source-skip", options: PipelineOptions(errorPolicy: .skip))
            .source("files", FlakySource())
            .sink("collect", CollectingSink(into: out))
            .run()
        #expect(out.items == [0, 1, 2, 4, 5, 6, 7, 8, 9])
        #expect(report.quarantined.map(\.item) == ["file-3.bin"])
        #expect(report.quarantined.first?.error.contains("truncated header") == true)
    }
}
