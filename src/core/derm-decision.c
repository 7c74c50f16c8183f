/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-decision.c: the decision rule (see derm-decision.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-decision"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "derm-decision.h"
#include "derm-error.h"
#include "derm-metrics.h"

#define MIN_PROB 1e-12
#define MAX_SWEEPS 8
/* Balanced accuracies closer than this are equal. */
#define BA_EPS 1e-12

static double
log_prob (float p)
{
  return log (MAX ((double) p, MIN_PROB));
}

int
derm_decision_predict (const float *probs, int k, const double *offsets)
{
  int best = 0;
  if (offsets == NULL)
    {
      for (int c = 1; c < k; c++)
        if (probs[c] > probs[best])
          best = c;
      return best;
    }
  double best_score = log_prob (probs[0]) + offsets[0];
  for (int c = 1; c < k; c++)
    {
      double s = log_prob (probs[c]) + offsets[c];
      if (s > best_score)
        {
          best = c;
          best_score = s;
        }
    }
  return best;
}

/* Mean recall over the classes with support, from per-class counts. */
static double
mean_recall (const int *correct, const int *support, int k)
{
  double sum = 0;
  int classes = 0;
  for (int c = 0; c < k; c++)
    if (support[c] > 0)
      {
        sum += (double) correct[c] / support[c];
        classes++;
      }
  return classes > 0 ? sum / classes : NAN;
}

double
derm_decision_balanced_accuracy (const float *probs, const int *labels, int n, int k,
                                 const double *offsets)
{
  g_return_val_if_fail (k >= 1 && k <= DERM_N_CLASSES, NAN);
  int correct[DERM_N_CLASSES] = { 0 }, support[DERM_N_CLASSES] = { 0 };
  for (int i = 0; i < n; i++)
    {
      int t = labels[i];
      g_return_val_if_fail (t >= 0 && t < k, NAN);
      support[t]++;
      correct[t] += derm_decision_predict (probs + (gsize) i * k, k, offsets) == t;
    }
  return mean_recall (correct, support, k);
}

/* The grid index of the best offset for class @c with the others fixed, or
 * -1 when no grid value beats @current_ba. @lp: log-probabilities (n * k);
 * @rival, @rival_score: per image, the best other class and its score
 * (scratch space the caller owns); @ba: one value per grid point (scratch). */
static int
best_offset_index (const double *lp, const int *labels, int n, int k, const double *offsets,
                   int c, const int *support, double current_ba, int *rival, double *rival_score,
                   double *ba, int n_grid)
{
  for (int i = 0; i < n; i++)
    {
      const double *s = lp + (gsize) i * k;
      int r = -1;
      double rs = -INFINITY;
      for (int j = 0; j < k; j++)
        if (j != c && (r < 0 || s[j] + offsets[j] > rs))
          {
            r = j;
            rs = s[j] + offsets[j];
          }
      rival[i] = r;
      rival_score[i] = rs;
    }
  double best = -INFINITY;
  for (int g = 0; g < n_grid; g++)
    {
      double b = -DERM_DECISION_OFFSET_LIMIT + g * DERM_DECISION_OFFSET_STEP;
      int correct[DERM_N_CLASSES] = { 0 };
      for (int i = 0; i < n; i++)
        {
          /* c wins when its score beats the rival's, or ties it from a
           * lower index (the first class wins a tie). */
          double sc = lp[(gsize) i * k + c] + b;
          gboolean wins = sc > rival_score[i] || (sc == rival_score[i] && c < rival[i]);
          int pred = wins ? c : rival[i];
          correct[labels[i]] += pred == labels[i];
        }
      ba[g] = mean_recall (correct, support, k);
      best = MAX (best, ba[g]);
    }
  if (!(best > current_ba + BA_EPS))
    return -1;
  /* The middle of the widest run of best values; the first on a tie. */
  int best_start = -1, best_len = 0;
  for (int g = 0; g < n_grid;)
    {
      if (ba[g] < best - BA_EPS)
        {
          g++;
          continue;
        }
      int start = g;
      while (g < n_grid && ba[g] >= best - BA_EPS)
        g++;
      if (g - start > best_len)
        {
          best_start = start;
          best_len = g - start;
        }
    }
  return best_start + (best_len - 1) / 2;
}

void
derm_decision_fit_offsets (const float *probs, const int *labels, int n, int k, double *offsets)
{
  g_return_if_fail (k >= 1 && k <= DERM_N_CLASSES);
  for (int c = 0; c < k; c++)
    offsets[c] = 0;
  if (n <= 0)
    return;
  int support[DERM_N_CLASSES] = { 0 };
  for (int i = 0; i < n; i++)
    {
      g_return_if_fail (labels[i] >= 0 && labels[i] < k);
      support[labels[i]]++;
    }
  const int n_grid = (int) lround (2 * DERM_DECISION_OFFSET_LIMIT / DERM_DECISION_OFFSET_STEP) + 1;
  g_autofree double *lp = g_new (double, (gsize) n * k);
  for (gsize i = 0; i < (gsize) n * k; i++)
    lp[i] = log_prob (probs[i]);
  g_autofree int *rival = g_new (int, n);
  g_autofree double *rival_score = g_new (double, n);
  g_autofree double *ba = g_new (double, n_grid);
  /* The offsets are kept on the grid, as indices, so that the same value is
   * never reached twice by two roundings. */
  int index[DERM_N_CLASSES];
  for (int c = 0; c < k; c++)
    index[c] = (n_grid - 1) / 2;

  double current = derm_decision_balanced_accuracy (probs, labels, n, k, NULL);
  for (int sweep = 0; sweep < MAX_SWEEPS; sweep++)
    {
      gboolean changed = FALSE;
      for (int c = 0; c < k; c++)
        {
          if (support[c] == 0)
            continue;
          int g = best_offset_index (lp, labels, n, k, offsets, c, support, current, rival,
                                     rival_score, ba, n_grid);
          if (g < 0 || g == index[c])
            continue;
          index[c] = g;
          offsets[c] = -DERM_DECISION_OFFSET_LIMIT + g * DERM_DECISION_OFFSET_STEP;
          current = ba[g];
          changed = TRUE;
        }
      if (!changed)
        break;
    }
  double mean = 0;
  for (int c = 0; c < k; c++)
    mean += offsets[c] / k;
  for (int c = 0; c < k; c++)
    offsets[c] -= mean;
}

void
derm_decision_risk_rates (const float *probs, const int *labels, int n, double threshold,
                          double *sensitivity, double *specificity)
{
  int tp = 0, pos = 0, tn = 0, neg = 0;
  for (int i = 0; i < n; i++)
    {
      gboolean flagged = derm_class_malignant_risk (probs + (gsize) i * DERM_N_CLASSES) >= threshold;
      if (derm_class_is_malignant (labels[i]))
        {
          pos++;
          tp += flagged;
        }
      else
        {
          neg++;
          tn += !flagged;
        }
    }
  if (sensitivity != NULL)
    *sensitivity = pos > 0 ? (double) tp / pos : NAN;
  if (specificity != NULL)
    *specificity = neg > 0 ? (double) tn / neg : NAN;
}

static int
compare_descending (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x < y) - (x > y);
}

