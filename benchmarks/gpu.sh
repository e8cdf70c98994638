#!/usr/bin/env bash
# The benchmark on a CUDA machine: the same table, with --device cuda.
# Prepared to run as one script on a lent GPU machine:
#   bash benchmarks/gpu.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
python -m pip install -q -e '.[dev,cuda]'
# The cuda extra installs CUDA 13 / cuDNN 9 as wheels; make their libraries visible.
NV_LIBS=$(python - <<'PY'
import glob, os, site
paths = set()
for base in site.getsitepackages():
    for lib in glob.glob(os.path.join(base, "nvidia", "**", "lib"), recursive=True):
        paths.add(lib)
print(":".join(sorted(paths)))
PY
)
export LD_LIBRARY_PATH="${NV_LIBS}:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python - <<'PY'
import onnxruntime as ort
print("onnxruntime", ort.__version__, ort.get_available_providers())
PY
python benchmarks/run.py --rows "$ROWS" --device cuda --fixed-cost "" \
    --memory-limit 4GB --out benchmarks/results/gpu.json
