/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-analysis.c: classify, segment, Grad-CAM and measure one image, and
 * the JSON form of the result. */
#include "config.h"

#define G_LOG_DOMAIN "derm-analysis"

#include <math.h>

#include <glib/gi18n-lib.h>

#include "derm-analysis.h"
#include "derm-metrics.h"

void
derm_analysis_result_free (DermAnalysisResult *result)
{
  if (result == NULL)
    return;
  derm_image_free (result->mask);
  derm_image_free (result->heatmap);
  g_free (result->measurement_error);
  g_free (result->classifier_info);
  g_free (result->segmenter_info);
  g_free (result->notice);
  g_free (result->operating_point_text);
  g_free (result->decision_json);
  g_free (result->context_text);
  g_free (result);
}

DermAnalysisResult *
derm_analysis_result_copy (const DermAnalysisResult *result, gboolean images)
{
  DermAnalysisResult *copy = g_new0 (DermAnalysisResult, 1);
  *copy = *result;
  copy->mask = images && result->mask != NULL ? derm_image_copy (result->mask) : NULL;
  copy->heatmap = images && result->heatmap != NULL ? derm_image_copy (result->heatmap) : NULL;
  copy->measurement_error = g_strdup (result->measurement_error);
  copy->classifier_info = g_strdup (result->classifier_info);
  copy->segmenter_info = g_strdup (result->segmenter_info);
  copy->notice = g_strdup (result->notice);
  copy->operating_point_text = g_strdup (result->operating_point_text);
  copy->decision_json = g_strdup (result->decision_json);
  copy->context_text = g_strdup (result->context_text);
  return copy;
}

/* Runs @ok_expr; when it fails on a GPU, moves @model to the CPU and runs it
 * again, leaving a notice. */
#define WITH_CPU_FALLBACK(model, notice, ok_expr, error)                                  \
  G_STMT_START {                                                                           \
    if (!(ok_expr) && g_strcmp0 (derm_model_get_device (model), "cpu") != 0)               \
      {                                                                                    \
        if (*(notice) == NULL)                                                             \
          *(notice) = g_strdup_printf (_("The GPU failed (%s); the analysis ran on the CPU."), \
                                       (*(error))->message);                               \
        g_clear_error (error);                                                             \
        if (derm_model_to_device (model, "cpu", error))                                    \
          (void) (ok_expr);                                                                \
      }                                                                                    \
  } G_STMT_END

static gboolean
classify (const DermAnalysisSetup *setup, const DermImage *image, DermAnalysisResult *result,
          GError **error)
{
  gboolean ok = FALSE;
  DermModel *model = setup->classifier;
  DermPatientField takes = derm_model_get_context (model);
  result->context_taken = takes;
  if (takes != 0)
    {
      /* The context the model is given: the fields it takes that are known. */
      DermPatientContext given;
      derm_patient_context_init (&given);
      if (setup->patient != NULL)
        given = *setup->patient;
      derm_patient_context_mask (&given, takes);
      result->context = given;
      result->context_used = derm_patient_context_known (&given);
      if (result->context_used != 0)
        {
          /* Without it first: one more forward pass. */
          derm_model_set_patients (model, NULL, 0);
          WITH_CPU_FALLBACK (model, &result->notice,
                             (ok = derm_model_classify (model, image, setup->tta,
                                                        result->probs_without_context, error)),
                             error);
          if (!ok)
            return FALSE;
          result->has_probs_without_context = TRUE;
          result->context_text = derm_patient_context_describe (&given);
        }
      derm_model_set_patients (model, &given, 1);
    }
  WITH_CPU_FALLBACK (model, &result->notice,
                     (ok = derm_model_classify (model, image, setup->tta, result->probs, error)),
                     error);
  if (!ok)
    return FALSE;
  const DermDecision *rule = setup->decision;
  result->classified = TRUE;
  result->top_class = derm_decision_predict (result->probs, DERM_N_CLASSES,
                                             rule != NULL ? rule->class_offsets : NULL);
  result->decided_by_rule = rule != NULL;
  result->model_risk_threshold = rule != NULL ? rule->risk_threshold : NAN;
  result->operating_point_text = rule != NULL ? derm_decision_describe_operating_point (rule) : NULL;
  result->decision_json = rule != NULL ? derm_decision_to_json (rule) : NULL;
  return TRUE;
}

static void
segment_and_measure (const DermAnalysisSetup *setup, const DermImage *image,
                     DermAnalysisResult *result)
{
  GError *local = NULL;
  WITH_CPU_FALLBACK (setup->segmenter, &result->notice,
                     (result->mask = derm_model_segment (setup->segmenter, image, setup->tta,
                                                         &local)), &local);
  if (result->mask == NULL)
    {
      result->measurement_error = g_strdup (local->message);
      g_clear_error (&local);
      return;
    }
  if (derm_lesion_measure (image, result->mask, &result->measurements, &local))
    result->has_measurements = TRUE;
  else
    {
      result->measurement_error = g_strdup (local->message);
      g_clear_error (&local);
    }
}

DermImage *
derm_analysis_gradcam (DermModel *classifier, const DermImage *image, int class_index,
                       char **notice, GError **error)
{
  g_autofree char *own_notice = NULL;
  if (notice == NULL)
    notice = &own_notice;
  DermImage *heatmap = NULL;
  WITH_CPU_FALLBACK (classifier, notice,
                     (heatmap = derm_model_gradcam (classifier, image, class_index, error)), error);
  return heatmap;
}

