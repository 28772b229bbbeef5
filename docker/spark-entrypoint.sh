#!/usr/bin/env bash
# Entrypoint of the Spark image. Spark on Kubernetes starts executor pods with the single argument `executor`
# and describes the executor in SPARK_* variables; Spark's own images turn that into a JVM command line with
# their entrypoint.sh, which pip's pyspark does not ship. This is that executor branch (Spark 3.5), plus a
# pass-through for everything else (`spark-class ...Master` / `...Worker` in docker-compose.yml).
set -euo pipefail

if [ "${1:-}" != "executor" ]; then
  exec "$@"
fi

# The driver passes the executor's Spark properties as -D options in SPARK_JAVA_OPT_0, _1, ... (in order).
java_opts=()
for i in $(compgen -v SPARK_JAVA_OPT_ | sed 's/^SPARK_JAVA_OPT_//' | sort -n); do
  v="SPARK_JAVA_OPT_$i"
  java_opts+=("${!v}")
done
classpath="${SPARK_HOME}/jars/*"
if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then classpath="${classpath}:${SPARK_EXTRA_CLASSPATH}"; fi
if [ -n "${SPARK_CONF_DIR:-}" ]; then classpath="${SPARK_CONF_DIR}:${classpath}"; fi

exec tini -s -- java "${java_opts[@]}" \
  -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
  -cp "${classpath}" \
  org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
  --driver-url "${SPARK_DRIVER_URL}" \
  --executor-id "${SPARK_EXECUTOR_ID}" \
  --cores "${SPARK_EXECUTOR_CORES}" \
  --app-id "${SPARK_APPLICATION_ID}" \
  --hostname "${SPARK_EXECUTOR_POD_IP}" \
  --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
  --podName "${SPARK_EXECUTOR_POD_NAME}"
