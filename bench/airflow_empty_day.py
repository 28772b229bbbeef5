"""An empty day through Airflow, all three tasks, from trigger to success, side by side with its anchor.

- **empty day**: nothing landed; each task finds nothing to process and settles its stage without Spark
  (``spark/empty_day.py``: the gate on zero rows, the audit, the lineage);
- **anchor**: a day whose only landed file is one no reader takes (a ``README.txt``): nothing to process
  either, but each task runs its spark-submit, as every empty day did before the empty-day path.

One ``airflow standalone`` (SQLite, LocalExecutor: the embedded default) on a throwaway ``LAKEHOUSE_HOME``
whose lake already holds one built day (tables and history exist, as on any night but the first). The
scheduled run that unpausing starts (the last interval, nothing landed) is waited for first and reported
too. Wall time is from the REST trigger to the run's success as the client sees it; the run's own duration
and each task's are Airflow's.

Usage: .venvs/jobs/bin/python bench/airflow_empty_day.py   (runs itself in the Airflow env)
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_PYTHON = REPO / ".venvs" / "airflow" / "bin" / "python"
JOBS_BIN = REPO / ".venvs" / "jobs" / "bin"
HISTORY, EMPTY, ANCHOR = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
PORT = 18093  # not 8793: the standalone serves task logs there


def _seconds(run: dict, start: str = "start_date", end: str = "end_date") -> float:
    return (datetime.fromisoformat(run[end]) - datetime.fromisoformat(run[start])).total_seconds()


def main() -> None:
    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.devtools.sample import generate
    from llm_lakehouse.devtools.standalone import DAG_ID, AirflowProcess, up

    spec = load_spec(REPO / "pipelines" / f"{DAG_ID}.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
        os.environ["LAKEHOUSE_HOME"] = str(Path(tmp, "lakehouse"))
        settings = Settings.from_env()
        generate(settings.landing, [HISTORY], docs_per_source=4)
        subprocess.run(
            [str(JOBS_BIN / "lakehouse"), "build", "--date", HISTORY.isoformat()],
            check=True,
            capture_output=True,
        )
        anchor = settings.landing / ANCHOR.isoformat() / spec.sources[0].name
        anchor.mkdir(parents=True)
        (anchor / "README.txt").write_text("notes about this feed, not a record file\n")
        process = AirflowProcess(Path(tmp, "airflow"), PORT)
        try:
            started = time.monotonic()
            af = up(process, spec.spark.pool)
            print(f"Airflow healthy after {time.monotonic() - started:.0f} s", file=sys.stderr)
            rows = []
            scheduled = af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=scheduled")["dag_runs"]
            ids = [r["dag_run_id"] for r in scheduled]
            af.wait_runs(ids)
            for r in scheduled:
                rows.append(("unpausing's run: nothing landed", r["dag_run_id"], None))
            for label, day in (("empty day: nothing landed", EMPTY), ("anchor: one unreadable file", ANCHOR)):
                clock = time.monotonic()
                run_id = af.trigger(day)
                state = af.wait_runs([run_id])[run_id]
                rows.append((label, run_id, time.monotonic() - clock))
                print(f"{label}: {state} in {time.monotonic() - clock:.0f} s", file=sys.stderr)
            print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}")
            print("command: .venvs/jobs/bin/python bench/airflow_empty_day.py")
            print()
            print(
                "| day | state | trigger to success (client) | run (Airflow) | bronze / silver / gold task |"
            )
            print("|---|---|---|---|---|")
            for label, run_id, wall in rows:
                run = af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
                tis = {
                    t["task_id"]: t
                    for t in af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")[
                        "task_instances"
                    ]
                }
                tasks = " / ".join(f"{tis[s]['duration']:.1f} s" for s in ("bronze", "silver", "gold"))
                shown = f"**{wall:.1f} s**" if wall is not None else "(scheduled)"
                print(f"| {label} | {run['state']} | {shown} | {_seconds(run):.1f} s | {tasks} |")
        finally:
            process.stop()


if __name__ == "__main__":
    # Venv interpreters resolve to the same base binary: the environment is told by sys.prefix.
    if Path(sys.prefix).resolve() != AIRFLOW_PYTHON.parents[1].resolve() and AIRFLOW_PYTHON.exists():
        os.execv(str(AIRFLOW_PYTHON), [str(AIRFLOW_PYTHON), __file__, *sys.argv[1:]])
    main()
