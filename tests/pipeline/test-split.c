/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Split invariants: no lesion on two sides, every class on every side where
 * counts allow, same seed same split, different seed different split. */
#include "config.h"

#include <math.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "derm-split.h"
#include "test-util.h"

/* An in-memory dataset: for class c, lesions[c] lesions of 1..3 images. */
static DermDataset *
synthetic (const guint lesions[DERM_N_CLASSES])
{
  DermDataset *ds = g_new0 (DermDataset, 1);
  ds->samples = g_ptr_array_new ();
  ds->issues = g_ptr_array_new ();
  guint id = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    for (guint l = 0; l < lesions[c]; l++)
      for (guint k = 0; k < 1 + (l * 7 + c) % 3; k++)
        {
          DermSample *s = g_new0 (DermSample, 1);
          s->lesion_id = g_strdup_printf ("HAM_%d_%u", c, l);
          s->image_id = g_strdup_printf ("ISIC_%07u", id++);
          s->label = c;
          g_ptr_array_add (ds->samples, s);
          ds->class_counts[c]++;
        }
  ds->n_lesions = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    ds->n_lesions += lesions[c];
  /* Samples and ids are freed by the test's own free function. */
  return ds;
}

static void
synthetic_free (DermDataset *ds)
{
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      g_free (s->lesion_id);
      g_free (s->image_id);
      g_free (s);
    }
  g_ptr_array_unref (ds->samples);
  g_ptr_array_unref (ds->issues);
  g_free (ds);
}

static void
check_invariants (const DermDataset *ds, const guint8 *a, const DermSplitConfig *cfg)
{
  g_autoptr(GHashTable) side = g_hash_table_new (g_str_hash, g_str_equal);
  guint per[DERM_N_CLASSES][DERM_SPLIT_N_PARTS] = { { 0 } };
  GHashTable *lesions_per_class[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    lesions_per_class[c] = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      g_assert_cmpuint (a[i], <, DERM_SPLIT_N_PARTS);
      gpointer prev;
      if (g_hash_table_lookup_extended (side, s->lesion_id, NULL, &prev))
        g_assert_cmpint (GPOINTER_TO_INT (prev) - 1, ==, a[i]);   /* no lesion crosses */
      else
        {
          g_hash_table_insert (side, s->lesion_id, GINT_TO_POINTER (a[i] + 1));
          per[s->label][a[i]]++;
        }
      g_hash_table_add (lesions_per_class[s->label], s->lesion_id);
    }
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      guint n = g_hash_table_size (lesions_per_class[c]);
      if (n >= 3)
        for (int p = 0; p < DERM_SPLIT_N_PARTS; p++)
          g_assert_cmpuint (per[c][p], >=, 1);
      /* lesion counts within one of the rounded fractions */
      if (n >= 20)
        {
          g_assert_cmpfloat (fabs (per[c][DERM_SPLIT_TEST] - n * cfg->test_fraction), <=, 1.0);
          g_assert_cmpfloat (fabs (per[c][DERM_SPLIT_VAL] - n * cfg->val_fraction), <=, 1.0);
        }
      g_hash_table_unref (lesions_per_class[c]);
    }
}

