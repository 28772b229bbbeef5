"""Pipes: pure functions from an Arrow batch to an Arrow batch, chained in memory inside one Spark stage.

A spec names pipes by their ``name``; ``build_chain`` turns the spec's list into one callable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from llm_lakehouse.pipes.base import Pipe, with_drop_columns
from llm_lakehouse.pipes.content_hash import ContentHash
from llm_lakehouse.pipes.normalize import Normalize
from llm_lakehouse.pipes.tokenize import Tokenize
from llm_lakehouse.pipes.validate import Validate

REGISTRY: dict[str, type[Pipe]] = {p.name: p for p in (Validate, Normalize, ContentHash, Tokenize)}


def build_pipe(name: str, params: dict[str, Any]) -> Pipe:
    cls = REGISTRY[name]
    return cls(cls.Params(**params))


def build_chain(steps: Sequence[tuple[str, dict[str, Any]]]) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    pipes = [build_pipe(name, params) for name, params in steps]

    def chain(batch: pa.RecordBatch) -> pa.RecordBatch:
        batch = with_drop_columns(batch)
        for pipe in pipes:
            batch = pipe(batch)
        return batch

    return chain
