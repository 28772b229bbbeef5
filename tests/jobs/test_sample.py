"""The bundled sample corpus: deterministic, and its manifest agrees with what the files actually hold."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from llm_lakehouse.core.pipes import build_chain
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.devtools import sample
from llm_lakehouse.spark.ingest import list_files, read_file

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


def run_spec_chain(out: Path, day: date) -> list[dict]:
    """Every row of a day after the spec's silver pipes (pure Arrow, no Spark)."""
    spec = load_spec(SPEC)
    chain = build_chain([(p.pipe, p.params) for p in spec.silver.pipes])
    rows = []
    for batch in read_day(out, day):
        marked = chain(batch)
        assert marked.num_rows == batch.num_rows
        rows += marked.select(["doc_id", "drop_reason", "content_hash", "text", "content_type"]).to_pylist()
    return rows


@pytest.fixture(scope="module")
def refined(generated) -> dict[date, list[dict]]:
    out, _ = generated
    return {day: run_spec_chain(out, day) for day in DAYS}


def test_silver_counts_rederived_with_the_spec_pipes(generated, refined):
    """The spec's pipes plus exact dedup (as silver does it) and the planted near-duplicates (which the
    near-dup stage drops) reproduce every count of the manifest."""
    _, manifest = generated
    history: set[str] = set()  # content hashes kept on earlier days
    history_ids: set[str] = set()  # and their doc ids
    for day in DAYS:
        truth = manifest["days"][day.isoformat()]
        reasons: Counter[str] = Counter()
        kept: list[tuple[str, str]] = []
        for r in refined[day]:
            if r["drop_reason"]:
                reasons[r["drop_reason"]] += 1
            else:
                kept.append((r["doc_id"], r["content_hash"]))
        first: dict[str, str] = {}
        for doc_id, h in sorted(kept):
            first.setdefault(h, doc_id)
        unique = [(d, h) for d, h in kept if h not in history and first[h] == d]
        # Planted near-duplicates pass every pipe; the near-dup stage drops them after exact dedup.
        near = {n["doc_id"] for n in truth["near_duplicates"]}
        assert near <= {d for d, _ in unique}, day
        unique = [(d, h) for d, h in unique if d not in near]
        # Two texts under one doc_id: the smallest hash is kept, the others are quarantined.
        silver: dict[str, str] = {}
        for d, h in sorted(unique):
            silver.setdefault(d, h)
        clashes = len(unique) - len(silver)
        if clashes:
            reasons["duplicate_doc_id"] += clashes
        got = {
            "bronze": len(refined[day]),
            "silver": len(silver),
            "duplicates": len(kept) - len(unique),
            "quarantine": sum(reasons.values()),
            "by_reason": dict(sorted(reasons.items())),
        }
        assert got == {k: truth[k] for k in got}, day
        for n in truth["near_duplicates"]:  # the original is kept: today, or on an earlier day
            assert n["duplicate_of"] in silver or n["duplicate_of"] in history_ids, (day, n)
        history |= set(silver.values())
        history_ids.update(silver)


def test_manifest_lists_planted_near_duplicates_and_mojibake(generated):
    _, manifest = generated
    for i, (day, t) in enumerate(manifest["days"].items()):
        near = t["near_duplicates"]
        assert len(near) == 2, day
        assert len(near) <= t["duplicates"], day
        origins = [n["duplicate_of"].split("/")[1].split("-")[0] for n in near]
        if i:  # one within the day, one from an earlier day
            assert origins == [f"w{i}", f"w{i - 1}"], day
        assert [m["doc_id"] for m in t["mojibake"]] == [f"web/w{i}-mojibake"]


def texts_by_id(refined: dict[date, list[dict]]) -> dict[str, str]:
    return {r["doc_id"]: r["text"] for rows in refined.values() for r in rows if not r["drop_reason"]}


def test_planted_near_duplicates_are_close_and_unrelated_documents_far(generated, refined):
    """Word 5-gram Jaccard on silver text: planted pairs >= 0.85; other kept pairs of a day far below."""
    _, manifest = generated
    texts = texts_by_id(refined)
    for day in DAYS:
        truth = manifest["days"][day.isoformat()]
        pairs = {(n["doc_id"], n["duplicate_of"]) for n in truth["near_duplicates"]}
        for a, b in pairs:
            assert texts[a] != texts[b]
            assert sample.jaccard(texts[a], texts[b]) >= sample.NEAR_DUP_MIN_JACCARD, (a, b)
        # Everything kept that day, less exact duplicates (same text) and the planted pairs.
        kept = {}
        for r in refined[day]:
            if not r["drop_reason"]:
                kept.setdefault(r["content_hash"], r["doc_id"])
        ids = sorted(set(kept.values()))
        shingles = {d: sample.shingles(texts[d]) for d in ids}
        worst = 0.0
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if a == b or (a, b) in pairs or (b, a) in pairs:  # a == b: the duplicate_doc_id case
                    continue
                sa, sb = shingles[a], shingles[b]
                worst = max(worst, len(sa & sb) / len(sa | sb))
        assert worst < 0.3, day


def test_mojibake_is_repaired_and_html_becomes_plain_text(generated, refined):
    _, manifest = generated
    rows = {r["doc_id"]: r for rs in refined.values() for r in rs}
    for day in DAYS:
        for m in manifest["days"][day.isoformat()]["mojibake"]:
            assert rows[m["doc_id"]]["drop_reason"] is None
            assert rows[m["doc_id"]]["text"] == m["text"]
        n = DAYS.index(day)
        for k in range(3):
            page = rows[f"web/w{n}-html-{k}"]
            assert page["drop_reason"] is None and page["content_type"] == "text/plain"
            assert "<" not in page["text"] and "cookies" not in page["text"]
        assert rows[f"web/w{n}-html-empty"]["drop_reason"] == "extract:no_text"
