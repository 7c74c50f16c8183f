/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Dataset parsing: the real HAM10000 (when present) and generated CSVs
 * carrying each defect. */
#include "config.h"

#include <math.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "test-util.h"

static const guint8 brown[3] = { 140, 80, 40 }, skin[3] = { 220, 180, 160 };

static void
test_real (void)
{
  const char *dir = real_data_dir ();
  if (dir == NULL)
    {
      g_test_skip ("HAM10000 not present ($DERM_HAM10000)");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->samples->len, ==, 8521);
  g_assert_cmpuint (ds->n_lesions, ==, 6350);
  g_assert_cmpuint (ds->n_masks, ==, 8521);
  g_assert_cmpuint (ds->n_skipped, ==, 0);
  /* akiec 279, bcc 431, bkl 936, df 97, mel 940, nv 5720, vasc 118 */
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_AKIEC], ==, 279);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_BCC], ==, 431);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_BKL], ==, 936);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_DF], ==, 97);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_MEL], ==, 940);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_NV], ==, 5720);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_VASC], ==, 118);
  DermSample *s = ds->samples->pdata[0];
  g_assert_cmpstr (s->image_id, ==, "ISIC_0027419");
  g_assert_cmpstr (s->lesion_id, ==, "HAM_0000118");
  g_assert_cmpint (s->label, ==, DERM_CLASS_BKL);
  g_assert_cmpfloat (s->age, ==, 80.0);
  g_assert_cmpint (s->line, ==, 2);
  g_assert_true (g_file_test (s->image_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_str_has_suffix (s->mask_path, "masks/ISIC_0027419_segmentation.png"));
  g_autofree char *hash = derm_dataset_hash (ds);
  g_assert_cmpuint (strlen (hash), ==, 64);
}

/* A folder with images a..f; CSV supplied by the caller. */
static char *
make_folder (const char *csv)
{
  char *dir = make_temp_dir ();
  const char *ids[] = { "ISIC_A", "ISIC_B", "ISIC_C", "ISIC_D", "ISIC_E", "ISIC_F" };
  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
    write_sample (dir, "images", i == 5 ? NULL : "masks", ids[i], 16, 12, brown, skin);
  write_text (dir, "HAM10000_metadata.csv", csv);
  return dir;
}

static const DermDatasetIssue *
issue_on_line (const DermDataset *ds, int line)
{
  for (guint i = 0; i < ds->issues->len; i++)
    {
      const DermDatasetIssue *issue = ds->issues->pdata[i];
      if (issue->line == line)
        return issue;
    }
  return NULL;
}

static void
test_defects (void)
{
  g_autofree char *long_field = g_strnfill (300, 'x');
  g_autofree char *long_line = g_strnfill (5000, 'y');
  g_autofree char *csv = g_strdup_printf (
    "lesion_id,image_id,dx,dx_type,age,sex,localization\r\n"   /* 1 */
    "HAM_1,ISIC_A,mel,histo,,male,\"back, upper\"\r\n"          /* 2 ok, blank age, quoted comma */
    "HAM_1,ISIC_B,mel,histo,45.0,female,back\r\n"               /* 3 ok */
    "HAM_2,ISIC_C,zzz,histo,45.0,female,back\r\n"               /* 4 unknown dx */
    "HAM_3,ISIC_A,nv,histo,45.0,female,back\r\n"                /* 5 duplicate */
    "HAM_4,ISIC_MISSING,nv,histo,45.0,female,back\r\n"          /* 6 missing image */
    "HAM_5,ISIC_F,nv,histo,45.0,female,back\r\n"                /* 7 missing mask */
    "HAM_6,ISIC_D,nv,histo\r\n"                                 /* 8 too few fields */
    "HAM_7,ISIC_E,bkl,histo,old,female,%s\r\n"                  /* 9 long field */
    "%s\r\n"                                                    /* 10 long line */
    "HAM_8,ISIC_E,bkl,histo,old,female,face\r\n"                /* 11 ok, bad age kept */
    "HAM_9,../etc/passwd,bkl,histo,1,female,face\r\n"           /* 12 not a file name */
    "\r\n"                                                      /* 13 blank */
    "HAM_10,ISIC_D,\"df\",histo,1,female,\"multi\nline\"\n"     /* 14-15 ok */
    "HAM_11,ISIC_C,nv,histo,1,female,\"never closed\n",         /* 16 open quote */
    long_field, long_line);
  g_autofree char *dir = make_folder (csv);

  g_autoptr(GError) error = NULL;
  DermDataset *strict = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS, &error);
  g_assert_null (strict);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 4"));
  g_assert_nonnull (strstr (error->message, "lenient"));
  g_clear_error (&error);

  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_REQUIRE_MASKS
                                                 | DERM_DATASET_LENIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->samples->len, ==, 4);   /* A, B, E (line 11), D (line 14) */
  g_assert_cmpuint (ds->n_lesions, ==, 3);
  g_assert_cmpuint (ds->n_rows, ==, 13);
  g_assert_cmpuint (ds->n_skipped, ==, 9);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_MEL], ==, 2);
  g_assert_cmpuint (ds->class_counts[DERM_CLASS_DF], ==, 1);

  DermSample *a = ds->samples->pdata[0];
  g_assert_true (isnan (a->age));
  g_assert_cmpstr (a->localization, ==, "back, upper");
  DermSample *d = ds->samples->pdata[3];
  g_assert_cmpstr (d->image_id, ==, "ISIC_D");
  g_assert_cmpstr (d->localization, ==, "multi\nline");
  g_assert_cmpint (d->line, ==, 14);

  struct { int line; DermDatasetIssueKind kind; gboolean skipped; } expect[] = {
    { 4, DERM_DATASET_ISSUE_UNKNOWN_DX, TRUE },
    { 5, DERM_DATASET_ISSUE_DUPLICATE_ID, TRUE },
    { 6, DERM_DATASET_ISSUE_MISSING_IMAGE, TRUE },
    { 7, DERM_DATASET_ISSUE_MISSING_MASK, TRUE },
    { 8, DERM_DATASET_ISSUE_MALFORMED, TRUE },
    { 9, DERM_DATASET_ISSUE_MALFORMED, TRUE },
    { 10, DERM_DATASET_ISSUE_MALFORMED, TRUE },
    { 11, DERM_DATASET_ISSUE_BAD_VALUE, FALSE },
    { 12, DERM_DATASET_ISSUE_MALFORMED, TRUE },
    { 16, DERM_DATASET_ISSUE_MALFORMED, TRUE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      const DermDatasetIssue *issue = issue_on_line (ds, expect[i].line);
      g_assert_nonnull (issue);
      g_assert_cmpint (issue->kind, ==, expect[i].kind);
      g_assert_cmpint (issue->skipped, ==, expect[i].skipped);
      g_autofree char *prefix = g_strdup_printf ("line %d: ", expect[i].line);
      g_assert_true (g_str_has_prefix (issue->message, prefix));
    }
  g_assert_nonnull (strstr (issue_on_line (ds, 5)->message, "line 2"));
  g_assert_nonnull (strstr (issue_on_line (ds, 9)->message, "longer than"));
  g_assert_nonnull (strstr (issue_on_line (ds, 16)->message, "never closed"));

  g_autofree char *report = derm_dataset_report (ds, 0);
  g_assert_nonnull (strstr (report, "9 skipped"));
  g_assert_nonnull (strstr (report, "line 6: no image file for ISIC_MISSING"));

  /* Without masks required, a missing mask is noted, not skipped. */
  g_autoptr(DermDataset) cls = derm_dataset_load (dir, DERM_DATASET_LENIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cls->samples->len, ==, 5);
  g_assert_false (issue_on_line (cls, 7)->skipped);
  g_assert_null (((DermSample *) cls->samples->pdata[2])->mask_path);
  rm_rf (dir);
}

