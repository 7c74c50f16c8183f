#!/bin/sh
# What CI runs after the main suite (issue 9):
#   (a) the test suites built with -Db_sanitize=address,undefined (gcc,
#       no GUI) in _build-asan ($DERM_ASAN_BUILD); any ASan, LSan or UBSan
#       report fails the test that caused it;
#   (b) each libFuzzer harness ($DERM_CI_FUZZ_HARNESSES) for
#       $DERM_CI_FUZZ_SECONDS (default 30) on its generated corpus plus the
#       regression inputs (tools/fuzz.sh, clang, _build-fuzz).
#
#   tools/ci-hardening.sh [sanitizers|fuzz]     (default: both)
#
# Suites: $DERM_ASAN_SUITES (default "core cli store pipeline engine hardening";
# a suite with no test yet is left out with a note). The engine suite runs
# too: Debian's libtorch is not built with ASan, but the shim is, and the
# engine tests run clean with leak detection on (no suppression needed).
# Exit status: 0 when everything is clean, 1 otherwise.
set -eu
cd "$(dirname "$0")/.."

what=${1:-all}
case "$what" in
  all|sanitizers|fuzz) ;;
  *) echo "usage: tools/ci-hardening.sh [sanitizers|fuzz]" >&2; exit 2 ;;
esac
build=${DERM_ASAN_BUILD:-_build-asan}
jobs=${DERM_CI_JOBS:-2}
fuzz_secs=${DERM_CI_FUZZ_SECONDS:-30}
# model-load is left out by default: it needs the engine (libtorch C++) built
# a second time with clang, minutes CI does not have; tools/fuzz.sh runs it.
fuzz_harnesses=${DERM_CI_FUZZ_HARNESSES:-"image safetensors dataset-csv store-import"}
suites=${DERM_ASAN_SUITES:-"core cli store pipeline engine hardening"}
# The two longest tests (training end to end: about 7 and 4 minutes under
# ASan here) pass clean but do not fit CI's time, nor does cli-registry (a
# ResNet-50 built, converted and run at 224 px, not yet timed under ASan);
# DERM_ASAN_SKIP= runs them.
skip=${DERM_ASAN_SKIP-"engine-train pipeline-cli cli-registry"}
status=0
t0=$(date +%s)

phase () {
  echo "== ci-hardening: $* ($(( $(date +%s) - t0 )) s)"
}

sanitizers () {
  if [ ! -f "$build/build.ninja" ]; then
    phase "configuring $build (ASan + UBSan)"
    # -O1: ASan's usual level; the libtorch-heavy C++ compiles faster than at -O2.
    meson setup "$build" -Db_sanitize=address,undefined -Dgui=disabled -Doptimization=1 \
      >"$build.setup.log" 2>&1 || {
      cat "$build.setup.log" >&2; return 1; }
    rm -f "$build.setup.log"
  else
    # Regenerate after meson.build changes, so the test list is current.
    ninja -C "$build" build.ninja >/dev/null || return 1
  fi
  # The tests of the chosen suites, less $DERM_ASAN_SKIP; build only them.
  # shellcheck disable=SC2086
  plan=$(python3 - "$build" "$suites" "$skip" <<'PY'
import json, os, subprocess, sys
build, suites, skip = sys.argv[1], set(sys.argv[2].split()), set(sys.argv[3].split())
def introspect(what):
    out = subprocess.run(["meson", "introspect", build, what], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)
files = {t["id"]: t["filename"] for t in introspect("--targets")}
built = {f for fs in files.values() for f in fs}
root = os.path.realpath(build)
names, targets, found = [], set(), set()
for t in introspect("--tests"):
    mine = suites & {s.split(":")[-1] for s in t["suite"]}
    found |= mine
    if not mine or t["name"] in skip:
        continue
    names.append(t["name"])
    for dep in t.get("depends", []):
        targets.update(os.path.relpath(f, root) for f in files.get(dep, []))
    for arg in t["cmd"] + t.get("args", []):
        if arg in built:
            targets.add(os.path.relpath(arg, root))
for s in sorted(suites - found):
    print("note suite %s has no test in this tree" % s)
print("names " + " ".join(names))
print("targets " + " ".join(sorted(targets)))
PY
) || return 1
  printf '%s\n' "$plan" | sed -n 's/^note /   (/p' | sed 's/$/: left out)/'
  names=$(printf '%s\n' "$plan" | sed -n 's/^names //p')
  targets=$(printf '%s\n' "$plan" | sed -n 's/^targets //p')
  [ -n "$names" ] || { echo "ci-hardening: no test to run" >&2; return 1; }
  phase "building $(echo $targets | wc -w) targets"
  # shellcheck disable=SC2086
  nice ninja -C "$build" -j "$jobs" $targets >"$build/ci-build.log" 2>&1 || {
    tail -n 40 "$build/ci-build.log" >&2; return 1; }

  phase "running $(echo $names | wc -w) tests of: $suites (skipped: ${skip:-none}) under ASan + UBSan"
  # Any report aborts the test (halt_on_error, abort_on_error); leaks are
  # reported at exit (detect_leaks).
  ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1:strict_string_checks=1:symbolize=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:symbolize=1" \
  LSAN_OPTIONS="print_suppressions=0" \
    meson test -C "$build" --no-rebuild --print-errorlogs --num-processes "$jobs" \
      --timeout-multiplier 3 $names || return 1
}

if [ "$what" != fuzz ]; then
  sanitizers || status=1
fi
if [ "$what" != sanitizers ]; then
  phase "fuzzing $fuzz_harnesses, $fuzz_secs s each"
  # shellcheck disable=SC2086
  DERM_FUZZ_JOBS=$jobs tools/fuzz.sh "$fuzz_secs" $fuzz_harnesses || status=1
fi
phase "done, status $status"
exit $status
