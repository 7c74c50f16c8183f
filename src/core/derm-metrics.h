/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-metrics.h: classification and segmentation metrics, and the
 * calibration temperature fit. Pure computation, no model. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"

G_BEGIN_DECLS

#define DERM_ECE_BINS 15
/* ISIC 2018 task 1: an image under this Jaccard index scores 0. */
#define DERM_JACCARD_THRESHOLD 0.65

/* Conventions (those of scikit-learn with zero_division=0):
 * - precision of a class never predicted is 0; recall of a class without
 *   support is undefined (NAN) and it is left out of the balanced accuracy;
 * - F1 is 0 when precision + recall is 0; the macro F1 averages the classes
 *   that have support or predictions;
 * - one-vs-rest ROC AUC is NAN for a class without support or without
 *   negatives; the macro AUC averages the defined ones (NAN if none).
 * NAN values are written as JSON null. */
typedef struct {
  int n;
  int num_classes;              /* <= DERM_N_CLASSES */
  double accuracy;
  double balanced_accuracy;
  double macro_f1;
  double macro_auc;
  double ece;                   /* 15 equal-width confidence bins */
  double nll;                   /* mean negative log-likelihood of the truth */
  double precision[DERM_N_CLASSES];
  double recall[DERM_N_CLASSES];
  double f1[DERM_N_CLASSES];
  double auc[DERM_N_CLASSES];
  int support[DERM_N_CLASSES];
  int predicted[DERM_N_CLASSES];
  int confusion[DERM_N_CLASSES][DERM_N_CLASSES]; /* [true][predicted] */
} DermClassMetrics;

/* @probs: n * num_classes probabilities (image-major); @labels: n values in
 * 0..num_classes-1. The prediction is the arg-max (first on ties). */
void   derm_class_metrics_compute (const float *probs, const int *labels, int n,
                                   int num_classes, DermClassMetrics *metrics);
/* The same with the prediction argmax_c (log p_c + offsets[c]) (a decision
 * rule, derm-decision.h); @offsets NULL is the arg-max. Only the decisions
 * change: the ECE stays that of the probabilities' top class, the NLL and
 * AUCs do not depend on decisions. */
void   derm_class_metrics_compute_with_offsets (const float *probs, const int *labels, int n,
                                                int num_classes, const double *offsets,
                                                DermClassMetrics *metrics);

/* Writes the metrics as members of the object being built: n, accuracy,
 * balanced_accuracy, macro_f1, macro_auc, ece, nll, per_class (by code:
 * precision, recall, f1, support, auc) and confusion (rows true, columns
 * predicted, class order). */
/* JSON members shared by every writer of metrics and events: a number that
 * is not finite (an undefined recall, AUC ...) is written as null. */
void derm_json_add_number (JsonBuilder *b, const char *name, double v);
void derm_json_add_int (JsonBuilder *b, const char *name, gint64 v);

void   derm_class_metrics_add_json (const DermClassMetrics *metrics, JsonBuilder *builder);

/* Area under the ROC curve of @scores for the positives @positive (ties get
 * half credit). NAN without positives or without negatives. */
double derm_roc_auc (const float *scores, const gboolean *positive, int n);

/* Softmax of @logits / @temperature into @probs (n * k each). */
void   derm_softmax (const float *logits, int n, int k, double temperature, float *probs);
/* Mean negative log-likelihood of @labels under softmax(@logits / T). */
double derm_nll_at_temperature (const float *logits, const int *labels, int n, int k,
                                double temperature);
/* The temperature in [0.05, 20] minimising the NLL (golden-section search on
 * log T; the NLL is unimodal there). 1.0 when n == 0. */
double derm_fit_temperature (const float *logits, const int *labels, int n, int k);

/* Segmentation: per-image indices from binary masks (nonzero = lesion). Two
 * empty masks agree perfectly (1). */
void   derm_mask_overlap (const guint8 *pred, const guint8 *truth, gsize n_pixels,
                          double *dice, double *jaccard);

typedef struct {
  int n;
  double dice;                  /* means over images */
  double jaccard;
  double thresholded_jaccard;   /* Jaccard, with images under 0.65 counted 0 */
  int failures;                 /* images under 0.65 */
  double sum_dice, sum_jaccard, sum_thresholded; /* running sums */
} DermSegMetrics;

void   derm_seg_metrics_init (DermSegMetrics *m);
/* Adds one image; the masks are the same size. */
void   derm_seg_metrics_add (DermSegMetrics *m, const guint8 *pred, const guint8 *truth,
                             gsize n_pixels);
/* Members n, dice, jaccard, thresholded_jaccard, failures. */
void   derm_seg_metrics_add_json (const DermSegMetrics *m, JsonBuilder *builder);

G_END_DECLS
