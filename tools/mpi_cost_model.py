#!/usr/bin/env python3
"""Ring-allreduce cost model of a data-parallel step, for BENCHMARKS.md ("Many ranks").

A ring allreduce of S bytes over p ranks costs 2(p-1) latencies and moves 2(p-1)/p * S bytes
through each rank's link; Sluice reduces gradients in buckets of 16 MB after backward (no overlap),
so each bucket pays the latency term. The step is communication-bound once that time exceeds the
compute of the rank's local batch.

  tools/mpi_cost_model.py ALPHA_S BETA_BYTES_PER_S
  (ALPHA, BETA: latency and bus bandwidth measured with tools/bench-mpi.sh)
"""
import math
import sys

BUCKET = 16 << 20


def allreduce_seconds(nbytes, ranks, alpha, beta):
    if ranks == 1:
        return 0.0
    buckets = max(1, math.ceil(nbytes / BUCKET))
    return buckets * 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes / beta


def main():
    measured_alpha, measured_beta = float(sys.argv[1]), float(sys.argv[2])
    networks = [("measured here (shared memory, 2 busy cores)", measured_alpha, measured_beta),
                ("100 Gb/s on paper (5 us per hop, 12.5 GB/s)", 5e-6, 12.5e9)]
    # Trainers on the core: parameters (float32 gradients) and compute seconds per local block
    # (release, 2 threads, this machine: BENCHMARKS.md "RetroMAE").
    # The same model on a node 100x faster (a GPU) shows where faster compute meets the network.
    trainers = [("RetroMAE BERT-small (4 x 256, vocab 30522)", 11_991_354, 7.2995 / 32),
                ("  the same on a 100x faster node", 11_991_354, 7.2995 / 32 / 100)]
    for name, alpha, beta in networks:
        print(f"\n{name}")
        print(f"{'trainer':44} {'nodes':>5} {'allreduce s':>12} {'comm-bound below b =':>21} {'comm share, b=32':>17}")
        for trainer, parameters, block_seconds in trainers:
            for nodes in (8, 64, 256):
                t = allreduce_seconds(parameters * 4, nodes, alpha, beta)
                share = t / (t + 32 * block_seconds)
                print(f"{trainer:44} {nodes:5d} {t:12.4f} {t / block_seconds:21.2f} {100 * share:16.1f}%")


if __name__ == "__main__":
    main()
