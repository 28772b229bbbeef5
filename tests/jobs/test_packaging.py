"""pyproject's extras say what requirements/*.in say: `pip install .[jobs]` gets the env `make setup` builds."""

from __future__ import annotations

import re
import tomllib

import pytest

from llm_lakehouse.core.settings import REPO_ROOT

# In an env's .in file but not a runtime dependency of the package: test and lint tools, and torch's own
# dependencies (torch itself is installed apart: PyPI's Linux wheel is the CUDA build).
NOT_RUNTIME = {
    "jobs": {"pytest", "ruff", "import-linter", "sympy", "networkx"},
    "airflow": {"pytest", "playwright"},
}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requirements(env: str) -> dict[str, str]:
    lines = (REPO_ROOT / "requirements" / f"{env}.in").read_text().splitlines()
    return {_name(line): line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("env", sorted(NOT_RUNTIME))
def test_extra_matches_the_env_requirements(env: str) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(r): r for r in project["dependencies"]}
    extra = {_name(r): r for r in project["optional-dependencies"][env]}
    wanted = {n: r for n, r in _requirements(env).items() if n not in NOT_RUNTIME[env]}
    missing = {n: r for n, r in wanted.items() if n not in extra and n not in base}
    assert not missing, (
        f"requirements/{env}.in has {sorted(missing.values())}; pyproject's [{env}] extra lacks them"
    )
    unknown = sorted(set(extra) - set(wanted))
    assert not unknown, f"pyproject's [{env}] extra has {unknown}, which requirements/{env}.in does not"
    # Same pins and extras, character for character (base dependencies are unpinned on purpose).
    differ = {
        n: (extra[n], wanted[n]) for n in extra if extra[n].replace(" ", "") != wanted[n].replace(" ", "")
    }
    assert not differ, f"pyproject [{env}] and requirements/{env}.in disagree: {differ}"
