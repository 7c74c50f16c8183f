/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bootstrap.h: 95% confidence intervals of a classifier's test metrics
 * by resampling lesions, not images (issue 14). HAM10000 holds several
 * images of many lesions; they are not independent draws, and an image
 * bootstrap would give intervals that are too narrow. Each resample draws as
 * many lesions as there are, with replacement, and takes every image of each
 * drawn lesion; the interval is the 2.5th and 97.5th percentile over the
 * resamples (percentile method). Pure computation, no model. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"

G_BEGIN_DECLS

#define DERM_BOOTSTRAP_RESAMPLES 1000

typedef struct {
  double lo, hi;                 /* NAN when undefined in too many resamples */
} DermInterval;

typedef struct {
  int resamples;
  int n_groups;                  /* lesions */
  DermInterval accuracy, balanced_accuracy, macro_auc, ece;
  DermInterval recall[DERM_N_CLASSES];
  /* The operating point's rates (NAN without a threshold). */
  DermInterval sensitivity, specificity;
} DermClassBootstrap;

/* @probs: n * @k probabilities (image-major), @labels n classes, @groups n
 * lesion numbers in 0..n-1 (images of one lesion share one). Decisions as
 * derm_class_metrics_compute_with_offsets () with @offsets (NULL: arg-max);
 * the operating point's rates at @risk_threshold (NAN: none; needs k ==
 * DERM_N_CLASSES). Deterministic for a @seed. A value undefined in a
 * resample (a class without support in it) is left out of that value's
 * percentiles; more than a tenth undefined makes the interval NAN. */
void derm_class_bootstrap (const float *probs, const int *labels, const int *groups, int n,
                           int k, const double *offsets, double risk_threshold, int resamples,
                           guint64 seed, DermClassBootstrap *out);

/* Member "ci95" of the object being built: {"method": "lesion_bootstrap",
 * "resamples", "lesions", "accuracy": [lo, hi], "balanced_accuracy",
 * "macro_auc", "ece", "recall": {"MEL": [lo, hi], ...}, "sensitivity",
 * "specificity"}, NAN bounds as null. */
void derm_class_bootstrap_add_json (const DermClassBootstrap *b, JsonBuilder *builder);

G_END_DECLS
