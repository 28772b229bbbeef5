"""The stages: what each Spark job of the lakehouse is, declared once.

A stage is one spark-submit entry point (``spark_jobs/<entry_point>``) and one Airflow task of the same name. The
DAG factory, ``lakehouse build``, the job runner (write-audit-publish publishes ``outputs`` together) and the
lineage all read these declarations; adding a stage is one declaration here and one job module. What a
deployment tunes per stage (GPU routing, Spark memory, pool, retries) is in the spec, keyed by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llm_lakehouse.core.tables import LINEAGE

if TYPE_CHECKING:
    from llm_lakehouse.core.spec import PipelineSpec

# A landing feed is the pseudo-table ``landing.<source>`` (files, not Iceberg).
LANDING = "landing"
# Exit status of ``python -m llm_lakehouse.spark.empty_day`` when the stage's day has work to do (EX_TEMPFAIL):
# the caller submits the Spark job.
NEEDS_SPARK = 75


@dataclass(frozen=True)
class Stage:
    name: str
    entry_point: str  # a file of spark_jobs/
    module: str  # the module whose main(argv) the entry point runs
    outputs: tuple[str, ...]  # the tables it writes, published to main together
    summary: str
    # Silver dedups against every earlier day: day D must see day D-1's silver first, also in backfills that
    # run several days at once.
    depends_on_past: bool = False
    # Reads the landing zone: its inputs are the spec's sources.
    ingests: bool = False

    def inputs(self, spec: PipelineSpec) -> tuple[str, ...]:
        """The tables (or landing feeds) it reads: the upstreams of what it writes, minus what it writes."""
        ups = table_upstreams(spec)
        inputs: list[str] = []
        for ident in self.outputs:
            inputs += [u for u in ups.get(ident, ()) if u not in self.outputs and u not in inputs]
        return tuple(inputs)


# A day's build, in the order it runs.
DAY_STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "bronze",
            "bronze_ingest.py",
            "llm_lakehouse.spark.bronze",
            ("bronze.documents",),
            "lands the day's files of each source as raw records",
            ingests=True,
        ),
        Stage(
            "silver",
            "silver_refine.py",
            "llm_lakehouse.spark.silver",
            (
                "silver.documents",
                "silver.quarantine",
                "silver.dedup_index",
                "ops.pii_audit",
                "ops.doc_profile",
            ),
            "runs the spec's pipes, deduplicates against history and scrubs PII",
            depends_on_past=True,
        ),
        Stage(
            "gold",
            "gold_tokenize.py",
            "llm_lakehouse.spark.gold",
            ("gold.training_documents", "gold.chunk_embeddings"),
            "tokenizes training documents and embeds RAG chunks",
        ),
    )
}

# Not a layer of a day (``lakehouse build`` and the nightly DAG never run it): it writes no layer's rows, so it
# never goes through write-audit-publish.
MAINTENANCE = Stage(
    "maintenance",
    "table_maintenance.py",
    "llm_lakehouse.spark.maintenance",
    (),
    "compacts data files, rewrites manifests, expires snapshots, removes orphan files",
)

# The streaming path (``lakehouse stream start``): the landing zone, or Kafka, upserted by doc_id into the same
# tables the day's stages write, through the same pipes and the same chunking and embedding. Micro-batches
# commit to main directly: a day's quality gates judge a whole day, which a stream never has.
STREAM = Stage(
    "stream",
    "corpus_stream.py",
    "llm_lakehouse.spark.stream",
    (
        "bronze.documents",
        "silver.documents",
        "silver.quarantine",
        "silver.dedup_index",
        "gold.chunk_embeddings",
    ),
    "upserts new records into silver and gold continuously, deletes tombstoned documents everywhere",
)

STAGES: dict[str, Stage] = {**DAY_STAGES, MAINTENANCE.name: MAINTENANCE, STREAM.name: STREAM}


def writer_of(ident: str) -> Stage | None:
    return next((s for s in DAY_STAGES.values() if ident in s.outputs), None)


def table_upstreams(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    """Table -> the tables (or landing feeds) it is built from; tables without a declaration have none."""
    out = {ident: decl.upstream for ident, decl in LINEAGE.items()}
    for stage in DAY_STAGES.values():
        if stage.ingests:
            out |= {ident: tuple(f"{LANDING}.{s.name}" for s in spec.sources) for ident in stage.outputs}
    return out
