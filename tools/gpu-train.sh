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
# UNET_SIZE (192: the images here are 200 x 150), UNET_BATCH (32),
# GPU_AUGMENT (auto: images cached and augmented on the GPU; off: the CPU
# loader, the path measured before), CKPT_EVERY (60 s between resumable
# checkpoints; 0: every epoch, as before); for a
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

# Where each epoch's time went, from the event log: steps (first to last
# step event), then validation + best-model save, and the checkpoints.
epoch_times() {
  ${PYTHON:-python3} - "$1" <<'PY' || true
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
msgs = [e["message"] for e in ev if e["event"] == "message"]
print("   " + "\n   ".join(m for m in msgs if "augment" in m or "decoded" in m))
last_end, rows = None, []
for e in ev:
    if e["event"] == "step" and e["step"] == 1:
        first = e["elapsed"]
    elif e["event"] == "step":
        last = e["elapsed"]
        ips = e["images_per_second"]
    elif e["event"] == "epoch":
        rows.append([e["epoch"] + 1, first - (last_end or first), last - first, e["elapsed"] - last, 0.0, ips])
        last_end = e["elapsed"]
    elif e["event"] == "checkpoint" and rows:
        rows[-1][4] = e["elapsed"] - last_end
        last_end = e["elapsed"]
print("   epoch  step1_s  steps_s  val+best_s  ckpt_s  img/s")
for r in rows:
    print("   %5d  %7.2f  %7.2f  %10.2f  %6.2f  %5.0f" % tuple(r))
if len(rows) > 2:
    w = rows[1:]
    print("   mean of epochs 2..%d: steps %.2f s, validation + best %.2f s, checkpoints %.2f s, whole %.2f s"
          % (rows[-1][0], sum(r[2] for r in w) / len(w), sum(r[3] for r in w) / len(w),
             sum(r[4] for r in w) / len(w), sum(r[1] + r[2] + r[3] + r[4] for r in w) / len(w)))
PY
}

run_timed train-resnet50 ${R50_TIMEOUT:-200} "$cli" train --task classify --arch resnet50 \
  --data "$data" --out "$models/resnet50.safetensors" --epochs "${R50_EPOCHS:-30}" \
  --batch "${R50_BATCH:-64}" --image-size "${R50_SIZE:-224}" --device "$device" $limit --seed 1 --patience 0 \
  --gpu-augment "${GPU_AUGMENT:-auto}" --checkpoint-every "${CKPT_EVERY:-60}" \
  --json-log "$out/train-resnet50.jsonl"
epoch_times "$out/train-resnet50.jsonl"
run_timed train-unet ${UNET_TIMEOUT:-170} "$cli" train --task segment --arch unet \
  --data "$data" --out "$models/unet.safetensors" --epochs "${UNET_EPOCHS:-20}" \
  --batch "${UNET_BATCH:-32}" --image-size "${UNET_SIZE:-192}" --device "$device" $limit --seed 1 --patience 0 \
  --gpu-augment "${GPU_AUGMENT:-auto}" --checkpoint-every "${CKPT_EVERY:-60}" \
  --json-log "$out/train-unet.jsonl"
epoch_times "$out/train-unet.jsonl"

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
