import Foundation
import Media
import Synchronization
import Testing

/// The librosa outputs written by tools/mel-fixtures.py.
struct MelFixture: Decodable, CustomTestStringConvertible {
    let audio: String
    let name: String
    let options: MelOptions
    let fixture: String
    let frames: Int
    let melBins: Int

    static func all() throws -> [MelFixture] {
        struct File: Decodable { let cases: [MelFixture] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("mel/mel.json")))
        return try JSONDecoder().decode(File.self, from: data).cases
    }

    func expected() throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("mel/\(fixture)")))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    var testDescription: String { "\(name) on \(audio)" }
}

struct LogMelTests {
    @Test(arguments: try MelFixture.all())
    func matchesLibrosaWithinAHundredthOfADecibel(fixture: MelFixture) throws {
        let audio = try AudioReader.load(path: Repository.path(fixture.audio))
        let mel = try MelExtractor(options: fixture.options).compute(audio)
        #expect(mel.frames == fixture.frames && mel.melBins == fixture.melBins)
        let expected = try fixture.expected()
        let worst = zip(mel.values, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 0.01, "max abs difference \(worst) dB")
    }

    @Test func splittingOneSpectrogramOverThreadsChangesNothing() throws {
        let audio = try AudioReader.load(path: Repository.path("samples/shapes/audio/shapes-00000.wav"))
        let alone = try MelExtractor().compute(audio)
        #expect(alone.frames > 128)  // more than one chunk of frames, so both threads get work
        #expect(try MelExtractor(threads: 2).compute(audio) == alone)
    }

    @Test func aPoolServesManyThreadsAtOnce() throws {
        let audio = try AudioReader.load(path: Repository.path("samples/shapes/audio/shapes-00000.wav"))
        var whisperLike = MelOptions()  // n_fft 400 takes the FFTW path
        whisperLike.fftSize = 400
        whisperLike.melBins = 80
        let options = [MelOptions(), whisperLike]
        let expected = try options.map { try MelExtractor(options: $0).compute(audio) }
        let pool = MelExtractorPool()
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 16) { call in
            let result = try? pool.compute(audio.samples, options: options[call % 2])
            if result != expected[call % 2] { mismatches.withLock { $0 += 1 } }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }

    @Test func topDecibelsFloorsRelativeToTheMaximum() throws {
        let audio = try AudioReader.load(path: Repository.path("samples/shapes/audio/shapes-00000.wav"))
        var options = MelOptions()
        options.topDecibels = 30
        let mel = try MelExtractor(options: options).compute(audio)
        #expect(mel.values.max() == 0)  // ref = max
        #expect(mel.values.min() == -30)
    }

    @Test func rejectsAudioAtTheWrongRate() throws {
        let audio = AudioBuffer(source: "tone.wav", sampleRate: 8000, channels: 1, samples: .init(repeating: 0, count: 8000))
        #expect(throws: MediaError.self) { try MelExtractor().compute(audio) }
    }

    @Test func rejectsInconsistentOptions() {
        var options = MelOptions()
        options.windowLength = 1024  // longer than the 512-point FFT
        #expect(throws: MediaError.self) { try MelExtractor(options: options) }
    }
}
