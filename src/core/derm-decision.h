/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-decision.h: a classifier's decision rule, fitted on the validation
 * split's calibrated probabilities (issue 14). The arg-max of the
 * probabilities wastes a good ranking on an imbalanced problem: the rare
 * classes are under-predicted. The rule has two parts:
 * - per-class offsets b_c on the log-probabilities, chosen to maximise the
 *   balanced accuracy: the predicted class is argmax_c (log p_c + b_c);
 * - an operating point: a lesion is flagged malignant when its malignant
 *   risk (MEL + BCC + AKIEC, derm_class_malignant_risk()) reaches a threshold
 *   chosen for a target sensitivity.
 * Pure computation, no model. The rule lives in a model's "decision"
 * metadata (derm_decision_to_json()). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-metrics.h"

G_BEGIN_DECLS

/* The sensitivity the operating point is chosen for by default. */
#define DERM_DECISION_TARGET_SENSITIVITY 0.90
/* The offsets' search grid: -LIMIT .. LIMIT in steps of STEP. */
#define DERM_DECISION_OFFSET_LIMIT 4.0
#define DERM_DECISION_OFFSET_STEP 0.05

typedef struct {
  double class_offsets[DERM_N_CLASSES]; /* added to log p; mean 0 */
  double risk_threshold;        /* malignant when risk >= this; NAN: no operating point */
  double target_sensitivity;
  /* Measured at the threshold on the validation and test splits; NAN when
   * unknown (no such split, no malignant or no benign lesion in it). */
  double val_sensitivity, val_specificity;
  double test_sensitivity, test_specificity;
  /* Balanced accuracy on validation with the arg-max and with the offsets;
   * NAN when unknown. */
  double val_argmax_balanced_accuracy, val_balanced_accuracy;
  /* The factor the fitted offsets were scaled by (derm_decision_fit ()):
   * 0 .. 1, NAN when unknown (rules from before it). */
  double offset_shrink;
} DermDecision;

/* The predicted class of one image: argmax_c (log p_c + offsets[c]), with
 * probabilities under 1e-12 taken as 1e-12; with @offsets NULL the plain
 * arg-max of @probs. The first class wins a tie. */
int      derm_decision_predict (const float *probs, int k, const double *offsets);

/* Balanced accuracy (mean recall over the classes with support, as
 * derm_class_metrics_compute()) of the predictions with @offsets (NULL:
 * arg-max). NAN when no class has support. */
double   derm_decision_balanced_accuracy (const float *probs, const int *labels, int n, int k,
                                          const double *offsets);

/* Fits @offsets (k values) on @probs (n * k, image-major) and @labels (n
 * values in 0..k-1) to maximise the balanced accuracy: coordinate ascent over
 * the classes on the grid -4 .. 4 step 0.05, a few sweeps, starting from 0.
 * A class moves only when that raises the balanced accuracy, and then to the
 * middle of the widest run of grid values that give the best one, so that it
 * sits away from the validation images' decision boundaries. Classes without
 * support keep offset 0 (no evidence). The result is shifted to mean 0 (the
 * decisions do not change). Deterministic. Never lowers the balanced accuracy
 * on these images below the arg-max's. */
void     derm_decision_fit_offsets (const float *probs, const int *labels, int n, int k,
                                    double *offsets);

/* Sensitivity (malignant truth with risk >= @threshold, over malignant truth)
 * and specificity (benign truth with risk < @threshold, over benign truth) of
 * the malignant-risk threshold on @probs (n * DERM_N_CLASSES). Each NAN when
 * its denominator is 0. Either pointer may be NULL. */
void     derm_decision_risk_rates (const float *probs, const int *labels, int n,
                                   double threshold, double *sensitivity, double *specificity);

/* The operating point: a malignant-risk threshold whose sensitivity on @probs
 * (n * DERM_N_CLASSES) is at least @target (in (0, 1]), the highest such: the
 * risk of the malignant lesion that brings the sensitivity to @target, moved
 * down to halfway to the next lower risk of any image (the same decisions on
 * these images, away from their risks). NAN without malignant truth. */
double   derm_decision_fit_risk_threshold (const float *probs, const int *labels, int n,
                                           double target);

/* The offsets' shrink factor in {0, 1/4, 1/2, 3/4, 1} by two-fold cross-
 * fitting on @probs / @labels: offsets fitted on the even-numbered images
 * are scaled by each factor and scored (balanced accuracy) on the odd ones,
 * and the other way round; the factor with the best sum wins, the smaller
 * on a tie. Offsets that only fit their own images' noise get 0 (the
 * arg-max); a real shift of the priors keeps most of its size. */
double   derm_decision_cross_fit_shrink (const float *probs, const int *labels, int n, int k);

/* Fits the whole rule on validation images: offsets (fitted on all of them,
 * then scaled by derm_decision_cross_fit_shrink ()), threshold for @target,
 * the validation rates and balanced accuracies. The test rates are NAN
 * (derm_decision_set_test() fills them). */
void     derm_decision_fit (const float *probs, const int *labels, int n, double target,
                            DermDecision *decision);
/* Measures the operating point on the test images. */
void     derm_decision_set_test (DermDecision *decision, const float *probs, const int *labels,
                                 int n);

/* Whether @probs are flagged malignant: risk >= threshold. FALSE without an
 * operating point. */
gboolean derm_decision_is_malignant (const DermDecision *decision,
                                     const float probs[DERM_N_CLASSES]);

/* What the operating point means, in one translated sentence for a
 * clinician, from the held-out (test) rates, else the validation rates:
 * "At this threshold the model found 9 in 10 malignant lesions on held-out
 * data, and flagged 3 in 10 benign ones." (rates rounded to tenths; "all",
 * "none", "fewer than 1 in 10" and "more than 9 in 10" at the ends). NULL without an operating point or rates.
 * Returns: (transfer full). */
char    *derm_decision_describe_operating_point (const DermDecision *decision);

/* The JSON of a model's "decision" metadata:
 * {"class_offsets": {"MEL": b, ...}, "offset_shrink", "risk_threshold": t, "target_sensitivity",
 *  "val_sensitivity", "val_specificity", "test_sensitivity", "test_specificity",
 *  "val_argmax_balanced_accuracy", "val_balanced_accuracy"}, NAN as null.
 * Returns: (transfer full). */
char    *derm_decision_to_json (const DermDecision *decision);
/* Reads what derm_decision_to_json() wrote: the offsets of every class are
 * required, the other members may be missing or null (NAN). */
gboolean derm_decision_from_json (const char *json, DermDecision *decision, GError **error);

/* Members "risk_threshold", "target_sensitivity", "sensitivity", "specificity"
 * of the object being built: the operating point measured on @probs. */
void     derm_decision_add_operating_point_json (const DermDecision *decision,
                                                 const float *probs, const int *labels, int n,
                                                 JsonBuilder *builder);

/* Members "argmax_accuracy", "argmax_balanced_accuracy", "argmax_macro_f1"
 * and "argmax_recall_<CODE>" per class of the object being built: the metrics
 * the arg-max gives, beside those of the rule, so that the gain shows. */
void     derm_decision_add_argmax_json (const DermClassMetrics *argmax, JsonBuilder *builder);

G_END_DECLS
