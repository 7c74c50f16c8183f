#!/bin/sh
# Patient context in the window, under Xvfb (TAP). A classifier that takes
# the patient context analyses a new image with none known and says so;
# saving it to a case with a year of birth, a sex and a body site analyses it
# again with them before storing, and the results panel says which context
# was used and what the probabilities are without it; the reopened case shows
# the same from the store, and so does the PDF report.
#   test-gui-context.sh DERMALENS APP-TEST-TOOL OUTDIR
set -u
app=$1 tool=$2 out=$3
mkdir -p "$out"

. "$(dirname "$0")/gui-tap.sh"
val () { grep "^$2=" "$out/$1.state" | head -1 | cut -d= -f2-; }

data="$out/context-data"
rm -rf "$data" "$out"/context-*.state "$out/context-report.pdf"
mkdir -p "$data"
"$tool" make-lesion "$out/context.png" 600 450
"$tool" make-models "$data/classifier.safetensors" "$data/segmenter.safetensors" --context

s="$out/context"
script="state|$s-open.state"
script="$script;save-case|P-0007|back|mole|2024-03-01|context test|1960|female;state|$s-saved.state"
script="$script;shot|main|$out/screenshot-context.png;export|$out/context-report.pdf"
script="$script;close-page;browse;browse-open|0;state|$s-reopen.state"

echo "1..7"
XDG_DATA_HOME="$data" GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
DERMALENS_TEST_STATE="$s-final.state" DERMALENS_TEST_SCRIPT="$script" \
  timeout 300 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" --device=cpu \
    --classifier="$data/classifier.safetensors" --segmenter="$data/segmenter.safetensors" \
    "$out/context.png" >"$out/context.log" 2>&1
rc=$?
check "app ran every step and exited 0 (rc $rc)" "[ $rc -eq 0 ] && ! grep -q 'test step' '$out/context.log'"
grep 'test step' "$out/context.log" | sed 's/^/# /'
for f in open saved reopen; do echo "# $f: $(val context-$f context)"; done

check "a new image: the panel says the model weighs a context none of which is known" \
  "val context-open context | grep -q 'also weighs the patient’s age, sex and body site; none is known'"
check "saved with birth year, sex and site: analysed again with them before it was stored" \
  "[ \"\$(val context-saved source)\" = stored ] && val context-saved context | grep -q '^Patient context used: 64 years, female, Back. Without it: [A-Z]* [0-9]* %, '"
check "the stored probabilities are the ones with the context" \
  "[ \"\$(val context-saved bar0)\" = \"\$(val context-reopen bar0)\" ] && [ \"\$(val context-saved bar6)\" = \"\$(val context-reopen bar6)\" ]"
check "the reopened case shows the context and the probabilities without it from the store" \
  "[ \"\$(val context-reopen context)\" = \"\$(val context-saved context)\" ]"
# The pass without context is the first analysis's: each class's value there,
# rounded, is the one the panel gives "without it".
consistent=1
for i in 0 1 2 3 4 5 6; do
  bar=$(val context-open bar$i)
  code=$(echo "$bar" | cut -d'|' -f1)
  pct=$(echo "$bar" | cut -d'|' -f3 | sed 's/ %//')
  rounded=$(printf '%.0f' "$pct")
  val context-saved context | grep -q "[ :,]$code $rounded %" || { consistent=0; echo "# $code: $pct % before saving, not in the saved 'without' list"; }
done
check "without the context the probabilities are those of the first analysis, which had none" \
  "[ $consistent -eq 1 ] && [ -s '$out/screenshot-context.png' ]"
if command -v pdftotext >/dev/null 2>&1; then
  check "the PDF report says which context was used" \
    "pdftotext '$out/context-report.pdf' - | tr '\n' ' ' | grep -q 'Patient context used: 64 years, female, Back'"
else
  ok "# SKIP pdftotext is not installed (tools/install-deps.sh --test)"
fi
exit $failed
