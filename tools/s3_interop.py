#!/usr/bin/env python3
"""mosaicml-streaming against a bucket: the Python side of tools/s3-interop.sh and tools/bench-s3.sh.
The endpoint and credentials come from the environment (S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).

usage: s3_interop.py write URL COUNT          MDSWriter uploads (id:int, text:str, payload:bytes) samples
       s3_interop.py digest URL LOCAL         StreamingDataset(remote=URL, local=LOCAL): count and digest
       s3_interop.py shuffled URL LOCAL SEED  cold-cache shuffled read, timed (batch_size=512: StreamingDataset
                                              prepares 8 x batch_size samples ahead)

The digest is SHA-256 over `id\\ttext\\n` lines in id order, as `s3-bench` prints it.
"""
import hashlib
import os
import shutil
import sys
import tempfile
import time

from streaming import MDSWriter, StreamingDataset
from streaming.base.util import clean_stale_shared_memory


def digest(rows):
    h = hashlib.sha256()
    for i, text in sorted(rows):
        h.update(f'{i}\t{text}\n'.encode())
    return h.hexdigest()


def main():
    mode, url = sys.argv[1], sys.argv[2]
    clean_stale_shared_memory()
    if mode == 'write':
        count = int(sys.argv[3])
        local = tempfile.mkdtemp(prefix='mds-write-')
        rows = []
        with MDSWriter(out=(local, url), columns={'id': 'int', 'text': 'str', 'payload': 'bytes'},
                       compression='zstd', hashes=['sha1', 'xxh64'], size_limit=1 << 16) as writer:
            for i in range(count):
                text = f'python sample {i}'
                rows.append((i, text))
                writer.write({'id': i, 'text': text, 'payload': os.urandom(100)})
        shutil.rmtree(local, ignore_errors=True)
        print(f'count={count} digest={digest(rows)}')
        return
    local = sys.argv[3]
    shutil.rmtree(local, ignore_errors=True)
    if mode == 'digest':
        dataset = StreamingDataset(remote=url, local=local, shuffle=False, batch_size=1)
        rows = [(int(s['id']), s['text']) for s in dataset]
        print(f'count={len(rows)} digest={digest(rows)}')
    elif mode == 'shuffled':
        start = time.perf_counter()
        dataset = StreamingDataset(remote=url, local=local, shuffle=True, shuffle_seed=int(sys.argv[4]), batch_size=512)
        total = count = 0
        for sample in dataset:
            total += len(sample['payload'])
            count += 1
        seconds = time.perf_counter() - start
        print(f'mds-shuffled {seconds:.3f} s {total / seconds / 1e6:.1f} MB/s {count / seconds:.0f} samples/s')
    else:
        sys.exit(f'unknown mode {mode}')


if __name__ == '__main__':
    main()
