# Spark 3.5 for the standalone cluster in docker-compose.yml (master, workers, the GPU worker) and for Spark-on-Kubernetes
# executors (Helm chart). Spark itself is the one pip's pyspark 3.5.9 ships (bin/, jars/): no separate
# distribution, so driver and executors run the very same build. Build context: the repository root.
FROM python:3.11-slim-bookworm

# Java runs master, worker and executors; the JDBC drivers are the ones scripts/setup.sh copies; curl serves the
# healthchecks; tini reaps the executor JVM's children in Kubernetes pods (as Spark's own image does).
# (The man1 folder: the JRE's postinst writes there and slim images delete it.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jdk-headless libpostgresql-jdbc-java libxerial-sqlite-jdbc-java curl tini \
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
# The jobs env at the path the Airflow image has it: the driver sets spark.pyspark.python to
# /opt/jobs-venv/bin/python and the executors' Python workers start exactly that.
COPY requirements/jobs.txt requirements/jobs.txt
RUN uv venv -q -p python3.11 /opt/jobs-venv \
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

# The project in the jobs env: UDF code (pipes, mapInArrow functions) is unpickled and imported by the
# executors' Python workers, which must find llm_lakehouse themselves (docs/platform.md).
COPY pyproject.toml ./
COPY src/ src/
COPY spark_jobs/ spark_jobs/
COPY pipelines/ pipelines/
RUN uv pip install -q -p /opt/jobs-venv/bin/python --no-deps -e .
# The embedding model in ONNX for the onnx backend, exported once into the image (as scripts/setup.sh does).
ENV LAKEHOUSE_MODELS=/opt/lakehouse/models
RUN /opt/jobs-venv/bin/python -m llm_lakehouse.spark.onnx_export > /dev/null 2>&1

COPY docker/spark-entrypoint.sh /opt/spark-entrypoint.sh
# GPU discovery for Spark's resource scheduling: the GPU worker in docker-compose.yml
# (spark.worker.resource.gpu.discoveryScript) and GPU executor pods on Kubernetes.
COPY docker/spark-gpu-discovery.sh /opt/spark-gpu/getGpusResources.sh

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
