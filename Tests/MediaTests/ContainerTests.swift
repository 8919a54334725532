import Foundation
import Media
import Testing

/// Containers the ffmpeg CLI decodes although their packets cannot number the frames, made by
/// tools/export-container-fixtures.sh with the reference frames the CLI gives for them.
struct ContainerFixture: Decodable, CustomTestStringConvertible {
    let video: String
    let frames: [Int]
    let frameCount: Int

    static func all() throws -> [ContainerFixture] {
        struct File: Decodable { let clips: [ContainerFixture] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("containers/containers.json")))
        return try JSONDecoder().decode(File.self, from: data).clips
    }

    var path: String { Repository.fixture("containers/\(video)") }

    /// `select=eq(n\,k)` for each of `frames`, as RGB24 at the native size.
    func expected() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".rgb")))
    }

    var testDescription: String { video }
}

struct ContainerTests {
    /// An MPEG program stream, an AVI that claims 90 frames for 45, an AVI of MPEG-4 with B-frames,
    /// raw .m1v and .264 streams and an SWF: frame k is the CLI's frame k, byte for byte, and the
    /// count is what the CLI decodes.
    @Test(arguments: try ContainerFixture.all())
    func framesAndCountMatchTheFFmpegCLI(clip: ContainerFixture) throws {
        let reader = try VideoReader(path: clip.path)
        #expect(try reader.probe(countFrames: true).frameCount == clip.frameCount)
        let batch = try reader.frames(.indices(clip.frames))
        #expect(batch.pixels == (try clip.expected()))
    }

    /// Out of order and repeated, through a fresh reader (the index comes from the cache).
    @Test(arguments: try ContainerFixture.all())
    func framesComeBackInTheOrderAskedFor(clip: ContainerFixture) throws {
        let expected = try clip.expected(), picture = expected.count / clip.frames.count
        let batch = try VideoReader(path: clip.path).frames(.indices([clip.frames[2], clip.frames[0], clip.frames[2]]))
        #expect(Array(batch.pixels[0..<picture]) == Array(expected[2 * picture..<3 * picture]))
        #expect(Array(batch.pixels[picture..<2 * picture]) == Array(expected[0..<picture]))
        #expect(Array(batch.pixels[2 * picture..<3 * picture]) == Array(expected[2 * picture..<3 * picture]))
    }

    /// The AVI of MPEG-4 with B-frames leaves most packets without a presentation time; the
    /// demuxer works them out, so its frames are numbered by timestamp and reached by seeking.
    @Test func anAVIWithBFramesIsIndexedByTimestamp() throws {
        let reader = try VideoReader(path: Repository.fixture("containers/clip-bframes.avi"))
        let index = try reader.index()
        #expect(!index.sequential && index.count == 45 && index.keyframes.count > 1)
    }

    /// A raw stream knows no keyframe but its first, so approximate mode gives the frames asked
    /// for, all in one pass from the start.
    @Test func approximateFramesOfARawStreamAreExactInOnePass() throws {
        let reader = try VideoReader(path: Repository.fixture("containers/clip.264"))
        let exact = try reader.frames(.indices([10, 20, 30]))
        let before = reader.picturesDecoded
        let approximate = try reader.frames(.indices([10, 20, 30]), seek: .approximate)
        #expect(approximate == exact)
        #expect(reader.picturesDecoded - before <= 31 + 4, "one pass to frame 30 (and the decoder's delay), not one per frame")
    }

    @Test(arguments: try ContainerFixture.all())
    func everyFrameStreamsThroughForEachFrame(clip: ContainerFixture) throws {
        var seen: [Int] = []
        try VideoReader(path: clip.path).forEachFrame(.all) { number, _ in seen.append(number) }
        #expect(seen == Array(0..<clip.frameCount))
    }
}
