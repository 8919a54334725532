#!/usr/bin/python3
"""Samples for the RetroMAE trainer, from the docstrings of Python's standard library (Python
Software Foundation License), read with `ast` (nothing is imported or run).

    /usr/bin/python3 tools/retromae_samples.py
Writes samples/retromae/:
- corpus.txt.gz: docstrings as paragraphs (blank-line separated), the held-out ones left out;
- pairs.tsv: query<TAB>passage for stage-2 contrastive training;
- heldout.tsv: query<TAB>passage for retrieval evaluation (docstrings in neither file above).
A query is a docstring's summary line; its passage is the rest of that docstring. Retrieval then
asks: which body goes with this summary?
"""
import ast
import gzip
import hashlib
import os
import re
import sys

ROOT = os.path.join(sys.base_prefix, "lib", "python%d.%d" % sys.version_info[:2])
OUT = os.path.join(os.path.dirname(__file__), "..", "samples", "retromae")
SKIP = ("test", "tests", "idle_test", "site-packages", "dist-packages", "lib2to3", "__pycache__")


def docstrings(root=ROOT):
    """Every module, class and function docstring under root, files in sorted order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        yield doc


def clean(text):
    return re.sub(r"[ \t]+", " ", text).strip()


def write_set(out, corpus, pairs, heldout, gz=False):
    """corpus.txt (gzipped for the bundled samples, to keep git small) as blank-line separated
    documents; pairs.tsv and heldout.tsv as query<TAB>passage lines."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "corpus.txt.gz" if gz else "corpus.txt")
    with (gzip.open(path, "wt", encoding="utf-8", compresslevel=9) if gz else open(path, "w", encoding="utf-8")) as f:
        f.write("\n\n".join(corpus) + "\n")
    for name, rows in (("pairs.tsv", pairs), ("heldout.tsv", heldout)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.writelines(f"{q}\t{p}\n" for q, p in rows)


def main():
    seen, corpus, pairs, heldout = set(), [], [], []
    for doc in docstrings():
        paragraphs = [clean(p) for p in re.split(r"\n\s*\n", doc) if clean(p)]
        text = "\n".join(paragraphs)
        if len(text) < 80 or text in seen:
            continue
        seen.add(text)
        summary, _, body = doc.strip().partition("\n")
        summary, body = clean(summary), clean(body.replace("\n", " "))
        bucket = int(hashlib.sha1(text.encode()).hexdigest(), 16) % 20
        usable = 20 <= len(summary) <= 200 and 80 <= len(body) and "\t" not in summary + body
        if usable and bucket in (0, 1) and len(heldout) < 1000:
            heldout.append((summary, body[:1000]))
            continue
        corpus.append(" ".join(paragraphs))
        if usable and bucket in range(2, 10):
            pairs.append((summary, body[:1000]))
    write_set(OUT, corpus, pairs, heldout, gz=True)
    print(f"{len(corpus)} documents, {sum(map(len, corpus)) / 1e6:.1f} MB; {len(pairs)} pairs; {len(heldout)} held out")


if __name__ == "__main__":
    main()
