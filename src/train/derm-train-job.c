/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-job.c: the whole training job (see derm-train-job.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-job"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-augment.h"
#include "derm-dataset.h"
#include "derm-decision.h"
#include "derm-error.h"
#include "derm-evaluate.h"
#include "derm-metrics.h"
#include "derm-model-card.h"
#include "derm-split.h"
#include "derm-safetensors.h"
#include "derm-train-job.h"

static const char *const balance_names[] = { "none", "loss", "sampling", "logit-adjust" };
static const char *const gpu_augment_names[] = { "auto", "on", "off" };
static const char *const finetune_names[] = { "all", "last", "head" };

/* The index of @name in @names, or -1. */
static int
name_index (const char *const *names, gsize n, const char *name)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (name, names[i]) == 0)
      return (int) i;
  return -1;
}

const char *
derm_gpu_augment_name (DermGpuAugment mode)
{
  g_return_val_if_fail (mode <= DERM_GPU_AUGMENT_OFF, NULL);
  return gpu_augment_names[mode];
}

gboolean
derm_gpu_augment_from_name (const char *name, DermGpuAugment *mode)
{
  int i = name_index (gpu_augment_names, G_N_ELEMENTS (gpu_augment_names), name);
  if (i < 0)
    return FALSE;
  *mode = (DermGpuAugment) i;
  return TRUE;
}

const char *
derm_balance_name (DermBalance balance)
{
  g_return_val_if_fail (balance <= DERM_BALANCE_LOGIT_ADJUST, NULL);
  return balance_names[balance];
}

gboolean
derm_balance_from_name (const char *name, DermBalance *balance)
{
  int i = name_index (balance_names, G_N_ELEMENTS (balance_names), name);
  if (i < 0)
    return FALSE;
  *balance = (DermBalance) i;
  return TRUE;
}

const char *
derm_finetune_name (DermFinetune finetune)
{
  g_return_val_if_fail (finetune <= DERM_FINETUNE_HEAD, NULL);
  return finetune_names[finetune];
}

gboolean
derm_finetune_from_name (const char *name, DermFinetune *finetune)
{
  int i = name_index (finetune_names, G_N_ELEMENTS (finetune_names), name);
  if (i < 0)
    return FALSE;
  *finetune = (DermFinetune) i;
  return TRUE;
}

void
derm_train_job_config_init (DermTrainJobConfig *c)
{
  memset (c, 0, sizeof *c);
  c->task = DERM_TASK_CLASSIFY;
  c->arch = DERM_ARCH_RESNET50;
  c->epochs = 30;
  c->batch = 32;
  c->weight_decay = 0.05;
  c->seed = 1;
  c->val_fraction = 0.15;
  c->test_fraction = 0.15;
  c->finetune = DERM_FINETUNE_ALL;
  /* Measured on a quick run (ResNet-18, 64 px, 2000 lesions, 4 epochs, seed 1):
   * test balanced accuracy 0.46 with balanced sampling, 0.36 with the
   * weighted loss. */
  c->balance = DERM_BALANCE_SAMPLING;
  c->patience = 8;
  /* A ResNet-50 checkpoint (model + AdamW state, fsynced) takes about 1.1 s
   * on the GPU machine, 20% of an epoch there: not after every epoch. */
  c->checkpoint_every = 60;
  c->gpu_augment = DERM_GPU_AUGMENT_AUTO;
}

static const char *const event_names[] = {
  "message", "dataset", "cache", "step", "epoch", "early_stop", "checkpoint",
  "calibrated", "evaluating", "test", "done",
};

const char *
derm_train_event_type_name (DermTrainEventType type)
{
  g_return_val_if_fail (type <= DERM_TRAIN_EVENT_DONE, NULL);
  return event_names[type];
}

char *
derm_train_event_to_json (const DermTrainEvent *e)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, derm_train_event_type_name (e->type));
  derm_json_add_number (b, "elapsed", e->elapsed_seconds);
  switch (e->type)
    {
    case DERM_TRAIN_EVENT_DATASET:
      derm_json_add_int (b, "n_train", e->n_train);
      derm_json_add_int (b, "n_val", e->n_val);
      derm_json_add_int (b, "n_test", e->n_test);
      break;
    case DERM_TRAIN_EVENT_CACHE:
    case DERM_TRAIN_EVENT_EVALUATING:
      derm_json_add_int (b, "done", e->done);
      derm_json_add_int (b, "total", e->total);
      break;
    case DERM_TRAIN_EVENT_STEP:
      derm_json_add_int (b, "epoch", e->epoch);
      derm_json_add_int (b, "epochs", e->epochs);
      derm_json_add_int (b, "step", e->step);
      derm_json_add_int (b, "steps", e->steps);
      derm_json_add_int (b, "global_step", e->global_step);
      derm_json_add_number (b, "loss", e->loss);
      derm_json_add_number (b, "images_per_second", e->images_per_second);
      derm_json_add_number (b, "lr", e->lr);
      derm_json_add_number (b, "eta", e->eta_seconds);
      break;
    case DERM_TRAIN_EVENT_EPOCH:
      derm_json_add_int (b, "epoch", e->epoch);
      derm_json_add_int (b, "epochs", e->epochs);
      derm_json_add_number (b, "loss", e->loss);
      if (e->val_metric_name != NULL)
        derm_json_add_number (b, e->val_metric_name, e->val_metric);
      json_builder_set_member_name (b, "best");
      json_builder_add_boolean_value (b, e->is_best);
      break;
    case DERM_TRAIN_EVENT_EARLY_STOP:
      derm_json_add_int (b, "epoch", e->epoch);
      break;
    case DERM_TRAIN_EVENT_CALIBRATED:
      derm_json_add_number (b, "temperature", e->temperature);
      break;
    default:
      break;
    }
  if (e->members > 1 && e->member >= 0)
    {
      derm_json_add_int (b, "member", e->member);
      derm_json_add_int (b, "members", e->members);
    }
  if (e->message != NULL)
    {
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, e->message);
    }
  if (e->json != NULL)
    {
      g_autoptr(JsonParser) p = json_parser_new ();
      if (json_parser_load_from_data (p, e->json, -1, NULL))
        {
          json_builder_set_member_name (b, "metrics");
          json_builder_add_value (b, json_node_copy (json_parser_get_root (p)));
        }
    }
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* ---- The job ------------------------------------------------------------- */

typedef struct {
  const DermTrainJobConfig *cfg;
  DermTrainEventFunc on_event;
  gpointer user_data;
  const volatile gint *cancel;
  gint64 t0;
  DermLoader *loader;
  int size;
  int epoch;
  int epochs;
  int steps;
  int member;                 /* the ensemble member in training, or -1 */
  int members;                /* 1, or the ensemble's K */
  /* Shared by every network of the job (borrowed unless said) */
  DermDataset *ds;
  DermCache *cache;           /* owned: training entries, then validation */
  guint n_cache;
  DermDeviceCache *dcache;    /* owned: the cache on the model's device, or NULL */
  gboolean dcache_tried;
  char *device;               /* owned: the first model's device */
  const char *sha;
  const char *split_json;
  const char *ckpt_path;
  guint split_counts[3][DERM_N_CLASSES];
  char *card_facts;           /* owned: the model card's facts, made with the first model */
  /* Patient context (cfg->context): one per cache entry (owned); the CPU
   * loader's order of this epoch (owned, the network's n_train) to find a
   * batch's patients, the next batch's index, and its patients (owned). */
  DermPatientContext *patients;
  guint *epoch_order;
  int batch_index;
  DermPatientContext *batch_patients;
} Job;

static void
emit (Job *job, DermTrainEvent *e)
{
  e->elapsed_seconds = (g_get_monotonic_time () - job->t0) / 1e6;
  if (e->epochs == 0)
    e->epochs = job->epochs;
  e->member = job->member;
  e->members = job->members;
  if (job->on_event != NULL)
    job->on_event (e, job->user_data);
}

static void
emit_message (Job *job, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
emit_message (Job *job, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_MESSAGE, .message = msg, .val_metric = NAN };
  emit (job, &e);
}

