#!/bin/sh
# The training view inside the main window under Xvfb (TAP): a job started
# there runs while the analysis view analyses a new image; the header shows
# the job's progress; closing the window asks whether to stop the job;
# "Keep Training" keeps both, "Stop and Close" stops the job within a step,
# leaves it resumable and quits cleanly.
#   test-train-window.sh DERMALENS TEST-TRAIN-PANEL APP-TEST-TOOL OUTDIR
set -u
app=$1 panel_test=$2 tool=$3 out=$4
mkdir -p "$out"

. "$(dirname "$0")/../app/gui-tap.sh"
# has FILE LINE: FILE has exactly LINE
has () { grep -qxF "$2" "$1"; }

echo "1..14"

data="$out/window-data"
rm -rf "$data" "$out/window-set"
mkdir -p "$data" "$out/window-set"
ham=$("$panel_test" --make-dataset "$out/window-set")
check "generated HAM10000 folder" "[ -s '$ham/HAM10000_metadata.csv' ]"
"$tool" make-models "$data/classifier.safetensors" "$data/segmenter.safetensors"
"$tool" make-lesion "$out/window-first.png" 600 450
"$tool" make-lesion "$out/window-second.png" 500 400

# 300 epochs: the job is still running when the window is closed.
steps="train|$ham|300|4|32"
steps="$steps;shot|main|$out/train-window-in-progress.png"
steps="$steps;view|analysis"
steps="$steps;open-file|$out/window-second.png"
steps="$steps;state|$out/window-during.state"
steps="$steps;shot|main|$out/train-window-analysis.png"
steps="$steps;close-window"
steps="$steps;state|$out/window-asked.state"
steps="$steps;stop-dialog|keep"
steps="$steps;state|$out/window-kept.state"
steps="$steps;close-window"
steps="$steps;stop-dialog|stop"
rm -f "$out"/window-*.state
XDG_DATA_HOME="$data" GSK_RENDERER=cairo GTK_A11Y=none \
DERMALENS_TEST_STATE="$out/window-final.state" DERMALENS_TEST_SCRIPT="$steps" \
  timeout 300 xvfb-run -a -s "-screen 0 1280x1000x24" $session "$app" --device=cpu \
  --classifier="$data/classifier.safetensors" --segmenter="$data/segmenter.safetensors" \
  "$out/window-first.png" >"$out/window.log" 2>&1
rc=$?
check "the app exits 0 after Stop and Close (rc $rc)" "[ $rc -eq 0 ]"
check "no step failed" "! grep -q 'test step' '$out/window.log'"

d="$out/window-during.state"
check "the job runs while the analysis view is shown" \
  "has '$d' 'view=analysis' && has '$d' 'training_running=1'"
check "a new image is analysed during the job" \
  "has '$d' 'state=ready' && has '$d' 'pages=2' && has '$d' 'analysis=results'"
check "the header shows the job's progress" "grep -Eq '^training_button=Training [0-9]+ %$' '$d'"
check "the training bar says what it measures" \
  "grep -q '^training_progress_text=Classifier · epoch [0-9]*/300 · step [0-9]*/[0-9]* · .* images/s' '$d'"

a="$out/window-asked.state"
check "closing the window during a job asks whether to stop it" \
  "has '$a' 'stop_dialog=1' && has '$a' 'training_running=1'"
k="$out/window-kept.state"
check "Keep Training keeps the window and the job" \
  "has '$k' 'stop_dialog=0' && has '$k' 'training_running=1'"

train="$data/dermalens/training"
check "Stop and Close leaves the job resumable" \
  "[ -s '$train/job.json' ] && [ -s '$train/classifier.safetensors.ckpt' ]"
check "no model version was registered by the stopped job" "[ ! -e '$data/dermalens/models' ] || [ -z \"\$(ls '$data/dermalens/models')\" ]"
check "screenshot of the training view" "[ -s '$out/train-window-in-progress.png' ]"
check "screenshot of the analysis view during the job" "[ -s '$out/train-window-analysis.png' ]"
check "no critical warning" "! grep -q 'CRITICAL' '$out/window.log'"
exit $failed
