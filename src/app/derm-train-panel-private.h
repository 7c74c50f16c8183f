/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-panel-private.h: what the GUI tests read of the training panel
 * beyond its public API. */
#pragma once

#include "derm-train-panel.h"

G_BEGIN_DECLS

/* ---- For the GUI tests -------------------------------------------------------------- */

/* The template child @name ("start_button", "epochs_spin", ...) of the panel
 * or of one of its parts.
 * Returns: (transfer none) or NULL. */
GtkWidget *_derm_train_panel_get_child (DermTrainPanel *self, const char *name);
/* The id of the version registered by the last job, 0 when none. */
gint64     _derm_train_panel_get_new_version (DermTrainPanel *self);
/* The version of @kind (DermModelKind) the last job registered, 0 when none. */
gint64     _derm_train_panel_get_new_version_of_kind (DermTrainPanel *self, int kind);
/* TRUE while the first run waits to activate its models (for the tests). */
gboolean   _derm_train_panel_get_first_run (DermTrainPanel *self);
/* TRUE while the form's time estimate runs (for the tests). */
gboolean   _derm_train_panel_get_estimating (DermTrainPanel *self);
/* The open file chooser (import, export, folder, weights), NULL when none.
 * (transfer none) */
GtkNativeDialog *_derm_train_panel_get_file_chooser (DermTrainPanel *self);
/* The version shown in the comparison, 0 when none. */
gint64     _derm_train_panel_get_selected_version (DermTrainPanel *self);
/* The list row of version @id, or NULL. (transfer none) */
GtkListBoxRow *_derm_train_panel_get_version_row (DermTrainPanel *self, gint64 id);
/* Jobs started from now on use about @lesions lesions, drawn class by
 * class (0: all), as `train --limit` does: tests keep their jobs small. */
void       _derm_train_panel_set_limit (DermTrainPanel *self, guint lesions);
/* What the panel shows as "key=value" lines. */
void       _derm_train_panel_describe (DermTrainPanel *self, GString *out);

G_END_DECLS
