/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-store-import.c: importing a case export (a HAM10000 folder) into the
 * case store. The input is the folder's HAM10000_metadata.csv; the folder
 * holds fixed images and masks, good and bad. Each input gets a fresh store.
 * What is accepted is exported again and that export imported into a second
 * fresh store: both must hold the same cases. */
#include "config.h"

#include <string.h>

#include "derm-error.h"
#include "derm-image.h"
#include "derm-store.h"
#include "fuzz-common.h"

static char *scratch;      /* the folder imported */
static char *csv_path;
static char *work;         /* stores and exports, emptied after each input */

static void
write_image (const char *dir, const char *name, int channels, gboolean png)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) img = derm_image_new (8, 6, channels, &error);
  g_assert (img != NULL);
  for (gsize i = 0; i < (gsize) 8 * 6 * channels; i++)
    img->data[i] = (guint8) (i * 37);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert (png ? derm_image_save_png (img, path, &error)
                : derm_image_save_jpeg (img, path, 90, &error));
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_logging ();
  scratch = fuzz_make_scratch ("derm-fuzz-import");
  work = fuzz_make_scratch ("derm-fuzz-import-work");
  g_autofree char *images = g_build_filename (scratch, "images", NULL);
  g_autofree char *masks = g_build_filename (scratch, "masks", NULL);
  g_assert (g_mkdir (images, 0700) == 0 && g_mkdir (masks, 0700) == 0);
  /* 1..4: good JPEGs; 1, 2: PNG masks; 3: a mask that is no PNG;
   * 5: PNG bytes named .jpg; 6: a truncated JPEG; 7: not an image. */
  for (int i = 1; i <= 4; i++)
    {
      g_autofree char *jpg = g_strdup_printf ("ISIC_000000%d.jpg", i);
      write_image (images, jpg, 3, FALSE);
    }
  write_image (masks, "ISIC_0000001_segmentation.png", 1, TRUE);
  write_image (masks, "ISIC_0000002_segmentation.png", 1, TRUE);
  g_autofree char *bad_mask = g_build_filename (masks, "ISIC_0000003_segmentation.png", NULL);
  fuzz_write_file (bad_mask, "not a png", 9);
  write_image (images, "ISIC_0000005.jpg", 3, TRUE);
  g_autofree char *good = g_build_filename (images, "ISIC_0000001.jpg", NULL);
  g_autofree char *jpeg = NULL;
  gsize jpeg_len = 0;
  g_assert (g_file_get_contents (good, &jpeg, &jpeg_len, NULL));
  g_autofree char *truncated = g_build_filename (images, "ISIC_0000006.jpg", NULL);
  fuzz_write_file (truncated, jpeg, jpeg_len / 2);
  g_autofree char *junk = g_build_filename (images, "ISIC_0000007.jpg", NULL);
  fuzz_write_file (junk, "lesion_id,image_id\n", 19);
  csv_path = g_build_filename (scratch, "HAM10000_metadata.csv", NULL);
  return 0;
}

/* The number of stored cases, all of which must be confirmed. */
static gint64
count_cases (DermStore *store)
{
  g_autoptr(GError) error = NULL;
  DermCaseQuery q;
  derm_case_query_init (&q);
  gint64 total = -1;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &q, &total, &error);
  g_assert (cases != NULL);
  g_assert (total == (gint64) cases->len);
  for (guint i = 0; i < cases->len; i++)
    {
      DermCase *c = cases->pdata[i];
      g_assert (c->annotation != NULL);
      /* Only readable images are stored. */
      g_autoptr(DermImage) img = derm_image_load (c->image->path, 3, 0, 0, &error);
      g_assert (img != NULL && img->width == c->image->width);
    }
  return total;
}

static void
check_integrity (DermStore *store)
{
  g_autoptr(GError) error = NULL;
  g_assert (derm_store_check_integrity (store, &error));
  g_assert (derm_store_remove_orphan_images (store, &error) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_write_file (csv_path, data, size);
  g_autofree char *db1 = g_build_filename (work, "one", NULL);
  g_autofree char *db2 = g_build_filename (work, "two", NULL);
  g_autofree char *exported = g_build_filename (work, "export", NULL);
  g_assert (g_mkdir (db1, 0700) == 0 && g_mkdir (db2, 0700) == 0);

  g_autoptr(GError) error = NULL;
  DermStore *store = derm_store_open (db1, &error);
  g_assert (store != NULL);
  /* Batches of 2: a failing row leaves a committed prefix behind. */
  gint64 n = derm_store_import_ham10000 (store, scratch, 2, NULL, NULL, &error);
  gint64 stored = count_cases (store);
  check_integrity (store);
  if (n < 0)
    {
      g_assert (error != NULL && error->domain == DERM_ERROR && error->message[0]);
      g_assert (stored >= 0);
    }
  else
    {
      g_assert (error == NULL);
      g_assert (stored == n);
      /* A second run adds nothing. */
      g_assert (derm_store_import_ham10000 (store, scratch, 0, NULL, NULL, &error) == 0);
      g_assert (count_cases (store) == n);
    }
  g_clear_error (&error);

  if (stored > 0)
    {
      DermCaseQuery q;
      derm_case_query_init (&q);
      g_assert (derm_store_export_ham10000 (store, &q, exported, &error) == stored);
      DermStore *again = derm_store_open (db2, &error);
      g_assert (again != NULL);
      g_assert (derm_store_import_ham10000 (again, exported, 0, NULL, NULL, &error) == stored);
      g_assert (count_cases (again) == stored);
      check_integrity (again);
      derm_store_close (again);
    }
  derm_store_close (store);

  fuzz_rm_rf (db1);
  fuzz_rm_rf (db2);
  fuzz_rm_rf (exported);
  return 0;
}
