#!/usr/bin/env python3
"""mosaicml-streaming's view of a local MDS dataset, for tools/mpi-mds-interop.sh.

usage: mds_local_digest.py DATASET      StreamingDataset(local=DATASET): sample count and digest
       mds_local_digest.py -            the same digest over JSON lines on stdin (`sluice shards cat`)

The digest is SHA-256 over the samples as sorted-key JSON, one per line, the lines sorted: the same
samples give the same digest whatever order or part layout they are stored in.
"""
import hashlib
import json
import sys


def digest(rows):
    lines = sorted(json.dumps(row, sort_keys=True) for row in rows)
    return len(lines), hashlib.sha256('\n'.join(lines).encode()).hexdigest()


def main():
    if sys.argv[1] == '-':
        rows = [json.loads(line) for line in sys.stdin if line.strip()]
    else:
        from streaming import StreamingDataset
        from streaming.base.util import clean_stale_shared_memory
        clean_stale_shared_memory()
        dataset = StreamingDataset(local=sys.argv[1], shuffle=False, batch_size=1)
        rows = [{key: (value.item() if hasattr(value, 'item') else value) for key, value in dataset[i].items()}
                for i in range(len(dataset))]
    count, hexdigest = digest(rows)
    print(f'samples {count} digest {hexdigest}')


if __name__ == '__main__':
    main()
