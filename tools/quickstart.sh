#!/bin/sh
# The README's quick start.
#   tools/quickstart.sh run [FILE...]   install what is needed, build, launch Dermalens
#   tools/quickstart.sh test            install what is needed, build, run the whole test suite
# The build goes to _build (or $DERMALENS_BUILD_DIR). Safe to run again.
set -eu
cd "$(dirname "$0")/.."

mode="${1:-run}"
[ $# -gt 0 ] && shift
build="${DERMALENS_BUILD_DIR:-_build}"

case "$mode" in
  run)  tools/install-deps.sh ;;
  test) tools/install-deps.sh --test ;;
  *) echo "usage: tools/quickstart.sh run [FILE...] | test" >&2; exit 2 ;;
esac

if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null
else
  meson setup "$build"
fi
meson compile -C "$build"

if [ "$mode" = run ]; then
  exec "$build/src/app/dermalens" "$@"
fi

# Whole suite; CI machines are slow and shared, so timeouts are generous.
status=0
meson test -C "$build" --print-errorlogs --timeout-multiplier 3 || status=$?

# One closing line any CI reads: "N passed, N failed, N skipped".
/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY' || true
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0}
for line in open(sys.argv[1]):
    r = json.loads(line).get("result", "ERROR")
    counts[r] = counts.get(r, 0) + 1
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["ERROR"] + counts["UNEXPECTEDPASS"]
print(f"{counts['OK'] + counts['EXPECTEDFAIL']} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit $status
