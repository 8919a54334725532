#!/usr/bin/env python3
"""BM25 baseline on a held-out retrieval set (query<TAB>passage lines; passage i is the one
relevant passage for query i, and passages are unique). Each query ranks all passages of the file.

    python3 tools/bm25_baseline.py HELDOUT.tsv

Uses bm25s 0.3.16 (method "lucene", default tokenization: lowercase, words of 2+ word characters,
no stemming, English stopwords: all bm25s defaults). Prints one line per setting: k1=1.2 b=0.75 (the usual
defaults) and k1=0.9 b=0.4 (Pyserini's defaults), each with ties in the order bm25s returns and
with ties counted pessimistically as Sluice's RankingFigures does (a passage scoring exactly as the
relevant one ranks above it). MRR@10 as in Sluice: 1/rank of the relevant passage if it is in the
top 10, else 0, averaged over queries; Recall@k: share of queries whose relevant passage is in the
top k.
Without bm25s 0.3.16 it creates /tmp/venv-bm25, installs it there and runs itself again inside.
"""
import os
import subprocess
import sys

VENV, VERSION = "/tmp/venv-bm25", "0.3.16"

try:
    import bm25s
    assert bm25s.__version__ == VERSION
except (ImportError, AssertionError):
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        raise  # already inside the venv: installing again would not help
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", f"bm25s=={VERSION}", "numpy", "scipy"], check=True)
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


def figures(ranks):
    share = lambda n: sum(r <= n for r in ranks) / len(ranks)
    mrr = sum(1 / r for r in ranks if r <= 10) / len(ranks)
    return f"mrr_at_10 {mrr:.4f} recall_at_1 {share(1):.4f} recall_at_10 {share(10):.4f} recall_at_100 {share(100):.4f}"


def evaluate(queries, passages, k1, b):
    retriever = bm25s.BM25(k1=k1, b=b)  # method "lucene" by default
    retriever.index(bm25s.tokenize(passages, show_progress=False), show_progress=False)
    k = min(100, len(passages))
    ranked, _ = retriever.retrieve(bm25s.tokenize(queries, show_progress=False), k=k, show_progress=False)
    # Rank in bm25s's order; beyond its top k the rank only needs to exceed 100.
    listed = [row.index(i) + 1 if i in row else k + 1 for i, row in enumerate(ranked.tolist())]
    # Sluice's rule: 1 + every other passage scoring at least as high, so ties (many passages at
    # score 0 when a query shares no word with them) earn nothing.
    tokens = bm25s.tokenize(queries, return_ids=False, show_progress=False)
    pessimistic = []
    for i, query in enumerate(tokens):
        scores = retriever.get_scores(query)
        pessimistic.append(int((scores >= scores[i]).sum()))  # counts passage i itself: the 1 +
    size = f"({len(queries)} queries, {len(passages)} passages"
    return (f"bm25 k1={k1} b={b}: {figures(listed)} {size}; ties in bm25s order)\n"
            f"bm25 k1={k1} b={b}: {figures(pessimistic)} {size}; ties pessimistic, as Sluice)")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    queries, passages = [q for q, _ in rows], [p for _, p in rows]
    if len(set(passages)) < len(passages):  # Sluice keeps them too: each is its own candidate
        print(f"note: {len(passages) - len(set(passages))} duplicate passages", file=sys.stderr)
    for k1, b in ((1.2, 0.75), (0.9, 0.4)):
        print(evaluate(queries, passages, k1, b), flush=True)


if __name__ == "__main__":
    main()
