#!/bin/sh
# dermalens-cli with paths and names that hold spaces, both quotes, commas
# and non-ASCII letters (issue 9, "Limits"): model files, images, masks, the
# case database and its CSV export. TAP.
#   test-cli-odd-paths.sh CLI SEED_JPEG
CLI=$1
SEED=$2
export LC_ALL=C.UTF-8
TMP=$(mktemp -d "${TMPDIR:-/tmp}/case folder 'single' \"double\", ünïcødé ✓ XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0; fail=0
ok()  { n=$((n+1)); echo "ok $n - $1"; }
nok() { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; sed 's/^/# /' "$TMP/err" 2>/dev/null; fi; }

IMG="$TMP/lésion \"1\" 'a', b.jpg"
cp "$SEED" "$IMG"
U="$TMP/modèle \"v1\" 'unet'.safetensors"
R="$TMP/classifieur, \"v2\" ✓.safetensors"
MASK="$TMP/masque ✓ \"x\".png"
DB="$TMP/données \"cas\""
CSV="$TMP/export \"all\", ü.csv"

"$CLI" init-weights -a unet --unet-base 4 -s 32 -o "$U" >/dev/null 2>"$TMP/err"
check "init-weights writes a U-Net to an odd path" '[ $? -eq 0 ] && [ -s "$U" ]'
out=$("$CLI" weights-info "$U" 2>"$TMP/err")
check "weights-info reads it" '[ $? -eq 0 ] && echo "$out" | grep -q unet'
"$CLI" segment -w "$U" -o "$MASK" "$IMG" >/dev/null 2>"$TMP/err"
check "segment reads the image and writes the mask at odd paths" '[ $? -eq 0 ] && [ -s "$MASK" ]'
"$CLI" init-weights -a resnet18 -s 32 -o "$R" >/dev/null 2>"$TMP/err"
out=$("$CLI" classify -w "$R" --json "$IMG" 2>"$TMP/err")
check "classify with a model and an image at odd paths" '[ $? -eq 0 ] && echo "$out" | grep -q "MEL"'

"$CLI" cases add --db "$DB" --patient "Ünï \"P\" 'q', 1" --site back \
  --label "naevus, \"left\" 'shoulder'" "$IMG" >/dev/null 2>"$TMP/err"
check "cases add with an odd database folder, patient, label and image" '[ $? -eq 0 ]'
out=$("$CLI" cases list --db "$DB" --json 2>"$TMP/err")
check "cases list shows the patient as given" '[ $? -eq 0 ] && echo "$out" | grep -q "Ünï"'
"$CLI" cases export --db "$DB" "$CSV" >/dev/null 2>"$TMP/err"
check "cases export writes the CSV at an odd path, quoted as RFC 4180 says" \
  '[ $? -eq 0 ] && grep -q "\"Ünï \"\"P\"\" '"'"'q'"'"', 1\"" "$CSV"'

# Missing files at odd paths: a clear error naming them, exit 1, no crash.
"$CLI" classify -w "$TMP/nowhere \"x\".safetensors" "$IMG" >/dev/null 2>"$TMP/err"; rc=$?
check "a missing model at an odd path is a plain error" '[ $rc -eq 1 ] && grep -q "nowhere" "$TMP/err"'
"$CLI" segment -w "$U" -o "$TMP/m.png" "$TMP/absent ü.jpg" >/dev/null 2>"$TMP/err"; rc=$?
check "a missing image at an odd path is a plain error" '[ $rc -eq 1 ] && grep -q "absent" "$TMP/err"'

echo "1..$n"
exit $fail
