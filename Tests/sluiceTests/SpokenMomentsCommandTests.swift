import Foundation
import Testing

/// `sluice spoken-moments train`, `eval`, `embed` and `search` as a user runs them.
extension CommandLineTests {
    /// After a kill -9 the same command with --resume takes the updates the whole run took, its
    /// manifest read from where the checkpoint stopped: no clip consumed is decoded again.
    @Test func spokenMomentsKillNineThenResumeContinuesWithTheSameLosses() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func arguments(_ out: URL) -> [String] {
            ["spoken-moments", "train", "--manifest", "samples/shapes/manifest.jsonl", "--out", out.path, "--frames", "2", "--size", "16",
             "--batch-size", "4", "--steps", "8", "--log-every", "1", "--checkpoint-every", "2", "--eval-every", "1000",
             "--video-layers", "2", "--video-width", "4", "--audio-width", "4", "--embedding", "8", "--threads", "1"]
        }
        func losses(_ output: String) -> [Int: String] {
            var lines: [Int: String] = [:]
            for line in output.split(separator: "\n") where line.hasPrefix("spoken-moments step ") {
                lines[Int(line.dropFirst(20).prefix { $0 != "/" }) ?? -1] = String(line.prefix { $0 != "|" })
            }
            return lines
        }
        let whole = try sluice(arguments(dir.appendingPathComponent("whole")))
        #expect(whole.status == 0, "\(whole.errors)")
        let expected = losses(whole.output)
        #expect(expected.count == 8)

