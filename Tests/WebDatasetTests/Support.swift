import Crypto
import Foundation
import WebDataset

/// Fixture paths and the digest of a sample the tests compare with what the webdataset package read.
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// The `.tar` files of a fixture directory, sorted as the generator lists them.
    static func shards(_ directory: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: url(directory).path).filter { $0.hasSuffix(".tar") }.sorted()
            .map { url(directory).appendingPathComponent($0) }
    }

    /// `python_read.jsonl` of a directory: one row per sample the package yielded.
    static func pythonRead(_ directory: String) throws -> [Digest] {
        let text = try String(contentsOf: url(directory).appendingPathComponent("python_read.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Digest.self, from: Data($0.utf8)) }
    }

    /// A fresh empty directory under /tmp, removed by the caller's `defer`.
    static func scratch(_ label: String = #function) -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-wds-" + label.filter { $0.isLetter } + "-" + UUID().uuidString.prefix(8))
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A sample as `tools/make-webdataset-fixtures.py` records it: key, shard file, each field's size and sha256.
struct Digest: Codable, Equatable, CustomStringConvertible {
    struct Field: Codable, Equatable { var bytes: Int; var sha256: String }
    var key: String
    var shard: String
    var fields: [String: Field]

    init(key: String, shard: String, fields: [String: Field]) { (self.key, self.shard, self.fields) = (key, shard, fields) }

    init(_ sample: WebDatasetSample, shard: String) {
        self.init(key: sample.key, shard: shard, fields: Dictionary(uniqueKeysWithValues: sample.fields.map {
            ($0.name, Field(bytes: $0.bytes.count, sha256: SHA256.hash(data: $0.bytes).map { String(format: "%02x", $0) }.joined()))
        }))
    }

    var description: String { "\(shard):\(key) \(fields.keys.sorted())" }
}

/// Every event of a shard, and the error that ended it early (nil if it read to the end).
func events(of file: URL, maximumMemberBytes: Int = 1 << 30) -> (events: [ShardSamples.Event], failure: WebDatasetError?) {
    var found: [ShardSamples.Event] = []
    do throws(WebDatasetError) {
        let samples = ShardSamples(try TarReader(FileShardBytes(path: file.path), path: file.lastPathComponent),
                                   maximumMemberBytes: maximumMemberBytes)
        while let event = try samples.next() { found.append(event) }
    } catch { return (found, error) }
    return (found, nil)
}

extension ShardSamples.Event {
    var sample: WebDatasetSample? { if case .sample(let s) = self { s } else { nil } }
    var rejection: WebDatasetError? { if case .rejected(let e) = self { e } else { nil } }
}
