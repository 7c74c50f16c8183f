#!/bin/sh
# Runs the libFuzzer harnesses of tests/fuzz, one after the other.
#
#   tools/fuzz.sh [SECONDS] [HARNESS...]
#
# SECONDS (default 60) is the time per harness; HARNESS names (image,
# dataset-csv, safetensors, store-import ...; default: every harness built).
# Builds with clang, libFuzzer, ASan and UBSan into _build-fuzz ($DERM_FUZZ_BUILD),
# generates the seed corpora there, and keeps what the fuzzer learns in
# tests/fuzz/corpus/<harness>/ (ignored by git). A crash, leak or hang leaves
# its input in tests/fuzz/artifacts/ (also ignored) and makes the script exit
# 1 after the other harnesses have run. Environment: DERM_FUZZ_JOBS (ninja
# jobs, default 2), DERM_FUZZ_NICE (default 10), DERM_FUZZ_ARGS (extra
# libFuzzer flags).
set -eu

cd "$(dirname "$0")/.."
secs=60
if [ $# -gt 0 ]; then
  case "$1" in
    ''|*[!0-9]*) ;;
    *) secs=$1; shift ;;
  esac
fi
build=${DERM_FUZZ_BUILD:-_build-fuzz}
jobs=${DERM_FUZZ_JOBS:-2}
niceness=${DERM_FUZZ_NICE:-10}
corpus_root=tests/fuzz/corpus
artifacts=tests/fuzz/artifacts

for tool in clang clang++; do
  command -v $tool >/dev/null 2>&1 || {
    echo "fuzz.sh: $tool not found: run tools/install-deps.sh --test" >&2; exit 2; }
done

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzzing=true -Dgui=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false >"$build.setup.log" 2>&1 || {
      cat "$build.setup.log" >&2; exit 2; }
  rm -f "$build.setup.log"
fi

# Regenerate after meson.build changes, so the harness list is current.
ninja -C "$build" build.ninja >/dev/null
all=$(ninja -C "$build" -t targets all 2>/dev/null \
      | sed -n 's|^tests/fuzz/fuzz-\([a-z0-9-]*\): .*|\1|p' | sort -u)
if [ $# -eq 0 ]; then
  set -- $all
fi
targets="tests/fuzz/seeds"
for h in "$@"; do
  case " $(echo $all) " in
    *" $h "*)
      targets="$targets tests/fuzz/fuzz-$h"
      if ninja -C "$build" -t targets all 2>/dev/null | grep -q "^tests/fuzz/seeds-$h:"; then
        targets="$targets tests/fuzz/seeds-$h"
      fi ;;
    *) echo "fuzz.sh: no harness '$h' (built here: $(echo $all))" >&2; exit 2 ;;
  esac
done
nice -n "$niceness" ninja -C "$build" -j "$jobs" $targets >/dev/null || {
  ninja -C "$build" -j 1 $targets >&2; exit 2; }

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
export ASAN_SYMBOLIZER_PATH="$symbolizer"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1:symbolize=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:symbolize=1"
export G_DEBUG=fatal-criticals LC_ALL=C.UTF-8

mkdir -p "$artifacts"
status=0
summary=""
for h in "$@"; do
  mkdir -p "$corpus_root/$h"
  dict=""
  if [ -f "tests/fuzz/$h.dict" ]; then dict="-dict=tests/fuzz/$h.dict"; fi
  # Past crashes run first, under the same limits, then seed the search.
  regress=""
  if [ -d "tests/fuzz/regressions/$h" ]; then regress="tests/fuzz/regressions/$h"; fi
  seeds="$build/tests/fuzz/seeds/$h"
  if [ -d "$build/tests/fuzz/seeds-$h" ]; then seeds="$build/tests/fuzz/seeds-$h"; fi
  log="$build/fuzz-$h.log"
  echo "== fuzz $h: $secs s"
  rc=0
  # shellcheck disable=SC2086
  nice -n "$niceness" "$build/tests/fuzz/fuzz-$h" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$h-" $dict ${DERM_FUZZ_ARGS:-} \
    "$corpus_root/$h" "$seeds" $regress >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  units=$(ls "$corpus_root/$h" | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "!! fuzz $h FAILED (exit $rc); log $log:" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==|#[0-9]+ 0x' "$log" | head -n 40 >&2
    line="$h: FAILED after ${execs:-?} executions (see $log)"
  else
    line="$h: ${execs:-?} executions in $secs s, coverage ${cov:-?} edges, corpus $units files, clean"
  fi
  echo "$line"
  summary="$summary$line
"
done
echo "== summary"
printf '%s' "$summary"
exit $status
