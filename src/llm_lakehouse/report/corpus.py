"""One day of the corpus as a page to look at: ``$LAKEHOUSE_HOME/reports/<day>/index.html`` and its PNG plots.

Read with pyiceberg (published state only, as every reader of a day: ``core/catalog.py``) from the tables the
jobs already write: ``ops.run_audit`` (the funnel, trends), ``silver.quarantine`` (reasons, duplicate
clusters), ``ops.doc_profile`` (signal, language and length distributions, scrubbed examples),
``gold.training_documents`` (tokens), ``ops.pii_audit`` (entities, canaries), ``ops.quality_results`` and
``ops.drift_results`` (the gate). Plots are matplotlib (Agg, no display), the page has no script and no
remote resource: it opens offline, in a browser or attached to a ticket. Example documents come from the
profile's excerpts, which the silver job scrubbed with the source's PII policy: never bronze text.

Written by the gold job at the end of every day's build and by any job whose gate holds the day (its drift and
failed checks are what to look at), by ``lakehouse report`` for any day; linked from the Airflow tasks ("Corpus
report") and ``lakehouse stats``.
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, GreaterThan, LessThanOrEqual

from llm_lakehouse.core.catalog import day_stats, existing, load, quality_results, read_day, run_audit
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import (
    DOC_PROFILE,
    DRIFT_RESULTS,
    GOLD_TRAINING,
    PII_AUDIT,
    QUARANTINE,
    RUN_AUDIT,
)

log = logging.getLogger(__name__)
PAGE = "index.html"
DPI = 90


def report_dir(settings: Settings, day: date) -> Path:
    return settings.home / "reports" / day.isoformat()


class _Data:
    """What the page shows, read once."""

    def __init__(self, catalog: Catalog, spec: PipelineSpec, day: date, days: int) -> None:
        have = existing(catalog)

        def rows(ident: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
            return read_day(catalog, ident, day, columns).to_pylist() if ident in have else []

        self.day, self.spec = day, spec
        self.stats = day_stats(catalog, day)
        self.audit = run_audit(catalog, day)
        self.quality = quality_results(catalog, day)
        self.profile = rows(
            DOC_PROFILE.ident,
            ("source", "reason", "lang", "n_chars", "signals", "example", "excerpt", "doc_id"),
        )
        self.quarantine = rows(QUARANTINE.ident, ("source", "reason", "duplicate_of"))
        self.tokens = rows(GOLD_TRAINING.ident, ("source", "n_tokens"))
        self.pii = rows(PII_AUDIT.ident, ("source", "entity", "count", "kind", "policy", "survived"))
        drift = rows(DRIFT_RESULTS.ident, tuple(c for c in DRIFT_RESULTS.column_names if c != "dt"))
        latest = {}
        for r in drift:
            latest[r["job"]] = max(latest.get(r["job"], r["processed_at"]), r["processed_at"])
        self.drift = [r for r in drift if r["processed_at"] == latest[r["job"]]]
        self.trend = _trend(catalog, day, days) if RUN_AUDIT.ident in have else {}


def _trend(catalog: Catalog, day: date, days: int) -> dict[date, dict[str, float]]:
    """Per day of the last ``days``: the jobs' whole-run rows of ``ops.run_audit`` (one scan)."""
    t = load(catalog, RUN_AUDIT.ident)
    rows = t.scan(
        row_filter=And(
            GreaterThan("dt", (day - timedelta(days=days)).isoformat()),
            LessThanOrEqual("dt", day.isoformat()),
        ),
        selected_fields=("dt", "job", "step", "reason", "docs_in", "docs_out", "bytes_out", "processed_at"),
    ).to_arrow()
    latest: dict[tuple[date, str], dict[str, Any]] = {}
    for r in rows.sort_by([("processed_at", "ascending")]).to_pylist():
        if r["step"] == "*" and r["reason"] is None:
            latest[(r["dt"], r["job"])] = r
    out: dict[date, dict[str, float]] = defaultdict(dict)
    for (dt, job), r in latest.items():
        out[dt][f"{job}_in"] = r["docs_in"] or 0
        out[dt][f"{job}_out"] = r["docs_out"] or 0
    return dict(sorted(out.items()))


