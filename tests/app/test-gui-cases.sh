#!/bin/sh
# Cases, corrections and reports under Xvfb (TAP). One run of the app,
# driven by DERMALENS_TEST_SCRIPT through the functions the buttons call:
# save two visits of one lesion, correct both masks and confirm the
# diagnosis, browse (search, site filter), compare the visits, reopen the
# first from the browser (stored overlays, no new analysis), toggle an
# overlay, erase and undo, export the PDF report. Screenshots of the main
# states are left in OUTDIR.
#   test-gui-cases.sh DERMALENS APP-TEST-TOOL OUTDIR
set -u
app=$1 tool=$2 out=$3
mkdir -p "$out"

. "$(dirname "$0")/gui-tap.sh"
val () { grep "^$2=" "$out/$1.state" | head -1 | cut -d= -f2-; }

data="$out/cases-data"
rm -rf "$data" "$out"/cases-*.state "$out/report.pdf" "$out/screenshot-report.png"
for f in case-browser follow-up correction save-dialog preferences; do rm -f "$out/screenshot-$f.png"; done
mkdir -p "$data"
"$tool" make-lesion "$out/visit1.png" 600 450
"$tool" make-lesion "$out/visit2.jpg" 640 480
"$tool" make-models "$data/plain.safetensors" "$data/segmenter.safetensors"
# A classifier with a decision rule whose operating point (1 %) flags every
# image: a reopened case must flag as its analysis did.
"$tool" with-rule "$data/plain.safetensors" "$data/classifier.safetensors" VASC 0.01

s="$out/cases"
script="save-case|P-0042|back|left shoulder|2024-03-01|Itchy since spring;state|$s-saved.state"
script="$script;brush-size|80;paint|260|225|340|225;diagnose|NV|follow_up;store-correction;state|$s-corrected.state"
script="$script;open-file|$out/visit2.jpg;save-case|P-0042|back|left shoulder|2024-09-01|Follow-up visit"
script="$script;brush-size|120;paint|260|240|380|240;diagnose|NV|follow_up;store-correction"
script="$script;save-dialog|;shot|save-dialog|$out/screenshot-save-dialog.png;close-windows"
script="$script;preferences;shot|preferences|$out/screenshot-preferences.png;close-windows"
script="$script;browse;state|$s-browser.state;shot|browser|$out/screenshot-case-browser.png"
script="$script;browse-search|spring;state|$s-search.state;browse-search|"
script="$script;browse-site|face;state|$s-face.state;browse-site|"
script="$script;compare|0;state|$s-compare.state;shot|compare|$out/screenshot-follow-up.png;close-windows"
script="$script;close-page;close-page;state|$s-closed.state;browse;browse-open|1;state|$s-reopen.state"
script="$script;toggle|contour;state|$s-toggled.state;toggle|contour"
script="$script;toggle|heatmap;state|$s-heatmap.state;toggle|heatmap"
script="$script;brush-size|30;erase|300|225|300|225;state|$s-erased.state;undo;state|$s-undone.state"
script="$script;strokes|5|300|225|310|225;state|$s-burst.state;undo;undo;undo;undo;undo"
script="$script;export|$out/report.pdf;state|$s-export.state;shot|main|$out/screenshot-correction.png"

echo "1..28"
XDG_DATA_HOME="$data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
DERMALENS_TEST_STATE="$s-final.state" DERMALENS_TEST_SCRIPT="$script" \
  timeout 600 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" --device=cpu \
    --classifier="$data/classifier.safetensors" --segmenter="$data/segmenter.safetensors" \
    "$out/visit1.png" >"$out/cases.log" 2>&1
rc=$?
check "app ran every step and exited 0 (rc $rc)" "[ $rc -eq 0 ]"
grep 'test step' "$out/cases.log" | sed 's/^/# /'

check "saved: the page is the stored case of P-0042" \
  "[ \"\$(val cases-saved source)\" = stored ] && [ \"\$(val cases-saved case_id)\" = 1 ] && [ \"\$(val cases-saved patient)\" = P-0042 ]"
check "saved: Save to Case is disabled and says why" \
  "[ \"\$(val cases-saved save_case_enabled)\" = 0 ] && [ \"\$(val cases-saved save_case_tooltip)\" = 'This image is already stored as a case.' ]"
