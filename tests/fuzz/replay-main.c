/* SPDX-License-Identifier: GPL-3.0-or-later */
/* replay-main.c: runs a fuzz harness once over each file given, and over
 * every file of each folder given (sorted), without libFuzzer. Used by the
 * test suite to replay the regression inputs and the generated seeds in any
 * build (gcc, sanitizers or not). Prints TAP. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"

static int n_run;

static void
run_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      printf ("not ok %d - %s: %s\n", ++n_run, path, error->message);
      exit (1);
    }
  /* An exact-size copy, so the sanitizers see reads past the end. */
  g_autofree guint8 *copy = g_memdup2 (contents, len);
  LLVMFuzzerTestOneInput (copy, len);
  printf ("ok %d - %s (%" G_GSIZE_FORMAT " bytes)\n", ++n_run, path, len);
  fflush (stdout);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
run_path (const char *path)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      /* An empty regression folder is not in git: nothing to replay. */
      printf ("# %s: absent, skipped\n", path);
      return;
    }
  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      run_file (path);
      return;
    }
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_build_filename (path, name, NULL));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    run_path (names->pdata[i]);
}

int
main (int argc, char **argv)
{
  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    run_path (argv[i]);
  if (n_run == 0)
    {
      printf ("1..0 # SKIP no input files\n");
      return 0;
    }
  printf ("1..%d\n", n_run);
  return 0;
}
