"""The streaming path (spark/stream.py): Kappa replay, upserts and tombstones, hostile files, exactly-once under
kill -9, the Kafka source's wiring, and ``lakehouse stream status``."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import sysconfig
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import SPEC_PATH

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.streaming import StreamPaths, committed_files, stream_status
from llm_lakehouse.devtools.rag_eval import package_documents
from llm_lakehouse.devtools.sample import _prose, generate

KAPPA_DAY = date(2026, 9, 20)
EDIT_DAY = date(2026, 9, 21)


def _settings(settings: Settings, landing: Path) -> Settings:
    """The session's lake, watching another landing folder."""
    return Settings.from_env(
        {"LAKEHOUSE_HOME": str(settings.home), "LAKEHOUSE_LANDING": str(landing), "PATH": os.environ["PATH"]}
    )


def _replay(spark, spec, settings: Settings, paths: StreamPaths) -> list[dict]:
    from llm_lakehouse.spark.stream import start_query

    batches: list[dict] = []
    query = start_query(spark, spec, settings, paths, available_now=True, on_batch=batches.append)
    query.awaitTermination()
    assert query.exception() is None
    return batches


def _rows(spark, settings: Settings, ident: str, where: str = "true") -> list:
    return spark.sql(f"SELECT * FROM {settings.catalog.name}.{ident} WHERE {where}").collect()


def _write(path: Path, records: list[dict | str], mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_replaying_a_landed_day_through_the_stream_gives_the_nightly_silver_rows(
    spark, spec, settings, tmp_path
):
    from llm_lakehouse.spark.bronze import ingest_day
    from llm_lakehouse.spark.context import RunContext
    from llm_lakehouse.spark.silver import refine_day

    landing = tmp_path / "landing"
    generate(landing, [KAPPA_DAY], docs_per_source=6, seed=33)
    # Beside the sample, real text: the long descriptions of 40 installed packages (not the first 80, which
    # test_serving loads into the same lake: here they would be exact duplicates of an earlier day).
    real = package_documents(Path(sysconfig.get_paths()["purelib"]), 120)[0][80:]
    assert len(real) == 40
    _write(landing / KAPPA_DAY.isoformat() / "web" / "packages.jsonl", real)
    kappa = _settings(settings, landing)
    ctx = RunContext(spark, spec, kappa, KAPPA_DAY, "kappa_nightly")
    ingest_day(ctx)
    refine_day(ctx)
    day = f"dt = DATE'{KAPPA_DAY}'"
    silver = spec.silver_table().ident

    def state() -> tuple:
        docs = {(r.doc_id, r.text, r.content_hash, r.raw_hash) for r in _rows(spark, kappa, silver, day)}
        dropped = {(r.doc_id, r.reason) for r in _rows(spark, kappa, "silver.quarantine", day)}
        return docs, dropped

    nightly_docs, nightly_dropped = state()
    assert len(nightly_docs) > 10 and nightly_dropped  # the sample plants duplicates and hostile records
    assert {f"web/{r['id']}" for r in real} & {d[0] for d in nightly_docs}
    for table in ("bronze.documents", silver, "silver.quarantine", "silver.dedup_index"):
        spark.sql(f"DELETE FROM {kappa.catalog.name}.{table} WHERE {day}")

    batches = _replay(spark, spec, kappa, StreamPaths(tmp_path / "stream"))
    stream_docs, stream_dropped = state()
    assert stream_docs == nightly_docs
    assert stream_dropped == nightly_dropped
    # Every record is accounted for, and the files outside the layout (the sample's manifest) are listed.
    assert sum(b["records"] for b in batches) == sum(b["upserted"] + b["quarantined"] for b in batches)
    assert sum(b["records"] for b in batches) == len(_rows(spark, kappa, "bronze.documents", day))
    audit = _rows(spark, kappa, "ops.run_audit", "job = 'stream' AND step = 'skipped_file'")
    assert any(json.loads(r.detail)["file"].endswith("manifest.json") for r in audit)


def _prose_docs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_prose(rng) for _ in range(n)]


