/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-worker.c: the model worker thread.
 *
 * The main thread only queues requests (each carries a GTask and copies of
 * its inputs). The worker thread alone creates, uses and frees the
 * DermModels (libtorch objects are freed on their owner thread) and opens
 * its own store connection to find the active models. Results return
 * through the GTask, on the requester's main context. */
#include "config.h"

#define G_LOG_DOMAIN "derm-worker"

#include <glib/gi18n.h>

#include <math.h>

#include "derm-analysis.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-error.h"
#include "derm-store.h"
#include "derm-worker.h"

typedef enum {
  REQUEST_ANALYZE,
  REQUEST_GRADCAM,
  REQUEST_PROBE,
  REQUEST_QUIT,
} RequestKind;

typedef struct {
  RequestKind kind;
  GTask *task;          /* owned; NULL for QUIT */
  DermImage *image;     /* owned copy */
  int class_index;
  gboolean tta;
  gboolean has_patient;
  DermPatientContext patient;   /* with has_patient */
  char *path;
} Request;

/* Shared between the two threads; config fields under @lock. */
typedef struct {
  GAsyncQueue *queue;
  GMutex lock;
  char *classifier_path;
  char *segmenter_path;
  char *device;
  guint serial;
  gint analyses_run;    /* atomic: analyses the thread has computed */
} Shared;

/* Owned by the worker thread only. */
typedef struct {
  Shared *shared;
  guint loaded_serial;
  gboolean loaded;
  DermModel *classifier;
  DermModel *segmenter;
  char *classifier_info;
  char *segmenter_info;
  gboolean has_decision;
  DermDecision decision;  /* the classifier's rule, when has_decision */
  GError *load_error;   /* why the classifier is missing, kept until the config changes */
  char *device_notice;  /* the device chosen failed and the CPU is used instead; or NULL */
  char *rule_notice;    /* the classifier's decision rule cannot be read; or NULL */
} WorkerState;

struct _DermWorker
{
  GObject parent_instance;

  Shared *shared;
  GThread *thread;
};

G_DEFINE_FINAL_TYPE (DermWorker, derm_worker, G_TYPE_OBJECT)

static void
request_free (Request *request)
{
  g_clear_object (&request->task);
  derm_image_free (request->image);
  g_free (request->path);
  g_free (request);
}

/* ---- Worker thread ------------------------------------------------------------- */

static void
unload_models (WorkerState *state)
{
  state->has_decision = FALSE;
  g_clear_pointer (&state->classifier, derm_model_free);
  g_clear_pointer (&state->segmenter, derm_model_free);
  g_clear_pointer (&state->classifier_info, g_free);
  g_clear_pointer (&state->segmenter_info, g_free);
  g_clear_error (&state->load_error);
  g_clear_pointer (&state->device_notice, g_free);
  g_clear_pointer (&state->rule_notice, g_free);
  state->loaded = FALSE;
}

/* The explicit path, or the store's active model of @kind; NULL when none
 * (no error: "no model yet" is a state, not a failure). */
