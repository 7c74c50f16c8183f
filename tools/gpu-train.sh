#!/bin/sh
# tools/gpu-train.sh: the HAM10000 training runs on the GPU test machine.
# Builds the engine and CLI there (tools/gpu-check.sh --no-tests --no-bench),
# unpacks the data archive, trains ResNet-50 (224 px) and then U-Net, one
# after the other so each wall time is its own, and evaluates both on their
# lesion-grouped test split. Logs and JSON go to $OUT (or /tmp/dermalens-gpu).
#
#   .gpu/debs/          Debian packages (see ../shared/GPU.md)
#   .gpu/ham10000.tgz   tar czf .gpu/ham10000.tgz -C ../shared ham10000
#
# Environment: R50_EPOCHS (30), R50_BATCH (64), UNET_EPOCHS (20),
# UNET_SIZE (192: the images here are 200 x 150), UNET_BATCH (32); for a
# check of the script on a CPU machine: CLI=path DEVICE=cpu LIMIT=40 R50_SIZE=64.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
out=${OUT:-/tmp/dermalens-gpu}
mkdir -p "$out"
data=${DATA:-/tmp/ham10000}
models=${MODELS:-/tmp/dermalens-models}
mkdir -p "$models"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { echo "$(( ($(ms) - $1) / 1000 )).$(( ($(ms) - $1) % 1000 / 100 ))"; }
t0=$(ms)
if [ ! -f "$data/HAM10000_metadata.csv" ]; then
  tar xzf .gpu/ham10000.tgz -C "$(dirname "$data")" || exit 1
fi

if [ -z "${CLI:-}" ]; then
  JOBS=${JOBS:-$(nproc)} timeout 240 tools/gpu-check.sh --no-tests --no-bench >"$out/build.log" 2>&1
  rc=$?
  tail -5 "$out/build.log"
  [ $rc -eq 0 ] || { tail -60 "$out/build.log"; exit 1; }
  echo "build: $(secs "$t0") s"
fi

# The binaries find the unpacked Debian libraries there.
R=${ROOT:-/tmp/dermalens-root}
[ -d "$R" ] && export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cli=${CLI:-$here/_build-gpu/src/cli/dermalens-cli}
device=${DEVICE:-cuda}
limit=${LIMIT:+--limit $LIMIT}
"$cli" info

run_timed() {   # name, timeout, command...
  name=$1; tlimit=$2; shift 2
  s=$(ms)
  timeout -s INT "$tlimit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc, wall $(secs "$s") s"
  tail -4 "$out/$name.log"
}

run_timed train-resnet50 ${R50_TIMEOUT:-200} "$cli" train --task classify --arch resnet50 \
  --data "$data" --out "$models/resnet50.safetensors" --epochs "${R50_EPOCHS:-30}" \
  --batch "${R50_BATCH:-64}" --image-size "${R50_SIZE:-224}" --device "$device" $limit --seed 1 --patience 0 \
  --json-log "$out/train-resnet50.jsonl"
run_timed train-unet ${UNET_TIMEOUT:-170} "$cli" train --task segment --arch unet \
  --data "$data" --out "$models/unet.safetensors" --epochs "${UNET_EPOCHS:-20}" \
  --batch "${UNET_BATCH:-32}" --image-size "${UNET_SIZE:-192}" --device "$device" $limit --seed 1 --patience 0 \
  --json-log "$out/train-unet.jsonl"

for m in resnet50 unet; do
  [ -f "$models/$m.safetensors" ] || continue
  timeout 60 "$cli" evaluate --weights "$models/$m.safetensors" --data "$data" --split test --json \
    >"$out/evaluate-$m.json" 2>"$out/evaluate-$m.err"
  echo "evaluate $m: exit $?"; cat "$out/evaluate-$m.json"; echo
  timeout 30 "$cli" weights-info --json "$models/$m.safetensors" >"$out/weights-info-$m.json" 2>&1
done
img=$(ls "$data"/images/*.jpg | head -1)
[ -f "$models/resnet50.safetensors" ] && [ -f "$models/unet.safetensors" ] && \
  timeout 30 "$cli" analyze "$img" --classifier "$models/resnet50.safetensors" \
    --segmenter "$models/unet.safetensors" --device "$device" --json >"$out/analyze.json" 2>&1
echo "total: $(secs "$t0") s"
