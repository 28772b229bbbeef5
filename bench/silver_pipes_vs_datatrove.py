"""Silver's Arrow pipe chain against datatrove's nearest equivalent, side by side on one generated corpus.

Usage:
    bash bench/setup_datatrove.sh                      # once: datatrove in its own venv, .venvs/bench
    .venvs/jobs/bin/python bench/silver_pipes_vs_datatrove.py [--mb 24] [--workers 2]

Writes a JSONL corpus of at least ``--mb`` MB (``--shards`` files) from the sample generator's pieces
(English prose, support chats, long documents, HTML pages, German/French/Spanish, documents that fail one
quality rule, mojibake), then runs, each over all shards with ``--workers`` processes:

(a) ours: every silver pipe of pipelines/corpus_nightly.yaml except those in ``--skip`` (PII by default:
    datatrove's side has none), in pure Arrow (the code the Spark ``mapInArrow`` stage runs, without Spark),
    reading with the bronze reader and writing kept rows to Parquet;
(b) datatrove: ``JsonlReader -> GopherRepetitionFilter -> GopherQualityFilter -> JsonlWriter`` with
    ``LocalPipelineExecutor(tasks=shards, workers=workers)``, in ``.venvs/bench``;
(c) with ``--spark``: the silver Spark job itself (``refine_day``: the same pipes in ``mapInArrow``, then exact
    and MinHash dedup against the index, quarantine, run audit and the Iceberg commits) on ``local[workers]``,
    over the corpus ingested into bronze first (ingest and session start not timed).

Wall time is measured around each side's run (worker start, model loads, reading and writing included;
interpreter start excluded). Prints a Markdown table for BENCHMARKS.md and per-pipe throughput of (a).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_PYTHON = REPO / ".venvs" / "bench" / "bin" / "python"


# ---------------------------------------------------------------------------------------------- corpus


def make_corpus(out: Path, mb: float, shards: int, seed: int = 11) -> tuple[int, int]:
    """JSONL shards of realistic records; returns (documents, bytes of text)."""
    from llm_lakehouse.devtools import sample

    rng = random.Random(seed)
    kinds = (
        ["prose"] * 58 + ["chat"] * 20 + ["long"] * 8 + ["html"] * 3 + ["foreign"] * 3 + ["mojibake"]
        + ["short", "repeated", "hashtags", "bullets"] + ["near"] * 3
    )  # fmt: skip
    files = [(out / f"part-{i}.jsonl").open("w", encoding="utf-8") for i in range(shards)]
    n = nbytes = 0
    recent: list[str] = []
    while nbytes < mb * 1e6:
        kind = rng.choice(kinds)
        ctype = "text/plain"
        if kind == "prose":
            text = sample._prose(rng)
        elif kind == "chat":
            text = sample._chat(rng)
        elif kind == "long":
            text = sample._prose(rng, min_words=220, max_sentences=26)
        elif kind == "html":
            text, ctype = sample._html(rng, f"Notes {n}", sample._prose(rng)), "text/html"
        elif kind == "foreign":
            text = sample._foreign(rng, rng.choice(sorted(sample.FOREIGN)))
        elif kind == "mojibake":
            text = (sample.MOJIBAKE_SENTENCE + " " + sample._prose(rng)).encode("utf-8").decode("cp1252")
        elif kind == "short":
            text = sample.TOO_SHORT
        elif kind == "repeated":
            text = "\n".join([sample.REPEATED_LINE] * 100)
        elif kind == "hashtags":
            text = sample._hashtag_soup(rng)
        elif kind == "bullets":
            text = sample._bullets(rng)
        else:  # near: a recent long-enough document with two words changed
            base = next((t for t in reversed(recent) if len(t.split()) >= 220), None)
            text = sample._near_copy(rng, base) if base else sample._prose(rng)
        if kind == "long":
            recent = [*recent[-50:], text]
        record = {"id": f"b{n}", "text": text, "content_type": ctype}
        files[n % shards].write(json.dumps(record, ensure_ascii=False) + "\n")
        n += 1
        nbytes += len(text.encode("utf-8"))
    for f in files:
        f.close()
    return n, nbytes


# ------------------------------------------------------------------------------------------------ ours


def _steps(skip: set[str]) -> list[tuple[str, dict]]:
    from llm_lakehouse.core.spec import load_spec

    spec = load_spec(REPO / "pipelines" / "corpus_nightly.yaml")
    return [(p.pipe, p.params) for p in spec.silver.pipes if p.pipe not in skip]


def _our_shard(path: str, out: str, skip: list[str]) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from llm_lakehouse.core.pipes import build_chain
    from llm_lakehouse.core.spec import Source
    from llm_lakehouse.spark.ingest import read_file

    per_step: dict[str, list[float]] = {}

    def observe(step: str, m: list[float]) -> None:
        acc = per_step.setdefault(step, [0.0] * len(m))
        for i, v in enumerate(m):
            acc[i] += v

    chain = build_chain(_steps(set(skip)), observe=observe)
    reasons: Counter[str] = Counter()
    n = 0
    writer = None
    for batch in read_file(Source(name="web", format="jsonl"), path):
        marked = chain(batch)
        n += marked.num_rows
        reasons.update(r for r in marked.column("drop_reason").to_pylist() if r)
        keep = pc.is_null(marked.column("drop_reason"))
        kept = marked.filter(keep).drop_columns(["raw"])
        if writer is None:
            writer = pq.ParquetWriter(out, kept.schema, compression="zstd")
        writer.write_batch(kept)
    if writer is not None:
        writer.close()
    return {"docs": n, "reasons": dict(reasons), "per_step": per_step}


def run_ours(shards: list[Path], out: Path, workers: int, skip: list[str]) -> dict:
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                _our_shard,
                [str(p) for p in shards],
                [str(out / f"{p.stem}.parquet") for p in shards],
                [skip] * len(shards),
            )
        )
    wall = time.perf_counter() - t
    reasons: Counter[str] = Counter()
    per_step: dict[str, list[float]] = {}
    for r in results:
        reasons.update(r["reasons"])
        for step, m in r["per_step"].items():
            acc = per_step.setdefault(step, [0.0] * len(m))
            for i, v in enumerate(m):
                acc[i] += v
    docs = sum(r["docs"] for r in results)
    return {
        "wall": wall,
        "docs": docs,
        "kept": docs - sum(reasons.values()),
        "reasons": reasons,
        "per_step": per_step,
    }


# ----------------------------------------------------------------------------------------------- spark


def spark_side(corpus: str, home: str, workers: int, skip: list[str]) -> None:
    """Runs in a subprocess: prints one JSON line with the silver job's wall time and counts."""
    import shutil
    from datetime import date

    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.spark.bronze import ingest_day
    from llm_lakehouse.spark.context import RunContext
    from llm_lakehouse.spark.session import ensure_tables, spark_session
    from llm_lakehouse.spark.silver import refine_day

    full = load_spec(REPO / "pipelines" / "corpus_nightly.yaml")
    silver = full.silver.model_copy(update={"pipes": [p for p in full.silver.pipes if p.pipe not in skip]})
    spec = full.model_copy(update={"silver": silver})
    env = {"LAKEHOUSE_HOME": home, "PATH": os.environ["PATH"], "LAKEHOUSE_SPARK_MASTER": f"local[{workers}]"}
    settings = Settings.from_env(env)
    day = date(2026, 1, 1)
    landing = settings.landing / day.isoformat() / "web"
    landing.mkdir(parents=True)
    for f in Path(corpus).glob("*.jsonl"):
        shutil.copy(f, landing / f.name)
    spark = spark_session(settings, "bench.silver")
    ensure_tables(spark, settings, spec)
    ingest_day(RunContext(spark, spec, settings, day, "bench"))
    t = time.perf_counter()
    out = refine_day(RunContext(spark, spec, settings, day, "bench"))
    wall = time.perf_counter() - t
    print(
        json.dumps(
            {"wall": wall, "kept": out["silver"], "dedup": out["dedup"], "by_reason": out["by_reason"]}
        )
    )