check "correction stored as an annotation (NV, follow_up, with its mask)" \
  "[ \"\$(val cases-corrected confirmed)\" = 1 ] && [ \"\$(val cases-corrected diagnosis)\" = NV ] && [ \"\$(val cases-corrected dx_type)\" = follow_up ] && [ \"\$(val cases-corrected annotation_mask)\" = 1 ]"
px=$(val cases-corrected mask_pixels)
check "the brush stroke is in the mask ($px pixels)" "[ \"${px:-0}\" -gt 5000 ]"
area_saved=$(val cases-saved measurement1)
area_corrected=$(val cases-corrected measurement1)
echo "# lesion area: analysis '$area_saved', corrected '$area_corrected'"
check "the panel re-measures the corrected mask (area changed, and says so)" \
  "[ -n \"\$area_corrected\" ] && [ \"\$area_saved\" != \"\$area_corrected\" ] && grep -q '^measurement[0-9]*=Measured on the corrected mask.$' '$s-corrected.state' && ! grep -q 'Measured on the corrected mask' '$s-saved.state'"

check "browser lists both visits, newest first" \
  "[ \"\$(val cases-browser browser_rows)\" = 2 ] && grep -q '^row0=P-0042|Back|left shoulder|2024-09-01|' '$s-browser.state' && grep -q '^row1=P-0042|Back|left shoulder|2024-03-01|' '$s-browser.state'"
check "browser shows the confirmation" "grep -q '^row0=.*|NV, follow_up$' '$s-browser.state'"
check "search finds the visit by its notes" \
  "[ \"\$(val cases-search browser_rows)\" = 1 ] && grep -q '^row0=.*2024-03-01' '$s-search.state'"
check "body-site filter (face) leaves no case" "[ \"\$(val cases-face browser_rows)\" = 0 ]"

check "comparison shows two visits side by side with masks" \
  "[ \"\$(val cases-compare compare_visits)\" = 2 ] && grep -q '^compare_side0=First visit, 2024-03-01|.*has_mask=1' '$s-compare.state' && grep -q '^compare_side1=Latest visit, 2024-09-01|.*has_mask=1' '$s-compare.state'"
check "comparison reports the growth of the lesion area" \
  "grep -q '^compare_change=Lesion area: .* → .* (+[0-9.]* %);Colours: ' '$s-compare.state'"

before=$(val cases-browser worker_analyses)
after=$(val cases-reopen worker_analyses)
check "reopened from the browser: the stored case with its overlays, in a new tab" \
  "[ \"\$(val cases-closed pages)\" = 0 ] && [ \"\$(val cases-reopen pages)\" = 1 ] && [ \"\$(val cases-reopen source)\" = stored ] && [ \"\$(val cases-reopen case_id)\" = 1 ] && [ \"\$(val cases-reopen has_mask)\" = 1 ] && [ \"\$(val cases-reopen analysis)\" = results ]"
check "reopening computed nothing (worker analyses $before -> $after)" "[ -n '$before' ] && [ '$before' = '$after' ]"
check "reopened mask is the stored correction" "[ \"\$(val cases-reopen mask_pixels)\" = '$px' ]"
check "reopened case measured on its corrected mask (area as after the correction)" \
  "[ \"\$(val cases-reopen measurement1)\" = \"\$area_corrected\" ] && grep -q '^measurement[0-9]*=Measured on the corrected mask.$' '$s-reopen.state'"
check "reopened case: no stored heatmap, the heatmap button says it is computed on demand" \
  "[ \"\$(val cases-reopen has_heatmap)\" = 0 ] && [ \"\$(val cases-reopen heatmap_button_enabled)\" = 1 ] && grep -q '^heatmap_button_tooltip=.*computed now with the current classifier' '$s-reopen.state'"
after_heatmap=$(val cases-heatmap worker_analyses)
check "heatmap toggled on a reopened case: computed on the worker, no new analysis ($after -> $after_heatmap)" \
  "[ \"\$(val cases-heatmap has_heatmap)\" = 1 ] && [ \"\$(val cases-heatmap heatmap_source)\" = on-demand ] && [ '$after' = '$after_heatmap' ] && grep -q '^status=Heatmap computed now with the current classifier' '$s-heatmap.state'"
