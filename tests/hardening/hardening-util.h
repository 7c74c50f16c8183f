/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hardening-util.h: helpers shared by the hardening tests (header-only). */
#pragma once

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "derm-engine.h"
#include "derm-error.h"
#include "derm-image.h"


/* A folder name with spaces, both quotes, a comma and non-ASCII letters:
 * every path the tests write goes through one. */
#define ODD_NAME "case folder 'single' \"double\", ünïcødé ✓"

/* A new private folder whose name is ODD_NAME plus a unique suffix.
 * Returns: (transfer full); remove it with hardening_rm_rf (). */
static inline char *
hardening_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp (ODD_NAME " XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
hardening_rm_rf (const char *path)
{
  GStatBuf st;
  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_chmod (path, 0700);
      GDir *d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          hardening_rm_rf (child);
        }
      if (d != NULL)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* A w x h RGB JPEG of noise (so it does not compress: about 2-3 bytes a
 * pixel at quality 95), distinct per @seed. Returns: (transfer full) its path. */
static inline char *
hardening_noise_jpeg (const char *dir, const char *name, int w, int h, guint32 seed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) img = derm_image_new (w, h, 3, &error);
  g_assert_no_error (error);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < (gsize) w * h * 3; i++)
    img->data[i] = (guint8) g_rand_int (rand);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (derm_image_save_jpeg (img, path, 95, &error));
  g_assert_no_error (error);
  return path;
}

/* Files of @dir whose name contains @part (temporary files left behind). */
static inline guint
hardening_count_files (const char *dir, const char *part)
{
  guint n = 0;
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (part == NULL || strstr (name, part) != NULL)
      n++;
  return n;
}

/* In a child: every write past @bytes fails with EFBIG instead of killing
 * the process (SIGXFSZ ignored), as on a full disk. */
static inline void
hardening_limit_file_size (rlim_t bytes)
{
  signal (SIGXFSZ, SIG_IGN);
  struct rlimit rl = { bytes, bytes };
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
}

static inline GBytes *
hardening_read (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  return g_bytes_new_take (g_steal_pointer (&data), len);
}

/* A small U-Net (1 class, base width 4, 32x32) on the CPU.
 * Returns: (transfer full); free with derm_model_free (). */
static inline DermModel *
hardening_tiny_unet (void)
{
  DermModelConfig cfg = { DERM_ARCH_UNET, 1, 4, 32 };
  g_autoptr(GError) error = NULL;
  DermModel *m = derm_model_new (&cfg, "cpu", &error);
  g_assert_no_error (error);
  return m;
}
