#!/usr/bin/env python3
"""Python's mosaicml-streaming reading a dataset that shards-bench wrote: the peer side of
tools/bench-shards.sh. Prints `name seconds MB/s samples/s` like shards-bench.

usage: shards-bench-mds.py DIR shuffled|read SEED

batch_size=512 because StreamingDataset prepares only 8 x batch_size samples ahead of the
iterator: with batch_size=1 it sleeps between samples and runs about 8x slower than this.
"""
import sys
import time

from streaming import StreamingDataset
from streaming.base.util import clean_stale_shared_memory


def main():
    directory, mode, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    clean_stale_shared_memory()
    dataset = StreamingDataset(local=directory, shuffle=(mode == 'shuffled'), shuffle_seed=seed, batch_size=512)
    start = time.perf_counter()
    total = 0
    count = 0
    for sample in dataset:
        total += len(sample['payload'])
        count += 1
    seconds = time.perf_counter() - start
    print(f'mds-{mode} {seconds:.3f} s {total / seconds / 1e6:.1f} MB/s {count / seconds:.0f} samples/s')


if __name__ == '__main__':
    main()
