/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-worker.h: the case store's thread. One thread owns one
 * DermStore connection (derm-store.h: one connection per thread) and runs
 * jobs from a queue, in order; results come back on the requester's main
 * context through a GTask, so the UI never waits on a query. */
#pragma once

#include <gio/gio.h>

#include "derm-store.h"

G_BEGIN_DECLS

/* Runs on the store thread with its open connection. Returns a result
 * (given to the GTask with @result_free), or NULL with @error. */
typedef gpointer (*DermStoreJobFunc) (DermStore *store, gpointer data, GError **error);

#define DERM_TYPE_STORE_WORKER (derm_store_worker_get_type ())
G_DECLARE_FINAL_TYPE (DermStoreWorker, derm_store_worker, DERM, STORE_WORKER, GObject)

/* Starts the thread. @location is derm_store_open ()'s: NULL for the default
 * data directory. The store is opened on the thread at the first job; an
 * error opening it is each job's error until it succeeds.
 * Returns: (transfer full). */
DermStoreWorker *derm_store_worker_new (const char *location);

/* Queues @func (@data is freed with @data_free on the store thread or when
 * the job is dropped). */
void     derm_store_worker_run_async (DermStoreWorker *self, DermStoreJobFunc func,
                                      gpointer data, GDestroyNotify data_free,
                                      GDestroyNotify result_free, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) the job's result, or NULL with @error. */
gpointer derm_store_worker_run_finish (DermStoreWorker *self, GAsyncResult *result,
                                       GError **error);

/* Stops after the current job, closes the connection on its thread and
 * joins it. Jobs still queued fail with G_IO_ERROR_CANCELLED. Idempotent. */
void     derm_store_worker_shutdown (DermStoreWorker *self);

G_END_DECLS
