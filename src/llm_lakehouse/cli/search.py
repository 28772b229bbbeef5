"""``lakehouse search``: nearest chunks of one day to a query, with the model the day was embedded with.

Reads ``gold.chunk_embeddings`` for the day through pyiceberg, embeds the query with the same backend and
model (vectors are normalized, so cosine = dot product) and returns the top k. Exact search over one day:
for checking retrieval quality by eye, not a serving index.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from llm_lakehouse.core.catalog import read_day
from llm_lakehouse.core.spec import PipelineSpec, parse_model_id
from llm_lakehouse.core.tables import GOLD_CHUNKS


def search(catalog: Any, spec: PipelineSpec, query: str, day: date, k: int = 5) -> list[dict[str, Any]]:
    from llm_lakehouse.spark.embeddings import get_backend

    cols = ("chunk_id", "doc_id", "source", "chunk_index", "text", "model", "dim", "embedding")
    rows = read_day(catalog, GOLD_CHUNKS.ident, day, cols)
    if rows.num_rows == 0:
        raise ValueError(f"gold.chunk_embeddings has no chunks for {day}: build the day first")
    models = set(rows.column("model").to_pylist())
    if len(models) != 1:
        raise ValueError(f"{day} was embedded with several models {sorted(models)}: rebuild the day")
    model = models.pop()
    dim = rows.column("dim")[0].as_py()
    cfg = spec.gold.rag.embedding
    # The backend that made the day's vectors: int8 vectors only come from onnx; float32 ones from any backend
    # (the spec's, when it names this model).
    base, quantize = parse_model_id(model)
    name = "onnx" if quantize != "none" else cfg.backend if base == cfg.model else "sentence-transformers"
    backend = get_backend(name, base, cfg.device, quantize=quantize)
    matrix = rows.column("embedding").combine_chunks().flatten().to_numpy().reshape(rows.num_rows, dim)
    scores = matrix @ backend.encode([query])[0]
    top = np.argsort(-scores, kind="stable")[:k]
    keep = ("chunk_id", "doc_id", "source", "chunk_index", "text")
    return [{"score": float(scores[i]), **{c: rows.column(c)[int(i)].as_py() for c in keep}} for i in top]
