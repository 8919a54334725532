#!/usr/bin/env python3
"""How far apart a RetroMAE model's word-embedding rows stay, by how often the word occurs.

    tools/word_rows.py MODEL_DIR CORPUS

MODEL_DIR holds model.safetensors and vocab.txt (`sluice retromae train`'s OUT/model). Words are
the corpus's whitespace-separated, punctuation-stripped, lower-cased words that are whole entries
of the vocabulary. Prints, for the 300 most frequent words, up to 300 words seen 2-5 times and up to 300
entries never seen (every 97th), the mean row norm and the mean cosine between rows. At BERT's initialisation
(N(0, 0.02), hidden 128) norms are about 0.23 and cosines about 0: rows that share one direction
(cosine near 1) no longer tell their words apart. Needs numpy.
"""
import collections
import json
import struct
import sys

import numpy as np


def word_embeddings(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    entry = json.loads(data[8:8 + size])["bert.embeddings.word_embeddings.weight"]
    start, end = entry["data_offsets"]
    assert entry["dtype"] == "F32", entry["dtype"]
    return np.frombuffer(data[8 + size + start:8 + size + end], dtype=np.float32).reshape(entry["shape"])


def main(model, corpus):
    rows = word_embeddings(f"{model}/model.safetensors")
    vocabulary = {word: i for i, word in enumerate(line.rstrip("\n") for line in open(f"{model}/vocab.txt"))}
    counts = collections.Counter()
    for line in open(corpus, encoding="utf-8"):
        for word in line.lower().split():
            word = word.strip(".,;:()[]{}\"'`")
            if word in vocabulary:
                counts[vocabulary[word]] += 1
    groups = {
        "frequent": [i for i, _ in counts.most_common(300)],
        "rare (2-5)": [i for i, c in sorted(counts.items()) if 2 <= c <= 5][:300],
        "never seen": [i for i in range(len(rows)) if i not in counts][::97][:300],
    }
    for name, ids in groups.items():
        x = rows[ids]
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        cosines = unit @ unit.T
        mean_cosine = (cosines.sum() - len(ids)) / (len(ids) * (len(ids) - 1))
        print(f"{name:>11}: {len(ids)} words, mean norm {np.linalg.norm(x, axis=1).mean():.3f}, mean cosine {mean_cosine:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
