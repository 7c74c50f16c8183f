#!/bin/sh
# The German translation is complete against the strings in the sources now
# (TAP). Extracts a fresh template with the same keywords as meson's glib
# preset, merges de.po into it without fuzzy matching, and requires every
# message translated and none fuzzy.
#   test-po.sh SOURCE_ROOT TMPDIR
set -u
src=$1 tmp=$2
mkdir -p "$tmp"
echo "1..3"

grep -v '^#' "$src/po/POTFILES.in" | grep -v '^$' >"$tmp/potfiles"
if xgettext --from-code=UTF-8 --add-comments --package-name=dermalens \
     --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
     --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
     --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
     --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
     --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
     --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
     --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
     --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format \
     --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format \
     -D "$src" -f "$tmp/potfiles" -o "$tmp/fresh.pot" 2>"$tmp/xgettext.log"; then
  echo "ok 1 - template extracted from every file in POTFILES.in"
else
  echo "not ok 1 - xgettext failed"; sed 's/^/# /' "$tmp/xgettext.log"; exit 1
fi

msgmerge --quiet --no-fuzzy-matching -o "$tmp/de.po" "$src/po/de.po" "$tmp/fresh.pot" 2>&1 | sed 's/^/# /'
stats=$(msgfmt --check --statistics -o /dev/null "$tmp/de.po" 2>&1)
rc=$?
echo "# $stats"
if [ $rc -eq 0 ]; then echo "ok 2 - msgfmt --check passes"; else echo "not ok 2 - msgfmt --check"; exit 1; fi
case "$stats" in
  *untranslated*|*fuzzy*)
    echo "not ok 3 - de.po is incomplete: $stats"
    msgattrib --untranslated --no-obsolete "$tmp/de.po" | grep '^msgid' | head -20 | sed 's/^/# /'
    exit 1 ;;
  *) echo "ok 3 - every message translated" ;;
esac
