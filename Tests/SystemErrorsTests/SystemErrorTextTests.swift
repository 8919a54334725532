import Foundation
import SystemErrors
import Testing

/// What Foundation's file APIs throw, in the words a user sees (the full-disk and read-only runs
/// themselves are in sluiceTests' SystemErrorCommandTests).
struct SystemErrorTextTests {
    /// `Data.write(to:)` into a missing directory: Foundation's CocoaError wrapping ENOENT, said
    /// with the file and the errno's name, not as `Error Domain=NSCocoaErrorDomain Code=4 ...`.
    @Test func aFoundationWriteErrorIsTheFileAndTheErrnoInWords() throws {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("missing-\(UUID().uuidString)/x.json")
        do {
            try Data("{}".utf8).write(to: file, options: .atomic)
            Issue.record("writing into a missing directory succeeded")
        } catch {
            #expect(SystemErrorText.errno(of: error) == ENOENT)
            let text = try #require(SystemErrorText.fileError(error))
            #expect(text.hasPrefix(file.path) && text.hasSuffix("no such file or directory (ENOENT)"), "\(text)")
            #expect(!text.contains("Domain"))
        }
    }

    /// Errors without an errno: text that is not UTF-8, and JSON that breaks, with where it breaks
    /// rather than Foundation's "The operation could not be completed".
    @Test func invalidTextAndBrokenJSONAreSaidWithoutFoundationsSentence() throws {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("latin1-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: file)
        let latin1 = try #require(throws: (any Error).self) { try String(contentsOf: file, encoding: .utf8) }
        #expect(SystemErrorText.words(latin1) == "it is not valid UTF-8 text")
        let json = try #require(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(#"{"a": "#.utf8)) }
        let words = SystemErrorText.words(json)
        #expect(words.contains("JSON") && !words.contains("could not be completed"), "\(words)")
    }

    @Test func errnosAreNamedAndCocoaCodesMapToThem() {
        #expect(SystemErrorText.words(errno: ENOSPC) == "the disk is full (ENOSPC)")
        #expect(SystemErrorText.words(errno: EROFS) == "the file system is read-only (EROFS)")
        #expect(SystemErrorText.words(POSIXError(.EDQUOT)) == "the disk quota is used up (EDQUOT)")
        #expect(SystemErrorText.errno(of: CocoaError(.fileWriteOutOfSpace)) == ENOSPC)
        #expect(SystemErrorText.errno(of: NSError(domain: NSPOSIXErrorDomain, code: Int(EMFILE))) == EMFILE)
        #expect(SystemErrorText.fileError(CancellationError()) == nil)
    }
}
