/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-metrics.c: classification and segmentation metrics. */
#include "config.h"

#define G_LOG_DOMAIN "derm-metrics"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derm-decision.h"
#include "derm-metrics.h"

typedef struct {
  float score;
  gboolean positive;
} Scored;

static int
compare_scored (const void *a, const void *b)
{
  float x = ((const Scored *) a)->score, y = ((const Scored *) b)->score;
  return (x > y) - (x < y);
}

double
derm_roc_auc (const float *scores, const gboolean *positive, int n)
{
  /* Mann-Whitney U with mid-ranks for ties. */
  Scored *s = g_new (Scored, MAX (n, 1));
  gint64 n_pos = 0;
  for (int i = 0; i < n; i++)
    {
      s[i].score = scores[i];
      s[i].positive = positive[i];
      n_pos += positive[i] ? 1 : 0;
    }
  gint64 n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0)
    {
      g_free (s);
      return NAN;
    }
  qsort (s, n, sizeof *s, compare_scored);
  double rank_sum = 0;
  for (int i = 0; i < n;)
    {
      int j = i;
      while (j < n && s[j].score == s[i].score)
        j++;
      double mid = (i + 1 + j) / 2.0;   /* ranks i+1 .. j */
      for (int t = i; t < j; t++)
        if (s[t].positive)
          rank_sum += mid;
      i = j;
    }
  g_free (s);
  return (rank_sum - n_pos * (n_pos + 1) / 2.0) / ((double) n_pos * n_neg);
}

void
derm_class_metrics_compute (const float *probs, const int *labels, int n, int k,
                            DermClassMetrics *m)
{
  derm_class_metrics_compute_with_offsets (probs, labels, n, k, NULL, m);
}

void
derm_class_metrics_compute_with_offsets (const float *probs, const int *labels, int n, int k,
                                         const double *offsets, DermClassMetrics *m)
{
  g_return_if_fail (k >= 1 && k <= DERM_N_CLASSES);
  memset (m, 0, sizeof *m);
  m->n = n;
  m->num_classes = k;

  double bin_conf[DERM_ECE_BINS] = { 0 }, bin_acc[DERM_ECE_BINS] = { 0 };
  int bin_n[DERM_ECE_BINS] = { 0 };
  int correct = 0;
  double nll = 0;
  for (int i = 0; i < n; i++)
    {
      const float *p = probs + (gsize) i * k;
      int pred = derm_decision_predict (p, k, offsets);
      int t = labels[i];
      g_return_if_fail (t >= 0 && t < k);
      m->confusion[t][pred]++;
      m->support[t]++;
      m->predicted[pred]++;
      correct += pred == t;
      nll -= log (MAX (p[t], 1e-12));
      /* The calibration of the probabilities, whatever the decision rule:
       * the top class's confidence against its accuracy. */
      int top = offsets != NULL ? derm_decision_predict (p, k, NULL) : pred;
      double conf = p[top];
      int b = (int) ceil (conf * DERM_ECE_BINS) - 1;   /* (b/15, (b+1)/15] */
      b = CLAMP (b, 0, DERM_ECE_BINS - 1);
      bin_conf[b] += conf;
      bin_acc[b] += top == t;
      bin_n[b]++;
    }
  m->accuracy = n > 0 ? (double) correct / n : NAN;
  m->nll = n > 0 ? nll / n : NAN;
  m->ece = 0;
  for (int b = 0; b < DERM_ECE_BINS; b++)
    if (bin_n[b] > 0)
      m->ece += fabs (bin_acc[b] - bin_conf[b]) / MAX (n, 1);
  if (n == 0)
    m->ece = NAN;

  double sum_recall = 0, sum_f1 = 0, sum_auc = 0;
  int n_recall = 0, n_f1 = 0, n_auc = 0;
  float *scores = g_new (float, MAX (n, 1));
  gboolean *pos = g_new (gboolean, MAX (n, 1));
  for (int c = 0; c < k; c++)
    {
      int tp = m->confusion[c][c];
      m->precision[c] = m->predicted[c] > 0 ? (double) tp / m->predicted[c] : 0;
      m->recall[c] = m->support[c] > 0 ? (double) tp / m->support[c] : NAN;
      double r = m->support[c] > 0 ? m->recall[c] : 0;
      m->f1[c] = m->precision[c] + r > 0 ? 2 * m->precision[c] * r / (m->precision[c] + r) : 0;
      if (m->support[c] > 0)
        {
          sum_recall += m->recall[c];
          n_recall++;
        }
      if (m->support[c] > 0 || m->predicted[c] > 0)
        {
          sum_f1 += m->f1[c];
          n_f1++;
        }
      for (int i = 0; i < n; i++)
        {
          scores[i] = probs[(gsize) i * k + c];
          pos[i] = labels[i] == c;
        }
      m->auc[c] = derm_roc_auc (scores, pos, n);
      if (!isnan (m->auc[c]))
        {
          sum_auc += m->auc[c];
          n_auc++;
        }
    }
  for (int c = k; c < DERM_N_CLASSES; c++)
    m->recall[c] = m->auc[c] = NAN;
  g_free (scores);
  g_free (pos);
  m->balanced_accuracy = n_recall > 0 ? sum_recall / n_recall : NAN;
  m->macro_f1 = n_f1 > 0 ? sum_f1 / n_f1 : NAN;
  m->macro_auc = n_auc > 0 ? sum_auc / n_auc : NAN;
}

