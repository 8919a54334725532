import Foundation
import SystemErrors
import Testing

/// Which failure an error is, as `sluice` turns it into an exit code: a coded error's own, I/O
/// for what the system refused, bad data for the rest.
struct FailureTests {
    struct Coded: CodedError {
        var path = "f"
        var reason = "r"
        var failure = Failure.interrupted
        var description: String { "\(path): \(reason)" }
    }

    @Test func aCodedErrorSaysItsOwn() {
        #expect(Failure(of: Coded()) == .interrupted)
    }

    @Test func systemErrorsAreIOAndTextThatIsNotUTF8IsData() throws {
        #expect(Failure(of: POSIXError(.ENOSPC)) == .io)
        #expect(Failure(of: CocoaError(.fileNoSuchFile)) == .io)
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("latin1-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: file)
        let latin1 = try #require(throws: (any Error).self) { try String(contentsOf: file, encoding: .utf8) }
        #expect(Failure(of: latin1) == .data)
        let json = try #require(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data("{".utf8)) }
        #expect(Failure(of: json) == .data)
    }
}
