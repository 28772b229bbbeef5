#!/usr/bin/env bash
# make stop: stops what `make run` (Airflow standalone, its whole process group) and `make run-prod` (every
# service of the production topology, PostgreSQL last) started.
set -euo pipefail
cd "$(dirname "$0")/.."
export LAKEHOUSE_HOME=${LAKEHOUSE_HOME:-$PWD/var}
[ -x .venvs/airflow/bin/python ] || exit 0
.venvs/airflow/bin/python -m llm_lakehouse.devtools.standalone down
if [ -d "$LAKEHOUSE_HOME/prod/run" ]; then
  .venvs/airflow/bin/python -m llm_lakehouse.devtools.prod down
fi