static gboolean
next_batch (gpointer data, DermBatch *batch, GError **error)
{
  Job *job = data;
  const guint8 *images, *masks;
  const gint32 *labels;
  int n;
  if (!derm_loader_next (job->loader, &images, &labels, &masks, &n))
    return FALSE;
  batch->images = images;
  batch->labels = labels;
  batch->masks = job->cfg->task == DERM_TASK_SEGMENT ? masks : NULL;
  batch->patients = NULL;
  if (job->epoch_order != NULL)
    {
      /* The loader's batch b holds entries b * batch ... of the epoch's order. */
      const guint *entries = job->epoch_order + (gsize) job->batch_index * job->cfg->batch;
      for (int i = 0; i < n; i++)
        job->batch_patients[i] = job->patients[entries[i]];
      batch->patients = job->batch_patients;
    }
  job->batch_index++;
  batch->n = n;
  batch->height = batch->width = job->size;
  return TRUE;
}

static void
step_progress (const DermTrainProgress *p, gpointer data)
{
  Job *job = data;
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_STEP, .val_metric = NAN };
  e.epoch = p->epoch;
  e.step = p->step;
  e.steps = p->steps_in_epoch;
  e.global_step = p->global_step;
  e.loss = p->loss;
  e.images_per_second = p->images_per_second;
  e.lr = p->lr;
  e.eta_seconds = NAN;
  if (p->images_per_second > 0 && job->steps > 0)
    {
      double left = (double) (job->epochs - p->epoch - 1) * job->steps + (job->steps - p->step);
      /* The members still to train, at about this member's steps. */
      if (job->member >= 0)
        left += (double) (job->members - job->member - 1) * job->epochs * job->steps;
      e.eta_seconds = left * job->cfg->batch / p->images_per_second;
    }
  emit (job, &e);
}

static void
cache_progress (guint done, guint total, gpointer data)
{
  Job *job = data;
  /* about 100 events for the whole cache */
  if (done != total && done % MAX (total / 100, 1) != 0)
    return;
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_CACHE, .done = done, .total = total,
                       .val_metric = NAN };
  emit (job, &e);
}

static void
eval_progress (guint done, guint total, gpointer data)
{
  Job *job = data;
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_EVALUATING, .done = done, .total = total,
                       .val_metric = NAN };
  emit (job, &e);
}

/* @m as one JSON object. Returns: (transfer full) the text. */
static char *
class_metrics_json (const DermClassMetrics *m)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  derm_class_metrics_add_json (m, b);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* derm_evaluate_add_decided_metrics() as one JSON object. Returns: (transfer full). */
static char *
decided_metrics_json (const float *probs, const int *labels, int n, const DermDecision *d,
                      const DermClassMetrics *argmax)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  derm_evaluate_add_decided_metrics (b, probs, labels, n, d, argmax);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* One message line: what the rule gives on validation. */
static void
report_decision (Job *job, const DermDecision *d)
{
  if (isnan (d->risk_threshold))
    emit_message (job, _("decision rule: balanced accuracy %.3f -> %.3f on validation; no "
                         "operating point (no malignant lesion in the validation split)"),
                  d->val_argmax_balanced_accuracy, d->val_balanced_accuracy);
  else
    emit_message (job, _("decision rule: balanced accuracy %.3f -> %.3f on validation; "
                         "operating point risk >= %.3f for sensitivity %.2f (validation: "
                         "sensitivity %.3f, specificity %.3f)"),
                  d->val_argmax_balanced_accuracy, d->val_balanced_accuracy, d->risk_threshold,
                  d->target_sensitivity, d->val_sensitivity, d->val_specificity);
}

/* Raw logits of cache entries @entries (n x DERM_N_CLASSES), from the
 * device cache when there is one. */
static gboolean
cached_logits (Job *job, DermModel *model, const guint *entries, guint n, float *logits,
               GError **error)
{
  const int chunk = 64;
  DermImage views[64];
  const DermImage *ptrs[64];
  int k = derm_model_get_num_classes (model);
  DermPatientContext patients[64];
  if (job->dcache != NULL)
    return derm_model_logits_cached (model, job->dcache, entries, (int) n, logits, error);
  for (guint s = 0; s < n; s += chunk)
    {
      int m = MIN ((guint) chunk, n - s);
      for (int i = 0; i < m; i++)
        {
          derm_cache_view (job->cache, entries[s + i], &views[i], FALSE);
          ptrs[i] = &views[i];
          if (job->patients != NULL)
            patients[i] = job->patients[entries[s + i]];
        }
      derm_model_set_patients (model, job->patients != NULL ? patients : NULL, m);
      if (!derm_model_logits_batch (model, ptrs, m, FALSE, logits + (gsize) s * k, error))
        return FALSE;
    }
  derm_model_set_patients (model, NULL, 0);
  return TRUE;
}

/* The validation metric on cached images: balanced accuracy or mean Dice. */
static gboolean
validate (Job *job, DermModel *model, const guint *entries, guint n, double *metric,
          char **metrics_json, GError **error)
{
  const int chunk = 64;
  DermImage views[64];
  const DermImage *ptrs[64];
  DermCache *cache = job->cache;
  DermDeviceCache *dcache = job->dcache;
  if (job->cfg->task == DERM_TASK_CLASSIFY)
    {
      int k = derm_model_get_num_classes (model);
      g_autofree float *logits = g_new (float, (gsize) n * k);
      g_autofree float *probs = g_new (float, (gsize) n * k);
      g_autofree int *labels = g_new (int, n);
      for (guint i = 0; i < n; i++)
        labels[i] = derm_cache_label (cache, entries[i]);
      if (!cached_logits (job, model, entries, n, logits, error))
        return FALSE;
      derm_softmax (logits, n, k, 1.0, probs);
      DermClassMetrics m;
      derm_class_metrics_compute (probs, labels, n, k, &m);
      *metric = m.balanced_accuracy;
      /* Per-class recall each epoch, for the training panel. */
      *metrics_json = class_metrics_json (&m);
      return TRUE;
    }
  DermSegMetrics seg;
  derm_seg_metrics_init (&seg);
  if (dcache != NULL)
    {
      gsize px = (gsize) job->size * job->size;
      g_autofree guint8 *pred = g_try_malloc ((gsize) n * px);
      if (pred == NULL)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
                       _("Not enough memory for the validation masks"));
          return FALSE;
        }
      if (!derm_model_segment_cached (model, dcache, entries, (int) n, pred, error))
        return FALSE;
      for (guint i = 0; i < n; i++)
        {
          guint8 *p = pred + i * px;
          for (gsize q = 0; q < px; q++)
            p[q] = p[q] >= 128;
          derm_seg_metrics_add (&seg, p, derm_cache_mask (cache, entries[i]), px);
        }
      *metric = seg.dice;
      return TRUE;
    }
  for (guint s = 0; s < n; s += chunk)
    {
      int m = MIN ((guint) chunk, n - s);
      for (int i = 0; i < m; i++)
        {
          derm_cache_view (cache, entries[s + i], &views[i], FALSE);
          ptrs[i] = &views[i];
        }
      DermImage **pred = derm_model_segment_batch (model, ptrs, m, FALSE, error);
      if (pred == NULL)
        return FALSE;
      for (int i = 0; i < m; i++)
        {
          gsize px = (gsize) pred[i]->width * pred[i]->height;
          for (gsize p = 0; p < px; p++)
            pred[i]->data[p] = pred[i]->data[p] >= 128;
          derm_seg_metrics_add (&seg, pred[i]->data, derm_cache_mask (cache, entries[s + i]), px);
          derm_image_free (pred[i]);
        }
      g_free (pred);
    }
  *metric = seg.dice;
  return TRUE;
}

/* The arithmetic a training step uses on @device (mixed precision is on):
 * bf16 autocast on CUDA, on the CPU what the CPU precision policy says. */
static const char *
training_precision (const char *device)
{
  if (g_str_has_prefix (device, "cuda"))
    return "bf16";
  return derm_cpu_precision_name (derm_engine_cpu_policy ()->precision);
}

