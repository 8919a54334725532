#!/usr/bin/env python3
"""Writes the WebDataset fixtures of Tests/WebDatasetTests with the webdataset package, and reads
back the shards Sluice wrote, so the tests check Sluice against the package both ways.

  python tools/make-webdataset-fixtures.py write   # python-written shards + what the package reads
  swift test --filter WebDatasetTests  with SLUICE_WRITE_FIXTURES=1   # Sluice writes its shards
  python tools/make-webdataset-fixtures.py read    # what the package reads from Sluice's shards

Runs with the python tools/install-webdataset.sh prints.
"""
import hashlib, io, json, os, sys, tarfile
import webdataset as wds

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "WebDatasetTests", "Fixtures")


def samples():
    """Fields of every kind a dataset holds: text, JSON, a class, binary, a two-part extension, a
    nested key, a non-ASCII key, an empty member, an upper-case extension (read back lower-cased)."""
    out = []
    for i in range(12):
        sample = {"__key__": f"sample{i:04d}", "txt": f"caption number {i}, with a comma".encode(),
                  "json": json.dumps({"id": i, "label": "cat" if i % 2 else "dog"}).encode(),
                  "cls": str(i % 3).encode(), "bin": bytes((i * 37 + j) % 256 for j in range(100 + 50 * i))}
        out.append(sample)
    out.append({"__key__": "nested/dir/clip", "seg.npy": b"\x93NUMPY fake", "txt": b"nested"})
    out.append({"__key__": "caf\u00e9-\u00fcber", "txt": "non-ASCII key".encode()})
    out.append({"__key__": "empty", "txt": b"", "bin": b"\x00"})
    return out


def digest(sample):
    """What a test compares: key, shard file name, and each field's length and sha256."""
    fields = {k: {"bytes": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in sample.items() if not k.startswith("__")}
    return {"key": sample["__key__"], "shard": os.path.basename(sample["__url__"]), "fields": fields}


def read_all(directory, pattern):
    urls = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(pattern))
    return [digest(s) for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)]


def write():
    written = os.path.join(root, "python-written")
    os.makedirs(written, exist_ok=True)
    with wds.ShardWriter(os.path.join(written, "shard-%06d.tar"), maxcount=8, verbose=0) as sink:
        for sample in samples():
            sink.write(sample)
    # The upper-case extension is written by hand: the package's writer would not keep it.
    with tarfile.open(os.path.join(written, "upper.tar"), "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("photo1.JPG", b"jpeg bytes"), ("photo1.Txt", b"a photo")]:
            info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(written, "python_read.jsonl"), "w") as out:
        for row in read_all(written, ".tar"):
            out.write(json.dumps(row, sort_keys=True) + "\n")
    # The same shard gzip'd, as `.tar.gz` shards come (the tests damage its trailer too).
    import gzip
    with open(os.path.join(written, "shard-000001.tar"), "rb") as plain, \
         open(os.path.join(root, "shard-000001.tar.gz"), "wb") as packed:
        packed.write(gzip.compress(plain.read(), mtime=0))
    write_hostile()


def member(tar, name, data, **fields):
    info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
    for key, value in fields.items(): setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def write_hostile():
    """Shards a careful reader must not trust: names that leave the archive, a name that is not
    UTF-8, duplicates, a link, a member without an extension, a header larger than the archive."""
    hostile = os.path.join(root, "hostile")
    os.makedirs(hostile, exist_ok=True)
    with tarfile.open(os.path.join(hostile, "names.tar"), "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        member(tar, "good0.txt", b"kept")
        member(tar, "../escape.txt", b"outside")
        member(tar, "/etc/absolute.txt", b"absolute")
        member(tar, "caf\u00e9.txt", b"latin-1 name")  # written as the byte 0xE9: not UTF-8
        member(tar, "noextension", b"no field")
        member(tar, "link.txt", b"", type=tarfile.SYMTYPE, linkname="good0.txt")
        member(tar, "good1.txt", b"first")
        member(tar, "good1.txt", b"second")  # the same field twice in a row
        member(tar, "good2.txt", b"two")
        member(tar, "good1.json", b"{}")  # good1 again, after good2
        member(tar, "good3.txt", b"")
    # A header that promises 1 MB where 512 bytes follow before the archive ends.
    header = tarfile.TarInfo("big.bin"); header.size = 1 << 20; header.mtime = 0
    with open(os.path.join(hostile, "oversized.tar"), "wb") as out:
        first = tarfile.TarInfo("before.txt"); first.size = 6; first.mtime = 0
        out.write(first.tobuf(format=tarfile.USTAR_FORMAT) + b"before".ljust(512, b"\0"))
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT) + b"x" * 512)


def read():
    written = os.path.join(root, "sluice-written")
    with open(os.path.join(written, "python_read.jsonl"), "w") as out:
        for row in read_all(written, ".tar"):
            out.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]]()
