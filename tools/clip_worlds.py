#!/usr/bin/env python3
"""Generates a CHECK world for the clip trainers (Spoken Moments video<->spoken-caption retrieval,
capsule networks): short clips of one outlined object moving over a busy, moving background, each
with a caption spoken by espeak-ng, and a JSONL manifest with train/test splits.

    python3 tools/clip_worlds.py OUTDIR [--count 400] [--seed 0] [--test-share 0.25] [--world check]

Why a second world: the trainers were developed on tools/make-samples.py's "moving shapes" world
(the TUNING world). A model, or a person choosing hyper-parameters, can overfit to anything that
world holds constant: its three shapes, seven colours, four straight moves, one caption sentence,
six voices, a calm static texture, square 112 px frames at 15 fps. This world changes every one of
those, so a score on it says whether what was learned carries over. Use it only to check
generalisation, never to tune on. What differs:

- objects: star, ring, cross, diamond, hexagon, heart (no circle, square or triangle), with a thin
  light or dark outline so they stay readable, a size that varies per clip and a random position;
  captions sometimes say "hoop" for ring and "plus sign" for cross;
- colours: cyan, pink, brown, grey, black, lime, navy, teal (none of the tuning seven);
- motions (the "direction" label): the four diagonals (up-left, up-right, down-left, down-right;
  "slowly" or "quickly" in a caption really means a shorter or the full path), growing, shrinking
  and spinning; diagonal and growing/shrinking objects may sit at a fixed tilt;
- backgrounds that move and are busy: a zooming Mandelbrot set, Conway's life, scrolling
  cellular automata, ffmpeg's testsrc2 panned about, animated gradients, geq plasma and drifting
  noise clouds, with random hue, contrast and film grain. The repository's container fixtures
  (Tests/MediaTests/Fixtures/containers) are re-encodings of a tuning-world clip, so they are not
  used: they would put tuning-world shapes into this world;
- wording: seven sentence templates ("you can see a grey ring sinking slowly towards the bottom
  left", "there is a lime cross that keeps growing", "heading for the top right corner: a pink
  star", ...) with synonyms for the verbs and the motions, none of the tuning sentence shapes;
- voices: espeak-ng accents and variants the tuning world does not use (en-gb-x-rp, en-gb-x-gbclan,
  en-gb-x-gbcwmd, en-us-nyc, en-us, en-029, en-gb-scotland, each with a +variant such as m3, f2,
  klatt, Annie), a random pitch (-p 25..80), speed (-s 135..200, faster when a caption must fit in
  its video) and word gap, leading silence, and light pink/brown/white noise (sox) under the speech;
- where the caption is heard: in about half the clips there is no "audio" field, the spoken
  caption is only the video's own audio track (with the noise); the other half have a separate
  audio file (WAV, FLAC, Ogg/Vorbis or Opus at 16 to 44.1 kHz) and a video carrying either no audio
  or unrelated ambient sound (wind, hum, room tone, rain-like hiss);
- video: 128x96, 144x108, 160x120 or 176x144 (never square) at 24, 25 or 30 fps, 3 to 5 s, in
  MP4/H.264, MKV/H.264, WebM/VP9 or AVI/MJPEG (make-samples.py's codec settings), each chosen at
  random per clip rather than rotated together.

`--world development` makes a third world to choose settings on without touching the check world:
the tuning world's objects (circle, square, triangle), seven colours and four straight moves (left,
right, up, down), said with its own five sentence templates, over the check world's busy moving
backgrounds with its voices, noise, sizes, containers and half the captions only in the video's
track. It has what makes the check world hard (clips told apart by their backgrounds and voices
alone), and none of the check world's objects, colours, motions or sentences.

OUTDIR/manifest.jsonl has one clip per line: "id", "video", "audio" (only when the caption has its
own file), "caption", "split" ("train"/"test", a seeded shuffle holding out --test-share), the
labels "shape", "colour", "direction", and what the clip was made of ("background", "voice",
"pitch", "speed", "speech_in", "ambient", "size", "fps", "seconds", "pace"). Everything is drawn
from random.Random(--seed) in the main process, so the manifest is the same for the same seed; two
worker processes render the clips into OUTDIR.partial, renamed to OUTDIR when all are done.

Needs the ffmpeg CLI, espeak-ng and sox (bash tools/install-deps.sh ffmpeg espeak-ng sox);
standard library only.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

_spec = importlib.util.spec_from_file_location(
    "make_samples", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-samples.py"))
make_samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_samples)
run, CONTAINERS, AUDIO_FORMATS = make_samples.run, make_samples.CONTAINERS, make_samples.AUDIO_FORMATS

SHAPES = ["star", "ring", "cross", "diamond", "hexagon", "heart"]
SHAPE_WORDS = {"ring": ["ring", "ring", "hoop"], "cross": ["cross", "cross", "plus sign"]}
COLOURS = {
    "cyan": (0, 225, 235), "pink": (255, 115, 190), "brown": (130, 75, 25), "grey": (135, 135, 135),
    "black": (12, 12, 12), "lime": (170, 255, 0), "navy": (20, 30, 125), "teal": (0, 130, 130),
}
DIAGONALS = ["up-left", "up-right", "down-left", "down-right"]
MOTIONS = DIAGONALS + ["growing", "shrinking", "spinning"]
BASE_VOICES = ["en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-us", "en-029", "en-gb-scotland"]
VARIANTS = ["m1", "m2", "m3", "m5", "m6", "m7", "f1", "f2", "f4", "f5", "klatt", "klatt2", "klatt3",
            "Annie", "Andy", "Alicia", "belinda", "steph", "grandpa", "Michael", "edward", "linda"]
TUNING_VOICES = {"en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+m4"}
BACKGROUNDS = ["mandelbrot", "life", "cellauto", "testsrc2", "gradients", "plasma", "clouds"]
AMBIENTS = ["none", "wind", "hum", "room", "hiss"]
SIZES = [(128, 96), (144, 108), (160, 120), (176, 144)]
FRAME_RATES = [24, 25, 30]
SAMPLE_RATES = [16000, 22050, 24000, 32000, 44100]
# One thread per ffmpeg (two clips render at once) and no random ids or version strings in the
# files, so the same seed gives the same bytes.
EXACT = ["-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
LONGEST = 5.0  # seconds: a caption heard in the video must fit in it

# Motion words. A verb is (third person, -ing, base form); diagonal verbs differ going up or down.
UP_VERBS = [("drifts", "drifting", "drift"), ("glides", "gliding", "glide"), ("floats", "floating", "float"),
            ("climbs", "climbing", "climb"), ("rises", "rising", "rise"), ("heads", "heading", "head"),
            ("travels", "travelling", "travel")]
DOWN_VERBS = [("drifts", "drifting", "drift"), ("glides", "gliding", "glide"), ("sinks", "sinking", "sink"),
              ("falls", "falling", "fall"), ("slides", "sliding", "slide"), ("heads", "heading", "head"),
              ("travels", "travelling", "travel")]
CORNER_WORDS = {"up": ["upper", "top"], "down": ["lower", "bottom"]}
DIAGONAL_PHRASES = ["toward the {v} {h}", "towards the {v} {h} corner", "{vd} and to the {h}", "to the {v} {h}",
                    "diagonally {vd} and {h}"]
STILL_VERBS = {
    "growing": [("grows", "growing", "grow"), ("gets bigger", "getting bigger", "get bigger"),
                ("swells", "swelling", "swell"), ("expands", "expanding", "expand")],
    "shrinking": [("shrinks", "shrinking", "shrink"), ("gets smaller", "getting smaller", "get smaller"),
                  ("dwindles", "dwindling", "dwindle"), ("contracts", "contracting", "contract")],
    "spinning": [("spins", "spinning", "spin"), ("rotates", "rotating", "rotate"),
                 ("turns round and round", "turning round and round", "turn round and round"),
                 ("twirls", "twirling", "twirl")],
}
# {a} "a"/"an", {c} colour, {s} shape word, {v3}/{ving}/{v} the motion in three verb forms.
TEMPLATES = [
    "{a} {c} {s} {v3}",
    "you can see {a} {c} {s} {ving}",
    "there is {a} {c} {s} that keeps {ving}",
    "this clip shows {a} {c} {s} {ving}",
    "watch the {c} {s} {v}",
    "the {s} here is {c} and it {v3}",
    "{ving}: {a} {c} {s}",
]

# The development world: the tuning world's objects, colours and moves in sentences of its own.
DEV_SHAPES = make_samples.SHAPES
DEV_COLOURS = make_samples.COLOURS
STRAIGHT = make_samples.DIRECTIONS
STRAIGHT_VERBS = {
    "left": [("moves", "moving", "move"), ("slides", "sliding", "slide"), ("goes", "going", "go")],
    "right": [("moves", "moving", "move"), ("slides", "sliding", "slide"), ("goes", "going", "go")],
    "up": [("rises", "rising", "rise"), ("goes up", "going up", "go up"), ("moves up", "moving up", "move up")],
    "down": [("drops", "dropping", "drop"), ("goes down", "going down", "go down"), ("moves down", "moving down", "move down")],
}
STRAIGHT_PHRASES = {"left": ["to the left", "leftwards", "towards the left edge"],
                    "right": ["to the right", "rightwards", "towards the right edge"],
                    "up": ["", "towards the top"], "down": ["", "towards the bottom"]}
DEV_TEMPLATES = [
    "look, {a} {c} {s} {v3}",
    "in this video {a} {c} {s} {v3}",
    "here {a} {c} {s} is {ving}",
    "we see {a} {c} {s} {ving}",
    "{a} {c} {s} that {v3}",
]
WORLDS = {
    "check": {"shapes": SHAPES, "colours": COLOURS, "motions": MOTIONS, "prefix": "world"},
    "development": {"shapes": DEV_SHAPES, "colours": DEV_COLOURS, "motions": STRAIGHT, "prefix": "dev"},
}


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def caption_for(rng, shape, colour, motion, pace):
    """One caption; `pace` ("slowly", "", "quickly") only for diagonals, where it is true."""
    if motion in STRAIGHT:
        verb = rng.choice(STRAIGHT_VERBS[motion])
        where = rng.choice(STRAIGHT_PHRASES[motion])
        forms = [f"{form} {where}".strip() for form in verb]
        template = rng.choice(DEV_TEMPLATES)
        return template.format(a=article(colour), c=colour, s=shape, v3=forms[0], ving=forms[1])
    if motion in DIAGONALS:
        vertical, horizontal = motion.split("-")
        verb = rng.choice(UP_VERBS if vertical == "up" else DOWN_VERBS)
        where = rng.choice(DIAGONAL_PHRASES).format(
            v=rng.choice(CORNER_WORDS[vertical]), h=horizontal, vd=vertical)
        adverb = f" {pace}" if pace else ""
        forms = [f"{form}{adverb} {where}" for form in verb]
    else:
        adverb = rng.choice(["", "", " steadily", " gently"])
        forms = [f"{form}{adverb}" for form in rng.choice(STILL_VERBS[motion])]
    word = rng.choice(SHAPE_WORDS.get(shape, [shape]))
    template = rng.choice(TEMPLATES)
    return template.format(a=article(colour), c=colour, s=word, v3=forms[0], ving=forms[1], v=forms[2])


# Shapes as a signed distance L(P, Q) in units of the object's radius: negative inside, about the
# distance to the edge outside. P is right, Q is down; every shape fits the unit disc.
def _star_distance(points=5, inner=0.45):
    sector = 2 * math.pi / points
    half = sector / 2
    # The edge from the tip (1, 0) to the inner corner at angle `half`, in a sector folded onto [0, half].
    dx, dy = inner * math.cos(half) - 1, inner * math.sin(half)
    norm = math.hypot(dx, dy)
    nx, ny = dy / norm, -dx / norm
    turn = math.pi / 2 + half + 4 * math.pi  # the top tip to the middle of a sector, kept positive
    return (f"st(7,hypot(P,Q));st(8,abs(mod(atan2(Q,P)+{turn:.6f},{sector:.6f})-{half:.6f}));"
            f"(ld(7)*cos(ld(8))-1)*{nx:.6f}+ld(7)*sin(ld(8))*{ny:.6f}")


def _heart_distance(side=1.15, bottom=0.9):
    # A square standing on a corner with a half-disc on each upper edge.
    half_diagonal = side / math.sqrt(2)
    centre_q = bottom - half_diagonal
    lobe_p, lobe_q, lobe_r = side / (2 * math.sqrt(2)), bottom - 3 * side / (2 * math.sqrt(2)), side / 2
    return (f"min((abs(P)+abs(Q-{centre_q:.6f})-{half_diagonal:.6f})/{math.sqrt(2):.6f},"
            f"min(hypot(P-{lobe_p:.6f},Q-{lobe_q:.6f}),hypot(P+{lobe_p:.6f},Q-{lobe_q:.6f}))-{lobe_r:.6f})")


DISTANCES = {
    "star": _star_distance(),
    "ring": "abs(hypot(P,Q)-0.74)-0.26",
    "cross": "min(max(abs(P)-0.3,abs(Q)-1),max(abs(Q)-0.3,abs(P)-1))",
    "diamond": f"(abs(P)/0.72+abs(Q)-1)/{math.hypot(1 / 0.72, 1):.6f}",
    "hexagon": "max(abs(Q)-0.866,abs(P)*0.866+abs(Q)*0.5-0.866)",
    "heart": _heart_distance(),
    "circle": "hypot(P,Q)-1",
    "square": "max(abs(P),abs(Q))-0.75",
    "triangle": "max(Q-0.5,0.866*abs(P)-0.5*Q-0.5)",
}


def sprite_filter(spec):
    """The object on a transparent square canvas, drawn by geq each frame: radius and angle follow
    the motion; an anti-aliased outline of a contrasting grey keeps it apart from the background."""
    radius, outline, seconds = spec["radius"], spec["outline"], spec["seconds"]
    canvas = 2 * math.ceil(radius + outline + 2)
    centre = (canvas - 1) / 2
    tau = f"(T/{seconds})"
    scale = {"growing": f"(0.35+0.65*{tau})", "shrinking": f"(1-0.65*{tau})"}.get(spec["direction"], "1")
    angle = f"({spec['tilt']:.4f}+{spec['turns'] * 2 * math.pi:.4f}*{tau})"
    distance = DISTANCES[spec["shape"]].replace("P", "ld(0)").replace("Q", "ld(1)")
    prefix = (f"st(2,{radius}*{scale});st(3,{angle});st(4,(X-{centre})/ld(2));st(5,(Y-{centre})/ld(2));"
              f"st(0,ld(4)*cos(ld(3))+ld(5)*sin(ld(3)));st(1,ld(5)*cos(ld(3))-ld(4)*sin(ld(3)));"
              f"st(6,({distance})*ld(2));")
    inside = "clip(0.5-ld(6),0,1)"
    fill, edge = {**COLOURS, **DEV_COLOURS}[spec["colour"]], spec["outline_grey"]
    channels = {k: f"{prefix}{edge}+({fill[i]}-{edge})*{inside}" for i, k in enumerate("rgb")}
    channels["a"] = f"{prefix}255*clip({outline}+0.5-ld(6),0,1)"
    sprite = ":".join(f"{k}='{v}'" for k, v in channels.items())
    return canvas, (f"color=c=black:s={canvas}x{canvas}:r={spec['fps']}:d={seconds},format=rgba,"
                    f"geq={sprite}[fg]")


def background_filter(spec):
    """A moving, busy background of `spec["background"]`, ending in [bg]."""
    w, h = spec["size"]
    fps, seconds, seed, p = spec["fps"], spec["seconds"], spec["seed"], spec["bg"]
    kind = spec["background"]
    if kind == "mandelbrot":
        x, y = p["point"]
        chain = (f"mandelbrot=s={w}x{h}:r={fps}:maxiter=300:outer=normalized_iteration_count:"
                 f"start_x={x}:start_y={y}:start_scale={p['start']}:end_scale={p['end']}:"
                 f"end_pts={int(seconds * fps)},hue=h={p['hue']}")
    elif kind == "life":
        chain = (f"life=s={w // 4}x{h // 4}:r={p['rate']}:seed={seed}:ratio={p['ratio']}:mold=10:"
                 f"life_color={p['colours'][0]}:death_color={p['colours'][1]}:mold_color={p['colours'][2]},"
                 f"scale={w}x{h}:flags=neighbor,fps={fps}")
    elif kind == "cellauto":
        (r0, g0, b0), (r1, g1, b1) = p["colours"]
        chain = (f"cellauto=s={w // 2}x{h // 2}:r={p['rate']}:rule={p['rule']}:seed={seed}:ratio=0.5:"
                 f"scroll=1:start_full=1,format=rgb24,"
                 f"lutrgb=r='{r0}+({r1}-{r0})*val/255':g='{g0}+({g1}-{g0})*val/255':b='{b0}+({b1}-{b0})*val/255',"
                 f"scale={w}x{h}:flags=neighbor,fps={fps}")
    elif kind == "testsrc2":
        chain = (f"testsrc2=s={2 * w}x{2 * h}:r={fps},hue=h={p['hue']},"
                 f"crop={w}:{h}:x='(in_w-out_w)*(0.5+0.5*sin(t*{p['speed']}))':"
                 f"y='(in_h-out_h)*(0.5+0.5*cos(t*{p['speed'] * 0.7:.3f}))'")
    elif kind == "gradients":
        # Its own random colours and points ignore the seed in ffmpeg 5.1, so they are given.
        stops = ":".join(f"c{i}={c}" for i, c in enumerate(p["colours"]))
        (x0, y0), (x1, y1) = [(int(fx * w), int(fy * h)) for fx, fy in p["points"]]
        chain = (f"gradients=s={w}x{h}:r={fps}:n={len(p['colours'])}:{stops}:x0={x0}:y0={y0}:x1={x1}:y1={y1}:"
                 f"speed={p['speed']}:type={p['type']},"
                 f"format=yuv420p,noise=alls=18:allf=t+u:all_seed={seed}")
    elif kind == "plasma":
        a, b, c, d = p["freq"]
        chain = (f"color=c=black:s={w}x{h}:r={fps},format=rgb24,"
                 f"geq=r='128+90*sin(X/{a}+T*{c})*cos(Y/{b}-T)':"
                 f"g='128+90*sin((X+Y)/{b}-T*{d})':"
                 f"b='128+90*cos(hypot(X-W/2,Y-H/2)/{a}-T*{c})'")
    elif kind == "clouds":
        chain = (f"color=c=gray:s={max(w // 10, 4)}x{max(h // 10, 3)}:r=3,"
                 f"noise=alls=100:allf=t+u:all_seed={seed},format=rgb24,hue=h={p['hue']}:s={p['saturation']},"
                 f"scale={w}x{h}:flags=bicubic,gblur=sigma={p['blur']},framerate=fps={fps}")
    else:
        raise ValueError(kind)
    look = spec["look"]
    grain = f",noise=alls={look['grain']}:allf=t:all_seed={seed + 1}" if look["grain"] else ""
    return (f"{chain},format=yuv420p,eq=contrast={look['contrast']}:saturation={look['saturation']}"
            f"{grain},trim=duration={seconds},setpts=PTS-STARTPTS,format=rgb24[bg]")


def position_expressions(spec, canvas):
    """Overlay x/y: a diagonal crosses `spec["travel"]` of the free room, the other motions stay put."""
    w, h = spec["size"]
    room_x, room_y = w - canvas, h - canvas
    ax, ay = spec["anchor"]  # in [0, 1]: where the start point sits in the room it may use
    motion = spec["direction"]
    if motion not in DIAGONALS and motion not in STRAIGHT:
        return f"{ax * room_x:.2f}", f"{ay * room_y:.2f}"
    vertical, horizontal = motion.split("-") if motion in DIAGONALS else (
        (motion, None) if motion in ("up", "down") else (None, motion))
    tau = f"(t/{spec['seconds']})"
    exprs = []
    for room, anchor, forward, moves in ((room_x, ax, horizontal == "right", horizontal is not None),
                                          (room_y, ay, vertical == "down", vertical is not None)):
        if not moves:
            exprs.append(f"{anchor * room:.2f}")
            continue
        span = spec["travel"] * room
        start = anchor * (room - span) + (0 if forward else span)
        exprs.append(f"{start:.2f}{'+' if forward else '-'}{span:.2f}*{tau}")
    return tuple(exprs)


def sox_noise(path, seconds, rate, colour, volume):
    run(["sox", "-R", "-n", "-r", str(rate), "-c", "1", "-b", "16", path, "synth", f"{seconds:.3f}", colour,
         "vol", f"{volume:.4f}"])


def speak(spec, work):
    """The caption spoken, silences trimmed, at spec["rate"]; speeds up when the caption must fit in
    the video. Returns (wav path, seconds, speed used)."""
    raw, speech = os.path.join(work, "raw.wav"), os.path.join(work, "speech.wav")
    speed = spec["speed"]
    while True:
        run(["espeak-ng", "-v", spec["voice"], "-p", str(spec["pitch"]), "-s", str(speed), "-g", str(spec["gap"]),
             "-w", raw, spec["caption"]])
        run(["sox", "-R", raw, "-r", str(spec["rate"]), "-c", "1", "-b", "16", speech,
             "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
             "norm", f"{spec['level']:.1f}"])
        length = float(subprocess.run(["sox", "--i", "-D", speech], capture_output=True, text=True, check=True).stdout)
        if spec["speech_in"] == "audio" or spec["lead"] + length + 0.25 <= LONGEST or speed >= 280:
            return speech, length, speed
        speed += 20


def with_noise(speech, length, spec, seconds, out, work):
    """`speech` after spec["lead"] s of silence, padded to `seconds`, over light noise."""
    padded, noise = os.path.join(work, "padded.wav"), os.path.join(work, "noise.wav")
    tail = max(seconds - spec["lead"] - length, 0.0)
    run(["sox", "-R", speech, padded, "pad", f"{spec['lead']:.3f}", f"{tail:.3f}", "trim", "0", f"{seconds:.3f}"])
    sox_noise(noise, seconds, spec["rate"], spec["noise"], spec["noise_volume"])
    run(["sox", "-R", "-m", "-v", "1", padded, "-v", "1", noise, out])


def ambient(spec, seconds, out):
    """Unrelated sound for a video whose caption has its own file: no speech in it."""
    rate, kind = spec["rate"], spec["ambient"]
    effects = {"wind": ["brownnoise", "vol", "0.25", "tremolo", "0.3", "60", "lowpass", "600"],
               "hum": ["sine", "50", "sine", "100", "vol", "0.08", "tremolo", "0.5", "20"],
               "room": ["pinknoise", "vol", "0.06", "highpass", "200"],
               "hiss": ["whitenoise", "vol", "0.05", "lowpass", "4000", "tremolo", "7", "30"]}[kind]
    if kind == "hum":  # two tones need two channels of synth, then a mix down
        run(["sox", "-R", "-n", "-r", str(rate), "-c", "2", out + ".2ch.wav", "synth", f"{seconds:.3f}", *effects])
        run(["sox", "-R", out + ".2ch.wav", "-c", "1", out])
    else:
        run(["sox", "-R", "-n", "-r", str(rate), "-c", "1", "-b", "16", out, "synth", f"{seconds:.3f}", *effects])


def render(spec, out):
    """Writes one clip's media under `out`; returns its manifest row."""
    try:
        with tempfile.TemporaryDirectory() as work:
            return _render(spec, out, work)
    except SystemExit as failure:  # make-samples' run() exits on a failed tool
        raise RuntimeError(f"clip_worlds: {spec['id']}: {failure}") from None


