"""Near-duplicate recall and false merges of MinHash band layouts, on real text with planted edits.

Documents are real text on this machine that no one here wrote (``bronze_hostile.real_texts``: Debian changelogs
and copyright files, installed packages' METADATA). Each gets edited copies, with edits people make to a
document they republish: adjacent words swapped, lines reordered, a boilerplate paragraph inserted, a tail cut.
A pair's truth is the exact Jaccard of the two texts' word 5-gram sets, computed the way the ``minhash`` pipe
shingles (same words, same lower-casing), never by the detector.

For each layout (``bands`` x ``rows``) the script reports, per band of true Jaccard:

- *candidates*: the share of pairs sharing at least one band key (what the dedup index join can find);
- *merged (estimate)*: candidates whose signature estimate is >= the threshold (what silver did before it
  verified on the texts);
- *merged (silver)*: what silver does: a candidate whose estimate is ``dedup.ACCEPT_MARGIN`` or more above the
  threshold is merged, one ``dedup.SCREEN_MARGIN`` or more below it is not, and the pairs between are merged
  when their exact shingle Jaccard is >= the threshold (the share of candidates read and verified on their
  texts is printed too).

Signatures come from the ``minhash`` pipe itself (one 256-value signature per document; a layout uses its first
``bands * rows`` values: the permutations are independent). Index rows per document = ``bands``.

Usage: .venvs/jobs/bin/python bench/near_dup_recall.py [--docs 1500] [--threshold 0.8]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from datetime import date

import numpy as np
import pyarrow as pa
import regex as re
from bronze_hostile import real_texts  # bench/ is the script's own folder

from llm_lakehouse.core.pipes.minhash import _permutations, signatures
from llm_lakehouse.spark.dedup import ACCEPT_MARGIN, SCREEN_MARGIN

NGRAM = 5
WORD = re.compile(r"[\p{L}\p{N}_]+")
BOILERPLATE = (
    "This message and any attachments are confidential and intended solely for the addressee. If you have "
    "received it in error please notify the sender and delete it. Unsubscribe at any time from the settings page."
)
LAYOUTS = [(14, 8), (16, 7), (20, 5), (28, 4), (18, 6), (24, 5)]
BINS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.84), (0.84, 0.9), (0.9, 1.01)]


def shingles(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    if len(words) < NGRAM:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def edit(text: str, rng: random.Random, strength: float) -> str:
    """A republished copy: ``strength`` (0..1) scales how many edits of each kind are applied."""
    lines = text.split("\n")
    if len(lines) > 3 and rng.random() < strength:  # reorder a few lines
        for _ in range(max(1, int(len(lines) * strength * 0.1))):
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    words = "\n".join(lines).split(" ")
    for _ in range(int(len(words) * strength * 0.04)):  # swap adjacent words
        i = rng.randrange(max(1, len(words) - 1))
        if i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
    out = " ".join(words)
    if rng.random() < strength:
        at = rng.randrange(len(out) + 1)
        out = out[:at] + "\n" + BOILERPLATE + "\n" + out[at:]
    if rng.random() < strength * 0.5:
        out = out[: int(len(out) * (1 - strength * 0.1))]
    return out


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[set[bytes]]:
    return [
        {sig[i, b * rows : (b + 1) * rows].tobytes() + bytes([b]) for b in range(bands)}
        for i in range(len(sig))
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=1500, help="real documents, each with several edited copies")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    rng = random.Random(args.seed)
    texts = [t for t in real_texts() if len(WORD.findall(t)) >= 60]
    rng.shuffle(texts)
    texts = texts[: args.docs]
    pairs: list[tuple[str, str]] = []
    for t in texts:
        for strength in (0.05, 0.15, 0.3, 0.5, 0.8):
            pairs.append((t, edit(t, rng, strength)))
    started = time.perf_counter()
    truth = np.array([jaccard(shingles(a), shingles(b)) for a, b in pairs])
    n_perm = max(b * r for b, r in LAYOUTS)
    a, b = _permutations(n_perm, 1)
    left = signatures(pa.array([x for x, _ in pairs]), NGRAM, a, b)
    right = signatures(pa.array([y for _, y in pairs]), NGRAM, a, b)
    took = time.perf_counter() - started
    print(
        f"near-duplicate layouts: {len(texts)} real documents x 5 edited copies = {len(pairs)} pairs, "
        f"threshold {args.threshold}, {platform.node()}, {date.today()}, {took:.0f} s to shingle and sign\n"
    )
    counts = {f"{lo:.2f}-{min(hi, 1):.2f}": int(((truth >= lo) & (truth < hi)).sum()) for lo, hi in BINS}
    print("pairs per true-Jaccard band: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + "\n")
    header = (
        "| layout | index rows/doc | measure | "
        + " | ".join(counts)
        + " | recall J>=thr | merges J<0.7 | merges J<thr | verified on text |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    above = truth >= args.threshold
    below = truth < 0.7
    under = truth < args.threshold
    for bands, rows in LAYOUTS:
        k = bands * rows
        lk, rk = band_keys(left[:, :k], bands, rows), band_keys(right[:, :k], bands, rows)
        cand = np.array([bool(x & y) for x, y in zip(lk, rk, strict=True)])
        est = (left[:, :k] == right[:, :k]).mean(axis=1)
        rows_out = {
            "candidates": cand,
            "merged (estimate)": cand & (est >= args.threshold),
            # What silver does: merge on the estimate far above the threshold, drop far below it, verify the
            # exact shingle Jaccard of the pairs between.
            "merged (silver)": cand
            & (
                (est >= args.threshold + ACCEPT_MARGIN)
                | ((est >= args.threshold - SCREEN_MARGIN) & (truth >= args.threshold))
            ),
        }
        for measure, hit in rows_out.items():
            per_bin = []
            for lo, hi in BINS:
                m = (truth >= lo) & (truth < hi)
                per_bin.append(f"{hit[m].mean():.3f}" if m.any() else "-")
            recall = hit[above].mean() if above.any() else float("nan")
            merges = (
                f"{hit[below].mean():.4f} | {hit[under].mean():.4f}" if measure != "candidates" else "- | -"
            )
            verified = ""
            if measure == "merged (silver)":
                between = (est >= args.threshold - SCREEN_MARGIN) & (est < args.threshold + ACCEPT_MARGIN)
                verified = f"{(cand & between).sum() / max(cand.sum(), 1):.3f}"
            print(
                f"| {bands}x{rows} | {bands} | {measure} | "
                + " | ".join(per_bin)
                + f" | {recall:.3f} | {merges} | {verified} |"
            )


if __name__ == "__main__":
    main()
