"""The spec's ``quality:`` block: which expectations each table's day must meet before it is published.

Each rule maps to one Great Expectations expectation (``spark/gate.py``) on the day's rows as written to
the run's branch. ``level: blocking`` (the default) stops the publish and cannot be skipped without a spec
change; ``level: warning`` stops it too unless the run is started with ``accept_quality_warnings`` (DAG
param) or ``lakehouse build --accept-warnings``. Pure pydantic: the Airflow env loads it with the spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from llm_lakehouse.core.models import StrictModel

Level = Literal["blocking", "warning"]


class _Rule(StrictModel):
    level: Level = "blocking"
    # Defaults to "<expect>:<column>" (or "<expect>"): the name the task log, ops.quality_results and
    # DataHub show. Unique per table.
    name: str = ""

    @property
    def label(self) -> str:
        column = getattr(self, "column", None)
        return self.name or (f"{self.expect}:{column}" if column else self.expect)  # type: ignore[attr-defined]

    @property
    def columns(self) -> tuple[str, ...]:
        column = getattr(self, "column", None)
        return (column,) if column else ()


class _Bounded(BaseModel):
    """A rule with a ``min``/``max`` range: at least one of them must be given."""

    @model_validator(mode="after")
    def _bounded(self) -> _Bounded:
        if getattr(self, "min", None) is None and getattr(self, "max", None) is None:
            raise ValueError(f"{getattr(self, 'expect', 'rule')} needs min, max or both")
        return self


class _ColumnRule(_Rule):
    column: str
    # Share of rows that must pass (Great Expectations' `mostly`); 1.0 = every row.
    mostly: float = Field(1.0, gt=0, le=1)


class NotNull(_ColumnRule):
    expect: Literal["not_null"]


class Unique(_ColumnRule):
    """Unique within the day (the batch validated is the day a job wrote)."""

    expect: Literal["unique"]


class InSet(_ColumnRule):
    expect: Literal["in_set"]
    values: list[Any] = Field(min_length=1)


class Between(_ColumnRule, _Bounded):
    expect: Literal["between"]
    min: float | None = None
    max: float | None = None


class NoStructuredPii(_ColumnRule):
    """No email, phone, card, IBAN, IP, SSN or secret left in a text column, found with the ``pii`` pipe's own
    detectors. Results carry counts of rows only, never the values (GX would copy them otherwise)."""

    expect: Literal["no_structured_pii"]
    entities: list[str] | None = None  # default: every structured entity the leak scan knows


class RowCount(_Rule, _Bounded):
    expect: Literal["row_count"]
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


class RowCountVsTrailing(_Rule):
    """The day's rows within [min_ratio, max_ratio] × the mean of the previous ``days`` days that have rows
    (on ``main``: published days only). Fewer than ``min_history`` such days: the check passes, noting it."""

    expect: Literal["row_count_vs_trailing"]
    days: int = Field(7, ge=1, le=366)
    min_history: int = Field(3, ge=1)
    min_ratio: float | None = Field(0.2, ge=0)
    max_ratio: float | None = Field(None, gt=0)


class RowShare(_Rule, _Bounded):
    """The day's rows within [min, max] × the day's rows of table ``of`` (e.g. quarantine vs bronze); not
    enforced on days where ``of`` has fewer than ``min_rows`` rows (a share of a handful of rows is noise)."""

    expect: Literal["row_share"]
    of: str
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)
    min_rows: int = Field(0, ge=0)


class PiiCanaries(_Rule):
    """The run's PII canaries (``core/pii/canary.py``): synthetic records scrubbed by every policy in every batch.
    Fails when any planted value survived, or when a policy was never checked on a day with rows (fail
    closed: an unchecked policy is not trusted). Read from ``ops.pii_audit``; not a GX expectation."""

    expect: Literal["pii_canaries"]


Rule = Annotated[
    NotNull
    | Unique
    | InSet
    | Between
    | NoStructuredPii
    | RowCount
    | RowCountVsTrailing
    | RowShare
    | PiiCanaries,
    Field(discriminator="expect"),
]


class _DriftCheck(StrictModel):
    """One drift check of the spec's ``quality.drift`` block: the day, per source, against the pooled
    trailing window of published days. It flags a source only when the effect exceeds its threshold *and*,
    for tests that have one, the p-value is under ``alpha``: a big window makes tiny shifts significant, a
    small day makes big-looking shifts noise."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    level: Level = "blocking"
    alpha: float = Field(0.01, gt=0, lt=1)

    # As the gate's other rules name themselves (task log, ops.quality_results, DataHub assertions).
    @property
    def label(self) -> str:
        return self.name

    @property
    def expect(self) -> str:
        return f"drift_{self.check}"  # type: ignore[attr-defined]

    @property
    def columns(self) -> tuple[str, ...]:
        return ()


