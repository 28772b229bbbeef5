#!/usr/bin/env bash
# Builds .venvs/bench: datatrove for the side-by-side silver benchmark, apart from the jobs env.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venvs/bench/bin/python ] || uv venv -q -p python3.11 .venvs/bench
uv pip install -q -p .venvs/bench/bin/python -r bench/requirements-datatrove.txt
.venvs/bench/bin/python -c "import importlib.metadata as m; print('datatrove', m.version('datatrove'), 'spacy', m.version('spacy'))"
