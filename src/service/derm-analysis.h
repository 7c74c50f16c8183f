/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-analysis.h: the analysis of one image, one implementation for the
 * window's model worker and for `dermalens-cli analyze`: classify (with the
 * classifier's decision rule), segment, Grad-CAM of the decided class,
 * measure the lesion; and its JSON form, with untranslated keys.
 *
 * Blocking (libtorch): call it on the thread that owns the models. */
#pragma once

#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-image.h"
#include "derm-lesion.h"

G_BEGIN_DECLS

typedef struct {
  gboolean classified;           /* FALSE: no classifier was given (probs, top_class unset) */
  float probs[DERM_N_CLASSES];   /* softmax with the model's temperature */
  int top_class;
  DermImage *mask;               /* segmentation at the image's size, 0..255; NULL without a segmenter */
  DermImage *heatmap;            /* Grad-CAM of heatmap_class at the image's size */
  int heatmap_class;
  gboolean has_measurements;
  DermLesionMeasurements measurements;
  char *measurement_error;       /* why there are no measurements, or NULL */
  gboolean measurements_corrected; /* measured on the clinician's corrected mask */
  char *classifier_info;         /* "resnet50, file.safetensors, cpu" */
  char *segmenter_info;          /* or NULL */
  char *notice;                  /* e.g. the GPU failed and the CPU was used; or NULL */
  /* The classifier's decision rule (derm-decision.h): top_class was decided
   * with its class offsets (decided_by_rule), model_risk_threshold is its
   * operating point (NAN: none: a model without one) and
   * operating_point_text says what the flag means there, or NULL;
   * decision_json is the rule itself (the model's "decision" metadata), kept
   * with a stored case so that reopening it flags as the analysis did. */
  gboolean decided_by_rule;
  double model_risk_threshold;
  char *operating_point_text;
  char *decision_json;
  /* A classifier with patient context (derm-patient-context.h): the fields
   * it was given (0: none known, or a model without context), and when any
   * was given, the probabilities with every field missing (one more forward
   * pass), so a reader sees how much the context moved the result. */
  DermPatientField context_taken; /* the fields the classifier takes (0: the image alone) */
  DermPatientField context_used;
  DermPatientContext context;    /* the context given, only the fields taken */
  char *context_text;            /* "63 years, female, back"; NULL when none was used */
  gboolean has_probs_without_context;
  float probs_without_context[DERM_N_CLASSES];
} DermAnalysisResult;

void derm_analysis_result_free (DermAnalysisResult *result);
/* A deep copy (every string; the mask and heatmap only with @images, else
 * NULL). Kept beside the free function: a field added to the struct is
 * copied and freed in one place. Returns: (transfer full). */
DermAnalysisResult *derm_analysis_result_copy (const DermAnalysisResult *result, gboolean images);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermAnalysisResult, derm_analysis_result_free)

/* What an analysis runs with. The models are borrowed; one that fails on a
 * GPU is moved to the CPU and run again (the result's notice says so). */
typedef struct {
  DermModel *classifier;          /* a classifier of the seven diagnoses, or NULL */
  const DermDecision *decision;   /* its decision rule, or NULL: the most probable class */
  DermModel *segmenter;           /* a U-Net, or NULL: no mask and no measurements */
  gboolean tta;                   /* average the 8 flips and rotations */
  gboolean heatmap;               /* Grad-CAM of the decided class (needs the classifier) */
  /* The patient context, or NULL (every field unknown); used when the
   * classifier takes context, ignored otherwise. */
  const DermPatientContext *patient;
} DermAnalysisSetup;

/* Analyses @image. Fails only when classification fails; a segmentation
 * that fails leaves no mask and says why in measurement_error.
 * Returns: (transfer full) or NULL with @error. */
DermAnalysisResult *derm_analysis_run (const DermAnalysisSetup *setup, const DermImage *image,
                                       GError **error);

/* Grad-CAM of @class_index, with the same fallback to the CPU; @notice
 * (optional, set when still NULL) says when it fell back.
 * Returns: (transfer full) the heatmap at the image's size, or NULL. */
DermImage *derm_analysis_gradcam (DermModel *classifier, const DermImage *image, int class_index,
                                  char **notice, GError **error);

/* Adds @result's members to the object @b is building: when classified
 * "probabilities" ({code: p}), "predicted", "malignant_risk", and with a
 * rule "decision_rule", "risk_threshold" and "malignant_flag" (null without
 * an operating point); with a classifier that takes patient context,
 * "context" ({"fields": "age,sex", "age": 63, "sex": "female", "site":
 * "unknown", "probabilities_without": {code: p}}, the last only when a
 * field was given); then "measurements" (see
 * derm_analysis_add_measurements_json ()), or null. Nothing translated:
 * the same under every locale (the reason for null measurements is for
 * people: measurement_error). */
void derm_analysis_result_add_json (JsonBuilder *b, const DermAnalysisResult *result);

/* Adds "age" (years or null), "sex" and "site" (vocabulary keys,
 * "unknown" when not known) of @p to the object @b is building. */
void derm_analysis_add_context_values_json (JsonBuilder *b, const DermPatientContext *p);

/* Adds the members of @m to the object @b is building: "area_px",
 * "area_fraction", "asymmetry" [major, minor], "orientation",
 * "perimeter_px", "compactness", "diameter_px", "centroid" [x, y],
 * "colors" ({key: fraction}, keys from derm_color_key ()), "n_colors". */
void derm_analysis_add_measurements_json (JsonBuilder *b, const DermLesionMeasurements *m);

G_END_DECLS
