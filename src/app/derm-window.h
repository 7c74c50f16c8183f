/* derm-window.h: the main window: header bar, and one page per opened image. */
#pragma once

#include <gtk/gtk.h>

#include "derm-application.h"
#include "derm-page.h"
#include "derm-train-panel.h"

G_BEGIN_DECLS

#define DERM_TYPE_WINDOW (derm_window_get_type ())
G_DECLARE_FINAL_TYPE (DermWindow, derm_window, DERM, WINDOW, GtkApplicationWindow)

/* Returns: (transfer floating) a new window of @application. */
DermWindow *derm_window_new (DermApplication *application);

/* Opens @file in a new page (or shows its page when already open).
 * Returns: (transfer none) the page. */
DermPage   *derm_window_open_file (DermWindow *self, GFile *file);

/* Shows the file chooser. */
void        derm_window_choose_files (DermWindow *self);

/* Returns: (transfer none) the visible page, or NULL. */
DermPage   *derm_window_get_current_page (DermWindow *self);

/* Shows the training panel's window (created on first use).
 * Returns: (transfer none) the panel. */
DermTrainPanel *derm_window_show_training (DermWindow *self);

/* Analyses every open page again (models changed). */
void        derm_window_reanalyze (DermWindow *self);

G_END_DECLS
