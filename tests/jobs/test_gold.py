"""Gold: tokenization (tiktoken and HF), packed shards and dataset versions, chunking, embeddings."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest
from conftest import GOLD_DAYS, TOPICS, build_through_gold

from llm_lakehouse.cli import dataset
from llm_lakehouse.cli.shards import TokenShards, write_shards
from llm_lakehouse.core.catalog import load, open_catalog, read_day
from llm_lakehouse.core.pipes import build_pipe
from llm_lakehouse.spark.chunking import chunk_batch, windows
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.embeddings import (
    BackendUnavailable,
    VllmBackend,
    chunk_tokenizer,
    model_dir,
    resolve_device,
)
from llm_lakehouse.spark.gold import build_day, tokenize_day

DAYS = GOLD_DAYS
MODEL = "all-MiniLM-L6-v2"

# --- chunking, shards, backends: no Spark ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "size", "overlap", "expected"),
    [
        (0, 200, 40, []),
        (5, 200, 40, [(0, 5)]),
        (200, 200, 40, [(0, 200)]),
        (450, 200, 40, [(0, 200), (160, 360), (320, 450)]),
        (10, 4, 0, [(0, 4), (4, 8), (8, 10)]),
    ],
)
def test_windows_cover_every_token_with_the_overlap(n, size, overlap, expected):
    assert windows(n, size, overlap) == expected


def _chunks(texts: dict[str, str], size=40, overlap=8) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_pydict(
        {"doc_id": list(texts), "source": ["s"] * len(texts), "text": list(texts.values())}
    )
    return chunk_batch(batch, chunk_tokenizer(MODEL), size, overlap)


def test_chunks_are_the_documents_own_text_and_their_ids_are_stable():
    text = " ".join(t for _, t in TOPICS.values())
    first, again = _chunks({"d": text}).to_pylist(), _chunks({"d": text}).to_pylist()
    assert len(first) > 3 and first == again
    tok = chunk_tokenizer(MODEL)
    for c in first:
        assert text[c["char_start"] : c["char_end"]] == c["text"]
        assert (
            c["n_tokens"] <= 40 and len(tok.encode(c["text"], add_special_tokens=False).ids) == c["n_tokens"]
        )
    assert first[0]["char_start"] == 0 and first[-1]["char_end"] == len(text)
    # Neighbours overlap; an edit near the end changes only the chunks that hold it.
    assert all(a["char_end"] > b["char_start"] for a, b in zip(first, first[1:], strict=False))
    edited = _chunks({"d": text.replace("long months of winter", "short winter days")}).to_pylist()
    changed = [
        i for i, (a, b) in enumerate(zip(first, edited, strict=True)) if a["chunk_id"] != b["chunk_id"]
    ]
    assert changed and min(changed) >= len(first) - 3


def test_shards_round_trip_and_detect_corruption(tmp_path):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 100_000, size=int(n), dtype=np.int32) for n in rng.integers(1, 300, size=50)]
    index = write_shards(iter(docs), tmp_path, seq_len=64, sequences_per_shard=10)
    stream = np.concatenate(docs)
    ds = TokenShards(tmp_path)
    assert len(ds) == len(stream) // 64 == index["sequences"] and len(index["shards"]) > 1
    assert index["tokens_dropped_tail"] == len(stream) % 64
    assert ds[0].dtype == np.int32 and ds[0].shape == (64,)
    assert np.array_equal(np.concatenate(list(ds)), stream[: len(ds) * 64])
    assert np.array_equal(ds[-1], stream[(len(ds) - 1) * 64 : len(ds) * 64])
    ds.verify()
    with (tmp_path / "shard-00001.bin").open("r+b") as fh:
        fh.write(b"\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="sha256"):
        TokenShards(tmp_path).verify()


def test_hf_tokenizer_counts_equal_the_tokenizer_run_directly(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "</s>"])
    tok.train_from_iterator([t for _, t in TOPICS.values()] * 3, trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    texts = [t for _, t in TOPICS.values()] + ["a literal </s> is text, not a boundary", ""]
    pipe = build_pipe(
        "tokenize", {"library": "hf", "encoding": "tiny", "path": str(path), "eos_token": "</s>"}
    )
    out = pipe(pa.RecordBatch.from_pydict({"text": texts}))
    eos = tok.token_to_id("</s>")
    for text, ids, n in zip(
        texts, out.column("token_ids").to_pylist(), out.column("n_tokens").to_pylist(), strict=True
    ):
        direct = Tokenizer.from_file(str(path))
        direct.encode_special_tokens = True
        assert ids == [*direct.encode(text, add_special_tokens=False).ids, eos] and n == len(ids)
        assert ids.count(eos) == 1
    with pytest.raises(ValueError, match="not in the vocabulary"):
        build_pipe("tokenize", {"library": "hf", "encoding": "x", "path": str(path), "eos_token": "<|eot|>"})


def test_vllm_backend_reports_that_it_needs_a_gpu():
    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU and none is visible"):
        VllmBackend(MODEL)
    # What it would start on a GPU worker: vLLM's pooling runner on the packaged model's directory.
    backend = object.__new__(VllmBackend)
    backend.path = model_dir(MODEL)
    assert backend.engine_args()["runner"] == "pooling"
    assert (backend.engine_args()["model"] + "/model.safetensors").endswith("model/model.safetensors")


def _real_paragraphs(n: int) -> list[str]:
    """Paragraphs of installed packages' descriptions: real text no one here wrote, of every length."""
    import sys
    from pathlib import Path

    out: list[str] = []
    for meta in sorted(Path(sys.prefix).glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        body = meta.read_text(errors="replace").partition("\n\n")[2]
        out += [p.strip() for p in body.split("\n\n") if len(p.strip()) > 40]
        if len(out) >= n:
            break
    return out[:n]


def test_onnx_backend_gives_the_same_vectors_and_int8_says_it_differs():
    from sentence_transformers import SentenceTransformer

    from llm_lakehouse.spark.embeddings import OnnxBackend

    texts = _real_paragraphs(48) + ["", "x"]
    direct = SentenceTransformer(str(model_dir(MODEL)), device="cpu").encode(texts, normalize_embeddings=True)
    fp32 = OnnxBackend(MODEL)
    assert fp32.model == MODEL and fp32.dim == 384
    cosine = np.sum(fp32.encode(texts) * direct, axis=1)
    assert cosine.min() >= 0.9999
    int8 = OnnxBackend(MODEL, quantize="int8")
    assert int8.model == f"{MODEL}+int8"  # its rows say the vectors are not the float model's
    cosine = np.sum(int8.encode(texts) * direct, axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.95


def test_quantized_embeddings_need_the_onnx_backend():
    from llm_lakehouse.core.spec import Embedding, parse_model_id

    with pytest.raises(ValueError, match="needs backend: onnx"):
        Embedding(backend="sentence-transformers", quantize="int8")
    cfg = Embedding(backend="onnx", quantize="int8")
    assert cfg.model_id == f"{MODEL}+int8" and parse_model_id(cfg.model_id) == (MODEL, "int8")
    assert parse_model_id(MODEL) == (MODEL, "none")


def test_device_auto_falls_back_to_cpu_with_a_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="llm_lakehouse.spark.embeddings"):
        assert resolve_device("auto") == "cpu"
    assert "no CUDA GPU on this worker, running on the CPU" in caplog.text
    with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="not a packaged model"):
        model_dir("no-such-model")


