import Foundation
import PipelineCore
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

    @Test func errnosAreNamedAndCocoaCodesMapToThem() {
        #expect(SystemErrorText.words(errno: ENOSPC) == "the disk is full (ENOSPC)")
        #expect(SystemErrorText.words(errno: EROFS) == "the file system is read-only (EROFS)")
        #expect(SystemErrorText.words(POSIXError(.EDQUOT)) == "the disk quota is used up (EDQUOT)")
        #expect(SystemErrorText.errno(of: CocoaError(.fileWriteOutOfSpace)) == ENOSPC)
        #expect(SystemErrorText.errno(of: NSError(domain: NSPOSIXErrorDomain, code: Int(EMFILE))) == EMFILE)
        #expect(SystemErrorText.fileError(CancellationError()) == nil)
    }
}
