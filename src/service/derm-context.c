/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-context.c: the settings and the workers the window shares. */
#include "config.h"

#define G_LOG_DOMAIN "derm-context"

#include <glib/gi18n-lib.h>

#include "derm-context.h"
#include "derm-engine.h"

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