def _figure(rows: int, cols: int, w: float = 4.2, h: float = 2.8):  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    return fig, axes


def _save(fig, out: Path, name: str, tight: bool = True) -> str:  # noqa: ANN001
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    else:  # tight_layout over dozens of axes costs seconds: fixed margins instead
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.04, top=0.95, hspace=0.75, wspace=0.25)
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name


def _empty(ax, text: str = "no data for this day") -> None:  # noqa: ANN001
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _funnel(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 2, w=6.2, h=3.6)
    ax = axes[0][0]
    steps: list[tuple[str, int]] = []
    by_job = {(r["job"], r["step"]): r for r in data.audit}
    if ("bronze", "*") in by_job:
        steps.append(("bronze", by_job[("bronze", "*")]["docs_out"] or 0))
    steps += [
        (r["step"], r["docs_out"] or 0) for r in data.audit if r["job"] == "silver" and r["step"] != "*"
    ]
    steps.append(("silver", data.stats["silver"]))
    steps.append(("gold", data.stats["gold_documents"]))
    if not data.stats["bronze"]:
        _empty(ax)
    else:
        names, values = zip(*steps, strict=True)
        y = np.arange(len(names))[::-1]
        ax.barh(y, values, color="#4c72b0")
        ax.set_yticks(y, names, fontsize=8)
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, f" {v:,}", va="center", fontsize=7)
        ax.set_title("documents after each step")
    ax = axes[0][1]
    reasons = Counter(data.stats["by_reason"])
    if reasons:
        top = reasons.most_common(20)[::-1]
        ax.barh([k for k, _ in top], [v for _, v in top], color="#dd8452")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("records per drop reason")
    else:
        _empty(ax, "nothing dropped")
    return _save(fig, out, "funnel.png")


def _quality_rules(spec: PipelineSpec) -> dict[str, list[dict[str, Any]]]:
    """Signal -> the quality_filter rules on it."""
    step = spec.step("quality_filter")
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in (step.params.get("rules") if step else None) or []:
        out[rule["signal"]].append(rule)
    return out


