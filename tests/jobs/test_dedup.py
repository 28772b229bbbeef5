"""Near-duplicate detection on a real SparkSession: planted pairs, shared boilerplate, history, incremental cost.

The days used here (2025) precede the sample corpus' days, so they are history for those tests and never
the other way round.
"""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_lakehouse.core.catalog import open_catalog, read_day
from llm_lakehouse.core.pipes import build_pipe
from llm_lakehouse.core.pipes.base import with_drop_columns
from llm_lakehouse.core.pipes.minhash import MinHash, jaccard_estimate
from llm_lakehouse.devtools.sample import _prose, jaccard
from llm_lakehouse.spark.bronze import ingest_day
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.silver import refine_day

DAYS = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
THRESHOLD = 0.8  # the spec's minhash threshold
FOOTER = (
    "This message and any attachments are confidential and intended solely for the addressee. If you have "
    "received it in error please notify the sender and delete it. Views expressed are those of the author."
)


def edit(rng: random.Random, text: str, n: int) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), n):
        words[i] = rng.choice(["quietly", "formally", "again", "partly", "openly", "finally"])
    return " ".join(words)


def write_day(settings, day: date, docs: list[dict]) -> None:
    path = settings.landing / day.isoformat() / "docs" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(docs), path)


@pytest.fixture(scope="module")
def planted(spark, spec, settings):
    """Two days of prose with near-copies (various edit counts) and unrelated mails sharing a footer."""
    rng = random.Random(11)
    truth: dict[str, tuple[str, float]] = {}  # copy id -> (source id, true Jaccard)
    originals: dict[str, str] = {}
    results = {}
    for n, day in enumerate(DAYS[:2]):
        docs = []
        for i in range(80):
            doc_id = f"b{n}-{i}"
            originals[doc_id] = _prose(rng, min_words=120)
            docs.append({"id": doc_id, "text": originals[doc_id]})
        for i in range(12):  # unrelated documents that share a long footer
            docs.append({"id": f"mail{n}-{i}", "text": _prose(rng, min_words=60) + "\n\n" + FOOTER})
        pool = [k for k in originals if k.startswith(f"b{n}-")] + (
            [] if n == 0 else [f"b0-{i}" for i in range(40)]
        )
        for i in range(40):
            src = rng.choice(pool)
            copy = edit(rng, originals[src], rng.choice([1, 1, 2, 2, 3, 4, 5, 6, 8, 16]))
            truth[f"c{n}-{i}"] = (src, jaccard(originals[src], copy))
            docs.append({"id": f"c{n}-{i}", "text": copy})
        write_day(settings, day, docs)
        ingest_day(RunContext(spark, spec, settings, day, f"dedup__{day}"))
        results[day] = refine_day(RunContext(spark, spec, settings, day, f"dedup__{day}"))
    cat = open_catalog(settings)
    quarantine = [r for d in DAYS[:2] for r in read_day(cat, "silver.quarantine", d).to_pylist()]
    return truth, {r["doc_id"]: r for r in quarantine}, results


def test_near_duplicates_precision_and_recall(planted):
    """Floors against the true Jaccard of word 5-grams. Pairs the signature cannot tell (its estimate has a
    standard deviation of ~0.04 near the threshold) are verified on their texts, so the floors are close to 1;
    what may still be missed is a pair no band brought together."""
    truth, quarantine, _ = planted
    flagged = {k: r for k, r in quarantine.items() if r["reason"] == "near_duplicate"}

    def copies(lo: float, hi: float = 1.01) -> set[str]:
        return {f"docs/{k}" for k, (_, j) in truth.items() if lo <= j < hi}

    should, clear, far = copies(THRESHOLD), copies(0.88), copies(0, 0.7)
    assert len(clear) >= 15 and len(far) >= 5, "the generated set must cover both sides of the threshold"
    recall = len(should & flagged.keys()) / len(should)
    precision = len(flagged.keys() & should) / len(flagged)
    near_right = len(flagged.keys() & copies(THRESHOLD - 0.05)) / len(flagged)
    print(
        f"near-dup: {len(flagged)} flagged, recall {recall:.3f}, precision {precision:.3f} ({near_right:.3f} at J>=0.75)"
    )
    assert clear <= flagged.keys(), "every copy with Jaccard >= 0.88 is found"
    assert recall >= 0.97
    assert precision >= 0.97 and near_right >= 0.99
    assert not (far & flagged.keys()), "pairs with Jaccard < 0.7 must not be merged"
    # Unrelated mails that share a footer are not merged.
    assert not [k for k in flagged if k.startswith("docs/mail")]
    # Each flagged copy points at the document it was copied from (keep-first: the original is earlier).
    right = [k for k in flagged.keys() & should if flagged[k]["duplicate_of"] == "docs/" + truth[k[5:]][0]]
    assert len(right) >= 0.9 * len(flagged.keys() & should)