static void
test_synthetic (void)
{
  const guint lesions[DERM_N_CLASSES] = { 60, 400, 30, 20, 50, 3, 2 };
  DermDataset *ds = synthetic (lesions);
  DermSplitConfig cfg = { 42, 0.15, 0.15 };
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *a = derm_split_assign (ds, &cfg, &error);
  g_assert_no_error (error);
  check_invariants (ds, a, &cfg);

  /* VASC has 2 lesions: one stays for training. */
  guint vasc_train = 0;
  for (guint i = 0; i < ds->samples->len; i++)
    if (((DermSample *) ds->samples->pdata[i])->label == DERM_CLASS_VASC && a[i] == DERM_SPLIT_TRAIN)
      vasc_train++;
  g_assert_cmpuint (vasc_train, >=, 1);

  g_autofree guint8 *same = derm_split_assign (ds, &cfg, &error);
  g_assert_cmpmem (a, ds->samples->len, same, ds->samples->len);

  /* The split depends on content, not on the order of the rows. */
  DermSplitConfig other = { 43, 0.15, 0.15 };
  g_autofree guint8 *b = derm_split_assign (ds, &other, &error);
  g_assert_no_error (error);
  check_invariants (ds, b, &other);
  g_assert_true (memcmp (a, b, ds->samples->len) != 0);

  guint n = ds->samples->len;
  gpointer first = ds->samples->pdata[0];
  ds->samples->pdata[0] = ds->samples->pdata[n - 1];
  ds->samples->pdata[n - 1] = first;
  g_autofree guint8 *shuffled = derm_split_assign (ds, &cfg, &error);
  g_assert_cmpint (shuffled[0], ==, a[n - 1]);
  g_assert_cmpint (shuffled[n - 1], ==, a[0]);
  g_assert_cmpmem (shuffled + 1, n - 2, a + 1, n - 2);

  /* Other fractions */
  DermSplitConfig wide = { 7, 0.3, 0.2 };
  g_autofree guint8 *w = derm_split_assign (ds, &wide, &error);
  check_invariants (ds, w, &wide);

  DermSplitConfig bad = { 1, 0.6, 0.5 };
  g_assert_null (derm_split_assign (ds, &bad, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  synthetic_free (ds);
}

/* Folds of the training split: every training sample in one fold, no lesion
 * in two, each class spread over the folds within one lesion, the same
 * seed the same folds. */
static void
test_folds (void)
{
  const guint lesions[DERM_N_CLASSES] = { 60, 400, 30, 20, 50, 6, 9 };
  DermDataset *ds = synthetic (lesions);
  DermSplitConfig cfg = { 5, 0.15, 0.15 };
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *a = derm_split_assign (ds, &cfg, &error);
  g_assert_no_error (error);
  g_autoptr(GArray) train = derm_split_indices (a, ds->samples->len, DERM_SPLIT_TRAIN);
  const guint k = 5;
  g_autofree guint8 *f = derm_split_folds (ds, (guint *) train->data, train->len, k, 5);
  g_autofree guint8 *again = derm_split_folds (ds, (guint *) train->data, train->len, k, 5);
  g_assert_cmpmem (f, train->len, again, train->len);
  g_autofree guint8 *other = derm_split_folds (ds, (guint *) train->data, train->len, k, 6);
  g_assert_true (memcmp (f, other, train->len) != 0);

  g_autoptr(GHashTable) fold_of = g_hash_table_new (g_str_hash, g_str_equal);
  guint lesions_in[DERM_N_CLASSES][5] = { { 0 } };
  guint per_fold[5] = { 0 };
  for (guint i = 0; i < train->len; i++)
    {
      DermSample *s = ds->samples->pdata[g_array_index (train, guint, i)];
      g_assert_cmpuint (f[i], <, k);
      gpointer seen;
      if (g_hash_table_lookup_extended (fold_of, s->lesion_id, NULL, &seen))
        g_assert_cmpuint (GPOINTER_TO_UINT (seen), ==, f[i] + 1u);
      else
        {
          g_hash_table_insert (fold_of, s->lesion_id, GUINT_TO_POINTER (f[i] + 1u));
          lesions_in[s->label][f[i]]++;
          per_fold[f[i]]++;
        }
    }
  guint lo = G_MAXUINT, hi = 0;
  for (guint j = 0; j < k; j++)
    {
      lo = MIN (lo, per_fold[j]);
      hi = MAX (hi, per_fold[j]);
    }
  g_assert_cmpuint (hi - lo, <=, 1);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      guint clo = G_MAXUINT, chi = 0;
      for (guint j = 0; j < k; j++)
        {
          clo = MIN (clo, lesions_in[c][j]);
          chi = MAX (chi, lesions_in[c][j]);
        }
      g_assert_cmpuint (chi - clo, <=, 1);
    }
  synthetic_free (ds);
}

static void
test_json (void)
{
  guint8 a[5] = { 0, 0, 1, 2, 2 };
  DermSplitConfig cfg = { 1234567890123ULL, 0.1, 0.2 };
  g_autofree char *json = derm_split_to_json (&cfg, 300, "abcd", a, 5);
  g_assert_nonnull (strstr (json, "\"n_test\":2"));
  DermSplitConfig back;
  guint limit;
  g_autofree char *sha = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_split_from_json (json, &back, &limit, &sha, &error));
  g_assert_cmpuint (back.seed, ==, cfg.seed);
  g_assert_cmpfloat (back.val_fraction, ==, 0.1);
  g_assert_cmpfloat (back.test_fraction, ==, 0.2);
  g_assert_cmpuint (limit, ==, 300);
  g_assert_cmpstr (sha, ==, "abcd");
  g_assert_false (derm_split_from_json ("[1]", &back, NULL, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
}

static void
test_real (void)
{
  const char *dir = real_data_dir ();
  if (dir == NULL)
    {
      g_test_skip ("HAM10000 not present ($DERM_HAM10000)");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_NONE, &error);
  g_assert_no_error (error);
  DermSplitConfig cfg = { 1, 0.15, 0.15 };
  g_autofree guint8 *a = derm_split_assign (ds, &cfg, &error);
  g_assert_no_error (error);
  check_invariants (ds, a, &cfg);

  /* --limit: a stratified choice keeps every class */
  derm_dataset_limit_lesions (ds, 200, 1);
  g_assert_cmpuint (ds->n_lesions, >=, 195);
  g_assert_cmpuint (ds->n_lesions, <=, 205);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_assert_cmpuint (ds->class_counts[c], >=, 1);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_NV], >, ds->class_counts[DERM_CLASS_MEL]);
  g_autofree guint8 *b = derm_split_assign (ds, &cfg, &error);
  check_invariants (ds, b, &cfg);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/split/synthetic", test_synthetic);
  g_test_add_func ("/split/folds", test_folds);
  g_test_add_func ("/split/json", test_json);
  g_test_add_func ("/split/real", test_real);
  return g_test_run ();
}
