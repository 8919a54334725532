#!/usr/bin/env bash
# Side-by-side benchmark of Sluice's BERT tokenizer against Hugging Face `tokenizers`, one run, same
# corpus and vocabulary; prints both throughputs and their ratio. Release build only.
#   bash tools/bench-text.sh [MB]      (default 32 MB of English text)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-32}
VENV=.venv-text
[ -x $VENV/bin/python ] || { python3 -m venv $VENV && $VENV/bin/pip install -q tokenizers; }
VOCAB=samples/text/bert-base-uncased-vocab.txt
CORPUS=out/bench/corpus-${MB}mb.txt
mkdir -p out/bench
# The corpus: the fixture corpus's English prose, shuffled and repeated to the requested size.
[ -f "$CORPUS" ] || $VENV/bin/python - "$MB" "$CORPUS" <<'PY'
import json, random, sys
lines = json.load(open("Tests/TextTests/Fixtures/corpus.json"))[40:]
rng, size, target, out = random.Random(0), 0, int(sys.argv[1]) * 1_000_000, []
while size < target:
    para = " ".join(rng.sample(lines, 4))
    out.append(para); size += len(para.encode()) + 1
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
swift build -c release --product text-bench 2>&1 | tail -1
echo "machine: $(nproc) cores, $(date -u +%F)"
hf() {
  RAYON_NUM_THREADS=$1 $VENV/bin/python - "$VOCAB" "$CORPUS" <<'PY'
import sys, time
from tokenizers import BertWordPieceTokenizer
tok = BertWordPieceTokenizer(sys.argv[1], lowercase=True)
text = open(sys.argv[2], encoding="utf-8").read()
lines = text.split("\n")[:-1]
t = time.perf_counter(); encs = tok.encode_batch(lines); dt = time.perf_counter() - t
mb = len(text.encode()) / 1e6
print(f"{mb / dt:.2f}")
PY
}
# Two rounds, alternating sluice and HF so both see the same load on a shared machine; the best
# round of each is compared.
best() { printf '%s\n' "$@" | sort -g | tail -1; }
S1=(); SN=(); H1=(); HN=()
for round in 1 2; do
  OUT=$(.build/release/text-bench "$VOCAB" "$CORPUS" "$(nproc)")
  echo "$OUT"
  S1+=("$(echo "$OUT" | awk '/sluice 1 thread:/ {print $6}')")
  SN+=("$(echo "$OUT" | awk '/sluice [0-9]+ threads:/ {print $6}')")
  H1+=("$(hf 1)"); HN+=("$(hf "$(nproc)")")
  echo "hf tokenizers 1 thread: ${H1[-1]} MB/s; $(nproc) threads: ${HN[-1]} MB/s"
done
s1=$(best "${S1[@]}"); sn=$(best "${SN[@]}"); h1=$(best "${H1[@]}"); hn=$(best "${HN[@]}")
echo "best of 2: sluice $s1 MB/s (1 thread), $sn MB/s ($(nproc) threads); hf $h1 MB/s, $hn MB/s"
python3 -c "print(f'ratio sluice/hf: 1 thread {$s1/$h1:.1f}x, all cores {$sn/$hn:.1f}x')"
