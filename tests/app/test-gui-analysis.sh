#!/bin/sh
# The diagnostic window under Xvfb (TAP): with no model the window says so;
# with small models written by the test it analyses the image on the model
# worker, and the panel's probabilities sum to 100 %, are sorted, and match
# the engine's classification of the same image with the same model.
#   test-gui-analysis.sh DERMALENS APP-TEST-TOOL OUTDIR
set -u
app=$1 tool=$2 out=$3
mkdir -p "$out"

. "$(dirname "$0")/gui-tap.sh"

# An empty data folder: no store, no registered model.
data="$out/analysis-data"
rm -rf "$data"
mkdir -p "$data"

run_app () {
  name=$1; shift
  rm -f "$out/$name.png" "$out/$name.state"
  env ${scheme:+ADW_DEBUG_COLOR_SCHEME=$scheme} ${lang:+LANGUAGE=$lang} \
  XDG_DATA_HOME="$data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
  DERMALENS_TEST_SCREENSHOT="$out/$name.png" DERMALENS_TEST_STATE="$out/$name.state" \
    timeout 300 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" "$@" >"$out/$name.log" 2>&1
}

echo "1..26"

"$tool" make-lesion "$out/analysis-input.png" 600 450
run_app screenshot-no-model "$out/analysis-input.png"
rc=$?
check "app exits 0 without a model (rc $rc)" "[ $rc -eq 0 ]"
check "the window says there is no model yet" "grep -q '^analysis=no-model' '$out/screenshot-no-model.state' && grep -q '^no_model=No classification model' '$out/screenshot-no-model.state'"
# Every analysis control is disabled and its tooltip says why.
why='No classification model is installed: import weights first.'
unexplained=""
for c in mask_button contour_button opacity_scale heatmap_button heatmap_class save_case report; do
  grep -qx "${c}_enabled=0" "$out/screenshot-no-model.state" \
    && grep -qxF "${c}_tooltip=$why" "$out/screenshot-no-model.state" || unexplained="$unexplained $c"
done
check "without a model every analysis button is disabled with a tooltip saying why (not:${unexplained:- none})" \
  "[ -z '$unexplained' ]"

"$tool" make-models "$data/classifier.safetensors" "$data/segmenter.safetensors"
check "small models written" "[ -s '$data/classifier.safetensors' ] && [ -s '$data/segmenter.safetensors' ]"

run_app screenshot-analysis --device=cpu --classifier="$data/classifier.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
rc=$?
st="$out/screenshot-analysis.state"
check "app exits 0 after the analysis (rc $rc)" "[ $rc -eq 0 ]"
check "the results are shown" "grep -qx 'analysis=results' '$st'"
check "seven bars with full class names" "[ \$(grep -c '^bar[0-6]=' '$st') -eq 7 ] && grep -q '^bar.=MEL|Melanoma (MEL)|' '$st' && grep -q '^bar.=AKIEC|Actinic keratosis' '$st'"

# Percentages as shown, in display order.
grep '^bar[0-6]=' "$st" | sed 's/.*|\([0-9.]*\) %$/\1/' >"$out/shown.txt"
sum=$(awk '{ s += $1 } END { printf "%.1f", s }' "$out/shown.txt")
echo "# shown percentages: $(tr '\n' ' ' <"$out/shown.txt") sum $sum"
check "percentages sum to 100 % (got $sum)" "awk -v s=$sum 'BEGIN { exit !(s >= 99.6 && s <= 100.4) }'"
check "bars sorted from most to least likely" "sort -g -r '$out/shown.txt' | cmp -s - '$out/shown.txt'"

# The same image and model through the engine directly.
"$tool" classify "$data/classifier.safetensors" "$out/analysis-input.png" >"$out/engine-probs.txt"
mismatch=0
while read -r code p; do
  want=$(awk -v p="$p" 'BEGIN { printf "%.1f", 100 * p }')
  got=$(grep "^bar[0-6]=$code|" "$st" | sed 's/.*|\([0-9.]*\) %$/\1/')
  if [ "$want" != "$got" ]; then echo "# $code: engine $want %, window $got %"; mismatch=1; fi
done <"$out/engine-probs.txt"
check "every shown probability matches the engine's" "[ $mismatch -eq 0 ]"
top=$(sort -k2 -g -r "$out/engine-probs.txt" | head -1 | cut -d' ' -f1)
check "top class is the engine's argmax ($top)" "grep -q '^bar0=$top|' '$st'"
check "mask and heatmap overlays present" "grep -qx 'has_mask=1' '$st' && grep -qx 'has_heatmap=1' '$st'"
check "model versions shown" "grep -q '^models=Classifier: resnet18, classifier.safetensors, cpu;Segmentation: unet, segmenter.safetensors, cpu' '$st'"
check "no notice when the chosen device works" "grep -qx 'notice=' '$st'"

# The model's decision rule: offsets that favour the least likely class,
# and an operating point low enough that this image is flagged.
last=$(sort -k2 -g "$out/engine-probs.txt" | head -1 | cut -d' ' -f1)
"$tool" with-rule "$data/classifier.safetensors" "$data/ruled.safetensors" "$last" 0.01
run_app screenshot-analysis-rule --device=cpu --classifier="$data/ruled.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
rst="$out/screenshot-analysis-rule.state"
last_name=$(grep "^bar.=$last|" "$rst" | cut -d'|' -f2 | sed 's/ ([A-Z]*)$//')
check "with a decision rule the window shows the rule's class ($last), not the most probable ($top), and says so" \
  "[ -n '$last_name' ] && grep -q \"^top=$last_name — [0-9]* % (the model’s decision rule favours it over \" '$rst' && [ \"\$(grep '^bar' '$rst')\" = \"\$(grep '^bar' '$st')\" ]"
