#!/usr/bin/env python3
"""Two retrieval worlds of real text nobody on the team wrote, to measure whether a RetroMAE text
encoder learns:

    python3 tools/text_worlds.py OUTDIR

- OUTDIR/docstrings/, the TUNING world: docstrings of the installed numpy and scipy packages (found
  with importlib.util.find_spec and read with `ast`; nothing is imported or run; tests folders are
  skipped). Query = a docstring's summary (first paragraph); passage = the extended description
  that follows it, up to the first numpydoc section ("Parameters", "Returns", "Notes", ...).
- OUTDIR/manpages/, the CHECKING world, never tuned on: the English man pages in
  /usr/share/man/man1 and man8 (rendered with `man -l`; gcloud's ~16,600 generated pages and
  symlinked aliases are skipped). Query = the NAME summary ("ls - list directory contents" gives
  "list directory contents"); passage = the DESCRIPTION section.

Each world gets three files (written by retromae_samples.write_set):
- heldout.tsv: exactly 1000 query<TAB>passage pairs for retrieval evaluation: the usable documents
  (passage long enough, summary and passage unique) with the smallest sha1 of their text;
- pairs.tsv: the other usable documents' pairs, for stage-2 training;
- corpus.txt: pre-training corpus, one document per line, documents separated by a blank line.
  Every document sharing its text, summary or passage with a held-out pair, or containing the
  first 200 characters of a held-out passage, is left out of corpus.txt and pairs.tsv.
Passages are whitespace-collapsed and cut to 1000 characters. A summary line per world (documents,
MB, pairs, held out, sha1 of heldout.tsv) ties figures to the exact set.
"""
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retromae_samples import docstrings, write_set  # noqa: E402  (shared with the bundled samples)

HELDOUT = 1000
SECTIONS = ("Parameters", "Other Parameters", "Returns", "Yields", "Receives", "Raises", "Warns",
            "Warnings", "See Also", "Notes", "Examples", "Example", "References", "Attributes", "Methods")
MAN_SKIP = ("SYNOPSIS", "SEE ALSO", "AUTHOR", "AUTHORS", "COPYRIGHT", "REPORTING BUGS", "COLOPHON", "LICENSE")


def collapse(text):
    return re.sub(r"\s+", " ", text).strip()


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def split_world(docs, min_passage):
    """docs: (text, summary, passage) in a fixed order. Returns corpus, pairs, heldout."""
    usable, summaries, passages = [], set(), set()
    for text, summary, passage in docs:
        # Aliases repeat docstrings and man pages; a repeated summary or passage would make a query
        # ambiguous, so only the first one counts.
        passage = passage[:1000]
        if len(passage) >= min_passage and 8 <= len(summary) <= 200 and not (summary in summaries or passage in passages):
            usable.append((sha1(text), summary, passage))
            summaries.add(summary)
            passages.add(passage)
    usable.sort()
    assert len(usable) > HELDOUT, f"only {len(usable)} usable documents"
    held = usable[:HELDOUT]
    held_keys = {h for h, _, _ in held} | {s for _, s, _ in held} | {p for _, _, p in held}
    heldout = [(s, p) for _, s, p in held]
    # Sibling functions and aliased pages share paragraphs; a document quoting the opening of a
    # held-out passage would leak it, so it goes too.
    openings = [p[:200] for _, p in heldout]
    leaks = lambda text: any(o in text for o in openings)
    pairs = [(s, p) for _, s, p in usable[HELDOUT:] if not leaks(p)]
    corpus, seen = [], set()
    for text, summary, passage in docs:
        if text in seen or held_keys & {sha1(text), summary, passage[:1000]} or leaks(text):
            continue
        seen.add(text)
        corpus.append(text)
    return corpus, pairs, heldout


def numpydoc(doc):
    """(whole text, summary, extended description) of one docstring, whitespace-collapsed."""
    first, rest = (re.split(r"\n\s*\n", doc.strip(), maxsplit=1) + [""])[:2]
    lines = rest.split("\n")
    for i, line in enumerate(lines):
        underlined = i + 1 < len(lines) and re.fullmatch(r"\s*[-=]{3,}\s*", lines[i + 1])
        if (line.strip() and underlined) or line.strip().rstrip(":") in SECTIONS or line.lstrip().startswith(">>>"):
            lines = lines[:i]
            break
    return collapse(doc), collapse(first), collapse("\n".join(lines))


def docstring_world():
    docs = []
    for package in ("numpy", "scipy"):
        spec = importlib.util.find_spec(package)  # finds the folder without importing the package
        if spec is None:
            sys.exit(f"{package} is not installed for {sys.executable}")
        for root in spec.submodule_search_locations:
            docs += [numpydoc(d) for d in docstrings(root)]
    return [d for d in docs if len(d[0]) >= 80], 80, f"{len(docs)} docstrings scanned"


def render(path):
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    out = subprocess.run(["man", "--nh", "--nj", "-l", "-P", "cat", path], env=env,
                         capture_output=True, text=True, errors="replace", timeout=60).stdout
    return re.sub(r".\x08", "", out)  # overstrike bold/underline, if any survives


def manpage(rendered):
    """(whole text, summary, description) of one rendered page, or None without a NAME."""
    lines = rendered.strip("\n").split("\n")[1:-1]  # drop the running header and footer
    sections, name = {}, None
    for line in lines:
        if re.fullmatch(r"[A-Z][A-Z0-9 ,/&()'-]*", line.rstrip()):  # unindented capitals: a section
            name = line.strip()
            sections[name] = []
        elif name:
            sections[name].append(line)
    sections = {k: collapse("\n".join(v)) for k, v in sections.items()}
    match = re.match(r"(.+?)\s+(?:-|--|\u2010|\u2013|\u2014)\s+(.+)", sections.get("NAME", ""))
    if not match:
        return None
    prose = [sections["NAME"]] + [v for k, v in sections.items() if k not in MAN_SKIP + ("NAME",) and v]
    return collapse(" ".join(prose)), match.group(2), sections.get("DESCRIPTION", "")


def manpage_world(enough=3000):
    # Sorted names keep the choice deterministic; symlinks are aliases of pages already there.
    paths = [os.path.join(d, f) for d in ("/usr/share/man/man1", "/usr/share/man/man8")
             for f in sorted(os.listdir(d)) if not f.startswith("gcloud") and not os.path.islink(os.path.join(d, f))]
    docs, scanned, usable = [], 0, 0
    with ThreadPoolExecutor(2) as pool:  # the machine has 2 cores
        for page in map(manpage, pool.map(render, paths)):
            scanned += 1
            if page:
                docs.append(page)
                usable += len(page[2]) >= 150
            if usable >= enough:
                break
    return docs, 150, f"{scanned} of {len(paths)} pages scanned"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, world in (("docstrings", docstring_world), ("manpages", manpage_world)):
        docs, min_passage, scanned = world()
        corpus, pairs, heldout = split_world(docs, min_passage)
        out = os.path.join(sys.argv[1], name)
        write_set(out, corpus, pairs, heldout)
        with open(os.path.join(out, "heldout.tsv"), "rb") as f:
            digest = hashlib.sha1(f.read()).hexdigest()
        print(f"{name}: {len(corpus)} documents, {sum(map(len, corpus)) / 1e6:.1f} MB; {len(pairs)} pairs; "
              f"{len(heldout)} held out; heldout.tsv sha1 {digest} ({scanned})", flush=True)


if __name__ == "__main__":
    main()
