"""Drift checks on real text: days of man pages through the bundled spec's own pipes, judged as the gate judges.

Labels come from how each day was made, never from the checks: a normal day is more pages of the same kind,
a planted day swaps a source's pages for German ones, floods it with templated boilerplate, or cuts each page
to a tenth. The Spark path (the gate on a branch, ops.drift_results, the report) is test_drift_gate.py's.
"""

from __future__ import annotations

import json
import random
from datetime import date
from itertools import islice

import numpy as np
import pyarrow.parquet as pq
import pytest

from llm_lakehouse.core import drift as d
from llm_lakehouse.devtools.drift_eval import _chain, pooled, side
from llm_lakehouse.devtools.realtext import man_pages
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.spark.drift import check_outcome
from llm_lakehouse.spark.wap import Gate

N = 60  # documents per source and day
SOURCES = ("docs", "web")


@pytest.fixture(scope="module")
def real():
    """Five days of two sources of English man pages (distinct pages), and the installed German pages."""
    english = [text for _, text in islice(man_pages(), 2 * 5 * N + 40)]
    random.Random(7).shuffle(english)
    days = [
        {s: english[(2 * i + j) * N : (2 * i + j + 1) * N] for j, s in enumerate(SOURCES)} for i in range(5)
    ]
    german = [text for _, text in man_pages("de")][:N]
    assert len(german) == N and all(len(x) == N for day in days for x in day.values())
    return days, german


class Judge:
    """The bundled spec's checks on a day against pooled history; sides computed once per (day, source)."""

    def __init__(self, spec, embed=None) -> None:
        self.spec, self.chain, self.embed, self.cache = spec, _chain(spec), embed, {}

    def side(self, key, source, texts) -> d.Side:
        if (key, source) not in self.cache:
            self.cache[(key, source)] = side(self.spec, source, texts, self.chain, self.embed)
        return self.cache[(key, source)]

    def __call__(self, day, history, day_key, history_keys, spec=None) -> list[d.DriftResult]:
        spec = spec or self.spec
        out = []
        for source in SOURCES:
            today = self.side(day_key, source, day[source])
            base = pooled(
                [self.side(k, source, h[source]) for k, h in zip(history_keys, history, strict=True)]
            )
            for check in spec.quality.drift.checks:
                for stage in ("silver", "gold"):
                    out += d.evaluate(check, spec.quality.drift, source, today, base, stage)
        return out


@pytest.fixture(scope="module")
def judge(spec):
    return Judge(spec)


def flagged(results) -> set[tuple[str, str]]:
    return {(r.check, r.source) for r in results if r.drifted}


def test_normal_real_days_are_not_flagged(real, judge):
    days, _ = real
    for i in range(len(days)):  # each day against the other four: twenty comparisons per check
        history = [x for j, x in enumerate(days) if j != i]
        results = judge(days[i], history, i, [j for j in range(len(days)) if j != i])
        assert not flagged(results), [r.line() for r in results if r.drifted]
        compared = {r.check for r in results if r.status == d.OK}
        assert {"length_shift", "language_mix", "outcome_mix", "signal_shift"} <= compared


def test_normal_days_of_the_sample_corpus_are_not_flagged(spec, tmp_path):
    days = default_days(date(2026, 9, 1), 5)
    generate(tmp_path, days, docs_per_source=40, seed=11)
    sample = [_read_day(tmp_path / day.isoformat()) for day in days]
    judge = Judge(spec)
    for i in range(len(sample)):
        history = [x for j, x in enumerate(sample) if j != i]
        keys = [("s", j) for j in range(len(sample)) if j != i]
        results = []
        for source in sample[i]:
            today = judge.side(("s", i), source, sample[i][source])
            base = pooled(
                [judge.side(k, source, h.get(source, [])) for k, h in zip(keys, history, strict=True)]
            )
            for check in spec.quality.drift.checks:
                results += d.evaluate(check, spec.quality.drift, source, today, base, "silver")
        assert not flagged(results), [r.line() for r in results if r.drifted]


def _read_day(folder) -> dict[str, list[str]]:
    out = {}
    for part in sorted(folder.glob("*/part-0.*")):
        if part.suffix == ".parquet":
            texts = pq.read_table(part).column("text").to_pylist()
        else:
            texts = []
            for line in part.read_bytes().splitlines():
                try:
                    texts.append(str(json.loads(line).get("text") or ""))
                except (ValueError, AttributeError):
                    texts.append(line.decode("utf-8", "replace"))
        out[part.parent.name] = texts
    return out


def test_a_source_switching_language_is_blocked_by_the_language_mix(real, judge):
    days, german = real
    planted = {"docs": german, "web": days[4]["web"]}
    results = judge(planted, days[:4], "german", [0, 1, 2, 3])
    assert ("language_mix", "docs") in flagged(results)
    assert not {c for c, s in flagged(results) if s == "web"}
    mix = next(r for r in results if r.check == "language_mix" and r.source == "docs")
    assert mix.statistic > 0.8 and mix.p_value < 1e-6 and "de" in mix.detail["day_top"]
    gate = _gate(judge.spec, results, "silver")
    assert gate.outcome == "blocked" and "language_mix" in [o.name for o in gate.blocking]


