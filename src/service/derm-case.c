/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-case.c: stored cases: store-thread jobs and conversions. */
#include "config.h"

#define G_LOG_DOMAIN "derm-case"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-case.h"
#include "derm-decision.h"
#include "derm-error.h"
#include "derm-metrics.h"

/* ---- Measurements JSON ------------------------------------------------------- */

char *
derm_case_measurements_to_json (const DermAnalysisResult *result, const char *notes)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (result->has_measurements)
    derm_analysis_add_measurements_json (b, &result->measurements);
  else if (result->measurement_error != NULL)
    {
      json_builder_set_member_name (b, "measurement_error");
      json_builder_add_string_value (b, result->measurement_error);
    }
  /* The classifier's decision rule, as the analysis applied it. */
  g_autoptr(JsonParser) rule = json_parser_new ();
  if (result->decided_by_rule && result->decision_json != NULL
      && json_parser_load_from_data (rule, result->decision_json, -1, NULL))
    {
      json_builder_set_member_name (b, "decision");
      json_builder_add_value (b, json_node_copy (json_parser_get_root (rule)));
    }
  /* The patient context the classifier was given, and what it said without. */
  if (result->context_taken != 0)
    {
      g_autofree char *taken = derm_patient_fields_to_string (result->context_taken);
      g_autofree char *used = derm_patient_fields_to_string (result->context_used);
      json_builder_set_member_name (b, "context");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "taken");
      json_builder_add_string_value (b, taken);
      json_builder_set_member_name (b, "fields");
      json_builder_add_string_value (b, used);
      derm_analysis_add_context_values_json (b, &result->context);
      if (result->has_probs_without_context)
        {
          json_builder_set_member_name (b, "probabilities_without");
          json_builder_begin_object (b);
          for (int c = 0; c < DERM_N_CLASSES; c++)
            derm_json_add_number (b, derm_class_code (c), result->probs_without_context[c]);
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  json_builder_set_member_name (b, "notes");
  json_builder_add_string_value (b, notes != NULL ? notes : "");
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static double
member_double (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_double (n) : 0.0;
}

static void
member_pair (JsonObject *o, const char *name, double out[2])
{
  JsonNode *n = json_object_get_member (o, name);
  out[0] = out[1] = 0;
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return;
  JsonArray *a = json_node_get_array (n);
  for (guint i = 0; i < 2 && i < json_array_get_length (a); i++)
    out[i] = json_array_get_double_element (a, i);
}

static void
parse_measurements (const char *json, DermAnalysisResult *result, char **notes)
{
  if (json == NULL)
    return;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json, -1, NULL))
    return;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  JsonObject *o = json_node_get_object (root);

  if (notes != NULL && json_object_has_member (o, "notes"))
    *notes = g_strdup (json_object_get_string_member (o, "notes"));
  JsonNode *rule = json_object_get_member (o, "decision");
  if (rule != NULL && JSON_NODE_HOLDS_OBJECT (rule))
    {
      g_autofree char *text = json_to_string (rule, FALSE);
      DermDecision d;
      if (derm_decision_from_json (text, &d, NULL))
        {
          result->decided_by_rule = TRUE;
          result->model_risk_threshold = d.risk_threshold;
          result->operating_point_text = derm_decision_describe_operating_point (&d);
          result->decision_json = g_steal_pointer (&text);
        }
    }
  JsonNode *context = json_object_get_member (o, "context");
  if (context != NULL && JSON_NODE_HOLDS_OBJECT (context))
    {
      JsonObject *c = json_node_get_object (context);
      DermPatientField taken = 0, used = 0;
      derm_patient_fields_from_string (json_object_get_string_member_with_default (c, "taken", ""),
                                       &taken, NULL);
      derm_patient_fields_from_string (json_object_get_string_member_with_default (c, "fields", ""),
                                       &used, NULL);
      result->context_taken = taken;
      result->context_used = used;
      JsonNode *age = json_object_get_member (c, "age");
      derm_patient_context_set (&result->context,
                                age != NULL && JSON_NODE_HOLDS_VALUE (age) ? json_node_get_double (age) : NAN,
                                json_object_get_string_member_with_default (c, "sex", NULL),
                                json_object_get_string_member_with_default (c, "site", NULL), NULL);
      if (used != 0)
        result->context_text = derm_patient_context_describe (&result->context);
      JsonNode *without = json_object_get_member (c, "probabilities_without");
      if (without != NULL && JSON_NODE_HOLDS_OBJECT (without))
        {
          result->has_probs_without_context = TRUE;
          for (int k = 0; k < DERM_N_CLASSES; k++)
            result->probs_without_context[k]
              = (float) member_double (json_node_get_object (without), derm_class_code (k));
        }
    }
  if (json_object_has_member (o, "measurement_error"))
    result->measurement_error = g_strdup (json_object_get_string_member (o, "measurement_error"));
  if (!json_object_has_member (o, "area_px"))
    return;

  DermLesionMeasurements *m = &result->measurements;
  m->area_px = json_object_get_int_member (o, "area_px");
  m->area_fraction = member_double (o, "area_fraction");
  member_pair (o, "asymmetry", m->asymmetry);
  m->orientation = member_double (o, "orientation");
  m->perimeter_px = member_double (o, "perimeter_px");
  m->compactness = member_double (o, "compactness");
  m->diameter_px = member_double (o, "diameter_px");
  member_pair (o, "centroid", m->centroid);
  JsonNode *colors = json_object_get_member (o, "colors");
  if (colors != NULL && JSON_NODE_HOLDS_OBJECT (colors))
    for (int c = 0; c < DERM_N_COLORS; c++)
      m->color_fraction[c] = member_double (json_node_get_object (colors), derm_color_key (c));
  m->n_colors = (int) json_object_get_int_member (o, "n_colors");
  result->has_measurements = TRUE;
}

