"""Bronze on a large JSONL day of real text with a few hostile records and files: throughput and peak memory.

The day is built from text on this machine that no one here wrote (Debian changelogs and copyright files
under /usr/share/doc, installed packages' METADATA), one document per file, repeated with new ids until the
day reaches ``--mb``. Planted among them: a lone surrogate, an escaped and a raw NUL, invalid UTF-8, a BOM, a
CR-only file, a line larger than the source's ``max_bytes`` (to see the bounded reader), a truncated gzip
file, an empty file and an unsupported one. The bronze job runs through spark-submit in a throwaway
LAKEHOUSE_HOME while the process tree's resident memory is sampled (JVM and Python workers together).

Usage: .venvs/jobs/bin/python bench/bronze_hostile.py [--mb 1024] [--files 8]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from measure import run_measured

from llm_lakehouse.core.catalog import day_stats, open_catalog, skipped_files
from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import spark_submit_command

DAY = date(2026, 12, 1)
SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
MAX_DOC = 20_000


def real_texts() -> list[str]:
    """One text per real file on this machine (capped at ``MAX_DOC`` characters)."""
    paths = sorted(Path("/usr/share/doc").glob("*/changelog*.gz"))
    paths += sorted(Path("/usr/share/doc").glob("*/copyright"))
    paths += sorted(Path(sys.prefix).glob("lib/python3*/site-packages/*.dist-info/METADATA"))
    texts = []
    for p in paths:
        try:
            raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        except OSError:
            continue
        text = raw.decode("utf-8", "replace")[:MAX_DOC].strip()
        if len(text) > 200:
            texts.append(text)
    return texts


def lines(texts: list[str], target: int) -> Iterator[bytes]:
    n, size = 0, 0
    while size < target:
        for text in texts:
            line = json.dumps({"id": f"r{n}", "text": text, "origin": "bench"}, ensure_ascii=False).encode()
            n += 1
            size += len(line) + 1
            yield line
            if size >= target:
                return


HOSTILE = [
    b'{"id": "h-surrogate", "text": "a\\ud800b"}',
    b'{"id": "h-nul", "text": "a\\u0000b"}',
    b'{"id": "h-rawnul", "text": "a\x00b"}',
    b'{"id": "h-latin1", "text": "caf\xe9"}',
    b'\xef\xbb\xbf{"id": "h-bom", "text": "after a byte-order mark"}',
    b'{"id": "h-cut", "text": "a record cut off mid-wri',
]


def land(folder: Path, mb: int, n_files: int) -> int:
    """Writes the day; returns the bytes landed."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = real_texts()
    handles = [open(folder / f"part-{i:04d}.jsonl", "wb") for i in range(n_files)]  # noqa: SIM115
    try:
        for i, line in enumerate(lines(texts, mb << 20)):
            handles[i % n_files].write(line + b"\n")
            if i % 10_000 == 0:  # every kind at least once in a 1 GB day (~95,000 records)
                handles[i % n_files].write(HOSTILE[(i // 10_000) % len(HOSTILE)] + b"\n")
        # One line over the source's max_bytes (16 MiB): read in bounded memory, quarantined.
        handles[0].write(b'{"id": "h-huge", "text": "' + b"x" * (40 << 20) + b'"}\n')
    finally:
        for h in handles:
            h.close()
    (folder / "mac.jsonl").write_bytes(b'{"id": "cr1", "text": "one"}\r{"id": "cr2", "text": "two"}\r')
    whole = gzip.compress(b"".join(b'{"id": "z%d", "text": "zipped %d"}\n' % (i, i) for i in range(50_000)))
    (folder / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "notes.txt").write_text("not a landing format")
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=int, default=1024)
    p.add_argument("--files", type=int, default=8)
    args = p.parse_args()
    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as home:
        settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
        landed = land(settings.landing / DAY.isoformat() / "web", args.mb, args.files)
        cmd = spark_submit_command(settings, spec, "bronze", DAY.isoformat(), "bench__bronze")
        log = Path(os.environ.get("BENCH_LOG", "/tmp/bronze_hostile.log"))
        run = run_measured(cmd, os.environ | settings.spark_env(), log)
        if run.returncode != 0:
            raise SystemExit(f"bronze failed with exit {run.returncode}; its log: {log}")
        wall, peak, out = run.wall_s, [run.peak_rss], run.stdout
        line = next(ln for ln in out.splitlines() if ln.startswith(RESULT_PREFIX))
        result = json.loads(line[len(RESULT_PREFIX) :])
        cat = open_catalog(settings)
        stats = day_stats(cat, DAY)
        skipped = skipped_files(cat, DAY)
        failed = (
            cat.load_table("bronze.documents")
            .scan(selected_fields=("parse_error",))
            .to_arrow()
            .column("parse_error")
            .drop_null()
            .to_pylist()
        )
    reasons: dict[str, int] = {}
    for r in failed:
        reasons[r] = reasons.get(r, 0) + 1
    docs = stats["bronze"]
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    print(f"command: .venvs/jobs/bin/python bench/bronze_hostile.py --mb {args.mb} --files {args.files}")
    print()
    print("| landed | records | wall (spark-submit) | job | docs/s | MB/s | peak RSS (all processes) |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {landed / 2**20:,.0f} MB in {args.files + 4} files | {docs:,} | {wall:.1f} s | "
        f"{result['seconds']:.1f} s | {docs / wall:,.0f} | {landed / 2**20 / wall:.1f} | {peak[0] / 2**30:.2f} GB |"
    )
    print()
    print("unparseable records kept in bronze:", json.dumps(dict(sorted(reasons.items()))))
    print("skipped files:", json.dumps([(Path(s["file"]).name, s["reason"]) for s in skipped]))


if __name__ == "__main__":
    main()
