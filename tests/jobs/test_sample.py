"""The bundled sample corpus: deterministic, and its manifest agrees with what the files actually hold."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from llm_lakehouse import sample
from llm_lakehouse.ingest import list_files, read_file
from llm_lakehouse.pipes import build_chain
from llm_lakehouse.spec import load_spec

SPEC = Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
FILES = ("web/part-0.jsonl", "support/part-0.jsonl", "docs/part-0.parquet")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    manifest = sample.generate(out, DAYS, seed=7)
    return out, manifest


def test_writes_the_expected_files(generated):
    out, manifest = generated
    expected = {"manifest.json"} | {f"{d.isoformat()}/{f}" for d in DAYS for f in FILES}
    assert set(snapshot(out)) == expected
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["seed"] == 7
    assert list(manifest["days"]) == [d.isoformat() for d in DAYS]


def test_generate_is_deterministic_for_a_seed(generated, tmp_path):
    out, manifest = generated
    again = sample.generate(tmp_path / "again", DAYS, seed=7)
    assert again == manifest
    assert snapshot(tmp_path / "again") == snapshot(out)
    other = sample.generate(tmp_path / "other", DAYS, seed=8)
    assert snapshot(tmp_path / "other") != snapshot(out)  # the seed really drives the content
    assert other["seed"] == 8


def test_manifest_balances_per_day(generated):
    _, manifest = generated
    for day, t in manifest["days"].items():
        assert t["bronze"] == t["silver"] + t["duplicates"] + t["quarantine"], day
        assert t["quarantine"] == sum(t["by_reason"].values()), day
        assert t["silver"] > 0 and t["duplicates"] > 0 and t["quarantine"] > 0, day
    first = manifest["days"][DAYS[0].isoformat()]
    assert first["by_reason"].get("too_large") == 1  # the one oversized record lands on the first day only


def read_day(out: Path, day: date):
    """Every bronze batch of a day, read with the ingest readers from the spec's sources."""
    spec = load_spec(SPEC)
    for source in spec.sources:
        files = list_files(str(out / day.isoformat()), source)
        assert files, (day, source.name)
        for f in files:
            yield from read_file(source, f)


def test_bronze_counts_rederived_from_the_files(generated):
    out, manifest = generated
    for day in DAYS:
        rows = [r for b in read_day(out, day) for r in b.select(["doc_id", "parse_error"]).to_pylist()]
        truth = manifest["days"][day.isoformat()]
        assert len(rows) == truth["bronze"], day
        parse_errors = Counter(r["parse_error"] for r in rows if r["parse_error"])
        assert parse_errors == {
            k: v
            for k, v in truth["by_reason"].items()
            if k.startswith(("malformed", "invalid", "not_an", "missing", "wrong"))
        }, day


def test_silver_counts_rederived_with_the_spec_pipes(generated):
    """The spec's pipes plus exact dedup (as silver does it) reproduce every count of the manifest."""
    out, manifest = generated
    spec = load_spec(SPEC)
    chain = build_chain([(p.pipe, p.params) for p in spec.silver.pipes])
    history: set[str] = set()
    for day in DAYS:
        reasons: Counter[str] = Counter()
        kept: list[tuple[str, str]] = []
        bronze = 0
        for batch in read_day(out, day):
            marked = chain(batch)
            assert marked.num_rows == batch.num_rows
            bronze += marked.num_rows
            for r in marked.select(["doc_id", "drop_reason", "content_hash"]).to_pylist():
                if r["drop_reason"]:
                    reasons[r["drop_reason"]] += 1
                else:
                    kept.append((r["doc_id"], r["content_hash"]))
        first: dict[str, str] = {}
        for doc_id, h in sorted(kept):
            first.setdefault(h, doc_id)
        unique = [(d, h) for d, h in kept if h not in history and first[h] == d]
        # Two texts under one doc_id: the smallest hash is kept, the others are quarantined.
        silver: dict[str, str] = {}
        for d, h in sorted(unique):
            silver.setdefault(d, h)
        clashes = len(unique) - len(silver)
        if clashes:
            reasons["duplicate_doc_id"] += clashes
        truth = manifest["days"][day.isoformat()]
        got = {
            "bronze": bronze,
            "silver": len(silver),
            "duplicates": len(kept) - len(unique),
            "quarantine": sum(reasons.values()),
            "by_reason": dict(sorted(reasons.items())),
        }
        assert got == truth, day
        history |= set(silver.values())
