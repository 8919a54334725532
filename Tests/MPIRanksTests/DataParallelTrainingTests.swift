import Foundation
import Testing

/// `mpiexec -n W sluice retromae train --batch-size b` against one process at `--batch-size W*b`:
/// the same global batches, masked alike, so the same losses step after step (a wrong gradient
/// average shows from the second step on).
@Suite(.serialized) struct DataParallelTrainingTests {
    /// Lines of exactly 20 one-token words, each a block of its own at --max-length 22, so every
    /// rank's part of a batch masks the same number of tokens: the mean of the ranks' mean losses
    /// is then exactly the global batch's mean (with unequal counts, data-parallel averaging, like
    /// PyTorch DDP's, weights ranks equally instead of tokens).
    static func corpus() throws -> (directory: URL, corpus: String, vocab: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-dp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let letters = "abcdefghijklmnopqrstuvwxyz".map(String.init)
        let words: [String] = (0..<40).map { (index: Int) -> String in "w" + letters[index % 26] + letters[index / 26] }
        var generator = UInt64(7)
        func next() -> Int {
            generator = generator &* 6364136223846793005 &+ 1442695040888963407
            return Int(generator >> 33) % words.count
        }
        let lines = (0..<60).map { _ in (0..<20).map { _ in words[next()] }.joined(separator: " ") }
        let corpus = directory.appendingPathComponent("corpus.txt"), vocab = directory.appendingPathComponent("vocab.txt")
        // Stage 2's pairs: a line's first five words as the query, the line as its passage.
        let pairs = lines.prefix(30).map { line in line.split(separator: " ").prefix(5).joined(separator: " ") + "\t" + line }
        try (pairs.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("pairs.tsv"), atomically: true, encoding: .utf8)
        try (lines.joined(separator: "\n") + "\n").write(to: corpus, atomically: true, encoding: .utf8)
        try ((["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words).joined(separator: "\n") + "\n")
            .write(to: vocab, atomically: true, encoding: .utf8)
        return (directory, corpus.path, vocab.path)
    }

    /// The train losses rank 0 logged, step by step (a resumed run logs again the steps after its
    /// checkpoint: the last record of a step counts).
    static func losses(_ run: URL, _ name: String = "loss") throws -> [Double] {
        var byStep: [Int: Double] = [:]
        for line in try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard record?["kind"] as? String == "train", let step = record?["step"] as? Int, let loss = record?[name] as? Double else { continue }
            byStep[step] = loss
        }
        return byStep.keys.sorted().map { byStep[$0]! }
    }

    static func train(ranks: Int?, batch: Int, out: URL, data: (directory: URL, corpus: String, vocab: String),
                      steps: Int = 3, extra: [String] = [],
                      whileRunning: (Process, () -> String) throws -> Void = { _, _ in }) throws -> MPIJob {
        try MPIJob.run(ranks: ranks, MPIJob.sluice, [
            "retromae", "train", "--in", data.corpus, "--format", "lines", "--vocab", data.vocab, "--out", out.path,
            "--max-length", "22", "--batch-size", String(batch), "--eval-blocks", "2", "--threads", "1",
            "--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64", "--max-positions", "32",
            "--dropout", "0", "--lr", "1e-2", "--steps", String(steps), "--log-every", "1", "--eval-every", "1000",
        ] + extra, whileRunning: whileRunning)
    }

    @Test(arguments: [2, 3]) func ranksOfBatchBGiveTheLossesOfOneProcessOfBatchWB(ranks: Int) throws {
        let data = try Self.corpus()
        defer { try? FileManager.default.removeItem(at: data.directory) }
        let single = try Self.train(ranks: nil, batch: 6, out: data.directory.appendingPathComponent("single"), data: data)
        #expect(single.status == 0, "\(single.errors)")
        let parallel = try Self.train(ranks: ranks, batch: 6 / ranks, out: data.directory.appendingPathComponent("parallel"), data: data)
        #expect(parallel.status == 0, "\(parallel.errors)")
        #expect(parallel.errors.contains("sluice: \(ranks) MPI ranks: rank 0 = pid"))
        let expected = try Self.losses(data.directory.appendingPathComponent("single"))
        let got = try Self.losses(data.directory.appendingPathComponent("parallel"))
        #expect(expected.count == 3 && got.count == 3)
        for (a, b) in zip(expected, got) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "losses \(expected) vs \(got)") }
        // The learning rate is high enough that a step changes the loss: step 3 tests two averaged updates.
        #expect(abs(expected[2] - expected[0]) > 1e-3)
        // Only rank 0 wrote the run's files; one progress line per step, not one per rank.
        #expect(parallel.output.components(separatedBy: "retromae step 1/3").count == 2)
    }

