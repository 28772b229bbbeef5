"""``lakehouse forget`` on a real lakehouse: a sample day built through gold (chunk embeddings included), a
dataset version and a synced serving index. The subject is an e-mail address the generator put into support
chats; which records hold it is read from bronze's raw text, never from the erasure's own answer."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from llm_lakehouse.cli import dataset
from llm_lakehouse.cli import erasure as cli_erasure
from llm_lakehouse.cli.search import index_for
from llm_lakehouse.core.catalog import open_catalog
from llm_lakehouse.core.errors import ErasurePinned
from llm_lakehouse.devtools.sample import generate
from llm_lakehouse.spark import erasure
from llm_lakehouse.spark.bronze import ingest_day
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.erasure import ERASABLE, Subject, bronze_predicate
from llm_lakehouse.spark.gold import build_day
from llm_lakehouse.spark.silver import refine_day
from tests.jobs.conftest import isolated_lake

DAY = date(2026, 5, 4)
CATALOG = "erase"
EMAIL = re.compile(r"[a-z]+\.[a-z]+@example\.com")


@pytest.fixture(scope="module")
def lake(spark, spec, settings, tmp_path_factory):
    lake = isolated_lake(spark, spec, tmp_path_factory.mktemp("erasure-home"), CATALOG)
    generate(lake.landing, [DAY], docs_per_source=5, seed=3)
    ingest_day(RunContext(spark, spec, lake, DAY, "erase_build"))
    refine_day(RunContext(spark, spec, lake, DAY, "erase_build"))
    build_day(RunContext(spark, spec, lake, DAY, "erase_build"))
    dataset.create(
        open_catalog(lake), spec, lake, dataset.Request("erase-v1", DAY, DAY, {}, seq_len=32, seed=1)
    )
    index_for(lake).sync(open_catalog(lake))
    yield lake
    # forget() opens its session through the lakehouse's own settings: give the shared session its catalog back.
    spark.conf.set("spark.sql.defaultCatalog", settings.catalog.name)


def _rows(spark, ident: str, where: str, version: int | None = None) -> int:
    as_of = "" if version is None else f" VERSION AS OF {version}"
    return spark.sql(f"SELECT count(*) FROM {CATALOG}.{ident}{as_of} WHERE {where}").collect()[0][0]


def _snapshots(spark, ident: str) -> list[int]:
    return [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {CATALOG}.{ident}.snapshots").collect()]


def _subject(spark) -> tuple[str, set[str]]:
    """An address that support chats carry and whose records reached gold, with the doc ids holding it (read
    from bronze's text here, independently of the erasure's own search)."""
    kept = {r[0] for r in spark.sql(f"SELECT doc_id FROM {CATALOG}.gold.training_documents").collect()}
    holders: dict[str, set[str]] = {}
    for doc_id, text in spark.sql(
        f"SELECT doc_id, text FROM {CATALOG}.bronze.documents WHERE source = 'support'"
    ).collect():
        for email in set(EMAIL.findall((text or "").lower())):
            holders.setdefault(email, set()).add(doc_id)
    email = next(e for e, ids in sorted(holders.items()) if ids & kept)
    return email, holders[email]


def test_forget_removes_the_subject_from_every_snapshot_index_and_dataset(spark, spec, lake, monkeypatch):
    email, doc_ids = _subject(spark)
    where = " OR ".join(f"doc_id = '{d}'" for d in doc_ids)
    in_gold = {
        r[0]
        for r in spark.sql(f"SELECT doc_id FROM {CATALOG}.gold.training_documents WHERE {where}").collect()
    }
    heads = {t: _snapshots(spark, t) for t in ERASABLE}
    # Without --force: the dataset version holds them, so nothing changes.
    with pytest.raises(ErasurePinned, match="erase-v1"):
        cli_erasure.forget(spec, lake, [Subject.of("email", email.upper())])
    assert {t: _snapshots(spark, t) for t in ERASABLE} == heads
    assert _rows(spark, "bronze.documents", where) == len(doc_ids)

    result = cli_erasure.forget(spec, lake, [Subject.of("email", email)], force=True)
    assert result["changed"] and result["matched"] >= len(doc_ids)
    assert result["rows_deleted"]["bronze.documents"] >= len(doc_ids)
    assert (
        result["rows_deleted"]["gold.training_documents"] > 0
        and result["rows_deleted"]["gold.chunk_embeddings"] > 0
    )
    # No snapshot any table retains holds them; bronze's text nowhere holds the address.
    value = bronze_predicate([Subject.of("email", email)])
    for ident in ERASABLE:
        for sid in _snapshots(spark, ident):
            assert _rows(spark, ident, where, sid) == 0, (ident, sid)
    for sid in _snapshots(spark, "bronze.documents"):
        assert _rows(spark, "bronze.documents", value, sid) == 0
    # The serving index: no chunk of theirs, no older version to time-travel to.
    lance = index_for(lake).table()
    assert lance.count_rows(" OR ".join(f"doc_id = '{d}'" for d in doc_ids)) == 0
    assert len(lance.list_versions()) == 1
    # The dataset version says exactly what changed, and rebuilds identically without them.
    change = result["datasets"]["erase-v1"]
    assert change["documents_removed"] == len(in_gold) > 0 and change["documents_added"] == 0
    assert change["documents_after"] == change["documents_before"] - change["documents_removed"]
    rebuilt = dataset.rebuild(open_catalog(lake), lake, "erase-v1", lake.home / "rebuilt")
    assert rebuilt["erasures"][-1] == change and rebuilt["documents"] == change["documents_after"]
    # The receipt: hashed subject, started then completed, and the address nowhere in it.
    receipts = [r.asDict() for r in spark.table(f"{CATALOG}.ops.erasure_log").collect()]
    # (an Iceberg table has no row order: by when each was written)
    receipts.sort(key=lambda r: (r["processed_at"], r["status"] == "completed"))
    assert [r["status"] for r in receipts] == ["started", "completed"]
    assert len({r["erasure_id"] for r in receipts}) == 1
    assert all(r["subject_sha256"] == [Subject.of("email", email).sha256] for r in receipts)
    assert email not in json.dumps(receipts, default=str).lower()
    # Again: nothing matches any more, nothing changes.
    heads = {t: _snapshots(spark, t) for t in ERASABLE}
    again = cli_erasure.forget(spec, lake, [Subject.of("email", email)], force=True)
    assert again == {
        "erasure_id": None,
        "matched": 0,
        "subject_sha256": again["subject_sha256"],
        "changed": False,
    }
    assert {t: _snapshots(spark, t) for t in ERASABLE} == heads


def test_an_erasure_stopped_midway_is_finished_by_running_it_again(spark, spec, lake, monkeypatch):
    email, doc_ids = _subject(spark)  # one the test above did not forget: bronze still holds it
    where = " OR ".join(f"doc_id = '{d}'" for d in doc_ids)

    def killed(*_args, **_kwargs):
        raise RuntimeError("killed after the deletes")

    monkeypatch.setattr(erasure, "expire", killed)
    with pytest.raises(RuntimeError, match="killed"):
        cli_erasure.forget(spec, lake, [Subject.of("email", email)], force=True)
    # Bronze's current state no longer has them, but older snapshots do.
    assert _rows(spark, "bronze.documents", where) == 0
    assert any(_rows(spark, "bronze.documents", where, sid) for sid in _snapshots(spark, "bronze.documents"))
    monkeypatch.undo()
    result = cli_erasure.forget(spec, lake, [Subject.of("email", email)], force=True)
    assert result["changed"] and result["matched"] >= len(doc_ids)
    for ident in ERASABLE:
        for sid in _snapshots(spark, ident):
            assert _rows(spark, ident, where, sid) == 0, (ident, sid)


def test_a_subject_that_matches_nothing_changes_nothing(spark, spec, lake):
    heads = {t: _snapshots(spark, t) for t in ERASABLE}
    result = cli_erasure.forget(spec, lake, [Subject.of("email", "nobody.here@example.org")])
    assert result["matched"] == 0 and not result["changed"]
    assert {t: _snapshots(spark, t) for t in ERASABLE} == heads
    with pytest.raises(ValueError, match="not an e-mail address"):
        Subject.of("email", "not-an-address")


def test_the_cli_refuses_a_request_without_a_valid_subject(tmp_path):
    from typer.testing import CliRunner

    from llm_lakehouse.cli.app import app

    runner = CliRunner()
    env = {"LAKEHOUSE_HOME": str(tmp_path)}
    assert runner.invoke(app, ["forget"], env=env).exit_code == 2
    bad = runner.invoke(app, ["forget", "--email", "no-at-sign"], env=env)
    assert bad.exit_code == 2 and "not an e-mail address" in bad.output
    missing = runner.invoke(app, ["forget", "--subjects", str(tmp_path / "none.txt")], env=env)
    assert missing.exit_code == 2 and "none.txt" in missing.output
    assert not (tmp_path / "catalog.db").exists()  # refused before touching the lakehouse
