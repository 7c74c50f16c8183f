/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-context.h: what the window and its parts share, handed to them as a
 * construct-only property (the gnome-calendar GcalContext habit) instead of
 * being fetched from the application: the settings, the model worker and
 * the store worker. The context also keeps the worker pointed at the
 * configured models and says when they change, so nothing below the
 * application needs to include it. GLib/GIO only. */
#pragma once

#include <gio/gio.h>

#include "derm-store-worker.h"
#include "derm-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_CONTEXT (derm_context_get_type ())
G_DECLARE_FINAL_TYPE (DermContext, derm_context, DERM, CONTEXT, GObject)

/* Starts the model worker and the store worker (on the user's case store,
 * or @store_location). Set the overrides, if any, then call
 * derm_context_reload_models () once to point the model worker at the
 * models. Returns: (transfer full). */
DermContext     *derm_context_new (GSettings *settings, const char *store_location);

/* Returns: (transfer none). */
GSettings       *derm_context_get_settings (DermContext *self);
DermWorker      *derm_context_get_worker (DermContext *self);
DermStoreWorker *derm_context_get_store_worker (DermContext *self);

/* Model files and device that win over the settings (the command line);
 * NULL: the setting. Takes effect with the next reload. */
void             derm_context_set_overrides (DermContext *self, const char *classifier,
                                             const char *segmenter, const char *device);
/* Points the worker at the configured models (overrides first, then
 * settings, then the registry's active versions) and emits
 * "models-changed", on which every open analysis runs again. Called by
 * itself when the model settings change, and by whoever activates a
 * version in the registry. */
void             derm_context_reload_models (DermContext *self);

/* Joins the worker threads (application shutdown); idempotent. */
/* A registry version of @kind became the active one: the worker uses it
 * from now on (an explicit model file in the settings is cleared), and
 * "models-changed" is emitted. */
void             derm_context_model_activated (DermContext *self, DermModelKind kind);

/* Imports the model file @path into the registry (a Dermalens file, or a
 * torchvision ResNet as `dermalens-cli models import` takes it) on the store
 * thread, makes it the active version of its kind, and then
 * derm_context_model_activated (). */
void             derm_context_import_model_async (DermContext *self, const char *path,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer user_data);
/* Returns: the new version's id (and its @kind), or 0 with @error. */
gint64           derm_context_import_model_finish (DermContext *self, GAsyncResult *result,
                                                   DermModelKind *kind, GError **error);

/* Whether there is a classifier to analyse with: a command-line override,
 * the classifier-model setting, or the registry's active version (looked
 * up on the store thread). A file that cannot be loaded still counts: the
 * analysis reports it. */
void             derm_context_has_classifier_async (DermContext *self, GCancellable *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer user_data);
gboolean         derm_context_has_classifier_finish (DermContext *self, GAsyncResult *result,
                                                     GError **error);

void             derm_context_shutdown (DermContext *self);

/* Returns: (transfer full) one or two sentences on how the engine computes
 * here (the CPU precision policy and why; the GPU when there is one). */
char            *derm_describe_compute (void);

G_END_DECLS
