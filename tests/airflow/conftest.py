"""Airflow-env fixtures: an isolated AIRFLOW_HOME and lakehouse, set before Airflow is first imported."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.datahub.airflow_env import plugin_env

BASE = Path(tempfile.mkdtemp(prefix="llm-lakehouse-airflow-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(BASE / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "LAKEHOUSE_HOME": str(BASE / "lakehouse"),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[*]"}),
    }
)
# DataHub: the jobs' lineage to a file sink, the Airflow plugin to a datahub-file connection, both
# under LAKEHOUSE_HOME/datahub (no GMS: nothing can time out).
os.environ.setdefault("LAKEHOUSE_DATAHUB_SINK", "file")
SETTINGS = Settings.from_env()
os.environ.update(plugin_env(SETTINGS))
os.environ["PATH"] = f"{SETTINGS.spark.bin}:{os.environ['PATH']}"
LAKEHOUSE_CLI = str(Path(SETTINGS.spark.bin) / "lakehouse")
SCREENSHOTS = REPO_ROOT / "docs" / "images"


def lakehouse(*args: str, env: dict[str, str] | None = None) -> str:
    """Runs the ``lakehouse`` CLI of the jobs env (pyiceberg lives there, not in the Airflow env)."""
    proc = subprocess.run(
        [LAKEHOUSE_CLI, *args], capture_output=True, text=True, env=os.environ | (env or {}), check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def stats(day: date, home: Path | None = None) -> dict:
    env = {"LAKEHOUSE_HOME": str(home)} if home else None
    return json.loads(lakehouse("stats", "--date", day.isoformat(), "--json", env=env))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB for dag.test()."""
    subprocess.run(
        ["airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ | {"PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"},
    )
    return Path(os.environ["AIRFLOW_HOME"])