        let out = dir.appendingPathComponent("killed"), checkpoint = out.appendingPathComponent("checkpoint.safetensors")
        let killed = try sluice(arguments(out)) { process, _ in
            while !FileManager.default.fileExists(atPath: checkpoint.path) && process.isRunning { usleep(2_000) }
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(killed.status == SIGKILL)
        let resumed = try sluice(arguments(out) + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = losses(resumed.output)
        #expect(resumed.errors.contains("resumed at update \(8 - after.count)") && after.count <= 6)
        #expect(resumed.errors.contains(", the source read to epoch ") && resumed.errors.contains("manifest: resuming at epoch "), "\(resumed.errors)")
        for (step, line) in after { #expect(line == expected[step]) }
    }

    /// A manifest of 100,000 rows (the sample clips over and over) is streamed, not held: training
    /// starts at once and the resident memory its records show stays flat from update 40 to 160.
    @Test func aHundredThousandRowManifestTrainsInFlatMemory() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let samples = Self.repository.appendingPathComponent("samples/shapes")
        let rows = try String(contentsOf: samples.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        var lines: [String] = []
        for n in 0..<100_000 {
            var row = rows[n % rows.count]
            row["id"] = "clip-\(n)"
            for key in ["video", "audio"] { row[key] = samples.appendingPathComponent(row[key] as! String).path }
            if n >= rows.count, row["split"] as? String == "test" { row["split"] = "train" }
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: row, options: .sortedKeys), as: UTF8.self))
        }
        let manifest = dir.appendingPathComponent("big.jsonl"), out = dir.appendingPathComponent("run")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: manifest)

        let run = try sluice(["spoken-moments", "train", "--manifest", manifest.path, "--out", out.path, "--frames", "2", "--size", "16",
                              "--batch-size", "4", "--steps", "160", "--log-every", "20", "--eval-every", "1000",
                              "--video-layers", "2", "--video-width", "4", "--audio-width", "4", "--embedding", "8", "--threads", "1"])
        #expect(run.status == 0, "\(run.errors)")
        let records = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            .filter { $0["kind"] as? String == "train" }
        let resident = Dictionary(uniqueKeysWithValues: records.compactMap { r in (r["step"] as? Int).map { ($0, r["resident_mb"] as? Double ?? .nan) } })
        let (early, late) = (try #require(resident[40]), try #require(resident[160]))
        // Holding the decoded clips would take 100,000 x 50 kB = 5 GB; one more batch in flight is well under 1 MB.
        #expect(late < 1024 && late - early < 32, "resident \(early) MB at update 40, \(late) MB at 160")
    }

    /// Two updates of a tiny model on 2 frames of 16 x 16.
    static func tinySpokenMomentsRun(manifest: String, out: URL) -> [String] {
        ["spoken-moments", "train", "--manifest", manifest, "--out", out.path, "--frames", "2", "--size", "16", "--batch-size", "4",
         "--steps", "2", "--video-layers", "2", "--video-width", "4", "--audio-width", "4", "--embedding", "8", "--threads", "1"]
    }

    @Test func spokenMomentsTrainEvalEmbedSearch() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run"), index = dir.appendingPathComponent("index")
        let manifest = "samples/shapes/manifest.jsonl"
        let train = try sluice(Self.tinySpokenMomentsRun(manifest: manifest, out: out) + ["--pooling", "mean"])
        #expect(train.status == 0, "\(train.errors)")
        let checkpoint = out.appendingPathComponent("checkpoint.safetensors").path

        // The clip shape and settings come from the checkpoint: no --frames, --size or widths here.
        let eval = try sluice(["spoken-moments", "eval", "--checkpoint", checkpoint, "--manifest", manifest, "--label", "direction", "--threads", "1"])
        #expect(eval.status == 0, "\(eval.errors)")
        #expect(eval.output.contains("6 pairs per set, 1 set averaged; chance R@1 16.7%"))
        #expect(eval.output.contains("video -> caption: R@1 ") && eval.output.contains("caption -> video: R@1 "))
        #expect(eval.output.contains("direction at rank 1, caption -> video: ") && eval.output.contains("(chance "))

        let embed = try sluice(["spoken-moments", "embed", "--checkpoint", checkpoint, "--manifest", manifest, "--split", "",
                                "--out", index.path, "--threads", "1"])
        #expect(embed.status == 0, "\(embed.errors)")
        let header = String(decoding: try Data(contentsOf: index.appendingPathComponent("video.npy")).prefix(128), as: UTF8.self)
        #expect(header.contains("'shape': (24, 8)") && header.contains("<f4"))
        let ids = try String(contentsOf: index.appendingPathComponent("ids.txt"), encoding: .utf8).split(separator: "\n")
        #expect(ids.count == 24 && ids.first == "shapes-00000")
        let again = try sluice(["spoken-moments", "embed", "--checkpoint", checkpoint, "--manifest", manifest, "--out", index.path])
        #expect(again.status != 0 && again.errors.contains("exists; give --out a new directory"))

        let search = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path,
                                 "--audio", "samples/shapes/audio/shapes-00000.wav", "--top", "3"])
        #expect(search.status == 0, "\(search.errors)")
        let rows = search.output.split(separator: "\n")
        #expect(rows.count == 3 && rows.allSatisfy { $0.split(separator: "\t").count == 3 && ids.contains($0.split(separator: "\t")[1]) })
        #expect(!FileManager.default.fileExists(atPath: index.appendingPathComponent("text.npy").path))
        let written = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path, "--text", "a red circle"])
        #expect(written.status != 0 && written.errors.contains("\(checkpoint): trained without the caption text branch"), "\(written.errors)")

        // A damaged index is an error naming the file.
        try Data("not numpy".utf8).write(to: index.appendingPathComponent("caption.npy"))
        let damaged = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path,
                                  "--video", "samples/shapes/video/shapes-00001.mkv"])
        #expect(damaged.status != 0 && damaged.errors.contains("caption.npy: no .npy magic"))
    }

    @Test func spokenMomentsTrainQuarantinesBrokenManifestEntriesAndTrainsOnTheRest() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let samples = Self.repository.appendingPathComponent("samples")
        var rows = try String(contentsOf: samples.appendingPathComponent("shapes/manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(8).map { $0.replacingOccurrences(of: "\": \"video/", with: "\": \"\(samples.path)/shapes/video/")
                .replacingOccurrences(of: "\": \"audio/", with: "\": \"\(samples.path)/shapes/audio/") }
        rows += ["{\"id\": \"no-track\", \"video\": \"\(samples.path)/shapes/rotated-90.mp4\", \"split\": \"train\"}",
                 "{\"id\": \"undecodable\", \"video\": \"\(samples.path)/broken/truncated.mp4\", \"split\": \"train\"}",
                 "{not json",
                 "{\"id\": \"missing\", \"video\": \"missing.mp4\", \"audio\": \"missing.wav\", \"split\": \"train\"}"]
        let manifest = dir.appendingPathComponent("clips.jsonl")
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: manifest)
        let out = dir.appendingPathComponent("run")

        let result = try sluice(["spoken-moments", "train", "--manifest", manifest.path, "--out", out.path, "--frames", "4",
                                 "--size", "16", "--batch-size", "3", "--threads", "1", "--steps", "2", "--log-every", "1",
                                 "--eval-every", "1000", "--video-width", "8", "--audio-width", "8", "--embedding", "16"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("spoken-moments step 2/2 loss"))
        #expect(result.errors.contains("item(s) skipped; see \(out.path)/quarantine.jsonl"), "\(result.errors)")

        // Each bad clip is named with its manifest line and the reason (again in each epoch that tries it).
        let records = try String(contentsOf: out.appendingPathComponent("quarantine.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let reasons = Dictionary(records.map { ($0["item"] as? String ?? "", $0["error"] as? String ?? "") }) { first, _ in first }
        #expect(Set(reasons.keys) == ["no-track", "undecodable", "\(manifest.path):11", "missing"], "\(reasons)")
        #expect(reasons["no-track"]?.contains("no audio stream") == true && reasons["no-track"]?.contains("clips.jsonl:9") == true)
        #expect(reasons["undecodable"]?.contains("truncated.mp4") == true)
        #expect(reasons["\(manifest.path):11"]?.contains("not a JSON object") == true)
        #expect(reasons["missing"]?.contains("missing.mp4") == true)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint.safetensors").path))
    }

    /// With --text-branch the caption text is a third tower: eval ranks it against video, embed
    /// writes text.npy, and search takes a written query.
    @Test func spokenMomentsTextBranchTrainsEmbedsAndSearchesText() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run"), index = dir.appendingPathComponent("index")
        let manifest = "samples/shapes/manifest.jsonl"
        let train = try sluice(Self.tinySpokenMomentsRun(manifest: manifest, out: out) + ["--text-branch", "--text-width", "8", "--text-features", "8"])
        #expect(train.status == 0, "\(train.errors)")
        #expect(train.output.contains("video_text ") && train.output.contains("text_to_video_r1 "))
        let checkpoint = out.appendingPathComponent("checkpoint.safetensors").path

        let eval = try sluice(["spoken-moments", "eval", "--checkpoint", checkpoint, "--manifest", manifest, "--threads", "1"])
        #expect(eval.status == 0 && eval.output.contains("text -> video: R@1 ") && eval.output.contains("video -> text: R@1 "), "\(eval.errors)")

        let embed = try sluice(["spoken-moments", "embed", "--checkpoint", checkpoint, "--manifest", manifest, "--split", "",
                                "--out", index.path, "--threads", "1"])
        #expect(embed.status == 0, "\(embed.errors)")
        let header = String(decoding: try Data(contentsOf: index.appendingPathComponent("text.npy")).prefix(128), as: UTF8.self)
        #expect(header.contains("'shape': (24, 8)"))

        let search = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path,
                                 "--text", "a red circle moving left", "--top", "4"])
        #expect(search.status == 0, "\(search.errors)")
        let rows = search.output.split(separator: "\n")
        #expect(rows.count == 4 && rows.allSatisfy { $0.hasPrefix("\(rows.firstIndex(of: $0)! + 1)\tshapes-") })
        let both = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path, "--text", "a", "--audio", "x.wav"])
        #expect(both.status != 0 && both.errors.contains("give one query"))
    }

    /// Outside a clone the clip trainers' default vocabulary is not there: both commands and the
    /// capsules sink refuse at once, saying where it was looked for and how to give another, and
    /// the commands write nothing into OUT.
    @Test func theDefaultVocabularyMissingFromAnotherDirectoryIsNamed() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = Self.repository.appendingPathComponent("samples/shapes/manifest.jsonl").path
        for command in [["capsules", "train"], ["spoken-moments", "train", "--text-branch"]] {
            let out = dir.appendingPathComponent(command[0])
            let result = try sluice(command + ["--manifest", manifest, "--out", out.path, "--steps", "1"], in: dir)
            #expect(result.status == 64, "\(command): \(result.errors)")
            #expect(result.errors.contains("the vocabulary samples/text/bert-base-uncased-vocab.txt (the default of --vocab) was not found "
                                           + "relative to the current directory \(dir.path); give --vocab PATH"), "\(result.errors)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        // The pipeline sink's `vocab` has the same default and says the same, before anything runs.
        let pipeline = try sluice(["run", Self.repository.appendingPathComponent("pipelines/capsules-onthefly.yaml").path,
                                   "--set", "output=\(dir.path)/pipeline", "--set", "source.path=\(manifest)"], in: dir)
        #expect(pipeline.status == 65)
        #expect(pipeline.errors.contains("capsules_train: the vocabulary samples/text/bert-base-uncased-vocab.txt (the default of vocab:) "
                                         + "was not found relative to the current directory \(dir.path); give vocab: PATH"), "\(pipeline.errors)")
    }
}

