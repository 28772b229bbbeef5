"""The ``pii`` pipe against Presidio used the default way, side by side in one run on the same text and cores.

Usage: .venvs/jobs/bin/python bench/pii_vs_presidio.py [--corpus synthetic|realtext] [--docs 1600] [--workers 2]

Both run in ``--workers`` processes (one per core, as Spark's Python workers would), each building its
engine once before the clock starts, on the same generated corpus (``llm_lakehouse.devtools.pii_eval.make_corpus``:
~1-2 KB support/ops documents with planted PII) in batches of 200 documents:

- pipe: ``Pii.__call__`` on an Arrow RecordBatch (detection + replacement + counts), default policy;
- Presidio: per document ``AnalyzerEngine.analyze`` (same entities, same spaCy model, full pipeline,
  ``score_threshold`` 0.35) then ``AnonymizerEngine.anonymize`` (default replace operator).

Then the recall/precision of both on the labeled set (300 documents). Prints Markdown for BENCHMARKS.md.

``--corpus realtext``: the real-text labeled set instead (``llm_lakehouse.devtools.pii_realtext``: package metadata,
Debian changelogs and copyright files, ``--docs`` of them) with the shipped spec's strictest policy's
entities (``support_chat``: PERSON and LOCATION included, so NER runs on both sides); the quality table is
then PERSON and EMAIL_ADDRESS on that same set.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from multiprocessing import get_context

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core per worker, for both sides

BATCH = 200
_STATE: dict = {}


def _init(kind: str, entities: list[str], params: dict | None = None) -> None:
    if kind == "pipe":
        from llm_lakehouse.core.pipes import build_pipe

        _STATE["run"] = build_pipe("pii", params or {"entities": entities})
    else:
        from presidio_anonymizer import AnonymizerEngine

        from llm_lakehouse.devtools.pii_eval import plain_presidio

        _STATE["analyzer"] = plain_presidio()
        _STATE["anonymizer"] = AnonymizerEngine()
        _STATE["entities"] = [e for e in entities if e in _STATE["analyzer"].get_supported_entities("en")]
    _STATE["kind"] = kind
    _work(["Warm-up: Maria Gonzalez, maria@example.com, 212-555-0187."])


def _work(texts: list[str]) -> int:
    if _STATE["kind"] == "pipe":
        import pyarrow as pa

        from llm_lakehouse.core.pipes.base import with_drop_columns

        batch = with_drop_columns(pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.string())}))
        out = _STATE["run"](batch)
        return out.num_rows
    analyzer, anonymizer, ents = _STATE["analyzer"], _STATE["anonymizer"], _STATE["entities"]
    for t in texts:
        results = analyzer.analyze(t, language="en", entities=ents, score_threshold=0.35)
        anonymizer.anonymize(text=t, analyzer_results=results)
    return len(texts)


def _ner_share(entities: list[str], texts: list[str]) -> float:
    from llm_lakehouse.core.pii.engine import get_engine

    eng = get_engine(tuple(entities))
    before = dict(eng.stats)
    eng.analyze(texts)
    return (eng.stats["ner_chars"] - before["ner_chars"]) / (eng.stats["chars"] - before["chars"])


def throughput(
    kind: str, entities: list[str], texts: list[str], workers: int, params: dict | None = None
) -> float:
    """Seconds of wall time for ``workers`` warm processes to get through ``texts``."""
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    with get_context("spawn").Pool(workers, initializer=_init, initargs=(kind, entities, params)) as pool:
        pool.map(time.sleep, [0.5] * workers)  # every worker has run its initializer
        t0 = time.perf_counter()
        done = sum(pool.map(_work, batches, chunksize=1))
        dt = time.perf_counter() - t0
    assert done == len(texts)
    return dt


def quality(
    entities: list[str], docs: list | None = None, thresholds: dict | None = None
) -> tuple[dict, dict, list[str]]:
    from llm_lakehouse.core.pii.engine import get_engine
    from llm_lakehouse.core.pii.windows import resolve
    from llm_lakehouse.devtools.pii_eval import make_eval_set, plain_presidio, score

    docs = docs or make_eval_set(300)
    texts = [d.text for d in docs]
    th = thresholds or dict.fromkeys(entities, 0.35)
    ours = [resolve(s, th) for s in get_engine(tuple(entities)).analyze(texts)]
    analyzer = plain_presidio()
    supported = [e for e in entities if e in analyzer.get_supported_entities("en")]
    theirs = [analyzer.analyze(t, language="en", entities=supported, score_threshold=0.35) for t in texts]
    return score(docs, ours, entities), score(docs, theirs, entities), supported


def main() -> None:
    from llm_lakehouse.core.pii.policy import DEFAULT_ENTITIES
    from llm_lakehouse.devtools.pii_eval import make_corpus

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", choices=("synthetic", "realtext"), default="synthetic")
    ap.add_argument("--docs", type=int, default=None, help="default: 1600 synthetic, 400 real-text")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    params, docs, shown = None, None, None
    if args.corpus == "realtext":
        from llm_lakehouse.core.settings import REPO_ROOT
        from llm_lakehouse.core.spec import load_spec
        from llm_lakehouse.devtools.pii_realtext import make_realtext_set

        steps = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml").pii_steps()
        policy = next(p for _, p in steps if p.default)
        entities = list(policy.entities)
        params = {
            "entities": entities,
            "thresholds": policy.thresholds,
            "score_threshold": policy.score_threshold,
        }
        docs = make_realtext_set(args.docs or 400)
        texts = [d.text for d in docs]
        shown = ["PERSON", "EMAIL_ADDRESS"]
        print(f"policy: {policy.policy} ({', '.join(entities)})")
    else:
        entities = list(DEFAULT_ENTITIES)
        texts = make_corpus(args.docs or 1600)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    t_pipe = throughput("pipe", entities, texts, args.workers, params)
    t_pres = throughput("presidio", entities, texts, args.workers)
    share = _ner_share(entities, texts)
    thresholds = {e: (params or {}).get("thresholds", {}).get(e, 0.35) for e in entities}
    ours, theirs, supported = quality(entities, docs, thresholds)

    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, ")
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, docs: {len(texts)} ({mb:.2f} MB), workers: {args.workers}"
    )
    print()
    w = args.workers
    print("| engine | wall s | docs/s | MB/s | docs/s per core | MB/s per core |")
    print("|---|---|---|---|---|---|")
    for name, t in (("pii pipe", t_pipe), ("Presidio default (analyze + anonymize per doc)", t_pres)):
        n = len(texts)
        print(f"| {name} | {t:.1f} | {n / t:.1f} | {mb / t:.3f} | {n / t / w:.1f} | {mb / t / w:.4f} |")
    print(f"\nspeedup: {t_pres / t_pipe:.1f}x; share of characters NER read in the pipe: {share:.1%}\n")
    print("| entity | pipe precision | pipe recall | Presidio precision | Presidio recall |")
    print("|---|---|---|---|---|")
    for e in shown or entities:
        o, p = ours[e], theirs[e]
        ps = f"{p.precision:.3f} | {p.recall:.3f}" if e in supported else "n/a | n/a (no recognizer)"
        print(f"| {e} | {o.precision:.3f} | {o.recall:.3f} | {ps} |")


if __name__ == "__main__":
    main()
