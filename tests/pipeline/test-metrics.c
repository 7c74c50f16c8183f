/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Metrics against values computed by hand. */
#include "config.h"

#include <math.h>

#include "derm-metrics.h"

#define EPS 1e-6

/* Four classes (k = 4). Truth / prediction:
 *   0/0 (conf .7)  0/1 (.4)  1/1 (.8)  1/2 (.5)  3/0 (.6)  3/1 (.5)
 * class 2 has no support but one prediction; class 3 has support but is never
 * predicted. */
static const float probs[6 * 4] = {
  0.7f, 0.1f, 0.1f, 0.1f,
  0.3f, 0.4f, 0.2f, 0.1f,
  0.1f, 0.8f, 0.05f, 0.05f,
  0.1f, 0.3f, 0.5f, 0.1f,
  0.6f, 0.1f, 0.1f, 0.2f,
  0.2f, 0.5f, 0.1f, 0.2f,
};
static const int labels[6] = { 0, 0, 1, 1, 3, 3 };

static void
test_classification (void)
{
  DermClassMetrics m;
  derm_class_metrics_compute (probs, labels, 6, 4, &m);
  g_assert_cmpint (m.n, ==, 6);
  g_assert_cmpfloat_with_epsilon (m.accuracy, 2.0 / 6, EPS);

  int confusion[4][4] = { { 1, 1, 0, 0 }, { 0, 1, 1, 0 }, { 0, 0, 0, 0 }, { 1, 1, 0, 0 } };
  for (int t = 0; t < 4; t++)
    for (int p = 0; p < 4; p++)
      g_assert_cmpint (m.confusion[t][p], ==, confusion[t][p]);

  /* precision: 1/2, 1/3, 0/1, never predicted -> 0 */
  g_assert_cmpfloat_with_epsilon (m.precision[0], 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (m.precision[1], 1.0 / 3, EPS);
  g_assert_cmpfloat_with_epsilon (m.precision[2], 0.0, EPS);
  g_assert_cmpfloat_with_epsilon (m.precision[3], 0.0, EPS);
  /* recall: 1/2, 1/2, no support -> undefined, 0/2 */
  g_assert_cmpfloat_with_epsilon (m.recall[0], 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (m.recall[1], 0.5, EPS);
  g_assert_true (isnan (m.recall[2]));
  g_assert_cmpfloat_with_epsilon (m.recall[3], 0.0, EPS);
  /* F1: .5, 2 (1/3)(1/2) / (5/6) = .4, 0, 0 */
  g_assert_cmpfloat_with_epsilon (m.f1[0], 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (m.f1[1], 0.4, EPS);
  g_assert_cmpfloat_with_epsilon (m.f1[2], 0.0, EPS);
  g_assert_cmpfloat_with_epsilon (m.f1[3], 0.0, EPS);
  g_assert_cmpint (m.support[2], ==, 0);
  g_assert_cmpint (m.predicted[3], ==, 0);
  /* balanced accuracy over the classes with support: (.5 + .5 + 0) / 3 */
  g_assert_cmpfloat_with_epsilon (m.balanced_accuracy, 1.0 / 3, EPS);
  /* macro F1 over the classes with support or predictions: (.5 + .4 + 0 + 0) / 4 */
  g_assert_cmpfloat_with_epsilon (m.macro_f1, 0.225, EPS);

  /* AUC one-vs-rest: class 0: positives .7, .3 vs .1 .1 .6 .2 -> 7/8;
   * class 1: .8, .3 vs .1 .4 .1 .5 -> 6/8; class 2: undefined;
   * class 3: .2, .2 vs .1 .1 .05 .1 -> 1 */
  g_assert_cmpfloat_with_epsilon (m.auc[0], 0.875, EPS);
  g_assert_cmpfloat_with_epsilon (m.auc[1], 0.75, EPS);
  g_assert_true (isnan (m.auc[2]));
  g_assert_cmpfloat_with_epsilon (m.auc[3], 1.0, EPS);
  g_assert_cmpfloat_with_epsilon (m.macro_auc, (0.875 + 0.75 + 1.0) / 3, EPS);

  /* ECE: bins .4 (wrong), .5 (two wrong), .6 (wrong), .7 (right), .8 (right):
   * (.4 + 2 * .5 + .6 + .3 + .2) / 6 */
  g_assert_cmpfloat_with_epsilon (m.ece, 2.5 / 6, EPS);
  double nll = -(log (0.7) + log (0.3) + log (0.8) + log (0.3) + log (0.2) + log (0.2)) / 6;
  g_assert_cmpfloat_with_epsilon (m.nll, nll, 1e-5);

  /* JSON: NAN becomes null, codes name the classes */
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  derm_class_metrics_add_json (&m, b);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *json = json_to_string (root, FALSE);
  g_assert_nonnull (strstr (json, "\"BCC\":{\"precision\":0.0,\"recall\":null"));
  g_assert_nonnull (strstr (json, "\"confusion\":[[1,1,0,0],[0,1,1,0],[0,0,0,0],[1,1,0,0]]"));
}

static void
test_perfect_and_ties (void)
{
  float p[3 * 2] = { 0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f };
  int y[3] = { 0, 1, 0 };
  DermClassMetrics m;
  derm_class_metrics_compute (p, y, 3, 2, &m);
  g_assert_cmpfloat (m.accuracy, ==, 1.0);
  g_assert_cmpfloat (m.balanced_accuracy, ==, 1.0);
  g_assert_cmpfloat (m.macro_f1, ==, 1.0);
  g_assert_cmpfloat_with_epsilon (m.auc[0], 1.0, EPS);
  /* ECE: conf .9 .8 .6 all right: (.1 + .2 + .4) / 3 */
  g_assert_cmpfloat_with_epsilon (m.ece, 0.7 / 3, 1e-6);

  float s[4] = { 0.5f, 0.5f, 0.5f, 0.2f };
  gboolean pos[4] = { TRUE, FALSE, FALSE, FALSE };
  /* the positive ties two negatives (half credit each) and beats one: 2/3 */
  g_assert_cmpfloat_with_epsilon (derm_roc_auc (s, pos, 4), 2.0 / 3, EPS);
  gboolean none[4] = { FALSE, FALSE, FALSE, FALSE };
  g_assert_true (isnan (derm_roc_auc (s, none, 4)));
}

static void
test_temperature (void)
{
  /* Separable, so a colder softmax always helps: the fit hits the bound. */
  float sep[2 * 2] = { 2, 0, 0, 2 };
  int ys[2] = { 0, 1 };
  g_assert_cmpfloat (derm_fit_temperature (sep, ys, 2, 2), <, 0.06);

  /* Over-confident logits with every third one wrong: T > 1 and a minimum. */
  enum { N = 300 };
  float z[N * 3];
  int y[N];
  for (int i = 0; i < N; i++)
    {
      int t = i % 3;
      int pred = i % 3 == 0 ? (t + 1) % 3 : t;
      for (int c = 0; c < 3; c++)
        z[i * 3 + c] = c == pred ? 6.0f : 0.0f;
      y[i] = t;
    }
  double T = derm_fit_temperature (z, y, N, 3);
  g_assert_cmpfloat (T, >, 1.5);
  double at = derm_nll_at_temperature (z, y, N, 3, T);
  g_assert_cmpfloat (at, <=, derm_nll_at_temperature (z, y, N, 3, T * 1.05));
  g_assert_cmpfloat (at, <=, derm_nll_at_temperature (z, y, N, 3, T / 1.05));
  /* accuracy 2/3: the calibrated confidence is close to 2/3 */
  float p[3];
  derm_softmax (z, 1, 3, T, p);
  g_assert_cmpfloat_with_epsilon (p[1], 2.0 / 3, 0.01);
  g_assert_cmpfloat (derm_fit_temperature (z, y, 0, 3), ==, 1.0);
}

static void
test_segmentation (void)
{
  /* pred 4 px, truth 4 px, overlap 2: Dice 2*2/8 = .5, Jaccard 2/6 */
  guint8 pred[8] = { 255, 255, 255, 255, 0, 0, 0, 0 };
  guint8 truth[8] = { 0, 0, 1, 1, 1, 1, 0, 0 };
  double d, j;
  derm_mask_overlap (pred, truth, 8, &d, &j);
  g_assert_cmpfloat_with_epsilon (d, 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (j, 1.0 / 3, EPS);
  guint8 empty[8] = { 0 };
  derm_mask_overlap (empty, empty, 8, &d, &j);
  g_assert_cmpfloat (d, ==, 1.0);
  g_assert_cmpfloat (j, ==, 1.0);

  /* Jaccard 1/3 (failure) and 4/5 (kept): mean .5667, thresholded .4 */
  guint8 p2[5] = { 1, 1, 1, 1, 0 }, t2[5] = { 1, 1, 1, 1, 1 };
  DermSegMetrics m;
  derm_seg_metrics_init (&m);
  derm_seg_metrics_add (&m, pred, truth, 8);
  derm_seg_metrics_add (&m, p2, t2, 5);
  g_assert_cmpint (m.n, ==, 2);
  g_assert_cmpint (m.failures, ==, 1);
  g_assert_cmpfloat_with_epsilon (m.jaccard, (1.0 / 3 + 0.8) / 2, EPS);
  g_assert_cmpfloat_with_epsilon (m.thresholded_jaccard, 0.4, EPS);
  g_assert_cmpfloat_with_epsilon (m.dice, (0.5 + 8.0 / 9) / 2, EPS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/classification", test_classification);
  g_test_add_func ("/metrics/perfect-and-ties", test_perfect_and_ties);
  g_test_add_func ("/metrics/temperature", test_temperature);
  g_test_add_func ("/metrics/segmentation", test_segmentation);
  return g_test_run ();
}