check "the flag is the model's operating point, said in words" \
  "grep -q '^risk_flag=Malignant risk: .* at or above the model’s operating point (1 %). At this threshold the model found 9 in 10 malignant lesions on held-out data, and flagged 3 in 10 benign ones.$' '$rst'"
check "without a rule the flag uses the setting's threshold (30 %)" \
  "grep -q '^risk_flag=\$' '$st' || grep -q '(threshold 30 %)\.$' '$st'"

# A rule that cannot be read: the window says so, and decides as without one.
"$tool" with-bad-rule "$data/classifier.safetensors" "$data/badrule.safetensors"
run_app screenshot-analysis-bad-rule --device=cpu --classifier="$data/badrule.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
bst="$out/screenshot-analysis-bad-rule.state"
check "an unreadable decision rule: a notice in the window, the most probable class shown" \
  "grep -q '^notice=The decision rule stored in “badrule.safetensors” cannot be read' '$bst' && grep -q '^bar0=$top|' '$bst' && [ \"\$(grep '^bar' '$bst')\" = \"\$(grep '^bar' '$st')\" ]"

# The dark style, as AdwStyleManager applies it when the system prefers dark
# (ADW_DEBUG_COLOR_SCHEME stands in for the desktop's setting). The results
# panel and the page take the dark colours (white is left in text only, under
# a tenth of the light style's; a hard-coded colour would leave a panel), and
# the analysis reads the same.
scheme=prefer-dark run_app screenshot-analysis-dark --device=cpu --classifier="$data/classifier.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
rc=$?
scheme=
white_light=$("$tool" count-colour "$out/screenshot-analysis.png" 255 255 255 12 2>/dev/null || echo 0)
white_dark=$("$tool" count-colour "$out/screenshot-analysis-dark.png" 255 255 255 12 2>/dev/null || echo 0)
echo "# near-white pixels: light style $white_light, dark style $white_dark"
check "dark style: app exits 0 and shows the same results (rc $rc)" \
  "[ $rc -eq 0 ] && [ \"\$(grep '^bar' '$out/screenshot-analysis-dark.state')\" = \"\$(grep '^bar' '$st')\" ]"
check "dark style respected: the white panels of the light style are dark" \
  "[ '$white_light' -gt 50000 ] && [ $((white_dark * 10)) -lt '$white_light' ]"

# German (LANGUAGE is honoured with the tests' C.UTF-8 locale; the
# translation comes from the build tree).
lang=de run_app screenshot-analysis-de --device=cpu --classifier="$data/classifier.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
lang=
dst="$out/screenshot-analysis-de.state"
check "in German: class names, buttons' tooltips and the model line are translated" \
  "grep -q '^bar.=NV|Melanozytärer Nävus (NV)|' '$dst' && grep -qx 'mask_button_tooltip=Die Segmentierungsmaske anzeigen (M)' '$dst' && grep -q '^models=Klassifikator: ' '$dst'"

# A GPU that cannot be used (none on a CPU machine; a missing device on a
# GPU machine): the analysis falls back to the CPU and says so.
run_app screenshot-gpu-fallback --device=cuda:7 --classifier="$data/classifier.safetensors" \
  --segmenter="$data/segmenter.safetensors" "$out/analysis-input.png"
rc=$?
gst="$out/screenshot-gpu-fallback.state"
check "with an unusable GPU the app still exits 0 (rc $rc)" "[ $rc -eq 0 ]"
check "the analysis ran on the CPU and the window says the device failed" \
  "grep -qx 'analysis=results' '$gst' && grep -q '^notice=The device “cuda:7” could not be used (.*); the analysis runs on the CPU.$' '$gst' && grep -q '^models=Classifier: resnet18, classifier.safetensors, cpu' '$gst'"

# Import Model File from the window, with an empty data folder: the file
# goes into the registry, becomes the active classifier, and the open image
# is analysed on it without another step.
import_data="$out/analysis-import-data"
rm -rf "$import_data"
mkdir -p "$import_data"
rm -f "$out/import-final.state"
XDG_DATA_HOME="$import_data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
DERMALENS_TEST_STATE="$out/import-final.state" \
DERMALENS_TEST_SCRIPT="state|$out/import-before.state;import-model|$data/classifier.safetensors;state|$out/import-after.state" \
  timeout 300 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" --device=cpu \
  "$out/analysis-input.png" >"$out/import.log" 2>&1
rc=$?
check "the app exits 0 after importing a model (rc $rc)" "[ $rc -eq 0 ] && ! grep -q 'test step' '$out/import.log'"
check "before the import the window says there is no model" "grep -q '^analysis=no-model' '$out/import-before.state'"
check "after it the image is analysed on the imported classifier, now in the registry" \
  "grep -qx 'analysis=results' '$out/import-final.state' && grep -q '^models=Classifier: resnet18, ' '$out/import-final.state' && ls '$import_data'/dermalens/models/*.safetensors >/dev/null 2>&1 && grep -qx 'toast=The model file was imported and is active.' '$out/import-after.state'"

for f in "$out"/import.log "$out"/screenshot-no-model.log "$out"/screenshot-analysis.log "$out"/screenshot-analysis-dark.log "$out"/screenshot-analysis-de.log \
         "$out"/screenshot-gpu-fallback.log; do
  if grep -q 'CRITICAL\|WARNING' "$f"; then sed 's/^/# /' "$f"; fi
done
exit $failed
