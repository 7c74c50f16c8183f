/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-bootstrap.c: lesion-bootstrap confidence intervals. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib.h>

#include "derm-bootstrap.h"
#include "derm-decision.h"
#include "derm-metrics.h"

#define K DERM_N_CLASSES

/* @lesions lesions of @per images each (identical images: the same
 * probabilities and label), labels cycling through the classes; a noisy
 * classifier: the truth gets probability 0.5 + noise, the rest shared. */
static void
make (int lesions, int per, guint32 seed, float *probs, int *labels, int *groups)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  for (int l = 0; l < lesions; l++)
    {
      int truth = l % K;
      int guess = g_rand_double (rand) < 0.7 ? truth : (int) g_rand_int_range (rand, 0, K);
      float p[K];
      for (int c = 0; c < K; c++)
        p[c] = 0.4f / (K - 1);
      p[guess] = 0.6f;
      for (int s = 0; s < per; s++)
        {
          int i = l * per + s;
          memcpy (probs + (gsize) i * K, p, sizeof p);
          labels[i] = truth;
          groups[i] = l * per;   /* any image number of the lesion will do */
        }
    }
}

static double
width (DermInterval v)
{
  return v.hi - v.lo;
}

static void
test_deterministic_and_covering (void)
{
  const int lesions = 300, per = 1, n = lesions * per;
  g_autofree float *probs = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n), *groups = g_new (int, n);
  make (lesions, per, 7, probs, labels, groups);
  DermClassBootstrap a, b, c;
  derm_class_bootstrap (probs, labels, groups, n, K, NULL, 0.5, 500, 1, &a);
  derm_class_bootstrap (probs, labels, groups, n, K, NULL, 0.5, 500, 1, &b);
  derm_class_bootstrap (probs, labels, groups, n, K, NULL, 0.5, 500, 2, &c);
  g_assert_cmpmem (&a, sizeof a, &b, sizeof b);
  g_assert_true (a.balanced_accuracy.lo != c.balanced_accuracy.lo
                 || a.balanced_accuracy.hi != c.balanced_accuracy.hi);
  g_assert_cmpint (a.n_groups, ==, lesions);
  g_assert_cmpint (a.resamples, ==, 500);

  DermClassMetrics m;
  derm_class_metrics_compute (probs, labels, n, K, &m);
  g_assert_cmpfloat (a.balanced_accuracy.lo, <, m.balanced_accuracy);
  g_assert_cmpfloat (a.balanced_accuracy.hi, >, m.balanced_accuracy);
  g_assert_cmpfloat (a.accuracy.lo, <, m.accuracy);
  g_assert_cmpfloat (a.accuracy.hi, >, m.accuracy);
  /* About 1.96 standard errors each side: for an accuracy near 0.74 on
   * 300 independent lesions the standard error is about 0.025. */
  g_assert_cmpfloat (width (a.accuracy), >, 0.06);
  g_assert_cmpfloat (width (a.accuracy), <, 0.14);
  for (int k = 0; k < K; k++)
    g_assert_true (isfinite (a.recall[k].lo) && a.recall[k].lo <= a.recall[k].hi);
  g_assert_true (isfinite (a.sensitivity.lo) && isfinite (a.specificity.hi));
}

/* Ten identical images per lesion carry the information of one: grouped by
 * lesion the interval is as wide as for one image per lesion; taken as
 * independent images it would be about sqrt(10) times narrower. */
static void
test_groups_are_lesions (void)
{
  const int lesions = 200, per = 10, n = lesions * per;
  g_autofree float *probs = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n), *groups = g_new (int, n);
  g_autofree int *single = g_new (int, n);
  make (lesions, per, 11, probs, labels, groups);
  for (int i = 0; i < n; i++)
    single[i] = i;
  DermClassBootstrap by_lesion, by_image;
  derm_class_bootstrap (probs, labels, groups, n, K, NULL, NAN, 400, 3, &by_lesion);
  derm_class_bootstrap (probs, labels, single, n, K, NULL, NAN, 400, 3, &by_image);
  g_assert_cmpint (by_lesion.n_groups, ==, lesions);
  g_assert_cmpint (by_image.n_groups, ==, n);
  g_assert_cmpfloat (width (by_lesion.balanced_accuracy), >, 2.2 * width (by_image.balanced_accuracy));
  g_assert_cmpfloat (width (by_lesion.accuracy), >, 2.2 * width (by_image.accuracy));
  /* No threshold, no operating-point interval. */
  g_assert_true (isnan (by_lesion.sensitivity.lo) && isnan (by_lesion.specificity.hi));
}

/* A perfect classifier's intervals are points; a class without support has
 * no recall interval; offsets change the decisions the intervals describe. */
static void
test_edges_and_offsets (void)
{
  const int n = 70;
  float probs[70 * K];
  int labels[70], groups[70];
  for (int i = 0; i < n; i++)
    {
      int truth = i % (K - 1);   /* VASC never occurs */
      for (int c = 0; c < K; c++)
        probs[i * K + c] = c == truth ? 0.94f : 0.01f;
      labels[i] = truth;
      groups[i] = i;
    }
  DermClassBootstrap bs;
  derm_class_bootstrap (probs, labels, groups, n, K, NULL, NAN, 200, 5, &bs);
  g_assert_cmpfloat (bs.balanced_accuracy.lo, ==, 1.0);
  g_assert_cmpfloat (bs.balanced_accuracy.hi, ==, 1.0);
  g_assert_true (isnan (bs.recall[DERM_CLASS_VASC].lo));

  /* An offset large enough to send every image to DF: balanced accuracy
   * 1 / 6 in every resample. */
  double offsets[K] = { 0 };
  offsets[DERM_CLASS_DF] = 10;
  derm_class_bootstrap (probs, labels, groups, n, K, offsets, NAN, 200, 5, &bs);
  g_assert_cmpfloat (fabs (bs.balanced_accuracy.hi - 1.0 / 6), <, 1e-9);

  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  derm_class_bootstrap_add_json (&bs, b);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  g_assert_nonnull (strstr (text, "\"method\":\"lesion_bootstrap\""));
  g_assert_nonnull (strstr (text, "\"VASC\":null"));
  g_assert_nonnull (strstr (text, "\"sensitivity\":null"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bootstrap/deterministic-and-covering", test_deterministic_and_covering);
  g_test_add_func ("/bootstrap/groups-are-lesions", test_groups_are_lesions);
  g_test_add_func ("/bootstrap/edges-and-offsets", test_edges_and_offsets);
  return g_test_run ();
}
