"""DataHub lineage: MCPs from the spec, the file / Lite / REST sinks, outage and replay, the CLI tree.

Everything is checked by reading what a store holds (the file sink's JSON, the Lite database, the requests a
local GMS stand-in received), never by trusting the emitter. No Spark here: the jobs' result dicts are
fabricated in the shape ``jobs/*.py`` return. A real GMS is not run (it needs Docker or Elasticsearch and
Kafka, neither reachable here); ``FakeGMS`` speaks the restli ingest endpoints the REST emitter uses.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from datahub.emitter.mce_builder import datahub_guid, make_schema_field_urn
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCP
from datahub.ingestion.source.file import read_metadata_file
from typer.testing import CliRunner

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import LINEAGE, RUN_COLUMNS
from llm_lakehouse.datahub import emit_job_lineage, mcps, model, store
from llm_lakehouse.datahub.airflow_env import plugin_env
from llm_lakehouse.datahub.config import LineageConfig
from llm_lakehouse.datahub.graph import Graph, tree

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # DataHub Lite's own deprecated calls
RUN_ID = "scheduled__2026-11-02T02:00:00+00:00"
# What bronze/silver/gold's ``run_job`` return (shape of jobs/*.py), with made-up counts.
RESULTS = {
    "bronze": {"files": 3, "bronze": 190, "by_source": {"web": 70, "support": 60, "docs": 60}},
    "silver": {
        "silver": 160,
        "quarantine": 18,
        "duplicates": 12,
        "by_reason": {"empty_text": 8, "exact_duplicate": 12},
    },
    "gold": {"gold_documents": 160, "gold_tokens": 51234},
}
PII = [
    ("silver.documents", "text", "EMAIL_ADDRESS"),
    ("silver.documents", "text", "PERSON"),
    ("bronze.documents", "text", "EMAIL_ADDRESS"),
]
QUALITY = [
    {
        "table": "silver.documents",
        "expectation": "expect_column_values_to_be_unique",
        "column": "doc_id",
        "success": True,
        "observed": 0,
    },
    {
        "table": "gold.training_documents",
        "expectation": "expect_table_row_count_to_be_between",
        "success": False,
        "observed": 3,
    },
]
# URNs as the acryl Airflow plugin makes them (datahub_airflow_plugin/client/airflow_generator.py:
# DataFlowUrn.create_from_ids("airflow", dag_id, env=cluster), DataJobUrn.create_from_ids(task_id, flow), and
# complete_datajob's DataProcessInstance id f"{dag_id}_{task_id}_{run_id}" keyed with orchestrator + cluster).
FLOW = "urn:li:dataFlow:(airflow,corpus_nightly,prod)"


def job(task: str) -> str:
    return f"urn:li:dataJob:({FLOW},{task})"


def plugin_dpi(task: str, run_id: str = RUN_ID) -> str:
    key = {"cluster": "prod", "orchestrator": "airflow", "id": f"corpus_nightly_{task}_{run_id}"}
    return f"urn:li:dataProcessInstance:{datahub_guid(key)}"


def ds(ident: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:iceberg,lakehouse.{ident},PROD)"


def lakehouse_settings(home: Path, **env: str) -> Settings:
    return Settings.from_env({"LAKEHOUSE_HOME": str(home), **env})


def config(home: Path, sink: str = "file", **env: str) -> LineageConfig:
    return LineageConfig.from_env(lakehouse_settings(home, **env), {"LAKEHOUSE_DATAHUB_SINK": sink, **env})


def all_events(spec: PipelineSpec, cfg: LineageConfig) -> list[MCP]:
    pii = [model.PiiColumn(*p) for p in PII]
    events = mcps.spec_mcps(spec, cfg, pii)
    for stage, counts in RESULTS.items():
        result = {"stage": stage, "date": "2026-11-01", "run_id": RUN_ID, **counts, "seconds": 12.5}
        events += mcps.run_mcps(spec, cfg, stage, result)
    return events + mcps.assertion_mcps(spec, cfg, QUALITY, RUN_ID)


def latest(records: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(urn, aspect) -> aspect JSON, last write wins: what a store shows."""
    out = {}
    for r in records:
        r = r if isinstance(r, MCP) else MCP.from_obj(r)
        assert isinstance(r, MCP) and r.validate(), r
        out[(r.entityUrn, r.aspectName)] = r.aspect.to_obj()
    return out


