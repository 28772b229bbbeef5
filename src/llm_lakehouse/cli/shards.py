"""Packed training shards: fixed-length sequences of token ids a PyTorch loop reads with no conversion.

Layout of a dataset folder: ``shard-00000.bin`` … (raw little-endian int32 token ids, ``seq_len`` per sequence,
sequences back to back) and ``index.json`` (``seq_len``, ``dtype``, and per shard its file, sequence count
and sha256). ``TokenShards`` memory-maps them: ``len(ds)`` sequences, ``ds[i]`` a read-only
``np.ndarray[int32]`` of ``seq_len`` ids (``torch.from_numpy(ds[i]).long()`` for an embedding layer), no
copy and no decode step. int32 holds any vocabulary below 2^31 (cl100k has 100,277 ids).

Packing concatenates documents in the order given (each already ends with the end-of-text id when the spec
says ``append_eos``), cuts the stream into ``seq_len`` windows and drops the final partial window (its
token count is reported, never silently padded).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

DTYPE = np.dtype("<i4")
INDEX = "index.json"


def write_shards(
    docs: Iterable[np.ndarray], out: Path, seq_len: int, sequences_per_shard: int = 65_536
) -> dict[str, Any]:
    """Packs ``docs`` (token id arrays, in order) into shards under ``out``; returns the index it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, Any]] = []
    pending: list[np.ndarray] = []
    pending_tokens = 0
    buffer: list[np.ndarray] = []  # full sequences of the shard being filled

    def flush_shard() -> None:
        if not buffer:
            return
        name = f"shard-{len(shards):05d}.bin"
        data = np.stack(buffer).astype(DTYPE, copy=False)
        (out / name).write_bytes(data.tobytes())
        digest = hashlib.sha256(data.tobytes()).hexdigest()
        shards.append({"file": name, "sequences": len(buffer), "sha256": digest})
        buffer.clear()

    for ids in docs:
        pending.append(np.asarray(ids, dtype=DTYPE))
        pending_tokens += len(ids)
        if pending_tokens >= seq_len:
            stream = np.concatenate(pending)
            full = len(stream) // seq_len
            for i in range(full):
                buffer.append(stream[i * seq_len : (i + 1) * seq_len])
                if len(buffer) == sequences_per_shard:
                    flush_shard()
            rest = stream[full * seq_len :]
            pending, pending_tokens = [rest], len(rest)
    flush_shard()
    index = {
        "seq_len": seq_len,
        "dtype": DTYPE.str,
        "shards": shards,
        "sequences": sum(s["sequences"] for s in shards),
        "tokens_dropped_tail": pending_tokens,
        "sha256": hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest(),
    }
    (out / INDEX).write_text(json.dumps(index, indent=2))
    return index


class TokenShards:
    """A dataset folder's sequences, memory-mapped: ``len()``, ``[i]``, iteration; a map-style Dataset."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.index = json.loads((self.path / INDEX).read_text())
        self.seq_len: int = self.index["seq_len"]
        dtype = np.dtype(self.index["dtype"])
        self._maps = [
            np.memmap(self.path / s["file"], dtype=dtype, mode="r").reshape(s["sequences"], self.seq_len)
            for s in self.index["shards"]
        ]
        self._starts = np.cumsum([0] + [len(m) for m in self._maps])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sequence {i} out of range 0..{len(self) - 1}")
        shard = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._maps[shard][i - self._starts[shard]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for m in self._maps:
            yield from m

    def verify(self) -> None:
        """Raises if a shard's bytes differ from the sha256 the index recorded."""
        for s in self.index["shards"]:
            got = hashlib.sha256((self.path / s["file"]).read_bytes()).hexdigest()
            if got != s["sha256"]:
                raise ValueError(f"{self.path / s['file']}: sha256 {got} != recorded {s['sha256']}")