double
derm_decision_fit_risk_threshold (const float *probs, const int *labels, int n, double target)
{
  g_return_val_if_fail (target > 0 && target <= 1, NAN);
  g_autofree double *malignant = g_new (double, MAX (n, 1));
  int pos = 0;
  for (int i = 0; i < n; i++)
    if (derm_class_is_malignant (labels[i]))
      malignant[pos++] = derm_class_malignant_risk (probs + (gsize) i * DERM_N_CLASSES);
  if (pos == 0)
    return NAN;
  qsort (malignant, pos, sizeof *malignant, compare_descending);
  /* The fewest flagged malignant lesions that reach the target; the epsilon
   * keeps 0.9 * 10 from rounding up to 10. */
  int need = (int) ceil (target * pos - 1e-9);
  need = CLAMP (need, 1, pos);
  double risk = malignant[need - 1];
  /* The highest risk under it, of any image: every threshold in between
   * makes the same decisions here. */
  double below = -INFINITY;
  for (int i = 0; i < n; i++)
    {
      double r = derm_class_malignant_risk (probs + (gsize) i * DERM_N_CLASSES);
      if (r < risk && r > below)
        below = r;
    }
  return isfinite (below) ? (risk + below) / 2 : risk;
}

double
derm_decision_cross_fit_shrink (const float *probs, const int *labels, int n, int k)
{
  static const double factors[] = { 0.0, 0.25, 0.5, 0.75, 1.0 };
  if (n < 4)
    return 1.0;
  const int half[2] = { (n + 1) / 2, n / 2 };
  float *p[2];
  int *l[2];
  for (int h = 0; h < 2; h++)
    {
      p[h] = g_new (float, (gsize) half[h] * k);
      l[h] = g_new (int, half[h]);
      for (int j = 0, i = h; i < n; i += 2, j++)
        {
          memcpy (p[h] + (gsize) j * k, probs + (gsize) i * k, sizeof (float) * k);
          l[h][j] = labels[i];
        }
    }
  double off[2][DERM_N_CLASSES];
  for (int h = 0; h < 2; h++)
    derm_decision_fit_offsets (p[h], l[h], half[h], k, off[h]);
  double best = 0.0, best_score = -1.0;
  for (gsize f = 0; f < G_N_ELEMENTS (factors); f++)
    {
      double score = 0;
      for (int h = 0; h < 2; h++)
        {
          double scaled[DERM_N_CLASSES];
          for (int c = 0; c < k; c++)
            scaled[c] = factors[f] * off[h][c];
          double ba = derm_decision_balanced_accuracy (p[1 - h], l[1 - h], half[1 - h], k, scaled);
          score += isnan (ba) ? 0 : ba;
        }
      if (score > best_score + BA_EPS)
        {
          best_score = score;
          best = factors[f];
        }
    }
  for (int h = 0; h < 2; h++)
    {
      g_free (p[h]);
      g_free (l[h]);
    }
  return best;
}

