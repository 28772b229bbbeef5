# Airflow 3.3 for docker-compose.yml and the Helm chart (which expects the apache/airflow image's layout:
# uid 50000, gid 0, AIRFLOW_HOME=/opt/airflow, /entrypoint). Build context: the repository root.
#
# Two envs, as scripts/setup.sh makes them (docs/platform.md): Airflow in /opt/airflow-venv, the Spark-jobs env in
# /opt/jobs-venv. The Spark provider 6.x pulls pyspark-client 4.x, which overwrites pyspark 3.5 when they share
# an env; the provider only needs a `spark-submit` on PATH, and that comes from the jobs env.
FROM python:3.11-slim-bookworm

# Java runs the Spark driver: Celery workers (LocalExecutor: the scheduler) spark-submit in client mode
# from this container.
# The JDBC drivers are the ones scripts/setup.sh copies into build/jars. curl serves the healthchecks.
# (The man1 folder: the JRE's postinst writes there and slim images delete it.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jdk-headless libpostgresql-jdbc-java libxerial-sqlite-jdbc-java curl \
 && rm -rf /var/lib/apt/lists/*

ARG UV_VERSION=0.13.9
ENV UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
# torch is not in requirements/jobs.txt (PyPI's Linux wheel is the multi-GB CUDA build): the CPU build by default,
# a CUDA build for GPU workers (docker-compose.yml passes TORCH_INDEX=https://download.pytorch.org/whl/cu128).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# The `vllm` embedding backend (gold.rag.embedding.backend): GPU images only (it pins its own CUDA torch, 2.14.0
# for vLLM 0.33); docker-compose.yml passes VLLM_VERSION=0.33.0 to the GPU images, empty = not installed.
ARG VLLM_VERSION=""
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /opt/lakehouse
COPY requirements/ requirements/
# The lock holds the production parts too (make run-prod runs them): psycopg2 and asyncpg for the PostgreSQL
# metadata DB (docs/platform.md), the Celery provider and celery[redis] for the CeleryExecutor.
RUN uv venv -q -p python3.11 /opt/airflow-venv \
 && uv pip install -q -p /opt/airflow-venv/bin/python -r requirements/airflow.txt \
 && uv venv -q -p python3.11 /opt/jobs-venv \
 && uv pip install -q -p /opt/jobs-venv/bin/python --index-url "${TORCH_INDEX}" --extra-index-url https://pypi.org/simple "torch==2.13.0" \
 && uv pip install -q -p /opt/jobs-venv/bin/python -r requirements/jobs.txt \
 && if [ -n "${VLLM_VERSION}" ]; then uv pip install -q -p /opt/jobs-venv/bin/python "vllm==${VLLM_VERSION}"; fi \
 && /opt/jobs-venv/bin/python -c "import pyspark, sys; sys.exit(0 if pyspark.__version__.startswith('3.5') else 'pyspark is ' + pyspark.__version__)"

# The Iceberg runtime jar, the JDBC drivers and the commit metrics reporter (jvm/), exactly as scripts/setup.sh
# gathers them into build/jars.
COPY jvm/ jvm/
COPY scripts/build_jvm.sh scripts/
RUN mkdir -p /opt/jars \
 && cp "$(/opt/jobs-venv/bin/python -c "import importlib.resources as r; print(r.files('snowpark_connect_deps_iceberg') / 'jars' / 'iceberg-spark-runtime-3.5_2.12-1.10.2.jar')")" /opt/jars/ \
 && cp -L /usr/share/java/sqlite-jdbc.jar /usr/share/java/postgresql.jar /opt/jars/ \
 && bash scripts/build_jvm.sh /opt/jars/iceberg-spark-runtime-3.5_2.12-1.10.2.jar /opt/jars/lakehouse-iceberg-commits.jar

# Iceberg's S3FileIO (s3:// warehouses) and the AWS SDK v2 it needs: iceberg-aws-bundle, which no PyPI package
# carries, so the image downloads it from Maven Central at build time (the only download outside PyPI/Debian;
# these Dockerfiles build on a machine that reaches Maven). Same version as the runtime jar; checked against a
# pinned sha256 and against Maven Central's own .sha1.
ARG ICEBERG_VERSION=1.10.2
ARG ICEBERG_AWS_BUNDLE_SHA256=a2395ab49bf87e971e5588db644194ac18e9c0e0b44a7ad5a422a97648a38415
RUN url="https://repo1.maven.org/maven2/org/apache/iceberg/iceberg-aws-bundle/${ICEBERG_VERSION}/iceberg-aws-bundle-${ICEBERG_VERSION}.jar" \
 && jar="/opt/jars/iceberg-aws-bundle-${ICEBERG_VERSION}.jar" \
 && curl -fsSL --retry 4 -o "$jar" "$url" \
 && echo "${ICEBERG_AWS_BUNDLE_SHA256}  $jar" | sha256sum -c - \
 && echo "$(curl -fsSL --retry 4 "$url.sha1")  $jar" | sha1sum -c -

# The project, editable in both envs as in scripts/setup.sh: settings.REPO_ROOT is then /opt/lakehouse, where
# dags/, pipelines/ and spark_jobs/ are. plugins/ is not in git while empty, hence mkdir.
COPY pyproject.toml ./
COPY src/ src/
COPY dags/ dags/
COPY pipelines/ pipelines/
COPY spark_jobs/ spark_jobs/
RUN mkdir -p plugins \
 && uv pip install -q -p /opt/airflow-venv/bin/python --no-deps -e . \
 && uv pip install -q -p /opt/jobs-venv/bin/python --no-deps -e .
# The embedding model in ONNX for the onnx backend (gold runs in this image's local-mode drivers too).
ENV LAKEHOUSE_MODELS=/opt/lakehouse/models
RUN /opt/jobs-venv/bin/python -m llm_lakehouse.spark.onnx_export > /dev/null 2>&1

# The official Helm chart's probes run `/entrypoint airflow jobs check ...`; nothing needs wrapping here.
RUN printf '#!/bin/sh\nexec "$@"\n' > /entrypoint && chmod 0755 /entrypoint

# uid 50000 / gid 0 like apache/airflow (the chart runs pods so). Mount points are created here, owned by that
# user, so that empty named volumes mounted on them start writable; the Spark image does the same.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
 && mkdir -p /opt/airflow/logs /warehouse /lakehouse/landing \
 && chown -R 50000:0 /opt/airflow /warehouse /lakehouse \
 && chmod -R g+rwX /opt/airflow /warehouse /lakehouse

# airflow and python from the Airflow env first; spark-submit exists only in the jobs env.
ENV PATH=/opt/airflow-venv/bin:/opt/jobs-venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    LAKEHOUSE_HOME=/lakehouse \
    LAKEHOUSE_JARS_DIR=/opt/jars \
    LAKEHOUSE_JOBS_PYTHON=/opt/jobs-venv/bin/python
USER 50000
WORKDIR /opt/airflow
CMD ["airflow", "version"]
