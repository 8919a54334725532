import Foundation
import Media
import Testing

/// Paths into the repository, so tests run from any working directory.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func fixture(_ relative: String) -> String { path("Tests/MediaTests/Fixtures/\(relative)") }

    /// Every clip of the committed sample set (MP4/H.264, MKV/H.264, WebM/VP9, AVI/MJPEG in turn).
    static let allClips = ((try? FileManager.default.contentsOfDirectory(atPath: path("samples/shapes/video"))) ?? [])
        .sorted().map { path("samples/shapes/video/\($0)") }

    /// The first clip of each container in the committed sample set.
    static let clips = ["shapes-00000.mp4", "shapes-00001.mkv", "shapes-00002.webm", "shapes-00003.avi"]
        .map { path("samples/shapes/video/\($0)") }
}

/// Peak signal-to-noise ratio of two byte images, in dB (infinity when identical).
func psnr(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Double {
    var squared = 0.0
    for (x, y) in zip(a, b) { let d = Double(x) - Double(y); squared += d * d }
    let mse = squared / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}

/// The MediaError `body` throws, or nil (recording an issue) when it throws none or another error.
func mediaFailure(_ body: () throws -> Void) -> MediaError? {
    do {
        try body()
        Issue.record("expected a MediaError")
    } catch let error as MediaError {
        return error
    } catch {
        Issue.record("expected a MediaError, got \(error)")
    }
    return nil
}
