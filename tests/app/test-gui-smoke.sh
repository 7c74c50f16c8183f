#!/bin/sh
# GUI smoke test under Xvfb (TAP): the app opens a generated image, shows it,
# saves a screenshot and quits cleanly; a corrupt image shows its error.
#   test-gui-smoke.sh DERMALENS-TEST APP-TEST-TOOL OUTDIR DERMALENS
# DERMALENS-TEST is the application with the test hook linked in
# (tests/app/dermalens-test); DERMALENS, the shipped one, must not hold it.
set -u
app=$1 tool=$2 out=$3 shipped=$4
mkdir -p "$out"

. "$(dirname "$0")/gui-tap.sh"

# run_app NAME IMAGE: starts the app under its own X server; the test hook
# writes NAME.png and NAME.state once the page has settled, then quits.
run_app () {
  rm -f "$out/$1.png" "$out/$1.state"
  GSK_RENDERER=cairo GSETTINGS_BACKEND=memory GTK_A11Y=none \
  DERMALENS_TEST_SCREENSHOT="$out/$1.png" DERMALENS_TEST_STATE="$out/$1.state" \
    timeout 180 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" "$2" >"$out/$1.log" 2>&1
}

echo "1..13"

check "the shipped dermalens starts (--help exits 0)" "'$shipped' --help >/dev/null 2>&1"
check "the shipped dermalens holds no test hook" "! grep -aq DERMALENS_TEST_ '$shipped'"

"$tool" make-lesion "$out/smoke-input.png" 640 480
check "generated test image" "[ -s '$out/smoke-input.png' ]"

run_app screenshot-smoke "$out/smoke-input.png"
rc=$?
check "app exits 0 after showing the image (rc $rc)" "[ $rc -eq 0 ]"
check "the page is ready" "grep -qx 'state=ready' '$out/screenshot-smoke.state'"
check "image size 640x480" "grep -qx 'image_width=640' '$out/screenshot-smoke.state' && grep -qx 'image_height=480' '$out/screenshot-smoke.state'"
check "window title names the file" "grep -q '^title=smoke-input.png' '$out/screenshot-smoke.state'"
check "screenshot saved" "[ -s '$out/screenshot-smoke.png' ]"

# The image is shown when the screenshot holds many pixels of the lesion and
# of the skin colour (the image is fitted, so counts depend on the window).
lesion=$("$tool" count-colour "$out/screenshot-smoke.png" 96 52 30 6 2>/dev/null || echo 0)
skin=$("$tool" count-colour "$out/screenshot-smoke.png" 224 172 150 6 2>/dev/null || echo 0)
echo "# lesion pixels $lesion, skin pixels $skin"
check "screenshot shows the lesion and the skin" "[ '$lesion' -gt 5000 ] && [ '$skin' -gt 20000 ]"

# The desktop asks for the dark style (GNOME's color-scheme, read through a
# keyfile settings backend): the window follows it without GTK_THEME.
if [ -f /usr/share/glib-2.0/schemas/org.gnome.desktop.interface.gschema.xml ]; then
  cfg="$out/dark-config"
  rm -rf "$cfg"; mkdir -p "$cfg/glib-2.0/settings"
  printf "[org/gnome/desktop/interface]\ncolor-scheme='prefer-dark'\n" >"$cfg/glib-2.0/settings/keyfile"
  rm -f "$out/screenshot-desktop-dark.png"
  XDG_CONFIG_HOME="$cfg" GSK_RENDERER=cairo GSETTINGS_BACKEND=keyfile GTK_A11Y=none \
  DERMALENS_TEST_SCREENSHOT="$out/screenshot-desktop-dark.png" DERMALENS_TEST_STATE="$out/screenshot-desktop-dark.state" \
    timeout 180 xvfb-run -a -s "-screen 0 1280x900x24" $session "$app" "$out/smoke-input.png" >"$out/screenshot-desktop-dark.log" 2>&1
  white_light=$("$tool" count-colour "$out/screenshot-smoke.png" 255 255 255 12 2>/dev/null || echo 0)
  white_dark=$("$tool" count-colour "$out/screenshot-desktop-dark.png" 255 255 255 12 2>/dev/null || echo 0)
  echo "# near-white pixels: default $white_light, desktop prefers dark $white_dark"
  check "the window follows the desktop's dark preference" \
    "[ -s '$out/screenshot-desktop-dark.png' ] && [ '$white_light' -gt 50000 ] && [ $((white_dark * 10)) -lt '$white_light' ]"
else
  ok "# SKIP org.gnome.desktop.interface is not installed"
fi

# A truncated JPEG: the window shows why it could not be opened.
"$tool" make-lesion "$out/whole.jpg" 640 480
head -c 700 "$out/whole.jpg" >"$out/truncated.jpg"
run_app screenshot-error "$out/truncated.jpg"
rc=$?
check "app exits 0 on a corrupt image (rc $rc)" "[ $rc -eq 0 ]"
check "the page shows the error" "grep -qx 'state=error' '$out/screenshot-error.state'"
check "the error names the file" "grep -q '^error=.*truncated.jpg' '$out/screenshot-error.state'"

for f in "$out"/*.log; do
  if grep -q 'CRITICAL\|WARNING' "$f"; then sed 's/^/# /' "$f"; fi
done
exit $failed
