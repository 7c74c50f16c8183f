#!/bin/sh
# Install every system package Dermalens needs, by name, with apt.
#   tools/install-deps.sh          build + run dependencies
#   tools/install-deps.sh --test   the same, plus what the test suite uses
# Idempotent: when everything is present it only checks and returns.
set -eu

BUILD_PKGS="
  build-essential pkg-config meson ninja-build gettext
  libglib2.0-dev libglib2.0-dev-bin libjson-glib-dev libgtk-4-dev libadwaita-1-dev
  libturbojpeg0-dev libpng-dev libsqlite3-dev zlib1g-dev
  libtorch-dev libopenblas0
"
TEST_PKGS="
  xvfb xauth desktop-file-utils appstream poppler-utils
  python3 python3-torch python3-torchvision python3-numpy
  clang libclang-rt-14-dev llvm
"

want="$BUILD_PKGS"
for arg in "$@"; do
  case "$arg" in
    --test) want="$want $TEST_PKGS" ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
