#!/usr/bin/env python3
"""Clip sampling benchmark: how fast video readers return the few frames a trainer asks for.

Every reader gets the same explicit frame numbers per clip and pattern (frame k is the k-th frame
in presentation order, as the ffmpeg CLI's select=eq(n,k) numbers them), returns them as HxWx3
uint8 RGB squashed to size x size, and runs on one thread. The frame numbers are computed once per
clip here, from ffprobe's decoded frame count and timestamps, so no reader's own idea of frame
rate or duration changes what is asked:
  uniform8  8 frames at the centres of 8 equal segments (a TSN-style sampler)
  run16     16 consecutive frames starting at 37% of the clip (a clip sampler)
  fps1      the first frame at or after each whole second (a 1 fps sampler)

Readers: pyav (the best exact seek strategy a PyAV user would write, see read_pyav), decord,
torchcodec (when it imports) and sluice (a subprocess, --sluice BIN). Each timed run is a full
open + frames + close; the runs of the readers alternate per clip (A, B, A, B, ...) and the first
round is a warm-up (page cache) that is not counted, so --repeats N means N counted runs each.
Sluice repeats in a process of its own (`BIN sample FILE SIZE REPEATS i1,i2,...` prints its
median and best), so it is called once per cell, after the warm-up round, and its figures are
its own. Each reader scales with its own default filter; only native-size frames are compared.

--check compares the frames at native size, byte for byte, against the ffmpeg CLI's and tells
off-by-N seeks apart from colour-conversion differences (±1 between libswscale versions).

Setup (once):
  python3 -m venv /tmp/venv-readers
  /tmp/venv-readers/bin/pip install av==18.1.0 decord==0.6.0 numpy
  # optional, torchcodec (needs a torch wheel; PyPI's pulls the CUDA libraries, some GB):
  /tmp/venv-readers/bin/pip install torch torchcodec
  tools/make-reader-clips.sh /tmp/reader-clips
How to run:
  /tmp/venv-readers/bin/python tools/clip_readers_bench.py --clips /tmp/reader-clips/clips.json \\
      --readers pyav,decord,torchcodec --repeats 5 --out /tmp/readers-bench.json
  ... --only bikes-h264,bikes-hevc --repeats 3          # a subset of the clips, by name part
  ... --check --readers pyav,decord --out /tmp/readers-check.json
  ... --exclude-wrong /tmp/readers-check.json   # the summary leaves out clips a reader got wrong
  ... --tables-from /tmp/readers-bench.json --exclude-wrong /tmp/readers-check.json  # tables again
  ... --sluice PATH/TO/BIN                             # adds Sluice's `sample` command
Needs ffmpeg and ffprobe on PATH (the reference frames and the frame numbering).
"""

import os
import sys


