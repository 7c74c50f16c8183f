/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-compare-private.h: what the GUI tests (tests/app/derm-test-hook.c) read
 * of the comparison window beyond its public API: not for the application's own use. */
#pragma once

#include "derm-compare.h"

G_BEGIN_DECLS

/* TRUE while the visits load. */
gboolean     derm_compare_get_loading (DermCompare *self);
/* What the window shows, "key=value" lines (for tests). */
void         derm_compare_describe (DermCompare *self, GString *out);

G_END_DECLS
