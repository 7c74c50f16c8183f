/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-worker.c: the case store's thread. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store-worker"

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-store-worker.h"

typedef struct {
  DermStoreJobFunc func;    /* NULL: quit */
  gpointer data;
  GDestroyNotify data_free;
  GDestroyNotify result_free;
  GTask *task;
} Job;

struct _DermStoreWorker
{
  GObject parent_instance;

  GAsyncQueue *queue;
  GThread *thread;
  char *location;
};

G_DEFINE_FINAL_TYPE (DermStoreWorker, derm_store_worker, G_TYPE_OBJECT)

static void
job_free (Job *job)
{
  if (job->data_free != NULL && job->data != NULL)
    job->data_free (job->data);
  g_clear_object (&job->task);
  g_free (job);
}

typedef struct {
  GAsyncQueue *queue;
  char *location;
} ThreadData;

static gpointer
store_worker (gpointer user_data)
{
  ThreadData *td = user_data;
  DermStore *store = NULL;

  for (;;)
    {
      Job *job = g_async_queue_pop (td->queue);
      if (job->func == NULL)
        {
          job_free (job);
          break;
        }
      if (g_task_return_error_if_cancelled (job->task))
        {
          job_free (job);
          continue;
        }
      GError *error = NULL;
      if (store == NULL)
        store = derm_store_open (td->location, &error);
      gpointer result = store != NULL ? job->func (store, job->data, &error) : NULL;
      if (result == NULL)
        {
          if (error == NULL)
            error = g_error_new_literal (DERM_ERROR, DERM_ERROR_FAILED,
                                         _("The case database returned nothing."));
          g_task_return_error (job->task, error);
        }
      else
        g_task_return_pointer (job->task, result, job->result_free);
      job_free (job);
    }

  Job *late;
  while ((late = g_async_queue_try_pop (td->queue)) != NULL)
    {
      if (late->task != NULL)
        g_task_return_new_error (late->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                 _("The application is closing."));
      job_free (late);
    }
  derm_store_close (store);
  g_async_queue_unref (td->queue);
  g_free (td->location);
  g_free (td);
  return NULL;
}

void
derm_store_worker_run_async (DermStoreWorker *self, DermStoreJobFunc func, gpointer data,
                             GDestroyNotify data_free, GDestroyNotify result_free,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (DERM_IS_STORE_WORKER (self));
  g_return_if_fail (func != NULL);

  Job *job = g_new0 (Job, 1);
  job->func = func;
  job->data = data;
  job->data_free = data_free;
  job->result_free = result_free;
  job->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (job->task, derm_store_worker_run_async);
  if (self->thread == NULL)
    {
      g_task_return_new_error (job->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The application is closing."));
      job_free (job);
      return;
    }
  g_async_queue_push (self->queue, job);
}

gpointer
derm_store_worker_run_finish (DermStoreWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
derm_store_worker_shutdown (DermStoreWorker *self)
{
  g_return_if_fail (DERM_IS_STORE_WORKER (self));
  if (self->thread == NULL)
    return;
  g_async_queue_push (self->queue, g_new0 (Job, 1));
  g_thread_join (self->thread);
  self->thread = NULL;
}

static void
derm_store_worker_dispose (GObject *object)
{
  derm_store_worker_shutdown (DERM_STORE_WORKER (object));
  G_OBJECT_CLASS (derm_store_worker_parent_class)->dispose (object);
}

static void
derm_store_worker_finalize (GObject *object)
{
  DermStoreWorker *self = DERM_STORE_WORKER (object);
  g_async_queue_unref (self->queue);
  g_free (self->location);
  G_OBJECT_CLASS (derm_store_worker_parent_class)->finalize (object);
}

static void
derm_store_worker_class_init (DermStoreWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = derm_store_worker_dispose;
  object_class->finalize = derm_store_worker_finalize;
}

static void
derm_store_worker_init (DermStoreWorker *self)
{
  self->queue = g_async_queue_new ();
}

DermStoreWorker *
derm_store_worker_new (const char *location)
{
  DermStoreWorker *self = g_object_new (DERM_TYPE_STORE_WORKER, NULL);
  self->location = g_strdup (location);
  ThreadData *td = g_new0 (ThreadData, 1);
  td->queue = g_async_queue_ref (self->queue);
  td->location = g_strdup (location);
  self->thread = g_thread_new ("derm-store", store_worker, td);
  return self;
}
