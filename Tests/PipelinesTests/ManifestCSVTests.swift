import Foundation
import PipelineCore
import Pipelines
import Testing

/// CSV and TSV clip manifests: the same rows as JSON lines give the same samples; quoting is the
/// CSV library's; a row of the wrong width is quarantined by file and line.
struct ManifestCSVTests {
    static let shapes = MediaStagesTests.root.appendingPathComponent("samples/shapes")

    func scratch() throws -> URL {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-csv-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs a manifest source into a jsonl sink and returns the records, and the outcome.
    func rows(_ source: String, out: URL, onError: String = "fail") throws -> ([[String: Any]], PipelineRunner.Outcome) {
        let outcome = try PipelineRunner(plan: PipelineFile().plan(yaml: """
            name: csv-test
            output: \(out.path)
            options: {on_error: \(onError)}
            source: \(source)
            sink: {type: jsonl, path: rows.jsonl}
            """, file: "test.yaml"), progress: nil).run()
        let text = (try? String(contentsOf: out.appendingPathComponent("rows.jsonl"), encoding: .utf8)) ?? ""
        return (try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }, outcome)
    }

    /// samples/shapes/manifest.jsonl written as CSV by Python's csv module (the outside reference),
    /// with `video` and `caption` under Hugging Face's names, read back with `columns`: every sample
    /// is the JSONL one, numbers included, rows one line further down (the header).
    @Test func aCSVOfTheSampleClipsGivesTheJSONLSamples() throws {
        let work = try scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        for folder in ["video", "audio"] {
            try FileManager.default.createSymbolicLink(at: work.appendingPathComponent(folder),
                                                       withDestinationURL: Self.shapes.appendingPathComponent(folder))
        }
        let csv = work.appendingPathComponent("metadata.csv")
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", """
            import csv, json, sys
            rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
            names = {"video": "file_name", "caption": "text"}
            columns = [names.get(key, key) for key in rows[0]]
            with open(sys.argv[2], "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([row[key] for key in row])
            """, Self.shapes.appendingPathComponent("manifest.jsonl").path, csv.path]
        try python.run()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)

        let (fromJSONL, _) = try rows("{type: manifest, path: \(Self.shapes.path)/manifest.jsonl}", out: work.appendingPathComponent("a"))
        let (fromCSV, outcome) = try rows("{type: manifest, path: \(csv.path), columns: [file_name:video, text:caption]}",
                                          out: work.appendingPathComponent("b"))
        #expect(outcome.report.completion == .finished)
        #expect(fromJSONL.count == 24 && fromCSV.count == 24)
        for (json, csv) in zip(fromJSONL, fromCSV) {
            var expected = json, got = csv
            let jsonLine = Int((expected.removeValue(forKey: "manifest_row") as! String).split(separator: ":").last!)!
            let csvRow = got.removeValue(forKey: "manifest_row") as! String
            #expect(csvRow == "\(work.path)/metadata.csv:\(jsonLine + 1)")
            for key in ["video", "audio"] {
                got[key] = (got[key] as! String).replacingOccurrences(of: work.path, with: Self.shapes.path)
            }
            #expect(NSDictionary(dictionary: got) == NSDictionary(dictionary: expected), "\(csvRow)")
            #expect(got["speed"] is Int)
        }
    }

    /// Quoted commas, doubled quotes and line breaks inside fields; a TSV; rows of the wrong width
    /// quarantined with the line they start on, which counts the line breaks inside earlier fields.
    @Test func quotingTSVAndBadRows() throws {
        let work = try scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let csv = work.appendingPathComponent("clips.csv")
        try Data("""
            id,video,caption,label\r
            a,a.mp4,"a cat, then a dog",3\r
            b,b.mp4,"she said ""hi""
            and left",007\r
            c,c.mp4,too,many,fields\r
            d,d.mp4,,1.5\r

            e,e.mp4,"multi
            line
            caption"\r
            f,f.mp4,"fine",-2\r

            """.utf8).write(to: csv)
        let (rows, outcome) = try rows("{type: manifest, path: \(csv.path)}", out: work.appendingPathComponent("out"), onError: "skip")
        #expect(rows.map { $0["id"] as? String } == ["a", "b", "d", "f"])
        #expect(rows[0]["caption"] as? String == "a cat, then a dog")
        #expect(rows[0]["label"] as? Int == 3)
        #expect(rows[1]["caption"] as? String == "she said \"hi\"\nand left")
        #expect(rows[1]["label"] as? String == "007", "not a JSON number: stays text")
        #expect(rows[2]["caption"] == nil, "an empty cell is no field")
        #expect(rows[2]["label"] as? Double == 1.5)
        #expect(rows[3]["label"] as? Int == -2)
        #expect(rows.map { $0["manifest_row"] as? String } == ["2", "3", "6", "11"].map { "\(csv.path):\($0)" })
        #expect(outcome.report.quarantined.map(\.error) == [
            "stage 'manifest' failed on \(csv.path):5: has 5 fields, the header row has 4",
            "stage 'manifest' failed on \(csv.path):8: has 3 fields, the header row has 4",
        ])

        let tsv = work.appendingPathComponent("clips.tsv")
        try Data("id\tvideo\tcaption\nx\tx.mp4\ta caption, with a comma\ny\ty.mp4\t\"quoted\ttab\"\n".utf8).write(to: tsv)
        let (tabbed, _) = try self.rows("{type: manifest, path: \(tsv.path)}", out: work.appendingPathComponent("tsv"))
        #expect(tabbed.map { $0["caption"] as? String } == ["a caption, with a comma", "quoted\ttab"])
        #expect(tabbed.first?["video"] as? String == work.appendingPathComponent("x.mp4").path)
    }

    /// A CSV without a header, and a bad `columns` value, are each reported by name.
    @Test func anEmptyCSVAndBadColumnsAreReported() throws {
        let work = try scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let empty = work.appendingPathComponent("empty.csv")
        try Data().write(to: empty)
        let (_, outcome) = try rows("{type: manifest, path: \(empty.path)}", out: work.appendingPathComponent("out"), onError: "skip")
        #expect(outcome.report.quarantined.map(\.item) == [empty.path])
        #expect(outcome.report.quarantined.first?.error.contains("header row") == true)
        let error = #expect(throws: (any Error).self) {
            try rows("{type: manifest, path: \(empty.path), columns: [file_name]}", out: work.appendingPathComponent("bad"))
        }
        #expect("\(error!)".contains("'file_name' is not COLUMN:FIELD"))
    }
}