def _early_threads(argv):
    """The --threads value, read before numpy or torch are imported (they size pools at import)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "TORCH_NUM_THREADS"):
    os.environ[_var] = _early_threads(sys.argv)

import argparse  # noqa: E402
import bisect  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

PATTERNS = ("uniform8", "run16", "fps1")


# ---------------------------------------------------------------------------------------------
# Frame numbers, computed once per clip from ffprobe, so every reader is asked the same thing.

def probe_frame_times(path):
    """Presentation times of the decoded frames (seconds from the container's start_time).

    ffprobe lists frames in the order the decoder outputs them, which is the select filter's n.
    best_effort_timestamp is used because AVI frames can lack a pts.
    """
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-threads", "1", "-select_streams", "v:0",
         "-show_entries", "frame=best_effort_timestamp_time,pts_time", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    frames = json.loads(out).get("frames", [])
    fmt = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout)
    start = float(fmt.get("format", {}).get("start_time", 0) or 0)
    times = []
    for f in frames:
        t = f.get("best_effort_timestamp_time", f.get("pts_time"))
        times.append(float(t) - start if t not in (None, "N/A") else float("nan"))
    return times


def pattern_frames(pattern, times):
    """The frame numbers a pattern asks for, given the frames' presentation times."""
    n = len(times)
    if pattern == "uniform8":
        return [min(n - 1, int((k + 0.5) * n / 8)) for k in range(8)]
    if pattern == "run16":
        first = max(0, int(0.37 * (n - 16)))
        return list(range(first, min(n, first + 16)))
    if pattern == "fps1":
        # The first frame (in presentation order) whose time is >= t, for whole seconds t up to
        # the last frame's time. A gap over 1 s gives the same frame twice; kept as a sampler would.
        last = max(t for t in times if t == t)
        picks, t = [], 0
        while t <= last:
            picks.append(next(i for i, ft in enumerate(times) if ft >= t))
            t += 1
        return picks
    raise ValueError(f"unknown pattern {pattern}")


# ---------------------------------------------------------------------------------------------
# Readers. Each takes (path, frame numbers, size, threads) and returns a list of HxWx3 uint8 RGB
# arrays in the order asked (size 0 = native size) plus a dict of notes. Imports are lazy so a
# missing reader is reported, not fatal.

def read_pyav(path, wanted, size, threads, convert="reformatter"):
    """PyAV, exact: what a careful user writes when the frame numbers matter.

    The demux scan (packet pts and key flags, no decoding) maps frame numbers to pts and finds the
    keyframes; it is part of the timed run because a user has to do it. When every wanted frame
    lies before the second keyframe (or the packets lack pts), decoding from the start is the
    cheapest (or only safe) way; otherwise each wanted frame, ascending, is reached by seeking to
    the keyframe at or before it, unless the decoder gets there by going on without crossing a
    keyframe, and decoding on to the frame whose pts is the one asked.

    The kept frames go to RGB through one VideoReformatter per call (convert="reformatter"):
    frame.to_ndarray(width=, height=, format=) makes a new swscale context for every frame, which
    costs more than the scaling itself at small sizes; convert="to_ndarray" times that plain call.
    """
    import av
    from av.video.reformatter import VideoReformatter
    notes = {"seeks": 0, "not_equal_pts": 0}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE" if threads == 1 else "AUTO"
        stream.codec_context.thread_count = threads
        all_pts, key_pts, indexed = [], [], True
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            if packet.pts is None:  # an older FFmpeg leaves AVI B-frame packets without pts
                indexed = False
                continue
            all_pts.append(packet.pts)
            if packet.is_keyframe:
                key_pts.append(packet.pts)
        all_pts.sort()
        key_pts.sort()
        order = sorted(set(wanted))
        got = {}
        reformatter = VideoReformatter()
        scale = {"width": size, "height": size} if size else {}

        def keep(k, frame):
            if convert == "to_ndarray":
                got[k] = frame.to_ndarray(format="rgb24", **scale)
            else:
                got[k] = reformatter.reformat(frame, format="rgb24", **scale).to_ndarray()

        target = {k: all_pts[min(k, len(all_pts) - 1)] for k in order} if indexed else {}
        if not indexed or len(key_pts) <= 1 or target[order[-1]] < key_pts[1]:
            # One pass from the start, counting frames as the decoder outputs them (the select
            # filter's n), stopping after the last wanted frame.
            notes["mode"] = "sequential"
            container.seek(0, backward=True, any_frame=False)
            pending = set(order)
            for number, frame in enumerate(container.decode(stream)):
                if number in pending:
                    keep(number, frame)
                    pending.discard(number)
                    if not pending:
                        break
        else:
            notes["mode"] = "seek"
            position = None  # pts of the last frame decoded, None before the first seek
            frames = None
            for k in order:
                want = target[k]
                key = key_pts[max(0, bisect.bisect_right(key_pts, want) - 1)]
                # Going on is cheaper than a seek when no keyframe lies between here and the target.
                if position is None or not (key <= position < want):
                    container.seek(key, stream=stream, backward=True, any_frame=False)
                    notes["seeks"] += 1
                    frames = container.decode(stream)
                for frame in frames:
                    if frame.pts is None:
                        continue
                    position = frame.pts
                    if frame.pts >= want:
                        if frame.pts != want:  # the pts asked is not a frame's: the index was wrong
                            notes["not_equal_pts"] += 1
                        keep(k, frame)
                        break
    missing = [k for k in set(wanted) if k not in got]
    if missing:
        raise RuntimeError(f"pyav: no frame for {sorted(missing)}")
    return [got[k] for k in wanted], notes


def read_decord(path, wanted, size, threads):
    """decord's VideoReader, resizing in its own filter graph when a size is given.

    Even with num_threads=1 decord runs 2 threads of its own beside the caller's; the cpu / wall
    table shows how much they overlap (up to about 1.25 on the clips here).
    """
    import decord
    if size:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), width=size, height=size, num_threads=threads)
    else:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)
    batch = reader.get_batch(list(wanted)).asnumpy()
    del reader  # decord closes the file when the reader is freed
    return list(batch), {}