def _signals(data: _Data, out: Path) -> str | None:
    rules = _quality_rules(data.spec)
    sample = [r for r in data.profile if not r["example"]]
    if not rules:
        return None
    names = sorted(rules)
    cols = 4
    fig, axes = _figure((len(names) + cols - 1) // cols, cols, w=3.4, h=2.3)
    bronze = max(data.stats["bronze"], 1)
    for ax, name in zip(axes.flat, names, strict=False):
        values = np.array([v for r in sample if (v := dict(r["signals"] or {}).get(name)) is not None])
        thresholds = [float(rule["value"]) for rule in rules[name]]
        if values.size:
            # Counts and lengths span decades: a log axis keeps both the bulk and a far threshold in view.
            wide = values.min() >= 0 and max(values.max(), *thresholds) > 100
            bins = np.logspace(0, np.log10(max(values.max(), *thresholds, 10) + 1), 30) if wide else 30
            counts, edges = np.histogram(values + (1 if wide else 0), bins=bins)
            ax.stairs(counts, edges, fill=True, color="#55a868")  # ~5x faster than hist() over 28 axes
            if wide:
                ax.set_xscale("log")
        else:
            wide = False
        for value in thresholds:
            ax.axvline(value + (1 if wide else 0), color="#c44e52", linestyle="--", linewidth=1)
        removed = sum(data.stats["by_reason"].get(f"quality:{r['name']}", 0) for r in rules[name])
        ax.set_title(f"{name}{' (+1, log)' if wide else ''}\n{removed / bronze:.1%} removed", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    return _save(fig, out, "signals.png", tight=False)


def _mix(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 3, w=4.2, h=3.2)
    sample = [r for r in data.profile if not r["example"]]
    ax = axes[0][0]
    langs: dict[str, Counter] = defaultdict(Counter)
    for r in sample:
        langs[r["source"]][r["lang"] or "none"] += 1
    _stacked(ax, langs, "language (sampled records)")
    ax = axes[0][1]
    sources = Counter(r["source"] for r in sample)
    kept = Counter(r["source"] for r in sample if r["reason"] is None)
    if sources:
        names = sorted(sources)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [sources[n] for n in names], 0.4, label="sampled")
        ax.bar(x + 0.2, [kept[n] for n in names], 0.4, label="kept by the pipes")
        ax.set_xticks(x, names, fontsize=8)
        ax.legend(fontsize=7)
        ax.set_title("source mix (sampled records)")
    else:
        _empty(ax)
    ax = axes[0][2]
    tokens: Counter = Counter()
    for r in data.tokens:
        tokens[r["source"]] += r["n_tokens"] or 0
    if tokens:
        ax.bar(list(tokens), list(tokens.values()), color="#8172b3")
        ax.set_title("gold tokens per source")
        ax.tick_params(labelsize=8)
    else:
        _empty(ax, "no gold documents")
    return _save(fig, out, "mix.png")


def _stacked(ax, counts: dict[str, Counter], title: str) -> None:  # noqa: ANN001
    if not counts:
        _empty(ax)
        return
    sources = sorted(counts)
    keys = [k for k, _ in sum(counts.values(), Counter()).most_common(6)]
    bottom = np.zeros(len(sources))
    for k in keys:
        vals = np.array([counts[s][k] / max(sum(counts[s].values()), 1) for s in sources])
        ax.bar(sources, vals, bottom=bottom, label=k)
        bottom += vals
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title(title)
    ax.tick_params(labelsize=8)


def _lengths(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 2, w=5.2, h=3.0)
    chars: dict[str, list[int]] = defaultdict(list)
    for r in data.profile:
        if not r["example"] and r["n_chars"]:
            chars[r["source"]].append(r["n_chars"])
    _hist(axes[0][0], chars, "characters per record (sampled, log)")
    tokens: dict[str, list[int]] = defaultdict(list)
    for r in data.tokens:
        if r["n_tokens"]:
            tokens[r["source"]].append(r["n_tokens"])
    _hist(axes[0][1], tokens, "tokens per gold document (log)")
    return _save(fig, out, "lengths.png")


def _hist(ax, values: dict[str, list[int]], title: str) -> None:  # noqa: ANN001
    if not values:
        _empty(ax)
        return
    top = max(max(v) for v in values.values())
    bins = np.logspace(0, np.log10(max(top, 10)), 30)
    for source, v in sorted(values.items()):
        ax.hist(v, bins=bins, alpha=0.5, label=source)
    ax.set_xscale("log")
    ax.legend(fontsize=7)
    ax.set_title(title)


def _duplicates(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 2, w=5.2, h=3.0)
    ax = axes[0][0]
    total = Counter(r["source"] for r in data.quarantine)
    dup: dict[str, Counter] = {k: Counter() for k in ("exact_duplicate", "near_duplicate")}
    clusters: Counter = Counter()
    for r in data.quarantine:
        if r["reason"] in dup:
            dup[r["reason"]][r["source"]] += 1
            clusters[r["duplicate_of"]] += 1
    sources = sorted(set(dup["exact_duplicate"]) | set(dup["near_duplicate"]) | set(total))
    if sources and data.stats["bronze"]:
        x = np.arange(len(sources))
        ax.bar(x - 0.2, [dup["exact_duplicate"][s] for s in sources], 0.4, label="exact")
        ax.bar(x + 0.2, [dup["near_duplicate"][s] for s in sources], 0.4, label="near")
        ax.set_xticks(x, sources, fontsize=8)
        ax.legend(fontsize=7)
        share = data.stats["duplicates"] / data.stats["bronze"]
        ax.set_title(f"duplicates per source ({share:.1%} of records)")
    else:
        _empty(ax)
    ax = axes[0][1]
    if clusters:
        sizes = Counter(n + 1 for n in clusters.values())
        ks = sorted(sizes)
        ax.bar([str(k) for k in ks], [sizes[k] for k in ks], color="#937860")
        ax.set_xlabel("documents per cluster (kept + its duplicates)")
        ax.set_title("duplicate cluster sizes")
    else:
        _empty(ax, "no duplicates")
    return _save(fig, out, "duplicates.png")


def _pii(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 1, w=7.0, h=3.2)
    ax = axes[0][0]
    scrubbed = [r for r in data.pii if r["kind"] == "scrubbed"]
    if scrubbed:
        entities = sorted({r["entity"] for r in scrubbed})
        sources = sorted({r["source"] for r in scrubbed})
        grid = np.zeros((len(sources), len(entities)))
        for r in scrubbed:
            grid[sources.index(r["source"]), entities.index(r["entity"])] += r["count"] or 0
        im = ax.imshow(grid, aspect="auto", cmap="Purples")
        ax.set_xticks(range(len(entities)), entities, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(sources)), sources, fontsize=8)
        for (i, j), v in np.ndenumerate(grid):
            dark = v > grid.max() / 2
            ax.text(
                j, i, f"{int(v):,}", ha="center", va="center", fontsize=7, color="white" if dark else "black"
            )
        fig.colorbar(im, ax=ax)
        ax.set_title("PII spans scrubbed per source and entity")
    else:
        _empty(ax, "no PII scrubbed this day")
    return _save(fig, out, "pii.png")


