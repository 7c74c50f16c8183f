#!/bin/sh
# Runs test-train-panel under Xvfb with a fresh XDG_DATA_HOME.
#   test-train-panel.sh TEST-BINARY OUTDIR
set -u
bin=$1 out=$2
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "xvfb-run is not installed (tools/install-deps.sh --test): skipped"
  exit 77
fi
session=""
if command -v dbus-run-session >/dev/null 2>&1; then session="dbus-run-session --"; fi
rm -rf "$out/xdg"
mkdir -p "$out/xdg"
XDG_DATA_HOME="$out/xdg" GSK_RENDERER=cairo GTK_A11Y=none \
  exec xvfb-run -a -s "-screen 0 1280x1000x24" $session "$bin" "$out"
