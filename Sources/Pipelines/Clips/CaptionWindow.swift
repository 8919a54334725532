import Media
import Training

extension ClipShape {
    /// The caption window of `seconds` in mel frames at log_mel's and audio_decode's default hop
    /// and rate (the 10 ms hop eval and search cut captions at): what `clip_batch`'s `max_frames`
    /// must be for a trainer sink of this shape.
    var windowFrames: Int {
        let mel = MelOptions()
        return Int((boundedSeconds * Double(mel.sampleRate) / Double(mel.hopLength)).rounded())
    }
}