void
derm_json_add_number (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

void
derm_json_add_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

void
derm_class_metrics_add_json (const DermClassMetrics *m, JsonBuilder *b)
{
  derm_json_add_int (b, "n", m->n);
  derm_json_add_number (b, "accuracy", m->accuracy);
  derm_json_add_number (b, "balanced_accuracy", m->balanced_accuracy);
  derm_json_add_number (b, "macro_f1", m->macro_f1);
  derm_json_add_number (b, "macro_auc", m->macro_auc);
  derm_json_add_number (b, "ece", m->ece);
  derm_json_add_number (b, "nll", m->nll);
  json_builder_set_member_name (b, "per_class");
  json_builder_begin_object (b);
  for (int c = 0; c < m->num_classes; c++)
    {
      json_builder_set_member_name (b, derm_class_code (c));
      json_builder_begin_object (b);
      derm_json_add_number (b, "precision", m->precision[c]);
      derm_json_add_number (b, "recall", m->recall[c]);
      derm_json_add_number (b, "f1", m->f1[c]);
      derm_json_add_int (b, "support", m->support[c]);
      derm_json_add_int (b, "predicted", m->predicted[c]);
      derm_json_add_number (b, "auc", m->auc[c]);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "confusion");
  json_builder_begin_array (b);
  for (int t = 0; t < m->num_classes; t++)
    {
      json_builder_begin_array (b);
      for (int p = 0; p < m->num_classes; p++)
        json_builder_add_int_value (b, m->confusion[t][p]);
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
}

void
derm_softmax (const float *logits, int n, int k, double temperature, float *probs)
{
  for (int i = 0; i < n; i++)
    {
      const float *z = logits + (gsize) i * k;
      float *p = probs + (gsize) i * k;
      double mx = z[0];
      for (int c = 1; c < k; c++)
        mx = MAX (mx, z[c]);
      double sum = 0;
      for (int c = 0; c < k; c++)
        sum += exp ((z[c] - mx) / temperature);
      for (int c = 0; c < k; c++)
        p[c] = (float) (exp ((z[c] - mx) / temperature) / sum);
    }
}

double
derm_nll_at_temperature (const float *logits, const int *labels, int n, int k, double t)
{
  double total = 0;
  for (int i = 0; i < n; i++)
    {
      const float *z = logits + (gsize) i * k;
      double mx = z[0] / t;
      for (int c = 1; c < k; c++)
        mx = MAX (mx, z[c] / t);
      double sum = 0;
      for (int c = 0; c < k; c++)
        sum += exp (z[c] / t - mx);
      total += mx + log (sum) - z[labels[i]] / t;
    }
  return n > 0 ? total / n : 0;
}

double
derm_fit_temperature (const float *logits, const int *labels, int n, int k)
{
  if (n == 0)
    return 1.0;
  const double phi = (sqrt (5.0) - 1) / 2;
  double a = log (0.05), b = log (20.0);
  double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
  double f1 = derm_nll_at_temperature (logits, labels, n, k, exp (x1));
  double f2 = derm_nll_at_temperature (logits, labels, n, k, exp (x2));
  for (int it = 0; it < 60 && b - a > 1e-5; it++)
    {
      if (f1 <= f2)
        {
          b = x2;
          x2 = x1;
          f2 = f1;
          x1 = b - phi * (b - a);
          f1 = derm_nll_at_temperature (logits, labels, n, k, exp (x1));
        }
      else
        {
          a = x1;
          x1 = x2;
          f1 = f2;
          x2 = a + phi * (b - a);
          f2 = derm_nll_at_temperature (logits, labels, n, k, exp (x2));
        }
    }
  return exp ((a + b) / 2);
}

void
derm_mask_overlap (const guint8 *pred, const guint8 *truth, gsize n, double *dice,
                   double *jaccard)
{
  gsize inter = 0, sp = 0, st = 0;
  for (gsize i = 0; i < n; i++)
    {
      gboolean p = pred[i] != 0, t = truth[i] != 0;
      inter += p && t;
      sp += p;
      st += t;
    }
  if (sp + st == 0)
    {
      *dice = *jaccard = 1.0;
      return;
    }
  *dice = 2.0 * inter / (double) (sp + st);
  *jaccard = (double) inter / (double) (sp + st - inter);
}

void
derm_seg_metrics_init (DermSegMetrics *m)
{
  memset (m, 0, sizeof *m);
  m->dice = m->jaccard = m->thresholded_jaccard = NAN;
}

void
derm_seg_metrics_add (DermSegMetrics *m, const guint8 *pred, const guint8 *truth, gsize n)
{
  double d, j;
  derm_mask_overlap (pred, truth, n, &d, &j);
  m->n++;
  m->sum_dice += d;
  m->sum_jaccard += j;
  if (j < DERM_JACCARD_THRESHOLD)
    m->failures++;
  else
    m->sum_thresholded += j;
  m->dice = m->sum_dice / m->n;
  m->jaccard = m->sum_jaccard / m->n;
  m->thresholded_jaccard = m->sum_thresholded / m->n;
}

void
derm_seg_metrics_add_json (const DermSegMetrics *m, JsonBuilder *b)
{
  derm_json_add_int (b, "n", m->n);
  derm_json_add_number (b, "dice", m->dice);
  derm_json_add_number (b, "jaccard", m->jaccard);
  derm_json_add_number (b, "thresholded_jaccard", m->thresholded_jaccard);
  derm_json_add_int (b, "failures", m->failures);
}