DermAnalysisResult *
derm_analysis_run (const DermAnalysisSetup *setup, const DermImage *image, GError **error)
{
  g_return_val_if_fail (setup != NULL && image != NULL, NULL);
  g_autoptr(DermAnalysisResult) result = g_new0 (DermAnalysisResult, 1);
  result->top_class = -1;
  result->heatmap_class = -1;
  result->model_risk_threshold = NAN;
  derm_patient_context_init (&result->context);
  if (setup->classifier != NULL && !classify (setup, image, result, error))
    return NULL;

  if (setup->segmenter != NULL)
    segment_and_measure (setup, image, result);
  else
    result->measurement_error = g_strdup (_("No segmentation model is installed, so the lesion "
                                            "is neither outlined nor measured."));

  if (setup->heatmap && result->classified)
    {
      GError *local = NULL;
      result->heatmap_class = result->top_class;
      result->heatmap = derm_analysis_gradcam (setup->classifier, image, result->top_class,
                                               &result->notice, &local);
      if (result->heatmap == NULL)
        {
          g_warning ("Grad-CAM failed: %s", local->message);
          g_clear_error (&local);
        }
    }
  return g_steal_pointer (&result);
}

/* ---- JSON -------------------------------------------------------------------------- */

static void
add_pair (JsonBuilder *b, const char *name, const double v[2])
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  json_builder_add_double_value (b, v[0]);
  json_builder_add_double_value (b, v[1]);
  json_builder_end_array (b);
}

void
derm_analysis_add_measurements_json (JsonBuilder *b, const DermLesionMeasurements *m)
{
  json_builder_set_member_name (b, "area_px");
  json_builder_add_int_value (b, m->area_px);
  derm_json_add_number (b, "area_fraction", m->area_fraction);
  add_pair (b, "asymmetry", m->asymmetry);
  derm_json_add_number (b, "orientation", m->orientation);
  derm_json_add_number (b, "perimeter_px", m->perimeter_px);
  derm_json_add_number (b, "compactness", m->compactness);
  derm_json_add_number (b, "diameter_px", m->diameter_px);
  add_pair (b, "centroid", m->centroid);
  json_builder_set_member_name (b, "colors");
  json_builder_begin_object (b);
  for (int c = 0; c < DERM_N_COLORS; c++)
    derm_json_add_number (b, derm_color_key (c), m->color_fraction[c]);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "n_colors");
  json_builder_add_int_value (b, m->n_colors);
}

void
derm_analysis_add_context_values_json (JsonBuilder *b, const DermPatientContext *p)
{
  DermPatientField known = derm_patient_context_known (p);
  json_builder_set_member_name (b, "age");
  if (known & DERM_PATIENT_AGE)
    json_builder_add_double_value (b, p->age);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "sex");
  json_builder_add_string_value (b, derm_sex_to_string (known & DERM_PATIENT_SEX ? p->sex
                                                                                 : DERM_SEX_UNKNOWN));
  json_builder_set_member_name (b, "site");
  json_builder_add_string_value (b, known & DERM_PATIENT_SITE ? derm_body_sites ()[p->site] : "unknown");
}

void
derm_analysis_result_add_json (JsonBuilder *b, const DermAnalysisResult *r)
{
  if (r->classified)
    {
      json_builder_set_member_name (b, "probabilities");
      json_builder_begin_object (b);
      for (int c = 0; c < DERM_N_CLASSES; c++)
        derm_json_add_number (b, derm_class_code (c), r->probs[c]);
      json_builder_end_object (b);
      json_builder_set_member_name (b, "predicted");
      json_builder_add_string_value (b, derm_class_code (r->top_class));
      double risk = derm_class_malignant_risk (r->probs);
      derm_json_add_number (b, "malignant_risk", risk);
      if (r->decided_by_rule)
        {
          json_builder_set_member_name (b, "decision_rule");
          json_builder_add_string_value (b, "class_offsets");
          derm_json_add_number (b, "risk_threshold", r->model_risk_threshold);
          json_builder_set_member_name (b, "malignant_flag");
          if (isnan (r->model_risk_threshold))
            json_builder_add_null_value (b);
          else
            json_builder_add_boolean_value (b, risk >= r->model_risk_threshold);
        }
      if (r->context_taken != 0)
        {
          g_autofree char *fields = derm_patient_fields_to_string (r->context_used);
          json_builder_set_member_name (b, "context");
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "fields");
          json_builder_add_string_value (b, fields);
          derm_analysis_add_context_values_json (b, &r->context);
          if (r->has_probs_without_context)
            {
              json_builder_set_member_name (b, "probabilities_without");
              json_builder_begin_object (b);
              for (int c = 0; c < DERM_N_CLASSES; c++)
                derm_json_add_number (b, derm_class_code (c), r->probs_without_context[c]);
              json_builder_end_object (b);
            }
          json_builder_end_object (b);
        }
    }
  json_builder_set_member_name (b, "measurements");
  if (r->has_measurements)
    {
      json_builder_begin_object (b);
      derm_analysis_add_measurements_json (b, &r->measurements);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
}
