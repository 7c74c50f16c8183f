/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-versions.h: the training panel's model versions: the list, the
 * comparison of the chosen version with the active one, activate / roll
 * back, import, export, delete and the model card. The registry operations
 * (derm-registry.h) run in a GTask. */
#pragma once

#include <gtk/gtk.h>

#include "derm-store-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_TRAIN_VERSIONS (derm_train_versions_get_type ())
G_DECLARE_FINAL_TYPE (DermTrainVersions, derm_train_versions, DERM, TRAIN_VERSIONS, GtkWidget)

/* Reloads the model versions from the store (in the background). */
/* The store thread its registry operations run on (the window's); without
 * one it starts its own at the first. */
void derm_train_versions_set_store_worker (DermTrainVersions *self, DermStoreWorker *store);
void derm_train_versions_refresh (DermTrainVersions *self);
/* Reloads them and chooses version @id once they are shown. */
void derm_train_versions_refresh_and_select (DermTrainVersions *self, gint64 id);
/* Chooses version @id when the list shows it. */
void derm_train_versions_select (DermTrainVersions *self, gint64 id);
/* Makes version @id the active one of its kind (in the background). */
void derm_train_versions_activate (DermTrainVersions *self, gint64 id);

/* Signals:
 *   "version-activated" (int kind: DermModelKind) after a version was made
 *   active: the analysis models must be reloaded.
 *   "versions-changed" () after the list was reloaded. */

G_END_DECLS
