/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-evaluate.c: evaluation through the inference path. */
#include "config.h"

#define G_LOG_DOMAIN "derm-evaluate"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "derm-error.h"
#include "derm-evaluate.h"

static void
free_images (DermImage **images, int n)
{
  for (int i = 0; i < n; i++)
    derm_image_free (images[i]);
}

/* Loads the images of indices[start .. start+n) at the model's input size
 * (DCT-scaled where the file is far larger). */
static gboolean
load_batch (DermModel *model, const DermDataset *ds, const guint *indices, guint start, int n,
            DermImage **images, GError **error)
{
  int size = derm_model_get_input_size (model);
  for (int i = 0; i < n; i++)
    {
      const DermSample *s = ds->samples->pdata[indices[start + i]];
      images[i] = derm_image_load (s->image_path, 3, size, size, error);
      if (images[i] == NULL)
        {
          free_images (images, i);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
cancelled (const volatile gint *cancel, GError **error)
{
  if (cancel != NULL && g_atomic_int_get (cancel))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Evaluation was cancelled"));
      return TRUE;
    }
  return FALSE;
}

float *
derm_evaluate_logits (DermModel *model, const DermDataset *ds, const guint *indices, guint n,
                      gboolean tta, int batch, DermEvalProgressFunc progress,
                      gpointer progress_data, const volatile gint *cancel, GError **error)
{
  int k = derm_model_get_num_classes (model);
  batch = MAX (batch, 1);
  float *logits = g_new (float, (gsize) MAX (n, 1) * k);
  DermImage **images = g_new0 (DermImage *, batch);
  /* A model with patient context gets each image's from the metadata. */
  gboolean context = derm_model_get_context (model) != 0;
  g_autofree DermPatientContext *patients = context ? g_new (DermPatientContext, batch) : NULL;
  for (guint start = 0; start < n; start += batch)
    {
      int m = MIN ((guint) batch, n - start);
      if (cancelled (cancel, error) || !load_batch (model, ds, indices, start, m, images, error))
        goto fail;
      for (int i = 0; context && i < m; i++)
        derm_sample_patient_context (ds->samples->pdata[indices[start + i]], &patients[i]);
      if (context)
        derm_model_set_patients (model, patients, m);
      gboolean ok = derm_model_logits_batch (model, (const DermImage *const *) images, m, tta,
                                             logits + (gsize) start * k, error);
      free_images (images, m);
      if (!ok)
        goto fail;
      if (progress != NULL)
        progress (start + m, n, progress_data);
    }
  g_free (images);
  derm_model_set_patients (model, NULL, 0);
  return logits;

fail:
  g_free (images);
  g_free (logits);
  derm_model_set_patients (model, NULL, 0);
  return NULL;
}

gboolean
derm_evaluate_classifier (DermModel *model, const DermDataset *ds, const guint *indices,
                          guint n, gboolean tta, int batch, DermEvalProgressFunc progress,
                          gpointer progress_data, const volatile gint *cancel,
                          DermClassMetrics *metrics, float **probs_out, GError **error)
{
  int k = derm_model_get_num_classes (model);
  if (k != DERM_N_CLASSES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                   _("The model has %d classes, not the %d HAM10000 diagnoses"), k, DERM_N_CLASSES);
      return FALSE;
    }
  g_autofree float *logits = derm_evaluate_logits (model, ds, indices, n, tta, batch, progress,
                                                   progress_data, cancel, error);
  if (logits == NULL)
    return FALSE;
  g_autofree float *probs = g_new (float, (gsize) MAX (n, 1) * k);
  derm_softmax (logits, n, k, derm_model_get_temperature (model), probs);
  g_autofree int *labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    labels[i] = ((DermSample *) ds->samples->pdata[indices[i]])->label;
  derm_class_metrics_compute (probs, labels, n, k, metrics);
  if (probs_out != NULL)
    *probs_out = g_steal_pointer (&probs);
  return TRUE;
}

gboolean
derm_evaluate_get_decision (DermModel *model, DermDecision *decision, GError **error)
{
  const char *json = derm_model_get_metadata (model, "decision");
  if (json == NULL || derm_model_get_num_classes (model) != DERM_N_CLASSES)
    return FALSE;
  return derm_decision_from_json (json, decision, error);
}

/* Members of the metrics object for a classifier with a decision rule: the
 * metrics with the rule's class offsets, "decision_rule", the arg-max's
 * metrics (from @argmax, or computed when NULL) and the "operating_point"
 * measured on these images. */
void
derm_evaluate_add_decided_metrics (JsonBuilder *b, const float *probs, const int *labels, int n,
                                   const DermDecision *d, const DermClassMetrics *argmax)
{
  DermClassMetrics ruled, plain;
  derm_class_metrics_compute_with_offsets (probs, labels, n, DERM_N_CLASSES, d->class_offsets,
                                           &ruled);
  if (argmax == NULL)
    {
      derm_class_metrics_compute (probs, labels, n, DERM_N_CLASSES, &plain);
      argmax = &plain;
    }
  derm_class_metrics_add_json (&ruled, b);
  json_builder_set_member_name (b, "decision_rule");
  json_builder_add_string_value (b, "class_offsets");
  derm_decision_add_argmax_json (argmax, b);
  json_builder_set_member_name (b, "operating_point");
  json_builder_begin_object (b);
  derm_decision_add_operating_point_json (d, probs, labels, n, b);
  json_builder_end_object (b);
}

int *
derm_evaluate_lesion_groups (const DermDataset *ds, const guint *indices, guint n)
{
  int *groups = g_new (int, MAX (n, 1));
  g_autoptr(GHashTable) first = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    {
      const DermSample *s = ds->samples->pdata[indices[i]];
      gpointer at;
      if (g_hash_table_lookup_extended (first, s->lesion_id, NULL, &at))
        groups[i] = GPOINTER_TO_INT (at);
      else
        {
          groups[i] = (int) i;
          g_hash_table_insert (first, s->lesion_id, GINT_TO_POINTER ((int) i));
        }
    }
  return groups;
}

void
derm_evaluate_add_bootstrap_json (JsonBuilder *b, const DermDataset *ds, const guint *indices,
                                  guint n, const float *probs, const double *offsets,
                                  double risk_threshold, DermClassBootstrap *out)
{
  g_autofree int *groups = derm_evaluate_lesion_groups (ds, indices, n);
  g_autofree int *labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    labels[i] = ((const DermSample *) ds->samples->pdata[indices[i]])->label;
  DermClassBootstrap bs;
  derm_class_bootstrap (probs, labels, groups, (int) n, DERM_N_CLASSES, offsets, risk_threshold,
                        DERM_BOOTSTRAP_RESAMPLES, 1, &bs);
  derm_class_bootstrap_add_json (&bs, b);
  if (out != NULL)
    *out = bs;
}

gboolean
derm_evaluate_write_predictions (const char *path, const DermDataset *ds, const guint *indices,
                                 guint n, const float *probs, GError **error)
{
  g_autoptr(GString) csv = g_string_new ("image_id,lesion_id,dx");
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_string_append_printf (csv, ",%s", derm_class_code (c));
  g_string_append_c (csv, '\n');
  for (guint i = 0; i < n; i++)
    {
      const DermSample *s = ds->samples->pdata[indices[i]];
      g_autofree char *dx = g_ascii_strdown (derm_class_code (s->label), -1);
      g_string_append_printf (csv, "%s,%s,%s", s->image_id, s->lesion_id, dx);
      for (int c = 0; c < DERM_N_CLASSES; c++)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          g_string_append_c (csv, ',');
          g_string_append (csv, g_ascii_formatd (buf, sizeof buf, "%.6f", probs[(gsize) i * DERM_N_CLASSES + c]));
        }
      g_string_append_c (csv, '\n');
    }
  return g_file_set_contents (path, csv->str, (gssize) csv->len, error);
}

