/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store.c: the case store's operations: visits, analyses, annotations,
 * listing with filters, timeline, deletion, export, import, model registry,
 * and concurrent use from several threads. */
#include "config.h"

#include <math.h>
#include <unistd.h>

#include "derm-store-private.h"
#include "store-test-util.h"

typedef struct {
  char *dir;
  char *src;      /* where test images are written before being added */
  DermStore *store;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = tmp_dir_new ();
  f->src = g_build_filename (f->dir, "src", NULL);
  g_mkdir (f->src, 0700);
  g_autofree char *data_dir = g_build_filename (f->dir, "data", NULL);
  g_mkdir (data_dir, 0700);
  f->store = derm_store_open (data_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  derm_store_close (f->store);
  rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->src);
}

static gint64
add_visit (Fixture *f, const char *patient, const char *site, int seed, gint64 captured,
           gint64 *lesion_out)
{
  g_autoptr(GError) error = NULL;
  gint64 pid = derm_store_ensure_patient (f->store, patient, 1970, DERM_SEX_FEMALE, &error);
  g_assert_no_error (error);
  gint64 lid = lesion_out && *lesion_out ? *lesion_out
               : derm_store_add_lesion (f->store, pid, site, "left shoulder", &error);
  g_assert_no_error (error);
  g_autofree char *name = g_strdup_printf ("img-%d.jpg", seed);
  g_autofree char *path = make_jpeg (f->src, name, seed, 32, 24);
  gint64 iid = derm_store_add_image (f->store, lid, path, captured, &error);
  g_assert_no_error (error);
  g_assert_cmpint (iid, >, 0);
  if (lesion_out)
    *lesion_out = lid;
  return iid;
}

static gint64
add_analysis (Fixture *f, gint64 image, DermClass top, float p_top, GBytes *mask)
{
  g_autoptr(GError) error = NULL;
  DermAnalysis a = { .image_id = image, .predicted = top, .mask_png = mask,
                     .model_info = (char *) "resnet50 v1", .measurements_json = (char *) "{\"area_mm2\": 12.5}" };
  for (int k = 0; k < DERM_N_CLASSES; k++)
    a.probs[k] = (1.f - p_top) / (DERM_N_CLASSES - 1);
  a.probs[top] = p_top;
  gint64 id = derm_store_add_analysis (f->store, &a, &error);
  g_assert_no_error (error);
  return id;
}

static gint64
add_annotation (Fixture *f, gint64 image, DermClass dx, const char *notes, GBytes *mask)
{
  g_autoptr(GError) error = NULL;
  DermAnnotation n = { .image_id = image, .diagnosis = dx, .dx_type = DERM_DX_TYPE_HISTO,
                       .notes = (char *) notes, .mask_png = mask };
  gint64 id = derm_store_add_annotation (f->store, &n, &error);
  g_assert_no_error (error);
  return id;
}

/* A PRAGMA's value: its integer, or for a text value (journal_mode) 1 when
 * it is "wal". */
static int
pragma (DermStore *store, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (store->db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  int v = sqlite3_column_type (st, 0) == SQLITE_TEXT
          ? (g_ascii_strcasecmp ((const char *) sqlite3_column_text (st, 0), "wal") == 0 ? 1 : 0)
          : sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  return v;
}

/* ---- Opening ---------------------------------------------------------- */

static void
test_open_private (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (file_mode (derm_store_get_db_path (f->store)), ==, 0600);
  g_assert_cmpint (file_mode (derm_store_get_images_dir (f->store)), ==, 0700);
  g_assert_cmpint (pragma (f->store, "PRAGMA journal_mode"), ==, 1);
  g_assert_cmpint (pragma (f->store, "PRAGMA foreign_keys"), ==, 1);
  g_assert_cmpint (pragma (f->store, "PRAGMA synchronous"), ==, 1);
  g_assert_cmpint (pragma (f->store, "PRAGMA busy_timeout"), ==, DERM_STORE_BUSY_TIMEOUT_MS);
  /* Larger than SQLite's 2 MiB default (a count of 100,000 cases reads more). */
  g_assert_cmpint (pragma (f->store, "PRAGMA cache_size"), <=, -32768);
  g_assert_cmpint (pragma (f->store, "PRAGMA user_version"), ==, derm_store_schema_version ());
  g_assert_true (g_str_has_suffix (derm_store_get_db_path (f->store), "/data/cases.db"));

  /* A file path puts images/ beside it. */
  g_autoptr(GError) error = NULL;
  g_autofree char *db = g_build_filename (f->dir, "other", "my.db", NULL);
  g_autoptr(DermStore) s = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_autofree char *images = g_build_filename (f->dir, "other", "images", NULL);
  g_assert_cmpstr (derm_store_get_images_dir (s), ==, images);
  g_assert_cmpint (file_mode (db), ==, 0600);
}

static void
test_open_default_dir (void)
{
  /* The default is $XDG_DATA_HOME/dermalens, read in a child with its own
   * environment (g_get_user_data_dir caches the first value it sees). */
  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DermStore) s = derm_store_open (NULL, &error);
      g_assert_no_error (error);
      g_autofree char *expect = g_build_filename (g_getenv ("XDG_DATA_HOME"), "dermalens",
                                                  "cases.db", NULL);
      g_assert_cmpstr (derm_store_get_db_path (s), ==, expect);
      g_assert_true (g_file_test (expect, G_FILE_TEST_IS_REGULAR));
      return;
    }
  g_autofree char *dir = tmp_dir_new ();
  g_autofree char *xdg = g_build_filename (dir, "xdg", NULL);
  g_setenv ("XDG_DATA_HOME", xdg, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_autofree char *dermalens = g_build_filename (xdg, "dermalens", NULL);
  g_assert_cmpint (file_mode (dermalens), ==, 0700);
  rm_rf (dir);
}

/* ---- Visits ----------------------------------------------------------- */

