#!/usr/bin/env bash
# make run: Airflow standalone on localhost:8080 with the project's DAGs, the sample corpus in the landing
# zone, one nightly run of corpus_nightly, then the counts. Airflow keeps running; `make stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venvs/jobs/bin/lakehouse ] && [ -x .venvs/airflow/bin/airflow ] || { echo "run 'make setup' first" >&2; exit 1; }
export LAKEHOUSE_HOME=${LAKEHOUSE_HOME:-$PWD/var}
# Lineage: jobs write DataHub Lite under $LAKEHOUSE_HOME/datahub; the Airflow plugin a datahub-file
# connection there (rest: LAKEHOUSE_DATAHUB_SINK=rest DATAHUB_GMS_URL=http://gms:8080 [DATAHUB_GMS_TOKEN=...]).
export LAKEHOUSE_DATAHUB_SINK=${LAKEHOUSE_DATAHUB_SINK:-lite}
eval "$(.venvs/airflow/bin/python -m llm_lakehouse.datahub.airflow_env)"
DAY=${DAY:-2026-11-01}
PORT=${PORT:-8080}
start=$(date +%s)

echo "==> sample corpus -> $LAKEHOUSE_HOME/landing"
.venvs/jobs/bin/lakehouse sample --out "$LAKEHOUSE_HOME/landing"
echo "==> airflow standalone (log: $LAKEHOUSE_HOME/airflow/standalone.log)"
.venvs/airflow/bin/python -m llm_lakehouse.devtools.standalone up --port "$PORT"
echo "==> corpus_nightly for $DAY"
.venvs/airflow/bin/python -m llm_lakehouse.devtools.standalone build --date "$DAY" --port "$PORT"
.venvs/jobs/bin/lakehouse stats --date "$DAY"
.venvs/jobs/bin/lakehouse tables

cat <<INFO

make run finished in $(( $(date +%s) - start )) s.
  Airflow UI   http://localhost:$PORT/dags/corpus_nightly   (user admin; password printed by the first start, kept in $LAKEHOUSE_HOME/airflow/simple_auth_manager_passwords.json, 0600)
  Warehouse    $LAKEHOUSE_HOME/warehouse   (Iceberg catalog: $LAKEHOUSE_HOME/catalog.db, name "lakehouse")
  More days    Trigger -> Backfill 2026-11-02 02:00 .. 2026-11-03 02:00, "Missing and Errored Runs", or:
               .venvs/airflow/bin/airflow backfill create --dag-id corpus_nightly --from-date 2026-11-02T02:00:00Z \
                 --to-date 2026-11-03T02:00:00Z --reprocess-behavior failed
  Inspect      .venvs/jobs/bin/lakehouse stats --date $DAY --json | history silver.documents | export ...
  Lineage      .venvs/jobs/bin/lakehouse lineage gold.training_documents --column token_ids --upstream
               .venvs/jobs/bin/lakehouse lineage lite ls /     (DataHub Lite; publish: lakehouse lineage publish --server URL)
  Stop         make stop
INFO