void
derm_decision_fit (const float *probs, const int *labels, int n, double target,
                   DermDecision *d)
{
  memset (d, 0, sizeof *d);
  derm_decision_fit_offsets (probs, labels, n, DERM_N_CLASSES, d->class_offsets);
  d->offset_shrink = derm_decision_cross_fit_shrink (probs, labels, n, DERM_N_CLASSES);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    d->class_offsets[c] *= d->offset_shrink;
  d->target_sensitivity = target;
  d->risk_threshold = derm_decision_fit_risk_threshold (probs, labels, n, target);
  d->val_sensitivity = d->val_specificity = NAN;
  if (!isnan (d->risk_threshold))
    derm_decision_risk_rates (probs, labels, n, d->risk_threshold, &d->val_sensitivity,
                              &d->val_specificity);
  d->test_sensitivity = d->test_specificity = NAN;
  d->val_argmax_balanced_accuracy = derm_decision_balanced_accuracy (probs, labels, n,
                                                                     DERM_N_CLASSES, NULL);
  d->val_balanced_accuracy = derm_decision_balanced_accuracy (probs, labels, n, DERM_N_CLASSES,
                                                              d->class_offsets);
  /* A shrunk rule that does worse than the arg-max on validation is none. */
  if (d->val_balanced_accuracy < d->val_argmax_balanced_accuracy)
    {
      memset (d->class_offsets, 0, sizeof d->class_offsets);
      d->offset_shrink = 0;
      d->val_balanced_accuracy = d->val_argmax_balanced_accuracy;
    }
}

void
derm_decision_set_test (DermDecision *d, const float *probs, const int *labels, int n)
{
  d->test_sensitivity = d->test_specificity = NAN;
  if (!isnan (d->risk_threshold))
    derm_decision_risk_rates (probs, labels, n, d->risk_threshold, &d->test_sensitivity,
                              &d->test_specificity);
}

gboolean
derm_decision_is_malignant (const DermDecision *d, const float probs[DERM_N_CLASSES])
{
  return !isnan (d->risk_threshold) && derm_class_malignant_risk (probs) >= d->risk_threshold;
}

/* "9 in 10", "all", "none" of a rate in [0, 1]. */
static char *
in_ten (double rate)
{
  int tenths = (int) lround (CLAMP (rate, 0.0, 1.0) * 10);
  if (rate >= 0.995)
    return g_strdup (C_("in ten", "all"));
  if (rate < 0.005)
    return g_strdup (C_("in ten", "none"));
  /* rounding must not claim "all" or "none" for what is not */
  if (tenths == 0)
    return g_strdup (C_("in ten", "fewer than 1 in 10"));
  if (tenths == 10)
    return g_strdup (C_("in ten", "more than 9 in 10"));
  /* Translators: a share, e.g. "9 in 10" */
  return g_strdup_printf (C_("in ten", "%d in 10"), tenths);
}

char *
derm_decision_describe_operating_point (const DermDecision *d)
{
  if (d == NULL || isnan (d->risk_threshold))
    return NULL;
  gboolean test = isfinite (d->test_sensitivity) && isfinite (d->test_specificity);
  double sens = test ? d->test_sensitivity : d->val_sensitivity;
  double spec = test ? d->test_specificity : d->val_specificity;
  if (!isfinite (sens) || !isfinite (spec))
    return NULL;
  g_autofree char *found = in_ten (sens);
  g_autofree char *flagged = in_ten (1.0 - spec);
  if (test)
    /* Translators: "At this threshold the model found 9 in 10 malignant
     * lesions on held-out data, and flagged 3 in 10 benign ones." */
    return g_strdup_printf (_("At this threshold the model found %s malignant lesions on "
                              "held-out data, and flagged %s benign ones."), found, flagged);
  return g_strdup_printf (_("At this threshold the model found %s malignant lesions on its "
                            "validation data, and flagged %s benign ones."), found, flagged);
}