def _render(spec, out, work):
    clip_id = spec["id"]
    speech, length, speed = speak(spec, work)
    seconds = spec["seconds"]
    if spec["speech_in"] == "video":
        seconds = max(seconds, math.ceil((spec["lead"] + length + 0.25) * 2) / 2)
    spec = dict(spec, seconds=seconds)
    ext, vcodec, acodec = spec["container"]
    video = os.path.join(out, "video", f"{clip_id}.{ext}")
    canvas, sprite = sprite_filter(spec)
    x, y = position_expressions(spec, canvas)
    graph = (f"{background_filter(spec)};{sprite};"
             f"[bg][fg]overlay=x='{x}':y='{y}':shortest=1,format=yuv420p[v]")
    track = None
    if spec["speech_in"] == "video":
        track = os.path.join(work, "track.wav")
        with_noise(speech, length, spec, seconds, track, work)
    elif spec["ambient"] != "none":
        track = os.path.join(work, "ambient.wav")
        ambient(spec, seconds, track)
    audio_args = ["-i", track, "-map", "[v]", "-map", "0:a", *acodec] if track else ["-map", "[v]", "-an"]
    run(["ffmpeg", "-nostdin", "-y", "-filter_threads", "1", "-filter_complex_threads", "1",
         "-filter_complex", graph, *audio_args, *vcodec, *EXACT, "-t", f"{seconds:.3f}", video])
    row = {"id": clip_id, "video": f"video/{clip_id}.{ext}"}
    if spec["speech_in"] == "audio":
        aext, aformat = spec["audio_format"]
        noisy = os.path.join(work, "noisy.wav")
        with_noise(speech, length, spec, spec["lead"] + length + spec["tail"], noisy, work)
        run(["ffmpeg", "-nostdin", "-y", "-i", noisy, *aformat, *EXACT,
             os.path.join(out, "audio", f"{clip_id}.{aext}")])
        row["audio"] = f"audio/{clip_id}.{aext}"
    w, h = spec["size"]
    row.update({"caption": spec["caption"], "split": spec["split"], "shape": spec["shape"], "colour": spec["colour"],
                "direction": spec["direction"], "pace": spec["pace"], "background": spec["background"],
                "voice": spec["voice"], "pitch": spec["pitch"], "speed": speed, "speech_in": spec["speech_in"],
                "ambient": spec["ambient"] if spec["speech_in"] == "audio" else "speech",
                "size": f"{w}x{h}", "fps": spec["fps"], "seconds": seconds})
    return row


