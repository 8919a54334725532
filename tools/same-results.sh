#!/usr/bin/env bash
# Whether a refactor left what the clip trainers compute alone: builds BASE (a commit) beside this
# checkout, trains Spoken Moments (with the caption text branch) and the capsule network for 20
# updates on samples/shapes with each binary, one thread, and compares every training loss and
# held-out figure the two runs logged, and the checkpoints' bytes. Exits 1 naming what differs.
#
# usage: tools/same-results.sh BASE [WORKDIR]     (after `swift build`; builds BASE in WORKDIR/base)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: tools/same-results.sh BASE [WORKDIR]}
WORK=${2:-/tmp/sluice-same-results}
NEW="$PWD/.build/debug/sluice"
[ -x "$NEW" ] || { echo "same-results: $NEW is missing: run swift build first" >&2; exit 1; }
mkdir -p "$WORK"
if [ ! -d "$WORK/base" ]; then
  git worktree add --detach "$WORK/base" "$BASE" >&2
  # The worktree is this run's: removed at the end (one that was there before is left alone).
  trap 'git worktree remove --force "$WORK/base"' EXIT
fi
git -C "$WORK/base" checkout --detach --quiet "$BASE"
(cd "$WORK/base" && swift build --product sluice >&2)
OLD="$WORK/base/.build/debug/sluice"

for side in base head; do
  binary=$([ "$side" = base ] && echo "$OLD" || echo "$NEW")
  rm -rf "${WORK:?}/$side-sm" "${WORK:?}/$side-caps"
  "$binary" spoken-moments train --manifest samples/shapes/manifest.jsonl --out "$WORK/$side-sm" --batch-size 6 --steps 20 \
      --threads 1 --text-branch --log-every 1 > "$WORK/$side-sm.log" 2>&1
  "$binary" capsules train --manifest samples/shapes/manifest.jsonl --out "$WORK/$side-caps" --batch-size 6 --steps 20 \
      --threads 1 --log-every 1 > "$WORK/$side-caps.log" 2>&1
done

python3 - "$WORK" <<'EOF'
import json, sys, filecmp
work, failed = sys.argv[1], False
for run in ["sm", "caps"]:
    def records(side):
        return [json.loads(line) for line in open(f"{work}/{side}-{run}/metrics.jsonl")]
    base, head = records("base"), records("head")
    losses = [[r["loss"] for r in rs if "loss" in r] for rs in (base, head)]
    evals = [[r for r in rs if "mean_r10" in r] for rs in (base, head)]
    changed = sorted({k for b, h in zip(*evals) for k, v in b.items()
                      if isinstance(v, (int, float)) and k in h and h[k] != v and "second" not in k and "time" not in k})
    added = sorted({k for b, h in zip(*evals) for k in h if k not in b})
    same_losses = losses[0] == losses[1] and len(losses[0]) == 20
    same_bytes = filecmp.cmp(f"{work}/base-{run}/checkpoint.safetensors", f"{work}/head-{run}/checkpoint.safetensors", shallow=False)
    print(f"{run}: {len(losses[1])} losses {'identical' if same_losses else 'DIFFER'}; "
          f"{len(evals[1])} evaluations, figures that differ: {changed or 'none'}, new figures: {added or 'none'}; "
          f"checkpoint bytes {'identical' if same_bytes else 'differ'}")
    failed |= not same_losses or bool(changed) or len(evals[0]) != len(evals[1])
sys.exit(1 if failed else 0)
EOF
