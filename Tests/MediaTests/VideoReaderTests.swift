import Foundation
import Media
import PipelineCore
import Testing

/// The reference frames exported by tools/export-video-fixtures.sh with the ffmpeg CLI.
struct FrameFixtures: Decodable {
    struct Clip: Decodable { let video: String; let fixture: String; let frameCount: Int }
    /// A sample with a display rotation, and its upright size.
    struct Rotated: Decodable { let video: String; let fixture: String; let width: Int; let height: Int }
    let indices: [Int]
    let rates: [Int]
    let times: [Double]
    let clips: [Clip]
    let rotated: [Rotated]

    static func load() throws -> FrameFixtures {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("video/frames.json")))
        return try JSONDecoder().decode(FrameFixtures.self, from: data)
    }

    func pixels(_ clip: Clip, _ variant: String) throws -> [UInt8] {
        try pixels(clip.fixture, variant)
    }

    func pixels(_ fixture: String, _ variant: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("video/\(fixture)-\(variant).rgb"))))
    }
}

struct VideoReaderTests {
    @Test(arguments: try FrameFixtures.load().clips)
    func framesMatchTheFFmpegCLIExactlyAtNativeSize(clip: FrameFixtures.Clip) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(path: Repository.path(clip.video))
        let batch = try reader.frames(.indices(fixtures.indices))
        #expect(batch.width == 112 && batch.height == 112)
        #expect(batch.pixels == (try fixtures.pixels(clip, "native")))
    }

    @Test(arguments: try FrameFixtures.load().clips)
    func scaledFramesMatchTheFFmpegCLIAbove40dB(clip: FrameFixtures.Clip) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(path: Repository.path(clip.video))
        let batch = try reader.frames(.indices(fixtures.indices), output: FrameOutput(size: .exact(width: 80, height: 80)))
        let expected = try fixtures.pixels(clip, "80x80")
        for picture in 0..<batch.count {
            let range = picture * batch.pictureBytes..<(picture + 1) * batch.pictureBytes
            #expect(psnr(batch.pixels[range], expected[range]) > 40, "frame \(fixtures.indices[picture])")
        }
    }

    /// `.fps(r)` drops and repeats the same frames as `ffmpeg -vf fps=r`.
    @Test(arguments: try FrameFixtures.load().clips)
    func fpsResamplingMatchesTheFFmpegFpsFilter(clip: FrameFixtures.Clip) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(path: Repository.path(clip.video))
        for rate in fixtures.rates {
            let ours = try reader.frames(.fps(Double(rate)), output: FrameOutput(size: .exact(width: 16, height: 16)))
            #expect(ours.pixels == (try fixtures.pixels(clip, "fps\(rate)-16x16")), "fps \(rate): frames \(ours.frameNumbers)")
        }
    }

    /// `.timestamps` picks the frame `ffmpeg -ss T -i F -frames:v 1` gives, also for times between
    /// frames and on clips whose video starts after the container (the MKV and WebM samples).
    @Test(arguments: try FrameFixtures.load().clips)
    func timestampsPickTheFrameFFmpegSeeksTo(clip: FrameFixtures.Clip) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(path: Repository.path(clip.video))
        let ours = try reader.frames(.timestamps(fixtures.times), output: FrameOutput(size: .exact(width: 16, height: 16)))
        #expect(ours.pixels == (try fixtures.pixels(clip, "ss-16x16")), "times \(fixtures.times): frames \(ours.frameNumbers)")
    }

    /// Frames of a rotated video come upright, pixel for pixel as the ffmpeg CLI's autorotation
    /// turns them (a quarter turn either way, a half turn, and a 4:2:2 picture, which both convert
    /// before turning), also when scaled; `autorotate: false` keeps them as stored.
    @Test(arguments: try FrameFixtures.load().rotated)
    func rotatedVideosComeUprightAsTheFFmpegCLITurnsThem(clip: FrameFixtures.Rotated) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(path: Repository.path(clip.video))
        let upright = try reader.frames(.indices(fixtures.indices))
        #expect(upright.width == clip.width && upright.height == clip.height)
        #expect(upright.pixels == (try fixtures.pixels(clip.fixture, "native")))
        let scaled = try reader.frames(.indices(fixtures.indices), output: FrameOutput(size: .exact(width: 32, height: 56)))
        #expect(scaled.pixels == (try fixtures.pixels(clip.fixture, "32x56")))
        let stored = try reader.frames(.indices([3]), output: FrameOutput(autorotate: false))
        #expect(stored.width == 112 && stored.height == 64)
    }

    @Test(arguments: try FrameFixtures.load().clips)
    func countsTheTrueNumberOfFrames(clip: FrameFixtures.Clip) throws {
        let info = try VideoReader(path: Repository.path(clip.video)).probe(countFrames: true)
        #expect(info.frameCount == clip.frameCount)
    }

    /// Random access in any order equals decoding everything and picking: seeks land right.
    @Test(arguments: Repository.allClips)
    func seekingGivesTheSameFramesAsDecodingEverything(path: String) throws {
        let reader = try VideoReader(path: path)
        let everything = try reader.frames(.all)
        let wanted = [44, 2, 30, 16, 15, 29, 0, 30]
        let sought = try reader.frames(.indices(wanted))
        for (position, number) in wanted.enumerated() {
            let bytes = sought.pictureBytes
            #expect(sought.pixels[position * bytes..<(position + 1) * bytes]
                    == everything.pixels[number * bytes..<(number + 1) * bytes], "frame \(number)")
        }
    }

    /// The exact path decodes only what the wanted frames need: B-frames that no wanted frame
    /// refers to are skipped (the MP4 sample has them), and nothing after the last wanted frame.
    @Test func exactFramesSkipThePicturesNoWantedFrameNeeds() throws {
        let reader = try VideoReader(path: Repository.clips[0])
        #expect(try reader.index().keyframes == [0, 15, 30])
        let everything = try VideoReader(path: Repository.clips[0]).frames(.all)
        let before = reader.picturesDecoded
        let last = try reader.frames(.indices([14]))
        #expect(last.pixels[...] == everything.pixels[14 * last.pictureBytes..<15 * last.pictureBytes])
        #expect(reader.picturesDecoded - before < 15, "frames 0...14 less the unreferenced B-frames")
    }

    /// Approximate mode gives the keyframe nearest each wanted frame, one picture decoded per
    /// keyframe, and names the frames it gave.
    @Test func approximateFramesAreTheNearestKeyframes() throws {
        let reader = try VideoReader(path: Repository.clips[0])
        let keyframes = try reader.frames(.indices([0, 15, 30]))
        let before = reader.picturesDecoded
        let near = try reader.frames(.indices([1, 7, 8, 22, 23, 44]), seek: .approximate)
        #expect(near.frameNumbers == [0, 0, 15, 15, 30, 30])
        #expect(reader.picturesDecoded - before == 3)
        let bytes = near.pictureBytes
        for (position, keyframe) in [0, 0, 1, 1, 2, 2].enumerated() {
            #expect(near.pixels[position * bytes..<(position + 1) * bytes] == keyframes.pixels[keyframe * bytes..<(keyframe + 1) * bytes])
        }
        // Every MJPEG frame is a keyframe: approximate is exact there.
        let intra = try VideoReader(path: Repository.clips[3])
        #expect(try intra.frames(.uniform(count: 8), seek: .approximate) == intra.frames(.uniform(count: 8)))
    }

    /// `writeNPY` streams a selection in ascending order picture by picture, repeats included, and
    /// collects any other order first: either way the file holds what `frames` returns.
    @Test(arguments: [FrameSelection.fps(40), .uniform(count: 5), .indices([44, 2, 30, 2])])
    func framesWrittenToNPYAreTheBatchFramesReturns(selection: FrameSelection) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("frames-\(UUID()).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let reader = try VideoReader(path: Repository.clips[0])
        let output = FrameOutput(size: .exact(width: 20, height: 12))
        let written = try reader.writeNPY(selection, output: output, to: url)
        let batch = try reader.frames(selection, output: output)
        #expect(written.frameNumbers == batch.frameNumbers && written.width == 20 && written.height == 12)
        #expect(try Data(contentsOf: url) == NPY.encode(batch.ndarray))
    }

    @Test func sampleSetMixesContainers() {
        #expect(Repository.allClips.count == 24)
        #expect(Set(Repository.allClips.map { URL(fileURLWithPath: $0).pathExtension }) == ["mp4", "mkv", "webm", "avi"])
    }

    @Test func probeReportsStreamsCodecsAndRotation() throws {
        let mp4 = try VideoReader(path: Repository.clips[0]).probe()
        #expect(mp4.streams.map(\.kind) == ["video", "audio"])
        #expect(mp4.streams.map(\.codec) == ["h264", "aac"])
        let video = mp4.streams[mp4.videoStream]
        #expect(video.width == 112 && video.height == 112 && video.frameRate == 15)
        #expect(video.declaredFrameCount == 45 && video.rotation == 0)
        #expect(abs((mp4.duration ?? 0) - 3) < 0.1)
        #expect(mp4.streams[1].sampleRate == 16000 && mp4.streams[1].channels == 1)

        let webm = try VideoReader(path: Repository.clips[2]).probe()
        #expect(webm.streams.map(\.codec) == ["vp9", "opus"])
        #expect(webm.streams[0].declaredFrameCount == nil)  // Matroska headers carry no count
        let rotations = try [90, 180, 270].map { degrees in
            let info = try VideoReader(path: Repository.path("samples/shapes/rotated-\(degrees).mp4")).probe()
            return info.streams[info.videoStream].rotation
        }
        #expect(rotations == [90, -180, -90])  // as av_display_rotation_get and ffprobe report them
    }

    @Test func selectionsResolveToExactFrameNumbers() throws {
        let reader = try VideoReader(path: Repository.clips[1])
        let index = try reader.index()  // 45 frames at 15 fps: frame k starts at 0.016 + k/15 s
        func numbers(_ selection: FrameSelection) throws -> [Int] {
            try selection.frameNumbers(in: index, path: reader.path)
        }
        #expect(try numbers(.timestamps([0, 1.0, 1.016, 1.02, 2.9])) == [0, 15, 15, 16, 44])
        #expect(try numbers(.uniform(count: 3)) == [7, 22, 37])
        // This clip's first frame is at 16 ms on the container clock, so ffmpeg's fps filter
        // (round to the nearest slot, keep the last frame per slot) takes frames 1, 4, 7, ...
        #expect(try numbers(.fps(5)) == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43])
        #expect(try numbers(.stride(10, start: 4)) == [4, 14, 24, 34, 44])
        let clip = try numbers(.randomClip(seconds: 1, seed: 42))
        #expect(clip.count == 15 && clip == Array(clip[0]...clip[0] + 14))
        #expect(try numbers(.randomClip(seconds: 1, seed: 42)) == clip)
        #expect(throws: MediaError.self) { try numbers(.indices([45])) }
        #expect(throws: MediaError.self) { try numbers(.timestamps([2.99])) }  // the last frame starts at 2.949 s
        #expect(throws: MediaError.self) { try numbers(.timestamps([-0.5])) }
    }

    @Test func shorterSideThenCentreCropKeepsTheMiddle() throws {
        let reader = try VideoReader(path: Repository.clips[0])
        let output = FrameOutput(size: .shorterSideThenCrop(shorterSide: 112, width: 64, height: 32))
        let cropped = try reader.frames(.indices([10]), output: output)
        let full = try reader.frames(.indices([10]))
        #expect(cropped.width == 64 && cropped.height == 32)
        for row in 0..<32 {  // native-size scale, so the crop is a plain window of the full frame
            let from = ((row + 40) * 112 + 24) * 3
            #expect(Array(cropped.pixels[row * 64 * 3..<(row + 1) * 64 * 3]) == Array(full.pixels[from..<from + 64 * 3]))
        }
    }

    @Test func normalisedCHWPutsChannelsInPlanes() {
        let batch = FrameBatch(frameNumbers: [0], seconds: [0], height: 1, width: 2, pixels: [255, 0, 51, 0, 255, 102])
        let values = batch.normalizedCHW(mean: [0, 0, 0], std: [1, 1, 0.5])
        let expected: [Float] = [1, 0, 0, 1, 0.4, 0.8]  // R plane, G plane, B plane (/0.5)
        #expect(zip(values, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// Streaming one frame at a time (constant memory) hands over the same pictures as collecting them.
    @Test func streamingFramesMatchesCollectingThem() throws {
        let reader = try VideoReader(path: Repository.clips[2])
        let output = FrameOutput(size: .exact(width: 24, height: 24), filter: .area)
        let collected = try reader.frames(.stride(7, start: 1), output: output)
        var streamed: [UInt8] = [], numbers: [Int] = []
        try reader.forEachFrame(.stride(7, start: 1), output: output) { number, picture in
            numbers.append(number)
            streamed += picture
        }
        #expect(numbers == [1, 8, 15, 22, 29, 36, 43] && numbers == collected.frameNumbers)
        #expect(streamed == collected.pixels)
    }

    @Test func threadedDecodingAndScalingGiveTheSamePictures() throws {
        let output = FrameOutput(size: .exact(width: 64, height: 48))
        let single = try VideoReader(path: Repository.clips[0], threads: 1).frames(.uniform(count: 5), output: output)
        var threadedOutput = output
        threadedOutput.scalerThreads = 2
        let threaded = try VideoReader(path: Repository.clips[0], threads: 2).frames(.uniform(count: 5), output: threadedOutput)
        #expect(single == threaded)
    }
}