check "reopened case flags at the model's stored operating point, as its analysis did" \
  "grep -q '^risk_flag=.*the model’s operating point (1 %)\. At this threshold the model found 9 in 10 malignant lesions' '$s-saved.state' && [ \"\$(val cases-reopen risk_flag)\" = \"\$(val cases-saved risk_flag)\" ]"
check "reopened probabilities are the stored ones" \
  "[ \"\$(grep '^bar' '$s-saved.state')\" = \"\$(grep '^bar' '$s-reopen.state')\" ]"
check "toggling the contour overlay" \
  "[ \"\$(val cases-reopen show_contour)\" = 1 ] && [ \"\$(val cases-toggled show_contour)\" = 0 ]"
check "eraser removes pixels and undo brings them back" \
  "[ \"\$(val cases-erased mask_pixels)\" -lt '$px' ] && [ \"\$(val cases-undone mask_pixels)\" = '$px' ] && [ \"\$(val cases-undone can_redo)\" = 1 ]"
m0=$(val cases-undone corrected_measurements)
m1=$(val cases-burst corrected_measurements)
check "five quick strokes are measured once (debounced: $m0 -> $m1)" \
  "[ -n '$m0' ] && [ \"\$((m0 + 1))\" = '$m1' ] && [ \"\$(val cases-burst can_undo)\" = 1 ]"
check "the measurements follow the eraser and the undo" \
  "[ \"\$(val cases-erased measurement1)\" != \"\$area_corrected\" ] && [ \"\$(val cases-undone measurement1)\" = \"\$area_corrected\" ]"

if command -v pdftotext >/dev/null 2>&1; then
  pdftotext -layout "$out/report.pdf" "$out/report.txt" 2>/dev/null
  t="$out/report.txt"
  check "PDF report: one page with the case" \
    "[ \"\$(pdfinfo '$out/report.pdf' | awk '/^Pages:/ { print \$2 }')\" = 1 ] && grep -q 'Dermoscopy Report' '$t' && grep -q 'Patient: P-0042' '$t' && grep -q 'Visit date: 2024-03-01' '$t' && grep -q 'Itchy since spring' '$t'"
  check "PDF report: probabilities, measurements, diagnosis, models" \
    "grep -q 'Melanocytic nevus (NV)' '$t' && grep -q 'Area:' '$t' && grep -q 'confirmed by Follow-up examination' '$t' && grep -q 'Classifier: resnet18, classifier.safetensors, cpu' '$t'"
  check "PDF report: the decision-support disclaimer" "grep -q 'Decision support only' '$t' && grep -q 'not a' '$t'"
  if command -v pdftoppm >/dev/null 2>&1; then
    pdftoppm -png -r 60 -singlefile "$out/report.pdf" "$out/screenshot-report" 2>/dev/null
  fi
else
  for i in 1 2 3; do ok "# SKIP pdftotext is not installed"; done
fi

# Every accelerator the window installs is listed in the shortcuts window.
overlay="$(dirname "$0")/../../resources/gtk/help-overlay.ui"
missing=""
for a in '&lt;Primary&gt;b' '&lt;Primary&gt;s' '&lt;Primary&gt;e' '&lt;Primary&gt;z' '&lt;Shift&gt;&lt;Primary&gt;z' \
         '&lt;Primary&gt;comma' '&lt;Primary&gt;o' '&lt;Primary&gt;w' '>b<' '>e<' '>m<' '>c<' '>h<'; do
  grep -qF "$a" "$overlay" || missing="$missing $a"
done
check "shortcuts window lists every shortcut (missing:${missing:- none})" "[ -z '$missing' ]"

for f in screenshot-case-browser screenshot-follow-up screenshot-correction screenshot-save-dialog screenshot-preferences; do
  [ -s "$out/$f.png" ] || { echo "# missing $f.png"; failed=1; }
done
echo "# screenshots: $(ls "$out"/screenshot-*.png 2>/dev/null | tr '\n' ' ')"
if grep -q 'CRITICAL\|WARNING' "$out/cases.log"; then sed 's/^/# /' "$out/cases.log"; fi
exit $failed
