"""Fixtures for the jobs env: an isolated lakehouse (SQLite catalog + file warehouse) and one SparkSession."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_lakehouse.core.settings import REPO_ROOT, Settings

SPEC_PATH = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
# Jobs emit DataHub lineage at their end: to a file under each test's LAKEHOUSE_HOME, not Lite.
os.environ.setdefault("LAKEHOUSE_DATAHUB_SINK", "file")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("lakehouse")
    return Settings.from_env({"LAKEHOUSE_HOME": str(home), "PATH": os.environ.get("PATH", "")})


@pytest.fixture(scope="session")
def spark(settings: Settings, spec) -> Iterator:
    from llm_lakehouse.spark.session import ensure_tables, spark_session

    session = spark_session(settings, "tests")
    ensure_tables(session, settings, spec)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spec():
    from llm_lakehouse.core.spec import load_spec

    return load_spec(SPEC_PATH)


@pytest.fixture
def landing_dir(settings: Settings) -> Path:
    return settings.landing
