"""Retrieval quality of a query pipeline: recall@k and MRR on queries whose answer is known by construction.

Labels come from the documents themselves, never from a retriever:

- ``phrase``: a run of words copied from inside a document (a line a user remembers, an error message they
  paste); the answer is that document. Runs that occur in more than one document are not asked.
- ``described``: a document's own one-line description of itself, with the name it describes removed: the
  NAME line of a man page (``ls - list directory contents`` asks ``list directory contents``), the
  ``Summary:`` of an installed package's METADATA (the document is its long description, which the summary
  is not part of). The answer is that document.
- ``question``: a hand-written question about a planted document (tests), answered by that document.

``evaluate`` runs keyword-only, vector-only and the hybrid chain (the spec with and without its retrievers),
over the same queries.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llm_lakehouse.serving.query import NO_FILTERS, Filters, QueryContext, QuerySpec, run_query

# How deep a ranking is read for MRR.
DEPTH = 50


@dataclass(frozen=True)
class LabeledQuery:
    text: str
    answer: str  # doc_id
    kind: str


@dataclass(frozen=True)
class Scores:
    queries: int
    recall: float  # share of queries whose answer is in the top k
    mrr: float  # mean of 1 / rank of the answer's first chunk (0 beyond DEPTH)


def phrase_queries(docs: Mapping[str, str], n: int, words: int = 6, seed: int = 0) -> list[LabeledQuery]:
    """Up to ``n`` runs of ``words`` words, each from another document and found verbatim in no other."""
    rng = random.Random(seed)
    ids = sorted(docs)
    rng.shuffle(ids)
    lowered = {d: " ".join(docs[d].split()).lower() for d in ids}
    out: list[LabeledQuery] = []
    for doc_id in ids:
        tokens = docs[doc_id].split()
        if len(tokens) < words * 3:
            continue
        start = rng.randrange(len(tokens) // 3, len(tokens) - words)
        phrase = " ".join(tokens[start : start + words])
        needle = phrase.lower()
        if sum(needle in text for text in lowered.values()) != 1:
            continue
        out.append(LabeledQuery(phrase, doc_id, "phrase"))
        if len(out) == n:
            break
    return out


_MAN_NAME = re.compile(r"^NAME\s*\n\s*(?P<names>[^\n]+?)\s+(?:\\?-|—|–)+\s+(?P<what>[^\n]{12,})$", re.M)


def man_description(text: str) -> tuple[str, str] | None:
    """A man page's NAME line as (names, what it does): ``ls - list directory contents``."""
    m = _MAN_NAME.search(text)
    return (m["names"], m["what"]) if m else None


def package_description(metadata: str) -> tuple[str, str, str] | None:
    """An installed package's METADATA as (name, Summary line, long description): the summary is not part
    of the description, so it asks for the document in other words."""
    head, _, body = metadata.partition("\n\n")
    name = re.search(r"^Name: (.*)$", head, re.M)
    summary = re.search(r"^Summary: (.*)$", head, re.M)
    if not (name and summary and body.strip()):
        return None
    return name[1].strip(), summary[1].strip(), body.strip()


def prose(text: str, limit: int = 3000) -> str:
    """The prose paragraphs of a README-like text (>= 25 words, mostly letters; no code, tables, headings or
    lists), up to ``limit`` characters: what a training corpus keeps of it (the rest falls to quality rules)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text)]
    keep = [
        p
        for p in paragraphs
        if len(p.split()) >= 25
        and not p.startswith(("```", "|", "#", ">", "*", "-", "..", "="))
        and not p.splitlines()[0].startswith("    ")
        and sum(c.isalpha() or c.isspace() for c in p) / len(p) > 0.85
    ]
    return "\n\n".join(keep)[:limit]


def package_documents(
    site_packages: Path, limit: int, min_chars: int = 400
) -> tuple[list[dict[str, str]], dict[str, tuple[str, str]]]:
    """Records (``{"id": name, "text": prose of its long description}``) of up to ``limit`` installed packages,
    and for each its (name, Summary): the queries of ``described_queries``, keyed by the record id."""
    records: list[dict[str, str]] = []
    described: dict[str, tuple[str, str]] = {}
    for path in sorted(site_packages.glob("*.dist-info/METADATA")):
        got = package_description(path.read_text(encoding="utf-8", errors="replace"))
        if got is None:
            continue
        name, summary, body = got
        text = prose(body)
        if len(text) < min_chars or name in described:
            continue
        records.append({"id": name, "text": text})
        described[name] = (name, summary)
        if len(records) == limit:
            break
    return records, described


def described_queries(
    descriptions: Mapping[str, tuple[str, str]], n: int, seed: int = 0
) -> list[LabeledQuery]:
    """Up to ``n`` queries from documents' descriptions of themselves: doc_id -> (the name described, the
    description). The name is taken out of the query: it would make it a lookup of the name."""
    rng = random.Random(seed)
    ids = sorted(descriptions)
    rng.shuffle(ids)
    seen: set[str] = set()
    out: list[LabeledQuery] = []
    for doc_id in ids:
        names, what = descriptions[doc_id]
        for name in re.split(r"[,\s]+", names):
            if name:
                what = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", " ", what, flags=re.I)
        what = " ".join(what.split()).strip(" .:-")
        if len(what.split()) < 3 or what.lower() in seen:
            continue  # several documents share a description (aliases): the answer would not be one
        seen.add(what.lower())
        out.append(LabeledQuery(what, doc_id, "described"))
        if len(out) == n:
            break
    return out


def score(
    spec: QuerySpec,
    ctx: QueryContext,
    queries: Iterable[LabeledQuery],
    k: int = 5,
    filters: Filters = NO_FILTERS,
) -> Scores:
    found = reciprocal = 0.0
    n = 0
    for q in queries:
        n += 1
        ranked = [h.doc_id for h in run_query(spec, ctx, q.text, k=DEPTH, filters=filters)]
        if q.answer in ranked:
            rank = ranked.index(q.answer) + 1
            reciprocal += 1.0 / rank
            found += rank <= k
    return Scores(n, found / n if n else 0.0, reciprocal / n if n else 0.0)


def variants(spec: QuerySpec) -> dict[str, QuerySpec]:
    """The spec's chain as keyword-only, vector-only and hybrid (as declared)."""
    filters = [s.pipe for s in spec.pipes if s.pipe == "filter"]
    return {
        "keyword": spec.with_pipes([*filters, "keyword"]),
        "vector": spec.with_pipes([*filters, "vector"]),
        "hybrid": spec,
    }


def evaluate(
    spec: QuerySpec,
    ctx: QueryContext,
    queries: list[LabeledQuery],
    k: int = 5,
    filters: Filters = NO_FILTERS,
) -> dict[str, dict[str, Scores]]:
    """Scores per variant, for all queries (``all``) and per kind of query."""
    kinds = sorted({q.kind for q in queries})
    return {
        name: {
            "all": score(chain, ctx, queries, k, filters),
            **{kind: score(chain, ctx, [q for q in queries if q.kind == kind], k, filters) for kind in kinds},
        }
        for name, chain in variants(spec).items()
    }
