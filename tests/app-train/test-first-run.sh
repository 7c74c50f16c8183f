#!/bin/sh
# A new user's first run under Xvfb (TAP): an empty data folder, an image
# opened, and no model. The analysis view says what a model is and offers
# Train on HAM10000; with a (small, generated) HAM10000 folder chosen, the
# training view proposes this machine's first models (a CPU here: the small
# recipe) and measures the time; after Start, when the job has finished, the
# classifier and segmenter are active and the image shows probabilities
# without another step. A second launch remembers the folder.
#   test-first-run.sh DERMALENS TEST-TRAIN-PANEL APP-TEST-TOOL OUTDIR
set -u
app=$1 panel_test=$2 tool=$3 out=$4
mkdir -p "$out"

. "$(dirname "$0")/../app/gui-tap.sh"
has () { grep -qxF "$2" "$1"; }

echo "1..13"

data="$out/first-run-data"
config="$out/first-run-config"
rm -rf "$data" "$config" "$out/first-run-set"
mkdir -p "$data" "$config" "$out/first-run-set"
ham=$("$panel_test" --make-dataset "$out/first-run-set")
check "generated HAM10000 folder" "[ -s '$ham/HAM10000_metadata.csv' ]"
"$tool" make-lesion "$out/first-run.png" 600 450

# Settings in a keyfile under $config, so that the second launch sees what
# the first one stored. No GPU: the CPU's recipe whatever the machine has.
launch () {
  name=$1; steps=$2; image=${3-$out/first-run.png}
  rm -f "$out/$name"-*.state "$out/$name-final.state"
  XDG_DATA_HOME="$data" XDG_CONFIG_HOME="$config" GSETTINGS_BACKEND=keyfile \
  CUDA_VISIBLE_DEVICES= GSK_RENDERER=cairo GTK_A11Y=none \
  DERMALENS_TEST_STATE="$out/$name-final.state" DERMALENS_TEST_SCRIPT="$steps" \
    timeout 300 xvfb-run -a -s "-screen 0 1400x900x24" $session "$app" $image \
    >"$out/$name.log" 2>&1
}

# Launched with no image: the welcome page offers the first run too.
launch zero "state|$out/zero.state;shot|main|$out/first-run-welcome.png" ""
check "with no image and no model the welcome page offers Train on HAM10000 and Import" \
  "has '$out/zero.state' 'welcome_first_run=1'"

steps="state|$out/first-before.state"
steps="$steps;shot|main|$out/first-run-no-model.png"
steps="$steps;first-run|$ham"
steps="$steps;state|$out/first-setup.state"
steps="$steps;shot|main|$out/first-run-training.png"
steps="$steps;train-start;wait-train;wait-analysis"
steps="$steps;shot|main|$out/first-run-analysis.png;state|$out/first-after.state"
launch first "$steps"
rc=$?
check "the app exits 0 after the first run (rc $rc)" "[ $rc -eq 0 ] && ! grep -q 'test step' '$out/first.log'"

b="$out/first-before.state"
check "without a model the analysis view offers Train on HAM10000 and Import" \
  "has '$b' 'analysis=no-model' && grep -q '^no_model=No classification model' '$b'"
s="$out/first-setup.state"
check "the training view proposes the CPU's first models: ResNet-18 and U-Net at 96 px, 4 and 1 epochs" \
  "has '$s' 'view=training' && has '$s' 'training_first_run=1' && has '$s' 'training_setup_task=both' && has '$s' 'training_setup_arch=resnet18' && has '$s' 'training_setup_size=96' && has '$s' 'training_setup_epochs=4' && has '$s' 'training_setup_seg_epochs=1'"
check "on the chosen folder, with its time measured" \
  "has '$s' 'training_setup_folder=$ham' && grep -q '^training_setup_estimate=.*images/s' '$s'"
f="$out/first-after.state"
check "after the job the analysis view is shown with the results" \
  "has '$f' 'view=analysis' && has '$f' 'analysis=results' && [ \$(grep -c '^bar[0-6]=' '$f') -eq 7 ]"
check "on the new registry models, classifier and segmenter" \
  "grep -q '^models=Classifier: resnet18, .*Segmentation: unet, ' '$f' && [ \$(ls '$data'/dermalens/models/*.safetensors | wc -l) -eq 2 ]"
check "toasts say the new models are active, each activation with its version" \
  "has '$f' 'toast=The new classifier and segmenter are active.' && grep -q '^toast=Classifier version [0-9]* is active.$' '$f' && grep -q '^toast=Segmenter version [0-9]* is active.$' '$f'"
check "screenshots of the three steps" \
  "[ -s '$out/first-run-no-model.png' ] && [ -s '$out/first-run-training.png' ] && [ -s '$out/first-run-analysis.png' ]"

launch second "view|training;state|$out/second.state;view|analysis;wait-analysis"
rc=$?
check "a second launch remembers the folder and analyses at once (rc $rc)" \
  "[ $rc -eq 0 ] && has '$out/second.state' 'training_setup_folder=$ham' && has '$out/second-final.state' 'analysis=results'"
launch third "state|$out/third.state" ""
check "with the models, the welcome page offers no first run" "has '$out/third.state' 'welcome_first_run=0'"
check "no critical warning" "! grep -q 'CRITICAL' '$out/first.log' '$out/second.log'"
if grep -q 'CRITICAL\|WARNING' "$out/first.log" "$out/second.log"; then sed 's/^/# /' "$out/first.log" "$out/second.log"; fi
exit $failed