def read_torchcodec(path, wanted, size, threads):
    """torchcodec's VideoDecoder in exact seek mode, resizing with its own decoder transform."""
    from torchcodec.decoders import VideoDecoder
    transforms = None
    if size:
        from torchcodec.transforms import Resize
        transforms = [Resize(size=(size, size))]
    decoder = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=threads,
                           dimension_order="NHWC", transforms=transforms)
    batch = decoder.get_frames_at(list(wanted)).data.numpy()
    del decoder
    return list(batch), {}


READERS = {"pyav": read_pyav, "decord": read_decord, "torchcodec": read_torchcodec}


def reader_available(name):
    """Whether a Python reader imports in this interpreter (the error text when not)."""
    try:
        if name == "pyav":
            import av  # noqa: F401
        elif name == "decord":
            import decord  # noqa: F401
        elif name == "torchcodec":
            import torch
            torch.set_num_threads(1)
            import torchcodec.decoders  # noqa: F401
        return None
    except Exception as error:  # an import can fail with OSError, RuntimeError, ...
        return f"{type(error).__name__}: {error}"


def reader_versions():
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for module in ("av", "decord", "torch", "torchcodec"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            pass
    try:
        versions["ffmpeg_cli"] = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                                text=True).stdout.split()[2]
    except Exception:
        pass
    return versions


# ---------------------------------------------------------------------------------------------
# Sluice, a subprocess that times itself.

