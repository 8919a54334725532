import Foundation
import Testing

/// The exit codes `sluice --help` documents: 64 for a mistake on the command line (with the usage
/// text), 65 for bad input data, 74 for a file that cannot be read; no usage text for the last two,
/// as no flag was wrong.
struct ExitCodeTests {
    let cli = CommandLineTests()

    @Test func aBadFlagIsAUsageError() throws {
        let result = try cli.sluice(["probe", "samples/shapes/video/shapes-00000.mp4", "--no-such-flag"])
        #expect(result.status == 64)
        #expect(result.errors.contains("Usage:"), "\(result.errors)")
    }

    @Test func aMissingInputFileIsAnIOError() throws {
        let missing = try cli.scratch().appendingPathComponent("none.txt")
        defer { try? FileManager.default.removeItem(at: missing.deletingLastPathComponent()) }
        let result = try cli.sluice(["tokenize", "--tokenizer", "samples/retromae/vocab.txt", "--in", missing.path])
        #expect(result.status == 74)
        #expect(result.errors.contains("\(missing.path): no such file"), "\(result.errors)")
        #expect(!result.errors.contains("Usage:"))
    }

    @Test func aMalformedInputIsADataError() throws {
        let result = try cli.sluice(["probe", "samples/broken/random-bytes.mp4"])
        #expect(result.status == 65)
        #expect(result.errors.contains("samples/broken/random-bytes.mp4: "), "\(result.errors)")
        #expect(!result.errors.contains("Usage:"))
    }

    @Test func theHelpListsTheExitCodes() throws {
        let help = try cli.sluice(["--help"])
        #expect(help.status == 0)
        for line in ["64   usage", "65   bad data", "74   I/O", "130  interrupted"] { #expect(help.output.contains(line), "\(line)") }
    }
}
