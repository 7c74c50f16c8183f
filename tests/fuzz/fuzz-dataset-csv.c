/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-dataset-csv.c: the HAM10000 metadata CSV parser and the checks behind
 * derm_dataset_load (), on a scratch folder that holds a few real images and
 * masks, so rows can be accepted as well as refused. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "derm-image.h"
#include "fuzz-common.h"

static char *scratch;
static char *csv_path;

/* Ids that have an image file; the first two also a mask. The ids in the
 * generated seeds are these. */
static const char *const image_ids[] = { "ISIC_0000001", "ISIC_0000002", "ISIC_0000003", "ISIC_0000004" };

static void
write_image (const char *dir, const char *name, int channels, gboolean png)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) img = derm_image_new (8, 8, channels, &error);
  g_assert (img != NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert (png ? derm_image_save_png (img, path, &error)
                : derm_image_save_jpeg (img, path, 90, &error));
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_logging ();
  scratch = fuzz_make_scratch ("derm-fuzz-csv");
  g_autofree char *images = g_build_filename (scratch, "images", NULL);
  g_autofree char *masks = g_build_filename (scratch, "masks", NULL);
  g_assert (g_mkdir (images, 0700) == 0 && g_mkdir (masks, 0700) == 0);
  for (guint i = 0; i < G_N_ELEMENTS (image_ids); i++)
    {
      g_autofree char *jpg = g_strdup_printf ("%s.jpg", image_ids[i]);
      write_image (images, jpg, 3, FALSE);
      if (i < 2)
        {
          g_autofree char *mask = g_strdup_printf ("%s_segmentation.png", image_ids[i]);
          write_image (masks, mask, 1, TRUE);
        }
    }
  csv_path = g_build_filename (scratch, "HAM10000_metadata.csv", NULL);
  return 0;
}

static void
check_dataset (DermDataset *ds, DermDatasetFlags flags)
{
  g_assert (ds->samples->len > 0);
  /* Every row read is either a sample or a skipped row. */
  g_assert (ds->n_rows == ds->samples->len + ds->n_skipped);
  g_assert (ds->n_lesions >= 1 && ds->n_lesions <= ds->samples->len);
  guint sum = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    sum += ds->class_counts[c];
  g_assert (sum == ds->samples->len);
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      g_assert (s->lesion_id[0] != '\0' && s->image_id[0] != '\0');
      g_assert ((int) s->label >= 0 && s->label < DERM_N_CLASSES);
      g_assert (isnan (s->age) || (s->age >= 0 && s->age <= 150));
      g_assert (g_file_test (s->image_path, G_FILE_TEST_IS_REGULAR));
      g_assert (!(flags & DERM_DATASET_REQUIRE_MASKS) || s->mask_path != NULL);
      g_assert (derm_dataset_find (ds, s->image_id) == (int) i);
    }
  g_autofree char *report = derm_dataset_report (ds, 3);
  g_autofree char *hash = derm_dataset_hash (ds);
  g_assert (report != NULL && strlen (hash) == 64);
  derm_dataset_limit_lesions (ds, 1, 42);
  g_assert (ds->samples->len > 0 && ds->n_lesions >= 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_write_file (csv_path, data, size);
  const DermDatasetFlags modes[] = {
    DERM_DATASET_LENIENT,
    DERM_DATASET_NONE | DERM_DATASET_REQUIRE_MASKS,
  };
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      GError *error = NULL;
      DermDataset *ds = derm_dataset_load (scratch, modes[m], &error);
      if (ds == NULL)
        {
          g_assert (error != NULL && error->domain == DERM_ERROR);
          g_assert (error->message[0] != '\0');
          g_error_free (error);
          continue;
        }
      g_assert (error == NULL);
      check_dataset (ds, modes[m]);
      derm_dataset_free (ds);
    }
  return 0;
}