static char *
training_json (const DermTrainJobConfig *cfg, int size, const char *device, int best_epoch,
               int epochs_run, double best, gboolean ema_best)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, derm_arch_name (cfg->arch));
  derm_json_add_int (b, "epochs", cfg->epochs);
  derm_json_add_int (b, "epochs_run", epochs_run);
  derm_json_add_int (b, "best_epoch", best_epoch);
  derm_json_add_number (b, cfg->task == DERM_TASK_CLASSIFY ? "val_balanced_accuracy" : "val_dice", best);
  derm_json_add_int (b, "batch", cfg->batch);
  derm_json_add_int (b, "image_size", size);
  derm_json_add_number (b, "lr", cfg->lr > 0 ? cfg->lr : 1e-3);
  derm_json_add_number (b, "weight_decay", cfg->weight_decay);
  json_builder_set_member_name (b, "balance");
  json_builder_add_string_value (b, derm_balance_name (cfg->balance));
  json_builder_set_member_name (b, "finetune");
  json_builder_add_string_value (b, derm_finetune_name (cfg->finetune));
  json_builder_set_member_name (b, "init");
  json_builder_add_string_value (b, cfg->init_weights ? cfg->init_weights : "");
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, device);
  json_builder_set_member_name (b, "precision");
  json_builder_add_string_value (b, training_precision (device));
  derm_json_add_int (b, "seed", (gint64) cfg->seed);
  derm_json_add_int (b, "split_seed", (gint64) (cfg->split_seed != 0 ? cfg->split_seed : cfg->seed));
  derm_json_add_number (b, "train_fraction", cfg->train_fraction > 0 && cfg->train_fraction < 1
                                               ? cfg->train_fraction : 1.0);
  derm_json_add_number (b, "mixup", cfg->mixup);
  derm_json_add_number (b, "cutmix", cfg->cutmix);
  derm_json_add_number (b, "ema", cfg->ema);
  if (cfg->task == DERM_TASK_CLASSIFY)
    {
      g_autofree char *fields = derm_patient_fields_to_string ((DermPatientField) cfg->context);
      json_builder_set_member_name (b, "context");
      json_builder_add_string_value (b, fields);
      derm_json_add_number (b, "context_dropout", cfg->context ? DERM_TRAIN_CONTEXT_DROPOUT : 0);
    }
  json_builder_set_member_name (b, "weights");
  json_builder_add_string_value (b, ema_best ? "ema" : "raw");
  json_builder_set_member_name (b, "shades_of_gray");
  json_builder_add_boolean_value (b, cfg->shades_of_gray);
  derm_json_add_number (b, "label_smoothing", cfg->task == DERM_TASK_CLASSIFY ? 0.05 : 0);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
set_double_metadata (DermModel *model, const char *key, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  derm_model_set_metadata (model, key, g_ascii_dtostr (buf, sizeof buf, v));
}

static double
get_double_metadata (DermModel *model, const char *key, double fallback)
{
  const char *s = derm_model_get_metadata (model, key);
  return s != NULL ? g_ascii_strtod (s, NULL) : fallback;
}

/* The best validation metric and its epoch recorded in an already saved
 * model file at @path, when it was trained on @split_json; FALSE otherwise.
 * Only the header is read. */
static gboolean
saved_model_best (const char *path, const char *split_json, gboolean classify,
                  double *best, int *best_epoch)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return FALSE;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, NULL);
  if (st == NULL)
    return FALSE;
  GHashTable *meta = derm_safetensors_get_metadata (st);
  if (meta == NULL || g_strcmp0 (g_hash_table_lookup (meta, "split"), split_json) != 0)
    return FALSE;
  const char *training = g_hash_table_lookup (meta, "training");
  if (training == NULL)
    return FALSE;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, training, -1, NULL))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  JsonObject *o = json_node_get_object (root);
  const char *key = classify ? "val_balanced_accuracy" : "val_dice";
  if (!json_object_has_member (o, key) || !json_object_has_member (o, "best_epoch")
      || json_node_is_null (json_object_get_member (o, key)))
    return FALSE;
  *best = json_object_get_double_member (o, key);
  *best_epoch = (int) json_object_get_int_member (o, "best_epoch");
  return isfinite (*best);
}

static gboolean
check_config (const DermTrainJobConfig *cfg, GError **error)
{
  const char *problem = NULL;
  if (cfg->data_dir == NULL || cfg->out_path == NULL)
    problem = _("a data folder and an output file are required");
  else if (cfg->epochs < 1 || cfg->epochs > 10000)
    problem = _("the epoch count must be between 1 and 10000");
  else if (cfg->batch < 2 || cfg->batch > 4096)
    problem = _("the batch size must be between 2 and 4096");
  else if (cfg->image_size != 0 && (cfg->image_size < 32 || cfg->image_size > 1024))
    problem = _("the image size must be between 32 and 1024");
  else if (cfg->lr < 0 || cfg->lr > 10)
    problem = _("the learning rate must be between 0 and 10");
  else if (!(cfg->checkpoint_every >= 0))
    problem = _("the checkpoint interval cannot be negative");
  else if (cfg->gpu_augment > DERM_GPU_AUGMENT_OFF)
    problem = _("unknown GPU augmentation mode");
  else if (!(cfg->mixup >= 0 && cfg->mixup <= 100) || !(cfg->cutmix >= 0 && cfg->cutmix <= 100))
    problem = _("mixup and cutmix strengths must be between 0 and 100");
  else if (cfg->folds < 0 || cfg->folds > DERM_TRAIN_MAX_FOLDS)
    problem = _("an ensemble has at most 16 members (--folds 2 to 16; 0 or 1: one network)");
  else if (cfg->folds > 1 && cfg->task != DERM_TASK_CLASSIFY)
    problem = _("an ensemble (--folds) is made of classifiers");
  else if (!(cfg->ema >= 0 && cfg->ema < 1))
    problem = _("the weight average's decay must be at least 0 and below 1");
  else if (cfg->task == DERM_TASK_SEGMENT
           && (cfg->mixup > 0 || cfg->cutmix > 0 || cfg->balance == DERM_BALANCE_LOGIT_ADJUST))
    problem = _("mixup, cutmix and the logit-adjusted loss are for classification; a mask "
                "is never mixed");
  else if (derm_arch_task (cfg->arch) != cfg->task)
    problem = cfg->task == DERM_TASK_SEGMENT ? _("segmentation needs --arch unet")
                                             : _("classification needs a ResNet architecture");
  if (problem != NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, "%s", problem);
      return FALSE;
    }
  return TRUE;
}

/* One network's training: on cache entries @train, validated each epoch on
 * @val, its best epoch saved to @out_path (with the weights' average when
 * that was better), a resumable checkpoint at @ckpt_path, resumed from
 * @resume when not NULL. @member is the ensemble member's index (-1 for a
 * single network); @seed seeds its initial weights, order and augmentation. */
typedef struct {
  const guint *train;
  guint n_train;
  const guint *val;
  guint n_val;
  const char *out_path;
  const char *ckpt_path;
  const char *resume;
  int member;
  guint64 seed;
  /* Results */
  double best;
  int best_epoch;
  int epochs_run;
  gboolean best_ema;
} Network;

/* The members of the ensemble in the weight file @path, 1 for a single
 * network (or a file that cannot be read: loading it says why). */
static int
init_members (const char *path)
{
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, NULL);
  GHashTable *meta = st != NULL ? derm_safetensors_get_metadata (st) : NULL;
  const char *k = meta != NULL ? g_hash_table_lookup (meta, "ensemble_members") : NULL;
  return k != NULL ? (int) g_ascii_strtoll (k, NULL, 10) : 1;
}

/* A start pretrained without labels (dermalens-cli pretrain) saw the
 * training images of its split: when this job's split differs, some of
 * them are validation or test images here, and the test metrics are
 * optimistic. Says so. */