DermImage *
derm_case_decode_mask (GBytes *png, const char *name, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  return derm_image_load_from_memory (data, len, name, 1, 0, 0, error);
}

/* model_info is "classifier\nsegmenter" (see derm_case_save_job's caller). */
DermAnalysisResult *
derm_case_result_from_analysis (const DermAnalysis *analysis, char **notes, GError **error)
{
  g_return_val_if_fail (analysis != NULL, NULL);
  g_autoptr(DermAnalysisResult) result = g_new0 (DermAnalysisResult, 1);
  derm_patient_context_init (&result->context);

  memcpy (result->probs, analysis->probs, sizeof result->probs);
  result->classified = TRUE;
  result->top_class = analysis->predicted;
  result->heatmap_class = analysis->predicted;
  /* A case stored before the rule was kept with it: the user's threshold
   * applies (parse_measurements () restores a stored rule). */
  result->model_risk_threshold = NAN;
  if (analysis->mask_png != NULL)
    {
      result->mask = derm_case_decode_mask (analysis->mask_png, _("the stored mask"), error);
      if (result->mask == NULL)
        return NULL;
    }
  if (notes != NULL)
    *notes = NULL;
  parse_measurements (analysis->measurements_json, result, notes);

  g_auto(GStrv) parts = g_strsplit (analysis->model_info != NULL ? analysis->model_info : "", "\n", 2);
  result->classifier_info = g_strdup (parts[0] != NULL ? parts[0] : "");
  if (parts[0] != NULL && parts[1] != NULL && *parts[1] != '\0')
    result->segmenter_info = g_strdup (parts[1]);
  return g_steal_pointer (&result);
}

/* ---- Jobs ---------------------------------------------------------------------- */

void
derm_case_save_request_free (DermCaseSaveRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->patient);
  g_free (request->body_site);
  g_free (request->lesion_label);
  g_free (request->notes);
  g_free (request->image_path);
  derm_image_free (request->mask);
  g_free (request->measurements_json);
  g_free (request->model_info);
  g_free (request);
}

static gint64
find_or_add_lesion (DermStore *store, gint64 patient_id, const char *site, const char *label,
                    GError **error)
{
  g_autoptr(GPtrArray) lesions = derm_store_list_lesions (store, patient_id, error);
  if (lesions == NULL)
    return 0;
  for (guint i = 0; i < lesions->len; i++)
    {
      DermLesion *l = g_ptr_array_index (lesions, i);
      if (g_strcmp0 (l->body_site, site) == 0 && g_strcmp0 (l->label, label) == 0)
        return l->id;
    }
  return derm_store_add_lesion (store, patient_id, site, label, error);
}

