/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-decision.c: the decision rule (class offsets for balanced accuracy,
 * the malignant-risk operating point) on generated and hand-made sets. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib.h>

#include "derm-decision.h"
#include "derm-error.h"
#include "derm-metrics.h"

#define K DERM_N_CLASSES

/* HAM10000's class shares (MEL NV BCC AKIEC BKL DF VASC). */
static const double prevalence[K] = { 0.111, 0.669, 0.051, 0.033, 0.110, 0.012, 0.014 };

static double
normal (GRand *rand)
{
  double u = g_rand_double_range (rand, 1e-12, 1.0), v = g_rand_double (rand);
  return sqrt (-2 * log (u)) * cos (2 * G_PI * v);
}

/* @n images of a HAM10000-like imbalanced problem with the Bayes posterior
 * of a model that ranks well (each class's score is shifted up by
 * @separation on its own images): p_c ∝ prior_c exp(separation x_c). The
 * arg-max of such probabilities maximises accuracy and under-predicts the
 * rare classes. */
static void
generate (guint32 seed, int n, double separation, float *probs, int *labels)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  for (int i = 0; i < n; i++)
    {
      double u = g_rand_double (rand), acc = 0;
      int t = K - 1;
      for (int c = 0; c < K; c++)
        {
          acc += prevalence[c];
          if (u < acc)
            {
              t = c;
              break;
            }
        }
      labels[i] = t;
      double z[K], mx = -INFINITY, sum = 0;
      for (int c = 0; c < K; c++)
        {
          double x = normal (rand) + (c == t ? separation : 0);
          z[c] = log (prevalence[c]) + separation * x - separation * separation / 2;
          mx = MAX (mx, z[c]);
        }
      for (int c = 0; c < K; c++)
        sum += exp (z[c] - mx);
      for (int c = 0; c < K; c++)
        probs[(gsize) i * K + c] = (float) (exp (z[c] - mx) / sum);
    }
}

static void
test_predict (void)
{
  const float p[4] = { 0.2f, 0.4f, 0.4f, 0.0f };
  /* The arg-max; the first class wins a tie. */
  g_assert_cmpint (derm_decision_predict (p, 4, NULL), ==, 1);
  const double zero[4] = { 0, 0, 0, 0 };
  g_assert_cmpint (derm_decision_predict (p, 4, zero), ==, 1);
  /* log 0.2 + 0.7 > log 0.4 (0.2 e^0.7 = 0.403) */
  const double up0[4] = { 0.7, 0, 0, 0 };
  g_assert_cmpint (derm_decision_predict (p, 4, up0), ==, 0);
  const double up0_less[4] = { 0.69, 0, 0, 0 };
  g_assert_cmpint (derm_decision_predict (p, 4, up0_less), ==, 1);
  const double up2[4] = { 0, 0, 0.01, 0 };
  g_assert_cmpint (derm_decision_predict (p, 4, up2), ==, 2);
  /* A zero probability counts as 1e-12: an offset of 30 (e^30 > 4e11)
   * brings it over 0.4. */
  const double up3[4] = { 0, 0, 0, 30 };
  g_assert_cmpint (derm_decision_predict (p, 4, up3), ==, 3);
}