def run_sluice(binary, path, wanted, size, repeats, approximate=False):
    """`BIN sample FILE SIZE REPEATS i1,i2,... [--approximate]`: its JSON line, plus the child's
    CPU seconds (process start included, so an upper bound)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([binary, "sample", path, str(size), str(repeats), ",".join(map(str, wanted))]
                          + (["--approximate"] if approximate else []),
                          capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"sluice exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if not line:
        raise RuntimeError(f"sluice printed no JSON line: {proc.stdout.strip()[-400:]}")
    result = json.loads(line[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


def read_sluice_native(binary, path, wanted, width, height):
    """`BIN sample FILE 0 1 i1,... --write OUT.rgb`: the frames as rgb24 at native size."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "frames.rgb")
        proc = subprocess.run([binary, "sample", path, "0", "1", ",".join(map(str, wanted)), "--write", out],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"sluice exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
        data = np.fromfile(out, dtype=np.uint8)
    frame = width * height * 3
    if data.size != frame * len(wanted):
        raise RuntimeError(f"sluice wrote {data.size} bytes, want {frame * len(wanted)}")
    return list(data.reshape(len(wanted), height, width, 3)), {}


# ---------------------------------------------------------------------------------------------
# Timing.

def time_call(function, *args):
    """Wall and process CPU seconds of one full call, and its result."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = function(*args)
    wall = time.perf_counter() - wall0
    return wall, time.process_time() - cpu0, result


def bench(clips, patterns, sizes, readers, args):
    """One row per (reader, clip, pattern, size), readers alternating run by run."""
    rows = []
    for clip in clips:
        for pattern in patterns:
            wanted = clip["patterns"][pattern]
            for size in sizes:
                runs = {name: {"seconds": [], "cpu_seconds": [], "error": None, "notes": None}
                        for name in readers}
                for round_index in range(args.repeats + 1):
                    for name in readers:
                        run = runs[name]
                        if run["error"]:
                            continue
                        try:
                            wall, cpu, (frames, notes) = time_call(
                                READERS[name], clip["path"], wanted, size, args.threads)
                            if len(frames) != len(wanted) or frames[0].shape != (size, size, 3):
                                raise RuntimeError(f"got {len(frames)} frames of {frames[0].shape}")
                        except Exception as error:
                            run["error"] = f"{type(error).__name__}: {str(error)[:300]}"
                            continue
                        if round_index > 0:  # round 0 warms the page cache and the libraries
                            run["seconds"].append(wall)
                            run["cpu_seconds"].append(cpu)
                            run["notes"] = notes
                    if round_index == 0 and args.sluice:
                        # Sluice repeats in its own process (its warm-up is its own), so it is
                        # called once per cell, after the warm-up round, not once per round.
                        run = runs.setdefault("sluice", {"seconds": [], "cpu_seconds": [], "error": None})
                        try:
                            result, cpu = run_sluice(args.sluice, clip["path"], wanted, size, args.repeats)
                            run["median"] = result["medianSeconds"]
                            run["best"] = result["bestSeconds"]
                            # Its own CPU time per run when it reports one (no process start).
                            run["cpu_per_run"] = result.get("medianCPUSeconds", cpu / args.repeats)
                            run["notes"] = {"frames": result.get("frames")}
                            if result.get("frames") is not None and list(result["frames"]) != list(wanted):
                                run["notes"]["frames_differ"] = True
                        except Exception as error:
                            run["error"] = f"{type(error).__name__}: {str(error)[:300]}"
                if args.sluice and args.approximate:
                    # Not a peer: other frames (the nearest keyframes), so timed beside, not ranked.
                    try:
                        result, _ = run_sluice(args.sluice, clip["path"], wanted, size, args.repeats, approximate=True)
                        drift = [abs(a - b) for a, b in zip(result["frames"], wanted)]
                        runs["sluice-approximate"] = {"median": result["medianSeconds"], "best": result["bestSeconds"],
                                                      "error": None,
                                                      "notes": {"frames": result["frames"], "mean_drift": sum(drift) / len(drift),
                                                                "max_drift": max(drift)}}
                    except Exception as error:
                        runs["sluice-approximate"] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                for name, run in runs.items():
                    row = {"reader": name, "clip": clip["name"], "pattern": pattern, "size": size,
                           "frames": len(wanted), "error": run["error"], "notes": run.get("notes")}
                    if name.startswith("sluice"):
                        row.update(median=run.get("median"), best=run.get("best"),
                                   cpu_per_run=run.get("cpu_per_run"))
                    elif run["seconds"] and not run["error"]:
                        row.update(seconds=run["seconds"], cpu_seconds=run["cpu_seconds"],
                                   median=statistics.median(run["seconds"]), best=min(run["seconds"]),
                                   cpu_per_run=statistics.median(run["cpu_seconds"]))
                    rows.append(row)
                    if row.get("median"):
                        shown = f"{row['median'] * 1000:8.1f} ms"
                    else:
                        shown = f"  failed: {short_error(row['error'] or 'no runs')}"
                    print(f"  {clip['name']:32s} {pattern:8s} {size:4d} {name:10s} {shown}", file=sys.stderr)
    return rows


def summarize(rows, readers, patterns, sizes, wrong=frozenset()):
    """The markdown tables: per pattern x size, the median over clips of each reader's median,
    and the median over clips of reader / fastest peer (the fastest of the other readers on that
    clip, so below 1 means faster than every other reader). Only clips where every reader
    succeeded, and returned the right frames when `wrong` (reader, clip) pairs from a --check
    run are given, count, so the columns compare the same clips."""
    cell = {}
    for row in rows:
        if row.get("median") and (row["reader"], row["clip"]) not in wrong:
            cell[(row["reader"], row["clip"], row["pattern"], row["size"])] = row
    lines = ["| pattern | size | clips | " + " | ".join(f"{r} ms" for r in readers) + " | "
             + " | ".join(f"{r} / peer" for r in readers) + " |",
             "|" + " --- |" * (3 + 2 * len(readers))]
    clips = sorted({row["clip"] for row in rows})
    for pattern in patterns:
        for size in sizes:
            common = [c for c in clips if all((r, c, pattern, size) in cell for r in readers)]
            if not common:
                lines.append(f"| {pattern} | {size} | 0 |" + " |" * (2 * len(readers)))
                continue
            times = {r: [cell[(r, c, pattern, size)]["median"] for c in common] for r in readers}
            ms = [f"{statistics.median(times[r]) * 1000:.1f}" for r in readers]
            ratios = []
            for i, r in enumerate(readers):
                peers = [j for j in range(len(readers)) if j != i]
                if not peers:
                    ratios.append("")
                    continue
                per_clip = [times[r][c] / min(times[readers[j]][c] for j in peers) for c in range(len(common))]
                ratios.append(f"{statistics.median(per_clip):.2f}")
            lines.append(f"| {pattern} | {size} | {len(common)} | " + " | ".join(ms) + " | "
                         + " | ".join(ratios) + " |")
    # Every clip: each reader against the fastest other reader that returned the right frames
    # on that clip (a reader that failed or returned wrong frames is no peer there).
    lines += ["", "| pattern | size | " + " | ".join(f"{r} / fastest right peer (clips)" for r in readers) + " |",
              "|" + " --- |" * (2 + len(readers))]
    for pattern in patterns:
        for size in sizes:
            shown = []
            for r in readers:
                per_clip = []
                for c in clips:
                    own = cell.get((r, c, pattern, size))
                    peers = [cell[(p, c, pattern, size)]["median"] for p in readers
                             if p != r and (p, c, pattern, size) in cell]
                    if own and peers:
                        per_clip.append(own["median"] / min(peers))
                shown.append(f"{statistics.median(per_clip):.2f} ({len(per_clip)})" if per_clip else "")
            lines.append(f"| {pattern} | {size} | " + " | ".join(shown) + " |")
    # One thread: process CPU seconds over wall seconds (about 1.0 for one busy thread).
    lines += ["", "| reader | cpu / wall, median | max | failed cells |", "| --- | --- | --- | --- |"]
    for r in readers:
        ratios = [row["cpu_per_run"] / row["median"] for row in rows
                  if row["reader"] == r and row.get("median") and row.get("cpu_per_run") is not None]
        failed = sum(1 for row in rows if row["reader"] == r and row.get("error"))
        if ratios:
            lines.append(f"| {r} | {statistics.median(ratios):.2f} | {max(ratios):.2f} | {failed} |")
        else:
            lines.append(f"| {r} | | | {failed} |")
    return "\n".join(lines)


def per_clip_table(rows, readers, patterns, sizes, wrong=frozenset()):
    """Each clip's medians, in ms, one line per clip x pattern x size ("wrong": a --check run
    found wrong frames from that reader on that clip)."""
    cell = {(row["reader"], row["clip"], row["pattern"], row["size"]): row for row in rows}
    lines = ["| clip | pattern | size | " + " | ".join(readers) + " |", "|" + " --- |" * (3 + len(readers))]
    for clip in dict.fromkeys(row["clip"] for row in rows):
        for pattern in patterns:
            for size in sizes:
                shown = []
                for r in readers:
                    row = cell.get((r, clip, pattern, size))
                    text = "" if row is None else f"{row['median'] * 1000:.1f}" if row.get("median") else "fail"
                    shown.append(text + (" (wrong)" if row and row.get("median") and (r, clip) in wrong else ""))
                lines.append(f"| {clip} | {pattern} | {size} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def load_wrong(check_json):
    """The (reader, clip) pairs that a --check run's --out found returning wrong frames."""
    if not check_json:
        return set()
    with open(check_json) as handle:
        return {(r["reader"], r["clip"]) for r in json.load(handle).get("check", [])
                if r.get("status") == "wrong frames"}


