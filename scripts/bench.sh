#!/usr/bin/env bash
# Runs the benchmark harness (bench/Bench, built by `make build`) with the given arguments.
# Needs root: it loads BPF programs and makes network namespaces (all cleaned up afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
exec dotnet "bench/Bench/bin/${CONFIGURATION:-Release}/net10.0/proxy-bench.dll" "$@"
