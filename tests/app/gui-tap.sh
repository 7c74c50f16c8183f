# gui-tap.sh: sourced by the GUI test scripts (TAP under Xvfb). Skips the
# whole script when xvfb-run is missing; sets $session, a private session
# bus when there is one (it keeps GApplication quiet); ok, not_ok and check
# print TAP lines, count in $n and set $failed.
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "1..0 # SKIP xvfb-run is not installed (tools/install-deps.sh --test)"
  exit 77
fi
session=""
if command -v dbus-run-session >/dev/null 2>&1; then session="dbus-run-session --"; fi
n=0 failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
# check NAME SHELL-CONDITION
check () { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
