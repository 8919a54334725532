#!/usr/bin/env bash
# The README's examples, run as written, so they stay true: every command of every ```sh block, in
# order, in one shell (a variable set by one line is there for the next), in a scratch copy of the
# clone's tracked files with this checkout's debug build on the PATH. A command that ends in
# `# not run: REASON` is skipped and listed with its reason. A YAML block whose first line is
# `# pipelines/NAME.yaml` must be that file, byte for byte. Fails naming the README line of every
# command that failed (with the end of its output) or copy that differs.
#   tools/readme-check.sh [README]      (after `swift build`; tools/test.sh runs it as a step)
# KEEP=1 keeps the scratch directory; it is kept anyway when something failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
readme="$(realpath "${1:-$repo/README.md}")"
name="$(basename "$readme")"
if [ ! -x "$repo/.build/debug/sluice" ]; then
  echo "readme-check: $repo/.build/debug/sluice is missing: run swift build first" >&2
  exit 1
fi

# Commands (continued lines joined) and their first lines; skips blank and comment-only lines.
commands=() lines=() copies_failed=()
block="" pending="" start=0 number=0 copy="" copy_start=0
while IFS= read -r raw || [ -n "$raw" ]; do
  number=$((number + 1))
  text="${raw#"${raw%%[![:space:]]*}"}"
  if [ -z "$block" ]; then
    case "$text" in
      '```sh') block=sh ;;
      '```yaml') block=yaml copy="" copy_start=$number ;;
    esac
    continue
  fi
  if [ "$text" = '```' ]; then
    if [ "$block" = yaml ] && [[ "$copy" =~ ^\#\ (pipelines/[^[:space:]]+\.yaml)$'\n' ]]; then
      file="${BASH_REMATCH[1]}"
      if [ "${copy#*$'\n'}" != "$(cat "$repo/$file")"$'\n' ]; then
        copies_failed+=("$name:$copy_start: this copy of $file differs from the file")
      fi
    fi
    block=""
    continue
  fi
  if [ "$block" = yaml ]; then copy+="$raw"$'\n'; continue; fi
  if [ -z "$pending" ]; then
    case "$text" in ''|'#'*) continue ;; esac
    start=$number
  fi
  if [ "${text: -1}" = '\' ]; then pending+="${text%\\} "; continue; fi
  commands+=("$pending$text")
  lines+=("$start")
  pending=""
done < "$readme"

work="$(mktemp -d /tmp/readme-check.XXXXXX)"
clone="$work/clone"
mkdir -p "$clone"
(cd "$repo" && git ls-files -z | tar --null -T - -cf -) | tar -C "$clone" -xf -
# The scratch copy runs this checkout's build: `make` there must not build it again (-o build
# takes the `build` target as made, and with it `deps`).
ln -s "$repo/.build" "$clone/.build"
# Sets `make` generates once into the git-ignored data/ (the demo's clips) are the checkout's.
mkdir -p "$repo/data" && ln -s "$repo/data" "$clone/data"
make() { command make -o build "$@"; }

cd "$clone" || exit 1
export PATH="$clone/.build/debug:$PATH"
ran=0 skipped=() failed=()
began=$SECONDS
for index in "${!commands[@]}"; do
  command="${commands[$index]}"
  where="$name:${lines[$index]}"
  if [[ "$command" =~ \#\ not\ run:\ *(.*)$ ]]; then
    skipped+=("$where: ${BASH_REMATCH[1]}")
    continue
  fi
  log="$work/line-${lines[$index]}.log"
  started=$SECONDS
  eval "$command" > "$log" 2>&1 < /dev/null
  status=$?
  ran=$((ran + 1))
  if [ $status -eq 0 ]; then
    echo "readme-check: $where: ok in $((SECONDS - started)) s: $command" >&2
  else
    failed+=("$where")
    { echo "readme-check: $where: failed (exit $status) after $((SECONDS - started)) s: $command"
      tail -n 15 "$log" | sed 's/^/    /'; } >&2
  fi
done

echo "readme-check: $ran commands ran in $((SECONDS - began)) s; ${#skipped[@]} not run:" >&2
for line in "${skipped[@]}"; do echo "    $line" >&2; done
for line in "${copies_failed[@]}"; do echo "readme-check: $line" >&2; done
if [ ${#failed[@]} -eq 0 ] && [ ${#copies_failed[@]} -eq 0 ]; then
  [ -n "${KEEP:-}" ] && echo "readme-check: scratch copy kept in $clone" >&2 || rm -rf "$work"
  echo "readme-check: every example of $name ran"
  exit 0
fi
[ ${#failed[@]} -gt 0 ] && echo "readme-check: ${#failed[@]} failed: ${failed[*]} (logs and scratch copy in $work)" >&2
exit 1
