"""Drift checks judged on real text without Spark: days of records through the spec's own pipes, compared as the
gate compares them (``core/drift.py``).

A day is ``{source: [text, ...]}``. Its side per source holds what ``ops.doc_profile`` would: every numeric
pipe column, ``n_chars``, the language label, and the outcome mix (the pipes' drop reason, ``exact_duplicate``
for a repeated text within the day, else ``kept``). The pii and minhash steps are left out: every compared
value is computed before them, and they are the chain's slowest steps. Embeddings, when asked for, come from
the spec's embedding backend on each document's first 1,000 characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from llm_lakehouse.core import drift as d
from llm_lakehouse.core.pipes import build_chain, pipe_columns
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import BRONZE, NUMERIC
from llm_lakehouse.spark.silver import IN_COLUMNS

Day = Mapping[str, Sequence[str]]
SKIPPED_PIPES = ("pii", "minhash")


def _chain(spec: PipelineSpec):  # noqa: ANN202
    return build_chain([(p.pipe, p.params) for p in spec.silver.pipes if p.pipe not in SKIPPED_PIPES])


def side(spec: PipelineSpec, source: str, texts: Sequence[str], chain=None, embed=None) -> d.Side:  # noqa: ANN001
    """One source's day through the pipes, as the drift checks see it."""
    chain = chain or _chain(spec)
    n = len(texts)
    columns = {
        "doc_id": [f"{source}/{i}" for i in range(n)],
        "record_id": [str(i) for i in range(n)],
        "source": [source] * n,
        "text": list(texts),
        "content_type": ["text/plain"] * n,
        "metadata": ["{}"] * n,
        "source_file": ["day.jsonl"] * n,
        "line_number": list(range(1, n + 1)),
        "raw_hash": [str(i) for i in range(n)],
        "parse_error": [None] * n,
    }
    # Shaped as silver hands bronze's rows to the pipes.
    schema = pa.schema([f for f in BRONZE.arrow_schema() if f.name in IN_COLUMNS])
    batch = pa.RecordBatch.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)
    out = chain(batch).to_pydict()
    numeric = [c for c, sql, _ in pipe_columns([p.pipe for p in spec.silver.pipes]) if sql in NUMERIC]
    values = {
        c: np.array([v for v in out[c] if v is not None], dtype=np.float64) for c in numeric if c in out
    }
    values["n_chars"] = np.array([len(t) for t in out["text"] if t is not None], dtype=np.float64)
    reasons: Counter = Counter()
    seen: set[str] = set()
    for text, reason in zip(out["text"], out["drop_reason"], strict=True):
        if reason is None and text in seen:
            reason = "exact_duplicate"
        seen.add(text)
        reasons[reason or "kept"] += 1
    result = d.Side(values=values, mixes={"drop_reason": reasons})
    if "lang" in out:
        result.mixes["language"] = Counter(x for x in out["lang"] if x is not None)
    if embed is not None:
        kept = [t[:1000] for t, r in zip(out["text"], out["drop_reason"], strict=True) if r is None]
        result.embeddings = np.asarray(embed(kept), dtype=np.float32) if kept else None
    return result


def pooled(sides: Sequence[d.Side]) -> d.Side:
    """The trailing window: days' sides pooled, ``days`` counting those with documents."""
    out = d.Side(days=sum(1 for s in sides if s.values.get("n_chars", np.zeros(0)).size))
    for s in sides:
        for k, v in s.values.items():
            out.values[k] = np.concatenate([out.values.get(k, np.zeros(0)), v])
        for k, c in s.mixes.items():
            out.mixes[k] = out.mixes.get(k, Counter()) + c
        if s.embeddings is not None:
            out.embeddings = (
                s.embeddings if out.embeddings is None else np.vstack([out.embeddings, s.embeddings])
            )
    return out


def judge(
    spec: PipelineSpec,
    day: Day,
    history: Sequence[Day],
    embed=None,  # noqa: ANN001
) -> list[d.DriftResult]:
    """Every drift check of the spec on ``day`` against ``history`` (earlier days), for each source."""
    chain = _chain(spec)
    drift = spec.quality.drift
    results = []
    for source in sorted(set(day) | {s for h in history for s in h}):
        today = side(spec, source, day.get(source, []), chain, embed)
        base = pooled([side(spec, source, h.get(source, []), chain, embed) for h in history])
        for check in drift.checks:
            for stage in ("silver", "gold"):
                results += d.evaluate(check, drift, source, today, base, stage)
    return results