# --- The declaration ------------------------------------------------------------------------------------


def test_declared_lineage_points_at_real_columns(spec: PipelineSpec) -> None:
    assert model.unresolved(spec) == []


def test_every_column_of_a_derived_table_has_lineage(spec: PipelineSpec) -> None:
    """A new column needs a lineage decision in tables.LINEAGE (same name upstream, a source, or ``()``)."""
    edges = model.column_edges(spec)
    downstream = {e.downstream for e in edges}
    for table in model.spec_tables(spec):
        decl = LINEAGE.get(table.ident)
        if decl is None:
            continue
        for col in table.column_names:
            ref = f"{table.ident}.{col}"
            assert col in RUN_COLUMNS or col in decl.columns or ref in downstream, (
                f"{ref} has no lineage: copy a same-named column of {decl.upstream[0]} or add it to "
                f"tables.LINEAGE[{table.ident!r}].columns"
            )


def test_pii_columns_of_the_real_pii_pipe(spec: PipelineSpec) -> None:
    """The pii steps of the real spec: the union of their policies' entities on the scrubbed text column, and on
    the raw, unscrubbed copy upstream in bronze."""
    entities = {e for p in spec.silver.pipes if p.pipe == "pii" for e in p.params["entities"]}
    assert {"PERSON", "EMAIL_ADDRESS", "API_TOKEN"} <= entities
    got = {(p.table, p.column, p.entity) for p in model.pii_columns(spec)}
    assert got == {(t, "text", e) for t in ("silver.documents", "bronze.documents") for e in entities}
    # A spec without a pii step tags nothing.
    # (model_copy: such a spec no longer loads, every source must resolve to a PII policy)
    pipes = [p for p in spec.silver.pipes if p.pipe != "pii"]
    unscrubbed = spec.model_copy(update={"silver": spec.silver.model_copy(update={"pipes": pipes})})
    assert model.pii_columns(unscrubbed) == []


# --- File and Lite stores -------------------------------------------------------------------------------


