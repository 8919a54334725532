#!/usr/bin/env python3
"""The webdataset package's side of tools/bench-webdataset.sh.

  webdataset_bench.py make DIR KIND SHARDS SAMPLES_PER_SHARD   writes shards with the package's ShardWriter
  webdataset_bench.py read SHARD...                             iterates WebDataset(urls), bytes untouched

KIND: images (a 16 KB jpg, txt, json, cls per sample, as LAION-style sets) or clips (a 400 KB mp4,
a 64 KB flac, txt, json: video2dataset-style). Payloads are random bytes: reading never decodes them.
`read` prints `webdataset SAMPLES samples BYTES bytes SECONDS s SAMPLES/S samples/s`.
"""
import json, os, random, sys, time
import webdataset as wds


def make(directory, kind, shards, per_shard):
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(0)
    sizes = {"images": {"jpg": 16384}, "clips": {"mp4": 409600, "flac": 65536}}[kind]
    pools = {ext: rng.randbytes(size * 4) for ext, size in sizes.items()}
    with wds.ShardWriter(os.path.join(directory, "shard-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for i in range(shards * per_shard):
            sample = {"__key__": f"{i:08d}", "txt": f"a caption for sample {i}".encode(),
                      "json": json.dumps({"id": i, "width": 640, "height": 480}).encode()}
            if kind == "images":
                sample["cls"] = str(i % 1000).encode()
            for ext, size in sizes.items():
                start = rng.randrange(0, size * 3)
                sample[ext] = pools[ext][start:start + size - rng.randrange(0, size // 4)]
            sink.write(sample)


def read(urls):
    start = time.perf_counter()
    samples = total = 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        samples += 1
        total += sum(len(v) for k, v in sample.items() if not k.startswith("__"))
    seconds = time.perf_counter() - start
    print(f"webdataset {samples} samples {total} bytes {seconds:.3f} s {samples / seconds:.0f} samples/s")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        read(sys.argv[2:])
