#!/usr/bin/env bash
# make run-prod: the production topology as local processes (PostgreSQL, Redis, Airflow with the
# CeleryExecutor and a worker per queue, a Spark standalone Master and Worker; llm_lakehouse.devtools.prod),
# then a REST backfill of the sample days, then the counts. Everything keeps running; `make stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venvs/jobs/bin/lakehouse ] && [ -x .venvs/airflow/bin/airflow ] || { echo "run 'make setup' first" >&2; exit 1; }
export LAKEHOUSE_HOME=${LAKEHOUSE_HOME:-$PWD/var}
export LAKEHOUSE_DATAHUB_SINK=${LAKEHOUSE_DATAHUB_SINK:-lite}
eval "$(.venvs/airflow/bin/python -m llm_lakehouse.datahub.airflow_env)"
FIRST=${DAY:-2026-11-01}
DAYS=${DAYS:-3}
PORT=${PORT:-8080}
PROD=".venvs/airflow/bin/python -m llm_lakehouse.devtools.prod --port $PORT"
start=$(date +%s)

echo "==> sample corpus -> $LAKEHOUSE_HOME/landing"
.venvs/jobs/bin/lakehouse sample --out "$LAKEHOUSE_HOME/landing"
echo "==> services (logs: $LAKEHOUSE_HOME/prod/logs)"
$PROD up
echo "==> corpus_nightly: a backfill of $DAYS days from $FIRST"
$PROD build --date "$FIRST" --days "$DAYS"
# The jobs' view of the same lakehouse: the PostgreSQL catalog, through the same settings.
eval "$(.venvs/airflow/bin/python -m llm_lakehouse.devtools.prod --port "$PORT" env)"
.venvs/jobs/bin/lakehouse stats --date "$FIRST"
.venvs/jobs/bin/lakehouse tables

cat <<INFO

make run-prod finished in $(( $(date +%s) - start )) s.
  Airflow UI     http://127.0.0.1:$PORT/dags/corpus_nightly   (user admin; password in $LAKEHOUSE_HOME/prod/secrets.json)
  Spark master   http://127.0.0.1:$(( PORT - 8080 + 18090 ))
  Status         .venvs/airflow/bin/python -m llm_lakehouse.devtools.prod status
  Stop           make stop
INFO
