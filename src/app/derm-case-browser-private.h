/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-case-browser-private.h: what the GUI tests (tests/app/derm-test-hook.c) read
 * of the case browser beyond its public API: not for the application's own use. */
#pragma once

#include "derm-case-browser.h"

G_BEGIN_DECLS

/* TRUE while a query runs. */
gboolean derm_case_browser_get_loading (DermCaseBrowser *self);
/* The image id / lesion id of the row at @position, 0 when there is none. */
gint64   derm_case_browser_row_case_id (DermCaseBrowser *self, guint position);
gint64   derm_case_browser_row_lesion_id (DermCaseBrowser *self, guint position);
/* The rows shown, "key=value" lines (for tests). */
void     derm_case_browser_describe (DermCaseBrowser *self, GString *out);

G_END_DECLS