/// Widths that are not a whole number of libswscale's pixel groups: its RGB writers spill past a
/// row's end, which must land neither in another picture nor past the buffer.
struct OddWidthTests {
    /// A YUV4MPEG2 (4:2:0) file of `width` x `height` whose frame k is uniformly grey at `levels[k]`.
    static func greyFrames(width: Int, height: Int, levels: [UInt8], in directory: URL) throws -> String {
        var data = Data("YUV4MPEG2 W\(width) H\(height) F25:1 Ip A1:1 C420jpeg\n".utf8)
        let chroma = ((width + 1) / 2) * ((height + 1) / 2)
        for level in levels {
            data += Data("FRAME\n".utf8) + Data(repeating: level, count: width * height) + Data(repeating: 128, count: 2 * chroma)
        }
        let url = directory.appendingPathComponent("grey-\(width)x\(height).y4m")
        try data.write(to: url)
        return url.path
    }

    /// Frames decoded in stream order but placed last-slot-first: each picture is its own grey,
    /// however narrow, at native size and scaled, on one scaler thread and on several.
    @Test(arguments: [(4, 2), (20, 4), (33, 7)])
    func everyPictureHoldsOnlyItsOwnPixels(width: Int, height: Int) throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let levels: [UInt8] = [40, 120, 200]
        let reader = try VideoReader(path: try Self.greyFrames(width: width, height: height, levels: levels, in: directory))
        for output in [FrameOutput(), FrameOutput(size: .exact(width: width + 3, height: height + 20), scalerThreads: 3)] {
            let batch = try reader.frames(.indices([2, 1, 0]), output: output)
            let picture = batch.width * batch.height * 3
            #expect(batch.pixels.count == 3 * picture)
            for (slot, frame) in [2, 1, 0].enumerated() {
                let values = Set(batch.pixels[slot * picture..<(slot + 1) * picture])
                // Limited-range grey: every channel (level - 16) * 255 / 219, give or take the scaler's rounding.
                let grey = (Double(levels[frame]) - 16) * 255 / 219
                #expect(values.allSatisfy { abs(Double($0) - grey) <= 2.5 },
                        "\(width)x\(height) -> \(batch.width)x\(batch.height): slot \(slot) (frame \(frame)) holds \(values.sorted())")
            }
        }
    }
}
