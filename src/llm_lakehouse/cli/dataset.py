"""Dataset versions: a named, rebuildable export of gold's token ids as packed, shuffled training shards.

``create`` reads ``gold.training_documents`` for a date range at main's current snapshot, applies the
source mixture, shuffles with a seeded hash, packs fixed-length sequences (``shards.py``) and writes
``manifest.json`` beside the shards: the Iceberg snapshot ids of gold and of the silver and bronze tables
it derives from, the spec digest, tokenizer, seed, sequence length, mixture weights, token totals per
source and the shards' sha256. It also tags gold's snapshot ``dataset_<name>`` in Iceberg, so snapshot
expiry never removes what the version was built from. ``rebuild`` reads the same snapshot (time travel)
and yields byte-identical shards however many days arrived or were rebuilt since.

Mixture: a source of weight ``w`` contributes each of its documents ``floor(w)`` times plus once more with
probability ``w - floor(w)``, decided by a seeded hash of the document (so 0.5 keeps a fixed half, 2 repeats
every document); sources the mix does not name keep weight 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyiceberg.expressions import And, GreaterThanOrEqual, In, LessThanOrEqual

from llm_lakehouse.cli.shards import write_shards
from llm_lakehouse.core.catalog import load, published_snapshot
from llm_lakehouse.core.errors import DatasetError
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import BRONZE, GOLD_TRAINING, SILVER

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Request:
    name: str
    start: date
    end: date
    mix: dict[str, float]
    seq_len: int = 2048
    seed: int = 0


def parse_mix(text: str | None) -> dict[str, float]:
    """``web=1,support=0.5`` -> ``{"web": 1.0, "support": 0.5}``."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        source, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not source.strip() or not math.isfinite(value) or value < 0:
            raise DatasetError(f"--mix: expected source=weight with weight >= 0, got {part!r}")
        out[source.strip()] = value
    return out


def dataset_dir(settings: Settings, name: str) -> Path:
    return settings.home / "datasets" / name


