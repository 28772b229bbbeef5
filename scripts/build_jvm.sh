#!/usr/bin/env bash
# Builds the lakehouse's JVM side (jvm/: the Iceberg catalog's commit metrics reporter) into one jar, compiled
# against the Iceberg runtime jar it plugs into. Needs a JDK (javac, jar). scripts/setup.sh and both images run it.
# Usage: scripts/build_jvm.sh ICEBERG_RUNTIME_JAR OUT_JAR
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)/jvm"
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
mapfile -t sources < <(find "$src" -name '*.java' | sort)
javac --release 11 -nowarn -cp "$1" -d "$classes" "${sources[@]}"
jar cf "$2" -C "$classes" .
