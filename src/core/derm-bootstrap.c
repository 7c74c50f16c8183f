/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bootstrap.c: lesion-bootstrap intervals (see derm-bootstrap.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-bootstrap"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derm-bootstrap.h"
#include "derm-decision.h"
#include "derm-metrics.h"

/* splitmix64: a small, well-mixed generator, the same on every platform. */
static guint64
next_u64 (guint64 *state)
{
  guint64 z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The percentile interval of the finite values among @v (n, sorted in
 * place). */
static DermInterval
interval (double *v, int n)
{
  int m = 0;
  for (int i = 0; i < n; i++)
    if (isfinite (v[i]))
      v[m++] = v[i];
  DermInterval r = { NAN, NAN };
  if (m == 0 || m < n - n / 10)
    return r;
  qsort (v, m, sizeof *v, compare_double);
  /* linear interpolation between order statistics (numpy's default) */
  double q[2] = { 0.025, 0.975 };
  double out[2];
  for (int j = 0; j < 2; j++)
    {
      double pos = q[j] * (m - 1);
      int i = (int) floor (pos);
      double f = pos - i;
      out[j] = i + 1 < m ? v[i] * (1 - f) + v[i + 1] * f : v[i];
    }
  r.lo = out[0];
  r.hi = out[1];
  return r;
}

enum { V_ACC, V_BA, V_AUC, V_ECE, V_SENS, V_SPEC, V_RECALL };

void
derm_class_bootstrap (const float *probs, const int *labels, const int *groups, int n, int k,
                      const double *offsets, double risk_threshold, int resamples, guint64 seed,
                      DermClassBootstrap *out)
{
  g_return_if_fail (n >= 0 && k >= 1 && k <= DERM_N_CLASSES && resamples >= 1 && out != NULL);
  memset (out, 0, sizeof *out);
  out->resamples = resamples;
  /* The images of each lesion (CSR), lesions renumbered 0..g-1 in order of
   * first appearance. */
  g_autofree int *map = g_new (int, MAX (n, 1));
  for (int i = 0; i < n; i++)
    map[i] = -1;
  g_autofree int *lesion_of = g_new (int, MAX (n, 1));
  int g = 0;
  for (int i = 0; i < n; i++)
    {
      g_return_if_fail (groups[i] >= 0 && groups[i] < n);
      if (map[groups[i]] < 0)
        map[groups[i]] = g++;
      lesion_of[i] = map[groups[i]];
    }
  out->n_groups = g;
  g_autofree int *start = g_new0 (int, g + 1);
  for (int i = 0; i < n; i++)
    start[lesion_of[i] + 1]++;
  for (int j = 0; j < g; j++)
    start[j + 1] += start[j];
  g_autofree int *members = g_new (int, MAX (n, 1));
  g_autofree int *fill = g_memdup2 (start, sizeof (int) * (g + 1));
  for (int i = 0; i < n; i++)
    members[fill[lesion_of[i]]++] = i;

  const int n_values = V_RECALL + k;
  g_autofree double *values = g_new (double, (gsize) n_values * resamples);
  /* A resample has as many lesions as the data, so at most n * (largest
   * lesion) images; grown as needed. */
  gsize cap = (gsize) MAX (n, 1) * 2;
  g_autofree float *rp = g_new (float, cap * k);
  g_autofree int *rl = g_new (int, cap);
  guint64 state = seed ^ 0xD1B54A32D192ED03ULL;
  for (int r = 0; r < resamples; r++)
    {
      gsize m = 0;
      for (int j = 0; j < g; j++)
        {
          int lesion = (int) (next_u64 (&state) % (guint64) g);
          int size = start[lesion + 1] - start[lesion];
          if (m + size > cap)
            {
              cap = (m + size) * 2;
              rp = g_renew (float, rp, cap * k);
              rl = g_renew (int, rl, cap);
            }
          for (int s = 0; s < size; s++)
            {
              int i = members[start[lesion] + s];
              memcpy (rp + m * k, probs + (gsize) i * k, sizeof (float) * k);
              rl[m++] = labels[i];
            }
        }
      DermClassMetrics cm;
      derm_class_metrics_compute_with_offsets (rp, rl, (int) m, k, offsets, &cm);
      double *v = values + (gsize) r * n_values;
      v[V_ACC] = cm.accuracy;
      v[V_BA] = cm.balanced_accuracy;
      v[V_AUC] = cm.macro_auc;
      v[V_ECE] = cm.ece;
      v[V_SENS] = v[V_SPEC] = NAN;
      if (!isnan (risk_threshold) && k == DERM_N_CLASSES)
        derm_decision_risk_rates (rp, rl, (int) m, risk_threshold, &v[V_SENS], &v[V_SPEC]);
      for (int c = 0; c < k; c++)
        v[V_RECALL + c] = cm.recall[c];
    }
  g_autofree double *column = g_new (double, resamples);
  DermInterval result[V_RECALL + DERM_N_CLASSES];
  for (int j = 0; j < n_values; j++)
    {
      for (int r = 0; r < resamples; r++)
        column[r] = values[(gsize) r * n_values + j];
      result[j] = interval (column, resamples);
    }
  out->accuracy = result[V_ACC];
  out->balanced_accuracy = result[V_BA];
  out->macro_auc = result[V_AUC];
  out->ece = result[V_ECE];
  out->sensitivity = result[V_SENS];
  out->specificity = result[V_SPEC];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    out->recall[c] = c < k ? result[V_RECALL + c] : (DermInterval) { NAN, NAN };
}

static void
add_interval (JsonBuilder *b, const char *name, DermInterval v)
{
  json_builder_set_member_name (b, name);
  if (!isfinite (v.lo) || !isfinite (v.hi))
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_array (b);
  json_builder_add_double_value (b, v.lo);
  json_builder_add_double_value (b, v.hi);
  json_builder_end_array (b);
}

void
derm_class_bootstrap_add_json (const DermClassBootstrap *bs, JsonBuilder *b)
{
  json_builder_set_member_name (b, "ci95");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, "lesion_bootstrap");
  derm_json_add_int (b, "resamples", bs->resamples);
  derm_json_add_int (b, "lesions", bs->n_groups);
  add_interval (b, "accuracy", bs->accuracy);
  add_interval (b, "balanced_accuracy", bs->balanced_accuracy);
  add_interval (b, "macro_auc", bs->macro_auc);
  add_interval (b, "ece", bs->ece);
  json_builder_set_member_name (b, "recall");
  json_builder_begin_object (b);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    add_interval (b, derm_class_code (c), bs->recall[c]);
  json_builder_end_object (b);
  add_interval (b, "sensitivity", bs->sensitivity);
  add_interval (b, "specificity", bs->specificity);
  json_builder_end_object (b);
}
