/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-window-private.h: what the GUI tests (tests/app/derm-test-hook.c) read
 * of the window beyond its public API: not for the application's own use. */
#pragma once

#include "derm-window.h"

G_BEGIN_DECLS

/* Returns: (transfer none) the notebook of the open images (for the test hook). */
GtkNotebook *derm_window_get_notebook (DermWindow *self);
/* Returns: "analysis" or "training"; and the header's training button text,
 * or NULL while it is hidden (for the test hook). */
const char *derm_window_get_view (DermWindow *self);
const char *derm_window_get_training_status (DermWindow *self);
/* The titles of the toasts shown, one per line, or NULL (for the test hook). */
const char *derm_window_get_toasts (DermWindow *self);
/* TRUE while a model file is being imported (for the test hook). */
gboolean derm_window_get_importing (DermWindow *self);

G_END_DECLS
