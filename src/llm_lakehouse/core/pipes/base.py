"""The contract every pipe follows: an Arrow batch in, the same rows out, drops marked, never deleted.

A pipe never removes a row. It marks the rows it rejects in three columns (``drop_stage``,
``drop_reason``, ``drop_detail``). The chain (``build_chain``) owns the loop: it hands each pipe only the rows
still kept, checks that the same number comes back, and puts the rows an earlier pipe rejected back in place
untouched, so a pipe cannot rewrite or re-mark them. The job splits kept rows from quarantined ones only after
the whole chain ran, so every input record is accounted for by construction.

A pipe that adds columns (``lang``, quality signals, PII counts ...) declares them in ``columns`` as
``(name, Spark SQL type, comment)``; silver's schema is the base columns plus those of the spec's pipes,
so a new pipe in the spec becomes new silver columns without a code change (Iceberg adds them in place).
Heavy libraries are imported inside ``__init__``, never at module level: the Airflow env loads the spec
(and so this registry) without the jobs env's libraries.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.models import StrictModel

DROP_COLUMNS = ("drop_stage", "drop_reason", "drop_detail")
ColumnDef = tuple[str, str, str]  # (name, Spark SQL type, comment)


# A pipe's parameters: a strict model, so a typo in a spec's params fails at load.
Params = StrictModel


class Pipe(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type[Params]]
    columns: ClassVar[tuple[ColumnDef, ...]]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch: ...


def with_drop_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Adds the (all-null) drop columns a chain needs, if the batch does not carry them yet."""
    for col in DROP_COLUMNS:
        if col not in batch.schema.names:
            batch = batch.append_column(col, pa.nulls(batch.num_rows, pa.string()))
    return batch


def kept(batch: pa.RecordBatch) -> pa.BooleanArray:
    """Rows no pipe has rejected so far."""
    return pc.is_null(batch.column("drop_reason"))


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    i = batch.schema.get_field_index(name)
    if i < 0:
        return batch.append_column(name, values)
    return batch.set_column(i, batch.schema.field(i).with_type(values.type), values)


def mark(
    batch: pa.RecordBatch,
    mask: pa.BooleanArray,
    stage: str,
    reason: str,
    detail: pa.Array | str | None = None,
) -> pa.RecordBatch:
    """Marks ``mask`` rows (that are still kept) as dropped by ``stage`` for ``reason``."""
    mask = pc.and_(pc.fill_null(mask, False), kept(batch))
    if not pc.any(mask).as_py():
        return batch
    if detail is None or isinstance(detail, str):
        detail = pa.array([detail] * batch.num_rows, pa.string())
    for col, value in (("drop_stage", stage), ("drop_reason", reason)):
        batch = set_column(batch, col, pc.if_else(mask, pa.scalar(value), batch.column(col)))
    return set_column(batch, "drop_detail", pc.if_else(mask, detail, batch.column("drop_detail")))
