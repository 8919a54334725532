import Foundation
import Media
import Testing

struct AudioReaderTests {
    static func audio(_ name: String) -> String { Repository.path("samples/shapes/audio/\(name)") }

    @Test(arguments: ["shapes-00000.wav", "shapes-00001.flac", "shapes-00002.ogg", "shapes-00003.opus"])
    func readsEveryAudioFormatOfTheSampleSetAt16kHzMono(name: String) throws {
        let audio = try AudioReader.load(path: Self.audio(name), sampleRate: 16000)
        #expect(audio.sampleRate == 16000 && audio.channels == 1)
        #expect(audio.seconds > 1 && audio.seconds < 4)  // one spoken caption
        #expect(audio.samples.map(abs).max()! > 0.3)  // normalised to -3 dBFS by the generator
    }

    /// libsndfile and FFmpeg decode the same PCM file to the same samples.
    @Test func soundFileAndFFmpegAgreeOnPCM() throws {
        let path = Self.audio("shapes-00000.wav")
        let viaSndfile = try AudioReader.readSoundFile(.file(path))
        let viaFFmpeg = try AudioReader.readTrack(.file(path))
        #expect(viaSndfile == viaFFmpeg)
    }

    @Test(arguments: Repository.clips)
    func readsTheAudioTrackOfEveryVideoContainer(path: String) throws {
        let audio = try AudioReader.load(path: path, sampleRate: 16000)
        #expect(audio.channels == 1)
        #expect(abs(audio.seconds - 3) < 0.05)  // the generator fits speech to the 3 s clip
        #expect(audio.samples.map(abs).max()! > 0.2)
    }

    @Test func resamplingKeepsPitchAndGivesTheExactLength() throws {
        let rate = 16000, tone = 440.0
        let samples = (0..<rate).map { Float(sin(2 * .pi * tone * Double($0) / Double(rate))) }
        let down = try AudioBuffer(source: "sine", sampleRate: rate, channels: 1, samples: samples).resampled(to: 8000)
        #expect(down.frameCount == 8000)
        // Away from the edges, every output sample is the sine at its own time.
        let error = (100..<7900).map { abs(Double(down.samples[$0]) - sin(2 * .pi * tone * Double($0) / 8000)) }.max()!
        #expect(error < 0.01)
    }

    @Test func monoAveragesChannels() {
        let stereo = AudioBuffer(source: "s", sampleRate: 8000, channels: 2, samples: [1, 0, 0.5, 0.5, -1, 1])
        #expect(stereo.mono().samples == [0.5, 0.5, 0])
    }

    @Test func fittingCropsASeededWindowOrPadsWithSilence() throws {
        let ramp = AudioBuffer(source: "r", sampleRate: 10, channels: 1, samples: (0..<50).map(Float.init))
        let window = try ramp.fitted(toSeconds: 2, seed: 3)
        #expect(window.frameCount == 20)
        let start = Int(window.samples[0])
        #expect(window.samples == (start..<start + 20).map(Float.init))  // a contiguous window
        #expect(try ramp.fitted(toSeconds: 2, seed: 3) == window)  // same seed, same window
        #expect(try ramp.fitted(toSeconds: 2).samples == (0..<20).map(Float.init))  // no seed: the start
        let padded = try ramp.fitted(toSeconds: 6)
        #expect(padded.frameCount == 60 && padded.samples[50...].allSatisfy { $0 == 0 })
    }

    @Test func damagedWavHeaderIsInvalidData() {
        let path = Repository.path("samples/broken/damaged-header.wav")
        #expect {
            try AudioReader.load(path: path)
        } throws: { error in
            let error = error as? MediaError
            return error?.code == .invalidData && error?.path == path && error?.reason.contains("libsndfile") == true
        }
    }

    @Test func zeroLengthWavIsEmpty() {
        #expect(throws: MediaError(.empty, path: Repository.path("samples/broken/empty.wav"), "file is empty (0 bytes)")) {
            try AudioReader.load(path: Repository.path("samples/broken/empty.wav"))
        }
    }
}
