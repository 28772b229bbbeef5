"""Embedding backends on the CPU, side by side on the same real-text chunks: load time, chunks/s, and how far
each one's vectors are from sentence-transformers' (the anchor: what gold wrote before the onnx backend).

The chunks are what gold embeds: 200-token windows (40 overlapping) of the model's own tokenizer over real
documents (``realtext_corpus.py``). One process, one thread per backend (a Spark Python worker's share:
gold runs one worker per core), each loaded in a fresh interpreter so its import and model load are
counted; the encode is timed separately, warm.

Usage: .venvs/jobs/bin/python bench/embeddings_backends.py [--chunks 1200]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "all-MiniLM-L6-v2"
BACKENDS = [("sentence-transformers", "none"), ("onnx", "none"), ("onnx", "int8")]


def chunks(n: int) -> list[str]:
    from realtext_corpus import corpus_texts

    from llm_lakehouse.spark.chunking import windows
    from llm_lakehouse.spark.embeddings import chunk_tokenizer

    texts = [t for _, t in corpus_texts()]
    random.Random(5).shuffle(texts)
    tok = chunk_tokenizer(MODEL)
    out: list[str] = []
    for text in texts:
        enc = tok.encode(text, add_special_tokens=False)
        for start, end in windows(len(enc.ids), 200, 40):
            out.append(text[enc.offsets[start][0] : enc.offsets[end - 1][1]])
        if len(out) >= n:
            return out[:n]
    return out


def one_backend(backend: str, quantize: str, texts_path: str, out_path: str) -> None:
    """In a fresh interpreter: import + load, then a warm encode of every chunk."""
    os.environ.setdefault("LAKEHOUSE_TORCH_THREADS", "1")
    started = time.perf_counter()
    from llm_lakehouse.spark.embeddings import get_backend

    if backend == "sentence-transformers":
        import torch

        torch.set_num_threads(1)
    b = get_backend(backend, MODEL, "cpu", 64, quantize)
    load = time.perf_counter() - started
    texts = json.loads(Path(texts_path).read_text())
    b.encode(texts[:64])  # warm
    t = time.perf_counter()
    vectors = b.encode(texts)
    encode = time.perf_counter() - t
    np.save(out_path, vectors)
    print(json.dumps({"load_s": load, "encode_s": encode, "model": b.model}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=1200)
    a = p.parse_args()
    texts = chunks(a.chunks)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "texts.json").write_text(json.dumps(texts))
        vectors = {}
        for backend, quantize in BACKENDS:
            out = str(Path(tmp, f"{backend}-{quantize}.npy"))
            proc = subprocess.run(
                [sys.executable, __file__, "--one", backend, quantize, str(Path(tmp, "texts.json")), out],
                check=True,
                capture_output=True,
                text=True,
            )
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            vectors[(backend, quantize)] = np.load(out)
            rows.append((backend, quantize, got))
    anchor = vectors[BACKENDS[0]]
    base = rows[0][2]["encode_s"]
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"command: .venvs/jobs/bin/python bench/embeddings_backends.py --chunks {a.chunks}")
    print()
    print(
        "| backend | rows say | import + load | chunks/s (1 thread) | vs sentence-transformers | cosine to its vectors: min / mean |"
    )
    print("|---|---|---|---|---|---|")
    for backend, quantize, got in rows:
        cos = np.sum(vectors[(backend, quantize)] * anchor, axis=1)
        name = backend if quantize == "none" else f"{backend}, quantize: {quantize}"
        print(
            f"| {name} | `{got['model']}` | {got['load_s']:.1f} s | {len(texts) / got['encode_s']:.1f} "
            f"| **{base / got['encode_s']:.2f}×** | {cos.min():.4f} / {cos.mean():.4f} |"
        )
    print()
    print(f"{len(texts):,} chunks of real text, {sum(map(len, texts)) / 1e6:.1f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        one_backend(*sys.argv[2:6])
    else:
        main()