static char *
resolve_model_path (DermStore **store, const char *explicit_path, DermModelKind kind, GError **error)
{
  if (explicit_path != NULL && *explicit_path != '\0')
    return g_strdup (explicit_path);

  if (*store == NULL)
    {
      *store = derm_store_open (NULL, error);
      if (*store == NULL)
        return NULL;
    }
  g_autoptr(GError) local = NULL;
  g_autoptr(DermModelVersion) version = derm_store_get_active_model (*store, kind, &local);
  if (version == NULL)
    {
      if (!g_error_matches (local, DERM_ERROR, DERM_ERROR_NOT_FOUND))
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  return g_strdup (version->file_path);
}

static char *
describe_model (DermModel *model, const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *version = derm_model_get_metadata (model, "version");
  int members = derm_model_get_members (model);
  /* An ensemble: "resnet18 × 5". */
  const char *name = derm_arch_name (derm_model_get_arch (model));
  g_autofree char *arch = members > 1 ? g_strdup_printf ("%s × %d", name, members) : g_strdup (name);
  return g_strdup_printf ("%s, %s%s%s, %s", arch, base, version != NULL ? " v" : "",
                          version != NULL ? version : "", derm_model_get_device (model));
}

/* Loads @path on @device. A GPU that fails to start is no reason to refuse
 * the analysis: the model is then loaded on the CPU, and *@notice (when
 * still NULL) tells the user why it is slower. Returns: (transfer full), or
 * NULL with @error. */
static DermModel *
load_model (const char *path, const char *device, char **notice, GError **error)
{
  GError *local = NULL;
  DermModel *model = derm_model_load (path, device, &local);
  if (model == NULL && g_strcmp0 (device, "cpu") != 0)
    {
      g_autofree char *reason = g_strdup (local->message);
      g_clear_error (&local);
      model = derm_model_load (path, "cpu", &local);
      if (model != NULL && *notice == NULL)
        *notice = g_strdup_printf (_("The device “%s” could not be used (%s); the "
                                     "analysis runs on the CPU."), device, reason);
    }
  if (model == NULL)
    g_propagate_error (error, local);
  return model;
}

static void
ensure_models (WorkerState *state)
{
  Shared *shared = state->shared;

  g_mutex_lock (&shared->lock);
  guint serial = shared->serial;
  g_autofree char *classifier_path = g_strdup (shared->classifier_path);
  g_autofree char *segmenter_path = g_strdup (shared->segmenter_path);
  g_autofree char *device = g_strdup (shared->device);
  g_mutex_unlock (&shared->lock);

  if (state->loaded && serial == state->loaded_serial)
    return;
  unload_models (state);
  state->loaded = TRUE;
  state->loaded_serial = serial;

  g_autoptr(DermStore) store = NULL;
  GError *error = NULL;
  g_autofree char *cpath = resolve_model_path (&store, classifier_path, DERM_MODEL_KIND_CLASSIFIER, &error);
  if (cpath == NULL)
    {
      if (error == NULL)
        error = g_error_new_literal (DERM_ERROR, DERM_ERROR_NOT_FOUND,
                                     _("No classification model is installed yet. Import weights, "
                                       "or train a model first."));
      state->load_error = error;
      return;
    }
  state->classifier = load_model (cpath, device, &state->device_notice, &error);
  if (state->classifier == NULL)
    {
      state->load_error = error;
      return;
    }
  if (derm_arch_task (derm_model_get_arch (state->classifier)) != DERM_TASK_CLASSIFY
      || derm_model_get_num_classes (state->classifier) != DERM_N_CLASSES)
    {
      state->load_error = g_error_new (DERM_ERROR, DERM_ERROR_MISMATCH,
                                       _("“%s” is not a classifier of the seven diagnoses. "
                                         "Choose a classification model in the preferences."),
                                       cpath);
      g_clear_pointer (&state->classifier, derm_model_free);
      return;
    }
  state->classifier_info = describe_model (state->classifier, cpath);
  const char *decision = derm_model_get_metadata (state->classifier, "decision");
  g_autoptr(GError) rule_error = NULL;
  state->has_decision = decision != NULL
                        && derm_decision_from_json (decision, &state->decision, &rule_error);
  if (rule_error != NULL)
    {
      g_autofree char *base = g_path_get_basename (cpath);
      state->rule_notice = g_strdup_printf (_("The decision rule stored in “%s” cannot be read "
                                              "(%s): the most probable class is shown, and the "
                                              "malignant flag uses the threshold in the "
                                              "preferences. Train or refit the model's rule "
                                              "(dermalens-cli refit-decision)."),
                                            base, rule_error->message);
    }

  g_autoptr(GError) seg_error = NULL;
  g_autofree char *spath = resolve_model_path (&store, segmenter_path, DERM_MODEL_KIND_SEGMENTER, &seg_error);
  if (spath != NULL)
    {
      state->segmenter = load_model (spath, device, &state->device_notice, &seg_error);
      if (state->segmenter != NULL
          && derm_arch_task (derm_model_get_arch (state->segmenter)) != DERM_TASK_SEGMENT)
        g_clear_pointer (&state->segmenter, derm_model_free);
      if (state->segmenter != NULL)
        state->segmenter_info = describe_model (state->segmenter, spath);
    }
  if (seg_error != NULL)
    g_warning ("Segmentation model unavailable: %s", seg_error->message);
}

static DermAnalysisResult *
run_analysis (WorkerState *state, Request *request, GError **error)
{
  ensure_models (state);
  if (state->classifier == NULL)
    {
      g_propagate_error (error, g_error_copy (state->load_error));
      return NULL;
    }

  g_atomic_int_inc (&state->shared->analyses_run);
  DermAnalysisSetup setup = {
    .classifier = state->classifier, .decision = state->has_decision ? &state->decision : NULL,
    .segmenter = state->segmenter, .tta = request->tta, .heatmap = TRUE,
    .patient = request->has_patient ? &request->patient : NULL,
  };
  DermAnalysisResult *result = derm_analysis_run (&setup, request->image, error);
  if (result == NULL)
    return NULL;
  result->classifier_info = g_strdup (state->classifier_info);
  result->segmenter_info = g_strdup (state->segmenter_info);
  if (result->notice == NULL && state->device_notice != NULL)
    result->notice = g_strdup (state->device_notice);
  if (state->rule_notice != NULL)
    {
      char *joined = result->notice != NULL
                       ? g_strconcat (result->notice, " ", state->rule_notice, NULL)
                       : g_strdup (state->rule_notice);
      g_free (result->notice);
      result->notice = joined;
    }
  return result;
}

static void
serve (WorkerState *state, Request *request)
{
  GError *error = NULL;

  if (g_task_return_error_if_cancelled (request->task))
    return;

  switch (request->kind)
    {
    case REQUEST_ANALYZE:
      {
        DermAnalysisResult *result = run_analysis (state, request, &error);
        if (result == NULL)
          g_task_return_error (request->task, error);
        else
          g_task_return_pointer (request->task, result, (GDestroyNotify) derm_analysis_result_free);
      }
      break;
    case REQUEST_GRADCAM:
      {
        ensure_models (state);
        DermImage *heatmap = NULL;
        if (state->classifier == NULL)
          error = g_error_copy (state->load_error);
        else
          {
            /* The context the analysis it explains had. */
            derm_model_set_patients (state->classifier, request->has_patient ? &request->patient : NULL,
                                     request->has_patient ? 1 : 0);
            heatmap = derm_analysis_gradcam (state->classifier, request->image, request->class_index,
                                             NULL, &error);
          }
        if (heatmap == NULL)
          g_task_return_error (request->task, error);
        else
          g_task_return_pointer (request->task, heatmap, (GDestroyNotify) derm_image_free);
      }
      break;
    case REQUEST_PROBE:
      {
        DermModel *model = derm_model_load (request->path, "cpu", &error);
        if (model == NULL)
          g_task_return_error (request->task, error);
        else
          {
            DermTask task = derm_arch_task (derm_model_get_arch (model));
            derm_model_free (model);
            g_task_return_int (request->task, task);
          }
      }
      break;
    case REQUEST_QUIT:
      break;
    }
}

static gpointer
model_worker (gpointer data)
{
  WorkerState state = { .shared = data };

  for (;;)
    {
      Request *request = g_async_queue_pop (state.shared->queue);
      if (request->kind == REQUEST_QUIT)
        {
          request_free (request);
          break;
        }
      /* A training job in this process yields the CPU until it is served. */
      derm_engine_foreground_begin ();
      serve (&state, request);
      derm_engine_foreground_end ();
      request_free (request);
    }

  /* Requests queued behind QUIT are refused. */
  Request *late;
  while ((late = g_async_queue_try_pop (state.shared->queue)) != NULL)
    {
      if (late->task != NULL)
        g_task_return_new_error (late->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                 _("The application is closing."));
      request_free (late);
    }
  unload_models (&state);
  return NULL;
}

/* ---- Main thread --------------------------------------------------------------- */

static void
queue_request (DermWorker *self, Request *request)
{
  if (self->thread == NULL)
    {
      if (request->task != NULL)
        g_task_return_new_error (request->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                 _("The application is closing."));
      request_free (request);
      return;
    }
  g_async_queue_push (self->shared->queue, request);
}

void
derm_worker_set_models (DermWorker *self, const char *classifier_path,
                        const char *segmenter_path, const char *device)
{
  g_return_if_fail (DERM_IS_WORKER (self));
  Shared *shared = self->shared;
  g_mutex_lock (&shared->lock);
  g_free (shared->classifier_path);
  g_free (shared->segmenter_path);
  g_free (shared->device);
  shared->classifier_path = g_strdup (classifier_path);
  shared->segmenter_path = g_strdup (segmenter_path);
  shared->device = g_strdup (device != NULL && *device != '\0' ? device : "auto");
  shared->serial++;
  g_mutex_unlock (&shared->lock);
}

static Request *
new_request (DermWorker *self, RequestKind kind, const DermImage *image, GCancellable *cancellable,
             GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  Request *request = g_new0 (Request, 1);
  request->kind = kind;
  request->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (request->task, tag);
  if (image != NULL)
    request->image = derm_image_copy (image);
  return request;
}

void
derm_worker_analyze_async (DermWorker *self, const DermImage *image,
                           const DermPatientContext *patient, gboolean tta,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_return_if_fail (DERM_IS_WORKER (self));
  g_return_if_fail (image != NULL && image->channels == 3);
  Request *request = new_request (self, REQUEST_ANALYZE, image, cancellable, callback, user_data,
                                  derm_worker_analyze_async);
  request->tta = tta;
  request->has_patient = patient != NULL;
  if (patient != NULL)
    request->patient = *patient;
  queue_request (self, request);
}

DermAnalysisResult *
derm_worker_analyze_finish (DermWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
derm_worker_gradcam_async (DermWorker *self, const DermImage *image,
                           const DermPatientContext *patient, int class_index,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_return_if_fail (DERM_IS_WORKER (self));
  g_return_if_fail (image != NULL && class_index >= 0 && class_index < DERM_N_CLASSES);
  Request *request = new_request (self, REQUEST_GRADCAM, image, cancellable, callback, user_data,
                                  derm_worker_gradcam_async);
  request->class_index = class_index;
  request->has_patient = patient != NULL;
  if (patient != NULL)
    request->patient = *patient;
  queue_request (self, request);
}

DermImage *
derm_worker_gradcam_finish (DermWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
derm_worker_probe_model_async (DermWorker *self, const char *path, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (DERM_IS_WORKER (self));
  Request *request = new_request (self, REQUEST_PROBE, NULL, cancellable, callback, user_data,
                                  derm_worker_probe_model_async);
  request->path = g_strdup (path);
  queue_request (self, request);
}

int
derm_worker_probe_model_finish (DermWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  GError *local = NULL;
  gssize task = g_task_propagate_int (G_TASK (result), &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return -1;
    }
  return (int) task;
}

guint
derm_worker_get_analysis_count (DermWorker *self)
{
  g_return_val_if_fail (DERM_IS_WORKER (self), 0);
  return (guint) g_atomic_int_get (&self->shared->analyses_run);
}

void
derm_worker_shutdown (DermWorker *self)
{
  g_return_if_fail (DERM_IS_WORKER (self));
  if (self->thread == NULL)
    return;
  Request *quit = g_new0 (Request, 1);
  quit->kind = REQUEST_QUIT;
  g_async_queue_push (self->shared->queue, quit);
  g_thread_join (self->thread);
  self->thread = NULL;
}

static void
derm_worker_dispose (GObject *object)
{
  derm_worker_shutdown (DERM_WORKER (object));
  G_OBJECT_CLASS (derm_worker_parent_class)->dispose (object);
}

static void
derm_worker_finalize (GObject *object)
{
  DermWorker *self = DERM_WORKER (object);
  Shared *shared = self->shared;

  g_async_queue_unref (shared->queue);
  g_mutex_clear (&shared->lock);
  g_free (shared->classifier_path);
  g_free (shared->segmenter_path);
  g_free (shared->device);
  g_free (shared);

  G_OBJECT_CLASS (derm_worker_parent_class)->finalize (object);
}

static void
derm_worker_class_init (DermWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = derm_worker_dispose;
  object_class->finalize = derm_worker_finalize;
}

static void
derm_worker_init (DermWorker *self)
{
  self->shared = g_new0 (Shared, 1);
  self->shared->queue = g_async_queue_new ();
  self->shared->device = g_strdup ("auto");
  g_mutex_init (&self->shared->lock);
  self->thread = g_thread_new ("derm-model-worker", model_worker, self->shared);
}

DermWorker *
derm_worker_new (void)
{
  return g_object_new (DERM_TYPE_WORKER, NULL);
}
