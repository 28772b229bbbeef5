"""Content hash: adds ``content_hash`` (SHA-256 of the normalized text) for exact deduplication; drops nothing.

Runs after ``normalize`` so that documents differing only in whitespace or Unicode composition hash alike.
Dropped rows get a null hash: they take no part in deduplication.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import pyarrow as pa

from llm_lakehouse.core.pipes.base import ColumnDef, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams


class ContentHash:
    name: ClassVar[str] = "content_hash"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        pass

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        reasons = batch.column("drop_reason").to_pylist()
        hashes = [
            hashlib.sha256(t.encode("utf-8")).hexdigest() if t is not None and r is None else None
            for t, r in zip(texts, reasons, strict=True)
        ]
        return set_column(batch, "content_hash", pa.array(hashes, pa.string()))
