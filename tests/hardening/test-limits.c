/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-limits.c: absurd inputs and hostile conditions (issue 9, "Limits"):
 * pixel bombs, CSV lines and fields of absurd length, weight headers that
 * claim gigabytes, paths with spaces, quotes and non-ASCII letters, and a
 * full disk (RLIMIT_FSIZE in a child) while saving a case, a model and a
 * training checkpoint: a clear error, and the previous state intact. */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>

#include "derm-dataset.h"
#include "derm-engine.h"
#include "derm-safetensors.h"
#include "derm-store.h"
#include "hardening-util.h"

/* ---- Pixel budget -------------------------------------------------------- */

/* A JPEG of at most 1 KB whose frame header declares @side x @side pixels. */
static GBytes *
jpeg_declaring (int side)
{
  g_autoptr(DermImage) tiny = derm_image_new (16, 16, 3, NULL);
  for (gsize i = 0; i < 16 * 16 * 3; i++)
    tiny->data[i] = (guint8) (i * 13);
  gsize len = 0;
  guint8 *jpeg = derm_image_encode_jpeg (tiny, 50, &len, NULL);
  g_assert_cmpuint (len, <=, 1024);
  gboolean patched = FALSE;
  for (gsize i = 2; i + 8 < len && !patched; i++)
    if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2))
      {
        jpeg[i + 5] = (guint8) (side >> 8);
        jpeg[i + 6] = (guint8) (side & 0xff);
        jpeg[i + 7] = (guint8) (side >> 8);
        jpeg[i + 8] = (guint8) (side & 0xff);
        patched = TRUE;
      }
  g_assert_true (patched);
  return g_bytes_new_take (jpeg, len);
}

static void
test_pixel_bomb (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autoptr(GBytes) bomb = jpeg_declaring (60000);
  g_autofree char *path = g_build_filename (dir, "bomb 60000².jpg", NULL);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bomb, NULL),
                                      g_bytes_get_size (bomb), NULL));

  /* Loading, full size or DCT-scaled, refuses it by its header. */
  int sizes[][2] = { { 0, 0 }, { 224, 224 }, { 8, 8 } };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DermImage) img = derm_image_load (path, 3, sizes[i][0], sizes[i][1], &error);
      g_assert_null (img);
      g_assert_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE);
      g_assert_nonnull (strstr (error->message, "60000"));
    }

  /* The case store does not take it as a case image: nothing is stored. */
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  gint64 patient = derm_store_ensure_patient (store, "P-1", 1970, DERM_SEX_FEMALE, &error);
  gint64 lesion = derm_store_add_lesion (store, patient, "back", NULL, &error);
  g_assert_no_error (error);
  gint64 id = derm_store_add_image (store, lesion, path, 0, &error);
  g_assert_cmpint (id, ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE);
  g_assert_cmpuint (hardening_count_files (derm_store_get_images_dir (store), NULL), ==, 0);
  hardening_rm_rf (dir);
}

/* Files whose header is fine but which no one can decode: the store's
 * contract is that they are refused and nothing is stored. */
