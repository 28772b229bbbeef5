"""The architecture diagram in the README (``docs/images/architecture.png``), drawn from the spec and the stages.

Sources, stages and tables come from the declarations the code runs on (the spec, ``core/stages.py``, the
tables' lineage), so the picture cannot drift from them: a test redraws it and compares the bytes.

    python -m llm_lakehouse.devtools.architecture            # or: make docs
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from llm_lakehouse.core.settings import REPO_ROOT  # noqa: E402
from llm_lakehouse.core.spec import PipelineSpec, load_spec  # noqa: E402
from llm_lakehouse.core.stages import DAY_STAGES, LANDING  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "docs" / "images" / "architecture.png"
DEFAULT_SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
COLORS = {LANDING: "#e8e8e8", "bronze": "#e6c9a8", "silver": "#d9dde3", "gold": "#f2d98c", "ops": "#cfe3cf"}
STAGE_COLOR = "#ffffff"
BOX_W, ROW_H = 3.0, 0.9


def _box(ax, x: float, y: float, text: str, color: str, height: float = 0.7) -> None:  # noqa: ANN001
    ax.add_patch(
        FancyBboxPatch(
            (x - BOX_W / 2, y - height / 2),
            BOX_W,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=color,
            edgecolor="#555555",
            linewidth=1,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=7.5)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:  # noqa: ANN001
    ax.add_patch(
        FancyArrowPatch(
            (start[0] + BOX_W / 2, start[1]),
            (end[0] - BOX_W / 2, end[1]),
            arrowstyle="-|>",
            mutation_scale=8,
            color="#777777",
            linewidth=0.8,
            shrinkA=1,
            shrinkB=1,
        )
    )


def _stage_text(spec: PipelineSpec, stage: str) -> str:
    lines = [f"stage {stage}: spark_jobs/{DAY_STAGES[stage].entry_point}"]
    if stage == "silver":
        chain = " → ".join(p.pipe for p in spec.silver.pipes) + f" → dedup ({spec.dedup.scope})"
        lines += textwrap.wrap(chain, 38)
    elif stage == "gold":
        lines.append(f"tokens: {spec.gold.tokenizer.name}")
        if spec.gold.rag.enabled:
            lines.append(f"embeddings: {spec.gold.rag.embedding.model}")
    else:
        lines += textwrap.wrap(DAY_STAGES[stage].summary, 38)
    if DAY_STAGES[stage].depends_on_past:
        lines.append("depends on the day before")
    lines.append("write → audit (quality gate) → publish")
    return "\n".join(lines)


def draw(spec: PipelineSpec, out: Path) -> Path:
    """Writes the diagram to ``out`` (PNG, no timestamp: the same spec gives the same bytes)."""
    columns: list[list[tuple[str, str, str]]] = [
        [
            (f"{LANDING}.{s.name}", f"{LANDING}/<day>/{s.name}/\n({s.format})", COLORS[LANDING])
            for s in spec.sources
        ]
    ]
    for name, stage in DAY_STAGES.items():
        columns.append([(f"stage:{name}", _stage_text(spec, name), STAGE_COLOR)])
        columns.append([(t, t, COLORS.get(t.split(".")[0], "#ffffff")) for t in stage.outputs])
    rows = max(len(c) for c in columns)
    fig, ax = plt.subplots(figsize=(3.4 * len(columns), 1.1 * rows + 0.8), dpi=100)
    where: dict[str, tuple[float, float]] = {}
    for i, column in enumerate(columns):
        x = i * (BOX_W + 0.55)
        for j, (key, text, color) in enumerate(column):
            y = (rows - 1) * ROW_H / 2 - (j - (len(column) - 1) / 2) * ROW_H
            is_stage = key.startswith("stage:")
            height = min(ROW_H * rows - 0.1, 0.32 + 0.14 * text.count("\n")) if is_stage else 0.6
            _box(ax, x, y, text, color, height)
            where[key] = (x, y)
    for name, stage in DAY_STAGES.items():
        for ident in stage.inputs(spec):
            if ident in where:
                _arrow(ax, where[ident], where[f"stage:{name}"])
        for ident in stage.outputs:
            _arrow(ax, where[f"stage:{name}"], where[ident])
    ax.set_xlim(-BOX_W / 2 - 0.1, (len(columns) - 1) * (BOX_W + 0.55) + BOX_W / 2 + 0.1)
    ax.set_ylim(-0.6, rows * ROW_H - 0.3)
    ax.axis("off")
    ax.set_title(
        f"{spec.name}: one Airflow task per stage, one Spark job per task, Iceberg tables per layer",
        fontsize=9,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    print(draw(load_spec(args.spec), args.out))


if __name__ == "__main__":
    main()
