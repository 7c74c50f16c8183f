#!/bin/sh
# bench/gpu/run.sh: issue 8's whole GPU measurement in one call on the GPU
# machine (../shared/GPU.md), so that one device session can take it:
#   1. tools/gpu-check.sh: build, the engine tests on CUDA, then Dermalens and
#      the machine's Python PyTorch side by side in the same run: training
#      images/s (ResNet-50 224 px at batch 64 and 256, U-Net 256 px, and
#      ResNet-50 from the device-resident cache with device augmentation),
#      batch-1 latency (classify; classify + segment; JPEG bytes to
#      probabilities and mask);
#   2. tools/gpu-train.sh: the full ../shared/ham10000 (from .gpu/ham10000.tgz):
#      ResNet-50 for 30 epochs and U-Net, wall time and where each epoch's
#      time went (steps, validation, checkpoint) against pure compute;
#   3. peak GPU memory of both, sampled with nvidia-smi every second.
# Everything goes to $OUT (default /tmp/dermalens-gpu) and, packed, to
# $OUT/results.tgz; the console gets the tables.
# Usage (device machine, repository root, .gpu carried):
#   JOBS=16 bench/gpu/run.sh            GPU_AUGMENT=off CKPT_EVERY=0: the old data path
#   CUDA_GRAPHS=1 bench/gpu/run.sh      also the CUDA-graph batch-1 path (experimental)
#   SKIP_TRAIN=1 bench/gpu/run.sh       only step 1
# Arguments go to tools/gpu-check.sh. A check of the script on a CPU machine:
#   PYTHON=/usr/bin/python3 DEVICE=cpu LIMIT=40 R50_SIZE=64 R50_EPOCHS=2 R50_BATCH=8 \
#   UNET_EPOCHS=1 UNET_SIZE=64 DATA=../shared/ham10000 bench/gpu/run.sh --device cpu --quick
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/dermalens-gpu}
mkdir -p "$out"
export OUT="$out" JOBS="${JOBS:-$(nproc)}"
say() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

mem_pid=""
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -l 1 >"$out/gpu-memory.csv" 2>/dev/null &
  mem_pid=$!
fi
git log -1 --format='commit %h %s' 2>/dev/null | tee "$out/commit.txt" || true

status=0
say "1. engine tests and the side-by-side table (tools/gpu-check.sh)"
# (plain sh has no pipefail: each tool's exit status goes through a file)
{ tools/gpu-check.sh "$@" 2>&1; echo $? >"$out/gpu-check.rc"; } | tee "$out/gpu-check.log"
[ "$(cat "$out/gpu-check.rc")" = 0 ] || status=1
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  say "2. HAM10000 training runs (tools/gpu-train.sh)"
  CLI="${CLI:-$PWD/${BUILD:-_build-gpu}/src/cli/dermalens-cli}"
  [ -x "$CLI" ] || CLI=""
  { CLI="$CLI" tools/gpu-train.sh 2>&1; echo $? >"$out/gpu-train.rc"; } | tee "$out/gpu-train.log"
  [ "$(cat "$out/gpu-train.rc")" = 0 ] || status=1
fi

if [ -n "$mem_pid" ]; then
  kill "$mem_pid" 2>/dev/null
  say "3. GPU memory"
  awk -F', ' '$2 > m { m = $2 } END { printf "peak GPU memory in use: %d MiB (nvidia-smi, every second)\n", m }' \
    "$out/gpu-memory.csv" | tee "$out/gpu-memory-peak.txt"
fi
tar czf "$out/results.tgz" -C "$out" --exclude results.tgz . 2>/dev/null
echo "results: $out/results.tgz (status $status)"
exit $status
