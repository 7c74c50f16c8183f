/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-context.c: the settings and the workers the window shares. */
#include "config.h"

#define G_LOG_DOMAIN "derm-context"

#include <glib/gi18n-lib.h>

#include "derm-context.h"
#include "derm-engine.h"
#include "derm-registry.h"

struct _DermContext
{
  GObject parent_instance;

  GSettings *settings;
  DermWorker *worker;
  DermStoreWorker *store_worker;
  char *classifier_override;
  char *segmenter_override;
  char *device_override;
};

G_DEFINE_FINAL_TYPE (DermContext, derm_context, G_TYPE_OBJECT)

enum { SIGNAL_MODELS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *
first_set (const char *override, const char *setting)
{
  return override != NULL ? override : setting;
}

void
derm_context_reload_models (DermContext *self)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  g_autofree char *cls = g_settings_get_string (self->settings, "classifier-model");
  g_autofree char *seg = g_settings_get_string (self->settings, "segmenter-model");
  g_autofree char *dev = g_settings_get_string (self->settings, "device");
  derm_worker_set_models (self->worker, first_set (self->classifier_override, cls),
                          first_set (self->segmenter_override, seg),
                          first_set (self->device_override, dev));
  g_signal_emit (self, signals[SIGNAL_MODELS_CHANGED], 0);
}

static void
model_settings_changed_cb (GSettings *settings, const char *key, DermContext *self)
{
  derm_context_reload_models (self);
}

static void
cpu_fp32_changed_cb (GSettings *settings, const char *key, DermContext *self)
{
  derm_engine_set_cpu_fp32 (g_settings_get_boolean (settings, "cpu-fp32"));
}

DermContext *
derm_context_new (GSettings *settings, const char *store_location)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  DermContext *self = g_object_new (DERM_TYPE_CONTEXT, NULL);
  self->settings = g_object_ref (settings);
  /* Before any model runs: the CPU precision policy with the user's setting. */
  cpu_fp32_changed_cb (settings, "cpu-fp32", self);
  g_signal_connect_object (settings, "changed::cpu-fp32", G_CALLBACK (cpu_fp32_changed_cb), self, 0);
  self->worker = derm_worker_new ();
  self->store_worker = derm_store_worker_new (store_location);
  for (const char *const *key = (const char *const[]) { "changed::classifier-model",
                                                        "changed::segmenter-model",
                                                        "changed::device", NULL };
       *key != NULL; key++)
    g_signal_connect_object (settings, *key, G_CALLBACK (model_settings_changed_cb), self, 0);
  return self;
}

GSettings *
derm_context_get_settings (DermContext *self)
{
  g_return_val_if_fail (DERM_IS_CONTEXT (self), NULL);
  return self->settings;
}

DermWorker *
derm_context_get_worker (DermContext *self)
{
  g_return_val_if_fail (DERM_IS_CONTEXT (self), NULL);
  return self->worker;
}

DermStoreWorker *
derm_context_get_store_worker (DermContext *self)
{
  g_return_val_if_fail (DERM_IS_CONTEXT (self), NULL);
  return self->store_worker;
}

void
derm_context_set_overrides (DermContext *self, const char *classifier, const char *segmenter,
                            const char *device)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  g_free (self->classifier_override);
  g_free (self->segmenter_override);
  g_free (self->device_override);
  self->classifier_override = g_strdup (classifier);
  self->segmenter_override = g_strdup (segmenter);
  self->device_override = g_strdup (device);
}

void
derm_context_model_activated (DermContext *self, DermModelKind kind)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  /* An explicit model file in the settings would hide the registry's
   * active version: clear it (that reloads by itself). */
  const char *key = kind == DERM_MODEL_KIND_SEGMENTER ? "segmenter-model" : "classifier-model";
  g_autofree char *current = g_settings_get_string (self->settings, key);
  if (current != NULL && *current != '\0')
    g_settings_set_string (self->settings, key, "");
  else
    derm_context_reload_models (self);
}

typedef struct {
  char *path;
  gint64 id;
  DermModelKind kind;
} ImportJob;

static void
import_job_free (gpointer data)
{
  ImportJob *job = data;
  g_free (job->path);
  g_free (job);
}

/* On the store thread: import, then activate. Returns a copy of the job's
 * outcome (the job itself is freed with its data). */
