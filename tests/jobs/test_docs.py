"""The repository explains itself: the README's pictures exist and are committed, and the architecture diagram
is what the spec and the stages draw today."""

from __future__ import annotations

import re
import subprocess

from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.devtools import architecture


def test_architecture_diagram_is_drawn_from_the_current_spec(tmp_path):
    drawn = architecture.draw(load_spec(architecture.DEFAULT_SPEC), tmp_path / "architecture.png")
    assert drawn.read_bytes() == architecture.DEFAULT_OUT.read_bytes(), (
        "docs/images/architecture.png is stale: run `make docs` and commit it"
    )


def test_readme_links_only_committed_files():
    readme = (REPO_ROOT / "README.md").read_text()
    targets = {t for t in re.findall(r"\]\(([^)#:]+)\)", readme) if not t.startswith("http")}
    assert {"docs/images/architecture.png", "docs/images/backfill-dialog.png"} <= targets
    for target in sorted(targets):
        path = REPO_ROOT / target
        assert path.exists(), target
        ignored = subprocess.run(["git", "check-ignore", "-q", target], cwd=REPO_ROOT, check=False)
        assert ignored.returncode != 0, f"README links {target}, which .gitignore keeps out of the repository"
