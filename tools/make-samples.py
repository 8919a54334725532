#!/usr/bin/env python3
"""Generates the "moving shapes" sample set: short clips of one coloured shape moving in one
direction over a textured background, each with a caption, that caption spoken by espeak-ng, and a
JSONL manifest with train/test splits. Containers and codecs rotate (MP4/H.264, MKV/H.264,
WebM/VP9, AVI/MJPEG) and so do the separate audio formats (WAV, FLAC, Ogg/Vorbis, Opus), so the
readers are exercised on all of them. Also writes the broken inputs the error tests use.

Needs the ffmpeg CLI, espeak-ng and sox (apt-get install -y ffmpeg espeak-ng sox); standard
library only, so any python3 runs it.

    tools/make-samples.py                      # the committed set: samples/shapes, 24 clips
    tools/make-samples.py --count 3000 --out /tmp/shapes-3k   # a training-sized set
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import tempfile

SHAPES = ["circle", "square", "triangle"]
COLOURS = {
    "red": (220, 30, 30), "green": (30, 190, 60), "blue": (40, 80, 230), "yellow": (240, 220, 30),
    "purple": (150, 50, 200), "orange": (250, 140, 20), "white": (245, 245, 245),
}
DIRECTIONS = ["left", "right", "up", "down"]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+m4"]
SPEEDS = [140, 165, 190]

# (container extension, video codec arguments, audio codec arguments): rotated over the clips.
CONTAINERS = [
    ("mp4", ["-c:v", "libx264", "-preset", "medium", "-crf", "26", "-g", "15", "-bf", "3",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart"], ["-c:a", "aac", "-b:a", "32k"]),
    ("mkv", ["-c:v", "libx264", "-preset", "fast", "-crf", "26", "-g", "20", "-bf", "2",
             "-pix_fmt", "yuv420p"], ["-c:a", "libvorbis", "-q:a", "2"]),
    ("webm", ["-c:v", "libvpx-vp9", "-crf", "40", "-b:v", "0", "-g", "15", "-deadline", "good",
              "-cpu-used", "4", "-row-mt", "0", "-threads", "1"], ["-c:a", "libopus", "-b:a", "24k"]),
    ("avi", ["-c:v", "mjpeg", "-q:v", "8", "-pix_fmt", "yuvj420p"], ["-c:a", "pcm_s16le"]),
]
AUDIO_FORMATS = [
    ("wav", ["-c:a", "pcm_s16le"]), ("flac", ["-c:a", "flac"]),
    ("ogg", ["-c:a", "libvorbis", "-q:a", "3"]), ("opus", ["-c:a", "libopus", "-b:a", "24k"]),
]

SIZE, FPS, SECONDS, SHAPE_SIZE = 112, 15, 3, 28


def run(args):
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"make-samples: {args[0]} failed:\n{done.stderr[-2000:]}")


def alpha_expression(shape):
    """Alpha mask of the shape in a SHAPE_SIZE square, as an ffmpeg geq expression."""
    c = (SHAPE_SIZE - 1) / 2
    if shape == "circle":
        return f"if(lte(hypot(X-{c},Y-{c}),{c}),255,0)"
    if shape == "square":
        return "if(between(X,2,25)*between(Y,2,25),255,0)"
    return f"if(lte(2*abs(X-{c}),Y),255,0)"  # triangle pointing up


def position_expressions(direction, offset):
    """Overlay x/y expressions: the shape crosses the frame in `direction` over the clip."""
    travel = f"(t/{SECONDS})"
    across = f"((main_w-overlay_w)*{travel})"
    back = f"((main_w-overlay_w)*(1-{travel}))"
    fixed = str(offset)
    return {"left": (back, fixed), "right": (across, fixed),
            "up": (fixed, back.replace("main_w", "main_h").replace("overlay_w", "overlay_h")),
            "down": (fixed, across.replace("main_w", "main_h").replace("overlay_w", "overlay_h"))}[direction]


def video_filter(shape, colour, direction, rng):
    r, g, b = COLOURS[colour]
    phase, tint = rng.randint(0, 40), rng.randint(-20, 20)
    offset = rng.randint(10, SIZE - SHAPE_SIZE - 10)
    x, y = position_expressions(direction, offset)
    background = (
        f"color=c=gray:s={SIZE}x{SIZE}:r={FPS}:d={SECONDS},format=rgb24,"
        f"geq=r='{100 + tint}+35*sin((X+{phase})/5)*cos(Y/7)':"
        f"g='110+30*sin((X+Y+{phase})/9)':b='{95 - tint}+35*cos((Y+{phase})/6)*sin(X/11)'[bg]")
    sprite = (
        f"color=c=black:s={SHAPE_SIZE}x{SHAPE_SIZE}:r={FPS}:d={SECONDS},format=rgba,"
        f"geq=r={r}:g={g}:b={b}:a='{alpha_expression(shape)}'[fg]")
    return f"{background};{sprite};[bg][fg]overlay=x='{x}':y='{y}':shortest=1,format=yuv420p[v]"


def speak(caption, voice, speed, work):
    """espeak-ng speech resampled to 16 kHz mono; returns (natural-length wav, 3 s wav)."""
    raw, speech, fitted = (os.path.join(work, n) for n in ("raw.wav", "speech.wav", "fitted.wav"))
    run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, caption])
    run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", speech, "norm", "-3"])
    run(["sox", speech, fitted, "pad", "0", str(SECONDS), "trim", "0", str(SECONDS)])
    return speech, fitted


def draw_clip(index, rng):
    """The clip's content: every random draw happens here, in clip order, so the set is the same
    however many clips are rendered at once."""
    shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
    direction, voice, speed = rng.choice(DIRECTIONS), rng.choice(VOICES), rng.choice(SPEEDS)
    caption = f"a {colour} {shape} moves {'to the ' if direction in ('left', 'right') else ''}{direction}"
    return {"id": f"shapes-{index:05d}", "caption": caption, "shape": shape, "colour": colour, "direction": direction,
            "voice": voice, "speed": speed, "filter": video_filter(shape, colour, direction, rng)}


def render_clip(index, clip, out):
    """Speaks and encodes a drawn clip; returns its manifest row."""
    ext, vcodec, acodec = CONTAINERS[index % len(CONTAINERS)]
    aext, aformat = AUDIO_FORMATS[index % len(AUDIO_FORMATS)]
    clip_id = clip["id"]
    with tempfile.TemporaryDirectory() as work:
        speech, fitted = speak(clip["caption"], clip["voice"], clip["speed"], work)
        video = os.path.join(out, "video", f"{clip_id}.{ext}")
        audio = os.path.join(out, "audio", f"{clip_id}.{aext}")
        run(["ffmpeg", "-nostdin", "-y", "-filter_complex", clip["filter"],
             "-i", fitted, "-map", "[v]", "-map", "0:a", *vcodec, *acodec, "-shortest",
             "-metadata", f"title={clip['caption']}", video])
        run(["ffmpeg", "-nostdin", "-y", "-i", speech, *aformat, audio])
    row = {key: value for key, value in clip.items() if key != "filter"}
    return {"id": clip_id, "video": f"video/{clip_id}.{ext}", "audio": f"audio/{clip_id}.{aext}", **row}


def make_rotated(mp4, out):
    """Outside the manifest: rotated-{90,180,270}.mp4, the first clip cropped to 112x64 (so a
    quarter turn changes its shape) with a display rotation in the header, which the probe reports
    and frames follow as the ffmpeg CLI's autorotation does; rotated-90-yuv422p.mp4 the same in
    4:2:2."""
    with tempfile.TemporaryDirectory() as work:
        upright = os.path.join(work, "upright.mp4")
        run(["ffmpeg", "-nostdin", "-y", "-i", mp4, "-vf", "crop=112:64:0:24", "-an", "-c:v", "libx264",
             "-preset", "medium", "-crf", "26", "-g", "15", "-pix_fmt", "yuv420p", "-threads", "1", upright])
        # 4:2:2 chroma cannot be turned plane by plane, so it takes the reader's other path.
        upright422 = os.path.join(work, "upright-yuv422p.mp4")
        run(["ffmpeg", "-nostdin", "-y", "-i", upright, "-c:v", "libx264", "-preset", "medium", "-crf", "26",
             "-g", "15", "-pix_fmt", "yuv422p", "-threads", "1", upright422])
        # The rotation tag is written to the header's display matrix only when copying the stream.
        for source, degrees, name in [(upright, 90, "rotated-90"), (upright, 180, "rotated-180"),
                                      (upright, 270, "rotated-270"), (upright422, 90, "rotated-90-yuv422p")]:
            run(["ffmpeg", "-nostdin", "-y", "-i", source, "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}",
                 os.path.join(out, f"{name}.mp4")])


def make_broken(out, valid_mp4, valid_wav, rng):
    """The inputs the error tests need: each must fail with a clear error, never hang or crash."""
    os.makedirs(out, exist_ok=True)
    data = open(valid_mp4, "rb").read()
    # Header (moov, faststart) intact, media data cut: opens, then runs out of packets.
    open(os.path.join(out, "truncated.mp4"), "wb").write(data[: len(data) * 2 // 5])
    open(os.path.join(out, "random-bytes.mp4"), "wb").write(bytes(rng.getrandbits(8) for _ in range(32768)))
    wav = bytearray(open(valid_wav, "rb").read())
    wav[8:16] = b"JUNKJUNK"  # "WAVEfmt " destroyed: not a RIFF/WAVE file any more
    open(os.path.join(out, "damaged-header.wav"), "wb").write(bytes(wav))
    open(os.path.join(out, "empty.mp4"), "wb").close()

    open(os.path.join(out, "empty.wav"), "wb").close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--out", default=os.path.join(root, "samples", "shapes"))
    parser.add_argument("--broken", default=os.path.join(root, "samples", "broken"),
                        help="where the broken inputs go ('' to skip)")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="clips rendered at once (the set does not depend on it)")
    args = parser.parse_args()
    for tool in ("ffmpeg", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"make-samples: {tool} not found (apt-get install -y ffmpeg espeak-ng sox)")

    rng = random.Random(args.seed)
    for sub in ("video", "audio"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    test_ids = set(rng.sample(range(args.count), max(1, round(args.count * args.test_fraction))))
    clips = [draw_clip(i, rng) for i in range(args.count)]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda i: render_clip(i, clips[i], args.out), range(args.count)))
    for i, row in enumerate(rows):
        row["split"] = "test" if i in test_ids else "train"
    with open(os.path.join(args.out, "manifest.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    first_mp4 = os.path.join(args.out, next(r for r in rows if r["video"].endswith(".mp4"))["video"])
    make_rotated(first_mp4, args.out)
    if args.broken:
        mp4 = next(r for r in rows if r["video"].endswith(".mp4"))
        wav = next(r for r in rows if r["audio"].endswith(".wav"))
        make_broken(args.broken, os.path.join(args.out, mp4["video"]), os.path.join(args.out, wav["audio"]), rng)
    print(f"make-samples: {len(rows)} clips in {args.out}")


if __name__ == "__main__":
    main()
