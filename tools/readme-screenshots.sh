#!/bin/sh
# The README's screenshots with real models and real HAM10000 images: the
# first run, an analysis, the case browser, a follow-up comparison, the
# training view set up for this machine, and the narrow layout. Drives the
# window through the test driver's script (tests/app/dermalens-test), as the
# GUI tests do; needs a built tree (_build) and xvfb-run.
#   tools/readme-screenshots.sh HAM10000_DIR CLASSIFIER SEGMENTER IMAGE_ID VISIT1_ID VISIT2_ID OUT_DIR
# IMAGE_ID: an image of the classifier's test split (dermalens-cli evaluate
# --predictions lists them); VISIT1_ID, VISIT2_ID: two images of one lesion.
# Weights trained on HAM10000 (CC BY-NC 4.0) are not part of the repository:
# train them with dermalens-cli train, or in the window.
set -eu
ham=$1 cls=$2 seg=$3 image=$4 visit1=$5 visit2=$6 out=$7
root=$(cd "$(dirname "$0")/.." && pwd)
app="$root/_build/tests/app/dermalens-test"
[ -x "$app" ] || { echo "readme-screenshots: build first (tools/quickstart.sh test, or ninja -C _build)" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
img () { for d in fullres images; do [ -f "$ham/$d/$1.jpg" ] && { echo "$ham/$d/$1.jpg"; return; }; done; echo "$ham/$1.jpg"; }

run () {  # run NAME DATA_DIR STEPS APP-ARGS...
  name=$1 data=$2 steps=$3; shift 3
  XDG_DATA_HOME="$data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
  GSETTINGS_SCHEMA_DIR="$root/_build/data" LC_ALL=C.UTF-8 \
  DERMALENS_TEST_STATE="$work/$name.state" DERMALENS_TEST_SCRIPT="$steps" \
    timeout 600 xvfb-run -a -s "-screen 0 1600x1000x24" "$app" "$@" >"$work/$name.log" 2>&1 \
    || { echo "readme-screenshots: $name failed:" >&2; cat "$work/$name.log" >&2; exit 1; }
}

# 1. The first run: no model, an image open; then Train on HAM10000 with the real folder.
mkdir -p "$work/empty"
run first "$work/empty" "resize|1400|900;shot|main|$out/screenshot-first-run.png;first-run|$ham;shot|main|$out/screenshot-training-setup.png" \
  "$(img "$image")"

# 2. An analysis with the trained models, the heatmap on; the narrow layout with the results shown.
mkdir -p "$work/models"
steps="resize|1400|900;shot|main|$out/screenshot-analysis.png"
steps="$steps;toggle|heatmap;shot|main|$out/screenshot-heatmap.png;toggle|heatmap"
steps="$steps;resize|720|900;action|page.toggle-results;shot|main|$out/screenshot-narrow.png"
run analysis "$work/models" "$steps" --device=cpu --classifier="$cls" --segmenter="$seg" "$(img "$image")"

# 3. Two visits of one lesion stored, browsed and compared.
steps="resize|1400|900;save-case|HAM-demo|back|lesion 1|2024-03-01|First visit"
steps="$steps;open-file|$(img "$visit2");save-case|HAM-demo|back|lesion 1|2024-09-01|Follow-up visit"
steps="$steps;browse;shot|browser|$out/screenshot-case-browser.png;compare|0;shot|compare|$out/screenshot-follow-up.png;close-windows"
run cases "$work/models" "$steps" --device=cpu --classifier="$cls" --segmenter="$seg" "$(img "$visit1")"
ls -l "$out"/screenshot-*.png
