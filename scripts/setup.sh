#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, idempotently:
# Debian packages (Java 17, JDBC drivers, Chromium for the browser test, PostgreSQL's server binaries and Redis
# for the production topology and its tests), uv, the Airflow env and the Spark-jobs env (pinned, from
# requirements/*.txt), and the jars Spark loads (build/jars) and the embedding model exported to ONNX
# (build/models).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# postgresql-15 and redis-server: binaries only, started as plain processes under LAKEHOUSE_HOME by
# make run-prod (llm_lakehouse.devtools.prod) and by the tests that need them (initdb, pg_ctl from
# /usr/lib/postgresql/15).
apt_pkgs=(libxerial-sqlite-jdbc-java libpostgresql-jdbc-java chromium postgresql-15 redis-server)
# A JDK: javac builds the catalog's commit metrics reporter (jvm/, scripts/build_jvm.sh).
command -v javac >/dev/null || apt_pkgs+=(openjdk-17-jdk-headless)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    # Only the binaries are wanted: no system cluster (and server on port 5432) created at install.
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/llm-lakehouse.conf >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
java_major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then echo "Java 17+ required, found ${java_major:-none}" >&2; exit 1; fi

command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# torch for the jobs env (embeddings): the CPU build. PyPI's Linux torch is a multi-GB CUDA build, so it is not
# in requirements/jobs.txt; this machine image keeps the CPU wheel in /opt/wheels, elsewhere PyTorch's CPU
# index serves it. GPU workers' images install a CUDA build instead (TORCH_INDEX in docker/spark.Dockerfile
# and docker/airflow.Dockerfile).
TORCH=${TORCH:-torch==2.13.0}
install_torch() {
  local py=$1
  "$py" -c "import torch" 2>/dev/null && return
  echo "==> $TORCH (CPU build) into $(dirname "$(dirname "$py")")"
  if ls /opt/wheels/torch-2.13.0+cpu-* >/dev/null 2>&1; then
    uv pip install -q -p "$py" --no-deps --no-index --find-links /opt/wheels "$TORCH"
  else
    uv pip install -q -p "$py" --no-deps --index-url https://download.pytorch.org/whl/cpu "$TORCH"
  fi
}

for env in jobs airflow; do
  echo "==> .venvs/$env"
  [ -x ".venvs/$env/bin/python" ] || uv venv -q -p "$PY" ".venvs/$env"
  [ "$env" = jobs ] && install_torch ".venvs/$env/bin/python"
  uv pip install -q -p ".venvs/$env/bin/python" -r "requirements/$env.txt"
  uv pip install -q -p ".venvs/$env/bin/python" --no-deps -e .
  # Bytecode now, once: with PYTHONDONTWRITEBYTECODE set (as on these machines) nothing caches it later,
  # and every spark-submit driver, Python worker and Airflow task process would compile the whole of
  # great_expectations, Airflow and pyarrow again (~20 s of a small day's silver job). compileall skips what
  # is current; the few files written for other Python versions fail to compile and are never imported.
  ".venvs/$env/bin/python" -m compileall -q -j 0 ".venvs/$env/lib" src >/dev/null || true
done
# Helm's own lint/template engine for the chart tests (tests/jobs/test_deploy_files.py). helm-sdkpy declares
# Python >= 3.12 but its wheel is a Go library plus ctypes glue that runs on 3.11; it has no dependencies.
uv pip install -q -p .venvs/jobs/bin/python --no-deps --python-version 3.12 "helm-sdkpy==0.1.32"
# Guard against the pyspark-client overwrite (docs/platform.md): the jobs env must hold classic pyspark 3.5.
.venvs/jobs/bin/python -c "import pyspark, sys; sys.exit(0 if pyspark.__version__.startswith('3.5') else 'pyspark is ' + pyspark.__version__)"

echo "==> build/models"
# The packaged embedding model in ONNX (float32 and int8) for the onnx backend: exported from the packaged
# weights, nothing downloaded; skipped when current (the folder is named after the weights' sha256).
mkdir -p build
if ! .venvs/jobs/bin/python -m llm_lakehouse.spark.onnx_export >build/onnx_export.log 2>&1; then
  cat build/onnx_export.log >&2
  exit 1
fi
grep '\.onnx$' build/onnx_export.log | sed 's/^/    /'

echo "==> build/jars"
mkdir -p build/jars
iceberg_jar=$(.venvs/jobs/bin/python -c "import importlib.resources as r; print(r.files('snowpark_connect_deps_iceberg') / 'jars' / 'iceberg-spark-runtime-3.5_2.12-1.10.2.jar')")
cp -f "$iceberg_jar" build/jars/
cp -fL /usr/share/java/sqlite-jdbc.jar /usr/share/java/postgresql.jar build/jars/
bash scripts/build_jvm.sh "build/jars/$(basename "$iceberg_jar")" build/jars/lakehouse-iceberg-commits.jar

echo "==> setup done in $(( $(date +%s) - start )) s; envs: $(du -sh .venvs | cut -f1)"