static void
warn_pretrained_split (Job *job, const char *init)
{
  g_autoptr(DermSafetensors) st = derm_safetensors_open (init, NULL);
  GHashTable *meta = st != NULL ? derm_safetensors_get_metadata (st) : NULL;
  if (meta == NULL || !g_hash_table_contains (meta, "pretrained"))
    return;
  const char *split = g_hash_table_lookup (meta, "split");
  if (g_strcmp0 (split, job->split_json) == 0)
    emit_message (job, _("%s was pretrained on this split's training images only"), init);
  else
    emit_message (job, _("Warning: %s was pretrained on another split (seed, fractions, --limit "
                         "or data differ): some of its images are validation or test images "
                         "here, and the test metrics will be optimistic. Pretrain with this "
                         "job's --seed (or --split-seed)."), init);
}

/* The model a network starts from: fresh weights seeded with @net->seed,
 * or the start file's, with the job's metadata. Returns: (transfer full). */
static DermModel *
new_network_model (Job *job, Network *net, GError **error)
{
  const DermTrainJobConfig *cfg = job->cfg;
  gboolean classify = cfg->task == DERM_TASK_CLASSIFY;
  derm_engine_manual_seed (net->seed);
  DermModelConfig mc = { cfg->arch, classify ? DERM_N_CLASSES : 1, 0, job->size, 1,
                         classify ? cfg->context : 0 };
  DermModel *model = derm_model_new (&mc, cfg->device, error);
  if (model == NULL)
    return NULL;
  if (job->device == NULL)
    {
      job->device = g_strdup (derm_model_get_device (model));
      if (g_str_has_prefix (job->device, "cuda"))
        emit_message (job, _("%s, %.1f M parameters, on %s (bf16 autocast)"),
                      derm_arch_name (cfg->arch), derm_model_count_parameters (model) / 1e6,
                      job->device);
      else
        emit_message (job, _("%s, %.1f M parameters, on %s (%s)"), derm_arch_name (cfg->arch),
                      derm_model_count_parameters (model) / 1e6, job->device,
                      derm_engine_cpu_policy ()->reason);
    }
  /* From an ensemble's file, each network starts from one of its members:
   * member k from member k (modulo their count), a single network from the
   * first. */
  int from = cfg->init_weights != NULL && net->resume == NULL ? init_members (cfg->init_weights) : 0;
  gboolean loaded = TRUE;
  if (from > 1)
    {
      int k = MAX (net->member, 0) % from;
      if (from != job->members)
        emit_message (job, _("%s is an ensemble of %d networks: this network starts from its "
                             "member %d"), cfg->init_weights, from, k + 1);
      loaded = derm_model_load_member_weights (model, cfg->init_weights, k, TRUE, error);
    }
  else if (from == 1)
    loaded = derm_model_load_weights (model, cfg->init_weights, TRUE, error);
  if (loaded && from >= 1 && net->member <= 0)
    warn_pretrained_split (job, cfg->init_weights);
  if (!loaded)
    {
      derm_model_free (model);
      return NULL;
    }
  if (job->card_facts == NULL)
    job->card_facts = derm_model_card_facts_json (job->sha, job->ds->samples->len,
                                                  job->ds->n_lesions, job->split_counts,
                                                  job->device);
  derm_model_set_metadata (model, "split", job->split_json);
  derm_model_set_metadata (model, "dataset_sha256", job->sha);
  derm_model_set_metadata (model, "model_card", job->card_facts);
  derm_model_set_metadata (model, "color_constancy", "none");   /* the cache applies it */
  if (net->member >= 0)
    set_double_metadata (model, "train.member", net->member);
  return model;
}

/* The patient context of every cache entry, from the metadata CSV, and a
 * message on how much of it is known. Returns: (transfer full). */
static DermPatientContext *
job_patients (Job *job, unsigned fields)
{
  DermPatientContext *patients = g_new (DermPatientContext, MAX (job->n_cache, 1));
  guint known[3] = { 0 }, bad = 0;
  for (guint i = 0; i < job->n_cache; i++)
    {
      const DermSample *s = job->ds->samples->pdata[derm_cache_sample (job->cache, i)];
      if (!derm_sample_patient_context (s, &patients[i]))
        bad++;
      DermPatientField k = derm_patient_context_known (&patients[i]);
      for (int f = 0; f < 3; f++)
        known[f] += (k >> f) & 1;
    }
  g_autofree char *names = derm_patient_fields_to_string ((DermPatientField) fields);
  double n = MAX (job->n_cache, 1) / 100.0;
  emit_message (job, _("Patient context (%s): age known for %.0f %%, sex for %.0f %%, body site "
                       "for %.0f %% of the training and validation images"),
                names, known[0] / n, known[1] / n, known[2] / n);
  if (bad > 0)
    emit_message (job, g_dngettext (GETTEXT_PACKAGE,
                                    "%u image has a context value outside the vocabulary: it "
                                    "counts as unknown",
                                    "%u images have a context value outside the vocabulary: it "
                                    "counts as unknown", bad), bad);
  return patients;
}

/* The uint8 cache on the model's device, made once for the job when asked
 * (auto: on CUDA) and the whole cache fits beside the training. */
static void
ensure_device_cache (Job *job, DermModel *model)
{
  const DermTrainJobConfig *cfg = job->cfg;
  gboolean classify = cfg->task == DERM_TASK_CLASSIFY;
  if (job->dcache != NULL || job->dcache_tried)
    return;
  job->dcache_tried = TRUE;
  if (!(cfg->gpu_augment == DERM_GPU_AUGMENT_ON
        || (cfg->gpu_augment == DERM_GPU_AUGMENT_AUTO && g_str_has_prefix (job->device, "cuda"))))
    return;
  guint n_cache = job->n_cache;
  guint64 need = derm_device_cache_bytes (n_cache, job->size, !classify);
  guint64 free_bytes = 0, total_bytes = 0;
  gboolean known = derm_engine_device_memory (job->device, &free_bytes, &total_bytes);
  /* Training needs most of the device: the cache may take a third of what
   * is free. */
  if (known && need > free_bytes / 3)
    {
      emit_message (job, _("The image cache (%.2f GiB) does not fit beside training in the free "
                           "memory of %s (%.2f GiB): augmenting on the CPU"),
                    need / 1073741824.0, job->device, free_bytes / 1073741824.0);
      return;
    }
  g_autoptr(GError) local = NULL;
  gint64 tu = g_get_monotonic_time ();
  job->dcache = derm_device_cache_new (model, derm_cache_image (job->cache, 0),
                                       derm_cache_labels (job->cache),
                                       classify ? NULL : derm_cache_mask (job->cache, 0), n_cache,
                                       job->size, &local);
  if (job->dcache != NULL && job->patients != NULL
      && !derm_device_cache_set_patients (job->dcache, job->patients, n_cache, &local))
    g_clear_pointer (&job->dcache, derm_device_cache_free);
  if (job->dcache == NULL)
    {
      emit_message (job, _("The image cache could not be copied to %s (%s): augmenting on the "
                           "CPU"), job->device, local->message);
      derm_engine_empty_cache ();
    }
  else
    emit_message (job, _("%u images (%.2f GiB) copied to %s in %.1f s; batches are augmented "
                         "there"), n_cache, need / 1073741824.0, job->device,
                  (g_get_monotonic_time () - tu) / 1e6);
}