def _trends(data: _Data, out: Path) -> str:
    fig, axes = _figure(1, 1, w=8.0, h=3.0)
    ax = axes[0][0]
    if data.trend:
        days = list(data.trend)
        for key, label in (("bronze_out", "bronze"), ("silver_out", "silver"), ("gold_out", "gold")):
            ax.plot(days, [data.trend[d].get(key, np.nan) for d in days], marker="o", label=label)
        dropped = [
            data.trend[d].get("silver_in", np.nan) - data.trend[d].get("silver_out", np.nan) for d in days
        ]
        ax.plot(days, dropped, marker="x", linestyle="--", label="dropped in silver")
        ax.axvline(data.day, color="#999", linewidth=0.8)
        ax.legend(fontsize=7)
        ax.set_title("documents per day")
        fig.autofmt_xdate()
    else:
        _empty(ax, "no earlier runs")
    return _save(fig, out, "trends.png")


def _drift(data: _Data, out: Path) -> str | None:
    rows = [r for r in data.drift if r["statistic"] is not None]
    if not rows:
        return None  # nothing compared yet: the table says why (no baseline, too few documents)
    fig, axes = _figure(1, 1, w=8.0, h=max(2.4, 0.22 * len(rows) + 1))
    ax = axes[0][0]
    rows = sorted(rows, key=lambda r: (r["check_name"], r["source"], r["metric"]))
    labels = [f"{r['check_name']} · {r['source']} · {r['metric']}" for r in rows]
    ratio = [
        (r["statistic"] / r["threshold"]) if r["statistic"] is not None and r["threshold"] else 0
        for r in rows
    ]
    colors = {"drift": "#c44e52", "ok": "#55a868", "no_baseline": "#bbbbbb", "too_few": "#bbbbbb"}
    ax.barh(range(len(rows))[::-1], ratio, color=[colors.get(r["status"], "#999") for r in rows])
    ax.set_yticks(range(len(rows))[::-1], labels, fontsize=6)
    ax.axvline(1.0, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xlabel("statistic / threshold (red: drifted, the p-value under alpha where the test has one)")
    ax.set_title("drift against the trailing window")
    return _save(fig, out, "drift.png")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;display:block;margin:.5em 0 1.5em}