def background_params(rng, kind):
    colour = lambda: "#%02x%02x%02x" % tuple(rng.randint(0, 255) for _ in range(3))
    rgb = lambda: tuple(rng.randint(0, 255) for _ in range(3))
    if kind == "mandelbrot":
        start = rng.uniform(0.4, 2.5)
        return {"point": rng.choice([(-0.743643887, 0.131825904), (-0.16, 1.0405), (-1.25066, 0.02012),
                                     (-0.748, 0.1), (0.2925755, -0.0149977), (-0.10109636, 0.95628651),
                                     (-1.7687788, 0.0017389)]),
                "start": round(start, 3), "end": round(start / rng.uniform(4, 40), 5), "hue": rng.randint(0, 359)}
    if kind == "life":
        return {"rate": rng.choice([6, 8, 12]), "ratio": round(rng.uniform(0.2, 0.5), 2),
                "colours": [colour(), colour(), colour()]}
    if kind == "cellauto":
        return {"rate": rng.choice([12, 20, 30]), "rule": rng.choice([18, 22, 30, 45, 73, 90, 105, 110, 126, 150]),
                "colours": [rgb(), rgb()]}
    if kind == "testsrc2":
        return {"hue": rng.randint(0, 359), "speed": round(rng.uniform(0.6, 2.0), 2)}
    if kind == "gradients":
        return {"colours": [colour() for _ in range(rng.randint(3, 8))],
                "points": [(rng.uniform(0, 0.35), rng.random()), (rng.uniform(0.65, 1), rng.random())],
                "speed": round(rng.uniform(0.02, 0.08), 3),
                "type": rng.choice(["linear", "radial", "circular", "spiral"])}
    if kind == "plasma":
        return {"freq": (rng.randint(5, 14), rng.randint(6, 18),
                         round(rng.uniform(1, 3), 2), round(rng.uniform(1, 3), 2))}
    return {"hue": rng.randint(0, 359), "saturation": round(rng.uniform(1, 4), 2), "blur": rng.choice([3, 5, 8])}


