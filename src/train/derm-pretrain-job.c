/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-pretrain-job.c: SimSiam pretraining of a classifier's backbone on a
 * HAM10000 training split and unlabelled images. */
#include "config.h"

#define G_LOG_DOMAIN "derm-pretrain-job"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "derm-augment.h"
#include "derm-dataset.h"
#include "derm-metrics.h"
#include "derm-pretrain-job.h"
#include "derm-split.h"

void
derm_pretrain_job_config_init (DermPretrainJobConfig *c)
{
  memset (c, 0, sizeof *c);
  c->arch = DERM_ARCH_RESNET50;
  c->epochs = 100;
  c->batch = 64;
  c->weight_decay = 1e-4;
  c->seed = 1;
  c->val_fraction = 0.15;
  c->test_fraction = 0.15;
  c->checkpoint_every = 60;
  c->extra_source = "";
}

typedef struct {
  const DermPretrainJobConfig *cfg;
  DermTrainEventFunc on_event;
  gpointer user_data;
  gint64 t0;
  int epochs;
  int steps;
} Job;

static void
emit (Job *job, DermTrainEvent *e)
{
  e->elapsed_seconds = (g_get_monotonic_time () - job->t0) / 1e6;
  if (e->epochs == 0)
    e->epochs = job->epochs;
  e->member = -1;
  e->members = 1;
  if (job->on_event != NULL)
    job->on_event (e, job->user_data);
}

static void emit_message (Job *job, const char *format, ...) G_GNUC_PRINTF (2, 3);

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
      e.eta_seconds = left * job->cfg->batch / p->images_per_second;
    }
  emit (job, &e);
}

static void
cache_progress (guint done, guint total, gpointer data)
{
  Job *job = data;
  if (done != total && done % MAX (total / 100, 1) != 0)
    return;
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_CACHE, .done = done, .total = total,
                       .val_metric = NAN };
  emit (job, &e);
}

/* Unlabelled images as samples of @ds (label NV, a lesion of their own), so
 * the cache decodes them with the rest. Returns how many were added. */
static guint
add_extra_images (DermDataset *ds, const char *const *paths)
{
  guint added = 0;
  for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
    {
      DermSample *s = g_new0 (DermSample, 1);
      s->lesion_id = g_strdup_printf ("unlabelled-%u", i);
      s->image_id = g_strdup_printf ("unlabelled-%u", i);
      s->label = DERM_CLASS_NV;
      s->dx_type = g_strdup ("");
      s->age = NAN;
      s->sex = g_strdup ("");
      s->localization = g_strdup ("");
      s->image_path = g_strdup (paths[i]);
      g_ptr_array_add (ds->samples, s);
      added++;
    }
  return added;
}

/* Strong augmentation, as contrastive and self-distillation methods need:
 * crops of 20 to 100 % of the area, every flip and quarter turn, a free
 * rotation and a strong colour jitter. */
static void
pretrain_augment (DermAugmentConfig *a)
{
  derm_augment_config_default (a);
  a->flips = TRUE;
  a->rot90 = TRUE;
  a->rotate_degrees = 30;
  a->scale_min = 0.2;
  a->scale_max = 1.0;
  a->aspect_min = 3.0 / 4.0;
  a->aspect_max = 4.0 / 3.0;
  a->brightness = 0.4;
  a->contrast = 0.4;
  a->saturation = 0.4;
}

static char *
pretrained_json (const DermPretrainJobConfig *cfg, int size, double lr, int dim, guint n_ham,
                 guint n_extra, int epochs_run, double loss, double spread)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, "simsiam");
  derm_json_add_int (b, "epochs", epochs_run);
  derm_json_add_int (b, "batch", cfg->batch);
  derm_json_add_int (b, "image_size", size);
  derm_json_add_number (b, "lr", lr);
  derm_json_add_number (b, "weight_decay", cfg->weight_decay);
  derm_json_add_int (b, "dim", dim);
  derm_json_add_int (b, "ham10000_training_images", n_ham);
  derm_json_add_int (b, "unlabelled_images", n_extra);
  json_builder_set_member_name (b, "unlabelled_source");
  json_builder_add_string_value (b, n_extra > 0 && cfg->extra_source != NULL ? cfg->extra_source : "");
  derm_json_add_number (b, "final_loss", loss);
  derm_json_add_number (b, "projection_spread", spread);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

