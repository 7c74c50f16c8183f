/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-window.h: the main window: header bar, and one page per opened image. */
#pragma once

#include <adwaita.h>

#include "derm-store.h"
#include "derm-types.h"

G_BEGIN_DECLS

#define DERM_TYPE_WINDOW (derm_window_get_type ())
G_DECLARE_FINAL_TYPE (DermWindow, derm_window, DERM, WINDOW, AdwApplicationWindow)

/* Returns: (transfer floating) a new window of @application sharing
 * @context (settings and workers) with the other windows. */
DermWindow *derm_window_new (GtkApplication *application, DermContext *context);

/* Opens @file in a new page (or shows its page when already open).
 * Returns: (transfer none) the page. */
DermPage   *derm_window_open_file (DermWindow *self, GFile *file);
/* Imports @file into the model registry (a Dermalens file, or a torchvision
 * ResNet as `dermalens-cli models import` takes it) and makes it the active
 * model of its kind; open images are analysed again. Errors are shown. */
void        derm_window_import_model (DermWindow *self, GFile *file);
/* Train on HAM10000 (the first-run path): remembers @folder, opens the
 * training view set up for this machine's first models, and once the job
 * the user starts has finished, activates them and shows the analysis. */
void        derm_window_train_first_run (DermWindow *self, const char *folder);

/* Shows the file chooser. */
void        derm_window_choose_files (DermWindow *self);

/* Returns: (transfer none) the visible page, or NULL. */
DermPage   *derm_window_get_current_page (DermWindow *self);

/* Shows the training view (its panel is created on first use).
 * Returns: (transfer none) the panel. */
DermTrainPanel *derm_window_show_training (DermWindow *self);
/* Shows the analysis view: the open images. */
void        derm_window_show_analysis (DermWindow *self);
/* Returns: (transfer none) the training panel, NULL before it was first shown. */
DermTrainPanel *derm_window_get_training_panel (DermWindow *self);
/* The number of open images. */
int         derm_window_get_n_pages (DermWindow *self);

/* Opens a stored case (@c: transfer full, masks loaded) in a page, or shows
 * the page that already has it. Returns: (transfer none). */
DermPage   *derm_window_open_case (DermWindow *self, DermCase *c);
/* Fetches case @image_id on the store thread, then opens it. */
void        derm_window_open_case_id (DermWindow *self, gint64 image_id);
/* Shows the case browser. Returns: (transfer none). */
DermCaseBrowser *derm_window_show_cases (DermWindow *self);
/* Shows the follow-up comparison of @lesion_id's visits. Returns: (transfer none). */
DermCompare *derm_window_show_compare (DermWindow *self, gint64 lesion_id);

/* Analyses every open page again (models changed). */
void        derm_window_reanalyze (DermWindow *self);

G_END_DECLS