static void
test_unreadable_images_refused (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autoptr(GError) error = NULL;
  g_autofree char *good = hardening_noise_jpeg (dir, "good.jpg", 64, 48, 4);
  g_autoptr(GBytes) jpeg = hardening_read (good);
  gsize jlen = g_bytes_get_size (jpeg);
  const guint8 *jdata = g_bytes_get_data (jpeg, NULL);

  g_autoptr(DermImage) img = derm_image_load (good, 3, 0, 0, &error);
  gsize plen = 0;
  g_autofree guint8 *png = derm_image_encode_png (img, &plen, &error);
  g_assert_no_error (error);
  /* IHDR says 0 x 0 (the CRC no longer matches either). */
  g_autofree guint8 *zero = g_memdup2 (png, plen);
  memset (zero + 16, 0, 8);

  struct { const char *name; const guint8 *data; gsize len; } bad[] = {
    { "truncated.jpg", jdata, jlen / 2 },
    { "header-only.jpg", jdata, MIN (jlen, 700) },
    { "truncated.png", png, plen / 2 },
    { "zero-size.png", zero, plen },
  };
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  gint64 patient = derm_store_ensure_patient (store, "P-2", 1990, DERM_SEX_MALE, &error);
  gint64 lesion = derm_store_add_lesion (store, patient, "face", NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = g_build_filename (dir, bad[i].name, NULL);
      g_assert_true (g_file_set_contents (path, (const char *) bad[i].data, (gssize) bad[i].len, NULL));
      g_autoptr(DermImage) decoded = derm_image_load (path, 3, 0, 0, &error);
      g_assert_null (decoded);
      g_clear_error (&error);
      gint64 id = derm_store_add_image (store, lesion, path, 0, &error);
      g_test_message ("%s: %s", bad[i].name, error ? error->message : "stored");
      g_assert_cmpint (id, ==, 0);
      g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
      g_clear_error (&error);
    }
  g_assert_cmpuint (hardening_count_files (derm_store_get_images_dir (store), NULL), ==, 0);
  hardening_rm_rf (dir);
}

/* ---- CSV of absurd lengths ----------------------------------------------- */

static void
write_small_jpeg (const char *dir, const char *name)
{
  g_free (hardening_noise_jpeg (dir, name, 16, 12, 7));
}

/* A HAM10000 folder whose metadata has two good rows around absurd ones. */
static char *
absurd_dataset (void)
{
  char *dir = hardening_tmpdir ();
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  write_small_jpeg (images, "ISIC_0000001.jpg");
  write_small_jpeg (images, "ISIC_0000002.jpg");
  write_small_jpeg (images, "ISIC_0000003.jpg");   /* the image of the absurd row */

  GString *csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  g_string_append (csv, "HAM_0000001,ISIC_0000001,nv,histo,40,male,back\n");       /* line 2 */
  /* line 3: a 1 MiB lesion_id */
  g_string_append (csv, "HAM_");
  for (int i = 0; i < 1 << 20; i++)
    g_string_append_c (csv, 'x');
  g_string_append (csv, ",ISIC_0000003,nv,histo,40,male,back\n");
  /* line 4: 200 KB without a comma or a newline's help */
  for (int i = 0; i < 200 * 1000; i++)
    g_string_append_c (csv, "abc"[i % 3]);
  g_string_append_c (csv, '\n');
  /* line 5: 10000 empty fields */
  for (int i = 0; i < 10000; i++)
    g_string_append_c (csv, ',');
  g_string_append_c (csv, '\n');
  /* line 6: a quote opened in a 300 KB field that closes later */
  g_string_append (csv, "HAM_0000009,\"");
  for (int i = 0; i < 300 * 1000; i++)
    g_string_append_c (csv, 'q');
  g_string_append (csv, "\",nv,histo,40,male,back\n");
  g_string_append (csv, "HAM_0000002,ISIC_0000002,mel,histo,60,female,face\n");   /* line 7 */
  g_autofree char *path = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_assert_true (g_file_set_contents (path, csv->str, (gssize) csv->len, NULL));
  g_string_free (csv, TRUE);
  return dir;
}

static void
test_csv_absurd_dataset (void)
{
  g_autofree char *dir = absurd_dataset ();
  g_autoptr(GError) error = NULL;

  /* Strict: refused, naming the bad lines. */
  g_autoptr(DermDataset) strict = derm_dataset_load (dir, DERM_DATASET_NONE, &error);
  g_assert_null (strict);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 3"));
  g_assert_cmpuint (strlen (error->message), <, 8192);   /* not the 1 MiB field */
  g_clear_error (&error);

  /* Lenient: the two good rows, with their true line numbers. */
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_LENIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->samples->len, ==, 2);
  DermSample *a = ds->samples->pdata[0], *b = ds->samples->pdata[1];
  g_assert_cmpstr (a->image_id, ==, "ISIC_0000001");
  g_assert_cmpint (a->line, ==, 2);
  g_assert_cmpstr (b->image_id, ==, "ISIC_0000002");
  g_assert_cmpint (b->line, ==, 7);
  g_assert_cmpuint (ds->n_skipped, ==, 4);
  g_autofree char *report = derm_dataset_report (ds, 0);
  g_assert_cmpuint (strlen (report), <, 8192);
  hardening_rm_rf (dir);
}

