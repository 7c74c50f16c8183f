/* derm-test-hook.h: hooks the GUI tests drive through the environment.
 *
 *   DERMALENS_TEST_SCREENSHOT=PATH  once the first page has settled (image
 *                                   shown, or its error), render the window
 *                                   to PATH (PNG)
 *   DERMALENS_TEST_STATE=PATH       write what the window shows as
 *                                   "key=value" lines to PATH
 * With either set, the application quits after writing them. Both are for
 * tests only; users never see them. */
#pragma once

#include <gtk/gtk.h>

#include "derm-window.h"

G_BEGIN_DECLS

/* TRUE when a test hook is requested. */
gboolean derm_test_hook_enabled (void);

/* Watches @window's pages; called once per new window. */
void     derm_test_hook_watch_window (DermWindow *window);

/* Renders @widget as it is now into a PNG file. */
gboolean derm_test_hook_save_screenshot (GtkWidget *widget, const char *path, GError **error);

G_END_DECLS