def test_copies_of_an_earlier_day_are_found_against_history(planted):
    truth, quarantine, _ = planted
    across = [
        f"docs/{k}"
        for k, (src, j) in truth.items()
        if k.startswith("c1-") and src.startswith("b0-") and j >= 0.85
    ]
    assert across, "the generated set must plant copies of day-0 documents on day 1"
    for k in across:
        row = quarantine[k]
        assert row["reason"] == "near_duplicate" and row["duplicate_of"].startswith("docs/b0-")
        assert f"of {DAYS[0]}" in row["detail"] and ">= 0.80" in row["detail"]


def test_a_small_day_reads_a_few_index_buckets(planted, spark, spec, settings):
    """Incremental cost: two new documents probe a fraction of the index, not all of history."""
    rng = random.Random(5)
    write_day(settings, DAYS[2], [{"id": f"n-{i}", "text": _prose(rng, min_words=120)} for i in range(2)])
    ingest_day(RunContext(spark, spec, settings, DAYS[2], "dedup__small"))
    stats = refine_day(RunContext(spark, spec, settings, DAYS[2], "dedup__small"))["dedup"]
    print(stats)
    assert stats["index_files_total"] >= 2 * spec.dedup.index_buckets * 0.9  # two earlier days, all buckets
    assert stats["index_rows_total"] > 1000
    assert 0 < stats["index_files_read"] <= 0.5 * stats["index_files_total"]
    assert 0 < stats["index_rows_read"] <= 0.5 * stats["index_rows_total"]
    bands = MinHash.Params(**spec.step("minhash").params).bands
    assert stats["index_buckets_read"] <= 2 * (1 + bands)  # two documents, one exact key and a key per band


def test_a_new_band_layout_rebuilds_the_index_and_history_still_deduplicates(
    planted, spark, spec, settings, tmp_path
):
    """Index keys are per layout: a spec that changes bands and rows gets the index rebuilt from the published
    signatures before its first run, so a copy of an old document is still caught; the old layout comes back
    the same way."""
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.spark.dedup import LAYOUT_PROPERTY, index_layout
    from llm_lakehouse.spark.session import ensure_tables

    truth, quarantine, _ = planted
    shipped = MinHash.Params(**spec.step("minhash").params)
    assert (shipped.bands, shipped.rows) == (16, 7)
    yaml = spec.path.read_text()
    (tmp_path / "layout.yaml").write_text(yaml.replace("bands: 16, rows: 7", "bands: 14, rows: 8"))
    other = load_spec(tmp_path / "layout.yaml")
    index = f"{settings.catalog.name}.silver.dedup_index"

    def bands_per_doc() -> set[int]:
        rows = spark.sql(
            f"SELECT doc_id, count(*) AS n FROM {index} WHERE band >= 0 GROUP BY doc_id"
        ).collect()
        return {r["n"] for r in rows}

    def layout() -> str:
        return spark.sql(f"SHOW TBLPROPERTIES {index} ('{LAYOUT_PROPERTY}')").first()["value"]

    assert bands_per_doc() == {16} and layout() == index_layout(spec)
    try:
        ensure_tables(spark, settings, other)
        assert bands_per_doc() == {14} and layout() == index_layout(other) != index_layout(spec)
        day, src = date(2025, 3, 5), "b0-3"
        original = spark.table(f"{settings.catalog.name}.silver.documents").where(f"doc_id = 'docs/{src}'")
        text = original.first()["text"]
        write_day(settings, day, [{"id": "late-copy", "text": edit(random.Random(2), text, 2)}])
        ingest_day(RunContext(spark, other, settings, day, "dedup__layout"))
        refine_day(RunContext(spark, other, settings, day, "dedup__layout"))
        row = read_day(open_catalog(settings), "silver.quarantine", day).to_pylist()[0]
        assert row["reason"] == "near_duplicate" and row["duplicate_of"] == f"docs/{src}", row
    finally:
        ensure_tables(spark, settings, spec)
    assert bands_per_doc() == {16} and layout() == index_layout(spec)


