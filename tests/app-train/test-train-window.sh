#!/bin/sh
# The training view inside the main window under Xvfb (TAP): a job started
# there runs while the analysis view analyses a new image; the header shows
# the job's progress; closing the window asks whether to stop the job;
# "Keep Training" keeps both, "Stop and Close" stops the job within a step,
# leaves it resumable and quits cleanly. Then, in new sessions: Resume after
# the restart; a short job killed (SIGKILL) in its third epoch; Resume
# after the crash, and the job finishes with a new model version.
#   test-train-window.sh DERMALENS TEST-TRAIN-PANEL APP-TEST-TOOL OUTDIR
set -u
app=$1 panel_test=$2 tool=$3 out=$4
mkdir -p "$out"

. "$(dirname "$0")/../app/gui-tap.sh"
# has FILE LINE: FILE has exactly LINE
has () { grep -qxF "$2" "$1"; }

echo "1..20"

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

# run_session NAME STEPS: the app again on the same data, without an image.
run_session () {
  XDG_DATA_HOME="$data" GSK_RENDERER=cairo GTK_A11Y=none \
  DERMALENS_TEST_STATE="$out/window-$1-final.state" DERMALENS_TEST_SCRIPT="$2" \
    timeout 300 xvfb-run -a -s "-screen 0 1280x1000x24" $session "$app" --device=cpu \
    --classifier="$data/classifier.safetensors" --segmenter="$data/segmenter.safetensors" \
    "$out/window-first.png" >"$out/window-$1.log" 2>&1
}
# Resume the stopped job after the restart; stop it again; start a short
# job and let it die on the spot in its third epoch.
run_session crash "train-resume;wait-train|Classifier|2;state|$out/window-resumed.state;train-stop;train|$ham|6|4|32;wait-train|Classifier|3;crash"
rc=$?
r="$out/window-resumed.state"
check "after a restart the stopped job resumes from its checkpoint" \
  "grep -q '^training_log=Resuming the stopped job' '$r' && grep -q '^training_log=resumed from .*classifier.safetensors.ckpt' '$r' && has '$r' 'training_running=1'"
check "the app was killed during the second job (rc $rc: SIGKILL)" "[ $rc -eq 137 ]"
check "the crash leaves the job resumable" "[ -s '$train/job.json' ] && [ -s '$train/classifier.safetensors.ckpt' ]"
# Resume after the crash and let the job finish.
run_session finish "train-resume;wait-train;state|$out/window-finished.state"
rc=$?
f="$out/window-finished.state"
check "after the crash the job resumes and finishes (rc $rc)" \
  "[ $rc -eq 0 ] && grep -q '^training_log=Resuming the stopped job' '$f' && has '$f' 'training_progress_text=Finished'"
check "it went on from a checkpoint after an epoch, not from the start" \
  "grep -q '^training_log=resumed from .*classifier.safetensors.ckpt after epoch [1-9]' '$f'"
check "the finished job registered a new, inactive classifier version" \
  "grep -q '^training_version=1|classifier|resnet18|test balanced accuracy [0-9.]*|inactive|parent 0$' '$f' && [ ! -e '$train' ]"
exit $failed
