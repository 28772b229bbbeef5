"""Benchmark corpora of real text: what is on this machine that no one here wrote, as a landing day of JSONL.

The synthetic corpus (``llm_lakehouse.devtools.sample``) is a test fixture: its prose passes the quality rules
by construction. These corpora are what a new user would load: installed packages' descriptions (METADATA),
man pages (roff markup stripped, every language installed), Debian changelogs, copyright files and READMEs
under /usr/share/doc, and the Markdown/reST/text documentation shipped inside Python packages. One document
per file, cut at ``MAX_CHARS``.

The machine holds ~100-200 MB of such text; a larger scale point adds documents made of 2-5 paragraphs
drawn from different real documents (seeded), so no document repeats whole and pairs share at most a
paragraph: exact and near-duplicate rates stay those of real feeds instead of a copy per round.

Usage: .venvs/jobs/bin/python bench/realtext_corpus.py --out DIR --mb 20 [--files 8] [--seed 0]
Writes DIR/part-*.jsonl ({"id", "text", "origin"}) and prints documents, MB and the mix of origins.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from llm_lakehouse.devtools.realtext import MAN, man_text, read_text

MAX_CHARS = 30_000
MIN_CHARS = 200
DOC = Path("/usr/share/doc")
REPO = Path(__file__).resolve().parents[1]


def _site_packages() -> list[Path]:
    roots = sorted(REPO.glob(".venvs/*/lib/python3*/site-packages"))
    roots += [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return list(dict.fromkeys(r.resolve() for r in roots))


def _metadata_text(raw: str) -> str:
    """A METADATA file's description (the body after the headers), or its Summary line."""
    head, _, body = raw.partition("\n\n")
    if body.strip():
        return body
    summary = re.search(r"^Summary: (.*)$", head, re.M)
    return summary.group(1) if summary else ""


def real_documents() -> Iterator[tuple[str, str]]:
    """(origin, text) of every real document on this machine, in a stable order."""
    for root in _site_packages():
        for p in sorted(root.glob("*.dist-info/METADATA")):
            yield "package_metadata", _metadata_text(read_text(p) or "")
        for pattern in ("**/*.md", "**/*.rst", "**/README*", "**/*.txt"):
            for p in sorted(root.glob(pattern)):
                if p.is_file() and "dist-info" not in p.parts[-2] and p.stat().st_size < 2_000_000:
                    yield "package_docs", read_text(p) or ""
    for p in sorted(MAN.glob("**/*.gz")):
        if p.is_file() and not p.is_symlink():
            yield "man_page", man_text(read_text(p) or "")
    for p in sorted(DOC.glob("*/*")):
        if not p.is_file() or p.is_symlink():
            continue
        name = p.name.lower()
        if name.startswith("changelog"):
            yield "changelog", read_text(p) or ""
        elif name == "copyright":
            yield "copyright", read_text(p) or ""
        elif name.startswith(("readme", "news", "authors", "todo")) or name.endswith((".txt", ".md")):
            yield "doc_file", read_text(p) or ""


def corpus_texts() -> list[tuple[str, str]]:
    """The real documents, cut and deduplicated (a file installed twice is one document)."""
    seen: set[int] = set()
    out = []
    for origin, text in real_documents():
        text = text.strip()[:MAX_CHARS]
        if len(text) < MIN_CHARS or hash(text) in seen:
            continue
        seen.add(hash(text))
        out.append((origin, text))
    return out


def records(texts: list[tuple[str, str]], target_bytes: int, seed: int) -> Iterator[dict[str, str]]:
    """Every real document once (shuffled), then paragraph mixes, until ``target_bytes`` of JSON."""
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    size, n = 0, 0
    for i in order:
        origin, text = texts[i]
        rec = {"id": f"rt{n}", "text": text, "origin": origin}
        yield rec
        n += 1
        size += len(json.dumps(rec, ensure_ascii=False).encode()) + 1
        if size >= target_bytes:
            return
    paragraphs = [(o, p.strip()) for o, t in texts for p in t.split("\n\n") if len(p.strip()) >= 80]
    while size < target_bytes:
        picked = rng.sample(paragraphs, rng.randint(2, 5))
        rec = {"id": f"rt{n}", "text": "\n\n".join(p for _, p in picked), "origin": f"mixed:{picked[0][0]}"}
        yield rec
        n += 1
        size += len(json.dumps(rec, ensure_ascii=False).encode()) + 1


def write_corpus(out: Path, mb: float, files: int = 8, seed: int = 0) -> dict[str, object]:
    """Writes ``files`` JSONL files of ~``mb`` MB in all under ``out``; returns what it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    texts = corpus_texts()
    handles = [(out / f"part-{i:02d}.jsonl").open("w", encoding="utf-8") for i in range(files)]
    origins: Counter[str] = Counter()
    n = nbytes = 0
    try:
        for rec in records(texts, int(mb * 1e6), seed):
            line = json.dumps(rec, ensure_ascii=False) + "\n"
            handles[n % files].write(line)
            origins[rec["origin"].split(":")[0]] += 1
            n += 1
            nbytes += len(line.encode())
    finally:
        for h in handles:
            h.close()
    return {
        "documents": n,
        "mb": round(nbytes / 1e6, 1),
        "real_documents": len(texts),
        "origins": dict(origins),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mb", type=float, default=20)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(write_corpus(a.out, a.mb, a.files, a.seed), sort_keys=True))


if __name__ == "__main__":
    main()
