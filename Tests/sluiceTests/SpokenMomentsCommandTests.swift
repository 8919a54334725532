import Foundation
import Testing

/// `sluice spoken-moments train`, then `eval`, `embed` and `search` on what it wrote, as a user runs them.
extension CommandLineTests {
    @Test func spokenMomentsTrainEvalEmbedSearch() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run"), index = dir.appendingPathComponent("index")
        let manifest = "samples/shapes/manifest.jsonl"
        let train = try sluice(["spoken-moments", "train", "--manifest", manifest, "--out", out.path, "--frames", "2", "--size", "16",
                                "--batch-size", "4", "--steps", "2", "--video-layers", "2", "--video-width", "4", "--audio-width", "4",
                                "--embedding", "8", "--pooling", "mean", "--threads", "1"])
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

        let search = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path,
                                 "--audio", "samples/shapes/audio/shapes-00000.wav", "--top", "3"])
        #expect(search.status == 0, "\(search.errors)")
        let rows = search.output.split(separator: "\n")
        #expect(rows.count == 3 && rows.allSatisfy { $0.split(separator: "\t").count == 3 && ids.contains($0.split(separator: "\t")[1]) })

        // A damaged index is an error naming the file.
        try Data("not numpy".utf8).write(to: index.appendingPathComponent("caption.npy"))
        let damaged = try sluice(["spoken-moments", "search", "--checkpoint", checkpoint, "--index", index.path,
                                  "--video", "samples/shapes/video/shapes-00001.mkv"])
        #expect(damaged.status != 0 && damaged.errors.contains("caption.npy: no .npy magic"))
    }
}
