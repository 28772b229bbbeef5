# Spark 3.5 for the standalone cluster in docker-compose.yml (master, worker) and for Spark-on-Kubernetes
# executors (Helm chart). Spark itself is the one pip's pyspark 3.5.9 ships (bin/, jars/): no separate
# distribution, so driver and executors run the very same build. Build context: the repository root.
FROM python:3.11-slim-bookworm

# Java runs master, worker and executors; the JDBC drivers are the ones scripts/setup.sh copies; curl serves the
# healthchecks; tini reaps the executor JVM's children in Kubernetes pods (as Spark's own image does).
# (The man1 folder: the JRE's postinst writes there and slim images delete it.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jre-headless libpostgresql-jdbc-java libxerial-sqlite-jdbc-java curl tini \
 && rm -rf /var/lib/apt/lists/*

ARG UV_VERSION=0.13.9
ENV UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /opt/lakehouse
# The jobs env at the path the Airflow image has it: the driver sets spark.pyspark.python to
# /opt/jobs-venv/bin/python and the executors' Python workers start exactly that.
COPY requirements/jobs.txt requirements/jobs.txt
RUN uv venv -q -p python3.11 /opt/jobs-venv \
 && uv pip install -q -p /opt/jobs-venv/bin/python -r requirements/jobs.txt \
 && /opt/jobs-venv/bin/python -c "import pyspark, sys; sys.exit(0 if pyspark.__version__.startswith('3.5') else 'pyspark is ' + pyspark.__version__)"

# The Iceberg runtime jar and the JDBC drivers, exactly as scripts/setup.sh gathers them into build/jars.
RUN mkdir -p /opt/jars \
 && cp "$(/opt/jobs-venv/bin/python -c "import importlib.resources as r; print(r.files('snowpark_connect_deps_iceberg') / 'jars' / 'iceberg-spark-runtime-3.5_2.12-1.10.2.jar')")" /opt/jars/ \
 && cp -L /usr/share/java/sqlite-jdbc.jar /usr/share/java/postgresql.jar /opt/jars/

# The project in the jobs env: UDF code (pipes, mapInArrow functions) is unpickled and imported by the
# executors' Python workers, which must find llm_lakehouse themselves (STACK.md).
COPY pyproject.toml ./
COPY src/ src/
COPY spark_jobs/ spark_jobs/
COPY pipelines/ pipelines/
RUN uv pip install -q -p /opt/jobs-venv/bin/python --no-deps -e .

COPY docker/spark-entrypoint.sh /opt/spark-entrypoint.sh

# uid 50000 / gid 0 like the Airflow image: driver (Airflow) and executors (here) write the same warehouse
# files. Mount points are created here, owned by that user, so empty named volumes start writable.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/spark --create-home spark \
 && mkdir -p /opt/spark/work /warehouse /lakehouse/landing \
 && chown -R 50000:0 /opt/spark /warehouse /lakehouse \
 && chmod -R g+rwX /opt/spark /warehouse /lakehouse

ENV PATH=/opt/jobs-venv/bin:$PATH \
    SPARK_HOME=/opt/jobs-venv/lib/python3.11/site-packages/pyspark \
    SPARK_WORKER_DIR=/opt/spark/work \
    PYSPARK_PYTHON=/opt/jobs-venv/bin/python \
    LAKEHOUSE_JARS_DIR=/opt/jars \
    LAKEHOUSE_JOBS_PYTHON=/opt/jobs-venv/bin/python
USER 50000
WORKDIR /opt/spark
# `executor` is what Spark on Kubernetes runs in executor pods; anything else (spark-class ... in compose)
# passes through.
ENTRYPOINT ["/opt/spark-entrypoint.sh"]
CMD ["spark-class", "org.apache.spark.deploy.master.Master"]
