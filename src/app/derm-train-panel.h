/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-panel.h: the training panel: set up a job, watch it train
 * (progress, curves, per-class recall), see its test results, and manage
 * model versions (compare, activate / roll back, import, export, delete). */
#pragma once

#include <gtk/gtk.h>

#include "derm-store-worker.h"
#include "derm-train-runner.h"

G_BEGIN_DECLS

#define DERM_TYPE_TRAIN_PANEL (derm_train_panel_get_type ())
G_DECLARE_FINAL_TYPE (DermTrainPanel, derm_train_panel, DERM, TRAIN_PANEL, GtkWidget)

/* @store: the store thread the model versions are read and changed on (the
 * window's), or NULL for one of its own. Returns: (transfer floating). */
GtkWidget       *derm_train_panel_new (DermStoreWorker *store);

gboolean         derm_train_panel_is_running (DermTrainPanel *self);
/* Asks the running job to stop (within one step; a checkpoint is kept). */
void             derm_train_panel_cancel (DermTrainPanel *self);
/* Returns: (transfer none) the job runner. */
DermTrainRunner *derm_train_panel_get_runner (DermTrainPanel *self);
/* Reloads the model versions from the store (in the background). */
void             derm_train_panel_refresh_versions (DermTrainPanel *self);
/* Sets the HAM10000 folder field. */
void             derm_train_panel_set_folder (DermTrainPanel *self, const char *folder);
/* A new user's first models: the form set to the classifier and the
 * segmenter this machine trains in reasonable time (on a CPU the small
 * recipe) from the HAM10000 @folder, and the time measured at once. When
 * the job the user starts has finished, its models are activated without
 * another click ("version-activated" for each, then "first-run-done"). */
void             derm_train_panel_first_run (DermTrainPanel *self, const char *folder);
/* Makes version @id the active one of its kind (as its row's Activate). */
void             derm_train_panel_activate_version (DermTrainPanel *self, gint64 id);

/* Signals:
 *   "version-activated" (int kind: DermModelKind) after a version was made
 *   active: the analysis models must be reloaded.
 *   "versions-changed" () after the list was reloaded. */

G_END_DECLS
