/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-model-card.c: the model card (see derm-model-card.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-model-card"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-metrics.h"
#include "derm-model-card.h"

#define INTENDED_USE                                                                            \
  "Decision support for clinicians examining a dermoscopic image of one pigmented skin lesion: " \
  "probabilities of the seven HAM10000 diagnoses, a decision fitted for balanced accuracy, and " \
  "a malignant-risk flag (melanoma, basal cell carcinoma, actinic keratosis) at an operating "   \
  "point chosen for sensitivity. The examining clinician decides."
#define OUT_OF_SCOPE                                                                            \
  "Clinical (non-dermoscopic) photographs, mucosal, nail or acral-volar sites unless such "     \
  "images were in the training data, diagnoses outside the seven classes, screening without a " \
  "clinician, and any use as a diagnosis."
#define LIMITATIONS                                                                             \
  "Trained and tested on HAM10000 only (dermoscopy from two centres, Vienna and Queensland, "    \
  "mostly fair skin); not validated on other populations, skin types, devices or clinics. "     \
  "Seven classes: a lesion of another kind is still given one of them. Test metrics come from " \
  "a lesion-grouped split of the same collection and are optimistic for other settings. The "   \
  "operating point's sensitivity is an estimate with the interval shown."

static const char *const split_names[3] = { "train", "val", "test" };

char *
derm_model_card_facts_json (const char *sha, guint n_images, guint n_lesions,
                            const guint counts[3][7], const char *device)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dataset");
  json_builder_add_string_value (b, "HAM10000");
  json_builder_set_member_name (b, "dataset_sha256");
  json_builder_add_string_value (b, sha != NULL ? sha : "");
  derm_json_add_int (b, "images", n_images);
  derm_json_add_int (b, "lesions", n_lesions);
  json_builder_set_member_name (b, "class_counts");
  json_builder_begin_object (b);
  for (int s = 0; s < 3; s++)
    {
      json_builder_set_member_name (b, split_names[s]);
      json_builder_begin_object (b);
      for (int c = 0; c < DERM_N_CLASSES; c++)
        derm_json_add_int (b, derm_class_code (c), counts[s][c]);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  json_builder_set_member_name (b, "trained_at");
  json_builder_add_string_value (b, date);
  g_autofree char *software = g_strdup_printf ("Dermalens %s, libtorch %s, on %s", PACKAGE_VERSION,
                                               derm_engine_torch_version (), device);
  json_builder_set_member_name (b, "software");
  json_builder_add_string_value (b, software);
  json_builder_set_member_name (b, "intended_use");
  json_builder_add_string_value (b, INTENDED_USE);
  json_builder_set_member_name (b, "out_of_scope");
  json_builder_add_string_value (b, OUT_OF_SCOPE);
  json_builder_set_member_name (b, "limitations");
  json_builder_add_string_value (b, LIMITATIONS);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* The object of metadata @key, or NULL. The parser is kept in @keep. */
static JsonObject *
object_of (GHashTable *md, const char *key, GPtrArray *keep)
{
  const char *text = g_hash_table_lookup (md, key);
  if (text == NULL)
    return NULL;
  JsonParser *p = json_parser_new ();
  g_ptr_array_add (keep, p);
  if (!json_parser_load_from_data (p, text, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (p);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

static double
number (JsonObject *o, const char *key)
{
  if (o == NULL || !json_object_has_member (o, key))
    return NAN;
  JsonNode *n = json_object_get_member (o, key);
  return JSON_NODE_HOLDS_VALUE (n) ? json_node_get_double (n) : NAN;
}

static const char *
string (JsonObject *o, const char *key)
{
  if (o == NULL || !json_object_has_member (o, key))
    return NULL;
  JsonNode *n = json_object_get_member (o, key);
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
           ? json_node_get_string (n) : NULL;
}

static JsonObject *
object (JsonObject *o, const char *key)
{
  if (o == NULL || !json_object_has_member (o, key))
    return NULL;
  JsonNode *n = json_object_get_member (o, key);
  return JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* The rest of a Markdown table header whose first cell is written: one
 * column per class code, and the separator row. */
static void
append_class_header (GString *s)
{
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_string_append_printf (s, " %s |", derm_class_code (c));
  g_string_append (s, "\n|---|");
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_string_append (s, "---|");
  g_string_append (s, "\n");
}

/* "0.612 (0.571–0.650)" or "0.612" or "-". */
static void
append_value (GString *s, double v, JsonObject *ci, const char *key)
{
  if (!isfinite (v))
    {
      g_string_append (s, "-");
      return;
    }
  g_string_append_printf (s, "%.3f", v);
  if (ci == NULL || !json_object_has_member (ci, key))
    return;
  JsonNode *n = json_object_get_member (ci, key);
  if (!JSON_NODE_HOLDS_ARRAY (n) || json_array_get_length (json_node_get_array (n)) != 2)
    return;
  JsonArray *a = json_node_get_array (n);
  g_string_append_printf (s, " (%.3f–%.3f)", json_array_get_double_element (a, 0),
                          json_array_get_double_element (a, 1));
}

static void
metric_row (GString *s, const char *name, double v, JsonObject *ci, const char *key)
{
  g_string_append_printf (s, "| %s | ", name);
  append_value (s, v, ci, key);
  g_string_append (s, " |\n");
}

static void
render_metrics (GString *s, JsonObject *m)
{
  JsonObject *ci = object (m, "ci95");
  JsonObject *per = object (m, "per_class");
  gboolean rule = g_strcmp0 (string (m, "decision_rule"), "class_offsets") == 0;
  g_string_append_printf (s, _("\n## Evaluation on the test split (%d images"),
                          (int) number (m, "n"));
  if (ci != NULL && isfinite (number (ci, "lesions")))
    g_string_append_printf (s, _(", %d lesions"), (int) number (ci, "lesions"));
  g_string_append (s, ")\n\n");
  if (ci != NULL)
    g_string_append_printf (s, _("Intervals: 95%%, %d bootstrap resamples of the test lesions.\n\n"),
                            (int) number (ci, "resamples"));
  g_string_append_printf (s, "| %s | %s |\n|---|---|\n", _("metric"), _("value (95% interval)"));
  metric_row (s, rule ? _("balanced accuracy (decision rule)") : _("balanced accuracy"),
              number (m, "balanced_accuracy"), ci, "balanced_accuracy");
  if (rule)
    metric_row (s, _("balanced accuracy (highest probability)"),
                number (m, "argmax_balanced_accuracy"), NULL, NULL);
  metric_row (s, _("accuracy"), number (m, "accuracy"), ci, "accuracy");
  JsonObject *recall_ci = object (ci, "recall");
  metric_row (s, _("melanoma recall"), number (object (per, "MEL"), "recall"), recall_ci, "MEL");
  metric_row (s, _("macro ROC AUC"), number (m, "macro_auc"), ci, "macro_auc");
  metric_row (s, _("ECE (15 bins)"), number (m, "ece"), ci, "ece");
  JsonObject *op = object (m, "operating_point");
  if (op != NULL && isfinite (number (op, "risk_threshold")))
    {
      metric_row (s, _("malignant flag: sensitivity"), number (op, "sensitivity"), ci, "sensitivity");
      metric_row (s, _("malignant flag: specificity"), number (op, "specificity"), ci, "specificity");
    }

  if (per != NULL)
    {
      g_string_append_printf (s, "\n| %s | %s | %s | F1 | %s | AUC |\n|---|---|---|---|---|---|\n",
                              _("class"), _("precision"), _("recall (95% interval)"), _("support"));
      for (int c = 0; c < DERM_N_CLASSES; c++)
        {
          JsonObject *pc = object (per, derm_class_code (c));
          if (pc == NULL)
            continue;
          g_string_append_printf (s, "| %s | ", derm_class_code (c));
          append_value (s, number (pc, "precision"), NULL, NULL);
          g_string_append (s, " | ");
          append_value (s, number (pc, "recall"), recall_ci, derm_class_code (c));
          g_string_append (s, " | ");
          append_value (s, number (pc, "f1"), NULL, NULL);
          g_string_append_printf (s, " | %d | ", (int) number (pc, "support"));
          append_value (s, number (pc, "auc"), NULL, NULL);
          g_string_append (s, " |\n");
        }
    }
  JsonNode *conf = json_object_has_member (m, "confusion") ? json_object_get_member (m, "confusion")
                                                            : NULL;
  if (conf != NULL && JSON_NODE_HOLDS_ARRAY (conf))
    {
      JsonArray *rows = json_node_get_array (conf);
      g_string_append_printf (s, _("\nConfusion matrix (rows: truth, columns: decision)\n\n| |"));
      append_class_header (s);
      for (guint r = 0; r < json_array_get_length (rows) && r < DERM_N_CLASSES; r++)
        {
          JsonArray *row = json_array_get_array_element (rows, r);
          g_string_append_printf (s, "| %s |", derm_class_code (r));
          for (guint c = 0; row != NULL && c < json_array_get_length (row); c++)
            g_string_append_printf (s, " %" G_GINT64_FORMAT " |", json_array_get_int_element (row, c));
          g_string_append (s, "\n");
        }
    }
}

/* An ensemble's members: how each was trained (from "training"), and each
 * alone on the test split beside the ensemble (from "metrics"). */
static void
render_members (GString *s, JsonObject *training, JsonObject *metrics)
{
  JsonArray *trained = training != NULL && json_object_has_member (training, "members")
                           ? json_object_get_array_member (training, "members") : NULL;
  JsonArray *tested = metrics != NULL && json_object_has_member (metrics, "members")
                          ? json_object_get_array_member (metrics, "members") : NULL;
  if (trained == NULL)
    return;
  guint k = json_array_get_length (trained);
  g_string_append (s, _("\n## Ensemble members\n\n"));
  g_string_append_printf (s, _("%u networks, member k trained on the training split less its "
                               "k-th lesion-grouped fold, early-stopped and calibrated on that "
                               "fold. The ensemble's probabilities are the mean of the members' "
                               "calibrated probabilities.\n\n"), k);
  g_string_append (s, _("| member | best epoch | balanced accuracy on its fold | temperature |"));
  if (tested != NULL)
    g_string_append (s, _(" test balanced accuracy (highest probability) | test macro AUC | "
                          "test melanoma recall |"));
  g_string_append (s, "\n|---|---|---|---|");
  if (tested != NULL)
    g_string_append (s, "---|---|---|");
  g_string_append (s, "\n");
  double sum = 0;
  guint n_tested = 0;
  for (guint i = 0; i < k; i++)
    {
      JsonObject *m = json_array_get_object_element (trained, i);
      g_string_append_printf (s, "| %u | %d | %.3f | %.3f |", i + 1,
                              (int) number (m, "best_epoch") + 1,
                              number (m, "val_balanced_accuracy"), number (m, "temperature"));
      if (tested != NULL && i < json_array_get_length (tested))
        {
          JsonObject *t = json_array_get_object_element (tested, i);
          g_string_append_printf (s, " %.3f | %.3f | %.3f |", number (t, "balanced_accuracy"),
                                  number (t, "macro_auc"), number (t, "melanoma_recall"));
          sum += number (t, "balanced_accuracy");
          n_tested++;
        }
      g_string_append (s, "\n");
    }
  if (n_tested > 0 && json_object_has_member (metrics, "argmax_balanced_accuracy"))
    g_string_append_printf (s, _("\nOn the test split the ensemble's highest probability has "
                                 "balanced accuracy %.3f, the members' mean %.3f.\n"),
                            number (metrics, "argmax_balanced_accuracy"), sum / n_tested);
}

char *
derm_model_card_render (GHashTable *md, const char *file_name)
{
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  GString *s = g_string_new (NULL);
  const char *arch = g_hash_table_lookup (md, "architecture");
  JsonObject *facts = object_of (md, "model_card", keep);
  JsonObject *training = object_of (md, "training", keep);
  JsonObject *split = object_of (md, "split", keep);
  JsonObject *metrics = object_of (md, "metrics", keep);
  const char *decision_json = g_hash_table_lookup (md, "decision");

  g_string_append_printf (s, _("# Model card: %s\n\n"), file_name);
  g_string_append_printf (s, _("## Model details\n\n"));
  g_string_append_printf (s, _("- Architecture: %s, input %s px, classes %s\n"),
                          arch ? arch : "?",
                          (const char *) g_hash_table_lookup (md, "input_size") ?: "?",
                          (const char *) g_hash_table_lookup (md, "classes") ?: "?");
  if (facts != NULL)
    g_string_append_printf (s, _("- Trained: %s with %s\n"), string (facts, "trained_at") ?: "?",
                            string (facts, "software") ?: "?");
  const char *members = g_hash_table_lookup (md, "ensemble_members");
  if (members != NULL)
    g_string_append_printf (s, _("- Ensemble of %s %s networks in one file (see Ensemble members)\n"),
                            members, arch ? arch : "?");
  const char *temperature = g_hash_table_lookup (md, "temperature");
  if (temperature != NULL)
    g_string_append_printf (s, _("- Calibration: temperature %.3f, fitted on the validation split\n"),
                            g_ascii_strtod (temperature, NULL));
  if (facts == NULL)
    g_string_append (s, _("- This file carries no model-card facts (it was trained before "
                          "Dermalens wrote them, or elsewhere): its data, intended use and "
                          "limits are unknown.\n"));
  else
    {
      g_string_append_printf (s, _("\n## Intended use\n\n%s\n"), string (facts, "intended_use") ?: "");
      g_string_append_printf (s, _("\n## Out of scope\n\n%s\n"), string (facts, "out_of_scope") ?: "");
      g_string_append_printf (s, _("\n## Training data\n\n"));
      g_string_append_printf (s, _("%s (sha256 %.12s…): %d images of %d lesions, split by lesion"),
                              string (facts, "dataset") ?: "?",
                              string (facts, "dataset_sha256") ?: "", (int) number (facts, "images"),
                              (int) number (facts, "lesions"));
      if (split != NULL)
        g_string_append_printf (s, _(" (seed %d, validation %.2f, test %.2f of the lesions)"),
                                (int) number (split, "seed"), number (split, "val_fraction"),
                                number (split, "test_fraction"));
      g_string_append (s, ".\n\n| |");
      append_class_header (s);
      JsonObject *counts = object (facts, "class_counts");
      const char *names[3] = { _("train"), _("validation"), _("test") };
      for (int sp = 0; sp < 3; sp++)
        {
          JsonObject *row = object (counts, split_names[sp]);
          g_string_append_printf (s, "| %s |", names[sp]);
          for (int c = 0; c < DERM_N_CLASSES; c++)
            g_string_append_printf (s, " %d |", (int) number (row, derm_class_code (c)));
          g_string_append (s, "\n");
        }
    }
  if (training != NULL)
    {
      g_string_append (s, _("\n## Training recipe\n\n"));
      GList *members = json_object_get_members (training);
      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonNode *n = json_object_get_member (training, l->data);
          if (!JSON_NODE_HOLDS_VALUE (n))
            continue;   /* an ensemble's "members": their own section */
          g_autofree char *v = json_node_get_value_type (n) == G_TYPE_STRING
                                 ? g_strdup (json_node_get_string (n))
                                 : json_node_get_value_type (n) == G_TYPE_BOOLEAN
                                     ? g_strdup (json_node_get_boolean (n) ? "true" : "false")
                                     : g_strdup_printf ("%g", json_node_get_double (n));
          g_string_append_printf (s, "- %s: %s\n", (const char *) l->data, *v ? v : "-");
        }
      g_list_free (members);
    }
  if (metrics != NULL && json_object_has_member (metrics, "balanced_accuracy"))
    render_metrics (s, metrics);
  else
    g_string_append (s, _("\n## Evaluation\n\nNo test metrics are recorded in this file.\n"));
  render_members (s, training, metrics);

  g_string_append (s, _("\n## Decision rule and operating point\n\n"));
  DermDecision d;
  if (decision_json != NULL && derm_decision_from_json (decision_json, &d, NULL))
    {
      g_string_append (s, _("The decision is argmax(log p + class offset), the offsets fitted on "
                            "validation for balanced accuracy:"));
      for (int c = 0; c < DERM_N_CLASSES; c++)
        g_string_append_printf (s, " %s %+.2f", derm_class_code (c), d.class_offsets[c]);
      g_string_append (s, ".\n\n");
      if (isnan (d.risk_threshold))
        g_string_append (s, _("No operating point (the validation split had no malignant lesion).\n"));
      else
        {
          g_string_append_printf (s, _("Malignant flag when MEL + BCC + AKIEC ≥ %.3f, chosen for "
                                       "sensitivity %.2f on validation (validation: sensitivity "
                                       "%.3f, specificity %.3f; test: sensitivity %.3f, "
                                       "specificity %.3f).\n"),
                                  d.risk_threshold, d.target_sensitivity, d.val_sensitivity,
                                  d.val_specificity, d.test_sensitivity, d.test_specificity);
          g_autofree char *words = derm_decision_describe_operating_point (&d);
          if (words != NULL)
            g_string_append_printf (s, "\n%s\n", words);
        }
    }
  else
    g_string_append (s, _("None: the class with the highest probability is the decision and no "
                          "operating point is stored.\n"));
  if (facts != NULL)
    g_string_append_printf (s, _("\n## Limitations\n\n%s\n"), string (facts, "limitations") ?: "");
  return g_string_free (s, FALSE);
}
