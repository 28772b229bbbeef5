#!/usr/bin/env bash
# Spark's GPU resource discovery script (spark.{worker,executor}.resource.gpu.discoveryScript): prints the GPUs
# this container sees as {"name": "gpu", "addresses": ["0", ...]}. Spark's own example script lives in its
# source tree, which pip's pyspark does not ship. nvidia-smi is put in the container by the NVIDIA container
# runtime (compose: a device reservation with capabilities [gpu]; Kubernetes: the device plugin).
set -euo pipefail

command -v nvidia-smi >/dev/null || { echo "spark-gpu-discovery: nvidia-smi not found: no GPU in this container" >&2; exit 1; }
addresses=""
while IFS= read -r index; do
  index="${index//[^0-9]/}"
  [ -n "$index" ] || continue
  addresses="${addresses:+$addresses, }\"$index\""
done < <(nvidia-smi --query-gpu=index --format=csv,noheader)

printf '{"name": "gpu", "addresses": [%s]}\n' "$addresses"
