#!/bin/sh
# bench/model/ablation.sh: one row of the ablation table in docs/model-quality.md.
#
#   bench/model/ablation.sh BUILD_DIR OUT_DIR RECIPE SEED [EXTRA TRAIN OPTIONS...]
#
# Trains the fixed CPU budget (ResNet-18, 96 px, 4 epochs, batch 32, no early
# stop) on ../shared/ham10000 (or $DATA) with the recipe's options, then
# writes OUT_DIR/RECIPE-sSEED.{safetensors,jsonl,log} and the test evaluation
# with lesion-bootstrap intervals (OUT_DIR/RECIPE-sSEED.eval.json; a model
# trained with --context is evaluated again with every context field missing,
# OUT_DIR/RECIPE-sSEED.nocontext.eval.json).
# bench/model/summarize.py OUT_DIR turns the directory into the table.
# Run nothing else meanwhile: two libtorch processes on 2 cores starve each other.
set -eu
build=$1 out=$2 recipe=$3 seed=$4
shift 4
data=${DATA:-$(dirname "$0")/../../../shared/ham10000}
epochs=${EPOCHS:-4}
size=${SIZE:-96}
arch=${ARCH:-resnet18}
cli=$build/src/cli/dermalens-cli
[ -f "$data/HAM10000_metadata.csv" ] || { echo "no HAM10000 at $data (set DATA)" >&2; exit 77; }
mkdir -p "$out"
base=$out/$recipe-s$seed
start=$(date +%s)
"$cli" train --data "$data" --out "$base.safetensors" --arch "$arch" --image-size "$size" \
  --epochs "$epochs" --patience 0 --seed "$seed" --json-log "$base.jsonl" "$@" >"$base.log" 2>&1
end=$(date +%s)
"$cli" evaluate --weights "$base.safetensors" --data "$data" --json >"$base.eval.json"
# A model with patient context: also with every field missing.
case " $* " in
  *" --context "*)
    "$cli" evaluate --weights "$base.safetensors" --data "$data" --context none --json \
      >"$base.nocontext.eval.json" ;;
esac
printf '{"recipe":"%s","seed":%s,"train_seconds":%s,"options":"%s","cpu":"%s"}\n' \
  "$recipe" "$seed" $((end - start)) "$*" \
  "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" >"$base.run.json"
