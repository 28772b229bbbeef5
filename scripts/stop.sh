#!/usr/bin/env bash
# make stop: stops the Airflow standalone that `make run` started (its whole process group).
set -euo pipefail
cd "$(dirname "$0")/.."
export LAKEHOUSE_HOME=${LAKEHOUSE_HOME:-$PWD/var}
[ -x .venvs/airflow/bin/python ] || exit 0
.venvs/airflow/bin/python -m llm_lakehouse.devtools.standalone down
