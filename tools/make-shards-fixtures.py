#!/usr/bin/env python3
"""Interop fixtures for the Shards module, made with the real `mosaicml-streaming` package.

Step 1 (Python -> sluice): writes small MDS datasets with MDSWriter (every column encoding sluice
reads; none / zstd / gz; several hash algorithms; a small size limit so there are several shards)
and `expected.jsonl`: each sample as one JSON object, decoded by Python.

Step 2 (sluice -> Python), after `SLUICE_WRITE_FIXTURES=1 swift test --filter ShardsTests` has
written `swift_written_*` datasets: opens each with StreamingDataset and records what Python decoded
in `python_read.jsonl`. The Swift tests compare against both.

Usage:
  python3 -m venv /tmp/mdsvenv && /tmp/mdsvenv/bin/pip install mosaicml-streaming
  /tmp/mdsvenv/bin/python tools/make-shards-fixtures.py write        # step 1
  SLUICE_WRITE_FIXTURES=1 swift test --filter ShardsTests            # sluice writes its datasets
  /tmp/mdsvenv/bin/python tools/make-shards-fixtures.py read         # step 2
"""
import base64
import json
import os
import shutil
import sys

import numpy as np
from streaming import MDSWriter, StreamingDataset

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Tests', 'ShardsTests', 'Fixtures')

COLUMNS = {
    'blob': 'bytes',
    'text': 'str',
    'label': 'int',
    'u8': 'uint8',
    'u16': 'uint16',
    'u32': 'uint32',
    'u64': 'uint64',
    'i8': 'int8',
    'i16': 'int16',
    'i32': 'int32',
    'i64': 'int64',
    'f16': 'float16',
    'f32': 'float32',
    'f64': 'float64',
    'digits': 'str_int',
    'real': 'str_float',
    'any_array': 'ndarray',
    'f32_array': 'ndarray:float32',
    'grid': 'ndarray:int16:2,3',
    'meta': 'json',
}

DYNAMIC_DTYPES = ['uint8', 'int8', 'uint16', 'int16', 'float16', 'uint32', 'int32', 'float32',
                  'uint64', 'int64', 'float64']


def make_samples(count):
    rng = np.random.default_rng(20261126)
    words = ['river', 'sluice', 'gate', 'Schleuse', 'écluse', '水門', 'шлюз', 'emoji 🚀', 'tab\there',
             'quote "q"', 'back\\slash']
    samples = []
    for i in range(count):
        dtype = DYNAMIC_DTYPES[i % len(DYNAMIC_DTYPES)]
        # Shapes whose dimensions MDS stores as u8 and as u16.
        shape = [(2, 3), (300,), (1, 1, 4), (5,)][i % 4]
        if np.dtype(dtype).kind == 'f':
            arr = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            arr = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        samples.append({
            'blob': bytes(rng.integers(0, 256, size=int(rng.integers(0, 40)), dtype=np.uint8)),
            'text': ' '.join(words[(i + k) % len(words)] for k in range(1 + i % 4)),
            'label': int(rng.integers(-2**63, 2**63 - 1)),
            'u8': np.uint8(i * 7 % 256),
            'u16': np.uint16(65535 - i),
            'u32': np.uint32(4_000_000_000 + i),
            'u64': np.uint64(2**64 - 1 - i),
            'i8': np.int8(-128 + i),
            'i16': np.int16(-32768 + i),
            'i32': np.int32(-2**31 + i),
            'i64': np.int64(-2**63 + i),
            'f16': np.float16(i / 3),
            'f32': np.float32(-i / 7),
            'f64': np.float64(i * 1e-7 if i % 2 else i * 1e17),
            'digits': -(10**17) + i * 123456789,
            'real': [0.1, 1e-05, 1e16, 123.456, -2.5e-300, 7.0][i % 6] * (i + 1),
            'any_array': arr,
            'f32_array': rng.standard_normal((i % 3 + 1, 2)).astype(np.float32),
            'grid': np.arange(6, dtype=np.int16).reshape(2, 3) * (i - 20),
            'meta': {'id': i, 'tags': words[i % 3:i % 3 + 2], 'score': i / 8, 'nested': {'ok': i % 2 == 0,
                     'none': None}, 'ünï': 'côdé'},
        })
    return samples


def to_json(value):
    """A decoded value the way `sluice shards cat` prints it."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode('ascii')
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def dump_jsonl(rows, path):
    with open(path, 'w') as out:
        for row in rows:
            out.write(json.dumps({k: to_json(row[k]) for k in sorted(row)}, ensure_ascii=False) + '\n')


def write():
    samples = make_samples(24)
    variants = {
        'python_plain': dict(compression=None, hashes=['sha1', 'xxh64']),
        'python_zstd': dict(compression='zstd', hashes=['md5', 'sha1', 'sha256', 'xxh128', 'xxh32', 'xxh3_64', 'xxh64']),
        'python_gz': dict(compression='gz:6', hashes=['xxh64']),
    }
    for name, settings in variants.items():
        out = os.path.join(ROOT, name)
        shutil.rmtree(out, ignore_errors=True)
        # 4 kB makes several shards.
        with MDSWriter(out=out, columns=COLUMNS, size_limit=4096, **settings) as writer:
            for sample in samples:
                writer.write(sample)
        print(name, sorted(os.listdir(out)))
    dump_jsonl(samples, os.path.join(ROOT, 'expected.jsonl'))


def read():
    for name in sorted(os.listdir(ROOT)):
        if not name.startswith('swift_written'):
            continue
        local = os.path.join(ROOT, name)
        # StreamingDataset decompresses into the local directory; read from a scratch copy.
        scratch = os.path.join('/tmp', 'sluice-read-' + name)
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(local, scratch)
        dataset = StreamingDataset(local=scratch, shuffle=False, batch_size=1)
        rows = [dataset.get_item(i) for i in range(dataset.num_samples)]
        dump_jsonl(rows, os.path.join(local, 'python_read.jsonl'))
        print(name, len(rows), 'samples read by Python')


if __name__ == '__main__':
    {'write': write, 'read': read}[sys.argv[1]]()