/* @mask as PNG bytes in *@png (transfer full), or NULL in *@png when
 * there is no mask. Returns FALSE with @error when it cannot be encoded. */
static gboolean
encode_mask (const DermImage *mask, GBytes **png, GError **error)
{
  *png = NULL;
  if (mask == NULL)
    return TRUE;
  gsize len;
  guint8 *bytes = derm_image_encode_png (mask, &len, error);
  if (bytes == NULL)
    return FALSE;
  *png = g_bytes_new_take (bytes, len);
  return TRUE;
}

void
derm_case_patient_context (const DermCase *c, DermPatientContext *out)
{
  derm_patient_context_init (out);
  if (c == NULL)
    return;
  if (c->patient != NULL && c->patient->birth_year > 0 && c->image != NULL)
    {
      g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (c->image->captured);
      int age = when != NULL ? g_date_time_get_year (when) - c->patient->birth_year : -1;
      if (age >= 0 && age <= 120)
        out->age = age;
    }
  if (c->patient != NULL)
    out->sex = c->patient->sex;
  if (c->lesion != NULL && c->lesion->body_site != NULL)
    {
      DermPatientContext site;
      if (derm_patient_context_set (&site, NAN, NULL, c->lesion->body_site, NULL))
        out->site = site.site;
    }
}

gpointer
derm_case_save_job (DermStore *store, gpointer data, GError **error)
{
  DermCaseSaveRequest *request = data;
  const char *label = request->lesion_label != NULL ? request->lesion_label : "";

  gint64 patient_id = derm_store_ensure_patient (store, request->patient, request->birth_year,
                                                 request->sex, error);
  if (patient_id == 0)
    return NULL;
  gint64 lesion_id = find_or_add_lesion (store, patient_id, request->body_site, label, error);
  if (lesion_id == 0)
    return NULL;
  gint64 image_id = derm_store_add_image (store, lesion_id, request->image_path, request->captured, error);
  if (image_id == 0)
    return NULL;

  DermAnalysis analysis = { 0 };
  analysis.image_id = image_id;
  analysis.model_info = request->model_info;
  memcpy (analysis.probs, request->probs, sizeof analysis.probs);
  analysis.predicted = request->predicted;
  analysis.measurements_json = request->measurements_json;
  g_autoptr(GBytes) png = NULL;
  if (!encode_mask (request->mask, &png, error))
    return NULL;
  analysis.mask_png = png;
  if (derm_store_add_analysis (store, &analysis, error) == 0)
    return NULL;
  return derm_store_get_case (store, image_id, error);
}

void
derm_case_list_request_free (DermCaseListRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->body_site);
  g_free (request);
}

gpointer
derm_case_list_job (DermStore *store, gpointer data, GError **error)
{
  DermCaseListRequest *request = data;
  DermCaseQuery query;
  derm_case_query_init (&query);
  query.body_site = request->body_site;
  query.predicted = request->predicted;
  query.min_risk = request->min_risk;
  query.confirmed = request->confirmed;
  return derm_store_list_cases (store, &query, NULL, error);
}

gpointer
derm_case_get_job (DermStore *store, gpointer data, GError **error)
{
  return derm_store_get_case (store, *(gint64 *) data, error);
}

gpointer
derm_case_timeline_job (DermStore *store, gpointer data, GError **error)
{
  return derm_store_lesion_timeline (store, *(gint64 *) data, error);
}

void
derm_case_annotate_request_free (DermCaseAnnotateRequest *request)
{
  if (request == NULL)
    return;
  derm_image_free (request->mask);
  g_free (request->notes);
  g_free (request);
}

gpointer
derm_case_annotate_job (DermStore *store, gpointer data, GError **error)
{
  DermCaseAnnotateRequest *request = data;
  DermAnnotation annotation = { 0 };
  annotation.image_id = request->image_id;
  annotation.diagnosis = request->diagnosis;
  annotation.dx_type = request->dx_type;
  annotation.notes = request->notes != NULL ? request->notes : "";
  g_autoptr(GBytes) png = NULL;
  if (!encode_mask (request->mask, &png, error))
    return NULL;
  annotation.mask_png = png;
  if (derm_store_add_annotation (store, &annotation, error) == 0)
    return NULL;
  return derm_store_get_case (store, request->image_id, error);
}
