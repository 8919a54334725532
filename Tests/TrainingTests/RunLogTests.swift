import Foundation
import Tensor
import Testing
@testable import Training

/// The run log: TensorBoard event files as TensorBoard's own writer makes them, and metrics.jsonl.
struct RunLogTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tensorboard.events")

    /// The records of an event file: each length and payload checked against its masked CRC32C.
    static func records(_ data: Data) throws -> [Data] {
        var records: [Data] = [], offset = data.startIndex
        func u32(_ at: Int) -> UInt32 { data[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        while offset < data.endIndex {
            let lengthBytes = Array(data[offset..<offset + 8])
            let length = Int(lengthBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            #expect(u32(offset + 8) == TensorBoardEventFile.maskedCRC32C(lengthBytes))
            let payload = data[offset + 12..<offset + 12 + length]
            #expect(u32(offset + 12 + length) == TensorBoardEventFile.maskedCRC32C(Array(payload)))
            records.append(Data(payload))
            offset += 16 + length
        }
        return records
    }

    /// tools/tensorboard_events.py wrote the fixture with TensorBoard 2.21's EventFileWriter; the
    /// scalar events are byte for byte ours. (TensorBoard's version record also names its writer.)
    @Test func scalarRecordsEqualTensorBoardsWriter() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wallTime = 1700000000.5
        let file = try TensorBoardEventFile(directory: directory, wallTime: wallTime)
        try file.write(scalars: [("train/loss", 7.25), ("train/lr", 1e-4)], step: 1, wallTime: wallTime)
        try file.write(scalars: [("train/loss", 6.5), ("train/lr", 2e-4)], step: 2, wallTime: wallTime)
        try file.write(scalars: [("eval/mlm_accuracy", 0.125)], step: 10, wallTime: wallTime)
        try file.close()
        #expect(file.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))

        let ours = try Self.records(Data(contentsOf: file.url)), theirs = try Self.records(Data(contentsOf: Self.fixture))
        #expect(ours.count == 4 && theirs.count == 4)
        #expect(Array(ours.dropFirst()) == Array(theirs.dropFirst()))
        #expect(ours[0] == Data(TensorBoardEventFile.versionEvent(wallTime: wallTime)))
        #expect(theirs[0].starts(with: ours[0]))  // the same wall time and version, then TensorBoard's writer name
    }

    @Test func crc32cOfTheStandardCheckValue() {
        #expect(TensorBoardEventFile.crc32c(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// A short run writes a metrics record per log window and evaluation, and TensorBoard events.
    @Test func aRunLogsMetricsAndEvents() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runlog-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = LoopTests.options(steps: 4)
        (options.logEvery, options.evalEvery, options.checkpointEvery) = (2, 2, 100)
        let run = try TrainingRun(trainer: Trainer(model: ReverseModel(seed: 1), options: options), directory: directory,
                                  name: "reverse", unit: "examples", resume: false)
        var lines: [String] = []
        run.progress = { lines.append($0) }
        run.evaluate = { model in
            var context = ForwardContext.inference
            return [("loss", Double(try model.loss(on: ReverseModel.batch(1000), position: 0, context: &context).loss.item))]
        }
        var position = 0
        while !run.isComplete {
            try run.feed(ReverseModel.batch(position), waitingOn: "generator")
            position += 1
        }
        try run.finish()
        let records = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let train = records.filter { $0["kind"] as? String == "train" }, eval = records.filter { $0["kind"] as? String == "eval" }
        #expect(train.map { $0["step"] as? Int } == [2, 4])
        #expect(eval.map { $0["step"] as? Int } == [0, 2, 4])
        #expect(records.first?["kind"] as? String == "start" && records.first?["resumed"] as? String == "false")
        for record in train {
            for key in ["loss", "lr", "examples_per_second", "data_wait_share", "gradient_norm", "resident_mb"] { #expect(record[key] is Double, "\(key)") }
            #expect(record["waiting_on"] as? String == "generator")
        }
        #expect(lines.contains { $0.hasPrefix("reverse step 4/4 loss ") && $0.contains("examples/s, data wait") && $0.hasSuffix(" MB resident") })
        let events = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1)
        // version + 2 train + 3 eval records
        #expect(try Self.records(Data(contentsOf: directory.appendingPathComponent(events[0]))).count == 6)
    }

    /// Waiting before a batch is put on the stage waited on, building the batch on the collator:
    /// `waiting_on` names whichever took longer in the window.
    @Test func waitingBeforeABatchAndBuildingItAreToldApart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("run-waits-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = LoopTests.options(steps: 4)
        (options.logEvery, options.evalEvery, options.checkpointEvery) = (2, 100, 100)
        let run = try TrainingRun(trainer: Trainer(model: ReverseModel(seed: 1), options: options), directory: directory,
                                  name: "reverse", unit: "examples", resume: false)
        var position = 0
        while !run.isComplete {
            // The first window waits on nothing before its batches, the second 1 s before each.
            try run.feed(ReverseModel.batch(position), waited: position < 2 ? 0 : 1, waitingOn: "upstream", collatedBy: "collate")
            position += 1
        }
        try run.finish()
        let train = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "train" }
        #expect(train.map { $0["waiting_on"] as? String } == ["collate", "upstream"])
    }

    /// `best.safetensors` holds the model of the best evaluation so far, and a resumed run only
    /// replaces it with a better one.
    @Test func theBestEvaluationsModelIsKeptAcrossAResume() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("best-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines: [String] = []
        func train(steps: Int, figures: [Double], resume: Bool) throws -> TrainingRun<ReverseModel> {
            var options = LoopTests.options(steps: steps)
            (options.evalEvery, options.checkpointEvery) = (1, 1)
            let run = try TrainingRun(trainer: Trainer(model: ReverseModel(seed: 1), options: options), directory: directory,
                                      name: "reverse", unit: "examples", resume: resume)
            run.progress = { lines.append($0) }
            var remaining = figures
            run.evaluate = { _ in [("chance", 0.05), ("r10", remaining.removeFirst())] }
            (run.keepBest, run.chanceOfBest) = ("r10", "chance")
            var position = 0
            while !run.isComplete {
                try run.feed(ReverseModel.batch(position), waitingOn: "generator")
                position += 1
            }
            try run.finish()
            #expect(remaining.isEmpty)
            return run
        }
        func best(_ run: TrainingRun<ReverseModel>) throws -> (step: String?, value: String?) {
            let extra = try Checkpoint.extra(from: run.bestFile)
            return (extra["data.position"], extra["best.r10"])
        }
        // Evaluations at updates 0, 1, 2, 3: the best is after update 1.
        let first = try train(steps: 3, figures: [0.1, 0.5, 0.2, 0.3], resume: false)
        #expect(try best(first) == ("1", "0.5"))
        // The run ends with the figure's history beside chance.
        #expect(lines.last == "reverse held-out r10 by update: 0: 0.100, 1: 0.500, 2: 0.200, 3: 0.300 (chance 0.050); "
            + "the best, at update 1, is kept in best.safetensors")
        // Resumed at update 3 (its evaluations at 4 and 5): 0.4 is not better than 0.5, 0.6 is.
        let resumed = try train(steps: 5, figures: [0.4, 0.6], resume: true)
        #expect(try best(resumed) == ("5", "0.6"))
        let bestModel = try Checkpoint.extra(from: resumed.bestFile), last = try Checkpoint.extra(from: resumed.checkpointFile)
        #expect(bestModel["data.position"] == last["data.position"])
    }
}