def tables(rows, readers, patterns, sizes, wrong, per_clip):
    """The printed report: the summary, what it left out, and each clip's medians if asked."""
    parts = [summarize(rows, readers, patterns, sizes, wrong)]
    clips = {row["clip"] for row in rows}
    left_out = sorted(pair for pair in wrong if pair[0] in readers and pair[1] in clips)
    if left_out:
        parts.append("(left out, wrong frames in the check: " + ", ".join(f"{r} on {c}" for r, c in left_out) + ")")
    approximate = approximate_table(rows, patterns, sizes)
    if approximate:
        parts.append(approximate)
    if per_clip:
        parts.append(per_clip_table(rows, readers, patterns, sizes, wrong))
    return "\n\n".join(parts)


def approximate_table(rows, patterns, sizes):
    """Sluice's approximate mode beside its exact one on the same clips: median ms over clips,
    the median of exact / approximate per clip, and how far its frames were from those asked."""
    cell = {(row["reader"], row["clip"], row["pattern"], row["size"]): row for row in rows if row.get("median")}
    if not any(key[0] == "sluice-approximate" for key in cell):
        return ""
    lines = ["| pattern | size | clips | sluice exact ms | approximate ms | exact / approximate | mean drift, frames (max) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for pattern in patterns:
        for size in sizes:
            pairs = [(cell[("sluice", c, p, z)], row) for (r, c, p, z), row in cell.items()
                     if r == "sluice-approximate" and p == pattern and z == size and ("sluice", c, p, z) in cell]
            if not pairs:
                continue
            drift = [row["notes"]["mean_drift"] for _, row in pairs]
            lines.append(f"| {pattern} | {size} | {len(pairs)} | {statistics.median(e['median'] for e, _ in pairs) * 1000:.1f} | "
                         f"{statistics.median(a['median'] for _, a in pairs) * 1000:.1f} | "
                         f"{statistics.median(e['median'] / a['median'] for e, a in pairs):.2f} | "
                         f"{statistics.mean(drift):.1f} ({max(row['notes']['max_drift'] for _, row in pairs)}) |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Exactness.

def ffmpeg_frames(path, numbers, width, height):
    """The ffmpeg CLI's frames for the given frame numbers, as {number: HxWx3 array}.

    select passes each frame once, in order, so the output maps to the sorted unique numbers.
    """
    numbers = sorted(set(numbers))
    # Runs of consecutive numbers as between(), so the expression stays short enough to parse.
    runs = []
    for k in numbers:
        if runs and runs[-1][1] == k - 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    expression = "+".join(f"eq(n\\,{a})" if a == b else f"between(n\\,{a}\\,{b})" for a, b in runs)
    data = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-threads", "1", "-i", path, "-vf", f"select='{expression}'",
         "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        check=True, capture_output=True).stdout
    frame = width * height * 3
    if len(data) != frame * len(numbers):
        raise RuntimeError(f"ffmpeg gave {len(data) // frame} frames, want {len(numbers)}")
    array = np.frombuffer(data, dtype=np.uint8).reshape(len(numbers), height, width, 3)
    return dict(zip(numbers, array))


def compare(frames, wanted, reference):
    """Per frame: exact, the right frame with conversion differences, or another frame.

    A frame is "the right frame" when its mean abs difference to the reference is below 1.0 and
    lower than to each neighbour k-3..k+3; a wrong frame is matched to the neighbour that equals
    it exactly, or failing that to the closest neighbour under 1.0 mean abs difference.
    """
    result = {"frames": len(wanted), "not_exact": 0, "wrong": 0, "max_abs": 0, "wrong_frames": []}
    for k, got in zip(wanted, frames):
        want = reference[k]
        if got.shape != want.shape:
            result["wrong"] += 1
            result["not_exact"] += 1
            result["wrong_frames"].append({"frame": k, "shape": list(got.shape)})
            continue
        if np.array_equal(got, want):
            continue
        result["not_exact"] += 1
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        result["max_abs"] = max(result["max_abs"], int(diff.max()))
        mad = {j: float(np.abs(got.astype(np.int16) - reference[j].astype(np.int16)).mean())
               for j in range(k - 3, k + 4) if j in reference}
        best = min(mad, key=mad.get)
        if best == k and mad[k] < 1.0:
            continue  # the right frame; the difference is the RGB conversion
        result["wrong"] += 1
        exact = [j for j in mad if j != k and np.array_equal(got, reference[j])]
        matched = exact[0] if exact else (best if best != k and mad[best] < 1.0 else None)
        result["wrong_frames"].append({"frame": k, "matches": matched, "exact_match": bool(exact),
                                       "mean_abs": round(mad[k], 2)})
    result["status"] = ("exact" if result["not_exact"] == 0 else
                        "right frames, colour differs" if result["wrong"] == 0 else "wrong frames")
    return result


def match_anywhere(got, whole):
    """The frame of the whole clip that a wrong frame equals, or the closest under 1.0 mean abs
    difference; {} when none is that close (a broken or blended frame)."""
    mad = {}
    for j, frame in whole.items():
        if np.array_equal(got, frame):
            return {"matches": j, "exact_match": True}
        mad[j] = float(np.abs(got.astype(np.int16) - frame.astype(np.int16)).mean())
    best = min(mad, key=mad.get)
    return {"matches": best, "exact_match": False} if mad[best] < 1.0 else {"closest_mean_abs": round(mad[best], 2)}


def check(clips, patterns, readers, args):
    """Native-size frames of every reader against the ffmpeg CLI's, per clip and pattern."""
    results = []
    for clip in clips:
        width, height = clip["width"], clip["height"]
        whole = None  # every frame of the clip, decoded only when a far match is looked for
        for pattern in patterns:
            # Unique and sorted, so the readers and the select filter see the same list.
            wanted = sorted(set(clip["patterns"][pattern]))
            neighbours = {j for k in wanted for j in range(k - 3, k + 4) if 0 <= j < clip["decoded_frames"]}
            try:
                reference = ffmpeg_frames(clip["path"], neighbours, width, height)
            except Exception as error:
                results.append({"clip": clip["name"], "pattern": pattern, "reader": "ffmpeg",
                                "error": str(error)})
                continue
            for name in readers + (["sluice"] if args.sluice else []):
                row = {"clip": clip["name"], "pattern": pattern, "reader": name}
                try:
                    if name == "sluice":
                        frames, _ = read_sluice_native(args.sluice, clip["path"], wanted, width, height)
                    else:
                        frames, _ = READERS[name](clip["path"], wanted, 0, args.threads)
                    row.update(compare(frames, wanted, reference))
                    # A frame far from the one asked: look for it in the whole clip (decoded once).
                    for wrong in row["wrong_frames"]:
                        if wrong.get("matches") is None and "shape" not in wrong:
                            if whole is None:
                                whole = ffmpeg_frames(clip["path"], range(clip["decoded_frames"]), width, height)
                            got = frames[wanted.index(wrong["frame"])]
                            wrong.update(match_anywhere(got, whole))
                except Exception as error:
                    row["error"] = f"{type(error).__name__}: {str(error)[:300]}"
                    row["status"] = "failed"
                results.append(row)
                brief = row.get("status")
                if row.get("wrong_frames"):
                    brief += " " + ", ".join(f"{w['frame']}->{w.get('matches')}" for w in row["wrong_frames"][:6])
                if row.get("max_abs"):
                    brief += f" (max abs {row['max_abs']})"
                print(f"  {clip['name']:32s} {pattern:8s} {name:10s} {brief}", file=sys.stderr)
    return results


def short_error(text, width=70):
    """An error for a table cell: decord's messages put the reason after "ERROR", at the end."""
    text = text.split("ERROR", 1)[1].strip() if "ERROR" in text else text
    return text if len(text) <= width else "..." + text[-width:]


def check_table(results, readers):
    """Per reader per clip, over the patterns: exact, right frames with colour differences, or
    the wrong frames and what they are (k->j: frame k asked, frame j returned)."""
    lines = ["| clip | " + " | ".join(readers) + " |", "|" + " --- |" * (1 + len(readers))]
    for clip in dict.fromkeys(r["clip"] for r in results):
        shown = []
        for name in readers:
            rows = [r for r in results if r["clip"] == clip and r["reader"] == name]
            if not rows:
                shown.append("")
            elif any(r.get("error") for r in rows):
                shown.append("failed: " + short_error(next(r["error"] for r in rows if r.get("error"))))
            elif all(r["status"] == "exact" for r in rows):
                shown.append("exact")
            else:
                wrong = [w for r in rows for w in r.get("wrong_frames", [])]
                frames = sum(r["frames"] for r in rows)
                max_abs = max(r["max_abs"] for r in rows)
                if not wrong:
                    shown.append(f"right frames, {sum(r['not_exact'] for r in rows)}/{frames} differ "
                                 f"(max abs {max_abs})")
                else:
                    offsets = {}
                    for w in wrong:
                        key = "none" if w.get("matches") is None else f"{w['matches'] - w['frame']:+d}"
                        offsets[key] = offsets.get(key, 0) + 1
                    shown.append(f"{len(wrong)}/{frames} wrong (off by " +
                                 ", ".join(f"{k}: {v}" for k, v in sorted(offsets.items())) +
                                 f"; max abs {max_abs})")
        lines.append(f"| {clip} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", help="clips.json from tools/make-reader-clips.sh")
    parser.add_argument("--tables-from", metavar="OUT.json",
                        help="print the tables of an earlier run's --out instead of running")
    parser.add_argument("--patterns", default="uniform8,run16,fps1")
    parser.add_argument("--sizes", default="32,112,224")
    parser.add_argument("--repeats", type=int, default=5, help="counted runs per cell (after 1 warm-up)")
    parser.add_argument("--readers", default="pyav,decord,torchcodec",
                        help="readers to run; those that do not import are skipped with a note")
    parser.add_argument("--sluice", help="Sluice's benchmark binary (its `sample` command)")
    parser.add_argument("--approximate", action="store_true",
                        help="also time Sluice's approximate mode (nearest keyframes; reported apart, with its drift)")
    parser.add_argument("--check", action="store_true", help="compare frames with the ffmpeg CLI's")
    parser.add_argument("--only", help="comma-separated parts of clip names to keep")
    parser.add_argument("--out", help="JSON file for all rows")
    parser.add_argument("--per-clip", action="store_true", help="also print each clip's medians")
    parser.add_argument("--exclude-wrong", metavar="CHECK.json",
                        help="a --check run's --out: clips where a reader returned wrong frames leave the summary")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pyav-convert", choices=("reformatter", "to_ndarray"), default="reformatter",
                        help="PyAV's RGB conversion: one reused VideoReformatter, or frame.to_ndarray per frame")
    args = parser.parse_args()
    READERS["pyav"] = functools.partial(read_pyav, convert=args.pyav_convert)
    patterns = [p for p in args.patterns.split(",") if p]
    for p in patterns:
        if p not in PATTERNS:
            parser.error(f"unknown pattern {p}")
    sizes = [int(s) for s in args.sizes.split(",") if s]

    if args.tables_from:
        with open(args.tables_from) as handle:
            earlier = json.load(handle)
        rows = earlier["rows"]
        shown = [r for r in dict.fromkeys(r["reader"] for r in rows) if r != "sluice-approximate"]
        patterns = list(dict.fromkeys(r["pattern"] for r in rows))
        sizes = list(dict.fromkeys(r["size"] for r in rows))
        print(tables(rows, shown, patterns, sizes, load_wrong(args.exclude_wrong), args.per_clip))
        return
    if not args.clips:
        parser.error("--clips is needed")

    readers, skipped = [], {}
    for name in [r for r in args.readers.split(",") if r]:
        if name not in READERS:
            parser.error(f"unknown reader {name}")
        problem = reader_available(name)
        if problem:
            skipped[name] = problem
            print(f"skipping {name}: {problem}", file=sys.stderr)
        else:
            readers.append(name)
    if args.sluice and not os.access(args.sluice, os.X_OK):
        skipped["sluice"] = f"{args.sluice} is not an executable file"
        print(f"skipping sluice: {skipped['sluice']}", file=sys.stderr)
        args.sluice = None

    with open(args.clips) as handle:
        clips = json.load(handle)
    if args.only:
        parts = args.only.split(",")
        clips = [c for c in clips if any(p in c["name"] for p in parts)]
    for clip in clips:
        times = probe_frame_times(clip["path"])
        clip["decoded_frames"] = len(times)
        if len(times) != clip["frames"]:
            print(f"note: {clip['name']}: ffprobe decodes {len(times)} frames, clips.json says {clip['frames']}",
                  file=sys.stderr)
        clip["patterns"] = {p: pattern_frames(p, times) for p in patterns}

    report = {"versions": reader_versions(), "args": vars(args), "skipped_readers": skipped,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "clips": clips}
    if args.check:
        results = check(clips, patterns, readers, args)
        report["check"] = results
        print(check_table(results, readers + (["sluice"] if args.sluice else [])))
    else:
        wrong = load_wrong(args.exclude_wrong)
        report["excluded_wrong"] = sorted(wrong)
        rows = bench(clips, patterns, sizes, readers, args)
        report["rows"] = rows
        shown = readers + (["sluice"] if args.sluice else [])
        print(tables(rows, shown, patterns, sizes, wrong, args.per_clip))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=1)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
