/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-paths.h: where a Dermalens program finds what the build installs,
 * for the window and dermalens-cli alike: when the executable lies inside
 * the build tree (tests, `tools/quickstart.sh run`), the translations come
 * from there instead of the install prefix. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when this process's executable lies inside the build tree. */
gboolean    derm_running_uninstalled (void);
/* The folder with the compiled translations. Borrowed, static. */
const char *derm_locale_dir (void);
/* setlocale, bindtextdomain and textdomain for this program. */
void        derm_setup_translations (void);

G_END_DECLS
