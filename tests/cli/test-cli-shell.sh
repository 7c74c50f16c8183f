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
# The CPU precision policy: what the CPU has decides, unless forced.
flags=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
has_bf16=false
case " $flags " in *" amx_bf16 "*|*" avx512_bf16 "*) has_bf16=true ;; esac
check "info --json: the CPU path follows the CPU's bfloat16 units ($has_bf16)" \
  'echo "$out" | python3 -c "import json,sys; c=json.load(sys.stdin)[\"cpu\"]; has=sys.argv[1]==\"true\"; assert c[\"precision\"]==(\"bf16\" if has else \"fp32\"), c; assert (c[\"bf16_units\"]!=\"none\")==has and not c[\"forced\"] and c[\"reason\"], c" $has_bf16'
out=$(DERMALENS_CPU_PRECISION=fp32 "$CLI" info)
check "info: DERMALENS_CPU_PRECISION=fp32 forces fp32 and says why" \
  'echo "$out" | grep -q "^CPU path: *fp32: DERMALENS_CPU_PRECISION=fp32 is set"'
out=$(DERMALENS_CPU_PRECISION=bf16 "$CLI" info --json)
check "info: DERMALENS_CPU_PRECISION=bf16 forces bf16 + channels_last" \
  'echo "$out" | python3 -c "import json,sys; c=json.load(sys.stdin)[\"cpu\"]; assert c[\"precision\"]==\"bf16\" and c[\"channels_last\"] and c[\"forced\"], c"'

err=$("$CLI" frobnicate 2>&1 >/dev/null); rc=$?
check "unknown command exits 2" '[ $rc -eq 2 ]'
check "unknown command prints usage on stderr" 'echo "$err" | grep -q "Usage:"'

err=$("$CLI" info --no-such-option 2>&1 >/dev/null); rc=$?
check "bad option exits 2 with usage" '[ $rc -eq 2 ] && echo "$err" | grep -q "Usage:"'

"$CLI" >/dev/null 2>&1; rc=$?
check "no command exits 2" '[ $rc -eq 2 ]'

echo "1..$n"
exit $fail