def test_edits_tombstones_and_poison_files_end_in_each_documents_last_state(spark, spec, settings, tmp_path):
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.serving.index import ServingIndex

    landing = tmp_path / "landing"
    folder = landing / EDIT_DAY.isoformat() / "web"
    live = _settings(settings, landing)
    # Where `lakehouse stream` looks for this spec's stream in this lake.
    paths = StreamPaths.of(live.home, spec.name)
    texts = _prose_docs(8, seed=77)
    t0 = time.time() - 600
    _write(
        folder / "a.jsonl",
        [
            {"id": "e1", "text": texts[0]},
            {"id": "e2", "text": texts[1]},
            {"id": "e3", "text": texts[2]},
            '{"id": "broken", "text": ',  # malformed: quarantined, never stops the batch
            {"id": "e4", "text": texts[3]},
            {"id": "e4", "deleted": True},  # added and deleted in one batch: gone
            {"id": "e5", "text": texts[4]},
            {"id": "e5", "deleted": True},
            {"id": "e5", "text": texts[5]},  # deleted and re-added: its last text stays
        ],
        mtime=t0,
    )
    (folder / "poison.jsonl.gz").write_bytes(gzip.compress(b'{"id": "p1", "text": "x"}\n')[:20])
    os.utime(folder / "poison.jsonl.gz", (t0, t0))
    first = _replay(spark, spec, live, paths)
    assert sum(b["records"] for b in first) == sum(b["upserted"] + b["quarantined"] for b in first)

    def docs() -> dict[str, str]:
        return {
            r.doc_id: r.text for r in _rows(spark, live, spec.silver_table().ident, "doc_id LIKE 'web/e%'")
        }

    got = docs()
    assert set(got) == {"web/e1", "web/e2", "web/e3", "web/e5"}
    assert got["web/e5"].split() == texts[5].split()
    reasons = [r.reason for r in _rows(spark, live, "silver.quarantine", f"dt = DATE'{EDIT_DAY}'")]
    assert reasons.count("tombstone") == 2 and reasons.count("duplicate_doc_id") == 2
    assert "malformed_json" in reasons
    poison = _rows(spark, live, "bronze.documents", "source_file LIKE '%poison.jsonl.gz'")
    assert len(poison) == 1 and poison[0].parse_error

    # A later file edits e1 and deletes e2: silver, gold, the dedup index and the serving index follow.
    _write(folder / "b.jsonl", [{"id": "e1", "text": texts[6]}, {"id": "e2", "deleted": True}], mtime=t0 + 60)
    second = _replay(spark, spec, live, paths)
    assert [b["files"] for b in second] == [1]  # only the new file: the poison one is not retried
    got = docs()
    assert set(got) == {"web/e1", "web/e3", "web/e5"}
    assert got["web/e1"].split() == texts[6].split()
    chunks = _rows(spark, live, "gold.chunk_embeddings", "doc_id LIKE 'web/e%'")
    assert {r.doc_id for r in chunks} == set(got)
    assert all(r.text in got[r.doc_id] or r.doc_id != "web/e1" for r in chunks)
    assert len({r.chunk_id for r in chunks}) == len(chunks)
    index = _rows(spark, live, "silver.dedup_index", "doc_id LIKE 'web/e%'")
    assert {r.doc_id for r in index} == set(got)

    serving = ServingIndex(tmp_path / "serving")
    serving.sync(open_catalog(live))
    held = serving.table().search().where("doc_id LIKE 'web/e%'").limit(1000).to_list()
    assert {h["doc_id"] for h in held} == set(got)
    e1 = sorted((h["chunk_index"], h["text"]) for h in held if h["doc_id"] == "web/e1")
    assert e1[0][1].split()[:8] == texts[6].split()[:8]

    status = stream_status(paths, landing, slo_s=60)
    assert status["files_waiting"] == 0 and status["lag_s"] == 0 and not status["running"]
    assert len(committed_files(paths.checkpoint)) == 3
    assert status["totals"]["batches"] == 2 and status["totals"]["records"] == 12

    # A file no batch took, landed an hour ago: `lakehouse stream status --check` (the rag_freshness DAG's
    # task) fails on the SLO.
    late = folder / "c.jsonl"
    _write(late, [{"id": "e9", "text": texts[7]}], mtime=time.time() - 3600)
    cli = Path(sys.executable).parent / "lakehouse"
    env = os.environ | {"LAKEHOUSE_HOME": str(live.home), "LAKEHOUSE_LANDING": str(landing)}
    proc = subprocess.run(
        [cli, "stream", "status", "--check", "--json"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stderr
    got = json.loads(proc.stdout)
    assert got["files_waiting"] == 1 and got["lag_s"] >= 3500 and not got["within_slo"]
    assert "freshness SLO missed" in proc.stderr
    late.unlink()


def test_the_kafka_source_reads_each_message_as_one_record(spark, spec):
    from pyspark.sql import functions as F

    from llm_lakehouse.core.spec import KafkaFeed, Stream
    from llm_lakehouse.spark.stream import kafka_options, kafka_records

    stream = Stream(
        source="kafka",
        kafka=KafkaFeed(
            bootstrap_servers="broker:9092",
            topics={"web": "crawl", "support": "chats"},
            options={"security.protocol": "SSL"},
        ),
        max_records_per_trigger=500,
    )
    options = kafka_options(stream)
    assert options["subscribe"] == "chats,crawl" and options["failOnDataLoss"] == "true"
    assert options["kafka.security.protocol"] == "SSL" and options["maxOffsetsPerTrigger"] == "500"
    kspec = spec.model_copy(update={"stream": stream})
    messages = spark.createDataFrame(
        [
            ("crawl", 0, 7, json.dumps({"id": "k1", "text": "hello"}).encode(), "2026-09-22 10:00:00"),
            ("chats", 1, 3, b"{not json", "2026-09-22 10:00:01"),
            ("chats", 1, 4, b"", "2026-09-22 10:00:02"),
        ],
        "topic STRING, partition INT, offset BIGINT, value BINARY, timestamp STRING",
    ).withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    rows = {r.source_file: r for r in kafka_records(kspec, messages).collect()}
    assert set(rows) == {"kafka://crawl/0/7", "kafka://chats/1/3", "kafka://chats/1/4"}
    assert rows["kafka://crawl/0/7"].doc_id == "web/k1" and rows["kafka://crawl/0/7"].parse_error is None
    assert rows["kafka://chats/1/3"].parse_error == "malformed_json"
    assert rows["kafka://chats/1/4"].parse_error == "empty_record"
    assert {str(r.ev_dt) for r in rows.values()} == {"2026-09-22"}


def test_a_kafka_spec_without_the_connector_says_which_jar_is_missing(spark, spec, settings, tmp_path):
    from llm_lakehouse.core.errors import LakehouseError
    from llm_lakehouse.core.spec import KafkaFeed, Stream
    from llm_lakehouse.spark.stream import start_query

    kspec = spec.model_copy(
        update={
            "stream": Stream(source="kafka", kafka=KafkaFeed(bootstrap_servers="b:9092", topics={"web": "c"}))
        }
    )
    with pytest.raises(LakehouseError, match="spark-sql-kafka"):
        start_query(spark, kspec, settings, StreamPaths(tmp_path))


def test_a_stream_killed_at_any_write_and_restarted_ends_with_no_duplicate_and_no_loss(tmp_path):
    """kill -9 (SIGKILL at a fault point, no cleanup) after every write of the first batch but before Spark
    committed it; the restart runs that batch again, then the next. A fresh lake, spark-submit'ed as in
    production."""
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.spark.submit import stream_submit_command

    home = tmp_path / "lake"
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(home), "PATH": os.environ["PATH"]})
    # One file per micro-batch: the second file's batch runs after the restarts.
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw["stream"]["max_files_per_trigger"] = 1
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(tmp_path / "spec.yaml")
    texts = _prose_docs(6, seed=91)
    folder = settings.landing / EDIT_DAY.isoformat() / "web"
    _write(folder / "a.jsonl", [{"id": f"k{i}", "text": t} for i, t in enumerate(texts[:4])] + ["{oops"])
    _write(
        folder / "b.jsonl", [{"id": "k0", "text": texts[4]}, {"id": "k1", "deleted": True}], time.time() + 5
    )
    cmd = stream_submit_command(settings, spec, available_now=True)
    base = os.environ | settings.spark_env() | {"LAKEHOUSE_DATAHUB_SINK": "file"}
    for fault in ("stream:written", None):
        run_env = base | ({"LAKEHOUSE_FAULT": fault} if fault else {})
        proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=600)
        if fault:
            assert proc.returncode != 0, f"{fault}: the job was not killed"
        else:
            assert proc.returncode == 0, proc.stderr[-3000:]

    catalog = open_catalog(settings)

    def read(ident: str):
        return catalog.load_table(ident).scan().to_arrow().to_pylist()

    bronze = read("bronze.documents")
    assert len(bronze) == 7 and len({(r["source_file"], r["line_number"]) for r in bronze}) == 7
    silver = {r["doc_id"]: r["text"] for r in read("silver.documents")}
    assert len(read("silver.documents")) == len(silver)
    assert set(silver) == {"web/k0", "web/k2", "web/k3"}
    assert silver["web/k0"].split() == texts[4].split()
    quarantine = read("silver.quarantine")
    assert len({(r["source_file"], r["line_number"], r["reason"]) for r in quarantine}) == len(quarantine)
    # Each record once: 7 records = 3 kept in silver + their replaced/removed versions and the bad line.
    batches = [
        json.loads(r["detail"]) for r in read("ops.run_audit") if r["job"] == "stream" and r["step"] == "*"
    ]
    assert sorted(b["batch_id"] for b in batches) == [0, 1]
    assert sum(b["records"] for b in batches) == 7
    assert sum(b["upserted"] + b["quarantined"] for b in batches) == 7
    chunks = read("gold.chunk_embeddings")
    assert {c["doc_id"] for c in chunks} == set(silver)
    assert len({c["chunk_id"] for c in chunks}) == len(chunks)
    assert {r["doc_id"] for r in read("silver.dedup_index")} == set(silver)
    # The run's lineage, as a job's: the stream's DataJob (landing in; silver, gold out) and its run instance.
    from llm_lakehouse.datahub import mcps
    from llm_lakehouse.datahub.config import LineageConfig

    cfg = LineageConfig.from_env(settings)
    events = json.loads(cfg.file_path.read_text())
    job = mcps.job_urn(cfg, spec, "stream")
    io = [
        e["aspect"]["json"]
        for e in events
        if e["entityUrn"] == job and e["aspectName"] == "dataJobInputOutput"
    ]
    assert io and mcps.dataset_urn(cfg, "gold.chunk_embeddings") in io[-1]["outputDatasets"]
    runs = [
        e["aspect"]["json"]["customProperties"]
        for e in events
        if e["aspectName"] == "dataProcessInstanceProperties"
        and e["aspect"]["json"]["customProperties"].get("task_id") == "stream"
    ]
    assert runs and runs[-1]["records"] == "7"