static void
test_offsets_raise_balanced_accuracy (void)
{
  const int n = 3000;
  g_autofree float *probs = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n);
  generate (7, n, 1.6, probs, labels);

  DermClassMetrics argmax, ruled;
  derm_class_metrics_compute (probs, labels, n, K, &argmax);
  /* The setting of the issue: a good ranking, poor decisions on rare classes. */

  double offsets[K];
  derm_decision_fit_offsets (probs, labels, n, K, offsets);
  derm_class_metrics_compute_with_offsets (probs, labels, n, K, offsets, &ruled);
  g_test_message ("balanced accuracy %.3f -> %.3f; DF recall %.3f -> %.3f; AKIEC recall "
                  "%.3f -> %.3f; macro AUC %.3f", argmax.balanced_accuracy,
                  ruled.balanced_accuracy, argmax.recall[DERM_CLASS_DF], ruled.recall[DERM_CLASS_DF],
                  argmax.recall[DERM_CLASS_AKIEC], ruled.recall[DERM_CLASS_AKIEC], argmax.macro_auc);
  g_test_message ("offsets MEL %.2f NV %.2f BCC %.2f AKIEC %.2f BKL %.2f DF %.2f VASC %.2f",
                  offsets[0], offsets[1], offsets[2], offsets[3], offsets[4], offsets[5],
                  offsets[6]);
  g_assert_cmpfloat (argmax.macro_auc, >, 0.85);
  g_assert_cmpfloat (argmax.recall[DERM_CLASS_DF], <, 0.3);
  g_assert_cmpfloat (argmax.recall[DERM_CLASS_AKIEC], <, 0.4);
  g_assert_cmpfloat (ruled.balanced_accuracy, >, argmax.balanced_accuracy + 0.1);
  g_assert_cmpfloat (ruled.recall[DERM_CLASS_DF], >, argmax.recall[DERM_CLASS_DF] + 0.2);
  g_assert_cmpfloat (ruled.recall[DERM_CLASS_AKIEC], >, argmax.recall[DERM_CLASS_AKIEC] + 0.2);
  g_assert_cmpfloat_with_epsilon (ruled.balanced_accuracy,
                                  derm_decision_balanced_accuracy (probs, labels, n, K, offsets),
                                  1e-12);

  /* Mean 0, inside the grid's span, the common class pushed down most (the
   * offsets undo the prior). */
  double mean = 0;
  for (int c = 0; c < K; c++)
    {
      mean += offsets[c] / K;
      g_assert_cmpfloat (fabs (offsets[c]), <=, 2 * DERM_DECISION_OFFSET_LIMIT);
      if (c != DERM_CLASS_NV)
        g_assert_cmpfloat (offsets[DERM_CLASS_NV], <, offsets[c]);
    }
  g_assert_cmpfloat (fabs (mean), <, 1e-9);
  /* Differences of offsets stay on the grid. */
  for (int c = 1; c < K; c++)
    {
      double steps = (offsets[c] - offsets[0]) / DERM_DECISION_OFFSET_STEP;
      g_assert_cmpfloat (fabs (steps - round (steps)), <, 1e-6);
    }

  /* Deterministic. */
  double again[K];
  derm_decision_fit_offsets (probs, labels, n, K, again);
  g_assert_cmpmem (offsets, sizeof offsets, again, sizeof again);

  /* What was fitted on one set holds on another from the same source. */
  g_autofree float *probs2 = g_new (float, n * K);
  g_autofree int *labels2 = g_new (int, n);
  generate (8, n, 1.6, probs2, labels2);
  double ba_argmax = derm_decision_balanced_accuracy (probs2, labels2, n, K, NULL);
  double ba_ruled = derm_decision_balanced_accuracy (probs2, labels2, n, K, offsets);
  g_test_message ("held-out balanced accuracy %.3f -> %.3f", ba_argmax, ba_ruled);
  g_assert_cmpfloat (ba_ruled, >, ba_argmax + 0.08);
}

static void
test_offsets_never_lower (void)
{
  /* Already balanced and separable: the arg-max is perfect, the fit must
   * keep every decision. */
  const int n = 70;
  float probs[70 * K];
  int labels[70];
  for (int i = 0; i < n; i++)
    {
      labels[i] = i % K;
      for (int c = 0; c < K; c++)
        probs[i * K + c] = c == labels[i] ? 0.7f : 0.05f;
    }
  double offsets[K];
  derm_decision_fit_offsets (probs, labels, n, K, offsets);
  for (int c = 0; c < K; c++)
    g_assert_cmpfloat (offsets[c], ==, 0);
  g_assert_cmpfloat (derm_decision_balanced_accuracy (probs, labels, n, K, offsets), ==, 1);

  /* No images: offsets 0. */
  derm_decision_fit_offsets (probs, labels, 0, K, offsets);
  for (int c = 0; c < K; c++)
    g_assert_cmpfloat (offsets[c], ==, 0);
}

static void
test_metrics_with_offsets (void)
{
  const int n = 400;
  g_autofree float *probs = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n);
  generate (11, n, 1.4, probs, labels);
  double offsets[K];
  derm_decision_fit_offsets (probs, labels, n, K, offsets);

  DermClassMetrics a, b, r;
  derm_class_metrics_compute (probs, labels, n, K, &a);
  derm_class_metrics_compute_with_offsets (probs, labels, n, K, NULL, &b);
  g_assert_cmpmem (&a, sizeof a, &b, sizeof b);

  derm_class_metrics_compute_with_offsets (probs, labels, n, K, offsets, &r);
  /* Only the decisions differ. */
  g_assert_cmpfloat (r.ece, ==, a.ece);
  g_assert_cmpfloat (r.nll, ==, a.nll);
  g_assert_cmpfloat (r.macro_auc, ==, a.macro_auc);
  int differ = 0, total = 0;
  for (int t = 0; t < K; t++)
    {
      g_assert_cmpint (r.support[t], ==, a.support[t]);
      for (int p = 0; p < K; p++)
        {
          total += r.confusion[t][p];
          differ += r.confusion[t][p] != a.confusion[t][p];
        }
    }
  g_assert_cmpint (total, ==, n);
  g_assert_cmpint (differ, >, 0);
  /* The confusion matrix is that of derm_decision_predict(). */
  int predicted[K] = { 0 };
  for (int i = 0; i < n; i++)
    predicted[derm_decision_predict (probs + i * K, K, offsets)]++;
  for (int c = 0; c < K; c++)
    g_assert_cmpint (predicted[c], ==, r.predicted[c]);
}