def test_signature_estimates_jaccard():
    rng = random.Random(3)
    base = _prose(rng, min_words=200)
    texts = [base] + [edit(rng, base, n) for n in (1, 5, 20, 60)] + [_prose(rng, min_words=200), "", base]
    batch = with_drop_columns(pa.RecordBatch.from_pydict({"text": texts}))
    dropped = pa.array([None] * (len(texts) - 1) + ["empty_text"])  # an earlier pipe dropped the last row
    batch = batch.set_column(batch.schema.get_field_index("drop_reason"), "drop_reason", dropped)
    sig = build_pipe("minhash", {})(batch).column("minhash").to_pylist()
    assert all(len(s) == 112 for s in sig[:-1]) and sig[-1] is None
    for i in range(1, 6):
        est, true = jaccard_estimate(np.array(sig[0]), np.array(sig[i])), jaccard(base, texts[i])
        assert abs(est - true) < 0.12, (i, est, true)
    assert set(sig[-2]) == {-1}, "no words: the all-max signature, which the index skips"
    # Same text, same signature, in another batch and another process alike (stable hashing).
    again = build_pipe("minhash", {})(with_drop_columns(pa.RecordBatch.from_pydict({"text": [base]})))
    assert again.column("minhash").to_pylist()[0] == sig[0]


def test_signature_treats_any_script_as_words():
    pipe = build_pipe("minhash", {"ngram": 2})
    texts = ["Привет мир как дела", "Привет мир как дела", "مرحبا بالعالم هذا نص", "日本語 テキスト です"]
    sig = pipe(with_drop_columns(pa.RecordBatch.from_pydict({"text": texts}))).column("minhash").to_pylist()
    assert sig[0] == sig[1] and sig[0] != sig[2] and set(sig[2]) != {-1} and set(sig[3]) != {-1}


def test_signature_on_huge_junk_repeated_and_short_texts():
    rng = random.Random(5)
    huge = "\n\n".join(_prose(rng, min_words=200) for _ in range(900))
    assert len(huge) > 1_000_000
    line = "click here to subscribe to our newsletter today"
    junk = bytes(rng.randrange(256) for _ in range(4000)).decode("latin-1")
    texts = [
        huge,
        huge.replace("the", "a", 3),
        "\n".join([line] * 1000),
        "\n".join([line] * 3),
        junk,
        "two words",
    ]
    sig = build_pipe("minhash", {})(with_drop_columns(pa.RecordBatch.from_pydict({"text": texts})))
    sig = [np.array(s) for s in sig.column("minhash").to_pylist()]
    assert all(len(s) == 112 for s in sig)
    assert jaccard_estimate(sig[0], sig[1]) > 0.95  # three words edited in 1 MB
    # Shingles are a set: a line repeated 1,000 times is the line repeated 3 times (the repetition filters drop
    # such a page before dedup sees it).
    assert jaccard_estimate(sig[2], sig[3]) == 1.0
    assert set(sig[4]) != {-1} and jaccard_estimate(sig[4], sig[0]) < 0.05
    # Fewer words than a shingle: one shingle of what there is, not the empty signature.
    assert set(sig[5]) != {-1}