static gboolean
train_network (Job *job, Network *net, GError **error)
{
  const DermTrainJobConfig *cfg = job->cfg;
  gboolean classify = cfg->task == DERM_TASK_CLASSIFY;
  double lr = cfg->lr > 0 ? cfg->lr : 1e-3;
  g_autoptr(GError) local = NULL;
  DermModel *model = new_network_model (job, net, error);
  if (model == NULL)
    return FALSE;
  ensure_device_cache (job, model);
  DermCache *cache = job->cache;
  DermDeviceCache *dcache = job->dcache;

  /* Class weights from the network's training images (inverse square root
   * frequency, mean weight per image 1). */
  float weights[DERM_N_CLASSES];
  guint counts[DERM_N_CLASSES] = { 0 };
  for (guint i = 0; i < net->n_train; i++)
    counts[derm_cache_label (cache, net->train[i])]++;
  double norm = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    norm += counts[c] > 0 ? counts[c] / sqrt (counts[c]) : 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    weights[c] = counts[c] > 0 ? (float) (net->n_train / norm / sqrt (counts[c])) : 1.0f;
  /* The logit-adjusted loss's offsets: log of the class priors (half an
   * image for an absent class). */
  float log_prior[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    log_prior[c] = (float) log (MAX (counts[c], 0.5) / (double) net->n_train);

  DermLoaderConfig lc = { 0 };
  lc.batch = cfg->batch;
  lc.sampling = classify && cfg->balance == DERM_BALANCE_SAMPLING ? DERM_SAMPLING_BALANCED
                                                                  : DERM_SAMPLING_SHUFFLE;
  lc.augment = TRUE;
  derm_augment_config_default (&lc.augment_config);
  lc.drop_last = TRUE;
  lc.seed = net->seed;
  lc.workers = cfg->workers;
  g_autofree guint *order = NULL;
  if (dcache != NULL)
    {
      order = g_new (guint, net->n_train);
      job->steps = derm_batches_per_epoch (net->n_train, cfg->batch, lc.drop_last);
    }
  else
    {
      job->loader = derm_loader_new (cache, net->train, net->n_train, &lc, error);
      if (job->loader == NULL)
        {
          derm_model_free (model);
          return FALSE;
        }
      job->steps = derm_loader_batches_per_epoch (job->loader);
      if (job->patients != NULL)
        {
          g_free (job->epoch_order);
          job->epoch_order = g_new (guint, net->n_train);
          g_free (job->batch_patients);
          job->batch_patients = g_new (DermPatientContext, cfg->batch);
        }
    }

  DermTrainConfig tc_ = { 0 };
  tc_.optimizer = DERM_OPTIMIZER_ADAMW;
  tc_.loss = classify ? DERM_LOSS_CROSS_ENTROPY : DERM_LOSS_BCE_DICE;
  tc_.lr = lr;
  tc_.weight_decay = cfg->weight_decay;
  tc_.total_steps = cfg->epochs * job->steps;
  tc_.warmup_steps = MIN (job->steps, tc_.total_steps / 10 + 1);
  tc_.class_weights = classify && cfg->balance == DERM_BALANCE_LOSS ? weights : NULL;
  tc_.label_smoothing = classify ? 0.05 : 0;
  tc_.grad_clip = 5.0;
  tc_.finetune = cfg->finetune;
  tc_.seed = net->seed;
  tc_.mixed_precision = TRUE;
  tc_.mixup_alpha = classify ? cfg->mixup : 0;
  tc_.cutmix_alpha = classify ? cfg->cutmix : 0;
  tc_.loss_logit_offsets = classify && cfg->balance == DERM_BALANCE_LOGIT_ADJUST ? log_prior : NULL;
  tc_.ema_decay = cfg->ema;
  tc_.context_dropout = classify && cfg->context != 0 ? DERM_TRAIN_CONTEXT_DROPOUT : 0;
  DermTrainer *trainer = derm_trainer_new (model, &tc_, error);
  gboolean ok = trainer != NULL;

  double best = -1;
  int best_epoch = -1, bad_epochs = 0, start_epoch = 0, epoch = 0;
  gboolean best_ema = FALSE;
  if (ok && net->resume != NULL)
    {
      ok = derm_trainer_load_checkpoint (trainer, net->resume, error);
      if (ok && net->member < 0 && derm_model_get_metadata (model, "train.member") != NULL)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                       _("%s is the checkpoint of an ensemble's member; resume it with the "
                         "--folds it was started with"), net->resume);
          ok = FALSE;
        }
      if (ok && g_strcmp0 (derm_model_get_metadata (model, "split"), job->split_json) != 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                       _("%s was trained on another split (seed, fractions, --limit or data "
                         "differ); resume with the options it was started with"), net->resume);
          ok = FALSE;
        }
      if (ok)
        {
          start_epoch = derm_trainer_get_epoch (trainer);
          best = get_double_metadata (model, "train.best_metric", -1);
          best_epoch = (int) get_double_metadata (model, "train.best_epoch", -1);
          bad_epochs = (int) get_double_metadata (model, "train.bad_epochs", 0);
          best_ema = get_double_metadata (model, "train.best_ema", 0) != 0;
          /* Checkpoints are written every --checkpoint-every seconds, best
           * models at every best epoch: the model file may hold a better
           * epoch than the checkpoint knows. A worse epoch must not replace it. */
          double saved = -1;
          int saved_epoch = -1;
          if (saved_model_best (net->out_path, job->split_json, classify, &saved, &saved_epoch)
              && saved > best)
            {
              best = saved;
              best_epoch = saved_epoch;
            }
          if (start_epoch > 0)
            emit_message (job, _("resumed from %s after epoch %d"), net->resume, start_epoch);
          else
            emit_message (job, _("resumed from %s; it had stopped in the first epoch, which "
                                 "starts again"), net->resume);
        }
    }

  gint64 last_ckpt = g_get_monotonic_time ();
  for (epoch = start_epoch; ok && epoch < cfg->epochs; epoch++)
    {
      job->epoch = epoch;
      double loss = NAN;
      if (dcache != NULL)
        {
          /* The CPU loader's order and seeds, batches built on the device. */
          derm_epoch_order (cache, net->train, net->n_train, lc.sampling, lc.seed, epoch, order);
          ok = derm_trainer_run_epoch_cached (trainer, epoch, dcache, order, net->n_train,
                                              cfg->batch, lc.drop_last, lc.seed,
                                              &lc.augment_config, step_progress, job, job->cancel,
                                              &loss, error);
        }
      else
        {
          derm_loader_start_epoch (job->loader, epoch);
          /* The order the loader draws this epoch's batches in. */
          if (job->epoch_order != NULL)
            derm_epoch_order (cache, net->train, net->n_train, lc.sampling, lc.seed, epoch,
                              job->epoch_order);
          job->batch_index = 0;
          ok = derm_trainer_run_epoch (trainer, epoch, job->steps, next_batch, job,
                                       step_progress, job, job->cancel, &loss, error);
        }
      if (!ok)
        break;
      double metric = NAN;
      g_autofree char *val_json = NULL;
      if (net->n_val > 0)
        ok = validate (job, model, net->val, net->n_val, &metric, &val_json, error);
      if (!ok)
        break;
      /* The weights' moving average, validated beside the raw weights; the
       * better of the two (the average on a tie) stays in the model until
       * it is saved. */
      gboolean ema_in = FALSE;
      if (net->n_val > 0 && cfg->ema > 0 && derm_trainer_swap_ema (trainer))
        {
          double ema_metric = NAN;
          g_autofree char *ema_json = NULL;
          ema_in = TRUE;
          ok = validate (job, model, net->val, net->n_val, &ema_metric, &ema_json, error);
          if (!ok)
            break;
          emit_message (job, _("epoch %d: validation %s %.4f with the weight average, %.4f "
                               "with the raw weights"), epoch + 1,
                        classify ? "balanced_accuracy" : "dice", ema_metric, metric);
          if (isfinite (ema_metric) && !(ema_metric < metric))
            {
              metric = ema_metric;
              g_free (val_json);
              val_json = g_steal_pointer (&ema_json);
            }
          else
            {
              derm_trainer_swap_ema (trainer);
              ema_in = FALSE;
            }
        }
      /* Without validation the last epoch is the best. */
      gboolean is_best = net->n_val == 0 || (isfinite (metric) && metric > best);
      if (is_best)
        {
          best = net->n_val > 0 ? metric : NAN;
          best_epoch = epoch;
          best_ema = ema_in;
          bad_epochs = 0;
          g_autofree char *tj = training_json (cfg, job->size, job->device, epoch, epoch + 1, best,
                                               best_ema);
          derm_model_set_metadata (model, "training", tj);
          derm_model_set_metadata (model, "color_constancy",
                                   cfg->shades_of_gray ? "shades_of_gray" : "none");
          ok = derm_model_save (model, net->out_path, error);
          derm_model_set_metadata (model, "color_constancy", "none");
        }
      else
        bad_epochs++;
      if (ema_in)
        derm_trainer_swap_ema (trainer);
      DermTrainEvent e = { .type = DERM_TRAIN_EVENT_EPOCH, .epoch = epoch, .loss = loss,
                           .val_metric = metric, .is_best = is_best, .json = val_json,
                           .val_metric_name = classify ? "balanced_accuracy" : "dice" };
      emit (job, &e);
      if (!ok)
        break;
      set_double_metadata (model, "train.best_metric", best);
      set_double_metadata (model, "train.best_epoch", best_epoch);
      set_double_metadata (model, "train.bad_epochs", bad_epochs);
      set_double_metadata (model, "train.best_ema", best_ema);
      set_double_metadata (model, "train.shades_of_gray", cfg->shades_of_gray);
      gboolean ckpt_due = epoch == start_epoch || cfg->checkpoint_every <= 0
                          || (g_get_monotonic_time () - last_ckpt) / 1e6 >= cfg->checkpoint_every;
      if (epoch + 1 < cfg->epochs && ckpt_due)
        {
          ok = derm_trainer_save_checkpoint (trainer, net->ckpt_path, error);
          if (!ok)
            break;
          last_ckpt = g_get_monotonic_time ();
          DermTrainEvent ce = { .type = DERM_TRAIN_EVENT_CHECKPOINT, .epoch = epoch,
                                .message = net->ckpt_path, .val_metric = NAN };
          emit (job, &ce);
        }
      if (cfg->patience > 0 && bad_epochs >= cfg->patience && epoch + 1 < cfg->epochs)
        {
          DermTrainEvent se = { .type = DERM_TRAIN_EVENT_EARLY_STOP, .epoch = epoch,
                                .val_metric = NAN };
          emit (job, &se);
          epoch++;
          break;
        }
    }

  if (!ok && trainer != NULL && error != NULL && *error != NULL
      && g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* A clean stop: what was learnt so far, resumable. */
      if (derm_trainer_save_checkpoint (trainer, net->ckpt_path, &local))
        {
          g_clear_error (error);
          if (net->member >= 0)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                         _("Training stopped in epoch %d of member %d; continue it with "
                           "--folds %d --resume %s"),
                         epoch + 1, net->member + 1, cfg->folds, net->ckpt_path);
          else
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                         _("Training stopped in epoch %d; continue it with --resume %s"),
                         epoch + 1, net->ckpt_path);
        }
      else
        g_prefix_error (error, _("Stopped, but the checkpoint could not be written (%s): "),
                        local->message);
    }
  derm_loader_free (job->loader);
  job->loader = NULL;
  derm_trainer_free (trainer);
  derm_model_free (model);
  net->best = best;
  net->best_epoch = best_epoch;
  net->epochs_run = epoch;
  net->best_ema = best_ema;
  return ok;
}

