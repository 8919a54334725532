import Foundation
import Media
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
