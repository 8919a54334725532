import Foundation
import Media
import Testing

/// Media read from encoded bytes in memory (a WebDataset member) instead of a file: the same
/// frames and samples as from the file, through FFmpeg's memory I/O and libsndfile's virtual I/O,
/// with errors that name the item.
struct MediaBytesTests {
    /// The bytes of a repository file, named as a tar shard member would be.
    static func member(_ path: String) throws -> MediaSource {
        .bytes(name: "shard-000003.tar:\((path as NSString).lastPathComponent)", [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// Every container of the sample set, from bytes: the ffmpeg CLI's frames byte for byte, and
    /// the same frames and count as from the file.
    @Test(arguments: try FrameFixtures.load().clips)
    func framesFromBytesAreTheCLIsFramesAsFromTheFile(clip: FrameFixtures.Clip) throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(Self.member(Repository.path(clip.video)))
        #expect(reader.path == "shard-000003.tar:\((clip.video as NSString).lastPathComponent)")
        let batch = try reader.frames(.indices(fixtures.indices))
        #expect(batch.pixels == (try fixtures.pixels(clip, "native")))
        #expect(try reader.probe(countFrames: true).frameCount == clip.frameCount)
        let scaled = FrameOutput(size: .shorterSideThenCrop(shorterSide: 40, width: 32, height: 24))
        #expect(try reader.frames(.fps(10), output: scaled) == (try VideoReader(path: Repository.path(clip.video)).frames(.fps(10), output: scaled)))
    }

    /// Containers whose packets cannot number the frames, from bytes: raw streams (told apart by
    /// the name's extension, as for files), a program stream, and an SWF, which cannot seek and is
    /// opened again over the same bytes to go back to the start.
    @Test(arguments: try ContainerFixture.all())
    func awkwardContainersFromBytesMatchTheFFmpegCLI(clip: ContainerFixture) throws {
        let reader = try VideoReader(Self.member(clip.path))
        #expect(try reader.probe(countFrames: true).frameCount == clip.frameCount)
        #expect(try reader.frames(.indices(clip.frames)).pixels == (try clip.expected()))
    }

    /// An MP4 whose index comes after its data (no +faststart): the demuxer reads the index at the
    /// end of the bytes, then seeks back for each frame; frames asked out of order come out as the
    /// CLI exported them from the same stream.
    @Test func anMP4WithItsIndexAtTheEndSeeksInTheBytes() throws {
        let fixtures = try FrameFixtures.load()
        let reader = try VideoReader(Self.member(Repository.fixture("bytes/moov-at-end.mp4")))
        #expect(try reader.index().keyframes == [0, 15, 30])
        let expected = try fixtures.pixels(fixtures.clips[0], "native")  // shapes-00000.mp4, whose stream this is
        #expect(fixtures.clips[0].video.hasSuffix("shapes-00000.mp4"))
        let order = Array(fixtures.indices.indices.reversed())
        let batch = try reader.frames(.indices(order.map { fixtures.indices[$0] }))
        let bytes = batch.pictureBytes
        for (position, wanted) in order.enumerated() {
            #expect(batch.pixels[position * bytes..<(position + 1) * bytes] == expected[wanted * bytes..<(wanted + 1) * bytes],
                    "frame \(fixtures.indices[wanted])")
        }
    }

    /// Sound files from bytes go through libsndfile's virtual I/O when named with their
    /// extension: the very samples it reads from the file.
    @Test(arguments: ["shapes-00000.wav", "shapes-00001.flac", "shapes-00002.ogg", "shapes-00003.opus"])
    func soundFilesFromBytesAreTheSamplesOfTheFile(name: String) throws {
        let path = AudioReaderTests.audio(name), source = try Self.member(path)
        let fromBytes = try AudioReader.readSoundFile(source)
        #expect(fromBytes == (try AudioReader.readSoundFile(.file(path))).withSource(source.name))
        #expect(try AudioReader.load(source, sampleRate: 16000) == (try AudioReader.load(path: path, sampleRate: 16000)).withSource(source.name))
    }

    /// The audio track of every video container, from bytes.
    @Test(arguments: Repository.clips)
    func theAudioTrackOfAVideoFromBytesIsTheTrackOfTheFile(path: String) throws {
        let source = try Self.member(path)
        #expect(try AudioReader.load(source, sampleRate: 16000) == (try AudioReader.load(path: path, sampleRate: 16000)).withSource(source.name))
    }

    /// Bytes named without a sound-file extension (a field called `audio`) go to FFmpeg, which
    /// tells the format by the contents: a WAV decodes to the samples libsndfile reads.
    @Test func bytesWithoutASoundFileExtensionAreDecodedByFFmpeg() throws {
        let path = AudioReaderTests.audio("shapes-00000.wav")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let audio = try AudioReader.load(.bytes(name: "clip0042.audio", bytes), mono: false)
        #expect(audio == (try AudioReader.readSoundFile(.file(path))).withSource("clip0042.audio"))
    }

    /// Bytes are not the file they are named after: the index cache (kept for files, by path,
    /// size and time) is not consulted for bytes, so bytes named as a file already indexed are
    /// indexed as themselves, and two buffers under one name as two files.
    @Test func bytesNamedAsAnIndexedFileAreNotConfusedWithIt() throws {
        let file = Repository.clips[0]
        #expect(try VideoReader(path: file).probe(countFrames: true).frameCount == 45)  // now in the cache
        guard case .bytes(_, let first) = try Self.member(file), case .bytes(_, let other) = try Self.member(Repository.fixture("containers/clip.m1v"))
        else { return }
        #expect(try VideoReader(.bytes(name: file, other)).probe(countFrames: true).frameCount == 75)
        #expect(try VideoReader(.bytes(name: file, first)).probe(countFrames: true).frameCount == 45)
        #expect(try VideoReader(.bytes(name: file, other)).frames(.indices([74])).count == 1)
    }

    // MARK: Hostile bytes

    /// No bytes at all: `.empty`, naming the item, from every reader.
    @Test func emptyBytesAreEmpty() {
        for name in ["shard.tar:a.mp4", "shard.tar:a.flac", "shard.tar:a.audio", "shard.tar:a.png"] {
            let source = MediaSource.bytes(name: name, [])
            for error in [mediaFailure { _ = try VideoReader(source) }, mediaFailure { _ = try AudioReader.load(source) },
                          mediaFailure { _ = try ImageReader.decode(source) }] {
                #expect(error == MediaError(.empty, path: name, "no bytes to read (0 bytes)"))
            }
        }
    }

    /// Sound files and containers cut at 60%, from bytes: the length checks run on the bytes as on
    /// a file, so the cut is reported, not read up to where it ends.
    @Test(arguments: [
        "samples/shapes/audio/shapes-00000.wav", "samples/shapes/audio/shapes-00001.flac",
        "samples/shapes/audio/shapes-00002.ogg", "samples/shapes/audio/shapes-00003.opus",
        "samples/shapes/video/shapes-00000.mp4", "samples/shapes/video/shapes-00001.mkv",
        "samples/shapes/video/shapes-00002.webm", "samples/shapes/video/shapes-00003.avi",
        "Tests/MediaTests/Fixtures/bytes/moov-at-end.mp4",
    ])
    func cutBytesAreTruncated(sample: String) throws {
        guard case .bytes(let name, let bytes) = try Self.member(Repository.path(sample)) else { return }
        let cut = MediaSource.bytes(name: name, Array(bytes.prefix(bytes.count * 6 / 10)))
        let error = mediaFailure {
            if sample.contains("/video/") || sample.hasSuffix(".mp4") { _ = try VideoReader(cut).frames(.all) } else { _ = try AudioReader.load(cut) }
        }
        #expect(error?.code == .truncated, "\(error.map(String.init(describing:)) ?? "no error")")
        #expect(error?.path == name)
    }

    /// A concat list or an HLS playlist among the bytes of a dataset names files of the machine
    /// reading it: FFmpeg opens none of them (the relative name, resolved against the working
    /// directory, was read before protocols were shut off for bytes).
    @Test func playlistsInBytesOpenNoOtherFile() throws {
        let clip = "samples/shapes/video/shapes-00000.mp4"
        let playlists = [
            "ffconcat version 1.0\nfile \(clip)\n", "ffconcat version 1.0\nfile \(Repository.path(clip))\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n\(Repository.path(clip))\n#EXT-X-ENDLIST\n",
        ]
        for (number, text) in playlists.enumerated() {
            let error = mediaFailure { _ = try VideoReader(.bytes(name: "shard.tar:list\(number)", Array(text.utf8))).frames(.all) }
            #expect(error?.path == "shard.tar:list\(number)")
        }
    }

    /// A FLAC header promising 2^36 - 1 frames (its largest count) in a file of a few KB: read
    /// up to where the data ends and reported as truncated; the count is not taken as the size of
    /// a buffer (256 GB of samples).
    @Test func aFLACPromisingTheLargestFrameCountIsTruncated() throws {
        guard case .bytes(let name, var flac) = try Self.member(AudioReaderTests.audio("shapes-00001.flac")) else { return }
        #expect(flac.starts(with: Array("fLaC".utf8)) && flac[4] & 0x7F == 0)  // STREAMINFO first
        // STREAMINFO from byte 8: the 36-bit total sample count is the last 36 bits of bytes 18..<26.
        flac[21] |= 0x0F
        flac.replaceSubrange(22..<26, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let error = mediaFailure { _ = try AudioReader.load(.bytes(name: name, flac)) }
        #expect(error?.code == .truncated && error?.reason.contains("header promises 68719476735 frames") == true,
                "\(error.map(String.init(describing:)) ?? "no error")")
    }

    /// A raw video header claiming 30000x30000 frames, from bytes: said as the size it is, as
    /// for a file, before any picture is allocated.
    @Test func anOverLargeRawVideoHeaderInBytesSaysTheFrameSize() {
        let y4m = Array("YUV4MPEG2 W30000 H30000 F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8) + [UInt8](repeating: 0, count: 4096)
        let error = mediaFailure { _ = try VideoReader(.bytes(name: "shard.tar:huge.y4m", y4m)).frames(.all) }
        #expect(error?.code == .invalidData && error?.path == "shard.tar:huge.y4m")
        #expect(error?.reason.hasPrefix("frame size 30000x30000 in its header is too large to decode") == true)
    }

    /// Seeded noise, and noise behind a real header: a MediaError naming the item, never a trap.
    @Test func garbageBytesAreAnErrorNamingTheItem() throws {
        var generator = SplitMix64(seed: 27)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let header = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repository.clips[0])).prefix(700))
        for (name, bytes) in [("noise.mp4", noise), ("noise.flac", noise), ("noise.jpg", noise), ("header.mp4", header + noise)] {
            let source = MediaSource.bytes(name: name, bytes)
            for error in [mediaFailure { _ = try VideoReader(source).frames(.all) }, mediaFailure { _ = try AudioReader.load(source) },
                          mediaFailure { _ = try ImageReader.decode(source) }] {
                #expect(error?.path == name)
            }
        }
    }
}