.fail{color:#b00;font-weight:bold}.ok{color:#070}pre{white-space:pre-wrap;margin:0;font-size:11px}"""


def _page(data: _Data, images: dict[str, str | None]) -> str:
    s = data.stats
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>corpus report {data.day}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(data.spec.name)}: corpus of {data.day}</h1>",
        f"<p>{s['bronze']:,} records · {s['silver']:,} in silver · {s['quarantine']:,} dropped · "
        f"{s['duplicates']:,} duplicates · {s['gold_documents']:,} gold documents · {s['gold_tokens']:,} tokens "
        f"· {s['gold_chunks']:,} chunks</p>",
    ]
    failed = [r for r in data.quality if not r["success"]]
    drifted = [r for r in data.drift if r["status"] == "drift"]
    verdict = "ok" if not failed and not drifted else "fail"
    parts.append(
        f"<p class='{verdict}'>gate: {len(data.quality)} checks, {len(failed)} failed; "
        f"drift: {len(drifted)} source/metric pairs drifted</p>"
    )
    sections = [
        ("Funnel and drop reasons", "funnel"),
        ("Quality signals (dashed: the spec's thresholds)", "signals"),
        ("Language, sources and tokens", "mix"),
        ("Lengths", "lengths"),
        ("Duplicates", "duplicates"),
        ("PII", "pii"),
        ("Trends", "trends"),
        ("Drift", "drift"),
    ]
    if drifted:  # what held (or would hold) the day comes first
        sections.insert(0, sections.pop())
    for title, key in sections:
        if images.get(key):
            parts.append(f"<h2>{title}</h2><img src='{images[key]}' alt='{key}'>")
    canaries = [r for r in data.pii if r["kind"] == "canary"]
    if canaries:
        survived = sum(r["survived"] or 0 for r in canaries)
        parts.append(
            f"<p class='{'ok' if not survived else 'fail'}'>PII canaries: {sum(r['count'] or 0 for r in canaries):,} "
            f"values planted across {len({r['policy'] for r in canaries})} policies, {survived} survived</p>"
        )
    if data.drift:
        parts.append("<h2>Drift results</h2>")
        parts.append(
            _table(
                sorted(data.drift, key=lambda r: (r["status"] != "drift", r["check_name"], r["source"])),
                [
                    "check_name",
                    "level",
                    "source",
                    "metric",
                    "test",
                    "status",
                    "statistic",
                    "p_value",
                    "threshold",
                    "n_day",
                    "n_baseline",
                    "baseline_days",
                    "outcome",
                ],
            )
        )
    if data.quality:
        parts.append("<h2>Quality gate</h2>")
        parts.append(
            _table(
                data.quality, ["job", "table_name", "expectation", "level", "success", "observed", "outcome"]
            )
        )
    examples = [r for r in data.profile if r["example"]]
    if examples:
        parts.append("<h2>Examples per drop reason (scrubbed text)</h2>")
        rows = sorted(examples, key=lambda r: (r["reason"] or "", r["source"]))
        body = "".join(
            f"<tr><td>{html.escape(r['reason'] or '')}</td><td>{html.escape(r['source'])}</td>"
            f"<td>{html.escape(r['doc_id'])}</td><td><pre>{html.escape(r['excerpt'] or '')}</pre></td></tr>"
            for r in rows
        )
        parts.append(
            f"<table><tr><th>reason</th><th>source</th><th>doc_id</th><th>excerpt</th></tr>{body}</table>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def write_report(
    spec: PipelineSpec,
    settings: Settings,
    day: date,
    days: int = 14,
    out: Path | None = None,
    catalog: Catalog | None = None,
) -> Path:
    """Writes the day's report (page and plots) to ``out`` (default ``report_dir``); returns the page's path."""
    from llm_lakehouse.core.catalog import open_catalog

    started = time.monotonic()
    out = out or report_dir(settings, day)
    out.mkdir(parents=True, exist_ok=True)
    data = _Data(catalog or open_catalog(settings), spec, day, days)
    images = {
        "funnel": _funnel(data, out),
        "signals": _signals(data, out),
        "mix": _mix(data, out),
        "lengths": _lengths(data, out),
        "duplicates": _duplicates(data, out),
        "pii": _pii(data, out),
        "trends": _trends(data, out),
        "drift": _drift(data, out),
    }
    page = out / PAGE
    page.write_text(_page(data, images), encoding="utf-8")
    (out / "report.json").write_text(
        json.dumps(
            {"date": day.isoformat(), "stats": data.stats, "seconds": round(time.monotonic() - started, 2)}
        )
    )
    log.info("corpus report %s in %.1f s", page, time.monotonic() - started)
    return page
