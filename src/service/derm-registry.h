/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-registry.h: the model registry's operations, one implementation for
 * the window (training view, train runner) and for `dermalens-cli models`.
 *
 * The store keeps the registry's rows (src/store: derm_store_*_model); this
 * layer keeps the files they name. A version's weights live in the models
 * folder beside the case database (for the user's store
 * $XDG_DATA_HOME/dermalens/models), copied or moved in whole or not at all,
 * and a row is registered only after its file is in place (a row whose file
 * is missing is never created; a file whose row failed is removed again).
 *
 * Blocking calls: run them on a worker thread in the window. */
#pragma once

#include <glib.h>

#include "derm-store.h"

G_BEGIN_DECLS

/* How `import` reads a file without Dermalens metadata (a torchvision
 * ResNet state dict saved as safetensors). Ignored for a Dermalens file,
 * which names its own classes and normalisation. */
typedef struct {
  /* The head's class codes in its output order, comma-separated
   * ("akiec,bcc,bkl,df,mel,nv,vasc" for an alphabetical label encoder).
   * NULL: the HAM10000 order (MEL,NV,BCC,AKIEC,BKL,DF,VASC). The rows are
   * reordered into Dermalens's order on import. */
  const char *classes;
  /* "R,G,B" per-channel mean and standard deviation of [0,1] pixels the
   * network was trained with. NULL: ImageNet's. */
  const char *mean;
  const char *std;
  /* The square input the network was trained at; 0: 224. */
  int input_size;
} DermImportOptions;

/* The models folder of @store (created, 0700). Returns: (transfer full). */
char    *derm_registry_models_dir (DermStore *store, GError **error);

/* Registers the Dermalens model file @path as a new version (not active):
 * moved (@move) or copied into the models folder under a new name starting
 * with @stem (NULL: "<kind>-<architecture>"), with its architecture and
 * metrics from its metadata. @settings_json NULL takes the file's
 * "training" metadata. @parent_id: the version it was trained from, 0 for
 * none (one deleted meanwhile is dropped). @installed (optional out,
 * transfer full): the file's new path. Returns the version id, or 0. */
gint64   derm_registry_install (DermStore *store, const char *path, gboolean move,
                                const char *stem, const char *settings_json,
                                const char *provenance, gint64 parent_id,
                                char **installed, GError **error);

/* Imports a model file a user chose: a Dermalens file (classifier of the
 * seven diagnoses, or a U-Net), or a torchvision ResNet-18/34/50 export
 * whose `fc` has seven outputs (the notebook this project began from),
 * which keeps its head and is converted with @options (NULL: defaults).
 * Nothing is registered that the engine has not loaded (a Dermalens file)
 * or written itself (a conversion). @kind (optional
 * out): what was imported. Returns the version id, or 0. */
gint64   derm_registry_import (DermStore *store, const char *path,
                               const DermImportOptions *options, DermModelKind *kind,
                               GError **error);

/* Makes version @id the active one of its kind (the previous active
 * version is kept, so activating it again rolls back). @kind (optional
 * out): its kind. */
gboolean derm_registry_activate (DermStore *store, gint64 id, DermModelKind *kind,
                                 GError **error);

/* Deletes version @id (not the active one) and its file when the file is
 * in the models folder (a file registered from elsewhere is left alone). */
gboolean derm_registry_delete (DermStore *store, gint64 id, GError **error);

/* Copies version @id's file to @dest (whole or not at all). */
gboolean derm_registry_export (DermStore *store, gint64 id, const char *dest, GError **error);

/* One line for people: "test balanced accuracy 0.712", "test Dice 0.843"
 * or "no test metrics". Returns: (transfer full). */
char    *derm_registry_version_summary (const DermModelVersion *version);

G_END_DECLS
