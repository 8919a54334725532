import Foundation
import Testing
@testable import Training

/// A run's directory: another run in it is refused unless the new one resumes or overwrites it.
struct RunDirectoryTests {
    /// Trains `steps` updates of the reverse model into `directory` and finishes the run.
    static func train(into directory: URL, steps: Int, resume: Bool = false, overwrite: Bool = false) throws {
        var options = LoopTests.options(steps: steps)
        options.overwrite = overwrite
        let run = try TrainingRun(trainer: Trainer(model: ReverseModel(seed: 1), options: options), directory: directory,
                                  name: "reverse", unit: "examples", resume: resume)
        run.progress = { _ in }
        var position = 0
        while !run.isComplete {
            try run.feed(ReverseModel.batch(position), waitingOn: "generator")
            position += 1
        }
        try run.finish()
    }

    static func startRecords(_ directory: URL) throws -> [String] {
        try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "start" }.map { $0["resumed"] as? String ?? "?" }
    }

    static func contents(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("rundir-\(UUID())")
    }

    @Test func aSecondRunIsRefusedAndLeavesTheFirstUntouched() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(into: directory, steps: 2)
        let metrics = try Data(contentsOf: directory.appendingPathComponent("metrics.jsonl"))
        let files = try Self.contents(directory)
        let error = try #require(throws: TrainingError.self) { try Self.train(into: directory, steps: 2) }
        #expect(error.code == .runExists)
        #expect(error.path == directory.path)
        for words in ["metrics.jsonl", "checkpoint.safetensors", "events.out.tfevents.", "--resume", "--overwrite"] {
            #expect(error.reason.contains(words), "\(words)")
        }
        #expect(try Data(contentsOf: directory.appendingPathComponent("metrics.jsonl")) == metrics)
        #expect(try Self.contents(directory) == files)
    }

    @Test func overwriteStartsOverAndRemovesOnlyTheRunsFiles() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(into: directory, steps: 2)
        let foreign = ["notes.txt", "events.out.tfevents.1.host.1.pytorch"]
        for name in foreign { try Data("kept".utf8).write(to: directory.appendingPathComponent(name)) }
        try Self.train(into: directory, steps: 2, overwrite: true)
        #expect(try Self.startRecords(directory) == ["false"])
        #expect(try Self.contents(directory).filter { TensorBoardEventFile.isWritten(name: $0) }.count == 1)
        for name in foreign { #expect(try Data(contentsOf: directory.appendingPathComponent(name)) == Data("kept".utf8)) }
    }

    /// Only a run's own regular files go: a directory under one of their names, and what it
    /// holds, is not the run's to remove.
    @Test func overwriteNeverRemovesADirectoryUnderARunFilesName() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let kept = directory.appendingPathComponent("metrics.jsonl/kept.txt")
        try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("kept".utf8).write(to: kept)
        try RunDirectory.claim(directory, resume: false, overwrite: true)
        #expect(try Data(contentsOf: kept) == Data("kept".utf8))
    }

    /// Resume and overwrite together contradict each other: refused, and nothing is removed.
    @Test func resumeAndOverwriteTogetherAreRefused() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(into: directory, steps: 2)
        let before = try Self.contents(directory)
        #expect(throws: TrainingError.self) { try RunDirectory.claim(directory, resume: true, overwrite: true) }
        #expect(try Self.contents(directory) == before)
    }

    @Test func resumeStillContinuesTheRun() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(into: directory, steps: 2)
        try Self.train(into: directory, steps: 4, resume: true)
        #expect(try Self.startRecords(directory) == ["false", "true"])
    }
}
