"""The streaming path on real text: freshness at a steady trickle, and a 1 % micro-batch against a full rebuild.

A fresh lake, one source (``web``), real documents (``realtext_corpus.py``: package descriptions and docs, man
pages, changelogs: text no one here wrote):

1. **Full rebuild**: ``--docs`` documents landed in 8 files, replayed from an empty checkpoint through the stream
   (``lakehouse stream start --available-now --foreground``: the Kappa rebuild of everything landed). Its cost is
   the sum of its micro-batches' wall time (``ops.run_audit``), without the JVM's start.
2. **Steady trickle**: the stream started as the long-lived service (``lakehouse stream start``); after one
   warm-up file, a file of 1 % of the base documents lands every ``--every`` seconds, ``--files`` times.
   Freshness of a file: from its landing (written, then renamed into place, as writers should) until
   ``lakehouse search``'s query pipeline (the shipped hybrid chain, through the serving index it syncs) returns
   each of its documents for a run of 8 words copied from that document. Reported: p50 and p95 over
   documents.
3. **Incremental cost**: the trickle's micro-batches (1 % new documents each) against the full rebuild.

Usage: .venvs/jobs/bin/python bench/stream_freshness.py [--docs 1000] [--files 20] [--every 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from realtext_corpus import corpus_texts  # noqa: E402

DAY = date(2026, 11, 20)
WORD = re.compile(r"[A-Za-z]{4,}")


def landing_file(folder: Path, name: str, records: list[dict]) -> float:
    """Writes a hidden file, then renames it into place (the file source skips hidden names); returns when it
    landed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}"
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    os.replace(tmp, folder / name)
    return time.time()


def probe(text: str, rng: random.Random) -> str | None:
    """8 consecutive words of the document (letters only), as a user would paste a remembered line."""
    words = WORD.findall(text)
    if len(words) < 12:
        return None
    start = rng.randrange(0, len(words) - 8)
    return " ".join(words[start : start + 8])