/* One image with malignant risk @risk: MEL = risk, NV = 1 - risk. */
static void
set_risk (float *p, double risk)
{
  memset (p, 0, K * sizeof *p);
  p[DERM_CLASS_MEL] = (float) risk;
  p[DERM_CLASS_NV] = (float) (1 - risk);
}

/* Ten malignant lesions (risks .95, .90 .. .50; MEL, BCC and AKIEC truth) and
 * ten benign ones (risks .05, .10 .. .50, then .62 and .58 in place of the
 * last two). */
static void
hand_made (float *probs, int *labels)
{
  static const int malignant[3] = { DERM_CLASS_MEL, DERM_CLASS_BCC, DERM_CLASS_AKIEC };
  static const int benign[4] = { DERM_CLASS_NV, DERM_CLASS_BKL, DERM_CLASS_DF, DERM_CLASS_VASC };
  for (int i = 0; i < 10; i++)
    {
      set_risk (probs + i * K, 0.95 - 0.05 * i);
      labels[i] = malignant[i % 3];
      set_risk (probs + (10 + i) * K, 0.05 + 0.05 * i);
      labels[10 + i] = benign[i % 4];
    }
  set_risk (probs + 18 * K, 0.62);
  set_risk (probs + 19 * K, 0.58);
}

static void
test_operating_point (void)
{
  float probs[20 * K];
  int labels[20];
  hand_made (probs, labels);

  /* 0.9 of 10 malignant: the ninth highest malignant risk is .55; the next
   * risk below, of any image, is .50 (the tenth malignant): threshold .525. */
  double t = derm_decision_fit_risk_threshold (probs, labels, 20, 0.9);
  g_assert_cmpfloat_with_epsilon (t, 0.525, 1e-6);
  double sens, spec;
  derm_decision_risk_rates (probs, labels, 20, t, &sens, &spec);
  g_assert_cmpfloat (sens, ==, 0.9);
  /* benign at or over .525: .62 and .58 -> 8 of 10 below */
  g_assert_cmpfloat (spec, ==, 0.8);
  /* It is the highest threshold that reaches the target: just over the
   * ninth malignant risk loses it. */
  derm_decision_risk_rates (probs, labels, 20, 0.5501, &sens, NULL);
  g_assert_cmpfloat (sens, <, 0.9);

  t = derm_decision_fit_risk_threshold (probs, labels, 20, 0.7);
  derm_decision_risk_rates (probs, labels, 20, t, &sens, &spec);
  g_assert_cmpfloat (sens, ==, 0.7);
  /* the seventh risk is .65, the next below .62 (benign): halfway */
  g_assert_cmpfloat_with_epsilon (t, 0.635, 1e-6);
  g_assert_cmpfloat (spec, ==, 1.0);

  /* All of them: the lowest malignant risk .50, the next below .40. */
  t = derm_decision_fit_risk_threshold (probs, labels, 20, 1.0);
  g_assert_cmpfloat_with_epsilon (t, 0.45, 1e-6);
  derm_decision_risk_rates (probs, labels, 20, t, &sens, &spec);
  g_assert_cmpfloat (sens, ==, 1.0);
  g_assert_cmpfloat (spec, ==, 0.8);

  /* 0.28 * 25 is 7.000000000000001 in binary: seven of 25 lesions reach
   * 0.28, an eighth is not needed. */
  float many[25 * K];
  int many_labels[25];
  for (int i = 0; i < 25; i++)
    {
      set_risk (many + i * K, 0.99 - 0.03 * i);
      many_labels[i] = DERM_CLASS_MEL;
    }
  t = derm_decision_fit_risk_threshold (many, many_labels, 25, 0.28);
  derm_decision_risk_rates (many, many_labels, 25, t, &sens, &spec);
  g_assert_cmpfloat (sens, ==, 7.0 / 25);
  g_assert_true (isnan (spec));

  /* Only benign images: no operating point, no sensitivity. */
  g_assert_true (isnan (derm_decision_fit_risk_threshold (probs + 10 * K, labels + 10, 10, 0.9)));
  derm_decision_risk_rates (probs + 10 * K, labels + 10, 10, 0.5, &sens, &spec);
  g_assert_true (isnan (sens));
  g_assert_cmpfloat (spec, ==, 0.8);
}

