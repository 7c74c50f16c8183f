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