/* ---- Ensembles ------------------------------------------------------------ */

/* The path of member @k's own file while the ensemble is trained. */
static char *
member_path (const char *out_path, int k)
{
  return g_strdup_printf ("%s.member%d", out_path, k);
}

/* Member @k's file exists, was finished (calibrated) and was trained on the
 * job's split with the job's folds. */
static gboolean
member_finished (Job *job, const char *path, int k)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return FALSE;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, NULL);
  if (st == NULL)
    return FALSE;
  GHashTable *meta = derm_safetensors_get_metadata (st);
  g_autofree char *want = g_strdup_printf ("%d/%d", k, job->cfg->folds);
  return meta != NULL && g_strcmp0 (g_hash_table_lookup (meta, "split"), job->split_json) == 0
         && g_strcmp0 (g_hash_table_lookup (meta, "train.member_finished"), want) == 0;
}

/* After member @k's training: its temperature fitted on its own held-out
 * fold, which also gives its balanced accuracy there; saved and marked
 * finished. */
static gboolean
finish_member (Job *job, Network *net, int k, GError **error)
{
  g_autoptr(DermModel) model = derm_model_load (net->out_path, job->device, error);
  if (model == NULL)
    return FALSE;
  const char *cc = derm_model_get_metadata (model, "color_constancy");
  g_autofree char *saved_cc = g_strdup (cc != NULL ? cc : "none");
  derm_model_set_metadata (model, "color_constancy", "none");   /* the cache applies it */
  g_autofree float *logits = g_new (float, (gsize) MAX (net->n_val, 1) * DERM_N_CLASSES);
  if (!cached_logits (job, model, net->val, net->n_val, logits, error))
    return FALSE;
  g_autofree int *labels = g_new (int, MAX (net->n_val, 1));
  for (guint i = 0; i < net->n_val; i++)
    labels[i] = derm_cache_label (job->cache, net->val[i]);
  double t = derm_fit_temperature (logits, labels, net->n_val, DERM_N_CLASSES);
  derm_model_set_temperature (model, t);
  derm_model_set_metadata (model, "color_constancy", saved_cc);
  g_autofree char *done = g_strdup_printf ("%d/%d", k, job->cfg->folds);
  derm_model_set_metadata (model, "train.member_finished", done);
  emit_message (job, _("member %d of %d: best epoch %d, balanced accuracy %.3f on its held-out "
                       "fold, temperature %.3f"),
                k + 1, job->cfg->folds, net->best_epoch + 1, net->best, t);
  return derm_model_save (model, net->out_path, error);
}

/* The members' one-line JSON for the "training" metadata's "members". */
static void
add_member_json (JsonBuilder *b, const char *path, int fold)
{
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, NULL);
  GHashTable *meta = st != NULL ? derm_safetensors_get_metadata (st) : NULL;
  json_builder_begin_object (b);
  derm_json_add_int (b, "fold", fold);
  const char *training = meta != NULL ? g_hash_table_lookup (meta, "training") : NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (training != NULL && json_parser_load_from_data (parser, training, -1, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      for (const char *const *key = (const char *const[]) { "best_epoch", "epochs_run",
                                                            "val_balanced_accuracy", "weights",
                                                            NULL };
           *key != NULL; key++)
        if (json_object_has_member (o, *key))
          {
            json_builder_set_member_name (b, *key);
            json_builder_add_value (b, json_node_copy (json_object_get_member (o, *key)));
          }
    }
  const char *t = meta != NULL ? g_hash_table_lookup (meta, "temperature") : NULL;
  derm_json_add_number (b, "temperature", t != NULL ? g_ascii_strtod (t, NULL) : NAN);
  json_builder_end_object (b);
}

/* Trains the K members on lesion-grouped folds of the training split (each
 * validated and calibrated on the fold it did not see) and assembles them
 * into cfg->out_path. Members already finished by an earlier run of the
 * same job are kept when resuming. */