def _hash01(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _days(start: date, end: date) -> And:
    return And(GreaterThanOrEqual("dt", start.isoformat()), LessThanOrEqual("dt", end.isoformat()))


def _read_gold(catalog: Any, snapshot_id: int, start: date, end: date) -> pa.Table:
    table = load(catalog, GOLD_TRAINING.ident)
    row_filter = _days(start, end)
    cols = ("dt", "doc_id", "source", "token_ids", "n_tokens", "tokenizer")
    return table.scan(row_filter=row_filter, selected_fields=cols, snapshot_id=snapshot_id).to_arrow()


def _order(rows: pa.Table, mix: dict[str, float], seed: int) -> list[tuple[int, int]]:
    """(row, copy) pairs to write, in the shuffled order; decided by hashes only (no RNG state)."""
    dts = [d.isoformat() for d in rows.column("dt").to_pylist()]
    ids = rows.column("doc_id").to_pylist()
    sources = rows.column("source").to_pylist()
    picks = []
    for i, (dt, doc, source) in enumerate(zip(dts, ids, sources, strict=True)):
        w = mix.get(source, 1.0)
        copies = math.floor(w) + (1 if _hash01(seed, "mix", dt, doc) < w - math.floor(w) else 0)
        picks += [(_hash01(seed, "order", dt, doc, c), i, c) for c in range(copies)]
    return [(i, c) for _, i, c in sorted(picks)]


def _snapshots(catalog: Any) -> dict[str, int | None]:
    out = {}
    for t in (GOLD_TRAINING, SILVER, BRONZE):
        # The published state: a gold run killed halfway through publishing is not part of a dataset.
        out[t.ident] = published_snapshot(catalog, t.ident)
    return out


def _build(
    catalog: Any,
    out: Path,
    snapshot_id: int,
    start: date,
    end: date,
    mix: dict[str, float],
    seq_len: int,
    seed: int,
) -> dict[str, Any]:
    rows = _read_gold(catalog, snapshot_id, start, end)
    if rows.num_rows == 0:
        raise DatasetError(
            f"gold.training_documents has no rows from {start} to {end} at snapshot {snapshot_id}"
        )
    unknown = sorted(set(mix) - set(rows.column("source").to_pylist()))
    if unknown:
        raise DatasetError(f"--mix names source(s) {unknown} that have no documents from {start} to {end}")
    order = _order(rows, mix, seed)
    tokens = rows.column("token_ids")
    sources = rows.column("source").to_pylist()
    per_source: Counter[str] = Counter()
    docs_per_source: Counter[str] = Counter()
    for i, _ in order:
        per_source[sources[i]] += int(rows.column("n_tokens")[i].as_py())
        docs_per_source[sources[i]] += 1
    index = write_shards((tokens[i].values.to_numpy(zero_copy_only=False) for i, _ in order), out, seq_len)
    return {
        "tokenizers": sorted(set(rows.column("tokenizer").to_pylist())),
        "documents": len(order),
        "documents_per_source": dict(sorted(docs_per_source.items())),
        "tokens": sum(per_source.values()),
        "tokens_per_source": dict(sorted(per_source.items())),
        "sequences": index["sequences"],
        "tokens_dropped_tail": index["tokens_dropped_tail"],
        "shards": index["shards"],
        "sha256": index["sha256"],
    }


def create(catalog: Any, spec: PipelineSpec, settings: Settings, req: Request) -> dict[str, Any]:
    """Builds a new version ``req.name`` from main's current snapshot; refuses to overwrite one."""
    if not NAME.match(req.name):
        raise DatasetError(f"dataset name {req.name!r}: use letters, digits, '_', '.', '-' (max 64)")
    if req.end < req.start:
        raise DatasetError(f"--to {req.end} is before --from {req.start}")
    out = dataset_dir(settings, req.name)
    if (out / MANIFEST).exists():
        raise DatasetError(f"dataset {req.name!r} exists ({out}); pick a new name (versions are immutable)")
    snapshots = _snapshots(catalog)
    gold_snapshot = snapshots[GOLD_TRAINING.ident]
    if gold_snapshot is None:
        raise DatasetError("gold.training_documents has no snapshot yet: build a day first")
    built = _build(catalog, out, gold_snapshot, req.start, req.end, req.mix, req.seq_len, req.seed)
    tag = f"dataset_{req.name}"
    load(catalog, GOLD_TRAINING.ident).manage_snapshots().create_tag(gold_snapshot, tag).commit()
    manifest = {
        "name": req.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "from": req.start.isoformat(),
        "to": req.end.isoformat(),
        "mix": req.mix,
        "seed": req.seed,
        "seq_len": req.seq_len,
        "spec": spec.name,
        "spec_digest": spec.digest(),
        "tokenizer": {**spec.gold.tokenizer.model_dump(mode="json"), "path": spec.tokenizer_params()["path"]},
        "append_eos": spec.gold.append_eos,
        "input_snapshots": snapshots,
        "iceberg_tag": f"{GOLD_TRAINING.ident}@{tag}",
        **built,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def show(settings: Settings, name: str) -> dict[str, Any]:
    path = dataset_dir(settings, name) / MANIFEST
    if not path.exists():
        known = sorted(p.parent.name for p in (settings.home / "datasets").glob(f"*/{MANIFEST}"))
        raise DatasetError(f"no dataset {name!r}; known: {known or 'none'}")
    return json.loads(path.read_text())


def rebuild(catalog: Any, settings: Settings, name: str, out: Path) -> dict[str, Any]:
    """Rebuilds version ``name`` into ``out`` from its manifest (time travel to its recorded snapshot)."""
    m = show(settings, name)
    built = _build(
        catalog,
        out,
        m["input_snapshots"][GOLD_TRAINING.ident],
        date.fromisoformat(m["from"]),
        date.fromisoformat(m["to"]),
        m["mix"],
        m["seq_len"],
        m["seed"],
    )
    if built["sha256"] != m["sha256"]:
        raise DatasetError(f"rebuild of {name!r} differs: sha256 {built['sha256']} != manifest {m['sha256']}")
    # An erasure rebuilt the version without the forgotten records: say what it changed.
    return {**built, "erasures": m.get("erasures", [])}


def _doc_ids(
    catalog: Any, snapshot_id: int, start: date, end: date, among: list[str] | None = None
) -> set[str]:
    row_filter = _days(start, end)
    if among is not None:
        row_filter = And(row_filter, In("doc_id", among))
    scan = load(catalog, GOLD_TRAINING.ident).scan(
        snapshot_id=snapshot_id, row_filter=row_filter, selected_fields=("doc_id",)
    )
    return set(scan.to_arrow().column("doc_id").to_pylist())


def versions_holding(catalog: Any, settings: Settings, doc_ids: list[str]) -> list[str]:
    """The dataset versions whose gold snapshot holds any of ``doc_ids`` (an erasure must break their pins)."""
    names = []
    for path in sorted((settings.home / "datasets").glob(f"*/{MANIFEST}")):
        m = json.loads(path.read_text())
        sid = m["input_snapshots"][GOLD_TRAINING.ident]
        start, end = date.fromisoformat(m["from"]), date.fromisoformat(m["to"])
        if doc_ids and _doc_ids(catalog, sid, start, end, doc_ids):
            names.append(m["name"])
    return names


def rederive(catalog: Any, settings: Settings, name: str, erasure_id: str) -> dict[str, Any]:
    """After an erasure deleted rows from gold: version ``name`` rebuilt at gold's current snapshot (its
    shards no longer hold them) and what changed appended to its manifest's ``erasures``, which ``rebuild``
    then reports. Same range, mixture, seed and sequence length. The caller moves its tag to
    ``gold_snapshot`` (the erasure's Spark session is the catalog's one writer)."""
    m = show(settings, name)
    out = dataset_dir(settings, name)
    start, end = date.fromisoformat(m["from"]), date.fromisoformat(m["to"])
    old_sid = m["input_snapshots"][GOLD_TRAINING.ident]
    # main's current snapshot, the erasure's delete: a run's pin (published_snapshot) may predate it.
    new_sid = load(catalog, GOLD_TRAINING.ident).current_snapshot().snapshot_id
    before, after = _doc_ids(catalog, old_sid, start, end), _doc_ids(catalog, new_sid, start, end)
    staging = out.parent / f".{name}.erasure"
    if staging.exists():
        shutil.rmtree(staging)
    built = _build(catalog, staging, new_sid, start, end, m["mix"], m["seq_len"], m["seed"])
    change = {
        "erasure_id": erasure_id,
        "previous_gold_snapshot": old_sid,
        "gold_snapshot": new_sid,
        "documents_removed": len(before - after),
        "documents_added": len(after - before),
        "documents_before": m["documents"],
        "documents_after": built["documents"],
        "tokens_before": m["tokens"],
        "tokens_after": built["tokens"],
        "previous_sha256": m["sha256"],
    }
    for shard in m["shards"]:
        (out / shard["file"]).unlink(missing_ok=True)
    for shard in built["shards"]:
        (staging / shard["file"]).replace(out / shard["file"])
    shutil.rmtree(staging)
    manifest = {
        **m,
        **built,
        "input_snapshots": {**m["input_snapshots"], GOLD_TRAINING.ident: new_sid},
        "erasures": [*m.get("erasures", []), change],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return change


def decode_sequence(ids: np.ndarray, manifest: dict[str, Any]) -> str:
    """A sequence's text with the version's tokenizer, for eyeballing (``lakehouse dataset show --sample``)."""
    from llm_lakehouse.core.pipes.tokenize import get_tokenizer

    t = manifest["tokenizer"]
    return get_tokenizer(t["library"], t["name"], t.get("path"), t.get("eos_token")).decode(ids.tolist())