gboolean
derm_evaluate_segmenter (DermModel *model, const DermDataset *ds, const guint *indices,
                         guint n, gboolean tta, int batch, DermEvalProgressFunc progress,
                         gpointer progress_data, const volatile gint *cancel,
                         DermSegMetrics *metrics, const char *masks_dir, GError **error)
{
  derm_seg_metrics_init (metrics);
  batch = MAX (batch, 1);
  g_autofree DermImage **images = g_new0 (DermImage *, batch);
  for (guint start = 0; start < n; start += batch)
    {
      int m = MIN ((guint) batch, n - start);
      if (cancelled (cancel, error) || !load_batch (model, ds, indices, start, m, images, error))
        return FALSE;
      DermImage **pred = derm_model_segment_batch (model, (const DermImage *const *) images, m,
                                                   tta, error);
      gboolean ok = pred != NULL;
      for (int i = 0; ok && i < m; i++)
        {
          const DermSample *s = ds->samples->pdata[indices[start + i]];
          if (s->mask_path == NULL)
            {
              g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                           _("%s has no mask to compare with"), s->image_id);
              ok = FALSE;
              break;
            }
          g_autoptr(DermImage) truth = derm_image_load (s->mask_path, 1, 0, 0, error);
          g_autoptr(DermImage) sized = truth ? derm_image_resize_nearest (truth, images[i]->width,
                                                                          images[i]->height, error)
                                             : NULL;
          if (sized == NULL)
            {
              ok = FALSE;
              break;
            }
          if (masks_dir != NULL)
            {
              g_autofree char *name = g_strdup_printf ("%s.png", s->image_id);
              g_autofree char *out = g_build_filename (masks_dir, name, NULL);
              if (!derm_image_save_png (pred[i], out, error))
                {
                  ok = FALSE;
                  break;
                }
            }
          gsize px = (gsize) sized->width * sized->height;
          for (gsize p = 0; p < px; p++)
            pred[i]->data[p] = pred[i]->data[p] >= 128;
          derm_seg_metrics_add (metrics, pred[i]->data, sized->data, px);
        }
      if (pred != NULL)
        {
          free_images (pred, m);
          g_free (pred);
        }
      free_images (images, m);
      if (!ok)
        return FALSE;
      if (progress != NULL)
        progress (start + m, n, progress_data);
    }
  return TRUE;
}

