"""Validate: keeps records that parsed and carry usable text; drops the rest with the reason.

Drops, in this order of precedence:
- ``parse:<error>``: the bronze row could not be parsed (``malformed_json``, ``invalid_utf8``,
  ``missing_field:text``, ``wrong_type:id`` ...); bronze already recorded the error, this pipe routes it.
- ``empty_text``: no non-whitespace character.
- ``too_large``: more UTF-8 bytes than ``max_bytes``. Huge records are quarantined whole, never truncated
  silently: a truncated document is a different document.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from llm_lakehouse.core.pipes.base import ColumnDef, mark
from llm_lakehouse.core.pipes.base import Params as BaseParams


class Validate:
    name: ClassVar[str] = "validate"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        min_chars: int = Field(1, ge=1)
        max_bytes: int = Field(1_000_000, gt=0)

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        err = batch.column("parse_error")
        failed = pc.is_valid(err)
        if pc.any(failed).as_py():
            # One reason per distinct error, so stats can group by it.
            for code in pc.unique(pc.filter(err, failed)).to_pylist():
                batch = mark(batch, pc.equal(err, code), "parse", code)
        text = batch.column("text")
        stripped = pc.utf8_trim_whitespace(text)
        # A null text (no parse error recorded) carries no text at all: empty, not kept with a null hash.
        empty = pc.fill_null(pc.less(pc.utf8_length(stripped), self.p.min_chars), True)
        batch = mark(batch, empty, "validate", "empty_text")
        nbytes = pc.binary_length(text)
        detail = pc.binary_join_element_wise(
            pc.cast(nbytes, pa.string()), pa.scalar(f" bytes > max_bytes {self.p.max_bytes}"), ""
        )
        return mark(batch, pc.greater(nbytes, self.p.max_bytes), "validate", "too_large", detail)
