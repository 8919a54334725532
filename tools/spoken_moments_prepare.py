"""The Spoken Moments preprocessing a Python user would write instead of
pipelines/spoken-moments-prepare.yaml: the ffmpeg CLI for frames, librosa for the log-mel,
mosaicml-streaming's MDSWriter for the shards. Same clips, same columns, same settings:

  8 uniform frames (frame k = min(n-1, floor((i + 0.5) n / 8)), n counted by ffprobe), scaled to
  32x32 bicubic, RGB uint8; the caption read by librosa at 16 kHz mono, pre-emphasis 0.97,
  melspectrogram(n_fft 512, win 400, hop 160, hamming, 40 mels from 20 Hz, slaney), power_to_db
  relative to the max with top_db 80; frames x mels float32 and its length.

  python tools/spoken_moments_prepare.py MANIFEST OUT [--split train] [--workers 2]
  python tools/spoken_moments_prepare.py --compare OURS THEIRS     # do two MDS datasets agree?

Clips are processed by a pool of `--workers` processes (each ffmpeg call single-threaded, as the
sluice stages' decoders are). Needs ffmpeg/ffprobe, librosa and mosaicml-streaming
(tools/bench-spoken-moments.sh sets up the virtualenv).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

FRAMES, SIZE = 8, 32
COLUMNS = {"id": "str", "split": "str", "caption": "str", "frames": "ndarray:uint8", "mel": "ndarray:float32", "mel_length": "int"}


def frames(path):
    count = int(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                                "stream=nb_read_packets", "-of", "csv=p=0", path],
                               check=True, capture_output=True, text=True).stdout.strip().split(",")[0])
    picks = [min(count - 1, int((i + 0.5) * count / FRAMES)) for i in range(FRAMES)]
    select = "select='" + "+".join(f"eq(n\\,{k})" for k in sorted(set(picks))) + "'"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-threads", "1", "-i", path, "-vf",
                          f"{select},scale={SIZE}:{SIZE}:flags=bicubic", "-fps_mode", "passthrough",
                          "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], check=True, capture_output=True).stdout
    unique = np.frombuffer(raw, np.uint8).reshape(-1, SIZE, SIZE, 3)
    order = {k: i for i, k in enumerate(sorted(set(picks)))}
    return unique[[order[k] for k in picks]]


def log_mel(path):
    import librosa
    return log_mel_of(librosa.load(path, sr=16000, mono=True)[0])


def warm_up():
    """Imports librosa and runs its numba kernels once in each worker, so the timing is the steady
    state (the first call compiles for several seconds per process)."""
    log_mel_of(np.zeros(16000, np.float32))


def log_mel_of(y):
    import librosa
    y = librosa.effects.preemphasis(y.astype(np.float64), coef=0.97)
    s = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hamming",
                                       center=True, pad_mode="constant", power=2.0, n_mels=40, fmin=20.0)
    return librosa.power_to_db(s, ref=np.max, amin=1e-10, top_db=80.0).T.astype(np.float32)


def clip(row):
    mel = log_mel(row["audio"] or row["video"])
    return {"id": row["id"], "split": row["split"], "caption": row["caption"], "frames": frames(row["video"]),
            "mel": mel, "mel_length": mel.shape[0]}


def lambda_free_warm_up(_):
    warm_up()


def prepare(manifest, out, split, workers):
    from multiprocessing import Pool
    from streaming import MDSWriter
    base = os.path.dirname(os.path.abspath(manifest))
    rows = []
    with open(manifest) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if split and r.get("split") != split:
                continue
            rows.append({"id": r["id"], "split": r.get("split", "train"), "caption": r.get("caption", ""),
                         "video": os.path.join(base, r["video"]), "audio": os.path.join(base, r["audio"]) if r.get("audio") else None})
    with Pool(workers) as pool:
        pool.map(lambda_free_warm_up, range(workers))
        start = time.perf_counter()
        with MDSWriter(out=out, columns=COLUMNS, compression="zstd") as writer:
            for sample in pool.imap(clip, rows, chunksize=4):
                writer.write(sample)
        seconds = time.perf_counter() - start
    print(f"{len(rows)} clips in {seconds:.2f} s: {len(rows) / seconds:.1f} clips/s ({workers} workers)")


def opened(directory, scratch):
    """An MDS dataset as LocalDataset reads it: a copy with its compressed shards decompressed."""
    import shutil
    from streaming import LocalDataset
    from streaming.base.compression import decompress
    shutil.copytree(directory, scratch)
    for shard in json.load(open(os.path.join(scratch, "index.json")))["shards"]:
        if shard.get("zip_data"):
            with open(os.path.join(scratch, shard["zip_data"]["basename"]), "rb") as f:
                raw = decompress(shard["compression"], f.read())
            with open(os.path.join(scratch, shard["raw_data"]["basename"]), "wb") as f:
                f.write(raw)
    return LocalDataset(local=scratch)


def compare(ours, theirs):
    import tempfile
    scratch = tempfile.mkdtemp()
    a, b = opened(ours, os.path.join(scratch, "a")), opened(theirs, os.path.join(scratch, "b"))
    theirs_by_id = {b[i]["id"]: i for i in range(len(b))}
    assert len(a) == len(b), f"{len(a)} samples against {len(b)}"
    frame_diff, mel_diff, mel_mean, exact = 0, 0.0, [], 0
    for i in range(len(a)):
        x = a[i]
        y = b[theirs_by_id[x["id"]]]
        assert (x["split"], x["caption"], x["mel_length"]) == (y["split"], y["caption"], y["mel_length"]), x["id"]
        assert x["frames"].shape == y["frames"].shape and x["mel"].shape == y["mel"].shape, x["id"]
        d = np.abs(x["frames"].astype(int) - y["frames"].astype(int)).max()
        exact += d == 0
        frame_diff = max(frame_diff, d)
        m = np.abs(x["mel"].astype(np.float64) - y["mel"])
        mel_diff, mel_mean = max(mel_diff, m.max()), mel_mean + [m.mean()]
    print(f"{len(a)} clips agree: ids, splits, captions, mel lengths equal; frames identical in {exact} clips, "
          f"largest pixel difference {frame_diff}; log-mel largest difference {mel_diff:.4f} dB, mean {np.mean(mel_mean):.5f} dB")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs=2)
    p.add_argument("--split", default="train")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--compare", action="store_true")
    args = p.parse_args()
    if args.compare:
        compare(*args.paths)
    else:
        prepare(args.paths[0], args.paths[1], args.split, args.workers)
    sys.exit(0)
