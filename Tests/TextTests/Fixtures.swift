import Foundation
import Testing
@testable import Text

/// Committed fixtures made by tools/text_fixtures.py from Hugging Face `tokenizers`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }

    static func jsonLines(_ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// The corpus lines: edge cases first, then English prose.
    static let corpus: [String] = (try? json("corpus.json") as? [String]) ?? []

    /// The real bert-base-uncased vocabulary, loaded once for all tests.
    static let uncased: BertTokenizer? = try? BertTokenizer(vocabFile: bertVocabulary)

    /// samples/text/bert-base-uncased-vocab.txt, shared with the demo.
    static let bertVocabulary = directory.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples/text/bert-base-uncased-vocab.txt")
}

/// One expected encoding of a fixture file.
struct ExpectedEncoding {
    var ids: [Int32]
    var typeIds: [UInt8]
    var offsets: [Range<Int>]

    init(_ record: [String: Any]) throws {
        ids = try #require(record["ids"] as? [Int]).map { Int32($0) }
        typeIds = try #require(record["type_ids"] as? [Int]).map { UInt8($0) }
        offsets = try #require(record["offsets"] as? [[Int]]).map { $0[0]..<$0[1] }
    }
}