def run_spark(corpus: Path, home: Path, workers: int, skip: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--spark-side", str(corpus), str(home), str(workers), ",".join(skip)]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- datatrove


def datatrove_side(inp: str, out: str, tasks: int, workers: int) -> None:
    """Runs in .venvs/bench: prints one JSON line with the wall time and counts."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    executor = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(inp, glob_pattern="*.jsonl", text_key="text", id_key="id"),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            JsonlWriter(f"{out}/kept", compression=None),
        ],
        tasks=tasks,
        workers=workers,
        logging_dir=f"{out}/logs",
    )
    t = time.perf_counter()
    executor.run()
    wall = time.perf_counter() - t
    kept = sum(1 for p in Path(out, "kept").glob("*.jsonl") for _ in p.open(encoding="utf-8"))
    print(json.dumps({"wall": wall, "kept": kept}))


def run_datatrove(inp: Path, out: Path, tasks: int, workers: int) -> dict:
    cmd = [str(BENCH_PYTHON), __file__, "--datatrove-side", str(inp), str(out), str(tasks), str(workers)]
    proc = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=24.0, help="corpus size, MB of text")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", default="pii", help="comma-separated spec pipes left out of (a) and (c)")
    ap.add_argument("--spark", action="store_true", help="also time the silver Spark job (c)")
    args = ap.parse_args()
    if not BENCH_PYTHON.exists():
        sys.exit("no .venvs/bench: run bash bench/setup_datatrove.sh first")
    import pyarrow.parquet as pq

    skip = [s for s in args.skip.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        docs, nbytes = make_corpus(corpus, args.mb, args.shards)
        file_mb = sum(p.stat().st_size for p in corpus.glob("*.jsonl")) / 1e6
        shards = sorted(corpus.glob("*.jsonl"))
        ours_out = Path(tmp, "ours")
        ours_out.mkdir()
        ours = run_ours(shards, ours_out, args.workers, skip)
        theirs = run_datatrove(corpus, Path(tmp, "datatrove"), args.shards, args.workers)
        spark = run_spark(corpus, Path(tmp, "lakehouse"), args.workers, skip) if args.spark else None
        ours_ids = {
            d.split("/", 1)[1]
            for p in ours_out.glob("*.parquet")
            for d in pq.read_table(p, columns=["doc_id"]).column("doc_id").to_pylist()
        }
        their_ids = {
            json.loads(line)["id"]
            for p in Path(tmp, "datatrove", "kept").glob("*.jsonl")
            for line in p.open()
        }
    mb = nbytes / 1e6
    steps = [name for name, _ in _steps(set(skip))]
    print(f"\ncorpus: {docs} docs, {mb:.1f} MB of text ({file_mb:.1f} MB JSONL), {args.shards} shards")
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}\n")
    print("| pipeline | processes | docs kept | wall s | docs/s | MB/s (text) |")
    print("|---|---|---|---|---|---|")
    for name, r in (
        ("ours: " + " → ".join(steps), ours),
        ("datatrove 0.10.1: JsonlReader → GopherRepetition → GopherQuality → JsonlWriter", theirs),
        *(
            [
                (
                    "silver Spark job: the same pipes in mapInArrow + exact/MinHash dedup + Iceberg commits",
                    spark,
                )
            ]
            if spark
            else []
        ),
    ):
        print(
            f"| {name} | {args.workers} | {r['kept']} | {r['wall']:.1f} | {docs / r['wall']:,.0f} | {mb / r['wall']:.2f} |"
        )
    print("\nours, per pipe (summed over processes; docs/s = docs entering / wall seconds in the pipe):\n")
    print("| pipe | docs in | docs out | wall s | docs/s | MB/s in |")
    print("|---|---|---|---|---|---|")
    for step, (din, dout, bin_, _bout, wall, _cpu) in ours["per_step"].items():
        print(
            f"| {step} | {din:.0f} | {dout:.0f} | {wall:.2f} | {din / wall:,.0f} | {bin_ / 1e6 / wall:.1f} |"
        )
    print("\nours, drops by reason:", dict(sorted(ours["reasons"].items())))
    if spark:
        print("silver Spark job, drops by reason:", spark["by_reason"])
        print("silver Spark job, dedup:", spark["dedup"])
    print(
        f"kept by both: {len(ours_ids & their_ids)}, only ours: {len(ours_ids - their_ids)}, "
        f"only datatrove: {len(their_ids - ours_ids)}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--datatrove-side":
        datatrove_side(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--spark-side":
        spark_side(sys.argv[2], sys.argv[3], int(sys.argv[4]), [s for s in sys.argv[5].split(",") if s])
    else:
        main()
