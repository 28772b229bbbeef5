"""Chunking for RAG: each document cut into windows of the embedding model's tokens, with overlap.

A window covers tokens ``[start, start + size)``; the next starts ``size - overlap`` later; the last window
ends at the document's last token (no empty or duplicate tail). A chunk's text is the document's own
characters from its first token's start to its last token's end (the tokenizer's offsets), so nothing is
lower-cased or re-spaced. ``chunk_id`` = hash of (doc_id, chunk index, chunk text): stable across reruns,
and new whenever the text of that chunk changes; ``text_hash`` = hash of the text alone, the key under which
an embedding is reused instead of computed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pyarrow as pa

from llm_lakehouse.core.tables import GOLD_CHUNKS, RUN_COLUMNS
from llm_lakehouse.spark.embeddings import chunk_tokenizer

# What chunking produces: gold.chunk_embeddings without what the embedding step and the run stamp add.
EMBEDDING_COLUMNS = ("model", "dim", "embedding")
SCHEMA = GOLD_CHUNKS.arrow_schema(exclude=(*EMBEDDING_COLUMNS, *RUN_COLUMNS))


def windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Token ranges covering ``n_tokens`` tokens: ``size`` long, ``overlap`` shared between neighbours."""
    if n_tokens <= 0:
        return []
    step = size - overlap
    out, start = [], 0
    while True:
        end = min(start + size, n_tokens)
        out.append((start, end))
        if end == n_tokens:
            return out
        start += step


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def chunk_batch(batch: pa.RecordBatch, tokenizer, size: int, overlap: int) -> pa.RecordBatch:  # noqa: ANN001
    """Chunks of every document in ``batch`` (columns doc_id, source, text)."""
    texts = [t or "" for t in batch.column("text").to_pylist()]
    docs = batch.column("doc_id").to_pylist()
    sources = batch.column("source").to_pylist()
    rows: dict[str, list] = {f.name: [] for f in SCHEMA}
    for doc, source, text, enc in zip(
        docs, sources, texts, tokenizer.encode_batch(texts, add_special_tokens=False), strict=True
    ):
        offsets = enc.offsets  # a new list on each access (docs/platform.md): read once
        for i, (a, b) in enumerate(windows(len(offsets), size, overlap)):
            lo, hi = offsets[a][0], offsets[b - 1][1]
            piece = text[lo:hi]
            text_hash = _hash(piece)
            rows["chunk_id"].append(_hash(doc, str(i), text_hash))
            rows["doc_id"].append(doc)
            rows["source"].append(source)
            rows["chunk_index"].append(i)
            rows["text"].append(piece)
            rows["char_start"].append(lo)
            rows["char_end"].append(hi)
            rows["n_tokens"].append(b - a)
            rows["text_hash"].append(text_hash)
    return pa.RecordBatch.from_pydict(rows, schema=SCHEMA)


def chunk_batches(
    batches: Iterator[pa.RecordBatch], model: str, size: int, overlap: int
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the model's tokenizer is loaded once per Python worker."""

    tok = chunk_tokenizer(model)
    for batch in batches:
        yield chunk_batch(batch, tok, size, overlap)