def clip_spec(rng, index, split, speech_in, world=WORLDS["check"]):
    """Every random choice of one clip, drawn in the main process so the set depends only on the seed."""
    shape, colour, motion = rng.choice(world["shapes"]), rng.choice(list(world["colours"])), rng.choice(world["motions"])
    while shape == "ring" and motion == "spinning":  # a spinning ring looks still
        motion = rng.choice(world["motions"])
    w, h = rng.choice(SIZES)
    pace = rng.choice(["slowly", "", "quickly"]) if motion in DIAGONALS else ""
    while True:
        voice = f"{rng.choice(BASE_VOICES)}+{rng.choice(VARIANTS)}"
        if voice not in TUNING_VOICES:
            break
    fill = world["colours"][colour]
    dark = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] < 110
    spec = {
        "id": f"{world['prefix']}-{index:05d}", "split": split, "shape": shape, "colour": colour, "direction": motion,
        "pace": pace, "caption": caption_for(rng, shape, colour, motion, pace),
        "size": (w, h), "fps": rng.choice(FRAME_RATES), "seconds": rng.choice([3.0, 3.5, 4.0]),
        "radius": round(h * (rng.uniform(0.15, 0.21) if motion in DIAGONALS or motion in STRAIGHT else rng.uniform(0.18, 0.27)), 1),
        "outline": rng.choice([1.5, 2.0]), "outline_grey": rng.randint(215, 250) if dark else rng.randint(5, 35),
        "tilt": 0.0 if shape == "ring" or motion == "spinning" else round(rng.uniform(-0.35, 0.35), 3),
        "turns": round(rng.choice([-1, 1]) * rng.uniform(0.4, 0.8), 3) if motion == "spinning" else 0.0,
        "travel": {"slowly": rng.uniform(0.45, 0.55), "": rng.uniform(0.7, 0.85), "quickly": 1.0}[pace],
        "anchor": (rng.random(), rng.random()),
        "background": rng.choice(BACKGROUNDS), "seed": rng.randint(1, 2**31 - 1),
        "look": {"contrast": round(rng.uniform(0.7, 1.0), 2), "saturation": round(rng.uniform(0.6, 1.1), 2),
                 "grain": rng.choice([0, 0, 8, 15])},
        "voice": voice, "pitch": rng.randint(25, 80), "speed": rng.randint(135, 200), "gap": rng.randint(0, 4),
        "level": -rng.uniform(2, 6), "rate": rng.choice(SAMPLE_RATES), "lead": round(rng.uniform(0.05, 0.6), 3),
        "tail": round(rng.uniform(0.1, 0.5), 3), "noise": rng.choice(["pinknoise", "brownnoise", "whitenoise"]),
        "noise_volume": rng.uniform(0.005, 0.03),
        "speech_in": speech_in, "container": rng.choice(CONTAINERS), "audio_format": rng.choice(AUDIO_FORMATS),
        "ambient": rng.choice(AMBIENTS),
    }
    spec["bg"] = background_params(rng, spec["background"])
    return spec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.25)
    parser.add_argument("--world", choices=sorted(WORLDS), default="check",
                        help="check (default; never tune on it) or development (to choose settings on)")
    parser.add_argument("--workers", type=int, default=2, help="clips rendered at once (default 2)")
    args = parser.parse_args()
    if args.count < 2 or not 0 < args.test_share < 1:
        parser.error("--count at least 2 and --test-share between 0 and 1")
    for tool in ("ffmpeg", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"clip_worlds: {tool} not found (bash tools/install-deps.sh ffmpeg espeak-ng sox)")
    outdir = os.path.abspath(args.outdir)
    if os.path.exists(outdir):
        raise SystemExit(f"clip_worlds: {outdir} exists; refusing to overwrite it")
    partial = outdir + ".partial"
    if os.path.exists(partial):
        print(f"clip_worlds: removing the unfinished {partial}", file=sys.stderr)
        shutil.rmtree(partial)

    rng = random.Random(args.seed)
    order = list(range(args.count))
    rng.shuffle(order)
    test = set(order[:max(1, round(args.count * args.test_share))])
    # Exactly half the captions are heard only in the video, chosen independently of the split.
    in_video = set(rng.sample(range(args.count), args.count // 2))
    specs = [clip_spec(rng, i, "test" if i in test else "train", "video" if i in in_video else "audio", WORLDS[args.world])
             for i in range(args.count)]

    for sub in ("video", "audio"):
        os.makedirs(os.path.join(partial, sub))
    started = time.time()
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for row in pool.map(render, specs, [partial] * len(specs)):
            rows.append(row)
            if len(rows) % 50 == 0:
                print(f"clip_worlds: {len(rows)}/{args.count} clips, {time.time() - started:.0f} s", file=sys.stderr)
    with open(os.path.join(partial, "manifest.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.rename(partial, outdir)
    splits = {s: sum(r["split"] == s for r in rows) for s in ("train", "test")}
    print(f"clip_worlds: {len(rows)} clips ({splits['train']} train, {splits['test']} test) in {outdir}, "
          f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
