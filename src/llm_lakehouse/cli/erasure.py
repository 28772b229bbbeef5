"""``lakehouse forget``: the right to erasure across the lakehouse's tables, its dataset versions and the RAG
serving index, with a receipt in ``ops.erasure_log`` that never holds the subject.

One run, in this order (``spark/erasure.py`` for the table work):

1. find the subjects' records (bronze by raw value or doc id; an unfinished erasure's recorded doc ids);
   nothing found: say so, change nothing;
2. list the dataset versions and other tags whose snapshots hold them: without ``--force`` stop there, having
   changed nothing;
3. write the ``started`` receipt (subject hashes, doc ids);
4. delete the records from every table (bronze last), rebuild the dataset versions that held them at the new
   gold snapshot and move their tags there, drop the other refs that held them;
5. expire every older snapshot, verify no retained snapshot holds them, bring the serving index to the new
   gold and drop its history;
6. write the ``completed`` receipt.

A run stopped anywhere is finished by running it again: every step is idempotent, and step 1 picks up the
doc ids of the ``started`` receipt once bronze no longer has them.

It runs in-process (a SparkSession of its own, not spark-submit), so that the subjects' values never appear on
a command line or in a job's log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from llm_lakehouse.cli import dataset
from llm_lakehouse.cli.search import index_for
from llm_lakehouse.core.errors import ErasurePinned
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import GOLD_TRAINING
from llm_lakehouse.spark import erasure
from llm_lakehouse.spark.erasure import Subject
from llm_lakehouse.spark.runner import catalog_lock

# Branches a failed write-audit-publish gate leaves (spark/wap.py): diagnostics, dropped without asking.
WAP_BRANCH_PREFIX = "wap_"


def forget(
    spec: PipelineSpec,
    settings: Settings,
    subjects: list[Subject],
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.spark.session import ensure_tables, spark_session

    now = datetime.now(UTC)
    day, run_id = now.date(), f"cli__forget__{now.strftime('%Y%m%dT%H%M%S')}"
    erasure_id = f"erasure_{now.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
    hashes = [s.sha256 for s in subjects]
    with catalog_lock(settings):
        spark = spark_session(settings, f"{spec.name}.forget")
        ensure_tables(spark, settings, spec)
        progress("finding the subjects' records")
        found = erasure.find(spark, settings, subjects)
        if not found.doc_ids:
            return {"erasure_id": None, "matched": 0, "subject_sha256": hashes, "changed": False}
        catalog = open_catalog(settings)
        versions = dataset.versions_holding(catalog, settings, found.doc_ids)
        tags = {f"dataset_{n}" for n in versions}
        refs = erasure.refs_holding(spark, settings, found.doc_ids)
        other = {t: {r: k for r, k in named.items() if r not in tags} for t, named in refs.items()}
        other = {t: named for t, named in other.items() if named}
        pinned = sorted(
            f"{t}@{r}"
            for t, named in other.items()
            for r, k in named.items()
            if not (k == "BRANCH" and r.startswith(WAP_BRANCH_PREFIX))
        )
        if (versions or pinned) and not force:
            raise ErasurePinned(
                f"{len(found.doc_ids)} record(s) of the subject(s) are held by dataset version(s) {versions} "
                f"and pinned snapshot(s) {pinned}: run again with --force to rebuild those versions without "
                "them and drop the other pins; nothing was changed"
            )
        started = {
            "erasure_id": erasure_id,
            "subject_sha256": hashes,
            "doc_ids": found.doc_ids,
            "forced": force,
        }
        erasure.write_receipt(spark, settings, day, run_id, {**started, "status": "started"})
        progress(f"deleting {len(found.doc_ids)} record(s) from every table")
        deleted = erasure.delete_rows(spark, settings, found.doc_ids)
        changes = {}
        for name in versions:
            progress(f"rebuilding dataset version {name} without them")
            changes[name] = dataset.rederive(catalog, settings, name, erasure_id)
            spark.sql(
                f"ALTER TABLE {settings.catalog.name}.{GOLD_TRAINING.ident} CREATE OR REPLACE TAG "
                f"`dataset_{name}` AS OF VERSION {changes[name]['gold_snapshot']}"
            )
        erasure.drop_refs(spark, settings, other)
        progress("expiring the snapshots that held them")
        expired = erasure.expire(spark, settings)
        held = erasure.still_held(spark, settings, found.doc_ids)
        if held:
            raise RuntimeError(
                f"erasure {erasure_id}: snapshots still hold the records: {held}; run it again"
            )
        index = index_for(settings)
        index_state = index.state()
        if index_state.get("snapshot_id") is not None:
            progress("bringing the serving index to the new gold")
            index.sync(open_catalog(settings))
            index.forget_history()
        detail = {
            "landing_files": found.landing_files,
            "serving_index": "synced, history dropped" if index_state.get("snapshot_id") else "none",
        }
        done = {
            **started,
            "status": "completed",
            "rows_deleted": deleted,
            "snapshots_expired": expired,
            "datasets": changes,
            "detail": detail,
        }
        erasure.write_receipt(spark, settings, day, run_id, done)
    return {
        "matched": len(found.doc_ids),
        "changed": True,
        **{k: v for k, v in done.items() if k != "doc_ids"},
    }
