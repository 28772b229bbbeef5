"""Corpus drift: a day of one source against the pooled trailing window of its published days.

Pure statistics on what the jobs collected (``spark/drift.py`` gathers it, the write-audit-publish gate acts
on the outcome): no engine here, so the same code judges a nightly day, a test's planted day and a bench.

- ``distribution``: Kolmogorov-Smirnov (D and its p-value) or the population stability index over ten
  quantile bins of the window, on per-document values (quality signals, ``n_chars``, ``n_tokens``).
- ``mix``: chi-squared on a 2 x k table of category counts (language, drop reason); the effect size is
  Cramér's V, ``sqrt(chi2 / n)`` for two rows.
- ``embedding``: the cosine distance between the two centroids, and the unbiased squared maximum mean
  discrepancy with an RBF kernel (median-distance bandwidth) and a permutation p-value.

Every result has a status: ``drift``, ``ok``, ``no_baseline`` (fewer published days than ``min_history``)
or ``too_few`` (fewer than ``min_docs`` values on a side). Only ``drift`` fails a check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from llm_lakehouse.core.rules import DistributionDrift, Drift, DriftCheck, EmbeddingDrift, MixDrift

OK, DRIFT, NO_BASELINE, TOO_FEW = "ok", "drift", "no_baseline", "too_few"
# The stage whose gate compares a metric: tokens exist from gold on, everything else from silver.
GOLD_METRICS = frozenset({"n_tokens"})
PSI_BINS = 10
_EPS = 1e-4


@dataclass
class Side:
    """What one side of a comparison holds for one source: per-document values, category counts, vectors."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    mixes: dict[str, Counter] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    days: int = 1  # distinct published days behind it (the baseline's history)


@dataclass
class DriftResult:
    """One check on one source (and metric): a row of ``ops.drift_results``."""

    check: str
    kind: str
    test: str
    source: str
    metric: str
    level: str
    status: str
    statistic: float | None
    p_value: float | None
    threshold: float
    n_day: int
    n_baseline: int
    baseline_days: int
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return self.status == DRIFT

    def line(self) -> str:
        """``support n_chars ks D=0.912 p=2e-31 > 0.3`` for messages and the report."""
        if self.statistic is None:
            return f"{self.source} {self.metric}: {self.status.replace('_', ' ')}"
        p = f" p={self.p_value:.2g}" if self.p_value is not None else ""
        return f"{self.source} {self.metric} {self.test}={self.statistic:.3f}{p} (max {self.threshold:g})"

    def record(self) -> dict[str, Any]:
        return asdict(self)


def stage_of(check: DriftCheck, metric: str | None = None) -> str:
    """``silver`` or ``gold``: the gate that has the check's data."""
    if isinstance(check, EmbeddingDrift) or metric in GOLD_METRICS:
        return "gold"
    return "silver"


