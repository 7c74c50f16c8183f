/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The input pipeline: cache, augmentation geometry, threaded loader. */
#include "config.h"

#include <math.h>

#include "derm-augment.h"
#include "derm-dataset.h"
#include "derm-error.h"
#include "test-util.h"

static const guint8 red[3] = { 230, 20, 20 }, blue[3] = { 20, 20, 230 };

/* 12 images (3 classes x 4 lesions): red lesion on blue skin, masks at 2x. */
static char *
make_dataset (void)
{
  char *dir = make_temp_dir ();
  GString *csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  const char *dx[3] = { "mel", "nv", "bkl" };
  for (int i = 0; i < 12; i++)
    {
      g_autofree char *id = g_strdup_printf ("ISIC_%02d", i);
      write_sample (dir, "images", "masks", id, 60 + i, 45, red, blue);
      g_string_append_printf (csv, "HAM_%02d,%s,%s,histo,50,male,back\n", i, id, dx[i % 3]);
    }
  write_text (dir, "HAM10000_metadata.csv", csv->str);
  g_string_free (csv, TRUE);
  return dir;
}

static DermCache *
make_cache (DermDataset *ds, int size, gboolean sog)
{
  g_autofree guint *idx = g_new (guint, ds->samples->len);
  for (guint i = 0; i < ds->samples->len; i++)
    idx[i] = i;
  DermCacheConfig cfg = { size, TRUE, sog, 2 };
  g_autoptr(GError) error = NULL;
  DermCache *c = derm_cache_new (ds, idx, ds->samples->len, &cfg, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  return c;
}

/* Share of pixels where "image is red" and "mask is lesion" agree. */
static double
agreement (const guint8 *img, const guint8 *mask, int size)
{
  gsize agree = 0, n = (gsize) size * size;
  for (gsize i = 0; i < n; i++)
    agree += (img[i * 3] > img[i * 3 + 2]) == (mask[i] != 0);
  return (double) agree / n;
}

static void
test_cache (void)
{
  g_autofree char *dir = make_dataset ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS, &error);
  g_assert_no_error (error);
  g_autoptr(DermCache) c = make_cache (ds, 32, FALSE);
  g_assert_cmpuint (derm_cache_get_n (c), ==, 12);
  for (guint i = 0; i < 12; i++)
    {
      const guint8 *m = derm_cache_mask (c, i);
      gsize lesion = 0;
      for (int p = 0; p < 32 * 32; p++)
        {
          g_assert_true (m[p] == 0 || m[p] == 255);
          lesion += m[p] != 0;
        }
      g_assert_cmpuint (lesion, >, 32 * 32 / 10);
      g_assert_cmpuint (lesion, <, 32 * 32 / 2);
      /* the 2x mask and the image line up after resizing */
      g_assert_cmpfloat (agreement (derm_cache_image (c, i), m, 32), >, 0.95);
      g_assert_cmpint (derm_cache_label (c, i), ==, ((DermSample *) ds->samples->pdata[i])->label);
      g_assert_cmpuint (derm_cache_sample (c, i), ==, i);
    }
  DermImage view;
  derm_cache_view (c, 3, &view, FALSE);
  g_assert_cmpint (view.width, ==, 32);
  g_assert_true (view.data == derm_cache_image (c, 3));

  /* A corrupt file is an error naming it. */
  g_autofree char *bad = g_build_filename (dir, "images", "ISIC_05.jpg", NULL);
  g_file_set_contents (bad, "not a jpeg", -1, NULL);
  guint idx[2] = { 4, 5 };
  DermCacheConfig cfg = { 32, FALSE, FALSE, 2 };
  DermCache *none = derm_cache_new (ds, idx, 2, &cfg, NULL, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "ISIC_05"));
  rm_rf (dir);
}

static void
test_augment_geometry (void)
{
  g_autofree char *dir = make_dataset ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS, &error);
  g_assert_no_error (error);
  g_autoptr(DermCache) c = make_cache (ds, 48, FALSE);
  const int S = 48;
  g_autofree guint8 *oi = g_malloc (S * S * 3);
  g_autofree guint8 *om = g_malloc (S * S);
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);

  /* Identity settings reproduce the input exactly. */
  DermAugmentConfig id = { 0 };
  id.scale_min = id.scale_max = id.aspect_min = id.aspect_max = 1;
  derm_augment (&id, rand, S, derm_cache_image (c, 0), derm_cache_mask (c, 0), oi, om);
  g_assert_cmpmem (oi, S * S * 3, derm_cache_image (c, 0), S * S * 3);
  g_assert_cmpmem (om, S * S, derm_cache_mask (c, 0), S * S);

  /* Random geometry moves image and mask together; outputs differ. */
  DermAugmentConfig cfg;
  derm_augment_config_default (&cfg);
  cfg.brightness = cfg.contrast = cfg.saturation = 0;
  int changed = 0;
  for (int k = 0; k < 20; k++)
    {
      derm_augment (&cfg, rand, S, derm_cache_image (c, k % 12), derm_cache_mask (c, k % 12), oi, om);
      g_assert_cmpfloat (agreement (oi, om, S), >, 0.93);
      changed += memcmp (om, derm_cache_mask (c, k % 12), S * S) != 0;
    }
  g_assert_cmpint (changed, >=, 15);

  /* Colour jitter keeps the geometry and changes the colours. */
  derm_augment_config_default (&cfg);
  cfg.flips = cfg.rot90 = FALSE;
  cfg.rotate_degrees = 0;
  cfg.scale_min = cfg.scale_max = cfg.aspect_min = cfg.aspect_max = 1;
  cfg.brightness = 0.5;
  derm_augment (&cfg, rand, S, derm_cache_image (c, 0), derm_cache_mask (c, 0), oi, om);
  g_assert_cmpmem (om, S * S, derm_cache_mask (c, 0), S * S);
  g_assert_true (memcmp (oi, derm_cache_image (c, 0), S * S * 3) != 0);
  rm_rf (dir);
}