    /// Stage 2: the contrastive term over the all-gathered embeddings of W ranks of pair batch p is
    /// the one-process term of pair batch W*p. (A tiny model at initialisation embeds everything
    /// alike, so its contrastive gradient is small beside MLM's: the losses of later steps check
    /// the MLM updates more than the contrastive ones.)
    @Test(arguments: [2, 3]) func contrastiveLossOverGatheredEmbeddingsIsTheGlobalBatchs(ranks: Int) throws {
        let data = try Self.corpus()
        defer { try? FileManager.default.removeItem(at: data.directory) }
        let pairs = data.directory.appendingPathComponent("pairs.tsv").path
        let single = try Self.train(ranks: nil, batch: 6, out: data.directory.appendingPathComponent("single"), data: data,
                                    extra: ["--pairs", pairs, "--pair-batch-size", "6", "--pair-max-length", "24"])
        #expect(single.status == 0, "\(single.errors)")
        let parallel = try Self.train(ranks: ranks, batch: 6 / ranks, out: data.directory.appendingPathComponent("parallel"), data: data,
                                      extra: ["--pairs", pairs, "--pair-batch-size", String(6 / ranks), "--pair-max-length", "24"])
        #expect(parallel.status == 0, "\(parallel.errors)")
        let expected = try Self.losses(data.directory.appendingPathComponent("single"), "contrastive")
        let got = try Self.losses(data.directory.appendingPathComponent("parallel"), "contrastive")
        #expect(expected.count == 3 && got.count == 3)
        for (a, b) in zip(expected, got) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "contrastive \(expected) vs \(got)") }
        let total = try Self.losses(data.directory.appendingPathComponent("single")), parallelTotal = try Self.losses(data.directory.appendingPathComponent("parallel"))
        for (a, b) in zip(total, parallelTotal) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "losses \(total) vs \(parallelTotal)") }
    }

    /// A rank killed mid-run ends the job at once (the launcher's report names its pid, which rank
    /// 0's first line maps to a rank); the checkpoint rank 0 wrote resumes it on another world
    /// size with the global batch kept, and the losses go on as if nothing had happened.
    // A job that outlives its killed rank hangs: the time limit turns that into a failure.
    @Test(.timeLimit(.minutes(5))) func aRankKilledMidTrainingEndsTheJobAndEveryRankResumesOnAnotherWorldSize() throws {
        let data = try Self.corpus()
        defer { try? FileManager.default.removeItem(at: data.directory) }
        let whole = data.directory.appendingPathComponent("whole"), split = data.directory.appendingPathComponent("split")
        let steps = 30, extra = ["--checkpoint-every", "2"]
        #expect(try Self.train(ranks: 2, batch: 3, out: whole, data: data, steps: steps, extra: extra).status == 0)
        let killed = try Self.train(ranks: 2, batch: 3, out: split, data: data, steps: steps, extra: extra) { process, errors in
            let checkpoint = split.appendingPathComponent("checkpoint.safetensors").path
            while process.isRunning, !FileManager.default.fileExists(atPath: checkpoint) { Thread.sleep(forTimeInterval: 0.02) }
            let line = errors().split(separator: "\n").first { $0.contains("MPI ranks:") } ?? ""
            let pid = line.components(separatedBy: "rank 1 = pid ").dropFirst().first?.prefix { $0.isNumber }
            if let pid = pid.flatMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        #expect(killed.status != 0)
        // Ended by the kill, not by running out of steps.
        #expect(try Self.losses(split).count < steps)
        #expect(killed.output.contains("Killed (signal 9)"), "\(killed.output)")
        let resumed = try Self.train(ranks: 3, batch: 2, out: split, data: data, steps: steps, extra: extra + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.errors)")
        #expect(resumed.errors.contains("resumed at update "))
        let expected = try Self.losses(whole), got = try Self.losses(split)
        #expect(expected.count == steps && got.count == steps)
        for (a, b) in zip(expected, got) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "losses \(expected) vs \(got)") }
    }
}
