/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-common.h: what every Dermalens fuzz harness shares.
 *
 * A harness defines LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize); it is
 * linked either with libFuzzer (-Dfuzzing=true, clang) or with replay-main.c,
 * which runs it once over each file given, so the regression inputs and the
 * generated seeds are part of the ordinary test suite. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Criticals and warnings are bugs under fuzzing: make them abort, so the
 * fuzzer records the input. Messages below warning are silenced (speed). */
static inline void
fuzz_setup_logging (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_setenv ("G_MESSAGES_DEBUG", "", TRUE);
}

/* A private scratch folder, in RAM where /dev/shm exists (each input writes
 * files there). Removed by the caller with fuzz_rm_rf () at exit, if at all.
 * Returns: (transfer full). */
static inline char *
fuzz_make_scratch (const char *prefix)
{
  g_autofree char *tmpl = g_strdup_printf ("%s-XXXXXX", prefix);
  if (g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) && g_access ("/dev/shm", W_OK) == 0)
    {
      g_autofree char *path = g_build_filename ("/dev/shm", tmpl, NULL);
      if (g_mkdtemp (path) != NULL)
        return g_steal_pointer (&path);
    }
  char *dir = g_dir_make_tmp (tmpl, NULL);
  g_assert (dir != NULL);
  return dir;
}

/* Writes @len bytes to @path, plainly (no fsync: scratch data). */
static inline void
fuzz_write_file (const char *path, const void *data, size_t len)
{
  FILE *f = g_fopen (path, "wb");
  g_assert (f != NULL);
  g_assert (len == 0 || fwrite (data, 1, len, f) == len);
  g_assert (fclose (f) == 0);
}

/* Removes @path and everything below it (no symlinks are followed). */
static inline void
fuzz_rm_rf (const char *path)
{
  GStatBuf st;
  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          fuzz_rm_rf (child);
        }
      if (d != NULL)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}
