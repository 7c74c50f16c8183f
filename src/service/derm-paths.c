/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-paths.c: the build tree or the install prefix. */
#include "config.h"

#include <locale.h>

#include <glib/gi18n-lib.h>

#include "derm-paths.h"

gboolean
derm_running_uninstalled (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe == NULL)
    return FALSE;
  g_autofree char *prefix = g_strconcat (DERM_BUILD_ROOT, G_DIR_SEPARATOR_S, NULL);
  return g_str_has_prefix (exe, prefix);
}

const char *
derm_locale_dir (void)
{
  return derm_running_uninstalled () ? DERM_LOCALE_BUILD_DIR : LOCALEDIR;
}

void
derm_setup_translations (void)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, derm_locale_dir ());
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}
