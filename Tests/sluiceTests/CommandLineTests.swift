import Foundation
import Testing

/// The `sluice` binary as a user runs it: exit codes, messages, Ctrl-C.
struct CommandLineTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = repository.appendingPathComponent(".build/debug/sluice")

    struct Result {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Starts sluice in the repository; `whileRunning` gets the process (e.g. to signal it) and a
    /// reader of what it has printed to standard error so far. `environment` is added to this
    /// process's (e.g. the endpoint and keys of a test S3 server). `unprivileged` runs it as
    /// nobody when this process is root, for whom file permissions do not hold. `directory` is where
    /// it runs (the repository unless a test runs it as an installed binary, from elsewhere).
    func sluice(_ arguments: [String], environment: [String: String] = [:], unprivileged: Bool = false, in directory: URL = repository,
                whileRunning: (Process, () -> String) -> Void = { _, _ in }) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if unprivileged && geteuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Self.binary.path] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory
        // Standard error to a file, so it can be read while the process runs and never fills a pipe.
        let errorFile = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-cli-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let errorsSoFar = { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }
        whileRunning(process, errorsSoFar)
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self), errors: errorsSoFar())
    }

    func scratch() throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func validateAcceptsTheDemoAndRejectsMistakesWithTheirLines() throws {
        let ok = try sluice(["validate", "pipelines/demo.yaml"])
        #expect(ok.status == 0)
        #expect(ok.output.contains("ok: 'demo'"))

        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.yaml")
        try "name: bad\noutput: out/bad\nsource: {type: files, paths: samples}\nsink:\n  type: jsnl\n"
            .write(to: bad, atomically: true, encoding: .utf8)
        let result = try sluice(["validate", bad.path])
        #expect(result.status == 65)
        #expect(result.errors.contains("bad.yaml:5:9: sink.type: unknown stage type 'jsnl'; did you mean 'jsonl'?"))
    }

    /// `validate` used to say ok where `run` then failed ("cannot read the dataset index"): a
    /// pipeline reading shards another pipeline writes is now said to be right but not runnable yet
    /// (exit 74), naming the pipeline to run first; once that has run, it is ok. An output path
    /// taken by a directory is found the same way.
    @Test func validateSaysWhichPipelineMustRunFirstAndWhichOutputIsTaken() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (make, use) = (dir.appendingPathComponent("make.yaml"), dir.appendingPathComponent("use.yaml"))
        try """
            name: make
            output: \(dir.path)/out/make
            source: {type: files, paths: samples/smoke}
            sink: {type: shard_writer, path: blocks, columns: ["path:str"]}
            """.write(to: make, atomically: true, encoding: .utf8)
        try """
            name: use
            output: \(dir.path)/out/use
            source: {type: shards, paths: [\(dir.path)/out/make/blocks]}
            sink: {type: jsonl, path: paths.jsonl}
            """.write(to: use, atomically: true, encoding: .utf8)

        let early = try sluice(["validate", use.path])
        #expect(early.status == 74)
        #expect(early.errors.contains("use.yaml:3:31: source.paths: \(dir.path)/out/make/blocks holds no dataset yet (no index.json); "
                                      + "it is written by \(make.path) (output \(dir.path)/out/make): run that first"), "\(early.errors)")
        #expect(early.errors.contains("\(use.path): the file is right, but 'use' cannot run as things stand"))
        #expect(!early.output.contains("ok"))

        #expect(try sluice(["run", make.path, "--quiet"]).status == 0)
        let ready = try sluice(["validate", use.path])
        #expect(ready.status == 0, "\(ready.errors)")
        #expect(ready.output.contains("ok: 'use'"))

        try FileManager.default.createDirectory(at: dir.appendingPathComponent("out/use/paths.jsonl"), withIntermediateDirectories: true)
        let taken = try sluice(["validate", use.path])
        #expect(taken.status == 74)
        #expect(taken.errors.contains("sink.path: \(dir.path)/out/use/paths.jsonl: is a directory; this sink writes a JSON lines file there"),
                "\(taken.errors)")
    }

    /// A `--set` mistake used to be reported at the file line of the value it replaced, a valid one.
    @Test func aSetMistakeNamesTheSetArgumentNotALineOfTheFile() throws {
        let result = try sluice(["run", "pipelines/demo.yaml", "--set", "options.on_error=skipp", "--set", "stages.0.wokers=2"])
        #expect(result.status == 65)
        #expect(result.errors.contains("--set options.on_error=skipp: options.on_error: 'skipp' is not one of fail, skip; did you mean 'skip'?"))
        #expect(result.errors.contains("--set stages.0.wokers=2: stages[0].wokers: unknown key; did you mean 'workers'?"))
        #expect(!result.errors.contains("demo.yaml:"))
    }

    /// `output: s3://...` once ran into a local directory named `s3:` and said the manifest was in the bucket.
    @Test func validateRefusesAURLAsTheRunsOutput() throws {
        let result = try sluice(["validate", "pipelines/demo.yaml", "--set", "output=s3://bucket/prefix"])
        #expect(result.status == 65)
        #expect(result.errors.contains("--set output=s3://bucket/prefix: output: 's3://bucket/prefix': the run's output must be a local directory"))
        #expect(!FileManager.default.fileExists(atPath: Self.repository.appendingPathComponent("s3:").path))
    }

    /// A directory that cannot be listed used to be left out without a word.
    @Test func anUnreadableFileAndAnUnlistableDirectoryAreQuarantinedWithTheReason() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input.appendingPathComponent("locked"), withIntermediateDirectories: true)
        for name in ["a.txt", "secret.txt", "locked/z.txt"] { try Data("abc".utf8).write(to: input.appendingPathComponent(name)) }
        let pipeline = dir.appendingPathComponent("sums.yaml")
        try """
            name: sums
            output: \(dir.path)/out
            options: {on_error: skip}
            source: {type: files, paths: \(input.path)}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """.write(to: pipeline, atomically: true, encoding: .utf8)
        guard chmod(dir.path, 0o777) == 0, chmod(input.appendingPathComponent("secret.txt").path, 0) == 0,
              chmod(input.appendingPathComponent("locked").path, 0) == 0 else { throw CocoaError(.fileWriteNoPermission) }
        defer { chmod(input.appendingPathComponent("locked").path, 0o755) }
        let result = try sluice(["run", pipeline.path, "--quiet"], unprivileged: true)
        #expect(result.status == 0, "\(result.errors)")
        let sums = try String(contentsOf: dir.appendingPathComponent("out/sums.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(sums.count == 1 && sums[0].contains("a.txt"))
        let quarantine = try String(contentsOf: dir.appendingPathComponent("out/quarantine.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .map { "\($0["item"] ?? ""): \($0["error"] ?? "")" }
        #expect(quarantine.count == 2)
        #expect(quarantine.contains { $0.hasSuffix("in/locked: cannot list the directory: Permission denied") })
        #expect(quarantine.contains { $0.contains("in/secret.txt") && $0.contains("cannot open for reading") })
    }

    @Test func interruptStopsCleanlyWithAManifest() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Sparse 256 MB files, a tenth of a second or more of hashing each and no disk space:
        // the run lasts far longer than the first progress line takes to come.
        let files = 400
        for index in 0..<files {
            let file = dir.appendingPathComponent("in/big-\(index).bin")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            try handle.truncate(atOffset: 256 << 20)
            try handle.close()
        }
        let pipeline = dir.appendingPathComponent("hash.yaml")
        try """
            name: hash
            output: \(dir.path)/out
            options: {chunk_size: 1, queue_capacity: 1}
            source: {type: files, paths: \(dir.path)/in}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """.write(to: pipeline, atomically: true, encoding: .utf8)
        let result = try sluice(["run", pipeline.path]) { process, errors in
            // The first progress line comes after Ctrl-C is being watched and the run has started.
            while process.isRunning && !errors().contains("checksum") { usleep(10_000) }
            kill(process.processIdentifier, SIGINT)
        }
        #expect(result.status == 130)
        #expect(result.errors.contains("stopping: draining in-flight items"))
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("out/manifest.json"))) as? [String: Any]
        #expect(manifest?["completion"] as? String == "stopped")
        // A stopped run is not a finished one: nothing gets the final name, and the .partial
        // holds the files hashed before the interrupt and those in flight at it, not all of them.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/sums.jsonl").path))
        let lines = try String(contentsOf: dir.appendingPathComponent("out/sums.jsonl.partial"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count > 0 && lines.count < files)
        #expect(lines.allSatisfy { $0.contains("\"sha256\"") })
        // The last line says so: how far it got and where the output was left.
        let out = dir.appendingPathComponent("out").path
        #expect(result.errors.split(separator: "\n").last.map(String.init) ==
            "stopped by Ctrl-C after the sink took \(lines.count) items; "
            + "\(out)/sums.jsonl left as \(out)/sums.jsonl.partial (rerun to redo)")
    }
}
