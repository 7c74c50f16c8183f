#!/bin/sh
# bench/cpu/run.sh: ResNet-50 batch-1 classification latency at 224 px on the
# CPU, the Dermalens engine vs Python PyTorch (/usr/bin/python3: Debian's torch,
# the same libtorch the engine links), both with every core, in one run.
# Rounds alternate between the two so that load from other processes hits
# both alike; each round is a median of RUNS runs; the table gives the median
# of the round medians.
# Usage: bench/cpu/run.sh [BUILD_DIR] (default _build-engine; RUNS=30 ROUNDS=3)
set -eu
cd "$(dirname "$0")/../.."
B=${1:-_build-engine}
RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
PY=${PYTHON:-/usr/bin/python3}
ninja -C "$B" bench/cpu/derm-bench-engine >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
i=0
while [ $i -lt "$ROUNDS" ]; do
  "$B/bench/cpu/derm-bench-engine" --device cpu --what infer --runs "$RUNS" --warmup 3 \
    | sed -n 's/^RESULT infer_fp32_ms \([0-9.]*\).*/derm \1/p' >>"$out"
  "$PY" bench/peer/bench-torch.py --device cpu --what infer --runs "$RUNS" --warmup 3 \
    | sed -n 's/^RESULT infer_fp32_ms \([0-9.]*\).*/peer \1/p' >>"$out"
  i=$((i+1))
done
"$PY" - "$out" "$RUNS" "$ROUNDS" <<'PY'
import statistics, sys
d = {"derm": [], "peer": []}
for line in open(sys.argv[1]):
    k, v = line.split()
    d[k].append(float(v))
a, b = statistics.median(d["derm"]), statistics.median(d["peer"])
print("rounds (ms): Dermalens %s; PyTorch %s" % (d["derm"], d["peer"]))
print("| ResNet-50, batch 1, 224 px, CPU fp32 | Dermalens | PyTorch (Python) | PyTorch time / Dermalens time |")
print("| --- | --- | --- | --- |")
print("| median of %s rounds x %s runs | %.1f ms | %.1f ms | %.2f |" % (sys.argv[3], sys.argv[2], a, b, b / a))
PY
