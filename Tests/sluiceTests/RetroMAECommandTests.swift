import Foundation
import Testing

/// `sluice retromae train` and `sluice retromae embed` as a user runs them.
extension CommandLineTests {
    static func retromaeArguments(out: URL, steps: Int) -> [String] {
        ["retromae", "train", "--in", "samples/text/corpus.txt", "--format", "paragraphs",
         "--vocab", "samples/retromae/vocab.txt", "--out", out.path, "--hidden", "32", "--layers", "1", "--heads", "2",
         "--intermediate", "64", "--max-length", "32", "--batch-size", "4", "--eval-blocks", "8", "--steps", "\(steps)",
         "--log-every", "1", "--checkpoint-every", "2", "--eval-every", "1000", "--threads", "1"]
    }

    /// The losses of each progress line ("retromae step 3/12 loss ... lr ..."), timing figures left out.
    static func lossLines(_ output: String) -> [Int: String] {
        var lines: [Int: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("retromae step ") {
            let step = Int(line.dropFirst(14).prefix { $0 != "/" }) ?? -1
            lines[step] = String(line.prefix { $0 != "|" })
        }
        return lines
    }

    @Test func killNineThenResumeContinuesWithTheSameLosses() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let steps = 12
        let whole = try sluice(Self.retromaeArguments(out: dir.appendingPathComponent("whole"), steps: steps))
        #expect(whole.status == 0, "\(whole.errors)")
        let expected = Self.lossLines(whole.output)
        #expect(expected.count == steps)
        #expect(whole.output.contains("retromae eval step 12: mlm_loss"))

        let killedOut = dir.appendingPathComponent("killed")
        let checkpoint = killedOut.appendingPathComponent("checkpoint.safetensors")
        let killed = try sluice(Self.retromaeArguments(out: killedOut, steps: steps)) { process, _ in
            while !FileManager.default.fileExists(atPath: checkpoint.path) && process.isRunning { usleep(2_000) }
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(killed.status == SIGKILL)

        let resumed = try sluice(Self.retromaeArguments(out: killedOut, steps: steps) + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = Self.lossLines(resumed.output)
        let resumedAt = steps - after.count
        #expect(resumed.errors.contains("resumed at update \(resumedAt)") && resumedAt >= 2)
        for (step, line) in after { #expect(line == expected[step]) }
    }

    /// A second run into the same --out is refused before training and leaves the first run's files
    /// as they were; --overwrite starts over with one start record.
    @Test func aSecondRunIntoTheSameOutNeedsResumeOrOverwrite() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run"), metrics = out.appendingPathComponent("metrics.jsonl")
        let first = try sluice(Self.retromaeArguments(out: out, steps: 2))
        #expect(first.status == 0, "\(first.errors)")
        let before = try Data(contentsOf: metrics)
        let again = try sluice(Self.retromaeArguments(out: out, steps: 2))
        #expect(again.status == 65)
        #expect(again.errors.contains("\(out.path): holds another run (checkpoint.safetensors, events.out.tfevents."))
        #expect(again.errors.contains("--resume") && again.errors.contains("--overwrite"), "\(again.errors)")
        #expect(!again.output.contains("retromae step "))
        #expect(try Data(contentsOf: metrics) == before)

        let over = try sluice(Self.retromaeArguments(out: out, steps: 2) + ["--overwrite"])
        #expect(over.status == 0, "\(over.errors)")
        let starts = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").filter { $0.contains(#""kind":"start""#) }
        #expect(starts.count == 1)
    }

    @Test func embedWritesAnNpyOfTheTinyBertFixture() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let texts = dir.appendingPathComponent("texts.txt"), out = dir.appendingPathComponent("emb.npy")
        try "The quick brown fox.\nEvery cat sleeps!\n".write(to: texts, atomically: true, encoding: .utf8)
        let result = try sluice(["retromae", "embed", "--model", "Tests/ModelsTests/Fixtures/tiny-bert", "--in", texts.path,
                                 "--out", out.path, "--pooling", "mean", "--normalize"])
        #expect(result.status == 0, "\(result.errors)")
        let data = try Data(contentsOf: out)
        let header = String(decoding: data.prefix(128), as: UTF8.self)
        #expect(header.contains("'shape': (2, 32)") && header.contains("<f4"))
        let values = data.suffix(2 * 32 * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let norm = values.prefix(32).reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - 1) < 1e-5)

        // A directory without the model's files: the file, the operation and the reason in words.
        let missing = try sluice(["retromae", "embed", "--model", dir.path, "--in", texts.path, "--out", out.path])
        #expect(missing.status != 0)
        #expect(missing.errors.contains("\(dir.path)/config.json: cannot read the model's config: no such file or directory (ENOENT)"),
                "\(missing.errors)")
        #expect(!missing.errors.contains("The operation could not be completed"))
    }
}
