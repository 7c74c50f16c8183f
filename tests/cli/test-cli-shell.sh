#!/bin/sh
# dermalens-cli's shell: --version, --help, info, and exit 2 on misuse.
CLI="$1"
n=0; fail=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

out=$("$CLI" --version); rc=$?
check "--version exits 0" '[ $rc -eq 0 ]'
check "--version names libtorch" 'echo "$out" | grep -q "libtorch [0-9]"'

out=$("$CLI" --help); rc=$?
check "--help exits 0 and lists info" '[ $rc -eq 0 ] && echo "$out" | grep -q "info"'

out=$("$CLI" info); rc=$?
check "info exits 0" '[ $rc -eq 0 ]'
check "info prints the libtorch version" 'echo "$out" | grep -Eq "^libtorch: +[0-9]+\.[0-9]+"'
check "info prints threads in use" 'echo "$out" | grep -Eq "^CPU threads: +[1-9]"'
check "info lists the cpu device" 'echo "$out" | grep -q "^Devices: *cpu"'
cores=$(nproc)
check "info uses every core" 'echo "$out" | grep -Eq "^CPU threads: +$cores "'

out=$("$CLI" info --json); rc=$?
check "info --json is one JSON object" '[ $rc -eq 0 ] && echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"threads\"]>=1 and \"cpu\" in d[\"devices\"]"'

err=$("$CLI" frobnicate 2>&1 >/dev/null); rc=$?
check "unknown command exits 2" '[ $rc -eq 2 ]'
check "unknown command prints usage on stderr" 'echo "$err" | grep -q "Usage:"'

err=$("$CLI" info --no-such-option 2>&1 >/dev/null); rc=$?
check "bad option exits 2 with usage" '[ $rc -eq 2 ] && echo "$err" | grep -q "Usage:"'

"$CLI" >/dev/null 2>&1; rc=$?
check "no command exits 2" '[ $rc -eq 2 ]'

echo "1..$n"
exit $fail
