/* SPDX-License-Identifier: GPL-3.0-or-later */
/* engine-test-util.h: helpers shared by the engine tests (header-only). */
#pragma once

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "derm-engine.h"

/* The device the tests run on: $DERM_TEST_DEVICE, else "cpu". */
static inline const char *
test_device (void)
{
  const char *d = g_getenv ("DERM_TEST_DEVICE");
  return d != NULL && *d != '\0' ? d : "cpu";
}

static inline gboolean
test_on_cuda (void)
{
  return g_str_has_prefix (test_device (), "cuda");
}

/* A new model on the test device. Returns: (transfer full). */
static inline DermModel *
test_new_model (DermArch arch, int classes, int base, int size)
{
  g_autoptr(GError) error = NULL;
  DermModelConfig cfg = { arch, classes, base, size };
  DermModel *m = derm_model_new (&cfg, test_device (), &error);
  g_assert_no_error (error);
  return m;
}

/* The classifier training settings the engine tests learn discs vs squares
 * with: AdamW, cross-entropy, a short warmup, mixed precision, seed 7. */
static inline DermTrainConfig
test_classify_config (int total_steps)
{
  DermTrainConfig c = { 0 };
  c.optimizer = DERM_OPTIMIZER_ADAMW;
  c.loss = DERM_LOSS_CROSS_ENTROPY;
  c.lr = 2e-3;
  c.weight_decay = 1e-4;
  c.total_steps = total_steps;
  c.warmup_steps = 2;
  c.grad_clip = 5.0;
  c.seed = 7;
  c.mixed_precision = TRUE;
  return c;
}

/* A new temporary folder; removed by test_rmdir. */
static inline char *
test_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("derm-engine-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
test_rmdir (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  if (d != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *p = g_build_filename (dir, name, NULL);
          g_unlink (p);
        }
      g_dir_close (d);
    }
  g_rmdir (dir);
}

/* Draws a filled shape on a noisy background into @rgb (size x size x 3)
 * and its mask into @mask (may be NULL): shape 0 is a disc, 1 a square, of
 * random position, size and colour. */
static inline void
test_draw_shape (GRand *rand, int size, int shape, guint8 *rgb, guint8 *mask)
{
  int r = g_rand_int_range (rand, size / 6, size / 3);
  int cx = g_rand_int_range (rand, r + 1, size - r - 1);
  int cy = g_rand_int_range (rand, r + 1, size - r - 1);
  guint8 bg[3], fg[3];
  for (int c = 0; c < 3; c++)
    {
      bg[c] = (guint8) g_rand_int_range (rand, 150, 230);
      fg[c] = (guint8) g_rand_int_range (rand, 30, 110);
    }
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        gboolean in;
        if (shape == 0)
          in = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
        else
          in = abs (x - cx) <= r * 8 / 10 && abs (y - cy) <= r * 8 / 10;
        guint8 *p = rgb + ((gsize) y * size + x) * 3;
        for (int c = 0; c < 3; c++)
          {
            int v = (in ? fg[c] : bg[c]) + g_rand_int_range (rand, -12, 13);
            p[c] = (guint8) CLAMP (v, 0, 255);
          }
        if (mask != NULL)
          mask[(gsize) y * size + x] = in ? 255 : 0;
      }
}

/* @n generated images of @size x @size with their masks and labels: label
 * i % 2 (0 a disc, 1 a square), or 0 (discs) for all with @discs_only. It is
 * also a DermBatchFunc source (test_shapes_next_batch): @batch images at a
 * time (16 unless changed), in order. */
typedef struct {
  int n;
  int size;
  guint8 *images;   /* n x size x size x 3 */
  guint8 *masks;    /* n x size x size */
  gint32 *labels;
  int batch;
  int pos;
} TestShapes;

/* Returns: (transfer full); free with test_shapes_free (). */
static inline TestShapes *
test_shapes_new (int n, int size, guint32 seed, gboolean discs_only)
{
  TestShapes *d = g_new0 (TestShapes, 1);
  d->n = n;
  d->batch = 16;
  d->size = size;
  d->images = g_malloc ((gsize) n * size * size * 3);
  d->masks = g_malloc ((gsize) n * size * size);
  d->labels = g_new (gint32, n);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  for (int i = 0; i < n; i++)
    {
      d->labels[i] = discs_only ? 0 : i % 2;
      test_draw_shape (rand, size, d->labels[i], d->images + (gsize) i * size * size * 3,
                       d->masks + (gsize) i * size * size);
    }
  return d;
}

static inline void
test_shapes_free (TestShapes *d)
{
  g_free (d->images);
  g_free (d->masks);
  g_free (d->labels);
  g_free (d);
}

/* The next batch of a TestShapes (@user_data); FALSE, and back to the start,
 * after the last. */
static inline gboolean
test_shapes_next_batch (gpointer user_data, DermBatch *batch, GError **error)
{
  TestShapes *d = user_data;
  if (d->pos >= d->n)
    {
      d->pos = 0;
      return FALSE;
    }
  int m = MIN (d->batch, d->n - d->pos);
  gsize px = (gsize) d->size * d->size;
  batch->images = d->images + d->pos * px * 3;
  batch->masks = d->masks + d->pos * px;
  batch->labels = d->labels + d->pos;
  batch->n = m;
  batch->height = batch->width = d->size;
  d->pos += m;
  return TRUE;
}
