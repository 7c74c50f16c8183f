/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-case-browser.h: the case browser: stored cases in a GtkColumnView
 * with search, filters (body site, predicted class, risk, confirmed) and
 * sorting. Queries run on the store thread. */
#pragma once

#include <adwaita.h>

#include "derm-store-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_CASE_BROWSER (derm_case_browser_get_type ())
G_DECLARE_FINAL_TYPE (DermCaseBrowser, derm_case_browser, DERM, CASE_BROWSER, AdwWindow)

/* Returns: (transfer none) a new window over @parent. Signals:
 * "open-case" (gint64 image id) when the user opens a case;
 * "compare-lesion" (gint64 lesion id) for the follow-up comparison;
 * "loaded" after each query's rows are shown. */
DermCaseBrowser *derm_case_browser_new (GtkWindow *parent, DermStoreWorker *store);

/* Runs the query again (after a save). */
void     derm_case_browser_reload (DermCaseBrowser *self);
/* Rows shown (after search and filters). */
guint    derm_case_browser_get_n_shown (DermCaseBrowser *self);
/* Sets the search text / the body-site filter (HAM10000 spelling, NULL: any). */
void     derm_case_browser_set_search (DermCaseBrowser *self, const char *text);
void     derm_case_browser_set_site (DermCaseBrowser *self, const char *site);
/* Opens / compares the row at @position as the buttons do. */
void     derm_case_browser_activate_row (DermCaseBrowser *self, guint position);
void     derm_case_browser_compare_row (DermCaseBrowser *self, guint position);

G_END_DECLS