class DistributionDrift(_DriftCheck):
    """Kolmogorov-Smirnov (statistic D) or the population stability index on per-document values: quality
    signals and ``n_chars`` (the silver gate), ``n_tokens`` (the gold gate)."""

    check: Literal["distribution"]
    metrics: list[str] = Field(min_length=1)
    test: Literal["ks", "psi"] = "ks"
    max_statistic: float = Field(gt=0)


class MixDrift(_DriftCheck):
    """Chi-squared on a categorical mix: the documents' ``language`` (fastText label, from the profile sample)
    or their ``drop_reason`` (every record of the day: kept, or its quarantine reason). The effect is
    Cramér's V."""

    check: Literal["mix"]
    of: Literal["language", "drop_reason"]
    max_cramers_v: float = Field(gt=0, le=1)


class EmbeddingDrift(_DriftCheck):
    """On a sample of the day's chunk embeddings (the gold gate): the cosine distance between the day's and
    the window's centroids, and the squared maximum mean discrepancy (RBF kernel, median bandwidth) with a
    permutation p-value. Either over its threshold flags the source."""

    check: Literal["embedding"]
    max_centroid_shift: float = Field(0.1, gt=0, le=2)
    max_mmd: float = Field(0.05, gt=0)
    sample: int = Field(300, ge=20, le=5000)
    permutations: int = Field(200, ge=20, le=5000)


DriftCheck = Annotated[DistributionDrift | MixDrift | EmbeddingDrift, Field(discriminator="check")]


class Drift(StrictModel):
    """The ``quality.drift`` block: checks that compare each source's day with its trailing window."""

    # Published days before the day that form the baseline (a blocked day never reaches main, so never one).
    window_days: int = Field(7, ge=1, le=366)
    # Fewer days with the source's documents in the window: "no baseline", never a failure.
    min_history: int = Field(3, ge=1)
    # Fewer documents on either side: "too few documents", never a false alarm.
    min_docs: int = Field(30, ge=2)
    # Documents profiled per source and day (``ops.doc_profile``): signals, language, length, outcome.
    sample_size: int = Field(2000, ge=50, le=100_000)
    # Example documents per drop reason and source kept for the report, from scrubbed text only.
    examples: int = Field(3, ge=0, le=20)
    checks: list[DriftCheck] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Drift:
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"drift check names must be unique, got {names}")
        return self


class Quality(StrictModel):
    # wap: each job writes its day to an Iceberg branch, validates it, then fast-forwards main (the default).
    # direct: jobs write main and nothing is checked (no gate; for debugging a spec, not for production).
    publish: Literal["wap", "direct"] = "wap"
    # A branch whose gate failed is kept this long for inspection, then dropped by the next job on the table.
    keep_failed_branches_days: float = Field(7, gt=0)
    # Table ("<layer>.<table>") -> its rules, checked on every day a job writes to it.
    tables: dict[str, list[Rule]] = {}
    # Drift of each day against its trailing window, judged in the same gate (silver and gold).
    drift: Drift = Drift()

    def rules(self, table: str) -> list[Rule]:
        return list(self.tables.get(table, []))