static gboolean
train_ensemble (Job *job, const guint *train_entries, guint n_train, GError **error)
{
  const DermTrainJobConfig *cfg = job->cfg;
  const int k_members = cfg->folds;
  g_autofree guint *samples = g_new (guint, MAX (n_train, 1));
  for (guint i = 0; i < n_train; i++)
    samples[i] = derm_cache_sample (job->cache, train_entries[i]);
  g_autofree guint8 *fold = derm_split_folds (job->ds, samples, n_train, (guint) k_members,
                                              cfg->seed);
  /* The member a checkpoint given to --resume belongs to. */
  int resume_member = -1;
  if (cfg->resume != NULL)
    {
      g_autoptr(DermSafetensors) st = derm_safetensors_open (cfg->resume, error);
      if (st == NULL)
        return FALSE;
      GHashTable *meta = derm_safetensors_get_metadata (st);
      const char *m = meta != NULL ? g_hash_table_lookup (meta, "train.member") : NULL;
      if (m == NULL)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                       _("%s is not the checkpoint of an ensemble's member; resume it without "
                         "--folds"), cfg->resume);
          return FALSE;
        }
      resume_member = (int) g_ascii_strtod (m, NULL);
      if (resume_member < 0 || resume_member >= k_members)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                       _("%s belongs to member %d, but --folds is %d"), cfg->resume,
                       resume_member + 1, k_members);
          return FALSE;
        }
    }
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint *member_train = g_new (guint, MAX (n_train, 1));
  g_autofree guint *member_val = g_new (guint, MAX (n_train, 1));
  job->members = k_members;
  for (int k = 0; k < k_members; k++)
    {
      char *path = member_path (cfg->out_path, k);
      g_ptr_array_add (paths, path);
      job->member = k;
      guint nt = 0, nv = 0;
      for (guint i = 0; i < n_train; i++)
        {
          if (fold[i] == k)
            member_val[nv++] = train_entries[i];
          else
            member_train[nt++] = train_entries[i];
        }
      /* A member finished before the checkpoint was written (a job killed
       * between two members) is kept too. */
      if (cfg->resume != NULL && k == resume_member && member_finished (job, path, k))
        {
          emit_message (job, _("member %d of %d was trained before: kept"), k + 1, k_members);
          continue;
        }
      if (cfg->resume != NULL && k < resume_member)
        {
          if (!member_finished (job, path, k))
            {
              g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                           _("Member %d of the ensemble (%s) is missing or unfinished; start "
                             "the training again without --resume"), k + 1, path);
              return FALSE;
            }
          emit_message (job, _("member %d of %d was trained before: kept"), k + 1, k_members);
          continue;
        }
      emit_message (job, _("member %d of %d: %u training images, %u held out in its fold"), k + 1,
                    k_members, nt, nv);
      if (nt < (guint) cfg->batch || nv == 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("Too few training images for %d folds (member %d has %u for batches of "
                         "%d and %u held out); use fewer --folds or more data"),
                       k_members, k + 1, nt, cfg->batch, nv);
          return FALSE;
        }
      Network net = { member_train, nt, member_val, nv, path, job->ckpt_path,
                      k == resume_member ? cfg->resume : NULL, k,
                      cfg->seed + (guint64) k * 1000003u };
      if (!train_network (job, &net, error) || !finish_member (job, &net, k, error))
        return FALSE;
    }
  job->member = -1;

  /* One model holding every member. */
  DermModel *members[64];
  gboolean ok = TRUE;
  int loaded = 0;
  for (int k = 0; ok && k < k_members; k++)
    {
      members[k] = derm_model_load (paths->pdata[k], "cpu", error);
      ok = members[k] != NULL;
      loaded += ok;
    }
  DermModel *ens = ok ? derm_model_new_ensemble (members, k_members, job->device, error) : NULL;
  for (int k = 0; k < loaded; k++)
    derm_model_free (members[k]);
  if (ens == NULL)
    return FALSE;
  derm_model_set_metadata (ens, "split", job->split_json);
  derm_model_set_metadata (ens, "dataset_sha256", job->sha);
  derm_model_set_metadata (ens, "model_card", job->card_facts);
  derm_model_set_metadata (ens, "color_constancy", cfg->shades_of_gray ? "shades_of_gray" : "none");
  ok = derm_model_save (ens, cfg->out_path, error);
  derm_model_free (ens);
  emit_message (job, _("%d members assembled into %s"), k_members, cfg->out_path);
  return ok;
}

/* The "training" metadata of an assembled ensemble: the job's settings,
 * the folds and each member's own record. Returns: (transfer full). */