static void
test_fit_and_apply (void)
{
  float probs[20 * K];
  int labels[20];
  hand_made (probs, labels);
  DermDecision d;
  derm_decision_fit (probs, labels, 20, DERM_DECISION_TARGET_SENSITIVITY, &d);
  g_assert_cmpfloat_with_epsilon (d.risk_threshold, 0.525, 1e-6);
  g_assert_cmpfloat (d.target_sensitivity, ==, 0.9);
  g_assert_cmpfloat (d.val_sensitivity, ==, 0.9);
  g_assert_cmpfloat (d.val_specificity, ==, 0.8);
  g_assert_true (isnan (d.test_sensitivity) && isnan (d.test_specificity));
  g_assert_cmpfloat (d.val_balanced_accuracy, >=, d.val_argmax_balanced_accuracy);

  /* The flag is risk >= threshold. */
  float p[K];
  set_risk (p, 0.53);
  g_assert_true (derm_decision_is_malignant (&d, p));
  set_risk (p, 0.52);
  g_assert_false (derm_decision_is_malignant (&d, p));
  DermDecision none = d;
  none.risk_threshold = NAN;
  set_risk (p, 0.99);
  g_assert_false (derm_decision_is_malignant (&none, p));

  /* On the test images (here the first ten and five benign). */
  derm_decision_set_test (&d, probs, labels, 15);
  g_assert_cmpfloat (d.test_sensitivity, ==, 0.9);
  g_assert_cmpfloat (d.test_specificity, ==, 1.0);
}

static void
test_json (void)
{
  DermDecision d = { { 0.5, -1.25, 0.75, 1.0, -0.5, 0.25, -0.75 }, 0.183, 0.9, 0.91, 0.7,
                     NAN, 0.65, 0.58, 0.66 };
  g_autofree char *json = derm_decision_to_json (&d);
  g_assert_nonnull (strstr (json, "\"class_offsets\":{\"MEL\":0.5,"));
  g_assert_nonnull (strstr (json, "\"test_sensitivity\":null"));
  DermDecision back;
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_decision_from_json (json, &back, &error));
  g_assert_no_error (error);
  for (int c = 0; c < K; c++)
    g_assert_cmpfloat (back.class_offsets[c], ==, d.class_offsets[c]);
  g_assert_cmpfloat (back.risk_threshold, ==, 0.183);
  g_assert_cmpfloat (back.val_specificity, ==, 0.7);
  g_assert_true (isnan (back.test_sensitivity));
  g_assert_cmpfloat (back.test_specificity, ==, 0.65);

  /* Offsets that are integers in the JSON, and no operating point. */
  g_assert_true (derm_decision_from_json ("{\"class_offsets\":{\"MEL\":1,\"NV\":-1,\"BCC\":0,"
                                          "\"AKIEC\":0,\"BKL\":0,\"DF\":0,\"VASC\":0},"
                                          "\"risk_threshold\":null}", &back, &error));
  g_assert_cmpfloat (back.class_offsets[DERM_CLASS_MEL], ==, 1);
  g_assert_true (isnan (back.risk_threshold) && isnan (back.target_sensitivity));

  static const struct {
    const char *json;
    const char *names;
  } bad[] = {
    { "not json", "JSON object" },
    { "[1, 2]", "JSON object" },
    { "{\"risk_threshold\":0.2}", "\"class_offsets\"" },
    { "{\"class_offsets\":{\"MEL\":0,\"NV\":0,\"AKIEC\":0,\"BKL\":0,\"DF\":0,\"VASC\":0}}",
      "\"BCC\"" },
    { "{\"class_offsets\":{\"MEL\":\"x\",\"NV\":0,\"BCC\":0,\"AKIEC\":0,\"BKL\":0,\"DF\":0,"
      "\"VASC\":0}}", "\"MEL\"" },
    { "{\"class_offsets\":{\"MEL\":0,\"NV\":0,\"BCC\":0,\"AKIEC\":0,\"BKL\":0,\"DF\":0,"
      "\"VASC\":0},\"risk_threshold\":1.5}", "\"risk_threshold\"" },
    { "{\"class_offsets\":{\"MEL\":0,\"NV\":0,\"BCC\":0,\"AKIEC\":0,\"BKL\":0,\"DF\":0,"
      "\"VASC\":0},\"val_sensitivity\":[]}", "\"val_sensitivity\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;
      g_assert_false (derm_decision_from_json (bad[i].json, &back, &e));
      g_assert_error (e, DERM_ERROR, DERM_ERROR_FORMAT);
      g_assert_nonnull (strstr (e->message, bad[i].names));
    }
}

