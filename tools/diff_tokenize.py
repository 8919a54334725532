#!/usr/bin/env python3
"""Tokenizes a corpus with `sluice tokenize` and with Hugging Face `tokenizers`, and diffs the ids.

    .venv-text/bin/python tools/diff_tokenize.py CORPUS [VOCAB_OR_TOKENIZER_JSON] [--cased]

CORPUS has one document per line (as `sluice tokenize --format lines` reads it), or is
`random:N` for N lines of seeded random text drawn from many scripts, combining marks, CJK,
Hangul, emoji, private use, control and tag characters. Needs a built
`sluice` (.build/release or .build/debug). Prints the number of lines compared and the first
differences; exits 1 when any line differs.
"""
import atexit, json, os, random, shutil, subprocess, sys, tempfile

from tokenizers import BertWordPieceTokenizer, Tokenizer

args = [a for a in sys.argv[1:] if not a.startswith("--")]
cased = "--cased" in sys.argv
corpus = args[0]
vocab = args[1] if len(args) > 1 else "samples/text/bert-base-uncased-vocab.txt"
sluice = next(p for p in [".build/release/sluice", ".build/debug/sluice"] if os.path.exists(p))


def random_corpus(n, path):
    rng = random.Random(1)
    pools = [  # (first code point, last, weight)
        (0x20, 0x7E, 40), (0xA0, 0x24F, 10), (0x300, 0x36F, 5), (0x370, 0x4FF, 6), (0x590, 0x6FF, 4),
        (0x900, 0xDFF, 4), (0x1E00, 0x1FFF, 5), (0x2000, 0x206F, 3), (0x2070, 0x2BFF, 3), (0x3000, 0x30FF, 4),
        (0x3400, 0x9FFF, 6), (0xAC00, 0xD7A3, 4), (0xE000, 0xF8FF, 1), (0xF900, 0xFFFD, 3), (0x10000, 0x1FFFF, 3),
        (0x1F300, 0x1FAFF, 4), (0x20000, 0x2FA1F, 2), (0x0, 0x1F, 2), (0xE0000, 0xE007F, 1),
    ]
    weights = [w for _, _, w in pools]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            chars = []
            for _ in range(rng.randint(1, 120)):
                lo, hi, _ = rng.choices(pools, weights)[0]
                cp = rng.randint(lo, hi)
                chars.append(" " if cp in (0x0A, 0x0D) or 0xD800 <= cp <= 0xDFFF else chr(cp))
            f.write("".join(chars) + "\n")


scratch = tempfile.mkdtemp()
atexit.register(shutil.rmtree, scratch, True)
if corpus.startswith("random:"):
    random_corpus(int(corpus.split(":")[1]), os.path.join(scratch, "random.txt"))
    corpus = os.path.join(scratch, "random.txt")

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "ids.jsonl")
    cmd = [sluice, "tokenize", "--tokenizer", vocab, "--in", corpus, "--out", out] + (["--cased"] if cased else [])
    subprocess.run(cmd, check=True)
    ours = [json.loads(l) for l in open(out)]

if vocab.endswith(".json"):
    hf = Tokenizer.from_file(vocab)
else:
    hf = BertWordPieceTokenizer(vocab, lowercase=not cased)
# sluice quarantines blank lines (empty documents) and lines that are not valid UTF-8.
with open(corpus, "rb") as f:
    docs = []
    for raw in f.read().split(b"\n")[:-1]:
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text.strip():
            docs.append(text)
theirs = [e.ids for e in hf.encode_batch(docs)]

differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
print(f"{len(docs)} documents compared, {len(ours)} from sluice; {len(differ)} differ")
for i in differ[:5]:
    print(f"document {i}: {docs[i][:80]!r}\n  sluice {ours[i][:30]}\n  hf     {theirs[i][:30]}")
sys.exit(1 if differ or len(ours) != len(docs) else 0)