static char *
ensemble_training_json (Job *job)
{
  const DermTrainJobConfig *cfg = job->cfg;
  g_autofree char *base = training_json (cfg, job->size, job->device, -1, cfg->epochs, NAN, FALSE);
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, base, -1, NULL))
    return g_steal_pointer (&base);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_autoptr(GList) keys = json_object_get_members (o);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *key = l->data;
      if (g_str_equal (key, "best_epoch") || g_str_equal (key, "epochs_run")
          || g_str_equal (key, "val_balanced_accuracy") || g_str_equal (key, "weights"))
        continue;
      json_builder_set_member_name (b, key);
      json_builder_add_value (b, json_node_copy (json_object_get_member (o, key)));
    }
  derm_json_add_int (b, "folds", cfg->folds);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  for (int k = 0; k < cfg->folds; k++)
    {
      g_autofree char *path = member_path (cfg->out_path, k);
      add_member_json (b, path, k);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Each member alone on the test split (its own temperature, arg-max), for
 * the ensemble's gain over one member: "members" in the test metrics. */
static gboolean
add_member_test_json (Job *job, JsonBuilder *b, const guint *test, guint n_test, GError **error)
{
  const int eval_batch = 64;
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  for (int k = 0; k < job->cfg->folds; k++)
    {
      g_autofree char *path = member_path (job->cfg->out_path, k);
      g_autoptr(DermModel) m = derm_model_load (path, job->device, error);
      if (m == NULL)
        return FALSE;
      DermClassMetrics tm;
      g_autofree float *probs = NULL;
      if (!derm_evaluate_classifier (m, job->ds, test, n_test, job->cfg->tta, eval_batch, NULL,
                                     NULL, job->cancel, &tm, &probs, error))
        return FALSE;
      json_builder_begin_object (b);
      derm_json_add_int (b, "fold", k);
      derm_json_add_number (b, "balanced_accuracy", tm.balanced_accuracy);
      derm_json_add_number (b, "accuracy", tm.accuracy);
      derm_json_add_number (b, "macro_auc", tm.macro_auc);
      derm_json_add_number (b, "ece", tm.ece);
      derm_json_add_number (b, "melanoma_recall", tm.recall[DERM_CLASS_MEL]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return TRUE;
}

gboolean
derm_train_job_run (const DermTrainJobConfig *cfg, DermTrainEventFunc on_event,
                    gpointer user_data, const volatile gint *cancel, GError **error)
{
  if (!check_config (cfg, error))
    return FALSE;
  Job job = { cfg, on_event, user_data, cancel, g_get_monotonic_time () };
  job.epochs = cfg->epochs;
  job.member = -1;
  job.members = cfg->folds > 1 ? cfg->folds : 1;
  gboolean classify = cfg->task == DERM_TASK_CLASSIFY;
  gboolean ensemble = cfg->folds > 1;
  job.size = cfg->image_size > 0 ? cfg->image_size : classify ? 224 : 256;
  g_autofree char *ckpt_path = g_strdup_printf ("%s.ckpt", cfg->out_path);
  job.ckpt_path = ckpt_path;

  /* Dataset and split */
  DermDatasetFlags flags = (classify ? 0 : DERM_DATASET_REQUIRE_MASKS)
                           | (cfg->lenient ? DERM_DATASET_LENIENT : 0);
  g_autoptr(DermDataset) ds = derm_dataset_load (cfg->data_dir, flags, error);
  if (ds == NULL)
    return FALSE;
  job.ds = ds;
  g_autofree char *sha = derm_dataset_hash (ds);
  job.sha = sha;
  const guint64 split_seed = cfg->split_seed != 0 ? cfg->split_seed : cfg->seed;
  derm_dataset_limit_lesions (ds, cfg->limit, split_seed);
  DermSplitConfig split_cfg = { split_seed, cfg->val_fraction, cfg->test_fraction };
  g_autofree guint8 *assignment = derm_split_assign (ds, &split_cfg, error);
  if (assignment == NULL)
    return FALSE;
  guint n = ds->samples->len;
  g_autoptr(GArray) all_train_idx = derm_split_indices (assignment, n, DERM_SPLIT_TRAIN);
  g_autoptr(GArray) train_idx = derm_split_subsample_lesions (ds, all_train_idx, cfg->train_fraction,
                                                              split_seed);
  g_autoptr(GArray) val_idx = derm_split_indices (assignment, n, DERM_SPLIT_VAL);
  g_autoptr(GArray) test_idx = derm_split_indices (assignment, n, DERM_SPLIT_TEST);
  g_autofree char *split_json = derm_split_to_json (&split_cfg, cfg->limit, sha, assignment, n);
  job.split_json = split_json;
  {
    g_autofree char *report = derm_dataset_report (ds, 20);
    DermTrainEvent e = { .type = DERM_TRAIN_EVENT_DATASET, .n_train = train_idx->len,
                         .n_val = val_idx->len, .n_test = test_idx->len, .message = report,
                         .val_metric = NAN };
    emit (&job, &e);
  }
  if (train_idx->len < all_train_idx->len)
    emit_message (&job, _("Training on %u of the %u training images (about %.0f %% of their "
                          "lesions, class by class)"), train_idx->len, all_train_idx->len,
                  100 * cfg->train_fraction);
  if (train_idx->len < (guint) cfg->batch)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Only %u training images for batches of %d; use more data or a smaller "
                     "--batch"), train_idx->len, cfg->batch);
      return FALSE;
    }
  {
    GArray *parts[3] = { train_idx, val_idx, test_idx };
    for (int p = 0; p < 3; p++)
      for (guint i = 0; i < parts[p]->len; i++)
        job.split_counts[p][((DermSample *) ds->samples->pdata[g_array_index (parts[p], guint, i)])->label]++;
  }

  /* The cache: training images first, then validation. */
  guint n_cache = train_idx->len + val_idx->len;
  job.n_cache = n_cache;
  g_autofree guint *cache_idx = g_new (guint, MAX (n_cache, 1));
  memcpy (cache_idx, train_idx->data, train_idx->len * sizeof (guint));
  memcpy (cache_idx + train_idx->len, val_idx->data, val_idx->len * sizeof (guint));
  DermCacheConfig cc = { job.size, !classify, cfg->shades_of_gray, cfg->workers };
  gint64 tc = g_get_monotonic_time ();
  job.cache = derm_cache_new (ds, cache_idx, n_cache, &cc, cache_progress, &job, cancel, error);
  if (job.cache == NULL)
    return FALSE;
  emit_message (&job, _("decoded %u images at %d x %d in %.1f s"), n_cache, job.size, job.size,
                (g_get_monotonic_time () - tc) / 1e6);
  if (classify && cfg->context != 0)
    job.patients = job_patients (&job, cfg->context);
  g_autofree guint *train_entries = g_new (guint, MAX (train_idx->len, 1));
  for (guint i = 0; i < train_idx->len; i++)
    train_entries[i] = i;
  g_autofree guint *val_entries = g_new (guint, MAX (val_idx->len, 1));
  for (guint i = 0; i < val_idx->len; i++)
    val_entries[i] = train_idx->len + i;

  Network single = { train_entries, train_idx->len, val_entries, val_idx->len, cfg->out_path,
                     ckpt_path, cfg->resume, -1, cfg->seed };
  gboolean ok = ensemble ? train_ensemble (&job, train_entries, train_idx->len, error)
                         : train_network (&job, &single, error);
  g_clear_pointer (&job.dcache, derm_device_cache_free);
  g_clear_pointer (&job.cache, derm_cache_free);
  g_clear_pointer (&job.patients, g_free);
  g_clear_pointer (&job.epoch_order, g_free);
  g_clear_pointer (&job.batch_patients, g_free);
  derm_engine_empty_cache ();
  g_autofree char *device = g_steal_pointer (&job.device);
  g_autofree char *card_facts = g_steal_pointer (&job.card_facts);
  if (!ok)
    return FALSE;
  job.device = device;

  /* The best epoch (or the assembled ensemble), through the inference path:
   * temperature on validation, metrics on test. */
  DermModel *model = derm_model_load (cfg->out_path, device, error);
  if (model == NULL)
    return FALSE;
  g_autofree char *tj = ensemble ? ensemble_training_json (&job)
                                 : training_json (cfg, job.size, device, single.best_epoch,
                                                  single.epochs_run, single.best, single.best_ema);
  derm_model_set_metadata (model, "training", tj);
  const int eval_batch = 64;
  /* The decision rule, fitted on validation with the calibrated
   * probabilities; a model without validation keeps the arg-max. */
  DermDecision decision;
  gboolean has_decision = FALSE;
  derm_model_set_metadata (model, "decision", NULL);
  if (classify && val_idx->len > 0)
    {
      g_autofree float *logits = derm_evaluate_logits (model, ds, (guint *) val_idx->data,
                                                       val_idx->len, FALSE, eval_batch, NULL,
                                                       NULL, cancel, error);
      if (logits == NULL)
        goto fail;
      g_autofree int *labels = g_new (int, val_idx->len);
      for (guint i = 0; i < val_idx->len; i++)
        labels[i] = ((DermSample *) ds->samples->pdata[g_array_index (val_idx, guint, i)])->label;
      double t = derm_fit_temperature (logits, labels, val_idx->len, DERM_N_CLASSES);
      derm_model_set_temperature (model, t);
      g_autofree float *probs = g_new (float, (gsize) val_idx->len * DERM_N_CLASSES);
      derm_softmax (logits, val_idx->len, DERM_N_CLASSES, t, probs);
      DermTrainEvent e = { .type = DERM_TRAIN_EVENT_CALIBRATED, .temperature = t,
                           .val_metric = NAN };
      emit (&job, &e);

      derm_decision_fit (probs, labels, val_idx->len, DERM_DECISION_TARGET_SENSITIVITY,
                         &decision);
      has_decision = TRUE;
      g_autofree char *vj = decided_metrics_json (probs, labels, val_idx->len, &decision, NULL);
      derm_model_set_metadata (model, "val_metrics", vj);
      report_decision (&job, &decision);
    }
  if (test_idx->len > 0)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "split");
      json_builder_add_string_value (b, "test");
      json_builder_set_member_name (b, "tta");
      json_builder_add_boolean_value (b, cfg->tta);
      if (classify)
        {
          DermClassMetrics tm;
          g_autofree float *probs = NULL;
          if (!derm_evaluate_classifier (model, ds, (guint *) test_idx->data, test_idx->len,
                                         cfg->tta, eval_batch, eval_progress, &job, cancel,
                                         &tm, &probs, error))
            goto fail;
          if (has_decision)
            {
              g_autofree int *labels = g_new (int, test_idx->len);
              for (guint i = 0; i < test_idx->len; i++)
                labels[i] = ((DermSample *) ds->samples->pdata[g_array_index (test_idx, guint,
                                                                              i)])->label;
              derm_decision_set_test (&decision, probs, labels, test_idx->len);
              derm_evaluate_add_decided_metrics (b, probs, labels, test_idx->len, &decision, &tm);
            }
          else
            derm_class_metrics_add_json (&tm, b);
          derm_evaluate_add_bootstrap_json (b, ds, (guint *) test_idx->data, test_idx->len, probs,
                                            has_decision ? decision.class_offsets : NULL,
                                            has_decision ? decision.risk_threshold : NAN, NULL);
          if (ensemble && !add_member_test_json (&job, b, (guint *) test_idx->data,
                                                 test_idx->len, error))
            goto fail;
        }
      else
        {
          DermSegMetrics sm;
          if (!derm_evaluate_segmenter (model, ds, (guint *) test_idx->data, test_idx->len,
                                        cfg->tta, eval_batch / 4, eval_progress, &job, cancel,
                                        &sm, NULL, error))
            goto fail;
          derm_seg_metrics_add_json (&sm, b);
        }
      json_builder_end_object (b);
      g_autoptr(JsonNode) root = json_builder_get_root (b);
      g_autofree char *mj = json_to_string (root, FALSE);
      derm_model_set_metadata (model, "metrics", mj);
      DermTrainEvent e = { .type = DERM_TRAIN_EVENT_TEST, .json = mj, .val_metric = NAN };
      emit (&job, &e);
    }
  if (has_decision)
    {
      g_autofree char *dj = derm_decision_to_json (&decision);
      derm_model_set_metadata (model, "decision", dj);
    }
  if (!derm_model_save (model, cfg->out_path, error))
    goto fail;
  derm_model_free (model);
  g_unlink (ckpt_path);
  for (int k = 0; ensemble && k < cfg->folds; k++)
    {
      g_autofree char *path = member_path (cfg->out_path, k);
      g_unlink (path);
    }
  {
    DermTrainEvent e = { .type = DERM_TRAIN_EVENT_DONE, .message = cfg->out_path,
                         .val_metric = NAN };
    emit (&job, &e);
  }
  return TRUE;

fail:
  derm_model_free (model);
  return FALSE;
}
