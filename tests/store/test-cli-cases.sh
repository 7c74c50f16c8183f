#!/bin/sh
# dermalens-cli cases: every subcommand against a database in a temporary
# folder (--db), human and --json output, and exit codes 1 and 2.
CLI="$1"
PY=/usr/bin/python3
n=0; fail=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
json() { $PY -c "import json,sys; d=json.load(sys.stdin); $1"; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DB="$T/data/cases.db"

# Small PNG images written with the standard library only.
mkpng() {
  $PY - "$1" "$2" <<'PYEOF'
import struct, sys, zlib
path, seed = sys.argv[1], int(sys.argv[2])
w, h = 16, 12
raw = b"".join(b"\0" + b"".join(bytes(((x * 7 + seed * 31) & 255, (y * 5 + seed) & 255, 90))
                                for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
      + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(path, "wb").write(png)
PYEOF
}
mkpng "$T/a.png" 1
mkpng "$T/b.png" 2
echo "not an image" > "$T/notes.jpg"

out=$("$CLI" cases add --db "$DB" --patient P-001 --birth-year 1970 --sex female --site back \
      --label "left shoulder" --date 2024-01-02 "$T/a.png" --json); rc=$?
check "add creates a case (json)" '[ $rc -eq 0 ] && echo "$out" | json "assert d[\"id\"] == 1"'
lesion=$(echo "$out" | json 'print(d["lesion_id"])')
check "the database is user-only" '[ "$(stat -c %a "$DB")" = 600 ] && [ "$(stat -c %a "$T/data/images")" = 700 ]'

out=$("$CLI" cases add --db "$DB" --lesion "$lesion" --date 2024-06-01 "$T/b.png"); rc=$?
check "add a second visit to the lesion" '[ $rc -eq 0 ] && echo "$out" | grep -q "Added case 2"'

err=$("$CLI" cases add --db "$DB" --patient P-002 --site back "$T/notes.jpg" 2>&1); rc=$?
check "add refuses a non-image with exit 1" '[ $rc -eq 1 ] && echo "$err" | grep -q "notes.jpg"'
err=$("$CLI" cases add --db "$DB" --patient P-002 --site elbow "$T/a.png" 2>&1); rc=$?
check "add refuses an unknown body site" '[ $rc -eq 1 ] && echo "$err" | grep -q "lower extremity"'
"$CLI" cases add --db "$DB" "$T/a.png" >/dev/null 2>&1; rc=$?
check "add without patient or lesion is a usage error" '[ $rc -eq 2 ]'

out=$("$CLI" cases list --db "$DB" --json); rc=$?
check "list --json has both cases, newest first" '[ $rc -eq 0 ] && echo "$out" | json "assert d[\"total\"] == 2 and [c[\"id\"] for c in d[\"cases\"]] == [2, 1]"'
out=$("$CLI" cases list --db "$DB" --sort oldest --limit 1 --json)
check "list sorts and pages" 'echo "$out" | json "assert d[\"total\"] == 2 and [c[\"id\"] for c in d[\"cases\"]] == [1]"'
out=$("$CLI" cases list --db "$DB" --from 2024-03-01 --json)
check "list filters by date" 'echo "$out" | json "assert [c[\"id\"] for c in d[\"cases\"]] == [2]"'
out=$("$CLI" cases list --db "$DB" --text "LEFT should" --json)
check "list searches text case-insensitively" 'echo "$out" | json "assert d[\"total\"] == 2"'
out=$("$CLI" cases list --db "$DB" --text "50%" --json)
check "list treats % literally" 'echo "$out" | json "assert d[\"total\"] == 0"'
out=$("$CLI" cases list --db "$DB" --site face)
check "list (text) prints a header and a count" 'echo "$out" | grep -q "^CASE" && echo "$out" | grep -q "0 of 0 cases"'
"$CLI" cases list --db "$DB" --predicted XYZ >/dev/null 2>&1; rc=$?
check "list refuses an unknown class with exit 2" '[ $rc -eq 2 ]'

out=$("$CLI" cases show --db "$DB" 1 --json); rc=$?
check "show --json" '[ $rc -eq 0 ] && echo "$out" | json "assert d[\"patient\"] == \"P-001\" and d[\"body_site\"] == \"back\" and d[\"birth_year\"] == 1970 and d[\"analysis\"] is None"'
out=$("$CLI" cases show --db "$DB" 2 --timeline --json)
check "show --timeline lists the lesion's visits in date order" 'echo "$out" | json "assert [c[\"id\"] for c in d] == [1, 2]"'
out=$("$CLI" cases show --db "$DB" 1)
check "show (text)" 'echo "$out" | grep -q "patient P-001" && echo "$out" | grep -q "not confirmed"'
"$CLI" cases show --db "$DB" 99 >/dev/null 2>&1; rc=$?
check "show of a missing case exits 1" '[ $rc -eq 1 ]'

# A HAM10000 folder with three rows, the second without a mask.
H="$T/ham"; mkdir -p "$H/images" "$H/masks"
mkpng "$H/images/ISIC_1.jpg" 11; mkpng "$H/images/ISIC_2.jpg" 12; mkpng "$H/images/ISIC_3.jpg" 13
mkpng "$H/masks/ISIC_1_segmentation.png" 21; mkpng "$H/masks/ISIC_3_segmentation.png" 23
printf 'lesion_id,image_id,dx,dx_type,age,sex,localization\nHAM_1,ISIC_1,mel,histo,50.0,male,back\nHAM_1,ISIC_2,mel,histo,50.0,male,back\nHAM_2,ISIC_3,nv,follow_up,,female,"lower extremity"\n' > "$H/HAM10000_metadata.csv"
out=$("$CLI" cases import --db "$DB" --batch-size 2 "$H" --json); rc=$?
check "import a HAM10000 folder" '[ $rc -eq 0 ] && echo "$out" | json "assert d[\"imported\"] == 3"'
out=$("$CLI" cases import --db "$DB" "$H"); rc=$?
check "import again skips what is there" '[ $rc -eq 0 ] && echo "$out" | grep -q "Imported 0 cases"'
out=$("$CLI" cases list --db "$DB" --confirmed --diagnosis MEL --json)
check "imported cases are confirmed" 'echo "$out" | json "assert d[\"total\"] == 2"'
"$CLI" cases import --db "$DB" "$T/nowhere" >/dev/null 2>&1; rc=$?
check "import of a missing folder exits 1" '[ $rc -eq 1 ]'

out=$("$CLI" cases export --db "$DB" "$T/all.csv" --json); rc=$?
check "export csv" '[ $rc -eq 0 ] && echo "$out" | json "assert d[\"exported\"] == 5" && [ $(wc -l < "$T/all.csv") -eq 6 ]'
out=$("$CLI" cases export --db "$DB" --format ham10000 "$T/out"); rc=$?
check "export ham10000 writes confirmed cases only" '[ $rc -eq 0 ] && echo "$out" | grep -q "Exported 3 cases" && [ $(ls "$T/out/images" | wc -l) -eq 3 ] && [ $(ls "$T/out/masks" | wc -l) -eq 2 ] && head -1 "$T/out/HAM10000_metadata.csv" | grep -q "^lesion_id,image_id,dx,dx_type,age,sex,localization"'
"$CLI" cases export --db "$DB" --format ham10000 "$T/out" >/dev/null 2>&1; rc=$?
check "export refuses a non-empty folder" '[ $rc -eq 1 ]'
"$CLI" cases export --db "$DB" --format xml "$T/x" >/dev/null 2>&1; rc=$?
check "export refuses an unknown format with exit 2" '[ $rc -eq 2 ]'

n_img=$(ls "$T/data/images" | wc -l)
out=$("$CLI" cases delete --db "$DB" 2); rc=$?
check "delete a case removes its unshared image" '[ $rc -eq 0 ] && [ $(ls "$T/data/images" | wc -l) -eq $((n_img - 1)) ]'
out=$("$CLI" cases delete --db "$DB" --patient "HAM10000:HAM_1" --json); rc=$?
check "delete a patient cascades" '[ $rc -eq 0 ] && "$CLI" cases list --db "$DB" --json | json "assert d[\"total\"] == 2"'
"$CLI" cases delete --db "$DB" 99 >/dev/null 2>&1; rc=$?
check "delete of a missing case exits 1" '[ $rc -eq 1 ]'
"$CLI" cases delete --db "$DB" abc >/dev/null 2>&1; rc=$?
check "delete of a non-number exits 2" '[ $rc -eq 2 ]'

"$CLI" cases >/dev/null 2>&1; rc=$?
check "cases without a subcommand exits 2" '[ $rc -eq 2 ]'
"$CLI" cases frob >/dev/null 2>&1; rc=$?
check "unknown subcommand exits 2" '[ $rc -eq 2 ]'
"$CLI" --help | grep -q "cases"; rc=$?
check "dermalens-cli --help lists cases" '[ $rc -eq 0 ]'

# A database from a newer Dermalens is refused and left alone.
$PY -c "import sqlite3; c = sqlite3.connect('$T/new.db'); c.execute('create table t(x)'); c.execute('pragma user_version = 999'); c.commit()"
sum1=$(sha256sum "$T/new.db")
err=$("$CLI" cases list --db "$T/new.db" 2>&1); rc=$?
check "a newer database is refused, untouched" '[ $rc -eq 1 ] && echo "$err" | grep -q "newer version" && [ "$(sha256sum "$T/new.db")" = "$sum1" ]'

echo "1..$n"
exit $fail