static void
test_add_image_copies_and_dedups (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 lesion = 0;
  gint64 a = add_visit (f, "P-001", "back", 1, 1000, &lesion);
  g_autoptr(DermStoredImage) img = derm_store_get_image (f->store, a, &error);
  g_assert_no_error (error);
  g_assert_cmpint (img->width, ==, 32);
  g_assert_cmpint (img->height, ==, 24);
  g_assert_cmpstr (img->original_name, ==, "img-1.jpg");
  g_assert_cmpint (strlen (img->sha256), ==, 64);
  g_autofree char *base = g_path_get_basename (img->path);
  g_autofree char *expect = g_strconcat (img->sha256, ".jpg", NULL);
  g_assert_cmpstr (base, ==, expect);
  g_assert_cmpint (file_mode (img->path), ==, 0600);

  /* The same bytes again (another lesion) are stored once. */
  g_autofree char *src = g_build_filename (f->src, "img-1.jpg", NULL);
  gint64 pid = derm_store_ensure_patient (f->store, "P-001", 0, DERM_SEX_UNKNOWN, &error);
  gint64 l2 = derm_store_add_lesion (f->store, pid, "face", NULL, &error);
  g_assert_no_error (error);
  gint64 b = derm_store_add_image (f->store, l2, src, 2000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (b, !=, a);
  g_assert_cmpuint (count_files (derm_store_get_images_dir (f->store)), ==, 1);

  /* The case survives the original being deleted. */
  g_assert_cmpint (g_unlink (src), ==, 0);
  g_autoptr(DermImage) pixels = derm_image_load (img->path, 3, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pixels->width, ==, 32);

  /* ensure_patient returns the same patient and leaves it unchanged. */
  g_autoptr(DermPatient) p = derm_store_find_patient (f->store, "P-001", &error);
  g_assert_no_error (error);
  g_assert_cmpint (p->id, ==, pid);
  g_assert_cmpint (p->birth_year, ==, 1970);
  g_assert_cmpint (p->sex, ==, DERM_SEX_FEMALE);
}

static void
test_add_image_refuses_non_images (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 pid = derm_store_ensure_patient (f->store, "P-1", 0, DERM_SEX_UNKNOWN, &error);
  gint64 lid = derm_store_add_lesion (f->store, pid, "chest", NULL, &error);
  g_assert_no_error (error);
  g_autofree char *txt = g_build_filename (f->src, "notes.jpg", NULL);
  g_assert_true (g_file_set_contents (txt, "this is not a picture\n", -1, NULL));
  g_assert_cmpint (derm_store_add_image (f->store, lid, txt, 0, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "notes.jpg"));
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (f->src, "gone.jpg", NULL);
  g_assert_cmpint (derm_store_add_image (f->store, lid, missing, 0, &error), ==, 0);
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* Unknown lesion. */
  g_autofree char *ok = make_jpeg (f->src, "ok.jpg", 3, 8, 8);
  g_assert_cmpint (derm_store_add_image (f->store, 999, ok, 0, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  gint64 total = -1;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (f->store, NULL, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpint (total, ==, 0);
  g_assert_cmpuint (count_files (derm_store_get_images_dir (f->store)), ==, 0);
}

static void
test_vocabulary_checked (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (derm_store_ensure_patient (f->store, "", 0, DERM_SEX_UNKNOWN, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (derm_store_ensure_patient (f->store, "x", 1200, DERM_SEX_UNKNOWN, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  gint64 pid = derm_store_ensure_patient (f->store, "P", 0, DERM_SEX_MALE, &error);
  g_assert_cmpint (derm_store_add_lesion (f->store, pid, "elbow", NULL, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "lower extremity"));
  g_clear_error (&error);
  g_assert_cmpint (derm_store_add_lesion (f->store, pid, "Lower Extremity", NULL, &error), >, 0);
  g_assert_no_error (error);
  g_assert_cmpint (derm_store_add_lesion (f->store, 4242, "back", NULL, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  gint64 iid = add_visit (f, "P", "back", 5, 0, NULL);
  DermAnalysis a = { .image_id = iid, .predicted = 9 };
  g_assert_cmpint (derm_store_add_analysis (f->store, &a, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  a.predicted = DERM_CLASS_NV;
  a.probs[1] = NAN;
  g_assert_cmpint (derm_store_add_analysis (f->store, &a, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  a.probs[1] = 1.f;
  a.mask_png = g_bytes_new_static ("not png", 7);
  g_assert_cmpint (derm_store_add_analysis (f->store, &a, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_clear_error (&error);
  g_bytes_unref (a.mask_png);
  DermAnnotation n = { .image_id = iid, .diagnosis = DERM_CLASS_MEL, .dx_type = 7 };
  g_assert_cmpint (derm_store_add_annotation (f->store, &n, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_cmpint (derm_sex_from_string ("FEMALE"), ==, DERM_SEX_FEMALE);
  g_assert_cmpint (derm_dx_type_from_string ("follow_up"), ==, DERM_DX_TYPE_FOLLOW_UP);
  g_assert_cmpint (derm_dx_type_from_string ("biopsy"), ==, -1);
  g_assert_cmpuint (g_strv_length ((char **) derm_body_sites ()), ==, 15);
}

/* ---- Analyses, annotations, cases ------------------------------------- */

static void
test_analysis_and_annotation (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 iid = add_visit (f, "P-2", "scalp", 2, 0, NULL);
  g_autoptr(GBytes) mask1 = make_mask_png (32, 24, 2);
  g_autoptr(GBytes) mask2 = make_mask_png (32, 24, 6);
  gint64 a1 = add_analysis (f, iid, DERM_CLASS_NV, 0.7f, mask1);
  gint64 a2 = add_analysis (f, iid, DERM_CLASS_MEL, 0.6f, mask2);
  g_assert_cmpint (a2, >, a1);

  g_autoptr(DermCase) c = derm_store_get_case (f->store, iid, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c->analysis);
  g_assert_cmpint (c->analysis->id, ==, a2);   /* the latest one counts */
  g_assert_cmpint (c->analysis->predicted, ==, DERM_CLASS_MEL);
  g_assert_cmpfloat_with_epsilon (c->analysis->probs[DERM_CLASS_MEL], 0.6f, 1e-6);
  /* risk = MEL + BCC + AKIEC */
  g_assert_cmpfloat_with_epsilon (c->analysis->malignant_risk, 0.6 + 2 * 0.4 / 6, 1e-5);
  g_assert_true (g_bytes_equal (c->analysis->mask_png, mask2));
  g_assert_cmpstr (c->analysis->measurements_json, ==, "{\"area_mm2\": 12.5}");
  g_assert_cmpstr (c->analysis->model_info, ==, "resnet50 v1");
  g_assert_cmpuint (c->analyses->len, ==, 2);
  g_assert_true (g_bytes_equal (((DermAnalysis *) c->analyses->pdata[0])->mask_png, mask1));
  g_assert_null (c->annotation);
  g_assert_cmpstr (c->patient->identifier, ==, "P-2");
  g_assert_cmpstr (c->lesion->body_site, ==, "scalp");

  add_annotation (f, iid, DERM_CLASS_BKL, "first look", NULL);
  gint64 n2 = add_annotation (f, iid, DERM_CLASS_MEL, "histology: melanoma in situ", mask1);
  g_autoptr(DermCase) c2 = derm_store_get_case (f->store, iid, &error);
  g_assert_no_error (error);
  g_assert_cmpint (c2->annotation->id, ==, n2);
  g_assert_cmpint (c2->annotation->diagnosis, ==, DERM_CLASS_MEL);
  g_assert_cmpint (c2->annotation->dx_type, ==, DERM_DX_TYPE_HISTO);
  g_assert_true (g_bytes_equal (c2->annotation->mask_png, mask1));

  /* Lists do not load masks. */
  g_autoptr(GPtrArray) list = derm_store_list_cases (f->store, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  DermCase *lc = list->pdata[0];
  g_assert_null (lc->analysis->mask_png);
  g_assert_null (lc->annotation->mask_png);
  g_assert_null (lc->analyses);

  g_assert_null (derm_store_get_case (f->store, 777, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
}

/* Twelve cases over three patients; used by the filter tests. */
typedef struct {
  const char *patient, *site;
  DermClass predicted;
  float p;
  int confirmed;   /* -1 none, else diagnosis */
  const char *notes;
  gint64 captured;
} CaseSpec;

static const CaseSpec specs[] = {
  { "A", "back",  DERM_CLASS_MEL,   0.90f, DERM_CLASS_MEL, "biopsy 50% margin", 100 },
  { "A", "back",  DERM_CLASS_NV,    0.80f, -1, NULL, 200 },
  { "A", "face",  DERM_CLASS_BCC,   0.55f, DERM_CLASS_BCC, "O'Brien's lesion", 300 },
  { "B", "trunk", DERM_CLASS_NV,    0.95f, DERM_CLASS_NV, "50x zoom", 400 },
  { "B", "trunk", DERM_CLASS_BKL,   0.60f, -1, NULL, 500 },
  { "B", "face",  DERM_CLASS_AKIEC, 0.70f, DERM_CLASS_AKIEC, "snake_case_note", 600 },
  { "C", "scalp", DERM_CLASS_NV,    0.50f, DERM_CLASS_NV, "snakeXcaseXnote", 700 },
  { "C", "back",  DERM_CLASS_MEL,   0.40f, DERM_CLASS_NV, "Nävus, ünauffällig", 800 },
  { "C", "back",  DERM_CLASS_DF,    0.99f, -1, NULL, 900 },
  { "C", "neck",  DERM_CLASS_VASC,  0.85f, DERM_CLASS_VASC, "back\\slash", 1000 },
  { "A", "acral", DERM_CLASS_NV,    0.65f, -1, NULL, 1100 },
  { "B", "ear",   DERM_CLASS_MEL,   0.75f, DERM_CLASS_MEL, "\"quoted\" text", 1200 },
};

static void
fill_specs (Fixture *f, gint64 ids[G_N_ELEMENTS (specs)])
{
  for (guint k = 0; k < G_N_ELEMENTS (specs); k++)
    {
      ids[k] = add_visit (f, specs[k].patient, specs[k].site, 100 + k, specs[k].captured, NULL);
      add_analysis (f, ids[k], specs[k].predicted, specs[k].p, NULL);
      if (specs[k].confirmed >= 0)
        add_annotation (f, ids[k], specs[k].confirmed, specs[k].notes, NULL);
    }
}

/* Lists with @q and returns the spec indexes, in order, as a string "3,1,..".
 * The total is always asked for: the count runs other SQL than the page
 * (no joins), so an unpaged list must have exactly that many rows. */
static char *
listed (Fixture *f, const DermCaseQuery *q, gint64 ids[], gint64 *total)
{
  g_autoptr(GError) error = NULL;
  gint64 count = -1;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (f->store, q, &count, &error);
  g_assert_no_error (error);
  if (q->offset == 0 && q->limit == 0)
    g_assert_cmpint (count, ==, cases->len);
  if (total != NULL)
    *total = count;
  GString *s = g_string_new (NULL);
  for (guint k = 0; k < cases->len; k++)
    {
      gint64 id = ((DermCase *) cases->pdata[k])->image->id;
      for (guint j = 0; j < G_N_ELEMENTS (specs); j++)
        if (ids[j] == id)
          g_string_append_printf (s, "%s%u", s->len ? "," : "", j);
    }
  return g_string_free (s, FALSE);
}

#define ASSERT_LISTED(q, expect) G_STMT_START {          \
    g_autofree char *got_ = listed (f, (q), ids, NULL);  \
    g_assert_cmpstr (got_, ==, (expect));                \
  } G_STMT_END

static void
test_list_filters_sort_page (Fixture *f, gconstpointer data)
{
  gint64 ids[G_N_ELEMENTS (specs)];
  fill_specs (f, ids);
  DermCaseQuery q;

  derm_case_query_init (&q);
  ASSERT_LISTED (&q, "11,10,9,8,7,6,5,4,3,2,1,0");
  q.sort = DERM_CASE_SORT_CAPTURED_ASC;
  ASSERT_LISTED (&q, "0,1,2,3,4,5,6,7,8,9,10,11");
  q.sort = DERM_CASE_SORT_RISK_DESC;
  /* risk = p(MEL)+p(BCC)+p(AKIEC): tops at 0.9 (0), 0.75 (11), 0.7 (5), 0.55 (2)... */
  {
    g_autofree char *got = listed (f, &q, ids, NULL);
    g_assert_true (g_str_has_prefix (got, "0,11,5,2"));
  }
  q.sort = DERM_CASE_SORT_PATIENT;
  ASSERT_LISTED (&q, "10,2,1,0,11,5,4,3,9,8,7,6");

  derm_case_query_init (&q);
  q.patient_identifier = "B";
  ASSERT_LISTED (&q, "11,5,4,3");
  g_autoptr(GError) error = NULL;
  g_autoptr(DermPatient) pb = derm_store_find_patient (f->store, "B", &error);
  derm_case_query_init (&q);
  q.patient_id = pb->id;
  ASSERT_LISTED (&q, "11,5,4,3");

  derm_case_query_init (&q);
  q.body_site = "back";
  ASSERT_LISTED (&q, "8,7,1,0");
  derm_case_query_init (&q);
  q.predicted = DERM_CLASS_NV;
  ASSERT_LISTED (&q, "10,6,3,1");
  derm_case_query_init (&q);
  q.diagnosis = DERM_CLASS_NV;
  ASSERT_LISTED (&q, "7,6,3");
  derm_case_query_init (&q);
  q.min_risk = 0.75;   /* case 2 has exactly 0.70 */
  ASSERT_LISTED (&q, "11,5,0");
  derm_case_query_init (&q);
  q.confirmed = DERM_CONFIRMED_YES;
  ASSERT_LISTED (&q, "11,9,7,6,5,3,2,0");
  q.confirmed = DERM_CONFIRMED_NO;
  ASSERT_LISTED (&q, "10,8,4,1");
  derm_case_query_init (&q);
  q.captured_from = 300;
  q.captured_to = 600;
  ASSERT_LISTED (&q, "4,3,2");
  /* Combined, sorted and paged, with the total before paging. */
  derm_case_query_init (&q);
  q.body_site = "back";
  q.sort = DERM_CASE_SORT_CAPTURED_ASC;
  q.offset = 1;
  q.limit = 2;
  gint64 total = 0;
  {
    g_autofree char *got = listed (f, &q, ids, &total);
    g_assert_cmpstr (got, ==, "1,7");
    g_assert_cmpint (total, ==, 4);
  }
  q.offset = 10;
  ASSERT_LISTED (&q, "");

  /* Bad filters are errors, not empty lists. */
  derm_case_query_init (&q);
  q.body_site = "elbow";
  g_assert_null (derm_store_list_cases (f->store, &q, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  derm_case_query_init (&q);
  q.min_risk = 1.5;
  g_assert_null (derm_store_list_cases (f->store, &q, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
}

static void
test_list_text_search (Fixture *f, gconstpointer data)
{
  gint64 ids[G_N_ELEMENTS (specs)];
  fill_specs (f, ids);
  DermCaseQuery q;
  derm_case_query_init (&q);

  q.text = "50%";          /* not "50x": % is literal */
  ASSERT_LISTED (&q, "0");
  q.text = "snake_case";   /* not "snakeXcase": _ is literal */
  ASSERT_LISTED (&q, "5");
  q.text = "O'Brien";
  ASSERT_LISTED (&q, "2");
  q.text = "\"quoted\"";
  ASSERT_LISTED (&q, "11");
  q.text = "nävus";        /* non-ASCII kept; the ASCII n is case folded */
  ASSERT_LISTED (&q, "7");
  q.text = "Nävus";
  ASSERT_LISTED (&q, "7");
  q.text = "NÄVUS";        /* SQLite folds ASCII only */
  ASSERT_LISTED (&q, "");
  q.text = "back\\";
  ASSERT_LISTED (&q, "9");
  q.text = "BIOPSY";
  ASSERT_LISTED (&q, "0");
  q.text = "shoulder";     /* lesion labels are searched too */
  {
    g_autofree char *got = listed (f, &q, ids, NULL);
    g_assert_cmpuint (strlen (got), >, 20);
  }
  q.text = "'; DROP TABLE images; --";
  ASSERT_LISTED (&q, "");
  q.text = NULL;
  ASSERT_LISTED (&q, "11,10,9,8,7,6,5,4,3,2,1,0");
}

/* ---- The list's copies of the latest analysis and annotation ----------- */

/* Images whose copied columns (schema 4) differ from what the analyses,
 * annotations and lesions say. */
static int
stale_images (DermStore *store)
{
  return query_int (store,
    "SELECT count(*) FROM images i JOIN lesions l ON l.id = i.lesion_id WHERE"
    " i.body_site IS NOT l.body_site"
    " OR i.analysis_id IS NOT (SELECT max(id) FROM analyses WHERE image_id = i.id)"
    " OR i.predicted IS NOT (SELECT predicted FROM analyses WHERE image_id = i.id ORDER BY id DESC LIMIT 1)"
    " OR i.risk IS NOT (SELECT malignant_risk FROM analyses WHERE image_id = i.id ORDER BY id DESC LIMIT 1)"
    " OR i.annotation_id IS NOT (SELECT max(id) FROM annotations WHERE image_id = i.id)"
    " OR i.confirmed IS NOT EXISTS (SELECT 1 FROM annotations WHERE image_id = i.id)"
    " OR i.diagnosis IS NOT (SELECT diagnosis FROM annotations WHERE image_id = i.id ORDER BY id DESC LIMIT 1)");
}

static void
exec_sql (DermStore *store, const char *sql)
{
  char *msg = NULL;
  int rc = sqlite3_exec (store->db, sql, NULL, NULL, &msg);
  g_assert_cmpstr (msg, ==, NULL);
  g_assert_cmpint (rc, ==, SQLITE_OK);
}

/* Lists with @q and returns the image ids, in order, as "5,3,..". */
static char *
listed_ids (Fixture *f, const DermCaseQuery *q, gint64 *total)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (f->store, q, total, &error);
  g_assert_no_error (error);
  GString *s = g_string_new (NULL);
  for (guint k = 0; k < cases->len; k++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, s->len ? "," : "",
                            ((DermCase *) cases->pdata[k])->image->id);
  return g_string_free (s, FALSE);
}

#define ASSERT_IDS(q, expect, expect_total) G_STMT_START {                    \
    gint64 total_ = -1;                                                     \
    g_autofree char *got_ = listed_ids (f, (q), &total_);                   \
    g_autofree char *want_ = (expect);                                      \
    g_assert_cmpstr (got_, ==, want_);                                      \
    g_assert_cmpint (total_, ==, (expect_total));                           \
    g_assert_cmpint (stale_images (f->store), ==, 0);                       \
  } G_STMT_END

static void
test_list_follows_changes (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 la = 0, lc = 0;
  gint64 a = add_visit (f, "P1", "back", 1, 100, &la);
  gint64 b = add_visit (f, "P1", "back", 2, 200, &la);
  gint64 c = add_visit (f, "P2", "face", 3, 300, &lc);
  g_assert_cmpint (stale_images (f->store), ==, 0);
#define IDS(...) g_strjoin (",", __VA_ARGS__, NULL)
  g_autofree char *sa = g_strdup_printf ("%" G_GINT64_FORMAT, a);
  g_autofree char *sb = g_strdup_printf ("%" G_GINT64_FORMAT, b);
  g_autofree char *sc = g_strdup_printf ("%" G_GINT64_FORMAT, c);

  DermCaseQuery risk, mel, nv, confirmed, dx_bcc, back;
  derm_case_query_init (&risk);
  risk.sort = DERM_CASE_SORT_RISK_DESC;
  derm_case_query_init (&mel);
  mel.predicted = DERM_CLASS_MEL;
  mel.sort = DERM_CASE_SORT_RISK_DESC;
  nv = mel;
  nv.predicted = DERM_CLASS_NV;
  derm_case_query_init (&confirmed);
  confirmed.confirmed = DERM_CONFIRMED_YES;
  derm_case_query_init (&dx_bcc);
  dx_bcc.diagnosis = DERM_CLASS_BCC;
  derm_case_query_init (&back);
  back.body_site = "back";

  /* Nothing analysed: risk order is capture order, newest first. */
  ASSERT_IDS (&risk, IDS (sc, sb, sa), 3);
  ASSERT_IDS (&mel, g_strdup (""), 0);
  ASSERT_IDS (&back, IDS (sb, sa), 2);

  /* Analyses: the latest one counts, and the unanalysed case sorts last. */
  add_analysis (f, a, DERM_CLASS_NV, 0.9f, NULL);
  add_analysis (f, b, DERM_CLASS_MEL, 0.9f, NULL);
  ASSERT_IDS (&risk, IDS (sb, sa, sc), 3);
  ASSERT_IDS (&mel, IDS (sb), 1);
  gint64 b2 = add_analysis (f, b, DERM_CLASS_NV, 0.95f, NULL);
  ASSERT_IDS (&mel, g_strdup (""), 0);
  ASSERT_IDS (&nv, IDS (sa, sb), 2);   /* a: risk 2 x 0.1/6 > b: 2 x 0.05/6 */
  add_analysis (f, c, DERM_CLASS_MEL, 0.6f, NULL);
  ASSERT_IDS (&risk, IDS (sc, sa, sb), 3);

  /* Annotations: confirmed, and the latest diagnosis counts. */
  gint64 n1 = add_annotation (f, a, DERM_CLASS_MEL, "first read", NULL);
  ASSERT_IDS (&confirmed, IDS (sa), 1);
  ASSERT_IDS (&dx_bcc, g_strdup (""), 0);
  gint64 n2 = add_annotation (f, a, DERM_CLASS_BCC, "histology", NULL);
  ASSERT_IDS (&dx_bcc, IDS (sa), 1);

  /* Rows removed by other means than deleting a visit (an undo, a repair
   * by hand): the previous analysis or annotation counts again. */
  g_autofree char *del_b2 = g_strdup_printf ("DELETE FROM analyses WHERE id = %" G_GINT64_FORMAT, b2);
  exec_sql (f->store, del_b2);
  ASSERT_IDS (&mel, IDS (sb, sc), 2);   /* b: 0.9 + 2 x 0.1/6, c: 0.6 + 2 x 0.4/6 */
  g_autofree char *del_n2 = g_strdup_printf ("DELETE FROM annotations WHERE id = %" G_GINT64_FORMAT, n2);
  exec_sql (f->store, del_n2);
  ASSERT_IDS (&dx_bcc, g_strdup (""), 0);
  ASSERT_IDS (&confirmed, IDS (sa), 1);
  g_autofree char *del_n1 = g_strdup_printf ("DELETE FROM annotations WHERE id = %" G_GINT64_FORMAT, n1);
  exec_sql (f->store, del_n1);
  ASSERT_IDS (&confirmed, g_strdup (""), 0);
  /* An edited analysis, a lesion moved to another site. */
  g_autofree char *edit = g_strdup_printf ("UPDATE analyses SET predicted = 0, malignant_risk = 0.99"
                                           " WHERE image_id = %" G_GINT64_FORMAT, a);
  exec_sql (f->store, edit);
  ASSERT_IDS (&mel, IDS (sa, sb, sc), 3);
  g_autofree char *move = g_strdup_printf ("UPDATE lesions SET body_site = 'back'"
                                           " WHERE id = %" G_GINT64_FORMAT, lc);
  exec_sql (f->store, move);
  ASSERT_IDS (&back, IDS (sc, sb, sa), 3);

  /* Deletes: the cases go from every list and count. */
  g_assert_true (derm_store_delete_image (f->store, b, &error));
  g_assert_no_error (error);
  ASSERT_IDS (&mel, IDS (sa, sc), 2);
  ASSERT_IDS (&risk, IDS (sa, sc), 2);
  g_assert_true (derm_store_delete_lesion (f->store, la, &error));
  ASSERT_IDS (&risk, IDS (sc), 1);
  ASSERT_IDS (&back, IDS (sc), 1);
  g_autoptr(DermPatient) p2 = derm_store_find_patient (f->store, "P2", &error);
  g_assert_true (derm_store_delete_patient (f->store, p2->id, &error));
  ASSERT_IDS (&risk, g_strdup (""), 0);
#undef IDS
}

static void
test_lesion_timeline (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 lesion = 0;
  gint64 mid = add_visit (f, "T", "back", 1, 2000, &lesion);
  gint64 late = add_visit (f, "T", "back", 2, 3000, &lesion);
  gint64 early = add_visit (f, "T", "back", 3, 1000, &lesion);
  add_visit (f, "T", "back", 4, 1500, NULL);   /* another lesion */
  g_autoptr(GBytes) mask = make_mask_png (32, 24, 4);
  add_analysis (f, mid, DERM_CLASS_NV, 0.8f, mask);
  add_analysis (f, mid, DERM_CLASS_NV, 0.9f, NULL);
  add_analysis (f, late, DERM_CLASS_MEL, 0.6f, NULL);

  g_autoptr(GPtrArray) tl = derm_store_lesion_timeline (f->store, lesion, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tl->len, ==, 3);
  DermCase *c0 = tl->pdata[0], *c1 = tl->pdata[1], *c2 = tl->pdata[2];
  g_assert_cmpint (c0->image->id, ==, early);
  g_assert_cmpint (c1->image->id, ==, mid);
  g_assert_cmpint (c2->image->id, ==, late);
  g_assert_cmpuint (c0->analyses->len, ==, 0);
  g_assert_null (c0->analysis);
  g_assert_cmpuint (c1->analyses->len, ==, 2);
  g_assert_true (g_bytes_equal (((DermAnalysis *) c1->analyses->pdata[0])->mask_png, mask));
  g_assert_cmpint (c2->analysis->predicted, ==, DERM_CLASS_MEL);

  g_assert_null (derm_store_lesion_timeline (f->store, 12345, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
}

static guint
count_rows (DermStore *store, const char *table)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM %s", table);
  return query_int (store, sql);
}

static void
test_delete_cascades_and_files (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 lesion = 0;
  gint64 a = add_visit (f, "D", "back", 1, 100, &lesion);
  gint64 b = add_visit (f, "D", "back", 2, 200, &lesion);
  add_analysis (f, a, DERM_CLASS_NV, 0.9f, NULL);
  add_annotation (f, a, DERM_CLASS_NV, "x", NULL);
  /* The same file as b in another patient's lesion: shared on disk. */
  gint64 pe = derm_store_ensure_patient (f->store, "E", 0, DERM_SEX_UNKNOWN, &error);
  gint64 le = derm_store_add_lesion (f->store, pe, "face", NULL, &error);
  g_autofree char *b_src = g_build_filename (f->src, "img-2.jpg", NULL);
  gint64 e = derm_store_add_image (f->store, le, b_src, 300, &error);
  g_assert_no_error (error);
  const char *images = derm_store_get_images_dir (f->store);
  g_assert_cmpuint (count_files (images), ==, 2);
  g_autoptr(DermStoredImage) ia = derm_store_get_image (f->store, a, &error);
  g_autoptr(DermStoredImage) ib = derm_store_get_image (f->store, b, &error);

  g_assert_true (derm_store_delete_image (f->store, a, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (ia->path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_rows (f->store, "analyses"), ==, 0);
  g_assert_cmpuint (count_rows (f->store, "annotations"), ==, 0);
  g_assert_false (derm_store_delete_image (f->store, a, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Deleting patient D removes lesion and visit b, but b's file stays: e uses it. */
  g_autoptr(DermPatient) pd = derm_store_find_patient (f->store, "D", &error);
  g_assert_true (derm_store_delete_patient (f->store, pd->id, &error));
  g_assert_no_error (error);
  g_assert_null (derm_store_get_lesion (f->store, lesion, &error));
  g_clear_error (&error);
  g_assert_null (derm_store_get_image (f->store, b, &error));
  g_clear_error (&error);
  g_assert_true (g_file_test (ib->path, G_FILE_TEST_EXISTS));

  g_assert_true (derm_store_delete_lesion (f->store, le, &error));
  g_assert_no_error (error);
  g_assert_null (derm_store_get_image (f->store, e, &error));
  g_clear_error (&error);
  g_assert_false (g_file_test (ib->path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (images), ==, 0);
  g_assert_cmpuint (count_rows (f->store, "lesions"), ==, 0);

  /* An orphan left by a crash is collected; unrelated files are not touched. */
  g_autofree char *orphan = g_build_filename (images, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.jpg", NULL);
  g_autofree char *other = g_build_filename (images, "README", NULL);
  g_file_set_contents (orphan, "x", 1, NULL);
  g_file_set_contents (other, "x", 1, NULL);
  gint64 keep = add_visit (f, "F", "back", 9, 0, NULL);
  g_assert_cmpint (derm_store_remove_orphan_images (f->store, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_true (g_file_test (other, G_FILE_TEST_EXISTS));
  g_autoptr(DermStoredImage) ik = derm_store_get_image (f->store, keep, &error);
  g_assert_true (g_file_test (ik->path, G_FILE_TEST_EXISTS));
}

/* ---- Export / import -------------------------------------------------- */

/* A minimal CSV split for tests (the store's reader is internal): returns
 * records of fields. */
static GPtrArray *
parse_csv (const char *text)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  GPtrArray *rec = g_ptr_array_new_with_free_func (g_free);
  GString *fld = g_string_new (NULL);
  gboolean q = FALSE;
  for (const char *p = text; *p; p++)
    {
      if (q)
        {
          if (*p == '"' && p[1] == '"')
            g_string_append_c (fld, '"'), p++;
          else if (*p == '"')
            q = FALSE;
          else
            g_string_append_c (fld, *p);
        }
      else if (*p == '"')
        q = TRUE;
      else if (*p == ',')
        g_ptr_array_add (rec, g_string_free (fld, FALSE)), fld = g_string_new (NULL);
      else if (*p == '\r')
        ;
      else if (*p == '\n')
        {
          g_ptr_array_add (rec, g_string_free (fld, FALSE));
          fld = g_string_new (NULL);
          g_ptr_array_add (rows, rec);
          rec = g_ptr_array_new_with_free_func (g_free);
        }
      else
        g_string_append_c (fld, *p);
    }
  g_string_free (fld, TRUE);
  g_ptr_array_unref (rec);
  return rows;
}

static const char *
cell (GPtrArray *rows, guint r, guint c)
{
  return ((GPtrArray *) rows->pdata[r])->pdata[c];
}

static void
test_export_csv (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_visit (f, "X", "back", 1, 86400, NULL);
  add_analysis (f, a, DERM_CLASS_MEL, 0.8f, NULL);
  add_annotation (f, a, DERM_CLASS_MEL, "line one, \"two\"\nline three", NULL);
  add_visit (f, "Y", "face", 2, 2 * 86400, NULL);

  g_autofree char *csv = g_build_filename (f->dir, "out.csv", NULL);
  DermCaseQuery q;
  derm_case_query_init (&q);
  q.sort = DERM_CASE_SORT_CAPTURED_ASC;
  g_assert_cmpint (derm_store_export_csv (f->store, &q, csv, &error), ==, 2);
  g_assert_no_error (error);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  g_autoptr(GPtrArray) rows = parse_csv (text);
  g_assert_cmpuint (rows->len, ==, 3);
  g_assert_cmpstr (cell (rows, 0, 0), ==, "case_id");
  g_assert_cmpuint (((GPtrArray *) rows->pdata[1])->len, ==, ((GPtrArray *) rows->pdata[0])->len);
  g_assert_cmpstr (cell (rows, 1, 1), ==, "X");
  g_assert_cmpstr (cell (rows, 1, 5), ==, "back");
  g_assert_cmpstr (cell (rows, 1, 7), ==, "1970-01-02T00:00:00Z");
  g_assert_cmpstr (cell (rows, 1, 12), ==, "MEL");
  g_assert_cmpstr (cell (rows, 1, 23), ==, "MEL");
  g_assert_cmpstr (cell (rows, 1, 24), ==, "histo");
  g_assert_cmpstr (cell (rows, 1, 25), ==, "line one, \"two\"\nline three");
  g_assert_cmpstr (cell (rows, 2, 12), ==, "");     /* not analysed */
  g_assert_cmpstr (cell (rows, 2, 23), ==, "");     /* not confirmed */

  q.body_site = "face";
  g_assert_cmpint (derm_store_export_csv (f->store, &q, csv, &error), ==, 1);
}

static void
test_export_ham10000 (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) analysis_mask = make_mask_png (32, 24, 2);
  g_autoptr(GBytes) corrected = make_mask_png (32, 24, 8);
  gint64 a = add_visit (f, "H1", "back", 1, 0, NULL);
  add_analysis (f, a, DERM_CLASS_NV, 0.8f, analysis_mask);
  add_annotation (f, a, DERM_CLASS_MEL, "", corrected);          /* corrected mask wins */
  gint64 b = add_visit (f, "H2", "face", 2, 0, NULL);
  add_analysis (f, b, DERM_CLASS_BCC, 0.8f, analysis_mask);
  add_annotation (f, b, DERM_CLASS_BCC, "", NULL);               /* analysis mask */
  gint64 c = add_visit (f, "H3", "trunk", 3, 0, NULL);
  add_analysis (f, c, DERM_CLASS_NV, 0.8f, analysis_mask);       /* not confirmed: left out */
  /* A PNG visit, confirmed, without any mask: re-encoded to .jpg, no mask file. */
  g_autoptr(DermImage) img = derm_image_new (10, 8, 3, &error);
  g_autofree char *png = g_build_filename (f->src, "x.png", NULL);
  g_assert_true (derm_image_save_png (img, png, &error));
  g_autoptr(DermLesion) la = derm_store_get_lesion (f->store, 1, &error);
  gint64 d = derm_store_add_image (f->store, la->id, png, 0, &error);
  g_assert_no_error (error);
  add_annotation (f, d, DERM_CLASS_NV, "", NULL);

  g_autofree char *out = g_build_filename (f->dir, "export", "ham", NULL);
  g_assert_cmpint (derm_store_export_ham10000 (f->store, NULL, out, &error), ==, 3);
  g_assert_no_error (error);
  g_autofree char *meta = g_build_filename (out, "HAM10000_metadata.csv", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (meta, &text, NULL, NULL));
  g_autoptr(GPtrArray) rows = parse_csv (text);
  g_assert_cmpuint (rows->len, ==, 4);
  g_assert_cmpstr (cell (rows, 0, 0), ==, "lesion_id");
  g_assert_cmpstr (cell (rows, 0, 6), ==, "localization");
  g_autofree char *images_dir = g_build_filename (out, "images", NULL);
  g_autofree char *masks_dir = g_build_filename (out, "masks", NULL);
  g_assert_cmpuint (count_files (images_dir), ==, 3);
  g_assert_cmpuint (count_files (masks_dir), ==, 2);
  gboolean saw_a = FALSE;
  for (guint r = 1; r < rows->len; r++)
    {
      const char *id = cell (rows, r, 1);
      g_autofree char *jname = g_strconcat (id, ".jpg", NULL);
      g_autofree char *jpath = g_build_filename (images_dir, jname, NULL);
      int w, h;
      DermImageFormat fmt;
      g_assert_true (derm_image_probe (jpath, &w, &h, &fmt, &error));
      g_assert_cmpint (fmt, ==, DERM_IMAGE_FORMAT_JPEG);
      g_autofree char *expect_id = g_strdup_printf ("DL_%07" G_GINT64_FORMAT, a);
      if (g_strcmp0 (id, expect_id) == 0)
        {
          saw_a = TRUE;
          g_assert_cmpstr (cell (rows, r, 2), ==, "mel");
          g_assert_cmpstr (cell (rows, r, 3), ==, "histo");
          g_assert_cmpstr (cell (rows, r, 5), ==, "female");
          g_assert_cmpstr (cell (rows, r, 6), ==, "back");
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
          g_autofree char *age = g_strdup_printf ("%d.0", g_date_time_get_year (now) - 1970);
          g_assert_cmpstr (cell (rows, r, 4), ==, age);
          g_autofree char *mname = g_strconcat (id, "_segmentation.png", NULL);
          g_autofree char *mpath = g_build_filename (masks_dir, mname, NULL);
          g_autofree char *mdata = NULL;
          gsize mlen;
          g_assert_true (g_file_get_contents (mpath, &mdata, &mlen, NULL));
          g_autoptr(GBytes) got = g_bytes_new (mdata, mlen);
          g_assert_true (g_bytes_equal (got, corrected));
        }
    }
  g_assert_true (saw_a);

  /* Never into a non-empty folder. */
  g_assert_cmpint (derm_store_export_ham10000 (f->store, NULL, out, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);

  /* Round trip: the exported folder imports as the same confirmed cases. */
  g_autofree char *dir2 = g_build_filename (f->dir, "second", NULL);
  g_autoptr(DermStore) s2 = derm_store_open (dir2, &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_store_import_ham10000 (s2, out, 0, NULL, NULL, &error), ==, 3);
  g_assert_no_error (error);
  DermCaseQuery q;
  derm_case_query_init (&q);
  q.diagnosis = DERM_CLASS_MEL;
  g_autoptr(GPtrArray) mel = derm_store_list_cases (s2, &q, NULL, &error);
  g_assert_cmpuint (mel->len, ==, 1);
  g_assert_cmpint (((DermCase *) mel->pdata[0])->patient->birth_year, ==, 1970);
}

typedef struct {
  guint64 calls, last_committed;
} Progress;

static gboolean
progress_cb (guint64 done, guint64 committed, guint64 total, gpointer user_data)
{
  Progress *p = user_data;
  p->calls++;
  g_assert_cmpuint (committed, <=, done);
  g_assert_cmpuint (done, <=, total);
  p->last_committed = committed;
  return TRUE;
}

static gboolean
cancel_at_25 (guint64 done, guint64 committed, guint64 total, gpointer user_data)
{
  return done < 25;
}

static void
test_import_ham10000 (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ham = g_build_filename (f->dir, "ham", NULL);
  make_ham_folder (ham, 40);

  /* Cancelled after 25 rows with batches of 10: 20 rows stay. */
  g_assert_cmpint (derm_store_import_ham10000 (f->store, ham, 10, cancel_at_25, NULL, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (count_rows (f->store, "images"), ==, 20);

  /* Run again: the 20 are skipped, the rest imported. */
  Progress p = { 0 };
  g_assert_cmpint (derm_store_import_ham10000 (f->store, ham, 10, progress_cb, &p, &error), ==, 20);
  g_assert_no_error (error);
  g_assert_cmpuint (p.calls, ==, 40);
  g_assert_cmpuint (p.last_committed, ==, 40);
  g_assert_cmpuint (count_rows (f->store, "images"), ==, 40);
  g_assert_cmpuint (count_rows (f->store, "lesions"), ==, 20);
  g_assert_cmpuint (count_rows (f->store, "annotations"), ==, 40);
  g_assert_cmpuint (query_int (f->store, "SELECT count(*) FROM annotations WHERE mask_png IS NOT NULL"),
                    ==, 20);
  g_assert_cmpuint (count_files (derm_store_get_images_dir (f->store)), ==, 40);

  DermCaseQuery q;
  derm_case_query_init (&q);
  q.patient_identifier = "HAM10000:HAM_0000001";
  g_autoptr(GPtrArray) l1 = derm_store_list_cases (f->store, &q, NULL, &error);
  g_assert_cmpuint (l1->len, ==, 2);
  DermCase *c = l1->pdata[0];
  g_assert_cmpint (c->annotation->diagnosis, ==, DERM_CLASS_NV);
  g_assert_cmpstr (c->lesion->body_site, ==, "face");
  g_assert_cmpstr (c->lesion->label, ==, "HAM_0000001");

  /* Errors: a bad row stops with its line number, after the earlier batches. */
  g_autofree char *bad = g_build_filename (f->dir, "bad", NULL);
  make_ham_folder (bad, 3);
  g_autofree char *meta = g_build_filename (bad, "HAM10000_metadata.csv", NULL);
  g_autofree char *text = NULL;
  g_file_get_contents (meta, &text, NULL, NULL);
  g_autofree char *text2 = g_strconcat (text, "HAM_9,ISIC_9999999,mel,histo,40,male,elbow\n", NULL);
  g_file_set_contents (meta, text2, -1, NULL);
  g_autofree char *d3 = g_build_filename (f->dir, "third", NULL);
  g_autoptr(DermStore) s3 = derm_store_open (d3, &error);
  g_assert_cmpint (derm_store_import_ham10000 (s3, bad, 2, NULL, NULL, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 5"));
  g_assert_nonnull (strstr (error->message, "elbow"));
  g_clear_error (&error);
  g_assert_cmpuint (count_rows (s3, "images"), ==, 2);

  /* A listed image that is missing. */
  g_autofree char *gone = g_build_filename (bad, "HAM10000_images_part_1", "ISIC_0000002.jpg", NULL);
  g_unlink (gone);
  g_file_set_contents (meta, text, -1, NULL);
  g_assert_cmpint (derm_store_import_ham10000 (s3, bad, 2, NULL, NULL, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "ISIC_0000002.jpg"));
  g_clear_error (&error);

  /* An unterminated quote fails before anything is written; no folder at all. */
  g_file_set_contents (meta, "lesion_id,image_id,dx,dx_type,age,sex,localization\n\"HAM_1,x", -1, NULL);
  g_assert_cmpint (derm_store_import_ham10000 (s3, bad, 2, NULL, NULL, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_cmpint (derm_store_import_ham10000 (s3, f->src, 2, NULL, NULL, &error), ==, -1);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
}

static void
test_import_real_ham10000 (Fixture *f, gconstpointer data)
{
  const char *ham = g_getenv ("DERM_HAM10000");
  g_autofree char *meta_src = ham ? g_build_filename (ham, "HAM10000_metadata.csv", NULL) : NULL;
  if (meta_src == NULL || !g_file_test (meta_src, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("HAM10000 not available ($DERM_HAM10000)");
      return;
    }
  /* The first 120 rows, with the real images and masks linked in. */
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (meta_src, &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (text, "\n", 122);
  g_autofree char *head = g_strjoinv ("\n", (char **) lines);
  char *cut = head;
  for (int k = 0; k < 121 && cut; k++)
    cut = strchr (cut + 1, '\n');
  if (cut)
    cut[1] = '\0';
  g_autofree char *sub = g_build_filename (f->dir, "realsub", NULL);
  g_mkdir (sub, 0700);
  g_autofree char *meta = g_build_filename (sub, "HAM10000_metadata.csv", NULL);
  g_assert_true (g_file_set_contents (meta, head, -1, NULL));
  g_autofree char *img_src = g_build_filename (ham, "images", NULL);
  g_autofree char *img_dst = g_build_filename (sub, "images", NULL);
  g_autofree char *mask_src = g_build_filename (ham, "masks", NULL);
  g_autofree char *mask_dst = g_build_filename (sub, "masks", NULL);
  g_assert_cmpint (symlink (img_src, img_dst), ==, 0);
  g_assert_cmpint (symlink (mask_src, mask_dst), ==, 0);

  g_autoptr(GError) error = NULL;
  gint64 n = derm_store_import_ham10000 (f->store, sub, 50, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 120);
  g_assert_cmpuint (query_int (f->store, "SELECT count(*) FROM annotations WHERE mask_png IS NOT NULL"),
                    >, 100);
  DermCaseQuery q;
  derm_case_query_init (&q);
  q.confirmed = DERM_CONFIRMED_YES;
  gint64 total = 0;
  g_autoptr(GPtrArray) page = derm_store_list_cases (f->store, &q, &total, &error);
  g_assert_cmpint (total, ==, 120);
  DermCase *c = page->pdata[0];
  g_assert_cmpint (c->image->width, ==, 200);
  g_assert_cmpint (c->image->height, ==, 150);
}

/* ---- Model registry ---------------------------------------------------- */

static gint64
register_model (Fixture *f, DermModelKind kind, const char *arch, gint64 parent, gint64 created)
{
  g_autoptr(GError) error = NULL;
  DermModelVersion m = {
    .kind = kind, .architecture = (char *) arch, .file_path = (char *) "/models/x.safetensors",
    .sha256 = (char *) "ab12", .metrics_json = (char *) "{\"balanced_accuracy\": 0.81}",
    .settings_json = (char *) "{\"lr\": 0.0001}", .provenance = (char *) "HAM10000 split seed 1",
    .parent_id = parent, .created = created,
  };
  gint64 id = derm_store_register_model (f->store, &m, &error);
  g_assert_no_error (error);
  return id;
}

static void
test_model_registry (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 c1 = register_model (f, DERM_MODEL_KIND_CLASSIFIER, "resnet50", 0, 100);
  gint64 c2 = register_model (f, DERM_MODEL_KIND_CLASSIFIER, "resnet50", c1, 200);
  gint64 s1 = register_model (f, DERM_MODEL_KIND_SEGMENTER, "unet", 0, 150);

  g_assert_null (derm_store_get_active_model (f->store, DERM_MODEL_KIND_CLASSIFIER, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (derm_store_activate_model (f->store, c1, &error));
  g_assert_true (derm_store_activate_model (f->store, s1, &error));
  g_assert_true (derm_store_activate_model (f->store, c2, &error));
  g_assert_no_error (error);
  g_autoptr(DermModelVersion) act = derm_store_get_active_model (f->store, DERM_MODEL_KIND_CLASSIFIER, &error);
  g_assert_cmpint (act->id, ==, c2);
  g_assert_cmpint (act->parent_id, ==, c1);
  g_assert_cmpstr (act->settings_json, ==, "{\"lr\": 0.0001}");
  g_assert_cmpstr (act->provenance, ==, "HAM10000 split seed 1");
  g_autoptr(DermModelVersion) seg = derm_store_get_active_model (f->store, DERM_MODEL_KIND_SEGMENTER, &error);
  g_assert_cmpint (seg->id, ==, s1);   /* another kind is untouched */

  g_autoptr(GPtrArray) cls = derm_store_list_models (f->store, DERM_MODEL_KIND_CLASSIFIER, &error);
  g_assert_cmpuint (cls->len, ==, 2);
  g_assert_cmpint (((DermModelVersion *) cls->pdata[0])->id, ==, c2);  /* newest first */
  g_assert_false (((DermModelVersion *) cls->pdata[1])->active);
  g_autoptr(GPtrArray) all = derm_store_list_models (f->store, -1, &error);
  g_assert_cmpuint (all->len, ==, 3);

  /* The database itself refuses a second active version of a kind. */
  g_assert_cmpint (sqlite3_exec (f->store->db, "UPDATE models SET active = 1", NULL, NULL, NULL) & 0xff,
                   ==, SQLITE_CONSTRAINT);

  g_assert_false (derm_store_delete_model (f->store, c2, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);

  /* An analysis naming c1 keeps its text when c1 goes; c2 loses its parent. */
  gint64 img = add_visit (f, "M", "back", 1, 0, NULL);
  DermAnalysis a = { .image_id = img, .predicted = DERM_CLASS_NV, .classifier_id = c1,
                     .model_info = (char *) "resnet50 #1" };
  a.probs[DERM_CLASS_NV] = 1.f;
  g_assert_cmpint (derm_store_add_analysis (f->store, &a, &error), >, 0);
  g_assert_true (derm_store_delete_model (f->store, c1, &error));
  g_assert_no_error (error);
  g_autoptr(DermModelVersion) c2b = derm_store_get_model (f->store, c2, &error);
  g_assert_cmpint (c2b->parent_id, ==, 0);
  g_autoptr(DermCase) cs = derm_store_get_case (f->store, img, &error);
  g_assert_cmpint (cs->analysis->classifier_id, ==, 0);
  g_assert_cmpstr (cs->analysis->model_info, ==, "resnet50 #1");

  g_assert_cmpint (register_model (f, DERM_MODEL_KIND_CLASSIFIER, "resnet50", 0, 0), >, 0);
  DermModelVersion bad = { .kind = DERM_MODEL_KIND_CLASSIFIER, .architecture = (char *) "r",
                           .file_path = (char *) "p", .sha256 = (char *) "s", .parent_id = 999 };
  g_assert_cmpint (derm_store_register_model (f->store, &bad, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND);
  g_clear_error (&error);
  bad.parent_id = 0;
  bad.architecture = NULL;
  g_assert_cmpint (derm_store_register_model (f->store, &bad, &error), ==, 0);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
}

/* ---- Concurrency ------------------------------------------------------ */

typedef struct {
  char *data_dir;
  char *src;
  gint64 lesion;
  gint stop;
  gint reads;
  gint failures;
} Shared;

#define WRITES 60

static gpointer
writer_worker (gpointer data)
{
  Shared *sh = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) s = derm_store_open (sh->data_dir, &error);
  if (s == NULL)
    {
      g_atomic_int_inc (&sh->failures);
      return NULL;
    }
  for (int k = 0; k < WRITES; k++)
    {
      g_autofree char *name = g_strdup_printf ("w%d.jpg", k);
      g_autofree char *path = g_build_filename (sh->src, name, NULL);
      gint64 img = derm_store_add_image (s, sh->lesion, path, 1000 + k, &error);
      DermAnalysis a = { .image_id = img, .predicted = DERM_CLASS_MEL };
      a.probs[0] = 1.f;
      DermAnnotation n = { .image_id = img, .diagnosis = DERM_CLASS_MEL, .notes = (char *) "w" };
      if (img == 0 || derm_store_add_analysis (s, &a, &error) == 0
          || derm_store_add_annotation (s, &n, &error) == 0)
        {
          g_printerr ("writer: %s\n", error ? error->message : "?");
          g_atomic_int_inc (&sh->failures);
          break;
        }
    }
  g_atomic_int_set (&sh->stop, 1);
  return NULL;
}

static gpointer
reader_worker (gpointer data)
{
  Shared *sh = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) s = derm_store_open (sh->data_dir, &error);
  if (s == NULL)
    {
      g_atomic_int_inc (&sh->failures);
      return NULL;
    }
  gint64 last = 0;
  do
    {
      /* A training job reading confirmed cases while the clinician saves. */
      DermCaseQuery q;
      derm_case_query_init (&q);
      q.confirmed = DERM_CONFIRMED_YES;
      gint64 total = -1;
      g_autoptr(GPtrArray) cases = derm_store_list_cases (s, &q, &total, &error);
      g_autoptr(GPtrArray) tl = cases ? derm_store_lesion_timeline (s, sh->lesion, &error) : NULL;
      if (cases == NULL || tl == NULL || total < last || (gint64) cases->len != total)
        {
          g_printerr ("reader: %s\n", error ? error->message : "inconsistent snapshot");
          g_atomic_int_inc (&sh->failures);
          return NULL;
        }
      /* Every confirmed case seen is complete: its analysis was committed first. */
      for (guint k = 0; k < cases->len; k++)
        if (((DermCase *) cases->pdata[k])->analysis == NULL)
          {
            g_atomic_int_inc (&sh->failures);
            return NULL;
          }
      last = total;
      g_atomic_int_inc (&sh->reads);
    }
  while (!g_atomic_int_get (&sh->stop));
  return NULL;
}

static void
test_concurrent_writer_readers (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Shared sh = { 0 };
  sh.data_dir = g_build_filename (f->dir, "data", NULL);
  sh.src = f->src;
  for (int k = 0; k < WRITES; k++)
    {
      g_autofree char *name = g_strdup_printf ("w%d.jpg", k);
      g_free (make_jpeg (f->src, name, 1000 + k, 16, 16));
    }
  gint64 pid = derm_store_ensure_patient (f->store, "CONC", 0, DERM_SEX_UNKNOWN, &error);
  sh.lesion = derm_store_add_lesion (f->store, pid, "back", NULL, &error);
  g_assert_no_error (error);

  GThread *readers[3];
  for (int k = 0; k < 3; k++)
    readers[k] = g_thread_new ("reader", reader_worker, &sh);
  GThread *writer = g_thread_new ("writer", writer_worker, &sh);
  g_thread_join (writer);
  for (int k = 0; k < 3; k++)
    g_thread_join (readers[k]);

  g_assert_cmpint (sh.failures, ==, 0);
  g_assert_cmpint (sh.reads, >=, 3);
  g_assert_cmpuint (count_rows (f->store, "images"), ==, WRITES);
  g_assert_true (derm_store_check_integrity (f->store, &error));
  g_free (sh.data_dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/store/open/private-files-and-pragmas", test_open_private);
  g_test_add_func ("/store/open/default-data-dir", test_open_default_dir);
  ADD ("/store/visit/copies-and-deduplicates", test_add_image_copies_and_dedups);
  ADD ("/store/visit/refuses-non-images", test_add_image_refuses_non_images);
  ADD ("/store/visit/vocabulary-checked", test_vocabulary_checked);
  ADD ("/store/case/analysis-and-annotation", test_analysis_and_annotation);
  ADD ("/store/list/filters-sort-page", test_list_filters_sort_page);
  ADD ("/store/list/text-search-literal", test_list_text_search);
  ADD ("/store/list/follows-analyses-annotations-deletes", test_list_follows_changes);
  ADD ("/store/timeline/date-order", test_lesion_timeline);
  ADD ("/store/delete/cascade-and-files", test_delete_cascades_and_files);
  ADD ("/store/export/csv", test_export_csv);
  ADD ("/store/export/ham10000", test_export_ham10000);
  ADD ("/store/import/ham10000", test_import_ham10000);
  ADD ("/store/import/real-ham10000", test_import_real_ham10000);
  ADD ("/store/models/registry", test_model_registry);
  ADD ("/store/concurrency/writer-and-readers", test_concurrent_writer_readers);
  return g_test_run ();
}