# --- the gold job on real Spark and Iceberg ---------------------------------------------------------


def test_embeddings_equal_a_direct_encode_of_the_same_chunks(gold, settings):
    from sentence_transformers import SentenceTransformer

    rows = read_day(open_catalog(settings), "gold.chunk_embeddings", DAYS[0]).to_pylist()
    assert len(rows) == gold[DAYS[0]]["gold_chunks"] > 0 and gold[DAYS[0]]["gold_embedded"] == len(rows)
    assert {r["model"] for r in rows} == {MODEL} and {r["dim"] for r in rows} == {384}
    direct = SentenceTransformer(str(model_dir(MODEL)), device="cpu").encode(
        [r["text"] for r in rows], normalize_embeddings=True
    )
    got = np.array([r["embedding"] for r in rows], dtype=np.float32)
    cosine = np.sum(got * direct, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(direct, axis=1))
    assert cosine.min() >= 0.9999
    # Every silver document is chunked, and a chunk never exceeds the spec's size.
    silver = read_day(open_catalog(settings), "silver.documents", DAYS[0], ("doc_id",)).column("doc_id")
    assert {r["doc_id"] for r in rows} == set(silver.to_pylist())
    assert max(r["n_tokens"] for r in rows) <= 200


def test_a_rerun_embeds_nothing_and_keeps_chunk_ids(gold, spark, spec, settings):
    day = DAYS[1]
    before = read_day(
        open_catalog(settings), "gold.chunk_embeddings", day, ("chunk_id", "embedding")
    ).to_pylist()
    out = build_day(RunContext(spark, spec, settings, day, "gold__rerun"))
    assert out["gold_embedded"] == 0 and out["gold_embeddings_reused"] == out["gold_chunks"] == len(before)
    after = read_day(
        open_catalog(settings), "gold.chunk_embeddings", day, ("chunk_id", "embedding")
    ).to_pylist()
    key = lambda r: r["chunk_id"]  # noqa: E731
    assert sorted(before, key=key) == sorted(after, key=key)


def _stream(folder) -> np.ndarray:
    return np.concatenate(list(TokenShards(folder)))