GArray *
derm_evaluate_select (DermModel *model, DermDataset *ds, const char *part, GError **error)
{
  if (part == NULL || strcmp (part, "all") == 0)
    {
      GArray *all = g_array_new (FALSE, FALSE, sizeof (guint));
      for (guint i = 0; i < ds->samples->len; i++)
        g_array_append_val (all, i);
      return all;
    }
  DermSplitPart which;
  if (!derm_split_part_from_name (part, &which))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Unknown split \"%s\"; use test, val, train or all"), part);
      return NULL;
    }
  const char *json = derm_model_get_metadata (model, "split");
  if (json == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("The model records no data split; evaluate it with --split all"));
      return NULL;
    }
  DermSplitConfig cfg;
  guint limit = 0;
  g_autofree char *sha = NULL;
  if (!derm_split_from_json (json, &cfg, &limit, &sha, error))
    return NULL;
  g_autofree char *have = derm_dataset_hash (ds);
  if (sha != NULL && sha[0] != '\0' && strcmp (sha, have) != 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                   _("This folder is not the dataset the model was trained on (its content "
                     "differs), so its %s split cannot be rebuilt; use --split all for an "
                     "external test set"), part);
      return NULL;
    }
  derm_dataset_limit_lesions (ds, limit, cfg.seed);
  g_autofree guint8 *assignment = derm_split_assign (ds, &cfg, error);
  if (assignment == NULL)
    return NULL;
  return derm_split_indices (assignment, ds->samples->len, which);
}
