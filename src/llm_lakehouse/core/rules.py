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


class Quality(StrictModel):
    # wap: each job writes its day to an Iceberg branch, validates it, then fast-forwards main (the default).
    # direct: jobs write main and nothing is checked (no gate; for debugging a spec, not for production).
    publish: Literal["wap", "direct"] = "wap"
    # A branch whose gate failed is kept this long for inspection, then dropped by the next job on the table.
    keep_failed_branches_days: float = Field(7, gt=0)
    # Table ("<layer>.<table>") -> its rules, checked on every day a job writes to it.
    tables: dict[str, list[Rule]] = {}

    def rules(self, table: str) -> list[Rule]:
        return list(self.tables.get(table, []))