static void
test_csv_too_big (void)
{
  /* A metadata file over the limit (sparse: no disk used) is refused by its
   * size, before anything is read. */
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "lesion_id,image_id,dx\n", 22), ==, 22);
  g_assert_cmpint (ftruncate (fd, (off_t) DERM_DATASET_MAX_CSV_BYTES + 4096), ==, 0);
  close (fd);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermDataset) ds = derm_dataset_load (dir, DERM_DATASET_LENIENT, &error);
  g_assert_null (ds);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE);
  hardening_rm_rf (dir);
}

static void
test_csv_too_big_import (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, (off_t) DERM_DATASET_MAX_CSV_BYTES + 4096), ==, 0);
  close (fd);
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_store_import_ham10000 (store, dir, 0, NULL, NULL, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE);
  hardening_rm_rf (dir);
}

static void
test_csv_absurd_import (void)
{
  g_autofree char *dir = absurd_dataset ();
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  /* The first bad row stops the import with a readable error: the good row
   * before it (its own batch) stays, nothing of the bad rows is stored. */
  gint64 n = derm_store_import_ham10000 (store, dir, 1, NULL, NULL, &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 3"));
  g_assert_nonnull (strstr (error->message, "longer than"));
  g_assert_cmpuint (strlen (error->message), <, 8192);
  g_clear_error (&error);
  DermCaseQuery q;
  derm_case_query_init (&q);
  gint64 total = 0;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &q, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpint (total, ==, 1);
  g_assert_cmpuint (cases->len, ==, 1);
  g_assert_true (derm_store_check_integrity (store, &error));
  g_assert_cmpint (derm_store_remove_orphan_images (store, &error), ==, 0);
  hardening_rm_rf (dir);
}

/* ---- Weight headers claiming gigabytes ------------------------------------ */

static char *
write_weights (const char *dir, const char *name, guint64 header_len, const char *header,
               gsize data_len, gsize sparse_size)
{
  char *path = g_build_filename (dir, name, NULL);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  guint8 len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (guint8) (header_len >> (8 * i));
  g_assert_cmpint (write (fd, len, 8), ==, 8);
  g_assert_cmpint (write (fd, header, strlen (header)), ==, (gssize) strlen (header));
  g_autofree guint8 *zeros = g_malloc0 (data_len + 1);
  g_assert_cmpint (write (fd, zeros, data_len), ==, (gssize) data_len);
  if (sparse_size > 0)
    g_assert_cmpint (ftruncate (fd, (off_t) sparse_size), ==, 0);
  close (fd);
  return path;
}

static void
assert_weights_refused (const char *path, int code, const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, DERM_ERROR, code);
  g_assert_nonnull (strstr (error->message, words));
  g_clear_error (&error);
  /* The engine says the same through its model loader. */
  g_autoptr(DermModel) m = NULL;
  m = derm_model_load (path, "cpu", &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_assert_true (error->domain == DERM_ERROR);
}

static void
test_weights_gigabytes (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  const char *one = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";

  /* The length field claims 4 GiB in a 100-byte file. */
  g_autofree char *a = write_weights (dir, "claims 4 GiB.safetensors", (guint64) 4 << 30, one, 4, 0);
  assert_weights_refused (a, DERM_ERROR_FORMAT, "truncated");

  /* The length field claims 2^64-1. */
  g_autofree char *b = write_weights (dir, "claims 2^64.safetensors", G_MAXUINT64, one, 4, 0);
  assert_weights_refused (b, DERM_ERROR_FORMAT, "truncated");

  /* A 200 MiB header in a (sparse) 201 MiB file: over the header limit. */
  g_autofree char *c = write_weights (dir, "200 MiB header.safetensors", (guint64) 200 << 20, one, 0,
                                      (gsize) 201 << 20);
  assert_weights_refused (c, DERM_ERROR_TOO_LARGE, "100 MiB");

  /* A tensor whose shape claims 4e9 x 4e9 x 4 bytes, and one whose offsets
   * claim 8 GB, in a file of a few bytes. */
  g_autofree char *d = write_weights (dir, "huge shape.safetensors",
    strlen ("{\"w\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000],\"data_offsets\":[0,4]}}"),
    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000],\"data_offsets\":[0,4]}}", 4, 0);
  assert_weights_refused (d, DERM_ERROR_FORMAT, "larger than the file");
  g_autofree char *e = write_weights (dir, "huge offsets.safetensors",
    strlen ("{\"w\":{\"dtype\":\"U8\",\"shape\":[8000000000],\"data_offsets\":[0,8000000000]}}"),
    "{\"w\":{\"dtype\":\"U8\",\"shape\":[8000000000],\"data_offsets\":[0,8000000000]}}", 4, 0);
  assert_weights_refused (e, DERM_ERROR_FORMAT, "w");

  /* Well-formed files whose metadata describes a model of gigabytes (a U-Net
   * of base width 512: 3.6 GB; a ResNet-50 head of 100000 classes) that they
   * do not hold: refused before the model is built. */
  struct rusage before, after;
  getrusage (RUSAGE_SELF, &before);
  const char *claims[] = {
    "{\"__metadata__\":{\"format\":\"dermalens/1\",\"architecture\":\"unet\",\"unet_base\":\"512\"},"
    "\"outc.weight\":{\"dtype\":\"F32\",\"shape\":[1,512,1,1],\"data_offsets\":[0,2048]},"
    "\"pad\":{\"dtype\":\"U8\",\"shape\":[97952],\"data_offsets\":[2048,100000]}}",
    "{\"__metadata__\":{\"format\":\"dermalens/1\",\"architecture\":\"resnet50\"},"
    "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[100000,0],\"data_offsets\":[0,0]},"
    "\"pad\":{\"dtype\":\"U8\",\"shape\":[100000],\"data_offsets\":[0,100000]}}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (claims); i++)
    {
      g_autofree char *name = g_strdup_printf ("claims a big model %u.safetensors", i);
      g_autofree char *f = write_weights (dir, name, strlen (claims[i]), claims[i], 100000, 0);
      g_autoptr(GError) error = NULL;
      g_autoptr(DermModel) m = derm_model_load (f, "cpu", &error);
      g_assert_null (m);
      g_assert_error (error, DERM_ERROR, DERM_ERROR_MISMATCH);
      g_test_message ("%s", error->message);
    }
  getrusage (RUSAGE_SELF, &after);
  /* No model of gigabytes was built on the way (ru_maxrss is in KiB). */
  g_assert_cmpint (after.ru_maxrss - before.ru_maxrss, <, 512 * 1024);
  hardening_rm_rf (dir);
}

/* ---- Paths with spaces, quotes and non-ASCII ----------------------------- */

static void
test_odd_paths (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autoptr(GError) error = NULL;

  /* Images. */
  g_autofree char *jpg = hardening_noise_jpeg (dir, "lésion \"1\" 'a'.jpg", 40, 30, 1);
  int w = 0, h = 0;
  DermImageFormat fmt;
  g_assert_true (derm_image_probe (jpg, &w, &h, &fmt, &error));
  g_assert_cmpint (w, ==, 40);
  g_autoptr(DermImage) img = derm_image_load (jpg, 3, 0, 0, &error);
  g_assert_no_error (error);
  g_autofree char *png = g_build_filename (dir, "masque ✓ \"x\".png", NULL);
  g_assert_true (derm_image_save_png (img, png, &error));
  g_autoptr(DermImage) back = derm_image_load (png, 3, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back->data, 40 * 30 * 3, img->data, 40 * 30 * 3);

  /* A model file. */
  g_autoptr(DermModel) m = hardening_tiny_unet ();
  g_autofree char *weights = g_build_filename (dir, "modèle 'v1' \"best\".safetensors", NULL);
  g_assert_true (derm_model_save (m, weights, &error));
  g_assert_no_error (error);
  g_autoptr(DermModel) m2 = derm_model_load (weights, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_model_count_parameters (m2), ==, derm_model_count_parameters (m));

  /* The case store, its exports and an import of the export. */
  g_autofree char *db = g_build_filename (dir, "données \"cas\"", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  gint64 patient = derm_store_ensure_patient (store, "Ünïcødé \"P\" 'q', 1", 1980,
                                              DERM_SEX_MALE, &error);
  gint64 lesion = derm_store_add_lesion (store, patient, "back", "naevus, \"left\" 'shoulder'", &error);
  gint64 image = derm_store_add_image (store, lesion, jpg, 0, &error);
  g_assert_no_error (error);
  DermAnnotation ann = { .image_id = image, .diagnosis = DERM_CLASS_NV,
                         .dx_type = DERM_DX_TYPE_HISTO, .notes = (char *) "ok, \"benign\"" };
  g_assert_cmpint (derm_store_add_annotation (store, &ann, &error), >, 0);
  g_autoptr(DermCase) c = derm_store_get_case (store, image, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->image->original_name, ==, "lésion \"1\" 'a'.jpg");
  g_assert_true (g_file_test (c->image->path, G_FILE_TEST_IS_REGULAR));

  DermCaseQuery q;
  derm_case_query_init (&q);
  g_autofree char *csv = g_build_filename (dir, "export \"all\" ✓.csv", NULL);
  g_assert_cmpint (derm_store_export_csv (store, &q, csv, &error), ==, 1);
  g_assert_no_error (error);
  g_autofree char *ham = g_build_filename (dir, "export 'ham' ü", NULL);
  g_assert_cmpint (derm_store_export_ham10000 (store, &q, ham, &error), ==, 1);
  g_assert_no_error (error);

  /* The export reads back as a dataset and imports into another store. */
  g_autoptr(DermDataset) ds = derm_dataset_load (ham, DERM_DATASET_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->samples->len, ==, 1);
  g_autofree char *db2 = g_build_filename (dir, "second \"store\".db", NULL);
  g_autoptr(DermStore) store2 = derm_store_open (db2, &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_store_import_ham10000 (store2, ham, 0, NULL, NULL, &error), ==, 1);
  g_assert_no_error (error);
  hardening_rm_rf (dir);
}

/* ---- A full disk ----------------------------------------------------------- */

static char *self_exe;

/* Runs this test binary again as a child: `--child MODE DIR`; returns its
 * stdout and asserts it exited 0. */
static char *
run_child (const char *mode, const char *dir)
{
  const char *argv[] = { self_exe, "--child", mode, dir, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_test_message ("child %s: %s%s", mode, out, err);
  g_assert_true (g_spawn_check_wait_status (status, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&out);
}

/* Child: with writes limited to 32 KiB, try to add a 200 KB image as a
 * case; print the error. */
static int
child_full_disk_case (const char *dir)
{
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_autoptr(DermPatient) p = derm_store_find_patient (store, "P-1", &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) lesions = derm_store_list_lesions (store, p->id, &error);
  g_assert_cmpuint (lesions->len, ==, 1);
  gint64 lesion = ((DermLesion *) lesions->pdata[0])->id;
  g_autofree char *big = g_build_filename (dir, "big.jpg", NULL);
  g_autofree char *small = g_build_filename (dir, "small.jpg", NULL);

  hardening_limit_file_size (32 * 1024);
  /* The copy of the image itself cannot be written. */
  gint64 id = derm_store_add_image (store, lesion, big, 0, &error);
  g_assert_cmpint (id, ==, 0);
  g_assert_nonnull (error);
  g_print ("error1 %d %s\n", error->code, error->message);
  g_clear_error (&error);
  /* A small image's copy fits, the database's journal (4 KiB pages) does not. */
  GStatBuf st;
  g_assert_cmpint (g_stat (small, &st), ==, 0);
  g_assert_cmpint (st.st_size, <, 3000);
  hardening_limit_file_size ((rlim_t) st.st_size + 16);
  id = derm_store_add_image (store, lesion, small, 0, &error);
  g_print ("%s %d %s\n", id == 0 ? "error2" : "stored2", error ? error->code : 0,
           error ? error->message : "");
  return 0;
}

static void
test_full_disk_case (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  g_autofree char *first = hardening_noise_jpeg (dir, "first.jpg", 20, 20, 1);
  g_free (hardening_noise_jpeg (dir, "big.jpg", 300, 200, 2));
  g_free (hardening_noise_jpeg (dir, "small.jpg", 8, 8, 3));
  gint64 first_id;
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(DermStore) store = derm_store_open (db, &error);
    gint64 patient = derm_store_ensure_patient (store, "P-1", 1970, DERM_SEX_FEMALE, &error);
    gint64 lesion = derm_store_add_lesion (store, patient, "back", NULL, &error);
    first_id = derm_store_add_image (store, lesion, first, 0, &error);
    g_assert_no_error (error);
  }

  g_autofree char *out = run_child ("full-disk-case", dir);
  g_assert_true (g_str_has_prefix (out, "error1 "));
  /* The database could not be written: the small case failed cleanly. */
  g_assert_nonnull (strstr (out, "error2 "));

  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_check_integrity (store, &error));
  DermCaseQuery q;
  derm_case_query_init (&q);
  gint64 total = 0;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &q, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpint (total, ==, 1);
  for (guint i = 0; i < cases->len; i++)
    {
      DermCase *c = cases->pdata[i];
      g_assert_true (g_file_test (c->image->path, G_FILE_TEST_IS_REGULAR));
    }
  g_autoptr(DermCase) c = derm_store_get_case (store, first_id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (c->image->id, ==, first_id);
  /* No temporary or unreferenced file is left in images/. */
  const char *images = derm_store_get_images_dir (store);
  g_assert_cmpuint (hardening_count_files (images, NULL), ==, (guint) total);
  hardening_rm_rf (dir);
}

/* Child: with writes limited to half the model's size, save over it. */
static int
child_full_disk_model (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "modèle \"actif\".safetensors", NULL);
  g_autoptr(DermModel) m = hardening_tiny_unet ();
  derm_model_set_metadata (m, "version", "2");
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  hardening_limit_file_size ((rlim_t) st.st_size / 2);
  g_autoptr(GError) error = NULL;
  gboolean ok = derm_model_save (m, path, &error);
  g_print ("%s %s\n", ok ? "saved" : "error", error ? error->message : "");
  return 0;
}

static void
test_full_disk_model (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "modèle \"actif\".safetensors", NULL);
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(DermModel) m = hardening_tiny_unet ();
    derm_model_set_metadata (m, "version", "1");
    g_assert_true (derm_model_save (m, path, &error));
  }
  g_autoptr(GBytes) before = hardening_read (path);

  g_autofree char *out = run_child ("full-disk-model", dir);
  g_assert_true (g_str_has_prefix (out, "error "));
  g_assert_nonnull (strstr (out, "large"));   /* EFBIG: "File too large" */

  g_autoptr(GBytes) after = hardening_read (path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpuint (hardening_count_files (dir, NULL), ==, 1);   /* no temp file */
  g_autoptr(DermModel) m = derm_model_load (path, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (derm_model_get_metadata (m, "version"), ==, "1");
  hardening_rm_rf (dir);
}

static gboolean
one_batch (gpointer user_data, DermBatch *batch, GError **error)
{
  int *calls = user_data;
  static guint8 images[2 * 32 * 32 * 3], masks[2 * 32 * 32];
  if ((*calls)++ > 0)
    return FALSE;
  for (gsize i = 0; i < sizeof images; i++)
    images[i] = (guint8) (i * 7);
  for (gsize i = 0; i < sizeof masks; i++)
    masks[i] = (i % 32) > 16;
  *batch = (DermBatch) { images, NULL, masks, 2, 32, 32 };
  return TRUE;
}

/* The training settings of the checkpoint tests: a resumed trainer must be
 * configured as the one that saved. */
static DermTrainConfig
tiny_train_config (void)
{
  DermTrainConfig c = { 0 };
  c.optimizer = DERM_OPTIMIZER_ADAMW;
  c.loss = DERM_LOSS_BCE_DICE;
  c.lr = 1e-3;
  c.total_steps = 10;
  c.seed = 1;
  return c;
}

static DermTrainer *
tiny_trainer (DermModel *m)
{
  DermTrainConfig c = tiny_train_config ();
  g_autoptr(GError) error = NULL;
  DermTrainer *t = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  int calls = 0;
  g_assert_true (derm_trainer_run_epoch (t, 0, 1, one_batch, &calls, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  return t;
}

/* Child: train one more step, then save the checkpoint over the old one
 * with writes limited to half its size. */
static int
child_full_disk_checkpoint (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "job \"1\" ü.ckpt", NULL);
  g_autoptr(DermModel) m = hardening_tiny_unet ();
  DermTrainer *t = tiny_trainer (m);
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  hardening_limit_file_size ((rlim_t) st.st_size / 2);
  g_autoptr(GError) error = NULL;
  gboolean ok = derm_trainer_save_checkpoint (t, path, &error);
  g_print ("%s %s\n", ok ? "saved" : "error", error ? error->message : "");
  derm_trainer_free (t);
  return 0;
}

static void
test_full_disk_checkpoint (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "job \"1\" ü.ckpt", NULL);
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(DermModel) m = hardening_tiny_unet ();
    DermTrainer *t = tiny_trainer (m);
    g_assert_true (derm_trainer_save_checkpoint (t, path, &error));
    g_assert_no_error (error);
    derm_trainer_free (t);
  }
  g_autoptr(GBytes) before = hardening_read (path);

  g_autofree char *out = run_child ("full-disk-checkpoint", dir);
  g_assert_true (g_str_has_prefix (out, "error "));

  g_autoptr(GBytes) after = hardening_read (path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpuint (hardening_count_files (dir, NULL), ==, 1);
  /* The old checkpoint still resumes. */
  g_autoptr(DermModel) m = hardening_tiny_unet ();
  DermTrainConfig c = tiny_train_config ();
  DermTrainer *t = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  g_assert_true (derm_trainer_load_checkpoint (t, path, &error));
  g_assert_no_error (error);
  g_assert_cmpint (derm_trainer_get_global_step (t), ==, 1);
  derm_trainer_free (t);
  hardening_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  self_exe = g_canonicalize_filename (argv[0], NULL);
  derm_engine_set_threads (1);
  if (argc == 4 && strcmp (argv[1], "--child") == 0)
    {
      if (strcmp (argv[2], "full-disk-case") == 0)
        return child_full_disk_case (argv[3]);
      if (strcmp (argv[2], "full-disk-model") == 0)
        return child_full_disk_model (argv[3]);
      if (strcmp (argv[2], "full-disk-checkpoint") == 0)
        return child_full_disk_checkpoint (argv[3]);
      return 2;
    }
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hardening/limits/pixel-bomb", test_pixel_bomb);
  g_test_add_func ("/hardening/limits/unreadable-images-refused", test_unreadable_images_refused);
  g_test_add_func ("/hardening/limits/csv-absurd-lengths-dataset", test_csv_absurd_dataset);
  g_test_add_func ("/hardening/limits/csv-too-big", test_csv_too_big);
  g_test_add_func ("/hardening/limits/csv-absurd-lengths-import", test_csv_absurd_import);
  g_test_add_func ("/hardening/limits/csv-too-big-import", test_csv_too_big_import);
  g_test_add_func ("/hardening/limits/weights-claiming-gigabytes", test_weights_gigabytes);
  g_test_add_func ("/hardening/limits/odd-paths", test_odd_paths);
  g_test_add_func ("/hardening/limits/full-disk/case", test_full_disk_case);
  g_test_add_func ("/hardening/limits/full-disk/model", test_full_disk_model);
  g_test_add_func ("/hardening/limits/full-disk/checkpoint", test_full_disk_checkpoint);
  return g_test_run ();
}
