#!/bin/sh
# Layout and accessibility under Xvfb (TAP). One run with small models and
# an image: the window at 1400, 1024, 720 and 360 px wide (screenshots at
# each): wide, the results sit beside the image; at 800 px or less they fold
# and a toolbar button (F9) shows them over it; at 360 px the window still
# works. Then every control of the analysis view, the training view,
# Preferences, the case browser, the save dialog and About is walked: each
# has an accessible name (GTK's accessible test API), the probability bars
# say their values, and the image's description names the leading result.
# Last, the keyboard: every action has a shortcut, a control Tab reaches or a
# menu item, and the shortcuts window lists every shortcut.
#   test-gui-layout.sh DERMALENS APP-TEST-TOOL OUTDIR
set -u
app=$1 tool=$2 out=$3
mkdir -p "$out"

. "$(dirname "$0")/gui-tap.sh"
val () { grep "^$2=" "$1" | head -1 | cut -d= -f2-; }

echo "1..13"

data="$out/layout-data"
rm -rf "$data" "$out"/layout-*.state "$out"/a11y-*.state "$out"/screenshot-width-*.png
mkdir -p "$data"
"$tool" make-lesion "$out/layout.png" 600 450
"$tool" make-models "$data/classifier.safetensors" "$data/segmenter.safetensors"

l="$out/layout"
steps="a11y|$out/a11y-analysis.state"
for w in 1400 1024 720 360; do
  steps="$steps;resize|$w|800;state|$l-$w.state;shot|main|$out/screenshot-width-$w.png"
done
steps="$steps;action|page.toggle-results;state|$l-360-results.state;shot|main|$out/screenshot-width-360-results.png"
steps="$steps;resize|1400|900;view|training;a11y|$out/a11y-training.state"
steps="$steps;view|analysis;preferences;a11y|$out/a11y-preferences.state;close-windows"
steps="$steps;browse;a11y|$out/a11y-cases.state;close-windows"
steps="$steps;save-dialog|;a11y|$out/a11y-save.state;close-windows"
steps="$steps;about;a11y|$out/a11y-about.state;close-windows"
steps="$steps;keys|$out/keys.state"
# GTK_A11Y=test: the accessible properties as GTK keeps them, without an
# AT-SPI bus.
XDG_DATA_HOME="$data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=test \
DERMALENS_TEST_STATE="$l-final.state" DERMALENS_TEST_SCRIPT="$steps" \
  timeout 300 xvfb-run -a -s "-screen 0 1600x1000x24" $session "$app" --device=cpu \
  --classifier="$data/classifier.safetensors" --segmenter="$data/segmenter.safetensors" \
  "$out/layout.png" >"$out/layout.log" 2>&1
rc=$?
check "the app exits 0 after resizing and the walks (rc $rc)" "[ $rc -eq 0 ] && ! grep -q 'test step' '$out/layout.log'"

for w in 1400 1024 720 360; do
  echo "# $w px: window $(val "$l-$w.state" window_width) px, results folded $(val "$l-$w.state" results_folded), shown $(val "$l-$w.state" results_shown)"
done
check "at 1400 and 1024 px the results are beside the image" \
  "[ '$(val "$l-1400.state" results_folded)' = 0 ] && [ '$(val "$l-1024.state" results_folded)' = 0 ]"
check "at 720 px they fold away, and the image keeps the width" \
  "[ '$(val "$l-720.state" results_folded)' = 1 ] && [ '$(val "$l-720.state" results_shown)' = 0 ] && [ '$(val "$l-720.state" window_width)' -le 800 ]"
check "at 360 px the window is 360 px wide and still shows the image" \
  "[ '$(val "$l-360.state" window_width)' -le 400 ] && [ '$(val "$l-360.state" analysis)' = results ]"
check "F9's action shows the results over the image" "[ '$(val "$l-360-results.state" results_shown)' = 1 ]"
check "screenshots at 1400, 1024, 720 and 360 px" \
  "[ -s '$out/screenshot-width-1400.png' ] && [ -s '$out/screenshot-width-1024.png' ] && [ -s '$out/screenshot-width-720.png' ] && [ -s '$out/screenshot-width-360.png' ]"

for v in analysis training preferences; do
  echo "# $v: $(val "$out/a11y-$v.state" a11y_checked) controls checked"
  grep '^a11y_' "$out/a11y-$v.state" | grep -v '^a11y_checked' | sed 's/^/#   /'
done
check "every control of the analysis view has an accessible name and the bars their values" \
  "[ '$(val "$out/a11y-analysis.state" a11y_checked)' -gt 20 ] && ! grep -q '^a11y_unnamed\|^a11y_no_value' '$out/a11y-analysis.state'"
check "every control of the training view has an accessible name and the recall bars their values" \
  "[ '$(val "$out/a11y-training.state" a11y_checked)' -gt 20 ] && ! grep -q '^a11y_unnamed\|^a11y_no_value' '$out/a11y-training.state'"
check "every control of Preferences has an accessible name" \
  "[ '$(val "$out/a11y-preferences.state" a11y_checked)' -gt 10 ] && ! grep -q '^a11y_unnamed' '$out/a11y-preferences.state'"
for v in cases save about; do
  echo "# $v: $(val "$out/a11y-$v.state" a11y_checked) controls checked"
  grep '^a11y_' "$out/a11y-$v.state" | grep -v '^a11y_checked' | sed 's/^/#   /'
done
check "every control of the case browser, the save dialog and About has an accessible name" \
  "[ '$(val "$out/a11y-cases.state" a11y_checked)' -gt 5 ] && [ '$(val "$out/a11y-save.state" a11y_checked)' -gt 5 ] && [ '$(val "$out/a11y-about.state" a11y_checked)' -gt 2 ] && ! grep -q '^a11y_unnamed' '$out/a11y-cases.state' '$out/a11y-save.state' '$out/a11y-about.state'"
echo "# $(val "$out/keys.state" keys_checked) actions, $(val "$out/keys.state" keys_listed) shortcuts listed"
grep '^keys_' "$out/keys.state" | grep -v '^keys_checked\|^keys_listed' | sed 's/^/#   /'
check "every action has a keyboard path" \
  "[ '$(val "$out/keys.state" keys_checked)' -gt 20 ] && ! grep -q '^keys_none' '$out/keys.state'"
check "the shortcuts window lists every shortcut" \
  "[ '$(val "$out/keys.state" keys_listed)' -gt 10 ] && ! grep -q '^keys_unlisted' '$out/keys.state'"
check "the image's description names the leading result" \
  "grep -q '^image_description=The model.s result: .*, [0-9]* percent.$' '$l-1400.state'"
if grep -q 'CRITICAL\|WARNING' "$out/layout.log"; then sed 's/^/# /' "$out/layout.log"; fi
exit $failed
