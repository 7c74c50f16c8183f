/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page-private.h: what the GUI tests (tests/app/derm-test-hook.c) read
 * of a page beyond its public API: not for the application's own use. */
#pragma once

#include "derm-page.h"

G_BEGIN_DECLS

/* TRUE while the page computes something besides the analysis: the
 * measurement of a corrected mask (debounced after each stroke) or a
 * heatmap. */
gboolean       derm_page_get_computing (DermPage *self);

/* Appends what the page shows as "key=value" lines (for tests). */
void           derm_page_describe (DermPage *self, GString *out);

G_END_DECLS
