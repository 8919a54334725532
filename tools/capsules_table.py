#!/usr/bin/python3
"""The table of tools/capsules_experiments.sh: each run's last eval record (OUT/R-noiseN-seedS/
metrics.jsonl), mean +- population spread over seeds per routing and noise, in percent."""
import glob
import json
import os
import re
import statistics
import sys

FIGURES = ["text_to_video_r1", "text_to_video_r5", "text_to_video_r10", "video_to_text_r1", "video_to_text_r5",
           "audio_to_video_r1", "audio_to_video_r5", "audio_to_video_r10"]
RANKS = ["text_to_video_median_rank", "video_to_text_median_rank", "audio_to_video_median_rank"]


def main():
    runs = {}
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*-noise*-seed*", "metrics.jsonl"))):
        routing, noise, seed = re.match(r"(.+)-noise(.+)-seed(\d+)$", os.path.basename(os.path.dirname(path))).groups()
        evals = [json.loads(line) for line in open(path) if '"kind":"eval"' in line]
        if evals:
            runs.setdefault((noise, routing), []).append((seed, evals[-1]))
    # a run still in progress (its last evaluation short of the others') is left out
    last = max(r["step"] for results in runs.values() for _, r in results)
    runs = {key: [(s, r) for s, r in results if r["step"] == last] for key, results in runs.items()}
    runs = {key: results for key, results in runs.items() if results}
    print("| noise | routing | seeds | " + " | ".join(f.replace("_to_", "->").replace("_r", " R@") for f in FIGURES)
          + " | median rank t->v / v->t / a->v |")
    print("|" + "---|" * (len(FIGURES) + 4))
    for (noise, routing), results in sorted(runs.items()):
        cells = []
        for figure in FIGURES:
            values = [100 * r[figure] for _, r in results]
            cells.append(f"{statistics.mean(values):.1f} ± {statistics.pstdev(values):.1f}")
        ranks = " / ".join(f"{statistics.mean([r[k] for _, r in results]):.0f}" for k in RANKS)
        print(f"| {noise} | {routing} | {len(results)} | " + " | ".join(cells) + f" | {ranks} |")
    any_run = next(iter(runs.values()))[0][1]
    print(f"\nset size {any_run['set_size']:.0f}; chance R@1 {100 * any_run['chance_r1']:.2f}%, "
          f"R@5 {100 * any_run['chance_r5']:.2f}%, R@10 {100 * any_run['chance_r10']:.2f}%; steps {any_run['step']}")
    for (noise, routing), results in sorted(runs.items()):
        print(f"per seed, noise {noise}, {routing}: text->video R@1 "
              + ", ".join(f"s{s} {100 * r['text_to_video_r1']:.1f}" for s, r in results))


if __name__ == "__main__":
    main()
