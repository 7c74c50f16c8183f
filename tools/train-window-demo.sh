#!/bin/sh
# tools/train-window-demo.sh: retrains both models from the window on a
# HAM10000 folder and adopts the result, as a user would, driven through the
# test hook (tests/app/dermalens-test) under Xvfb; writes screenshots and state dumps.
#   1. both models from scratch in one job, then activate both;
#   2. fine-tune the classifier from the active one (the view shows it
#      beside the active version), activate it, analyse an image with it.
# Usage: tools/train-window-demo.sh HAM10000_DIR OUT_DIR [BUILD_DIR]
#   LIMIT=600 (lesions, 0: all) EPOCHS=6 BATCH=16 SIZE=96; ResNet-18 and U-Net on the CPU
# The app's data goes to OUT_DIR/data (XDG_DATA_HOME): nothing of yours is touched.
set -eu
ham=${1:?usage: tools/train-window-demo.sh HAM10000_DIR OUT_DIR [BUILD_DIR]}
out=${2:?usage: tools/train-window-demo.sh HAM10000_DIR OUT_DIR [BUILD_DIR]}
build=${3:-_build}
cd "$(dirname "$0")/.."
app="$PWD/$build/tests/app/dermalens-test"   # the app with the test hook
[ -x "$app" ] || { echo "build first: $app is missing" >&2; exit 1; }
mkdir -p "$out/data"
out=$(cd "$out" && pwd)
images=$(ls "$ham/images" | head -2)
first="$ham/images/$(echo "$images" | sed -n 1p)"
second="$ham/images/$(echo "$images" | sed -n 2p)"
E=${EPOCHS:-6} B=${BATCH:-16} S=${SIZE:-96}

session () {
  name=$1 steps=$2
  echo "== $name"
  start=$(date +%s)
  DERMALENS_TRAIN_LIMIT=${LIMIT:-600} XDG_DATA_HOME="$out/data" GSK_RENDERER=cairo GTK_A11Y=none \
  GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$PWD/$build/data" \
  DERMALENS_TEST_STATE="$out/$name-final.state" DERMALENS_TEST_SCRIPT="$steps" \
    xvfb-run -a -s "-screen 0 1400x1000x24" dbus-run-session -- "$app" --device=cpu \
    "$first" >"$out/$name.log" 2>&1
  echo "$name: exit $?, $(($(date +%s) - start)) s"
  grep -E '^training_(version|log=(Classifier|Segmenter) on the test split)' "$out/$name-finished.state" || true
}

session both "train|$ham|$E|$B|$S|both;wait-train|Segmenter|2;shot|main|$out/both-in-progress.png;wait-train;state|$out/both-finished.state;shot|main|$out/both-finished.png;train-activate"
session finetune "train|$ham|$E|$B|$S|classifier;wait-train|Classifier|$((E / 2 + 1));shot|main|$out/finetune-in-progress.png;view|analysis;shot|main|$out/finetune-analysis-during.png;view|training;wait-train;state|$out/finetune-finished.state;train-compare;shot|main|$out/finetune-comparison.png;train-activate;view|analysis;open-file|$second;state|$out/finetune-analysis.state;shot|main|$out/finetune-analysis.png"
grep '^models=' "$out/finetune-analysis.state"