/* Cross-fitted shrinkage: a real prior shift keeps its offsets; offsets
 * fitted to noise (labels independent of the probabilities) are dropped. */
static void
test_shrink (void)
{
  const int n = 1500;
  g_autofree float *probs = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n);
  generate (11, n, 1.6, probs, labels);
  double s = derm_decision_cross_fit_shrink (probs, labels, n, K);
  DermDecision d;
  derm_decision_fit (probs, labels, n, 0.9, &d);
  g_test_message ("prior shift: shrink %.2f, validation balanced accuracy %.3f -> %.3f", s,
                  d.val_argmax_balanced_accuracy, d.val_balanced_accuracy);
  g_assert_cmpfloat (s, >=, 0.5);
  g_assert_cmpfloat (d.offset_shrink, ==, s);
  g_assert_cmpfloat (d.val_balanced_accuracy, >, d.val_argmax_balanced_accuracy + 0.05);

  /* Noise: every image gets the same kind of probabilities whatever its
   * label, so no offset can help on held-out images. */
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  for (int i = 0; i < n; i++)
    {
      double sum = 0;
      for (int c = 0; c < K; c++)
        sum += probs[i * K + c] = (float) g_rand_double_range (rand, 0.05, 1.0);
      for (int c = 0; c < K; c++)
        probs[i * K + c] /= sum;
      labels[i] = i % K;
    }
  derm_decision_fit (probs, labels, n, 0.9, &d);
  g_test_message ("noise: shrink %.2f", d.offset_shrink);
  g_assert_cmpfloat (d.offset_shrink, <=, 0.25);
  g_assert_cmpfloat (d.val_balanced_accuracy, >=, d.val_argmax_balanced_accuracy);

  g_autofree char *json = derm_decision_to_json (&d);
  DermDecision back;
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_decision_from_json (json, &back, &error));
  g_assert_cmpfloat (back.offset_shrink, ==, d.offset_shrink);
}

static void
test_describe (void)
{
  DermDecision d;
  memset (&d, 0, sizeof d);
  d.risk_threshold = NAN;
  g_assert_null (derm_decision_describe_operating_point (&d));
  d.risk_threshold = 0.28;
  d.val_sensitivity = 0.93;
  d.val_specificity = 0.55;
  d.test_sensitivity = d.test_specificity = NAN;
  g_autofree char *val = derm_decision_describe_operating_point (&d);
  g_assert_cmpstr (val, ==, "At this threshold the model found 9 in 10 malignant lesions on its "
                            "validation data, and flagged 5 in 10 benign ones.");
  d.test_sensitivity = 0.904;
  d.test_specificity = 0.71;
  g_autofree char *test = derm_decision_describe_operating_point (&d);
  g_assert_cmpstr (test, ==, "At this threshold the model found 9 in 10 malignant lesions on "
                             "held-out data, and flagged 3 in 10 benign ones.");
  d.test_sensitivity = 1.0;
  d.test_specificity = 0.97;   /* 0.03 flagged: not "none" */
  g_autofree char *ends = derm_decision_describe_operating_point (&d);
  g_assert_cmpstr (ends, ==, "At this threshold the model found all malignant lesions on "
                             "held-out data, and flagged fewer than 1 in 10 benign "
                             "ones.");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/decision/predict", test_predict);
  g_test_add_func ("/decision/offsets-raise-balanced-accuracy", test_offsets_raise_balanced_accuracy);
  g_test_add_func ("/decision/offsets-never-lower", test_offsets_never_lower);
  g_test_add_func ("/decision/metrics-with-offsets", test_metrics_with_offsets);
  g_test_add_func ("/decision/operating-point", test_operating_point);
  g_test_add_func ("/decision/fit-and-apply", test_fit_and_apply);
  g_test_add_func ("/decision/json", test_json);
  g_test_add_func ("/decision/describe", test_describe);
  g_test_add_func ("/decision/shrink", test_shrink);
  return g_test_run ();
}
