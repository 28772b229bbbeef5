"""datatrove's side of ``realtext_vs_datatrove.py``, run in ``.venvs/bench`` (datatrove and its pins, never in
``.venvs/jobs``): ``JsonlReader -> GopherRepetitionFilter -> GopherQualityFilter -> PIIFormatter ->
JsonlWriter`` over a folder of JSONL files.

Usage: .venvs/bench/bin/python bench/datatrove_chain.py IN_DIR WORK_DIR TASKS WORKERS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def datatrove_side(inp: str, out: str, tasks: int, workers: int) -> None:
    """Runs in .venvs/bench; prints the kept documents."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(inp, glob_pattern="*.jsonl", text_key="text", id_key="id"),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            PIIFormatter(),
            JsonlWriter(f"{out}/kept", compression=None),
        ],
        tasks=tasks,
        workers=workers,
        logging_dir=f"{out}/logs",
    ).run()
    print(json.dumps({"kept": sum(1 for p in Path(out, "kept").glob("*.jsonl") for _ in p.open())}))


if __name__ == "__main__":
    datatrove_side(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