gboolean
derm_pretrain_job_run (const DermPretrainJobConfig *cfg, DermTrainEventFunc on_event,
                       gpointer user_data, const volatile gint *cancel, GError **error)
{
  Job job = { cfg, on_event, user_data, g_get_monotonic_time (), cfg->epochs, 0 };
  if (derm_arch_task (cfg->arch) != DERM_TASK_CLASSIFY)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Pretraining is for a classifier's ResNet, not a U-Net"));
      return FALSE;
    }
  if (cfg->epochs < 1 || cfg->batch < 2 || cfg->image_size < 0 || !(cfg->weight_decay >= 0)
      || !(cfg->lr >= 0) || !(cfg->checkpoint_every >= 0))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Pretraining needs at least one epoch, batches of two or more images and "
                     "no negative rate, decay, size or checkpoint interval"));
      return FALSE;
    }
  const int size = cfg->image_size > 0 ? cfg->image_size : 224;
  g_autofree char *ckpt_path = g_strdup_printf ("%s.ckpt", cfg->out_path);

  /* The split the classifier will be trained on: its training images only. */
  g_autoptr(DermDataset) ds = derm_dataset_load (cfg->data_dir, DERM_DATASET_LENIENT, error);
  if (ds == NULL)
    return FALSE;
  g_autofree char *sha = derm_dataset_hash (ds);
  derm_dataset_limit_lesions (ds, cfg->limit, cfg->seed);
  DermSplitConfig split_cfg = { cfg->seed, cfg->val_fraction, cfg->test_fraction };
  g_autofree guint8 *assignment = derm_split_assign (ds, &split_cfg, error);
  if (assignment == NULL)
    return FALSE;
  guint n_ds = ds->samples->len;
  g_autoptr(GArray) train_idx = derm_split_indices (assignment, n_ds, DERM_SPLIT_TRAIN);
  g_autofree char *split_json = derm_split_to_json (&split_cfg, cfg->limit, sha, assignment, n_ds);
  guint n_extra = add_extra_images (ds, cfg->extra_images);
  for (guint i = 0; i < n_extra; i++)
    {
      guint k = n_ds + i;
      g_array_append_val (train_idx, k);
    }
  guint n = train_idx->len;
  {
    g_autofree char *report = derm_dataset_report (ds, 20);
    DermTrainEvent e = { .type = DERM_TRAIN_EVENT_DATASET, .n_train = n, .message = report,
                         .val_metric = NAN };
    emit (&job, &e);
  }
  if (n_extra > 0)
    emit_message (&job, g_dngettext (GETTEXT_PACKAGE, "%u unlabelled image of %s",
                                     "%u unlabelled images of %s", n_extra),
                  n_extra, cfg->extra_source);
  emit_message (&job, _("Pretraining on %u images: the %u of the training split (seed %llu) "
                        "and %u unlabelled; no validation or test image"),
                n, n - n_extra, (unsigned long long) cfg->seed, n_extra);
  if (n < (guint) cfg->batch)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Only %u images for batches of %d; use more data or a smaller --batch"), n,
                   cfg->batch);
      return FALSE;
    }

  DermCacheConfig cc = { size, FALSE, FALSE, cfg->workers };
  gint64 tc = g_get_monotonic_time ();
  g_autoptr(DermCache) cache = derm_cache_new (ds, (guint *) train_idx->data, n, &cc, cache_progress,
                                               &job, cancel, error);
  if (cache == NULL)
    return FALSE;
  emit_message (&job, _("decoded %u images at %d x %d in %.1f s"), n, size, size,
                (g_get_monotonic_time () - tc) / 1e6);

  DermModelConfig mc = { cfg->arch, DERM_N_CLASSES, 0, size, 1, 0 };
  g_autoptr(DermModel) model = derm_model_new (&mc, cfg->device, error);
  if (model == NULL)
    return FALSE;
  emit_message (&job, _("%s, %.1f M parameters, on %s"), derm_arch_name (cfg->arch),
                derm_model_count_parameters (model) / 1e6, derm_model_get_device (model));
  g_autoptr(DermDeviceCache) dcache = derm_device_cache_new (model, derm_cache_image (cache, 0),
                                                             derm_cache_labels (cache), NULL, n,
                                                             size, error);
  if (dcache == NULL)
    return FALSE;

  job.steps = derm_batches_per_epoch (n, cfg->batch, TRUE);
  const double lr = cfg->lr > 0 ? cfg->lr : 0.05 * cfg->batch / 256.0;
  const int dim = cfg->dim;
  DermPretrainConfig pc = { 0 };
  pc.lr = lr;
  pc.weight_decay = cfg->weight_decay;
  pc.total_steps = cfg->epochs * job.steps;
  pc.warmup_steps = MIN (job.steps, pc.total_steps / 10 + 1);
  pc.seed = cfg->seed;
  pc.mixed_precision = TRUE;
  pc.dim = dim;
  g_autoptr(DermPretrainer) pretrainer = derm_pretrainer_new (model, &pc, error);
  if (pretrainer == NULL)
    return FALSE;
  derm_model_set_metadata (model, "split", split_json);
  derm_model_set_metadata (model, "dataset_sha256", sha);

  int start_epoch = 0;
  if (cfg->resume != NULL)
    {
      if (!derm_pretrainer_load_checkpoint (pretrainer, cfg->resume, error))
        return FALSE;
      if (g_strcmp0 (derm_model_get_metadata (model, "split"), split_json) != 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                       _("%s pretrained on another split (seed, fractions, --limit or data "
                         "differ); resume with the options it was started with"), cfg->resume);
          return FALSE;
        }
      start_epoch = derm_pretrainer_get_epoch (pretrainer);
      emit_message (&job, _("resumed from %s after epoch %d"), cfg->resume, start_epoch);
    }

  DermAugmentConfig augment;
  pretrain_augment (&augment);
  g_autofree guint *entries = g_new (guint, n);
  for (guint i = 0; i < n; i++)
    entries[i] = i;
  g_autofree guint *order = g_new (guint, n);
  gint64 last_ckpt = g_get_monotonic_time ();
  double loss = NAN, spread = NAN;
  gboolean ok = TRUE;
  int epoch;
  for (epoch = start_epoch; ok && epoch < cfg->epochs; epoch++)
    {
      derm_epoch_order (cache, entries, n, DERM_SAMPLING_SHUFFLE, cfg->seed, epoch, order);
      ok = derm_pretrainer_run_epoch (pretrainer, epoch, dcache, order, n, cfg->batch, cfg->seed,
                                      &augment, step_progress, &job, cancel, &loss, &spread, error);
      if (!ok)
        break;
      DermTrainEvent e = { .type = DERM_TRAIN_EVENT_EPOCH, .epoch = epoch, .loss = loss,
                           .val_metric = spread, .val_metric_name = "projection_spread" };
      emit (&job, &e);
      gboolean due = epoch == start_epoch || cfg->checkpoint_every <= 0
                     || (g_get_monotonic_time () - last_ckpt) / 1e6 >= cfg->checkpoint_every;
      if (epoch + 1 < cfg->epochs && due)
        {
          ok = derm_pretrainer_save_checkpoint (pretrainer, ckpt_path, error);
          if (!ok)
            break;
          last_ckpt = g_get_monotonic_time ();
          DermTrainEvent ce = { .type = DERM_TRAIN_EVENT_CHECKPOINT, .epoch = epoch,
                                .message = ckpt_path, .val_metric = NAN };
          emit (&job, &ce);
        }
    }
  if (!ok)
    {
      if (error != NULL && *error != NULL && g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autoptr(GError) local = NULL;
          if (derm_pretrainer_save_checkpoint (pretrainer, ckpt_path, &local))
            {
              g_clear_error (error);
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                           _("Pretraining stopped in epoch %d; continue it with --resume %s"),
                           epoch + 1, ckpt_path);
            }
          else
            g_prefix_error (error, _("Stopped, but the checkpoint could not be written (%s): "),
                            local->message);
        }
      return FALSE;
    }
  if (isfinite (spread) && spread < 0.1 / sqrt (dim > 0 ? dim : (cfg->arch == DERM_ARCH_RESNET50 ? 2048 : 512)))
    emit_message (&job, _("The projections' spread is %.4f: the representation may have "
                          "collapsed; this start is unlikely to help"), spread);

  /* A classifier with the pretrained backbone and a fresh head. */
  g_autofree char *pj = pretrained_json (cfg, size, lr, dim, n - n_extra, n_extra, epoch, loss, spread);
  derm_model_set_metadata (model, "pretrained", pj);
  if (!derm_model_save (model, cfg->out_path, error))
    return FALSE;
  g_unlink (ckpt_path);
  DermTrainEvent de = { .type = DERM_TRAIN_EVENT_DONE, .message = cfg->out_path, .val_metric = NAN };
  emit (&job, &de);
  return TRUE;
}
