import Media
import Testing

/// Every broken input in samples/broken fails fast with an error that names the file and the reason.
struct BrokenInputTests {
    static func broken(_ name: String) -> String { Repository.path("samples/broken/\(name)") }

    @Test func truncatedMP4SaysItIsTruncated() {
        let path = Self.broken("truncated.mp4")
        let error = mediaFailure { _ = try VideoReader(path: path).frames(.all) }
        #expect(error?.code == .truncated)
        #expect(error?.path == path)
    }

    @Test func randomBytesAreNotAMediaFile() {
        let path = Self.broken("random-bytes.mp4")
        let error = mediaFailure { _ = try VideoReader(path: path) }
        #expect(error?.code == .invalidData)
        #expect(error?.description.hasPrefix(path) == true)
    }

    @Test func zeroLengthVideoIsEmpty() {
        let error = mediaFailure { _ = try VideoReader(path: Self.broken("empty.mp4")) }
        #expect(error?.code == .empty)
        #expect(error?.reason == "file is empty (0 bytes)")
    }

    @Test func missingFileIsUnreadable() {
        let error = mediaFailure { _ = try VideoReader(path: Self.broken("no-such-file.mkv")) }
        #expect(error?.code == .unreadable)
    }

    @Test func audioOnlyFileHasNoVideoStream() {
        let error = mediaFailure { _ = try VideoReader(path: Repository.path("samples/shapes/audio/shapes-00002.ogg")) }
        #expect(error?.code == .unsupported)
        #expect(error?.reason == "no video stream")
    }
}