/// One data path: the clip trainers run the pipeline `--print-pipeline` prints, and the on-the-fly
/// pipeline files are such prints, of the command on their first line.
extension CommandLineTests {
    @Test func theOnTheFlyPipelineFilesAreWhatTheTrainCommandsRun() throws {
        for name in ["spoken-moments-onthefly.yaml", "capsules-onthefly.yaml"] {
            let file = try String(contentsOf: Self.repository.appendingPathComponent("pipelines/\(name)"), encoding: .utf8)
            let first = try #require(file.split(separator: "\n").first)
            let command = try #require(first.split(separator: "`").dropFirst().first, "\(name): no command on its first line")
            let words = command.split(separator: " ").map(String.init)
            #expect(words.first == "sluice")
            let printed = try sluice(Array(words.dropFirst()) + ["--print-pipeline"])
            #expect(printed.status == 0, "\(printed.errors)")
            #expect(printed.output == file, "\(name) is not what `\(command) --print-pipeline` prints")
        }
        // With --augment the same pipeline gains the augmentation stages, each seeded.
        let augmented = try sluice(["capsules", "train", "--manifest", "samples/shapes/manifest.jsonl", "--out", "o", "--augment", "--noise", "0.2",
                                    "--print-pipeline"])
        for stage in ["jitter: true", "type: frame_augment", "type: audio_augment", "type: spec_augment", "window: random", "mismatch: 0.2"] {
            #expect(augmented.output.contains(stage), "\(stage)")
        }
    }
}