def test_dataset_shards_hold_every_document_once_with_separators(gold, spec, settings):
    cat = open_catalog(settings)
    req = dataset.Request("corpus-v1", DAYS[0], DAYS[1], {}, seq_len=64, seed=3)
    m = dataset.create(cat, spec, settings, req)
    shown = dataset.show(settings, "corpus-v1")
    assert shown == m and m["input_snapshots"]["gold.training_documents"] is not None
    assert m["tokens"] == sum(g["gold_tokens"] for d, g in gold.items() if d in DAYS[:2])
    assert m["sequences"] == m["tokens"] // 64 and m["tokens_dropped_tail"] == m["tokens"] % 64
    # Iceberg tag: the snapshot stays reachable whatever expires later.
    refs = load(open_catalog(settings), "gold.training_documents").metadata.refs
    assert refs["dataset_corpus-v1"].snapshot_id == m["input_snapshots"]["gold.training_documents"]
    # Decoding: split on the separator, every complete piece is one silver document's text, each once.
    eot = 100257
    stream = _stream(dataset.dataset_dir(settings, "corpus-v1")).tolist()
    ends = [i for i, t in enumerate(stream) if t == eot]
    pieces, start = [], 0
    for end in ends:
        pieces.append(dataset.decode_sequence(np.array(stream[start:end]), m))
        start = end + 1
    texts = []
    for d in DAYS[:2]:
        texts += read_day(cat, "silver.documents", d, ("text",)).column("text").to_pylist()
    assert len(pieces) >= len(texts) - 1 and sorted(pieces) == sorted(set(pieces))
    assert set(pieces) <= set(texts)
    # ... in the manifest's shuffled order (a hash of seed, day and doc_id), across sequence boundaries.
    rows = dataset._read_gold(cat, m["input_snapshots"]["gold.training_documents"], DAYS[0], DAYS[1])
    by_key = {}
    for d in DAYS[:2]:
        t = read_day(cat, "silver.documents", d, ("doc_id", "text"))
        by_key |= {
            (d, k): v
            for k, v in zip(t.column("doc_id").to_pylist(), t.column("text").to_pylist(), strict=True)
        }
    keys = list(zip(rows.column("dt").to_pylist(), rows.column("doc_id").to_pylist(), strict=True))
    assert pieces == [by_key[keys[i]] for i, _ in dataset._order(rows, {}, 3)][: len(pieces)]
    with pytest.raises(dataset.DatasetError, match="exists"):
        dataset.create(cat, spec, settings, req)


def test_a_pytorch_dataloader_reads_the_shards_as_they_are(gold, spec, settings):
    import torch
    from torch.utils.data import DataLoader

    cat = open_catalog(settings)
    dataset.create(cat, spec, settings, dataset.Request("torch-v1", DAYS[0], DAYS[1], {}, seq_len=32, seed=5))
    shards = TokenShards(dataset.dataset_dir(settings, "torch-v1"))
    batches = list(DataLoader(shards, batch_size=8, shuffle=False))
    assert sum(len(b) for b in batches) == len(shards) > 8
    assert batches[0].shape == (8, 32) and not batches[0].is_floating_point()
    assert torch.equal(batches[1][0].long(), torch.from_numpy(np.array(shards[8], dtype=np.int64)))


def test_mixture_weights_drop_and_repeat_sources(gold, spec, settings):
    cat = open_catalog(settings)
    m = dataset.create(
        cat, spec, settings, dataset.Request("mix-v1", DAYS[0], DAYS[1], {"support": 0, "web": 2}, 64)
    )
    docs = {}
    for d in DAYS[:2]:
        rows = read_day(cat, "gold.training_documents", d, ("source",)).column("source").to_pylist()
        for s in rows:
            docs[s] = docs.get(s, 0) + 1
    assert "support" not in m["documents_per_source"]
    assert m["documents_per_source"]["web"] == 2 * docs["web"]
    assert m["documents_per_source"]["docs"] == docs["docs"]
    with pytest.raises(dataset.DatasetError, match="no documents"):
        dataset.create(cat, spec, settings, dataset.Request("bad", DAYS[0], DAYS[1], {"chats": 1}, 64))


def test_a_version_rebuilds_identically_after_more_days_arrive(gold, spark, spec, settings, tmp_path):
    cat = open_catalog(settings)
    m = dataset.create(cat, spec, settings, dataset.Request("pinned", DAYS[0], DAYS[1], {"web": 0.5}, 128, 7))
    # New data: another day, and day 2 rebuilt by a rerun (new snapshots on gold's main).
    build_through_gold(spark, spec, settings, DAYS[2], "gold__later")
    tokenize_day(RunContext(spark, spec, settings, DAYS[1], "gold__rerun2"))
    assert (
        load(open_catalog(settings), "gold.training_documents").current_snapshot().snapshot_id
        != (m["input_snapshots"]["gold.training_documents"])
    )
    built = dataset.rebuild(open_catalog(settings), settings, "pinned", tmp_path / "again")
    assert built["sha256"] == m["sha256"]
    assert np.array_equal(_stream(tmp_path / "again"), _stream(dataset.dataset_dir(settings, "pinned")))
