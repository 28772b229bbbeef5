"""Pipes: pure functions from an Arrow batch to an Arrow batch, chained in memory inside one Spark stage.

A spec names pipes by their ``name``; ``build_chain`` turns the spec's list into one callable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.errors import PipeContractError
from llm_lakehouse.core.pii import canary
from llm_lakehouse.core.pipes.base import ColumnDef, Pipe, kept, with_drop_columns
from llm_lakehouse.core.pipes.content_hash import ContentHash
from llm_lakehouse.core.pipes.extract import Extract
from llm_lakehouse.core.pipes.fix_unicode import FixUnicode
from llm_lakehouse.core.pipes.language import Language
from llm_lakehouse.core.pipes.minhash import MinHash
from llm_lakehouse.core.pipes.normalize import Normalize
from llm_lakehouse.core.pipes.pii import Pii
from llm_lakehouse.core.pipes.quality import QualityFilter, QualitySignals
from llm_lakehouse.core.pipes.tokenize import Tokenize
from llm_lakehouse.core.pipes.validate import Validate

REGISTRY: dict[str, type[Pipe]] = {
    p.name: p
    for p in (
        Validate,
        Extract,
        FixUnicode,
        Normalize,
        Language,
        QualitySignals,
        QualityFilter,
        Pii,
        ContentHash,
        MinHash,
        Tokenize,
    )
}


def build_pipe(name: str, params: dict[str, Any]) -> Pipe:
    cls = REGISTRY[name]
    return cls(cls.Params(**params))


def build_chain(
    steps: Sequence[tuple[str, dict[str, Any]]],
    observe: Callable[[str, list[float]], None] | None = None,
    on_canaries: Callable[[tuple[str, str], list[int]], None] | None = None,
) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """One callable running ``steps`` in order.

    ``observe(step, [docs_in, docs_out, bytes_in, bytes_out, wall_s, cpu_s])`` is called after each step of
    each batch when given (the silver job feeds it to ``ops.run_audit``); documents and bytes count the
    rows still kept. With ``on_canaries``, every batch carries each pii policy's canary records
    (``core/pii/canary.py``) from the first pii step on; they are taken out at the end and
    ``on_canaries((policy, source), [records, values planted, values survived])`` is called per policy
    and batch.
    Canary rows are never counted by ``observe`` and never leave the chain.
    """
    pipes = [
        (label, build_pipe(name, params))
        for label, (name, params) in zip(step_labels([n for n, _ in steps]), steps, strict=True)
    ]
    names = [n for n, _ in steps]
    first_pii = names.index(Pii.name) if on_canaries and Pii.name in names else None
    policies = [p.p for _, p in pipes if isinstance(p, Pii)] if first_pii is not None else []
    seed = iter(range(1 << 62))

    def chain(batch: pa.RecordBatch) -> pa.RecordBatch:
        batch = with_drop_columns(batch)
        planted: list[canary.Canary] = []
        before = _kept_size(batch) if observe else (0, 0)
        for i, (name, pipe) in enumerate(pipes):
            if i == first_pii:
                n = next(seed)
                planted = [c for p in policies for c in canary.canaries_for(p, n)]
                batch = canary.append(batch, planted)
            if observe is None:
                batch = run_on_kept(pipe, batch)
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            batch = run_on_kept(pipe, batch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            after = _kept_size(batch)
            observe(name, [before[0], after[0], before[1], after[1], wall, cpu])
            before = after
        if first_pii is not None and on_canaries is not None:
            batch, outcome = canary.check(batch, planted)
            for key, values in outcome.items():
                on_canaries(key, values)
        return batch

    return chain


def run_on_kept(pipe: Pipe, batch: pa.RecordBatch) -> pa.RecordBatch:
    """``pipe`` applied to the rows no earlier pipe rejected; the others come back exactly as they were.

    New columns a pipe adds are null on rejected rows. A pipe that returns another number of rows than it was
    given breaks the contract and fails the batch (it would lose or invent records)."""
    keep = kept(batch)
    if pc.all(keep).as_py() is not False:  # nothing rejected yet (or an empty batch): no copies
        return _checked(pipe, batch, pipe(batch))
    given = batch.filter(keep)
    out = _checked(pipe, given, pipe(given))
    aside = batch.filter(pc.invert(keep))
    columns = [
        aside.column(f.name).cast(f.type)
        if f.name in aside.schema.names
        else pa.nulls(aside.num_rows, f.type)
        for f in out.schema
    ]
    merged = pa.Table.from_batches([out, pa.RecordBatch.from_arrays(columns, schema=out.schema)])
    # Rows were split kept-first; put each back at its input position.
    positions = pa.array(range(batch.num_rows), pa.int64())
    order = pa.concat_arrays([positions.filter(keep), positions.filter(pc.invert(keep))])
    return merged.take(pc.sort_indices(order)).combine_chunks().to_batches()[0]


def _checked(pipe: Pipe, given: pa.RecordBatch, out: pa.RecordBatch) -> pa.RecordBatch:
    """``out`` if the pipe kept the contract on ``given``: the same rows, and every column it was given."""
    if out.num_rows != given.num_rows:
        raise PipeContractError(
            f"pipe {pipe.name!r} returned {out.num_rows} rows for {given.num_rows}: a pipe marks rows, it never "
            "adds or removes them"
        )
    missing = set(given.schema.names) - set(out.schema.names)
    if missing:
        raise PipeContractError(f"pipe {pipe.name!r} removed the column(s) {sorted(missing)}")
    return out


def step_labels(names: Sequence[str]) -> list[str]:
    """Unique step names for reporting: a pipe used twice (``pii`` per data product) is ``pii``, ``pii#2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def _kept_size(batch: pa.RecordBatch) -> tuple[int, int]:
    keep = pc.and_(kept(batch), pc.invert(canary.is_canary(batch)))
    n = pc.sum(pc.cast(keep, pa.int64())).as_py() or 0
    nbytes = pc.sum(pc.binary_length(pc.filter(batch.column("text"), keep))).as_py() or 0
    return n, nbytes


def pipe_columns(names: Sequence[str]) -> list[ColumnDef]:
    """Columns the named pipes add to their batches, in chain order, each once."""
    out: dict[str, ColumnDef] = {}
    for name in names:
        for col in REGISTRY[name].columns:
            out.setdefault(col[0], col)
    return list(out.values())
