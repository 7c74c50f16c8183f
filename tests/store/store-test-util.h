/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store-test-util.h: helpers shared by the case store's tests. */
#pragma once

#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "derm-error.h"
#include "derm-image.h"
#include "derm-store.h"
#include "derm-store-private.h"

/* The integer in the first column of the one row @sql returns ("SELECT
 * count(*) ...", "PRAGMA user_version"). */
static inline gint64
query_int (DermStore *s, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (s->db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  return v;
}

/* A fresh private directory, removed by tmp_dir_free. */
static inline char *
tmp_dir_new (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("derm-store-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  if (dir)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            rm_rf (child);
          else
            g_unlink (child);
        }
    }
  g_chmod (path, 0700);
  g_rmdir (path);
}

/* Writes a small JPEG whose content depends on @seed (distinct seeds give
 * distinct files). Returns: (transfer full) its path. */
static inline char *
make_jpeg (const char *dir, const char *name, int seed, int w, int h)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) img = derm_image_new (w, h, 3, &error);
  g_assert_no_error (error);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = derm_image_pixel (img, x, y);
        p[0] = (guint8) (x * 7 + seed * 31);
        p[1] = (guint8) (y * 5 + seed * 17);
        p[2] = (guint8) ((x + y) * 3 + seed * 13);
      }
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (derm_image_save_jpeg (img, path, 90, &error));
  g_assert_no_error (error);
  return path;
}

/* A w x h gray mask PNG (a filled rectangle), as bytes. */
static inline GBytes *
make_mask_png (int w, int h, int inset)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) img = derm_image_new (w, h, 1, &error);
  g_assert_no_error (error);
  for (int y = inset; y < h - inset; y++)
    for (int x = inset; x < w - inset; x++)
      *derm_image_pixel (img, x, y) = 255;
  gsize len = 0;
  guint8 *png = derm_image_encode_png (img, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (png, len);
}

static inline guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  if (d)
    while (g_dir_read_name (d))
      n++;
  return n;
}

static inline int
file_mode (const char *path)
{
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 0777;
}

/* Writes a HAM10000-style folder with @n rows (lesions of 1-2 images),
 * images split over HAM10000_images_part_1/_part_2 and masks for even rows. */
static inline void
make_ham_folder (const char *dir, int n)
{
  static const char * const dx[] = { "mel", "nv", "bcc", "akiec", "bkl", "df", "vasc" };
  static const char * const dxt[] = { "histo", "follow_up", "consensus", "confocal" };
  static const char * const sites[] = { "back", "face", "lower extremity", "trunk", "scalp" };
  g_autofree char *p1 = g_build_filename (dir, "HAM10000_images_part_1", NULL);
  g_autofree char *p2 = g_build_filename (dir, "HAM10000_images_part_2", NULL);
  g_autofree char *masks = g_build_filename (dir, "masks", NULL);
  g_mkdir_with_parents (p1, 0700);
  g_mkdir_with_parents (p2, 0700);
  g_mkdir_with_parents (masks, 0700);
  g_autoptr(GString) csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  for (int k = 0; k < n; k++)
    {
      g_autofree char *image_id = g_strdup_printf ("ISIC_%07d", k);
      g_autofree char *name = g_strconcat (image_id, ".jpg", NULL);
      g_autofree char *path = make_jpeg (k % 2 ? p2 : p1, name, k, 24, 18);
      if (k % 2 == 0)
        {
          g_autoptr(GBytes) m = make_mask_png (24, 18, 3);
          g_autofree char *mname = g_strconcat (image_id, "_segmentation.png", NULL);
          g_autofree char *mpath = g_build_filename (masks, mname, NULL);
          g_assert_true (g_file_set_contents (mpath, g_bytes_get_data (m, NULL),
                                              g_bytes_get_size (m), NULL));
        }
      const char *age = k % 5 == 4 ? "" : (k % 2 ? "45.0" : "60");
      g_string_append_printf (csv, "HAM_%07d,%s,%s,%s,%s,%s,%s\n", k / 2, image_id,
                              dx[(k / 2) % 7], dxt[k % 4], age, k % 3 ? "male" : "female",
                              sites[(k / 2) % 5]);
    }
  g_autofree char *meta = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_assert_true (g_file_set_contents (meta, csv->str, csv->len, NULL));
}
