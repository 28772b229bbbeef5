"""``ops.run_audit`` shows Iceberg's optimistic concurrency: writers of different days committing to one table
at once lose nothing, and the commits Iceberg had to retry are in the audit (``spark/audit.py``, the catalog's
``CommitAttemptsReporter`` from ``jvm/``)."""

from __future__ import annotations

import json
import threading
from datetime import date

from pyspark.sql import functions as F

from llm_lakehouse.core.catalog import open_catalog, read_day
from llm_lakehouse.core.tables import RUN_AUDIT
from llm_lakehouse.spark.audit import commits, write_audit
from llm_lakehouse.spark.common import replace_rows, stamp
from llm_lakehouse.spark.context import RunContext

DAYS = [date(2026, 3, d) for d in (1, 2, 3)]
JOB = "concurrency_test"
WRITES = 6


def test_writers_of_different_days_commit_at_once_and_the_audit_shows_icebergs_retries(spark, spec, settings):
    commits(spark)  # forget what earlier tests committed
    schema = RUN_AUDIT.spark_schema(exclude=("dt", "run_id", "processed_at"))

    def writer(day: date) -> None:
        # Each write replaces the day's rows of JOB: the last one must be what the day holds.
        for i in range(WRITES):
            df = spark.createDataFrame([(JOB, "*", None, i, i, 0, 0, 0, 0.0, 0.0, None)], schema)
            replace_rows(stamp(df, day, f"concurrent__{day}"), RUN_AUDIT, settings, day, F.col("job") == JOB)

    threads = [threading.Thread(target=writer, args=(d,)) for d in DAYS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One more write, through the audit itself: its `*` row carries the commits above.
    ctx = RunContext(spark, spec, settings, DAYS[0], f"concurrent__{DAYS[0]}")
    write_audit(ctx, JOB, [{"step": "*", "docs_in": WRITES, "docs_out": WRITES}])

    cat = open_catalog(settings)
    for day in DAYS:
        mine = [r for r in read_day(cat, RUN_AUDIT.ident, day).to_pylist() if r["job"] == JOB]
        want = WRITES if day == DAYS[0] else WRITES - 1
        assert [(r["step"], r["docs_in"]) for r in mine] == [("*", want)], day  # no write lost, none doubled
    (row,) = [r for r in read_day(cat, RUN_AUDIT.ident, DAYS[0]).to_pylist() if r["job"] == JOB]
    made = json.loads(row["detail"])["iceberg_commits"]
    assert made["commits"] == len(DAYS) * WRITES
    retried = made["retried"]
    assert retried, "three writers committing at once: Iceberg retried none of the commits"
    assert all(c["table"].endswith(RUN_AUDIT.ident) and c["attempts"] >= 2 for c in retried), retried