static void
collect_epoch (DermLoader *l, int epoch, GArray *labels_out, int *n_batches, guint64 *digest)
{
  derm_loader_start_epoch (l, epoch);
  const guint8 *img, *mask;
  const gint32 *lab;
  int n;
  *n_batches = 0;
  *digest = 1469598103934665603ULL;
  while (derm_loader_next (l, &img, &lab, &mask, &n))
    {
      (*n_batches)++;
      for (int i = 0; i < n; i++)
        g_array_append_val (labels_out, lab[i]);
      gsize bytes = (gsize) n * 32 * 32 * 3;
      for (gsize i = 0; i < bytes; i += 7)
        *digest = (*digest ^ img[i]) * 1099511628211ULL;
    }
}

static void
test_loader (void)
{
  g_autofree char *dir = make_dataset ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS, &error);
  g_assert_no_error (error);
  g_autoptr(DermCache) c = make_cache (ds, 32, TRUE);

  DermLoaderConfig cfg = { 0 };
  cfg.batch = 5;
  cfg.sampling = DERM_SAMPLING_SEQUENTIAL;
  cfg.workers = 3;
  cfg.queue = 2;
  cfg.seed = 9;
  derm_augment_config_default (&cfg.augment_config);
  g_autoptr(DermLoader) seq = derm_loader_new (c, NULL, 0, &cfg, &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_loader_batches_per_epoch (seq), ==, 3);
  g_autoptr(GArray) labels = g_array_new (FALSE, FALSE, sizeof (gint32));
  int nb;
  guint64 d1, d2;
  collect_epoch (seq, 0, labels, &nb, &d1);
  g_assert_cmpint (nb, ==, 3);
  g_assert_cmpuint (labels->len, ==, 12);
  for (guint i = 0; i < 12; i++)
    g_assert_cmpint (g_array_index (labels, gint32, i), ==, derm_cache_label (c, i));

  /* Shuffled, augmented, several workers: same seed and epoch, same bytes. */
  cfg.sampling = DERM_SAMPLING_SHUFFLE;
  cfg.augment = TRUE;
  cfg.drop_last = TRUE;
  g_autoptr(DermLoader) a = derm_loader_new (c, NULL, 0, &cfg, &error);
  g_assert_cmpint (derm_loader_batches_per_epoch (a), ==, 2);
  g_array_set_size (labels, 0);
  collect_epoch (a, 1, labels, &nb, &d1);
  g_assert_cmpuint (labels->len, ==, 10);
  /* an unfinished epoch can be abandoned */
  derm_loader_start_epoch (a, 2);
  const guint8 *img, *mask;
  const gint32 *lab;
  int n;
  g_assert_true (derm_loader_next (a, &img, &lab, &mask, &n));
  g_assert_nonnull (mask);
  g_array_set_size (labels, 0);
  collect_epoch (a, 1, labels, &nb, &d2);
  g_assert_cmpuint (d1, ==, d2);
  g_array_set_size (labels, 0);
  collect_epoch (a, 3, labels, &nb, &d2);
  g_assert_cmpuint (d1, !=, d2);

  /* Balanced sampling draws each class about equally; a subset of entries. */
  guint entries[8] = { 0, 1, 3, 4, 6, 7, 9, 10 };   /* 4 mel, 4 nv, 0 bkl */
  cfg.sampling = DERM_SAMPLING_BALANCED;
  cfg.batch = 4;
  g_autoptr(DermLoader) bal = derm_loader_new (c, entries, 8, &cfg, &error);
  int counts[DERM_N_CLASSES] = { 0 };
  for (int e = 0; e < 50; e++)
    {
      g_array_set_size (labels, 0);
      collect_epoch (bal, e, labels, &nb, &d1);
      for (guint i = 0; i < labels->len; i++)
        counts[g_array_index (labels, gint32, i)]++;
    }
  g_assert_cmpint (counts[DERM_CLASS_BKL], ==, 0);
  g_assert_cmpint (counts[DERM_CLASS_MEL] + counts[DERM_CLASS_NV], ==, 400);
  g_assert_cmpint (abs (counts[DERM_CLASS_MEL] - counts[DERM_CLASS_NV]), <, 80);
  rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/augment/cache", test_cache);
  g_test_add_func ("/augment/geometry", test_augment_geometry);
  g_test_add_func ("/augment/loader", test_loader);
  return g_test_run ();
}
