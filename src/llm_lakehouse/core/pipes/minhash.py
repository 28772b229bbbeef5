"""MinHash: a signature of each kept document's word shingles, for near-duplicate search; drops nothing.

Adds ``minhash`` (``bands * rows`` unsigned 32-bit minimums stored as INT) to rows still kept; rows an earlier
pipe dropped get null. The silver job cuts the signature into ``bands`` bands, hashes each band into the
``silver.dedup_index`` table and joins bucket by bucket, so two documents whose shingle sets have Jaccard
similarity ``s`` collide in at least one band with probability ``1 - (1 - s**rows) ** bands`` (an S-curve
around ``(1/bands) ** (1/rows)``); candidate pairs are then checked against ``threshold`` with the full
signature, so band collisions of unrelated documents do not merge them.

Written here rather than with datasketch or Spark MLlib's ``MinHashLSH``: datasketch hashes shingle by shingle
in Python (~100x slower than this), and ``MinHashLSH`` needs sparse vectors over a shared vocabulary and
joins whole datasets, which cannot be kept as a per-band index that tomorrow's documents probe. Here
shingles are hashed with pandas' vectorized SipHash (stable across processes and runs) and the
permutations are multiply-shift hashes in numpy, one pass per permutation over every shingle of the batch.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from llm_lakehouse.core.pipes.base import ColumnDef, kept, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant to combine word hashes into a shingle hash


class MinHash:
    name: ClassVar[str] = "minhash"
    columns: ClassVar[tuple[ColumnDef, ...]] = (
        ("minhash", "ARRAY<INT>", "MinHash signature of word shingles (bands*rows values)"),
    )

    class Params(BaseParams):
        ngram: int = Field(5, ge=1, le=32, description="words per shingle")
        bands: int = Field(16, ge=1, le=64)
        rows: int = Field(7, ge=1, le=32, description="signature values per band")
        threshold: float = Field(0.8, gt=0, le=1, description="estimated Jaccard to call a pair duplicate")
        seed: int = 1
        lowercase: bool = True

        @model_validator(mode="after")
        def _size(self) -> MinHash.Params:
            if self.bands * self.rows > 1024:
                raise ValueError("bands * rows must be <= 1024 signature values")
            return self

    def __init__(self, params: Params) -> None:
        self.p = params
        self.a, self.b = _permutations(params.bands * params.rows, params.seed)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n_perm = self.p.bands * self.p.rows
        keep = kept(batch)
        text = pc.if_else(keep, batch.column("text"), pa.scalar(None, pa.string()))
        if self.p.lowercase:
            text = pc.utf8_lower(text)
        sig = signatures(text, self.p.ngram, self.a, self.b)
        values = pa.array(sig.reshape(-1).view(np.int32), pa.int32())
        offsets = pa.array(np.arange(0, (len(sig) + 1) * n_perm, n_perm, dtype=np.int32))
        lists = pa.ListArray.from_arrays(offsets, values, mask=pc.invert(pc.fill_null(keep, False)))
        return set_column(batch, "minhash", lists)


@cache
def _permutations(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    return a, b


def shingle_hashes(text: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word ``ngram``-shingle and, per document, the offset of its first shingle.

    A document shorter than ``ngram`` words has one shingle (all its words); one without words has none.
    """
    import pandas as pd  # a jobs-env dependency; pandas' hash_array is vectorized SipHash with a fixed key

    # Words are runs of letters and digits in any script (RE2's \w is ASCII-only).
    words = pc.split_pattern_regex(pc.fill_null(text, ""), r"[^\p{L}\p{N}_]+")
    flat = pc.list_flatten(words)
    lens = pc.fill_null(pc.list_value_length(words), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    word_h = pd.util.hash_array(np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object))
    # Drop empty tokens (split at the text's ends) and recount words per document.
    doc_of = np.repeat(np.arange(len(lens)), lens)[nonempty]
    word_h = word_h[nonempty]
    counts = np.bincount(doc_of, minlength=len(lens)).astype(np.int64)
    starts = np.cumsum(counts) - counts  # one per document, also for a batch of none
    # Shingle i of a document starts at word i; a shingle is valid if all its words are in that document.
    n_sh = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    sh_off = np.concatenate([[0], np.cumsum(n_sh)]).astype(np.int64)
    first_word = np.repeat(starts, n_sh) + (np.arange(sh_off[-1]) - np.repeat(sh_off[:-1], n_sh))
    width = np.repeat(np.minimum(counts, ngram), n_sh)
    h = np.zeros(len(first_word), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(ngram):
            inside = j < width
            idx = np.where(inside, first_word + j, 0)
            h = np.where(inside, h * _MIX + word_h[idx], h)
    return h, sh_off


def signatures(text: pa.Array, ngram: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(text), len(a))`` uint32 MinHash signatures; a document without shingles gets all 0xFFFFFFFF."""
    h, sh_off = shingle_hashes(text, ngram)
    n_docs, n_perm = len(sh_off) - 1, len(a)
    out = np.full((n_docs, n_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    has = sh_off[1:] > sh_off[:-1]
    if not has.any():
        return out
    starts = sh_off[:-1][has]
    with np.errstate(over="ignore"):
        for k in range(n_perm):
            # Multiply-shift: the high 32 bits of a*h+b (mod 2**64) are a 2-universal hash of h.
            v = ((h * a[k] + b[k]) >> np.uint64(32)).astype(np.uint32)
            out[has, k] = np.minimum.reduceat(v, starts)
    return out


def shingle_jaccard(a: pa.Array, b: pa.Array, ngram: int, lowercase: bool = True) -> np.ndarray:
    """The exact Jaccard similarity of the shingle sets of ``a[i]`` and ``b[i]``, shingles formed as the pipe
    forms them (compared by their 64-bit hashes); two texts without a word are equal (1.0).

    Linear in the texts' length per pair: the shingles of each text are hashed once, vectorized."""
    if lowercase:
        a, b = pc.utf8_lower(a), pc.utf8_lower(b)
    ha, oa = shingle_hashes(a, ngram)
    hb, ob = shingle_hashes(b, ngram)
    out = np.ones(len(oa) - 1, dtype=np.float64)
    for i in range(len(out)):
        x, y = np.unique(ha[oa[i] : oa[i + 1]]), np.unique(hb[ob[i] : ob[i + 1]])
        if len(x) or len(y):
            both = len(np.intersect1d(x, y, assume_unique=True))
            out[i] = both / (len(x) + len(y) - both)
    return out


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal signature positions: an unbiased estimate of the shingle sets' Jaccard similarity."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
