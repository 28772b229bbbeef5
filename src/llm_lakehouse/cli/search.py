"""``lakehouse search`` and ``lakehouse index``: the query pipeline over the serving index.

A search first syncs the index with the published snapshot of ``gold.chunk_embeddings`` (a snapshot id
compared when nothing changed, the new files read when a day was built), embeds the query with the model the
index holds, and runs the chain of ``pipelines/<name>.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import PipelineSpec, parse_model_id
from llm_lakehouse.serving.index import ServingIndex
from llm_lakehouse.serving.query import NO_FILTERS, Filters, Hit, QueryContext, QuerySpec, run_query


def index_for(settings: Settings) -> ServingIndex:
    return ServingIndex(settings.home / "serving" / "rag_index")


def query_spec_path(pipeline: str) -> Path:
    """A query pipeline by name (``pipelines/<name>.yaml``) or by path."""
    path = Path(pipeline)
    return path if path.suffix in (".yaml", ".yml") else REPO_ROOT / "pipelines" / f"{pipeline}.yaml"


def encoder(spec: PipelineSpec, model: str) -> Any:
    """Embeds a query with the backend that made the index's vectors: int8 vectors only come from onnx;
    float32 ones from any backend (the spec's, when it names this model)."""
    from llm_lakehouse.spark.embeddings import get_backend

    cfg = spec.gold.rag.embedding
    base, quantize = parse_model_id(model)
    name = "onnx" if quantize != "none" else cfg.backend if base == cfg.model else "sentence-transformers"
    backend = get_backend(name, base, cfg.device, quantize=quantize)
    return lambda text: np.asarray(backend.encode([text])[0], dtype=np.float32)


def search(
    catalog: Any,
    spec: PipelineSpec,
    query_spec: QuerySpec,
    index: ServingIndex,
    query: str,
    k: int | None = None,
    filters: Filters = NO_FILTERS,
    sync: bool = True,
) -> list[Hit]:
    if sync:
        index.sync(catalog)
    table = index.table()
    model = index.state()["model"]
    needs_vectors = any(s.pipe == "vector" for s in query_spec.pipes)
    encode = encoder(spec, model) if needs_vectors else _no_encoder
    return run_query(query_spec, QueryContext(table, encode), query, k, filters)


def _no_encoder(text: str) -> np.ndarray:
    raise AssertionError("a pipeline without a vector pipe embedded a query")
