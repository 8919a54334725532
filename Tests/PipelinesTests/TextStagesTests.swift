import Foundation
import PipelineCore
import Pipelines
import Testing

/// Text stages in pipeline files: corpus source, packing, RetroMAE batches, quarantine.
struct TextStagesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let vocab = root.appendingPathComponent("samples/text/bert-base-uncased-vocab.txt").path

    @Test func packsTheCorpusIntoBlocksAndBatches() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var corpus = Data("The first document. It has two sentences.\n".utf8)
        corpus += Data([0x62, 0xFF, 0x0A])      // line 2: invalid UTF-8, quarantined
        corpus += Data((String(repeating: "word ", count: 100) + "\n").utf8)
        try corpus.write(to: dir.appendingPathComponent("corpus.txt"))
        let plan = try PipelineFile().plan(yaml: """
            name: text
            output: \(dir.path)/out
            options: {on_error: skip}
            source: {type: text, paths: "\(dir.path)/corpus.txt"}
            stages:
              - {type: pack, tokenizer: "\(Self.vocab)", max_length: 32, workers: 2}
              - {type: retromae_collate, tokenizer: "\(Self.vocab)", max_length: 32, batch_size: 4}
            sink: {type: jsonl, path: batches.jsonl}
            """, file: "text.yaml")
        let outcome = try PipelineRunner(plan: plan, progress: nil).run()
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.count == 1)
        let batches = try String(contentsOfFile: "\(dir.path)/out/batches.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        // 1 block from the first document, 100 words in blocks of 30: 4 blocks; 5 blocks in 2 batches.
        #expect(batches.count == 2)
        let first = try #require(batches.first)
        let ids = try #require(first["decoder_input_ids"] as? [[Int]])
        #expect(ids.count == 4 && ids.allSatisfy { $0.count == 32 })
        #expect(ids[0].prefix(4) == [101, 1996, 2034, 6254])   // [CLS] the first document
        let mask = try #require(first["decoder_attention_mask"] as? [[[Int]]])
        #expect(mask[1][5][5] == 0 && mask[1][5][0] == 1)
    }

    @Test func masksTokenizedTextWithLabels() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-mlm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data((0..<50).map { "sentence number \($0) about tokenization and masking" }.joined(separator: "\n").utf8)
            .write(to: dir.appendingPathComponent("corpus.txt"))
        let plan = try PipelineFile().plan(yaml: """
            name: mlm
            output: \(dir.path)/out
            source: {type: text, paths: "\(dir.path)/corpus.txt"}
            stages:
              - {type: tokenize, tokenizer: "\(Self.vocab)", workers: 2}
              - {type: mlm_mask, tokenizer: "\(Self.vocab)", ratio: 0.3, seed: 7}
            sink: {type: jsonl, path: masked.jsonl}
            """, file: "mlm.yaml")
        #expect(try PipelineRunner(plan: plan, progress: nil).run().report.completion == .finished)
        let rows = try String(contentsOfFile: "\(dir.path)/out/masked.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(rows.count == 50)
        for row in rows {
            let ids = try #require(row["input_ids"] as? [Int]), labels = try #require(row["labels"] as? [Int])
            #expect(ids.first == 101 && ids.last == 102 && labels.first == -100 && labels.last == -100)
            // round(0.3 x the tokens between [CLS] and [SEP]) are masked, whole words at a time.
            #expect(labels.filter { $0 != -100 }.count == Int((0.3 * Double(ids.count - 2)).rounded()))
        }
    }
}