def ks(day: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    res = ks_2samp(day, base)
    return float(res.statistic), float(res.pvalue)


def psi(day: np.ndarray, base: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index over the baseline's quantile bins (ties merge bins: integer signals)."""
    edges = np.unique(np.quantile(base, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, base, side="right"), minlength=len(edges) + 1) / len(base)
    actual = np.bincount(np.searchsorted(edges, day, side="right"), minlength=len(edges) + 1) / len(day)
    expected, actual = np.clip(expected, _EPS, None), np.clip(actual, _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def cramers_v(day: Counter, base: Counter) -> tuple[float, float]:
    """(Cramér's V, p-value) of the chi-squared test on the two mixes; categories either side has."""
    from scipy.stats import chi2_contingency

    keys = sorted(set(day) | set(base))
    table = np.array([[day.get(k, 0) for k in keys], [base.get(k, 0) for k in keys]], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category on both sides: nothing can differ
    chi2, p, _, _ = chi2_contingency(table, correction=False)
    return float(np.sqrt(chi2 / table.sum())), float(p)


def _rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.exp(-gamma * np.clip(d, 0, None))


def mmd(day: np.ndarray, base: np.ndarray, permutations: int, seed: int = 0) -> tuple[float, float]:
    """(unbiased MMD², permutation p-value) with an RBF kernel whose bandwidth is the median distance."""
    z = np.vstack([day, base]).astype(np.float64)
    n = len(day)
    sq = (z * z).sum(1)
    dist = np.clip(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0, None)
    median = np.median(dist[np.triu_indices(len(z), 1)])
    k = _rbf(z, z, 1.0 / max(median, 1e-12))
    np.fill_diagonal(k, 0.0)

    def stat(idx: np.ndarray) -> float:
        a, b = idx[:n], idx[n:]
        kaa, kbb, kab = k[np.ix_(a, a)], k[np.ix_(b, b)], k[np.ix_(a, b)]
        m, q = len(a), len(b)
        return kaa.sum() / (m * (m - 1)) + kbb.sum() / (q * (q - 1)) - 2 * kab.mean()

    observed = stat(np.arange(len(z)))
    rng = np.random.default_rng(seed)
    hits = int(sum(stat(rng.permutation(len(z))) >= observed for _ in range(permutations)))
    return float(observed), (hits + 1) / (permutations + 1)


def centroid_shift(day: np.ndarray, base: np.ndarray) -> float:
    a, b = day.mean(axis=0), base.mean(axis=0)
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _gated(
    check: DriftCheck,
    drift: Drift,
    source: str,
    metric: str,
    test: str,
    threshold: float,
    n_day: int,
    n_base: int,
    base_days: int,
) -> DriftResult | None:
    """The result when the comparison cannot be made (no baseline, too few documents), else None."""
    status = None
    if base_days < drift.min_history:
        status = NO_BASELINE
        detail = {"note": f"{base_days} published day(s) in the window, {drift.min_history} needed"}
    elif min(n_day, n_base) < drift.min_docs:
        status = TOO_FEW
        detail = {"note": f"{n_day} document(s) this day, {n_base} in the window, {drift.min_docs} needed"}
    if status is None:
        return None
    return DriftResult(
        check.name,
        check.check,
        test,
        source,
        metric,
        check.level,
        status,
        None,
        None,
        threshold,
        n_day,
        n_base,
        base_days,
        detail,
    )


def evaluate(
    check: DriftCheck, drift: Drift, source: str, day: Side, base: Side, stage: str
) -> list[DriftResult]:
    """The check's results for one source, for the metrics ``stage``'s gate has."""
    if isinstance(check, DistributionDrift):
        return [
            _distribution(check, drift, source, m, day, base)
            for m in check.metrics
            if stage_of(check, m) == stage
        ]
    if stage_of(check) != stage:
        return []
    if isinstance(check, MixDrift):
        return [_mix(check, drift, source, day, base)]
    return [_embedding(check, drift, source, day, base)]


def _distribution(
    check: DistributionDrift, drift: Drift, source: str, metric: str, day: Side, base: Side
) -> DriftResult:
    a = _finite(day.values.get(metric))
    b = _finite(base.values.get(metric))
    gated = _gated(check, drift, source, metric, check.test, check.max_statistic, len(a), len(b), base.days)
    if gated:
        return gated
    detail = {"day_median": float(np.median(a)), "baseline_median": float(np.median(b))}
    if check.test == "ks":
        stat, p = ks(a, b)
        drifted = stat > check.max_statistic and p < check.alpha
    else:
        stat, p = psi(a, b), None
        drifted = stat > check.max_statistic
    return DriftResult(
        check.name,
        check.check,
        check.test,
        source,
        metric,
        check.level,
        DRIFT if drifted else OK,
        round(stat, 6),
        p,
        check.max_statistic,
        len(a),
        len(b),
        base.days,
        detail,
    )


def _mix(check: MixDrift, drift: Drift, source: str, day: Side, base: Side) -> DriftResult:
    a, b = day.mixes.get(check.of, Counter()), base.mixes.get(check.of, Counter())
    n_a, n_b = sum(a.values()), sum(b.values())
    gated = _gated(check, drift, source, check.of, "chi2", check.max_cramers_v, n_a, n_b, base.days)
    if gated:
        return gated
    v, p = cramers_v(a, b)
    drifted = v > check.max_cramers_v and p < check.alpha
    detail = {"day_top": _shares(a), "baseline_top": _shares(b)}
    return DriftResult(
        check.name,
        check.check,
        "chi2",
        source,
        check.of,
        check.level,
        DRIFT if drifted else OK,
        round(v, 6),
        p,
        check.max_cramers_v,
        n_a,
        n_b,
        base.days,
        detail,
    )


def _embedding(check: EmbeddingDrift, drift: Drift, source: str, day: Side, base: Side) -> DriftResult:
    a = day.embeddings if day.embeddings is not None else np.zeros((0, 1))
    b = base.embeddings if base.embeddings is not None else np.zeros((0, 1))
    gated = _gated(check, drift, source, "embedding", "mmd", check.max_mmd, len(a), len(b), base.days)
    if gated:
        return gated
    shift = centroid_shift(a, b)
    value, p = mmd(a[: check.sample], b[: check.sample], check.permutations)
    drifted = shift > check.max_centroid_shift or (value > check.max_mmd and p < check.alpha)
    detail = {"centroid_shift": round(shift, 6), "max_centroid_shift": check.max_centroid_shift}
    return DriftResult(
        check.name,
        check.check,
        "mmd",
        source,
        "embedding",
        check.level,
        DRIFT if drifted else OK,
        round(value, 6),
        p,
        check.max_mmd,
        len(a),
        len(b),
        base.days,
        detail,
    )


def _finite(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _shares(counts: Counter, top: int = 5) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {k: round(v / total, 4) for k, v in counts.most_common(top)}


def summary(results: list[DriftResult]) -> dict[str, Any]:
    """A check's observed value for the gate: what drifted, what could not be compared, the largest effect."""
    out: dict[str, Any] = {"observed_value": sum(r.drifted for r in results)}
    for status in (DRIFT, NO_BASELINE, TOO_FEW):
        hits = [r.line() for r in results if r.status == status]
        if hits:
            out[status] = hits[:10]
    stats = [r.statistic for r in results if r.statistic is not None]
    if stats:
        out["max_statistic"] = round(max(stats), 4)
    return out
