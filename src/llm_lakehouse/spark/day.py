"""Several stages of one day in one Spark application: what ``lakehouse build`` submits.

A stage's fixed cost is mostly starting things: the JVM and the SparkSession, Python's imports (pyspark,
pyarrow, Great Expectations), the first Python workers and their models, and a JVM still interpreting its
code. Each stage submitted on its own pays all of it again; here the three stages of a day pay it once and
run on a warm JVM and reused Python workers (``spark.python.worker.reuse``). Each stage is still a run of
its own: its lease, its write-audit-publish branch and gate, its ``LAKEHOUSE_RESULT`` line (printed as the
stage ends, so the caller shows progress), its lineage. A stage that fails stops the ones after it, as a
failed Airflow task would.

Airflow keeps one task per stage: the UI shows per-layer state and retries rerun one layer.

Arguments: sections separated by ``--``, each a stage name followed by that stage's own arguments, e.g.
``bronze --spec S --date D --run-id R -- silver --spec S --date D --run-id R``.
"""

from __future__ import annotations

import importlib
import sys

from llm_lakehouse.core.stages import DAY_STAGES


def plan(argv: list[str]) -> list[tuple[str, list[str]]]:
    """``[(stage, its arguments), ...]`` from ``stage args... -- stage args...``, in day order."""
    sections: list[list[str]] = [[]]
    for arg in argv:
        if arg == "--":
            sections.append([])
        else:
            sections[-1].append(arg)
    steps = [(s[0], s[1:]) for s in sections if s]
    names = [name for name, _ in steps]
    order = list(DAY_STAGES)
    if not steps or any(n not in DAY_STAGES for n in names):
        raise SystemExit(f"stages must be among {', '.join(order)}; got {', '.join(names) or 'none'}")
    if names != sorted(names, key=order.index) or len(set(names)) != len(names):
        raise SystemExit(f"stages must be distinct and in day order ({' -> '.join(order)}); got {names}")
    return steps


def main(argv: list[str] | None = None) -> None:
    ensured: set[str] = set()
    for stage, args in plan(sys.argv[1:] if argv is None else argv):
        # The tables are ensured once per spec in the application, by its first stage (~1 s a stage).
        spec = _spec_arg(args)
        extra = ["--tables-ensured"] if spec in ensured else []
        importlib.import_module(DAY_STAGES[stage].module).main([*args, *extra])
        ensured.add(spec)


def _spec_arg(args: list[str]) -> str:
    for i, arg in enumerate(args):
        if arg.startswith("--spec="):
            return arg.split("=", 1)[1]
        if arg == "--spec" and i + 1 < len(args):
            return args[i + 1]
    return ""
