#!/bin/sh
# Regenerates po/POTFILES.in: every source (tracked or new, not ignored) with a _(), N_(), C_()
# or g_dngettext call, the data/ files and every .ui file.
set -eu
cd "$(dirname "$0")/.."
{
  echo "# Files with translatable strings; regenerate with po/update-potfiles.sh"
  echo "data/org.dermalens.Dermalens.desktop.in"
  echo "data/org.dermalens.Dermalens.metainfo.xml.in"
  echo "data/org.dermalens.Dermalens.gschema.xml"
  git ls-files -co --exclude-standard 'src/*.c' 'src/*.cpp' 'src/*.h' \
    | xargs grep -lE '(^|[^A-Za-z0-9_])(N_|C_|NC_|_|g_dngettext|ngettext) ?\(' | sort
  git ls-files -co --exclude-standard 'ui/*.ui' 'resources/*.ui' | sort
} > po/POTFILES.in
