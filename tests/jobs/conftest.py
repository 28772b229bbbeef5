"""Fixtures for the jobs env: an isolated lakehouse (SQLite catalog + file warehouse) and one SparkSession."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.devtools.sample import default_days, generate

SPEC_PATH = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
# Jobs emit DataHub lineage at their end: to a file under each test's LAKEHOUSE_HOME, not Lite.
os.environ.setdefault("LAKEHOUSE_DATAHUB_SINK", "file")

# Days built through gold by the `gold` fixture: sample days, and one of hand-written documents on distinct
# topics whose questions have a known answer (search).
GOLD_DAYS = default_days(date(2026, 8, 1), 3)
FACTS = date(2026, 8, 10)
TOPICS = {
    "sourdough": (
        "How do I keep a sourdough starter alive?",
        "A sourdough starter is a living culture of wild yeast and bacteria that bakers keep in a jar on the "
        "kitchen counter. It needs to be fed with equal weights of flour and water every day, and the baker "
        "should discard part of it before each feeding so that the jar does not overflow. When the starter "
        "doubles in size within a few hours and smells pleasantly sour, it is ready to leaven a loaf of bread. "
        "A starter that is kept in the fridge can be fed once a week instead.",
    ),
    "volcano": (
        "Why do volcanoes erupt?",
        "Volcanoes erupt when molten rock from deep inside the earth rises toward the surface. The magma is "
        "lighter than the solid rock around it, and the gases that are dissolved in it expand as the pressure "
        "drops on the way up. When the pressure of those gases becomes greater than the strength of the rock "
        "that caps the vent, the mountain releases lava, ash and steam into the air. Some eruptions are quiet "
        "flows of lava, while others are violent explosions that can be heard far away.",
    ),
    "backup": (
        "How often should the database be backed up?",
        "Our company database is backed up every night at one in the morning, and each backup is kept for "
        "thirty days in a separate storage account. Before an upgrade the operations team also takes a manual "
        "snapshot, and they test a full restore of the backup to a staging server once a month to make sure "
        "that the files can actually be read. If a backup job fails, the team on call receives an alert and "
        "must run it again before the start of the working day.",
    ),
    "bees": (
        "How do honey bees make honey?",
        "Honey bees collect nectar from flowers and carry it back to the hive in a special stomach. In the hive "
        "the worker bees pass the nectar from one to another and add enzymes that break the sugars down. They "
        "store it in the wax cells of the comb and fan it with their wings so that most of the water "
        "evaporates. When the honey is thick enough, the bees seal each cell with a cap of wax, and the colony "
        "can then eat it during the long months of winter when there are no flowers.",
    ),
}


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


def isolated_lake(spark, spec, home: Path, catalog: str) -> Settings:
    """A lakehouse of its own (home, SQLite catalog ``catalog``) registered in the running session: catalog
    properties are read when a catalog name is first used, so they can be added to a live session."""
    from llm_lakehouse.spark.session import ensure_tables

    lake = Settings.from_env(
        {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_CATALOG_NAME": catalog, "PATH": os.environ.get("PATH", "")}
    )
    lake.prepare()
    prefix = f"spark.sql.catalog.{catalog}"
    for key, value in lake.spark_conf().items():
        if key == prefix or key.startswith(prefix + "."):
            spark.conf.set(key, value)
    ensure_tables(spark, lake, spec)
    return lake


@pytest.fixture
def landing_dir(settings: Settings) -> Path:
    return settings.landing


def build_through_gold(spark, spec, settings, day, run_id, input_dir=None) -> dict:
    from llm_lakehouse.spark.bronze import ingest_day
    from llm_lakehouse.spark.context import RunContext
    from llm_lakehouse.spark.gold import build_day
    from llm_lakehouse.spark.silver import refine_day

    ingest_day(RunContext(spark, spec, settings, day, run_id), input_dir=input_dir)
    refine_day(RunContext(spark, spec, settings, day, run_id))
    return build_day(RunContext(spark, spec, settings, day, run_id))


@pytest.fixture(scope="session")
def gold(spark, spec, settings, tmp_path_factory) -> dict:
    """The first two sample days and the FACTS day built through gold (test_gold and test_serving read them;
    test_gold later builds the third sample day and reruns the second)."""
    generate(settings.landing, GOLD_DAYS, docs_per_source=4, seed=21)
    out = {d: build_through_gold(spark, spec, settings, d, f"gold__{d}") for d in GOLD_DAYS[:2]}
    facts = tmp_path_factory.mktemp("facts")
    (facts / "kb.jsonl").write_text(
        "".join(json.dumps({"id": k, "text": text}) + "\n" for k, (_, text) in TOPICS.items())
    )
    out[FACTS] = build_through_gold(spark, spec, settings, FACTS, "gold__facts", input_dir=facts)
    return out
