import Foundation
@testable import Shards

/// Paths and scratch directories shared by the Shards tests.
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func dataset(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// A fresh empty directory under /tmp, removed by the caller's `defer`.
    static func scratch(_ label: String = #function) -> URL {
        let name = "sluice-shards-" + label.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Copies a committed dataset to scratch, so a test may damage it.
    static func copy(_ name: String) throws -> URL {
        let target = scratch(name)
        try FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: dataset(name), to: target)
        return target
    }

    /// One parsed JSON object per line.
    static func jsonLines(_ url: URL) throws -> [JSONValue] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8), what: url.path) }
    }

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }
}

extension ShardDataset {
    /// Every sample as the JSON object `sluice shards cat` prints.
    func allAsJSON() throws -> [JSONValue] {
        try (0..<count).map { i in
            let sample = try sample(i)
            return .object(sample.keys.sorted().map { ($0, sample[$0]!.jsonValue) })
        }
    }
}

/// Small samples with a `str` text and an `int` id, for tests about order rather than encodings.
func numberedSamples(_ count: Int) -> [ShardSample] {
    (0..<count).map { ["id": .int(Int64($0)), "text": .string("sample \($0)")] }
}

let numberedColumns: [String: ColumnEncoding] = ["id": .int, "text": .str]
