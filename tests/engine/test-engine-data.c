/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-engine-data.c: the device-resident data path (on $DERM_TEST_DEVICE,
 * default cpu): identity augmentation reproduces the cache, image and mask
 * keep the same geometry, the device draws what the CPU loader draws for the
 * same seeds, bad input is refused, and a ResNet-18 learns discs vs squares
 * from batches gathered and augmented there. */
#include "config.h"

#include "engine-test-util.h"

#define SIZE 64

static DermDeviceCache *
new_cache (DermModel *m, TestShapes *s)
{
  g_autoptr(GError) error = NULL;
  DermDeviceCache *c = derm_device_cache_new (m, s->images, s->labels, s->masks, s->n, SIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (derm_device_cache_get_n (c), ==, (guint) s->n);
  return c;
}

/* No flips, rotations, crop or jitter: the batch is the cached images. */
static void
test_identity (void)
{
  TestShapes *s = test_shapes_new (6, SIZE, 1, FALSE);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 8, SIZE);
  DermDeviceCache *c = new_cache (m, s);
  DermAugmentConfig none = { FALSE, FALSE, 0, 1, 1, 1, 1, 0, 0, 0 };
  const guint idx[] = { 4, 1, 5 };
  gsize px = SIZE * SIZE;
  g_autofree guint8 *img = g_malloc (3 * px * 3);
  g_autofree guint8 *mask = g_malloc (3 * px);
  g_autoptr(GError) error = NULL;
  const DermAugmentConfig *configs[] = { NULL, &none };
  for (int k = 0; k < 2; k++)
    {
      g_assert_true (derm_device_cache_augment (c, idx, 3, configs[k], 9, 0, 0, img, mask, &error));
      g_assert_no_error (error);
      int worst = 0;
      for (int i = 0; i < 3; i++)
        {
          const guint8 *src = s->images + idx[i] * px * 3;
          for (gsize p = 0; p < px * 3; p++)
            worst = MAX (worst, abs ((int) img[i * px * 3 + p] - (int) src[p]));
          g_assert_cmpmem (mask + i * px, px, s->masks + idx[i] * px, px);
        }
      g_assert_cmpint (worst, <=, 1);
    }
  derm_device_cache_free (c);
  derm_model_free (m);
  test_shapes_free (s);
}

/* The shapes are dark on light: after flips, rotations and crops a pixel is
 * dark exactly where the augmented mask marks the lesion, but at the
 * bilinear edge. */
static void
test_aligned (void)
{
  TestShapes *s = test_shapes_new (16, SIZE, 2, FALSE);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 8, SIZE);
  DermDeviceCache *c = new_cache (m, s);
  DermAugmentConfig geo;
  derm_augment_config_default (&geo);
  geo.brightness = geo.contrast = geo.saturation = 0;
  guint idx[16];
  for (int i = 0; i < 16; i++)
    idx[i] = i;
  gsize px = SIZE * SIZE;
  g_autofree guint8 *img = g_malloc (16 * px * 3);
  g_autofree guint8 *mask = g_malloc (16 * px);
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_device_cache_augment (c, idx, 16, &geo, 3, 1, 2, img, mask, &error));
  g_assert_no_error (error);
  gsize agree = 0, changed = 0, lesion = 0;
  for (gsize p = 0; p < 16 * px; p++)
    {
      const guint8 *q = img + p * 3;
      gboolean dark = q[0] + q[1] + q[2] < 3 * 130;
      agree += dark == (mask[p] != 0);
      changed += mask[p] != s->masks[p];
      lesion += mask[p] != 0;
      g_assert_true (mask[p] == 0 || mask[p] == 255);
    }
  g_printerr ("# aligned %.4f, changed %.3f, lesion %.3f\n", (double) agree / (16 * px),
              (double) changed / (16 * px), (double) lesion / (16 * px));
  g_assert_cmpfloat ((double) agree / (16 * px), >, 0.97);
  /* it did move things, and kept lesions in view */
  g_assert_cmpfloat ((double) changed / (16 * px), >, 0.02);
  g_assert_cmpfloat ((double) lesion / (16 * px), >, 0.03);
  derm_device_cache_free (c);
  derm_model_free (m);
  test_shapes_free (s);
}