char *
derm_decision_to_json (const DermDecision *d)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "class_offsets");
  json_builder_begin_object (b);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    derm_json_add_number (b, derm_class_code (c), d->class_offsets[c]);
  json_builder_end_object (b);
  derm_json_add_number (b, "offset_shrink", d->offset_shrink);
  derm_json_add_number (b, "risk_threshold", d->risk_threshold);
  derm_json_add_number (b, "target_sensitivity", d->target_sensitivity);
  derm_json_add_number (b, "val_sensitivity", d->val_sensitivity);
  derm_json_add_number (b, "val_specificity", d->val_specificity);
  derm_json_add_number (b, "test_sensitivity", d->test_sensitivity);
  derm_json_add_number (b, "test_specificity", d->test_specificity);
  derm_json_add_number (b, "val_argmax_balanced_accuracy", d->val_argmax_balanced_accuracy);
  derm_json_add_number (b, "val_balanced_accuracy", d->val_balanced_accuracy);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* @name of @o as a number: NAN when missing or null; FALSE when it is
 * something else. */
static gboolean
get_number (JsonObject *o, const char *name, double *v)
{
  *v = NAN;
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  GType type = json_node_get_value_type (node);
  if (type != G_TYPE_DOUBLE && type != G_TYPE_INT64)
    return FALSE;
  *v = json_node_get_double (node);
  return TRUE;
}

gboolean
derm_decision_from_json (const char *json, DermDecision *d, GError **error)
{
  memset (d, 0, sizeof *d);
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("the model's \"decision\" metadata is not a JSON object"));
      return FALSE;
    }
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  JsonNode *offsets = json_object_get_member (o, "class_offsets");
  const char *bad = NULL;
  if (offsets == NULL || !JSON_NODE_HOLDS_OBJECT (offsets))
    bad = "class_offsets";
  for (int c = 0; bad == NULL && c < DERM_N_CLASSES; c++)
    {
      const char *code = derm_class_code (c);
      if (!get_number (json_node_get_object (offsets), code, &d->class_offsets[c])
          || !isfinite (d->class_offsets[c]))
        bad = code;
    }
  static const char *const names[] = {
    "risk_threshold", "target_sensitivity", "val_sensitivity", "val_specificity",
    "test_sensitivity", "test_specificity", "val_argmax_balanced_accuracy",
    "val_balanced_accuracy", "offset_shrink",
  };
  double *values[] = {
    &d->risk_threshold, &d->target_sensitivity, &d->val_sensitivity, &d->val_specificity,
    &d->test_sensitivity, &d->test_specificity, &d->val_argmax_balanced_accuracy,
    &d->val_balanced_accuracy, &d->offset_shrink,
  };
  for (gsize i = 0; bad == NULL && i < G_N_ELEMENTS (names); i++)
    if (!get_number (o, names[i], values[i]))
      bad = names[i];
  if (bad == NULL && !isnan (d->risk_threshold)
      && !(d->risk_threshold >= 0 && d->risk_threshold <= 1))
    bad = "risk_threshold";
  if (bad != NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("the model's \"decision\" metadata has no usable \"%s\""), bad);
      return FALSE;
    }
  return TRUE;
}

void
derm_decision_add_operating_point_json (const DermDecision *d, const float *probs,
                                        const int *labels, int n, JsonBuilder *b)
{
  double sensitivity = NAN, specificity = NAN;
  if (!isnan (d->risk_threshold))
    derm_decision_risk_rates (probs, labels, n, d->risk_threshold, &sensitivity, &specificity);
  derm_json_add_number (b, "risk_threshold", d->risk_threshold);
  derm_json_add_number (b, "target_sensitivity", d->target_sensitivity);
  derm_json_add_number (b, "sensitivity", sensitivity);
  derm_json_add_number (b, "specificity", specificity);
}

void
derm_decision_add_argmax_json (const DermClassMetrics *m, JsonBuilder *b)
{
  derm_json_add_number (b, "argmax_accuracy", m->accuracy);
  derm_json_add_number (b, "argmax_balanced_accuracy", m->balanced_accuracy);
  derm_json_add_number (b, "argmax_macro_f1", m->macro_f1);
  for (int c = 0; c < m->num_classes; c++)
    {
      g_autofree char *name = g_strdup_printf ("argmax_recall_%s", derm_class_code (c));
      derm_json_add_number (b, name, m->recall[c]);
    }
}