def check_store(spec: PipelineSpec, aspects: dict[tuple[str, str], dict[str, Any]]) -> None:
    """What the store must hold after a nightly run, read from ``aspects``."""
    # Every table of the spec, with its schema, description and owners.
    for table in model.spec_tables(spec):
        urn = ds(table.ident)
        schema = aspects[(urn, "schemaMetadata")]
        assert [(f["fieldPath"], f["nativeDataType"], f["description"]) for f in schema["fields"]] == list(
            table.columns
        )
        assert aspects[(urn, "datasetProperties")]["description"] == table.comment
        assert [o["owner"] for o in aspects[(urn, "ownership")]["owners"]] == [
            f"urn:li:corpuser:{o}" for o in spec.owners
        ]
    # Every column-level edge the spec implies, and no other, on the downstream datasets.
    stored = set()
    for (_, name), value in aspects.items():
        if name == "upstreamLineage":
            for fg in value.get("fineGrainedLineages", []):
                stored |= {(u, d) for u in fg["upstreams"] for d in fg["downstreams"]}
    cfg_edges = {
        (mcps.field_urn(CFG, e.upstream), mcps.field_urn(CFG, e.downstream)) for e in model.column_edges(spec)
    }
    assert stored == cfg_edges
    gold_text = (
        make_schema_field_urn(ds("silver.documents"), "text"),
        make_schema_field_urn(ds("gold.training_documents"), "token_ids"),
    )
    assert gold_text in stored
    assert (
        "urn:li:dataset:(urn:li:dataPlatform:iceberg,lakehouse.silver.documents,PROD)",
        "upstreamLineage",
    ) in aspects
    # The DAG and its tasks, with the plugin's URNs, inputs and outputs.
    assert aspects[(FLOW, "dataFlowInfo")]["name"] == "corpus_nightly"
    for task in ("bronze", "silver", "gold"):
        assert aspects[(job(task), "dataJobInfo")]["flowUrn"] == FLOW
    io = aspects[(job("silver"), "dataJobInputOutput")]
    assert io["inputDatasets"] == [ds("bronze.documents")]
    assert set(io["outputDatasets"]) >= {ds("silver.documents"), ds("silver.quarantine")}
    assert aspects[(job("gold"), "dataJobInputOutput")]["inputDatajobs"] == [job("silver")]
    # One run instance per task, on the plugin's URN, with counts and outcome.
    for task, counts in RESULTS.items():
        urn = plugin_dpi(task)
        props = aspects[(urn, "dataProcessInstanceProperties")]["customProperties"]
        assert props["run_id"] == RUN_ID and props["task_id"] == task
        for key, value in counts.items():
            if isinstance(value, int):
                assert props[key] == str(value)
        assert aspects[(urn, "dataProcessInstanceRelationships")]["parentTemplate"] == job(task)
        event = aspects[(urn, "dataProcessInstanceRunEvent")]
        assert event["status"] == "COMPLETE" and event["result"]["type"] == "SUCCESS"
    assert aspects[(ds("silver.quarantine"), "datasetProfile")]["rowCount"] == 30  # quarantine + duplicates
    assert aspects[(ds("gold.training_documents"), "datasetProfile")]["rowCount"] == 160
    # PII: tag and glossary terms on the columns, tag on the tables.
    for ident, column, entity in PII:
        field = next(f for f in aspects[(ds(ident), "schemaMetadata")]["fields"] if f["fieldPath"] == column)
        assert field["globalTags"]["tags"] == [{"tag": "urn:li:tag:pii"}]
        assert f"urn:li:glossaryTerm:PII.{entity}" in [t["urn"] for t in field["glossaryTerms"]["terms"]]
        assert aspects[(ds(ident), "globalTags")]["tags"] == [{"tag": "urn:li:tag:pii"}]
    untagged = next(f for f in aspects[(ds("gold.training_documents"), "schemaMetadata")]["fields"])
    assert "globalTags" not in untagged
    assert (
        aspects[("urn:li:glossaryTerm:PII.PERSON", "glossaryTermInfo")]["parentNode"]
        == "urn:li:glossaryNode:PII"
    )
    # Quality results as assertions on the datasets.
    runs = [v for (u, n), v in aspects.items() if n == "assertionRunEvent"]
    assert {(r["asserteeUrn"], r["result"]["type"]) for r in runs} == {
        (ds("silver.documents"), "SUCCESS"),
        (ds("gold.training_documents"), "FAILURE"),
    }
    infos = [v["datasetAssertion"] for (u, n), v in aspects.items() if n == "assertionInfo"]
    assert {i["nativeType"] for i in infos} == {q["expectation"] for q in QUALITY}


CFG = LineageConfig(sink="file", root=Path("/unused"), catalog="lakehouse", cluster="prod")


def test_file_sink_holds_everything(spec: PipelineSpec, tmp_path: Path) -> None:
    cfg = config(tmp_path, "file")
    events = all_events(spec, cfg)
    report = store.emit(cfg, events)
    assert report.delivered and report.events == len(events)
    check_store(spec, latest(list(read_metadata_file(cfg.file_path))))
    # The journal (replayed by publish) holds the same events.
    assert len(store.read_lines(cfg.journal)) == len(events)
    check_store(spec, latest(store.read_lines(cfg.journal)))


