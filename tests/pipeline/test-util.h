/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-util.h: helpers shared by the pipeline tests (header-only). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "derm-image.h"

/* A new temporary folder; g_free() the path, remove it with rm_rf(). */
static inline char *
make_temp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("derm-pipeline-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      if (d != NULL)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static inline void
write_text (const char *dir, const char *name, const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* Writes a w x h JPEG at DIR/SUB/ID.jpg: a disc of @lesion colour on @skin,
 * and (when @mask_sub) its mask at 2x the size as DIR/MASK_SUB/ID_segmentation.png. */
static inline void
write_sample (const char *dir, const char *sub, const char *mask_sub, const char *id,
              int w, int h, const guint8 lesion[3], const guint8 skin[3])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *folder = g_build_filename (dir, sub, NULL);
  g_mkdir_with_parents (folder, 0700);
  g_autoptr(DermImage) img = derm_image_new (w, h, 3, &error);
  g_assert_no_error (error);
  g_autoptr(DermImage) mask = derm_image_new (2 * w, 2 * h, 1, &error);
  g_assert_no_error (error);
  double r = MIN (w, h) * 0.3;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gboolean in = (x - w / 2.0) * (x - w / 2.0) + (y - h / 2.0) * (y - h / 2.0) < r * r;
        memcpy (derm_image_pixel (img, x, y), in ? lesion : skin, 3);
      }
  for (int y = 0; y < 2 * h; y++)
    for (int x = 0; x < 2 * w; x++)
      {
        double fx = (x + 0.5) / 2, fy = (y + 0.5) / 2;
        gboolean in = (fx - w / 2.0) * (fx - w / 2.0) + (fy - h / 2.0) * (fy - h / 2.0) < r * r;
        *derm_image_pixel (mask, x, y) = in ? 255 : 0;
      }
  g_autofree char *name = g_strdup_printf ("%s.jpg", id);
  g_autofree char *path = g_build_filename (folder, name, NULL);
  derm_image_save_jpeg (img, path, 95, &error);
  g_assert_no_error (error);
  if (mask_sub != NULL)
    {
      g_autofree char *mfolder = g_build_filename (dir, mask_sub, NULL);
      g_mkdir_with_parents (mfolder, 0700);
      g_autofree char *mname = g_strdup_printf ("%s_segmentation.png", id);
      g_autofree char *mpath = g_build_filename (mfolder, mname, NULL);
      derm_image_save_png (mask, mpath, &error);
      g_assert_no_error (error);
    }
}

/* The real HAM10000 folder from $DERM_HAM10000, or NULL. */
static inline const char *
real_data_dir (void)
{
  const char *dir = g_getenv ("DERM_HAM10000");
  if (dir == NULL)
    return NULL;
  g_autofree char *csv = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  return g_file_test (csv, G_FILE_TEST_EXISTS) ? dir : NULL;
}