def stream_batches(settings) -> list[dict]:  # noqa: ANN001
    from llm_lakehouse.core.catalog import open_catalog

    rows = open_catalog(settings).load_table("ops.run_audit").scan().to_arrow().to_pylist()
    out = [
        json.loads(r["detail"]) | {"wall_s": r["wall_s"]}
        for r in rows
        if r["job"] == "stream" and r["step"] == "*"
    ]
    return sorted(out, key=lambda b: b["batch_id"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=1000, help="documents of the base (the full rebuild)")
    p.add_argument("--files", type=int, default=20, help="trickle files (1 %% of --docs each)")
    p.add_argument("--every", type=float, default=10.0, help="seconds between trickle files")
    p.add_argument("--timeout", type=float, default=300.0, help="give up on a document after this long")
    args = p.parse_args()

    from llm_lakehouse.cli.search import index_for, search
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.serving.query import load_query_spec

    home = Path(tempfile.mkdtemp(prefix="stream_bench_"))
    env = os.environ | {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_DATAHUB_SINK": "file"}
    os.environ.update(env)
    settings = Settings.from_env(env)
    spec = load_spec(REPO / "pipelines" / "corpus_nightly.yaml")
    cli = str(Path(sys.executable).parent / "lakehouse")
    folder = settings.landing / DAY.isoformat() / "web"

    rng = random.Random(7)
    texts = [t for _, t in corpus_texts()]
    rng.shuffle(texts)
    per_file = max(1, args.docs // 100)
    need = args.docs + per_file * (args.files + 1)
    assert len(texts) >= need, f"{len(texts)} real documents, {need} needed"
    base, rest = texts[: args.docs], texts[args.docs :]

    # 1. The full rebuild: everything landed, replayed from an empty checkpoint.
    for i in range(8):
        part = [{"id": f"b{j}", "text": t} for j, t in enumerate(base) if j % 8 == i]
        landing_file(folder, f"base-{i}.jsonl", part)
    started = time.monotonic()
    subprocess.run([cli, "stream", "start", "--available-now", "--foreground"], env=env, check=True)
    rebuild_process_s = time.monotonic() - started
    rebuild = stream_batches(settings)
    rebuild_s = sum(b["wall_s"] for b in rebuild)

    # 2. The service, then a steady trickle.
    subprocess.run([cli, "stream", "start"], env=env, check=True)
    index = index_for(settings)
    catalog = open_catalog(settings)
    query_spec = load_query_spec(REPO / "pipelines" / "rag_query.yaml")

    def found(doc_id: str, query: str) -> bool:
        # The full query pipeline only once the document's chunks are in the index (a filtered count): a
        # poller embedding every pending query twice a second would take a core from the stream it measures.
        if not index.table().count_rows(f"doc_id = '{doc_id}'"):
            return False
        hits = search(catalog, spec, query_spec, index, query, k=10, sync=False)
        return any(h.doc_id == doc_id for h in hits)

    def quarantined(doc_ids: list[str]) -> set[str]:
        """Documents the pipes or dedup dropped: never searchable, so not a freshness sample."""
        from pyiceberg.expressions import In

        table = catalog.load_table("silver.quarantine")
        rows = table.scan(row_filter=In("doc_id", doc_ids), selected_fields=("doc_id",)).to_arrow()
        return set(rows.column("doc_id").to_pylist())

    warm = {"id": "warm", "text": rest[0]}
    landing_file(folder, "warm.jsonl", [warm])
    deadline = time.monotonic() + 600
    while len(stream_batches(settings)) == len(rebuild) and time.monotonic() < deadline:
        time.sleep(1)
    pending: dict[str, tuple[float, str]] = {}
    latencies: list[float] = []
    missed: list[str] = []
    dropped: list[str] = []
    seen_snapshot, recheck = None, time.monotonic()
    n = 1
    next_at = time.monotonic()
    landed_files = 0
    while landed_files < args.files or pending:
        now = time.monotonic()
        if landed_files < args.files and now >= next_at:
            records = []
            for _ in range(per_file):
                text = rest[n]
                n += 1
                q = probe(text, rng)
                doc = {"id": f"t{n}", "text": text}
                records.append(doc)
                if q:
                    pending[f"web/t{n}"] = (0.0, q)
            at = landing_file(folder, f"trickle-{landed_files:03d}.jsonl", records)
            for r in records:
                key = f"web/{r['id']}"
                if key in pending:
                    pending[key] = (at, pending[key][1])
            landed_files += 1
            next_at += args.every
        # Once a second, and only when gold has a new snapshot (a batch committed), what `lakehouse search`
        # does (sync the index, run the query pipeline) for each waiting document: a poller that searched
        # everything twice a second took most of a core from the stream it measures.
        snapshot = catalog.load_table("gold.chunk_embeddings").metadata.current_snapshot_id
        # (Every 10 s regardless: a batch whose every record was dropped leaves gold as it was.)
        if pending and (snapshot != seen_snapshot or time.monotonic() >= recheck):
            seen_snapshot, recheck = snapshot, time.monotonic() + 10
            index.sync(catalog)
            for doc_id in quarantined(list(pending)):
                dropped.append(doc_id)
                del pending[doc_id]
            for doc_id, (at, q) in list(pending.items()):
                if at and found(doc_id, q):
                    latencies.append(time.time() - at)
                    del pending[doc_id]
        for doc_id, (at, _) in list(pending.items()):
            if at and time.time() - at > args.timeout:
                missed.append(doc_id)
                del pending[doc_id]
        time.sleep(1.0)
    subprocess.run([cli, "stream", "stop"], env=env, check=True)

    # 3. The trickle's micro-batches against the rebuild.
    batches = stream_batches(settings)[len(rebuild) + 1 :]
    trickle = [b for b in batches if b.get("records")]
    walls = np.array([b["wall_s"] for b in trickle])
    lat = np.array(latencies)
    print(f"## Streaming path: freshness and incremental cost (real text, {args.docs} base documents)\n")
    print(
        f"Full rebuild (Kappa replay of {args.docs} documents from an empty checkpoint): "
        f"{rebuild_s:.1f} s in {len(rebuild)} micro-batch(es) ({rebuild_process_s:.1f} s with the JVM's start).\n"
    )
    print(
        f"Trickle: {args.files} files of {per_file} new documents every {args.every:g} s, "
        f"{len(trickle)} micro-batches with records.\n"
    )
    print("| measure | p50 | p95 | max |")
    print("|---|---|---|---|")
    if len(lat):
        print(
            f"| freshness: landed → returned by `lakehouse search` (s) | {np.percentile(lat, 50):.1f} | "
            f"{np.percentile(lat, 95):.1f} | {lat.max():.1f} |"
        )
    if len(walls):
        print(
            f"| micro-batch wall time (s) | {np.percentile(walls, 50):.1f} | {np.percentile(walls, 95):.1f} | "
            f"{walls.max():.1f} |"
        )
        share = np.array([b["wall_s"] / rebuild_s for b in trickle]) * 100
        print(
            f"| micro-batch / full rebuild (%) | {np.percentile(share, 50):.1f} | {np.percentile(share, 95):.1f} | "
            f"{share.max():.1f} |"
        )
    docs_per_batch = [b["records"] for b in trickle]
    print(
        f"\nDocuments found: {len(latencies)}; dropped by the pipes or dedup (not samples): {len(dropped)}; "
        f"not found within {args.timeout:g} s: {len(missed)}; "
        f"records per micro-batch: {docs_per_batch}."
    )


if __name__ == "__main__":
    main()