def test_lite_sink_holds_everything(spec: PipelineSpec, tmp_path: Path) -> None:
    cfg = config(tmp_path, "lite")
    store.emit(cfg, all_events(spec, cfg))
    lite = store.open_lite(cfg, read_only=True)
    try:
        aspects = latest(list(lite.get_all_aspects()))
        # Browsable the way a user would: `datahub lite get --urn ... -a upstreamLineage`.
        got = lite.get(ds("gold.training_documents"), ["upstreamLineage"])
    finally:
        lite.close()
    check_store(spec, aspects)
    assert got["upstreamLineage"]["upstreams"][0]["dataset"] == ds("silver.documents")
    assert cfg.lite_path.is_relative_to(tmp_path)
    # The lineage walk gives the same answer from Lite as from the journal.
    g = Graph.from_aspects([aspects])
    start = make_schema_field_urn(ds("gold.training_documents"), "n_tokens")
    text = str(tree(g, start, "lakehouse").label) + repr(
        [c.label for c in tree(g, start, "lakehouse").children]
    )
    assert "silver.documents.text" in text


def test_lite_cli_reads_the_lakehouse_store_not_home(spec: PipelineSpec, tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = config(tmp_path, "lite")
    store.emit(cfg, mcps.spec_mcps(spec, cfg))
    datahub = str(Path(sys.executable).parent / "datahub")
    proc = subprocess.run(
        [datahub, "lite", "get", "--urn", ds("silver.documents"), "-a", "datasetProperties"],
        env=store.environ_lite(cfg),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["datasetProperties"]["name"] == "silver.documents"
    assert (cfg.lite_home / ".datahubenv").exists()


# --- REST: a local GMS stand-in -------------------------------------------------------------------------


class FakeGMS:
    """The GMS endpoints the REST emitter calls: ``GET /config``, ``POST /aspects?action=ingestProposal[Batch]``.

    Every proposal is decoded into a typed MCP and validated against DataHub's schema, as GMS would.
    """

    def __init__(self, port: int = 0) -> None:
        self.received: list[MCP] = []
        self.invalid: list[str] = []
        self.tokens: set[str | None] = set()
        self.calls: dict[str, int] = {}
        gms = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/config":
                    self._reply(
                        200, {"noCode": "true", "versions": {"acryldata/datahub": {"version": "v1.3.0"}}}
                    )
                else:
                    self._reply(404, {"message": "not found"})

            def do_POST(self) -> None:
                gms.tokens.add(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gms.calls[self.path] = gms.calls.get(self.path, 0) + 1
                if self.path == "/aspects?action=ingestProposal":
                    proposals = [body["proposal"]]
                elif self.path == "/aspects?action=ingestProposalBatch":
                    proposals = body["proposals"]
                else:
                    self._reply(404, {"message": f"no endpoint {self.path}"})
                    return
                for p in proposals:
                    mcp = MCP.from_obj(p)
                    if not isinstance(mcp, MCP) or not mcp.validate():
                        gms.invalid.append(json.dumps(p)[:300])
                    else:
                        gms.received.append(mcp)
                self._reply(200, {"value": [p["entityUrn"] for p in proposals]})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[tuple[str, str, str]]:
        return sorted(
            (m.entityUrn, m.aspectName, json.dumps(m.aspect.to_obj(), sort_keys=True)) for m in self.received
        )


def keys(events: list[MCP]) -> list[tuple[str, str, str]]:
    return sorted((m.entityUrn, m.aspectName, json.dumps(m.aspect.to_obj(), sort_keys=True)) for m in events)


@pytest.fixture
def gms() -> Iterator[FakeGMS]:
    server = FakeGMS()
    yield server
    server.stop()


def test_rest_sink_delivers_every_mcp(spec: PipelineSpec, tmp_path: Path, gms: FakeGMS) -> None:
    cfg = config(tmp_path, "rest", DATAHUB_GMS_URL=gms.url, DATAHUB_GMS_TOKEN="s3cret")
    events = all_events(spec, cfg)
    report = store.emit(cfg, events)
    assert report.delivered, report.error
    assert gms.invalid == []
    assert gms.keys() == keys(events)
    assert gms.tokens == {"Bearer s3cret"}
    check_store(spec, latest(gms.received))
    assert gms.calls["/aspects?action=ingestProposalBatch"] >= 1
    # The single-proposal endpoint too (what the Airflow plugin's emitter calls per event).
    emitter = store.rest_emitter(gms.url, "s3cret")
    emitter.emit_mcp(events[0])
    assert gms.calls["/aspects?action=ingestProposal"] == 1 and gms.received[-1] == events[0]


def test_outage_queues_events_and_publish_replays_them(spec: PipelineSpec, tmp_path: Path, caplog) -> None:
    down = FakeGMS()
    url = down.url
    down.stop()  # nothing listens on this port now
    cfg = config(tmp_path, "rest", DATAHUB_GMS_URL=url)
    events = all_events(spec, cfg)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "llm_lakehouse.datahub"):
        report = store.emit(cfg, events)
    assert time.monotonic() - started < 5  # fails fast: no retries with backoff
    assert not report.delivered and report.pending == len(events)
    assert f"{len(events)} events queued for replay" in caplog.text
    assert len(store.read_lines(cfg.pending)) == len(events)

    gms = FakeGMS()
    try:
        result = CliRunner().invoke(
            app(),
            ["lineage", "publish", "--server", gms.url],
            env={"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_DATAHUB_SINK": "file"},
        )
        assert result.exit_code == 0, result.output
        assert gms.invalid == [] and gms.keys() == keys(events)
        assert not cfg.pending.exists()
        # What the Airflow plugin wrote to its file connection goes along (the journal holds only the jobs').
        plugin = mcps.run_mcps(spec, cfg, "silver", {"run_id": "plugin_run", "silver": 3, "seconds": 1})
        store.write_file(cfg.airflow_file, plugin)
        gms.received.clear()
        assert store.publish(cfg, gms.url) == len(events) + len(plugin)
        assert gms.invalid == [] and gms.keys() == keys(events + plugin)
    finally:
        gms.stop()


def test_the_file_sink_appends_in_place_and_stays_one_valid_array(spec: PipelineSpec, tmp_path: Path) -> None:
    """Each emit adds its events after the existing ones without reading them back; DataHub's own writer's
    files (an empty array too) are appended to the same way."""
    from datahub.ingestion.sink.file import write_metadata_file

    cfg = config(tmp_path)
    first = mcps.run_mcps(spec, cfg, "bronze", {"run_id": "r1", "bronze": 3, "seconds": 1})
    second = mcps.run_mcps(spec, cfg, "silver", {"run_id": "r2", "silver": 3, "seconds": 1})
    store.write_file(cfg.file_path, first)
    store.write_file(cfg.file_path, second)
    store.write_file(cfg.file_path, [])
    assert keys(list(read_metadata_file(cfg.file_path))) == keys(first + second)
    for existing in ([], first):
        path = tmp_path / f"datahub-{len(existing)}.json"
        write_metadata_file(path, existing)
        store.write_file(path, second)
        assert keys(list(read_metadata_file(path))) == keys(existing + second)
    # A file that is not an array is refused, never truncated.
    other = tmp_path / "not-an-array.json"
    other.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="does not end with a JSON array"):
        store.write_file(other, first)
    assert other.read_text() == '{"a": 1}'


def test_each_job_moves_the_plugins_file_to_its_journal_so_the_file_stays_small(
    spec: PipelineSpec, tmp_path: Path
) -> None:
    """The plugin's emitter rewrites its whole file per event: a job's emit empties it into the plugin
    journal, the emitter starts a new file, and readers and publish see every event once, in order."""
    from datahub.emitter.synchronized_file_emitter import SynchronizedFileEmitter

    cfg = config(tmp_path)
    plugin = SynchronizedFileEmitter(str(cfg.airflow_file))
    first = mcps.run_mcps(spec, cfg, "bronze", {"run_id": "plugin_1", "bronze": 3, "seconds": 1})
    second = mcps.run_mcps(spec, cfg, "silver", {"run_id": "plugin_2", "silver": 3, "seconds": 1})
    for x in first:
        plugin.emit(x)
    assert store.emit(cfg, mcps.spec_mcps(spec, cfg)).delivered
    assert not cfg.airflow_file.exists()
    assert len(store.read_lines(cfg.airflow_journal)) == len(first)
    for x in second:
        plugin.emit(x)
    assert len(list(read_metadata_file(cfg.airflow_file))) == len(second)
    events = store._plugin_events(cfg)
    assert [e.entityUrn for e in events] == [e.entityUrn for e in first + second]
    assert store.absorb_plugin_file(cfg) == len(second)
    assert store.absorb_plugin_file(cfg) == 0
    assert keys(store._plugin_events(cfg)) == keys(first + second)


def test_next_run_sends_what_an_outage_queued(spec: PipelineSpec, tmp_path: Path) -> None:
    down = FakeGMS()
    down.stop()
    first = mcps.spec_mcps(spec, config(tmp_path))
    assert not store.emit(config(tmp_path, "rest", DATAHUB_GMS_URL=down.url), first).delivered
    gms = FakeGMS()
    try:
        cfg = config(tmp_path, "rest", DATAHUB_GMS_URL=gms.url)
        second = mcps.run_mcps(spec, cfg, "gold", {"run_id": RUN_ID, "gold_documents": 1, "seconds": 1})
        assert store.emit(cfg, second).delivered
        assert gms.keys() == keys(first + second) and not cfg.pending.exists()
    finally:
        gms.stop()


# --- The job hook ---------------------------------------------------------------------------------------


def test_job_hook_records_the_run(spec: PipelineSpec, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_DATAHUB_SINK", "file")
    settings = lakehouse_settings(tmp_path, LAKEHOUSE_DATAHUB_SINK="file")
    result = {"stage": "silver", "date": "2026-11-01", "run_id": RUN_ID, **RESULTS["silver"], "seconds": 9.1}
    report = emit_job_lineage(spec, settings, "silver", result)
    assert report is not None and report.delivered
    aspects = latest(list(read_metadata_file(settings.home / "datahub" / "mcps.json")))
    assert (
        aspects[(plugin_dpi("silver"), "dataProcessInstanceProperties")]["customProperties"]["silver"]
        == "160"
    )
    assert (ds("bronze.documents"), "schemaMetadata") in aspects


def test_job_hook_sends_the_spec_once_per_process_and_assertions_with_the_run(
    spec: PipelineSpec, tmp_path: Path, monkeypatch
) -> None:
    """The stages of one Spark application share a process: the spec's datasets and DAG go with the first
    run's lineage only, and each run's quality results ride in its one write."""
    monkeypatch.setenv("LAKEHOUSE_DATAHUB_SINK", "file")
    settings = lakehouse_settings(tmp_path, LAKEHOUSE_DATAHUB_SINK="file")
    reports = []
    for stage in ("silver", "gold"):
        result = {"stage": stage, "date": "2026-11-01", "run_id": RUN_ID, **RESULTS[stage], "seconds": 3.0}
        reports.append(emit_job_lineage(spec, settings, stage, result, assertions=QUALITY))
    spec_events = len(mcps.spec_mcps(spec, config(tmp_path)))
    runs = {
        s: len(mcps.run_mcps(spec, config(tmp_path), s, {"run_id": RUN_ID, **RESULTS[s]})) for s in RESULTS
    }
    checks = len(mcps.assertion_mcps(spec, config(tmp_path), QUALITY, RUN_ID))
    assert [r.events for r in reports] == [spec_events + runs["silver"] + checks, runs["gold"] + checks]
    aspects = latest(list(read_metadata_file(settings.home / "datahub" / "mcps.json")))
    assert (ds("bronze.documents"), "schemaMetadata") in aspects
    assert any(name == "assertionRunEvent" for _, name in aspects)


def test_job_hook_never_raises(spec: PipelineSpec, tmp_path: Path, monkeypatch, caplog) -> None:
    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("store on fire")

    monkeypatch.setattr(mcps, "spec_mcps", boom)
    with caplog.at_level(logging.WARNING, "llm_lakehouse.datahub"):
        assert emit_job_lineage(spec, lakehouse_settings(tmp_path), "gold", {"run_id": "x"}) is None
    assert "store on fire" in caplog.text


# --- CLI ------------------------------------------------------------------------------------------------


def app():  # noqa: ANN201
    from llm_lakehouse.cli import app as lakehouse

    return lakehouse


def test_cli_tree_walks_back_to_the_bronze_column(spec: PipelineSpec, tmp_path: Path) -> None:
    cfg = config(tmp_path, "file")
    store.emit(cfg, all_events(spec, cfg))
    env = {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_DATAHUB_SINK": "file"}
    run = CliRunner().invoke
    up = run(app(), ["lineage", "gold.training_documents", "--column", "token_ids", "--upstream"], env=env)
    assert up.exit_code == 0, up.output
    assert "silver.documents.text" in up.output and "bronze.documents.text" in up.output
    assert "via task gold" in up.output and "landing/support.text (file)" in up.output
    down = run(
        app(), ["lineage", "bronze.documents", "--column", "text", "--downstream", "--depth", "2"], env=env
    )
    assert down.exit_code == 0, down.output
    assert "gold.training_documents.token_ids" in down.output
    shallow = run(app(), ["lineage", "gold.training_documents", "-c", "token_ids", "--depth", "1"], env=env)
    assert "silver.documents.text" in shallow.output and "bronze.documents.text" not in shallow.output
    table = run(app(), ["lineage", ds("gold.training_documents")], env=env)
    assert "bronze.documents" in table.output and "landing/web" in table.output
    as_json = run(
        app(), ["lineage", "gold.training_documents", "-c", "token_ids", "--depth", "2", "--json"], env=env
    )
    assert as_json.exit_code == 0, as_json.output
    root = json.loads(as_json.stdout)
    assert root["name"] == "gold.training_documents.token_ids"
    text = next(n for n in root["next"] if n["name"] == "silver.documents.text")
    assert "task gold" in text["via"] and "bronze.documents.text" in [n["name"] for n in text["next"]]
    bad = run(app(), ["lineage", "gold.training_documents", "--column", "nope"], env=env)
    assert bad.exit_code == 2  # a usage error: the column is not one of the table's


# --- Airflow plugin configuration -----------------------------------------------------------------------


def test_plugin_env_defaults_to_a_file_connection(tmp_path: Path) -> None:
    env = plugin_env(lakehouse_settings(tmp_path), {})
    conn = json.loads(env["AIRFLOW_CONN_DATAHUB_FILE_DEFAULT"])
    assert env["AIRFLOW__DATAHUB__CONN_ID"] == "datahub_file_default"
    assert conn == {"conn_type": "datahub-file", "host": str(tmp_path / "datahub" / "airflow_mcps.json")}
    assert env["AIRFLOW__DATAHUB__CLUSTER"] == "prod"


def test_plugin_env_rest_fails_fast(tmp_path: Path) -> None:
    extra = {"LAKEHOUSE_DATAHUB_SINK": "rest", "DATAHUB_GMS_URL": "http://gms:8080", "DATAHUB_GMS_TOKEN": "t"}
    env = plugin_env(lakehouse_settings(tmp_path, **extra), extra)
    conn = json.loads(env["AIRFLOW_CONN_DATAHUB_REST_DEFAULT"])
    assert env["AIRFLOW__DATAHUB__CONN_ID"] == "datahub_rest_default"
    assert conn["host"] == "http://gms:8080" and conn["password"] == "t"
    assert conn["extra"] == {"timeout_sec": 3.0, "retry_max_times": 0}
