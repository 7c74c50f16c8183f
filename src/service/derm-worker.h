/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-worker.h: the model worker. One thread owns the inference models
 * (classifier and segmenter) and serves analysis requests from a queue;
 * results come back on the main thread (DESIGN.md, "Threads"). */
#pragma once

#include <gio/gio.h>

#include "derm-analysis.h"

G_BEGIN_DECLS


#define DERM_TYPE_WORKER (derm_worker_get_type ())
G_DECLARE_FINAL_TYPE (DermWorker, derm_worker, DERM, WORKER, GObject)

/* Starts the worker thread. Returns: (transfer full). */
DermWorker *derm_worker_new (void);

/* Which weights to use; NULL or "" = the store's active model of that kind.
 * Takes effect at the next request (models are loaded lazily, on the
 * worker thread). */
void derm_worker_set_models (DermWorker *self, const char *classifier_path,
                             const char *segmenter_path, const char *device);

/* Analyses a copy of @image: classification, segmentation, Grad-CAM of the
 * top class, measurements; with @patient (may be NULL: nothing known) for a
 * classifier that takes patient context. With no classifier available the
 * error is DERM_ERROR_NOT_FOUND. The callback runs on the calling thread's
 * main context; it must check its own weak reference and @cancellable. */
void derm_worker_analyze_async (DermWorker *self, const DermImage *image,
                                const DermPatientContext *patient, gboolean tta,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
/* Returns: (transfer full) the result, or NULL with @error. */
DermAnalysisResult *derm_worker_analyze_finish (DermWorker *self, GAsyncResult *result,
                                                GError **error);

/* Grad-CAM of @class_index on a copy of @image. */
void       derm_worker_gradcam_async (DermWorker *self, const DermImage *image,
                                      const DermPatientContext *patient, int class_index,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
/* Returns: (transfer full) the heatmap, or NULL with @error. */
DermImage *derm_worker_gradcam_finish (DermWorker *self, GAsyncResult *result, GError **error);

/* Checks that @path is a loadable model on the worker thread. On success
 * the callback's result is the architecture's task (DermTask). */
void     derm_worker_probe_model_async (DermWorker *self, const char *path,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
/* Returns: DERM_TASK_CLASSIFY / DERM_TASK_SEGMENT, or -1 with @error. */
int      derm_worker_probe_model_finish (DermWorker *self, GAsyncResult *result, GError **error);

/* How many analyses the worker has computed (with a model) since it
 * started: a stored case reopened must not add one. */
guint    derm_worker_get_analysis_count (DermWorker *self);

/* Stops the thread after the current request, frees the models on it and
 * joins it. Pending requests fail with G_IO_ERROR_CANCELLED. Idempotent;
 * also done by dispose. */
void derm_worker_shutdown (DermWorker *self);

G_END_DECLS