static gpointer
import_job (DermStore *store, gpointer data, GError **error)
{
  ImportJob *job = data;
  job->id = derm_registry_import (store, job->path, NULL, &job->kind, error);
  if (job->id <= 0 || !derm_registry_activate (store, job->id, NULL, error))
    return NULL;
  ImportJob *done = g_new0 (ImportJob, 1);
  done->id = job->id;
  done->kind = job->kind;
  return done;
}

static void
import_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  DermContext *self = g_task_get_source_object (task);
  GError *error = NULL;
  ImportJob *done = derm_store_worker_run_finish (DERM_STORE_WORKER (source), result, &error);
  if (done == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  derm_context_model_activated (self, done->kind);
  g_task_return_pointer (task, done, import_job_free);
}

void
derm_context_import_model_async (DermContext *self, const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  g_return_if_fail (path != NULL);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, derm_context_import_model_async);
  ImportJob *job = g_new0 (ImportJob, 1);
  job->path = g_strdup (path);
  derm_store_worker_run_async (self->store_worker, import_job, job, import_job_free,
                               import_job_free, cancellable, import_done_cb, task);
}

gint64
derm_context_import_model_finish (DermContext *self, GAsyncResult *result, DermModelKind *kind,
                                  GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), 0);
  g_autofree ImportJob *done = g_task_propagate_pointer (G_TASK (result), error);
  if (done == NULL)
    return 0;
  if (kind != NULL)
    *kind = done->kind;
  return done->id;
}

/* On the store thread: the registry's active classifier, if any. */
static gpointer
active_classifier_job (DermStore *store, gpointer data, GError **error)
{
  g_autoptr(DermModelVersion) v = derm_store_get_active_model (store, DERM_MODEL_KIND_CLASSIFIER, NULL);
  gboolean *has = g_new (gboolean, 1);
  *has = v != NULL;
  return has;
}

static void
active_classifier_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  g_autofree gboolean *has = derm_store_worker_run_finish (DERM_STORE_WORKER (source), result, &error);
  if (has == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, *has);
}

void
derm_context_has_classifier_async (DermContext *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, derm_context_has_classifier_async);
  g_autofree char *setting = g_settings_get_string (self->settings, "classifier-model");
  if (self->classifier_override != NULL || (setting != NULL && *setting != '\0'))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  derm_store_worker_run_async (self->store_worker, active_classifier_job, NULL, NULL, g_free,
                               cancellable, active_classifier_done_cb, task);
}

gboolean
derm_context_has_classifier_finish (DermContext *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
derm_context_shutdown (DermContext *self)
{
  g_return_if_fail (DERM_IS_CONTEXT (self));
  derm_worker_shutdown (self->worker);
  derm_store_worker_shutdown (self->store_worker);
}

char *
derm_describe_compute (void)
{
  const DermCpuPolicy *policy = derm_engine_cpu_policy ();
  g_autofree char *cuda = derm_engine_cuda_device_count () > 0 ? derm_engine_cuda_device_name (0) : NULL;
  /* Translators: %s is a sentence such as "fp32: the CPU has no bfloat16 units" */
  g_autofree char *cpu = g_strdup_printf (_("CPU: %s (libtorch %s, %d threads)."), policy->reason,
                                          derm_engine_torch_version (), derm_engine_get_threads ());
  if (cuda == NULL)
    return g_steal_pointer (&cpu);
  return g_strdup_printf (_("%s GPU: %s, bf16 autocast for training."), cpu, cuda);
}

static void
derm_context_dispose (GObject *object)
{
  DermContext *self = DERM_CONTEXT (object);
  if (self->worker != NULL)
    derm_context_shutdown (self);
  g_clear_object (&self->worker);
  g_clear_object (&self->store_worker);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (derm_context_parent_class)->dispose (object);
}

static void
derm_context_finalize (GObject *object)
{
  DermContext *self = DERM_CONTEXT (object);
  g_free (self->classifier_override);
  g_free (self->segmenter_override);
  g_free (self->device_override);
  G_OBJECT_CLASS (derm_context_parent_class)->finalize (object);
}

static void
derm_context_class_init (DermContextClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = derm_context_dispose;
  object_class->finalize = derm_context_finalize;
  /* The models the worker uses may have changed: analyse again. */
  signals[SIGNAL_MODELS_CHANGED] = g_signal_new ("models-changed", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 0);
}

static void
derm_context_init (DermContext *self)
{
}