/* Seeded like the CPU loader, the device makes the CPU's geometry and
 * colours (up to the CPU's 8-bit fixed point), and repeats itself. */
static void
test_matches_cpu (void)
{
  TestShapes *s = test_shapes_new (8, SIZE, 3, FALSE);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 8, SIZE);
  DermDeviceCache *c = new_cache (m, s);
  DermAugmentConfig aug;
  derm_augment_config_default (&aug);
  const guint idx[] = { 7, 2, 2, 5 };
  gsize px = SIZE * SIZE;
  g_autofree guint8 *img = g_malloc (4 * px * 3), *img2 = g_malloc (4 * px * 3);
  g_autofree guint8 *mask = g_malloc (4 * px), *mask2 = g_malloc (4 * px);
  g_autofree guint8 *cpu_img = g_malloc (px * 3), *cpu_mask = g_malloc (px);
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_device_cache_augment (c, idx, 4, &aug, 42, 3, 5, img, mask, &error));
  g_assert_no_error (error);
  g_assert_true (derm_device_cache_augment (c, idx, 4, &aug, 42, 3, 5, img2, mask2, &error));
  g_assert_cmpmem (img, 4 * px * 3, img2, 4 * px * 3);
  g_assert_cmpmem (mask, 4 * px, mask2, 4 * px);
  /* the same entry twice in a batch gets two draws */
  g_assert_true (memcmp (img + px * 3, img + 2 * px * 3, px * 3) != 0);
  g_assert_true (derm_device_cache_augment (c, idx, 4, &aug, 42, 3, 6, img2, mask2, &error));
  g_assert_true (memcmp (img, img2, 4 * px * 3) != 0);

  g_autoptr(GRand) rand = derm_augment_batch_rand (42, 3, 5);
  double diff = 0;
  gsize mask_agree = 0;
  for (int i = 0; i < 4; i++)
    {
      derm_augment (&aug, rand, SIZE, s->images + idx[i] * px * 3, s->masks + idx[i] * px,
                    cpu_img, cpu_mask);
      for (gsize p = 0; p < px * 3; p++)
        diff += abs ((int) cpu_img[p] - (int) img[i * px * 3 + p]);
      for (gsize p = 0; p < px; p++)
        mask_agree += cpu_mask[p] == mask[i * px + p];
    }
  diff /= 4 * px * 3;
  g_printerr ("# device vs CPU: mean |difference| %.3f levels, masks agree %.4f\n", diff,
              (double) mask_agree / (4 * px));
  g_assert_cmpfloat (diff, <, 2.0);
  g_assert_cmpfloat ((double) mask_agree / (4 * px), >, 0.98);
  derm_device_cache_free (c);
  derm_model_free (m);
  test_shapes_free (s);
}