def test_a_source_flooded_with_templated_boilerplate_is_caught(real, judge):
    days, _ = real
    names = [t.split()[0] for t in days[0]["docs"]]
    template = (
        "Get the best deals on {} today! Click here to subscribe to our newsletter and save {}% on your next "
        "order. Unsubscribe at any time. All rights reserved."
    )
    flood = [template.format(names[i % len(names)], 5 + i % 40) for i in range(3 * N // 4)]
    planted = {"docs": days[4]["docs"], "web": days[4]["web"][: N // 4] + flood}
    results = judge(planted, days[:4], "flood", [0, 1, 2, 3])
    assert ("outcome_mix", "web") in flagged(results)
    assert ("signal_shift", "web") in flagged(results)
    assert not {c for c, s in flagged(results) if s == "docs"}
    outcome = next(r for r in results if r.check == "outcome_mix" and r.source == "web")
    short = "quality:gopher_short_doc"  # the templates are under 50 words: the rule that now takes most
    assert outcome.detail["day_top"].get(short, 0) > 0.5 > 0.2 > outcome.detail["baseline_top"].get(short, 0)


def test_a_source_shrinking_to_a_tenth_is_blocked_by_the_length_check(real, judge):
    days, _ = real
    planted = {"docs": [t[: max(1, len(t) // 10)] for t in days[4]["docs"]], "web": days[4]["web"]}
    results = judge(planted, days[:4], "shrunk", [0, 1, 2, 3])
    assert ("length_shift", "docs") in flagged(results)
    length = next(r for r in results if r.check == "length_shift" and r.source == "docs")
    assert length.statistic > 0.8 and length.detail["day_median"] < length.detail["baseline_median"] / 5


def test_warning_checks_warn_and_blocking_checks_block_as_declared(real, judge):
    days, _ = real
    names = [t.split()[0] for t in days[0]["docs"]]
    flood = [f"Buy {n} now! Best price for {n}. Click here. All rights reserved." for n in names]
    results = judge({"docs": days[4]["docs"], "web": flood}, days[:4], "flood2", [0, 1, 2, 3])
    warning = [r for r in results if r.check == "signal_shift"]
    assert any(r.drifted for r in warning) and {r.level for r in warning} == {"warning"}
    check = next(c for c in judge.spec.quality.drift.checks if c.name == "signal_shift")
    outcome = check_outcome(check, warning, "silver")
    assert not outcome.success and outcome.level == "warning"
    assert Gate([outcome], accept_warnings=False).outcome == "blocked"
    assert Gate([outcome], accept_warnings=True).outcome == "accepted_warnings"


def test_no_baseline_and_too_few_documents_never_raise_an_alarm(real, judge):
    days, german = real
    # One earlier day only (min_history 3): every comparison says so, none fails.
    results = judge({"docs": german, "web": days[4]["web"]}, days[:1], "german", [0])
    assert results and {r.status for r in results} <= {d.NO_BASELINE, d.TOO_FEW}
    assert not flagged(results)
    assert all(
        "published day(s) in the window" in r.detail["note"] for r in results if r.status == d.NO_BASELINE
    )
    # A source with a handful of documents: too few for any test, whatever they look like.
    results = judge({"docs": german[:5], "web": days[4]["web"]}, days[:4], "five", [0, 1, 2, 3])
    docs = [r for r in results if r.source == "docs"]
    assert {r.status for r in docs} == {d.TOO_FEW} and not flagged(results)
    summary = d.summary(docs)
    assert summary["observed_value"] == 0 and summary[d.TOO_FEW]


def test_embedding_drift_separates_topics_on_real_vectors(spec, real):
    from llm_lakehouse.spark.embeddings import get_backend

    e = spec.gold.rag.embedding
    backend = get_backend(e.backend, e.model, "cpu", e.batch_size)
    days, german = real
    # Page openings (NAME, SYNOPSIS): 40 a side keeps the model's work to seconds on two cores.
    english = np.asarray(backend.encode([t[:400] for t in days[0]["docs"][:40] + days[1]["docs"][:40]]))
    same = np.asarray(backend.encode([t[:400] for t in days[2]["docs"][:40]]))
    other = np.asarray(backend.encode([t[:400] for t in german[:40]]))
    check = next(c for c in spec.quality.drift.checks if c.name == "topic_shift")
    base = d.Side(embeddings=english, days=3)
    calm = d.evaluate(check, spec.quality.drift, "docs", d.Side(embeddings=same), base, "gold")[0]
    moved = d.evaluate(check, spec.quality.drift, "docs", d.Side(embeddings=other), base, "gold")[0]
    assert calm.status == d.OK, calm.line()
    assert moved.status == d.DRIFT and moved.p_value < 0.01
    assert moved.detail["centroid_shift"] > 3 * calm.detail["centroid_shift"]


def _gate(spec, results, stage) -> Gate:
    checks = [c for c in spec.quality.drift.checks if any(r.check == c.name for r in results)]
    return Gate([check_outcome(c, [r for r in results if r.check == c.name], stage) for c in checks], False)
