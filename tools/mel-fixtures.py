#!/usr/bin/env python3
"""librosa reference for the Media log-mel: writes the committed fixtures the Swift tests compare
against, and checks any .npy the Swift side writes (e.g. `sluice mel ... --out mel.npy`).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install librosa
    apt-get install alsa-utils   # its recorded voice prompts, for the real-speech clips below
    /tmp/venv/bin/python tools/mel-fixtures.py                  # writes Tests/MediaTests/Fixtures/mel/
    /tmp/venv/bin/python tools/mel-fixtures.py --check mel.npy --audio A.wav --options spoken-caption

Each option set maps to librosa.feature.melspectrogram (+ librosa.effects.preemphasis before it
and librosa.power_to_db(ref=np.max) after it). Audio is read with soundfile (libsndfile, as the
Swift reader) and computed in float64 so the reference itself carries no float32 rounding.
"""
import argparse
import json
import os

import librosa
import numpy as np
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "MediaTests", "Fixtures", "mel")

# Names follow the Swift MelOptions fields, so the test decodes them directly.
OPTION_SETS = {
    "spoken-caption": dict(fftSize=512, windowLength=400, hopLength=160, window="hamming", melBins=40,
                           minFrequency=20.0, scale="slaney", normalizeBands=True, power=2.0,
                           preEmphasis=0.97, center=True, decibels=True, topDecibels=80.0),
    "htk-magnitude-no-floor": dict(fftSize=1024, windowLength=800, hopLength=256, window="hann", melBins=64,
                                   minFrequency=0.0, maxFrequency=8000.0, scale="htk", normalizeBands=True,
                                   power=1.0, center=True, decibels=True),
    "uncentred-unnormalised-400": dict(fftSize=400, windowLength=400, hopLength=160, window="hann", melBins=80,
                                       minFrequency=0.0, scale="slaney", normalizeBands=False, power=2.0,
                                       preEmphasis=0.97, center=False, decibels=True, topDecibels=60.0),
}
CLIPS = ["samples/shapes/audio/shapes-00000.wav", "samples/shapes/audio/shapes-00001.flac",
         "Tests/MediaTests/Fixtures/mel/speech-mid-utterance.wav",
         "Tests/MediaTests/Fixtures/mel/recorded-speech.wav",
         "Tests/MediaTests/Fixtures/mel/recorded-speech-cut-dc.wav",
         "Tests/MediaTests/Fixtures/mel/second-recording-cut.wav"]
# A human voice recorded in a room (alsa-utils' "Front, center" prompt, 48 kHz): room noise before
# the word, unlike synthetic speech.
RECORDING = "/usr/share/sounds/alsa/Front_Center.wav"
# A second recording, of another prompt ("Rear, left"), that no one here made or touched but to cut it.
SECOND_RECORDING = "/usr/share/sounds/alsa/Rear_Left.wav"
SPEECH = "Please call Stella. Ask her to bring these things with her from the store."


def write_speech_clip(path):
    """Read speech that starts mid-word, as a cut recording does: the first two
    frames (the ones the centre padding reaches) then hold signal, and pre-emphasis starts on a
    large sample. espeak-ng (Debian's espeak-ng) speaks; librosa resamples to 16 kHz."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".wav") as spoken:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", spoken.name, SPEECH], check=True)
        y, sr = soundfile.read(spoken.name, dtype="float64")
    y = librosa.resample(y, orig_sr=sr, target_sr=16000)
    start = int(0.83 * 16000)
    soundfile.write(path, y[start:start + 2 * 16000], 16000, subtype="PCM_16")


def write_recorded_clips(whole, cut):
    """The recording at 16 kHz (resampled here, once, so the test reads it as it is), and the same
    cut to start inside the word (0.11 s in, on a large sample) with a DC offset of +0.05 added, as
    an offset microphone input has: the first frames then hold a step that pre-emphasis and the
    centre padding both act on."""
    y, sr = soundfile.read(RECORDING, dtype="float64")
    y = librosa.resample(y, orig_sr=sr, target_sr=16000)
    soundfile.write(whole, y, 16000, subtype="PCM_16")
    soundfile.write(cut, np.clip(y[1765:1765 + 8000] + 0.05, -1, 1), 16000, subtype="PCM_16")


def write_second_recording_clip(path):
    """Half a second of the second recording at 16 kHz, starting 0.25 s in, inside the first word."""
    y, sr = soundfile.read(SECOND_RECORDING, dtype="float64")
    y = librosa.resample(y, orig_sr=sr, target_sr=16000)
    soundfile.write(path, y[4000:12000], 16000, subtype="PCM_16")


def log_mel(y, sr, o):
    y = y.astype(np.float64)
    if o.get("preEmphasis") is not None:
        y = librosa.effects.preemphasis(y, coef=o["preEmphasis"])
    s = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=o["fftSize"], hop_length=o["hopLength"], win_length=o["windowLength"],
        window=o["window"], center=o["center"], pad_mode="constant", power=o["power"], n_mels=o["melBins"],
        fmin=o["minFrequency"], fmax=o.get("maxFrequency"), htk=o["scale"] == "htk",
        norm="slaney" if o["normalizeBands"] else None)
    if o["decibels"]:
        s = librosa.power_to_db(s, ref=np.max, amin=1e-10, top_db=o.get("topDecibels"))
    return s.T.astype(np.float32)  # frames x mels


def write_fixtures():
    os.makedirs(OUT, exist_ok=True)
    speech = os.path.join(ROOT, CLIPS[2])
    if not os.path.exists(speech):
        write_speech_clip(speech)
    recorded = [os.path.join(ROOT, clip) for clip in CLIPS[3:5]]
    if not all(map(os.path.exists, recorded)):
        write_recorded_clips(*recorded)
    second = os.path.join(ROOT, CLIPS[5])
    if not os.path.exists(second):
        write_second_recording_clip(second)
    cases = []
    for clip in CLIPS:
        y, sr = soundfile.read(os.path.join(ROOT, clip), dtype="float32")
        for name, options in OPTION_SETS.items():
            mel = log_mel(y, sr, options)
            fixture = f"{os.path.splitext(os.path.basename(clip))[0]}-{name}.f32"
            mel.tofile(os.path.join(OUT, fixture))  # little-endian float32, frames x mels
            cases.append(dict(audio=clip, name=name, options=dict(options, sampleRate=sr, minimumValue=1e-10), fixture=fixture,
                              frames=mel.shape[0], melBins=mel.shape[1]))
    with open(os.path.join(OUT, "mel.json"), "w") as f:
        json.dump(dict(librosa=librosa.__version__, cases=cases), f, indent=1)
    print(f"mel-fixtures: {len(cases)} cases in {OUT}")


def check(path, audio, options):
    y, sr = soundfile.read(audio, dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    expected = log_mel(y, sr, OPTION_SETS[options])
    actual = np.load(path)
    if actual.shape != expected.shape:
        raise SystemExit(f"mel-fixtures: shape {actual.shape} != librosa {expected.shape}")
    diff = float(np.abs(actual.astype(np.float64) - expected).max())
    print(f"mel-fixtures: max abs difference {diff:.6f} dB over {expected.size} values")
    raise SystemExit(0 if diff < 0.01 else 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", help="a frames x mels float32 .npy to compare with librosa")
    parser.add_argument("--audio", help="the audio file the .npy was computed from")
    parser.add_argument("--options", default="spoken-caption", choices=sorted(OPTION_SETS))
    args = parser.parse_args()
    if args.check:
        check(args.check, args.audio, args.options)
    else:
        write_fixtures()