static void
test_refusals (void)
{
  TestShapes *s = test_shapes_new (4, SIZE, 4, FALSE);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 8, SIZE);
  g_autoptr(GError) error = NULL;
  s->labels[2] = 7;
  g_assert_null (derm_device_cache_new (m, s->images, s->labels, NULL, s->n, SIZE, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "Label 2"));
  g_clear_error (&error);
  s->labels[2] = 0;
  DermDeviceCache *c = new_cache (m, s);
  const guint bad[] = { 1, 4 };
  guint8 out[2 * SIZE * SIZE * 3];
  g_assert_false (derm_device_cache_augment (c, bad, 2, NULL, 0, 0, 0, out, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "entry 4"));
  g_clear_error (&error);
  guint8 probs[SIZE * SIZE];
  g_assert_false (derm_model_segment_cached (m, c, bad, 1, probs, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  /* a U-Net trainer refuses a cache without masks */
  DermModel *u = test_new_model (DERM_ARCH_UNET, 1, 8, SIZE);
  DermDeviceCache *uc = derm_device_cache_new (u, s->images, NULL, NULL, s->n, SIZE, &error);
  g_assert_no_error (error);
  DermTrainConfig tc = { 0 };
  tc.loss = DERM_LOSS_BCE_DICE;
  tc.lr = 1e-3;
  DermTrainer *tr = derm_trainer_new (u, &tc, &error);
  g_assert_no_error (error);
  const guint order[] = { 0, 1, 2, 3 };
  g_assert_false (derm_trainer_run_epoch_cached (tr, 0, uc, order, 4, 2, TRUE, 1, NULL, NULL, NULL,
                                                 NULL, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "masks"));
  derm_trainer_free (tr);
  derm_device_cache_free (uc);
  derm_model_free (u);
  derm_device_cache_free (c);
  derm_model_free (m);
  test_shapes_free (s);
}

static void
count_steps (const DermTrainProgress *p, gpointer user_data)
{
  (*(int *) user_data)++;
}

/* Discs vs squares, batches gathered and augmented on the device (flips,
 * 90-degree rotations, jitter); validation from the device cache. */
static void
test_classifier_learns (void)
{
  const int epochs = 4, n = 192, batch = 16;
  TestShapes *train = test_shapes_new (n, SIZE, 5, FALSE);
  TestShapes *test = test_shapes_new (48, SIZE, 6, FALSE);
  derm_engine_manual_seed (11);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 8, SIZE);
  DermDeviceCache *c = new_cache (m, train);
  DermDeviceCache *tc = new_cache (m, test);
  DermAugmentConfig aug;
  derm_augment_config_default (&aug);
  /* the symmetries of discs and squares, and mild jitter: crops and
   * stretches need a longer run than a test affords */
  aug.rotate_degrees = 0;
  aug.scale_min = 1.0;
  aug.aspect_min = aug.aspect_max = 1.0;
  aug.brightness = aug.contrast = aug.saturation = 0.05;

  DermTrainConfig cfg = test_classify_config (epochs * (n / batch));
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &cfg, &error);
  g_assert_no_error (error);
  guint order[192];
  double first = 0, last = 0;
  int steps = 0;
  for (int e = 0; e < epochs; e++)
    {
      /* shuffled, as the CPU loader's DERM_SAMPLING_SHUFFLE */
      for (int i = 0; i < n; i++)
        order[i] = i;
      g_autoptr(GRand) r = g_rand_new_with_seed (100 + e);
      for (int i = n; i > 1; i--)
        {
          int j = g_rand_int_range (r, 0, i);
          guint t = order[i - 1];
          order[i - 1] = order[j];
          order[j] = t;
        }
      double loss = -1;
      g_assert_true (derm_trainer_run_epoch_cached (tr, e, c, order, n, batch, TRUE, 3, &aug,
                                                    count_steps, &steps, NULL, &loss, &error));
      g_assert_no_error (error);
      g_printerr ("# device path, resnet18 epoch %d loss %.4f\n", e, loss);
      if (e == 0)
        first = loss;
      last = loss;
    }
  g_assert_cmpint (steps, ==, epochs * (n / batch));
  g_assert_cmpint (derm_trainer_get_global_step (tr), ==, epochs * (n / batch));
  g_assert_cmpfloat (last, <, first * 0.7);

  guint idx[48];
  for (int i = 0; i < 48; i++)
    idx[i] = i;
  float logits[48 * 2];
  g_assert_true (derm_model_logits_cached (m, tc, idx, 48, logits, &error));
  g_assert_no_error (error);
  int correct = 0;
  for (int i = 0; i < 48; i++)
    correct += (logits[2 * i + 1] > logits[2 * i]) == (test->labels[i] == 1);
  g_printerr ("# device path, held-out accuracy %d/48\n", correct);
  g_assert_cmpint (correct, >=, 48 * 3 / 4);

  /* a cancel before the first step stops the epoch */
  gint cancel = 1;
  g_assert_false (derm_trainer_run_epoch_cached (tr, epochs, c, order, n, batch, TRUE, 3, &aug, NULL,
                                                 NULL, &cancel, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  derm_trainer_free (tr);
  derm_device_cache_free (tc);
  derm_device_cache_free (c);
  derm_model_free (m);
  test_shapes_free (train);
  test_shapes_free (test);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  derm_engine_set_threads (0);
  g_test_add_func ("/engine/data/identity", test_identity);
  g_test_add_func ("/engine/data/aligned", test_aligned);
  g_test_add_func ("/engine/data/matches-cpu", test_matches_cpu);
  g_test_add_func ("/engine/data/refusals", test_refusals);
  g_test_add_func ("/engine/data/classifier-learns", test_classifier_learns);
  return g_test_run ();
}
