/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-evaluate.h: a model against (part of) a HAM10000 folder, through the
 * inference path a user's image takes (decode, the engine's preprocessing). */
#pragma once

#include <glib.h>

#include "derm-bootstrap.h"
#include "derm-dataset.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-metrics.h"
#include "derm-split.h"

G_BEGIN_DECLS

/* Called after each batch with images done / total. */
typedef void (*DermEvalProgressFunc) (guint done, guint total, gpointer user_data);

/* Raw logits (no temperature) of the samples @indices (n), n * num_classes
 * floats. @cancel may be NULL. Returns: (transfer full) g_free() it, or NULL
 * with @error. */
float   *derm_evaluate_logits (DermModel *model, const DermDataset *dataset,
                               const guint *indices, guint n, gboolean tta, int batch,
                               DermEvalProgressFunc progress, gpointer progress_data,
                               const volatile gint *cancel, GError **error);

/* Metrics of a classifier with its temperature. @probs_out (may be NULL)
 * receives the calibrated probabilities, n * DERM_N_CLASSES, image-major:
 * (transfer full) g_free() them. */
gboolean derm_evaluate_classifier (DermModel *model, const DermDataset *dataset,
                                   const guint *indices, guint n, gboolean tta, int batch,
                                   DermEvalProgressFunc progress, gpointer progress_data,
                                   const volatile gint *cancel, DermClassMetrics *metrics,
                                   float **probs_out, GError **error);

/* The decision rule of @model's "decision" metadata (derm-decision.h), for a
 * classifier of the seven diagnoses trained with a validation split. Returns
 * TRUE with @decision filled; FALSE without @error when the model has none
 * (the arg-max, no operating point: models from before the rule); FALSE
 * with @error when it is unreadable. */
gboolean derm_evaluate_get_decision (DermModel *model, DermDecision *decision, GError **error);

/* Members of the metrics object for a classifier with a decision rule: the
 * metrics with the rule's class offsets, "decision_rule", the arg-max's
 * metrics (from @argmax, or computed when NULL) and the "operating_point"
 * measured on these images (@probs n * DERM_N_CLASSES, @labels n). */
void     derm_evaluate_add_decided_metrics (JsonBuilder *builder, const float *probs,
                                            const int *labels, int n, const DermDecision *decision,
                                            const DermClassMetrics *argmax);

/* The lesion of each of the samples @indices, as numbers in 0..n-1 (images
 * of one lesion share one), for derm_class_bootstrap ().
 * Returns: (transfer full) n ints. */
int     *derm_evaluate_lesion_groups (const DermDataset *dataset, const guint *indices, guint n);

/* Member "ci95" (derm_class_bootstrap_add_json ()) of the object being
 * built: lesion-bootstrap intervals of the metrics of @probs (n *
 * DERM_N_CLASSES, of the samples @indices) decided with @offsets (NULL:
 * arg-max), the operating point at @risk_threshold (NAN: none), seed 1,
 * DERM_BOOTSTRAP_RESAMPLES resamples. @out (may be NULL) receives them. */
void     derm_evaluate_add_bootstrap_json (JsonBuilder *builder, const DermDataset *dataset,
                                           const guint *indices, guint n, const float *probs,
                                           const double *offsets, double risk_threshold,
                                           DermClassBootstrap *out);

/* Writes @probs (n * DERM_N_CLASSES, of the samples @indices) as CSV:
 * image_id, lesion_id, dx, then one probability column per class code;
 * atomically. For bootstraps over lesions and comparisons of two runs. */
gboolean derm_evaluate_write_predictions (const char *path, const DermDataset *dataset,
                                          const guint *indices, guint n, const float *probs,
                                          GError **error);

/* Metrics of a segmenter: masks compared at the image's size (the truth is
 * resized nearest-neighbour; prediction thresholded at 128). With @masks_dir
 * (may be NULL), each predicted lesion-probability mask (0..255, before the
 * threshold) is also written there as <image_id>.png. */
gboolean derm_evaluate_segmenter (DermModel *model, const DermDataset *dataset,
                                  const guint *indices, guint n, gboolean tta, int batch,
                                  DermEvalProgressFunc progress, gpointer progress_data,
                                  const volatile gint *cancel, DermSegMetrics *metrics,
                                  const char *masks_dir, GError **error);

/* The samples of @part as the model's "split" metadata defines them on
 * @dataset: checks the dataset hash, applies the recorded --limit (in place)
 * and the seeded split. @part NULL means every sample ("all").
 * Returns: (transfer full) a GArray of guint, or NULL with @error. */
GArray  *derm_evaluate_select (DermModel *model, DermDataset *dataset, const char *part,
                               GError **error);

G_END_DECLS
