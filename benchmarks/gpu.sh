#!/usr/bin/env bash
# onnxruntime-CUDA alone against predsql at the same batch (and the DuckDB UDF), on a
# CUDA machine, with the marginal-cost method of benchmarks/run.py:
#   bash benchmarks/gpu.sh [SIZES] [BATCH]        # defaults: 1000000,4000000 and 65536
# `limit` is measured at BATCH both with a plain session.run and with I/O binding (the
# output kept on the device, copied back once per call: what predsql's CUDA path does);
# the summary's `/limit` column is predsql against the faster of the two.
# Results: benchmarks/results/gpu.json. A machine without network needs the packages
# installed already (the `cuda` extra: onnxruntime-gpu and the CUDA 13 / cuDNN 9 wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${1:-1000000,4000000}"
BATCH="${2:-65536}"
PY="${PYTHON:-python3}"
"$PY" -m pip install -q -e '.[dev,cuda]' \
    || echo "gpu.sh: pip install failed (no network?); using the installed packages" >&2
# No LD_LIBRARY_PATH: predsql (and approaches.session) load the cuda extra's CUDA/cuDNN
# wheels with onnxruntime's preload_dlls() before the first CUDA session.
export PYTHONPATH="$PWD${PYTHONPATH:+:${PYTHONPATH}}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
# the device predsql would really use (a CUDA session is probed); stop here when not CUDA
DEBUG=$("$PY" -m predsql debug --project-dir example_project)
echo "$DEBUG" | grep -E "^(onnxruntime|device|warning|  onnxruntime)" || true
echo "$DEBUG" | grep -q "^device: cuda" \
    || { echo "gpu.sh: onnxruntime cannot use CUDA here (see the device line above)" >&2; exit 1; }
"$PY" benchmarks/run.py --rows "$SIZES" --device cuda --batch "$BATCH" \
    --approaches limit,predsql,udf --fixed-cost-repeats 0 --no-cache-check \
    --memory-limit 4GB --workdir benchmarks/results/gpu_work --out benchmarks/results/gpu.json