static void
test_bad_header (void)
{
  g_autofree char *dir = make_folder ("image,diagnosis\nISIC_A,mel\n");
  g_autoptr(GError) error = NULL;
  DermDataset *ds = derm_dataset_load (dir, DERM_DATASET_LENIENT, &error);
  g_assert_null (ds);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "lesion_id, image_id and dx"));
  g_clear_error (&error);
  rm_rf (dir);

  ds = derm_dataset_load ("/nonexistent/folder", 0, &error);
  g_assert_null (ds);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
}

static void
test_layout_parts (void)
{
  char *dir = make_temp_dir ();
  write_sample (dir, "HAM10000_images_part_1", "HAM10000_segmentations_lesion_tschandl",
                "ISIC_1", 16, 12, brown, skin);
  write_sample (dir, "HAM10000_images_part_2", "HAM10000_segmentations_lesion_tschandl",
                "ISIC_2", 16, 12, brown, skin);
  write_sample (dir, ".", NULL, "ISIC_3", 16, 12, brown, skin);
  write_text (dir, "HAM10000_metadata.csv",
              "\xEF\xBB\xBFlesion_id,image_id,dx,dx_type,age,sex,localization\n"
              "HAM_1,ISIC_1,vasc,histo,10,male,back\n"
              "HAM_2,ISIC_2,AKIEC,histo,10,male,back\n"
              "HAM_3,ISIC_3,bcc,histo,10,male,back");
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->samples->len, ==, 3);
  g_assert_cmpuint (ds->n_masks, ==, 2);
  g_assert_nonnull (strstr (((DermSample *) ds->samples->pdata[1])->image_path, "part_2"));
  g_assert_cmpint (((DermSample *) ds->samples->pdata[1])->label, ==, DERM_CLASS_AKIEC);
  g_assert_nonnull (((DermSample *) ds->samples->pdata[0])->mask_path);

  /* The hash names the content, not the order. */
  g_autofree char *h1 = derm_dataset_hash (ds);
  write_text (dir, "HAM10000_metadata.csv",
              "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
              "HAM_3,ISIC_3,bcc,histo,10,male,back\n"
              "HAM_1,ISIC_1,vasc,histo,10,male,back\n"
              "HAM_2,ISIC_2,akiec,histo,10,male,back\n");
  g_autoptr(DermDataset) ds2 = derm_dataset_load (dir, DERM_DATASET_NONE, &error);
  g_assert_no_error (error);
  g_autofree char *h2 = derm_dataset_hash (ds2);
  g_assert_cmpstr (h1, ==, h2);
  ((DermSample *) ds2->samples->pdata[0])->label = DERM_CLASS_MEL;
  g_autofree char *h3 = derm_dataset_hash (ds2);
  g_assert_cmpstr (h1, !=, h3);
  rm_rf (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/real", test_real);
  g_test_add_func ("/dataset/defects", test_defects);
  g_test_add_func ("/dataset/bad-header", test_bad_header);
  g_test_add_func ("/dataset/layout-parts", test_layout_parts);
  return g_test_run ();
}
