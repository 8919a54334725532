#!/usr/bin/env python3
"""Clip datasets in WebDataset form, written and read by the webdataset package, for the sample
shards, tools/webdataset-e2e.sh and anyone checking Sluice against the package.

  webdataset_interop.py clips OUT COUNT PER_SHARD   COUNT samples from samples/shapes: key clipNNNNNN,
        `mp4` and `flac` (the sample set's MP4 videos and FLAC captions, in turn), `txt` (the video's
        caption), `json` (its manifest row); shards OUT/shapes-NNNNNN.tar of PER_SHARD samples
  webdataset_interop.py images OUT                   an image-text set: for each sample-set clip, its frame
        at 0.5 s as `jpg` (the ffmpeg CLI's JPEG), its caption as `txt`, shape and colour as `json`;
        one shard OUT/images-000000.tar
  webdataset_interop.py digest FIELDS URL...        what the package reads: one line per sample (key and
        each comma-listed field's sha256), then `digest SHA256 COUNT` over them all
  webdataset_interop.py arrays FIELD SHAPE URL...   checks that every sample's FIELD loads with numpy,
        with SHAPE (e.g. 8x112x112x3), printing `arrays COUNT FIELD SHAPE`
"""
import hashlib, io, json, os, subprocess, sys
import webdataset as wds

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "shapes")


def clips(out, count, per_shard):
    rows = [json.loads(line) for line in open(os.path.join(root, "manifest.jsonl"))]
    videos = [r for r in rows if r["video"].endswith(".mp4")]
    audios = [r["audio"] for r in rows if r["audio"].endswith(".flac")]
    read = lambda rel: open(os.path.join(root, rel), "rb").read()
    os.makedirs(out, exist_ok=True)
    with wds.ShardWriter(os.path.join(out, "shapes-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for i in range(count):
            row = videos[i % len(videos)]
            sink.write({"__key__": f"clip{i:06d}", "mp4": read(row["video"]), "flac": read(audios[i % len(audios)]),
                        "txt": row["caption"].encode(), "json": json.dumps(row).encode()})


def images(out):
    rows = [json.loads(line) for line in open(os.path.join(root, "manifest.jsonl"))]
    os.makedirs(out, exist_ok=True)
    with wds.ShardWriter(os.path.join(out, "images-%06d.tar"), maxcount=len(rows), verbose=0) as sink:
        for row in rows:
            jpeg = subprocess.run(["ffmpeg", "-v", "error", "-ss", "0.5", "-i", os.path.join(root, row["video"]), "-frames:v", "1",
                                   "-q:v", "3", "-f", "image2pipe", "-c:v", "mjpeg", "-"], check=True, capture_output=True).stdout
            sink.write({"__key__": row["id"], "jpg": jpeg, "txt": row["caption"].encode(),
                        "json": json.dumps({"shape": row["shape"], "colour": row["colour"]}).encode()})


def digest(fields, urls):
    total, count = hashlib.sha256(), 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        line = sample["__key__"] + " " + " ".join(hashlib.sha256(sample[f]).hexdigest() for f in fields)
        print(line)
        total.update(line.encode() + b"\n")
        count += 1
    print(f"digest {total.hexdigest()} {count}")


def arrays(field, shape, urls):
    import numpy as np
    want = tuple(int(x) for x in shape.split("x"))
    count = 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        array = np.load(io.BytesIO(sample[field]))
        assert array.shape == want, f"{sample['__key__']}: {field} has shape {array.shape}, not {want}"
        count += 1
    print(f"arrays {count} {field} {shape}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "clips":
        clips(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif command == "images":
        images(sys.argv[2])
    elif command == "digest":
        digest(sys.argv[2].split(","), sys.argv[3:])
    else:
        arrays(sys.argv[2], sys.argv[3], sys.argv[4:])
