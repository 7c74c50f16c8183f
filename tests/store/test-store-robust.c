/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store-robust.c: the case store under a crash (SIGKILL in the middle
 * of an import), a newer schema, a corrupt or foreign file, a read-only
 * database, a full disk, and migrations from every earlier version.
 *
 * Children are this program re-executed with "--child MODE ARGS". */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "derm-store-private.h"
#include "store-test-util.h"

static char *self_exe;

/* ---- Children ------------------------------------------------------------ */

static gboolean
pause_mid_batch (guint64 done, guint64 committed, guint64 total, gpointer user_data)
{
  guint batch = GPOINTER_TO_UINT (user_data);
  /* Two batches committed and half of the third written, uncommitted: tell
   * the parent and wait to be killed. */
  if (done == 2 * batch + batch / 2)
    {
      g_print ("mid %" G_GUINT64_FORMAT "\n", committed);
      fflush (stdout);
      for (;;)
        pause ();
    }
  return TRUE;
}

static int
child_main (int argc, char **argv)
{
  const char *mode = argv[2];
  g_autoptr(GError) error = NULL;
  if (g_strcmp0 (mode, "import") == 0 && argc == 6)
    {
      g_autoptr(DermStore) s = derm_store_open (argv[3], &error);
      guint batch = atoi (argv[5]);
      if (s == NULL
          || derm_store_import_ham10000 (s, argv[4], batch, pause_mid_batch,
                                         GUINT_TO_POINTER (batch), &error) < 0)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      return 0;
    }
  if (g_strcmp0 (mode, "fill-until-full") == 0 && argc == 4)
    {
      /* Files may grow by at most 256 KiB past their size now. */
      signal (SIGXFSZ, SIG_IGN);
      GStatBuf st;
      g_autofree char *db = g_build_filename (argv[3], "cases.db", NULL);
      g_stat (db, &st);
      struct rlimit rl = { st.st_size + 256 * 1024, st.st_size + 256 * 1024 };
      setrlimit (RLIMIT_FSIZE, &rl);
      g_autoptr(DermStore) s = derm_store_open (argv[3], &error);
      if (s == NULL)
        {
          g_printerr ("open: %s\n", error->message);
          return 2;
        }
      /* A noisy mask does not compress: each analysis adds ~100 KiB. */
      g_autoptr(DermImage) noise = derm_image_new (400, 300, 1, NULL);
      for (gsize k = 0; k < 400 * 300; k++)
        noise->data[k] = (guint8) g_random_int ();
      gsize len;
      guint8 *png = derm_image_encode_png (noise, &len, NULL);
      g_autoptr(GBytes) big = g_bytes_new_take (png, len);
      for (int k = 0; k < 1000; k++)
        {
          DermAnalysis a = { .image_id = 1, .predicted = DERM_CLASS_NV, .mask_png = big };
          a.probs[1] = 1.f;
          if (derm_store_add_analysis (s, &a, &error) == 0)
            {
              g_print ("error %d %s\n", error->code, error->message);
              return error->domain == DERM_ERROR ? 0 : 3;
            }
        }
      g_printerr ("the disk never filled\n");
      return 4;
    }
  g_printerr ("bad child arguments\n");
  return 99;
}

/* ---- Helpers ------------------------------------------------------------ */

static GBytes *
read_bytes (const char *path)
{
  char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

static gint64
mtime_ns (const char *path)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  return (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* A store at @dir with one patient, lesion, visit, analysis and annotation. */
static void
make_small_store (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) s = derm_store_open (dir, &error);
  g_assert_no_error (error);
  gint64 p = derm_store_ensure_patient (s, "KEEP", 1980, DERM_SEX_MALE, &error);
  gint64 l = derm_store_add_lesion (s, p, "back", "kept", &error);
  g_autofree char *jpg = make_jpeg (dir, "in.jpg", 1, 20, 20);
  gint64 i = derm_store_add_image (s, l, jpg, 0, &error);
  g_assert_no_error (error);
  DermAnalysis a = { .image_id = i, .predicted = DERM_CLASS_MEL };
  a.probs[0] = 1.f;
  g_assert_cmpint (derm_store_add_analysis (s, &a, &error), >, 0);
  DermAnnotation n = { .image_id = i, .diagnosis = DERM_CLASS_MEL, .notes = (char *) "kept" };
  g_assert_cmpint (derm_store_add_annotation (s, &n, &error), >, 0);
}

static void
assert_small_store_intact (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) s = derm_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_check_integrity (s, &error));
  g_autoptr(DermCase) c = derm_store_get_case (s, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->patient->identifier, ==, "KEEP");
  g_assert_cmpstr (c->annotation->notes, ==, "kept");
  g_assert_true (g_file_test (c->image->path, G_FILE_TEST_IS_REGULAR));
}

/* ---- Crash in the middle of an import ------------------------------------ */

static void
test_kill_mid_import (void)
{
  g_autofree char *dir = tmp_dir_new ();
  g_autofree char *ham = g_build_filename (dir, "ham", NULL);
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  const guint batch = 10, rows = 50;
  make_ham_folder (ham, rows);

  g_autofree char *batch_s = g_strdup_printf ("%u", batch);
  const char *argv[] = { self_exe, "--child", "import", data, ham, batch_s, NULL };
  GPid pid;
  int out_fd;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  /* Wait (without a clock) for the child to be inside its third batch. */
  char buf[64] = { 0 };
  gsize got = 0;
  while (got < sizeof buf - 1)
    {
      ssize_t n = read (out_fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0 || strchr (buf, '\n'))
        break;
      got += n;
    }
  close (out_fd);
  g_assert_true (g_str_has_prefix (buf, "mid 20"));
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  int status = 0;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_spawn_close_pid (pid);

  g_autoptr(DermStore) s = derm_store_open (data, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_check_integrity (s, &error));
  g_assert_no_error (error);
  /* Exactly the committed prefix: two whole batches, each row complete. */
  g_assert_cmpint (query_int (s, "SELECT count(*) FROM images"), ==, 2 * batch);
  g_assert_cmpint (query_int (s, "SELECT count(*) FROM annotations"), ==, 2 * batch);
  g_assert_cmpint (query_int (s, "SELECT count(*) FROM images WHERE annotation_id IS NULL"), ==, 0);
  g_assert_cmpint (query_int (s, "SELECT max(CAST(substr(original_name, 6, 7) AS INTEGER)) FROM images"),
                   ==, 2 * batch - 1);

  /* The copies of the uncommitted rows are orphans and are collected;
   * importing again completes the folder. */
  g_assert_cmpint (derm_store_remove_orphan_images (s, &error), >=, 0);
  g_assert_cmpuint (count_files (derm_store_get_images_dir (s)), ==, 2 * batch);
  g_assert_cmpint (derm_store_import_ham10000 (s, ham, batch, NULL, NULL, &error), ==, rows - 2 * batch);
  g_assert_no_error (error);
  g_assert_cmpint (query_int (s, "SELECT count(*) FROM images"), ==, rows);
  derm_store_close (g_steal_pointer (&s));
  rm_rf (dir);
}

/* ---- Versions, corruption, foreign files ------------------------------- */

static void
test_newer_version_refused (void)
{
  g_autofree char *dir = tmp_dir_new ();
  g_autofree char *db = g_build_filename (dir, "cases.db", NULL);
  sqlite3 *raw = NULL;
  g_assert_cmpint (sqlite3_open (db, &raw), ==, SQLITE_OK);
  g_autofree char *sql = g_strdup_printf ("CREATE TABLE future (x); INSERT INTO future VALUES (1);"
                                          "PRAGMA user_version = %d;",
                                          derm_store_schema_version () + 1);
  g_assert_cmpint (sqlite3_exec (raw, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);
  g_autoptr(GBytes) before = read_bytes (db);
  gint64 mtime = mtime_ns (db);
  g_usleep (20000);   /* so a write would show in the mtime */

  g_autoptr(GError) error = NULL;
  g_assert_null (derm_store_open (db, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "newer version of Dermalens"));
  g_autoptr(GBytes) after = read_bytes (db);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpint (mtime_ns (db), ==, mtime);
  rm_rf (dir);
}

static void
test_garbage_file_refused (void)
{
  g_autofree char *dir = tmp_dir_new ();
  g_autofree char *db = g_build_filename (dir, "cases.db", NULL);
  g_autofree char *junk = g_malloc (8192);
  for (int k = 0; k < 8192; k++)
    junk[k] = (char) (k * 31 + 7);
  g_assert_true (g_file_set_contents (db, junk, 8192, NULL));
  g_autoptr(GBytes) before = read_bytes (db);

  g_autoptr(GError) error = NULL;
  g_assert_null (derm_store_open (db, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "left as it is"));
  g_autoptr(GBytes) after = read_bytes (db);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_error (&error);

  /* An SQLite database of another program: refused, untouched. */
  g_autofree char *other = g_build_filename (dir, "other.db", NULL);
  sqlite3 *raw = NULL;
  sqlite3_open (other, &raw);
  sqlite3_exec (raw, "CREATE TABLE t (x)", NULL, NULL, NULL);
  sqlite3_close (raw);
  g_autoptr(GBytes) obefore = read_bytes (other);
  g_assert_null (derm_store_open (other, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_autoptr(GBytes) oafter = read_bytes (other);
  g_assert_true (g_bytes_equal (obefore, oafter));
  rm_rf (dir);
}

static void
test_damaged_pages_reported (void)
{
  g_autofree char *dir = tmp_dir_new ();
  make_small_store (dir);
  g_autofree char *db = g_build_filename (dir, "cases.db", NULL);
  /* Overwrite every page after the first (the schema page stays readable). */
  g_autoptr(GBytes) orig = read_bytes (db);
  gsize len = g_bytes_get_size (orig);
  g_assert_cmpuint (len, >, 8192);
  guint8 *data = g_memdup2 (g_bytes_get_data (orig, NULL), len);
  for (gsize k = 4096; k < len; k++)
    data[k] = (guint8) (k * 131 + 17);
  g_assert_true (g_file_set_contents (db, (char *) data, len, NULL));
  g_autoptr(GBytes) before = g_bytes_new_take (data, len);

  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) s = derm_store_open (dir, &error);
  if (s != NULL)
    {
      /* Opening reads only the schema; the damage shows on first use. */
      g_autoptr(GPtrArray) cases = derm_store_list_cases (s, NULL, NULL, &error);
      if (cases != NULL)
        g_assert_false (derm_store_check_integrity (s, &error));
    }
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "backup"));
  derm_store_close (g_steal_pointer (&s));
  g_autoptr(GBytes) after = read_bytes (db);
  g_assert_true (g_bytes_equal (before, after));
  rm_rf (dir);
}

/* ---- Read-only and full disk ------------------------------------------- */

static void
test_read_only (void)
{
  g_autofree char *dir = tmp_dir_new ();
  make_small_store (dir);
  g_autofree char *db = g_build_filename (dir, "cases.db", NULL);
  g_autoptr(GBytes) before = read_bytes (db);

  /* As root, permissions do not stop us: the child drops to "nobody". */
  g_chmod (dir, 0755);
  g_chmod (db, 0444);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
        _exit (98);
      /* Both outcomes are fine: refused at open, or at the first write. */
      g_autoptr(GError) e = NULL;
      DermStore *ro = derm_store_open (dir, &e);
      if (ro != NULL && derm_store_ensure_patient (ro, "RO-NEW", 0, DERM_SEX_UNKNOWN, &e) != 0)
        _exit (5);
      g_print ("# read-only: %s\n", e->message);   /* a TAP comment */
      _exit (e->domain == DERM_ERROR && strstr (e->message, "writable") ? 0 : 6);
    }
  int status = 0;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);   /* an error, cleanly reported */
  g_chmod (db, 0600);
  g_chmod (dir, 0700);

  g_autoptr(GBytes) after = read_bytes (db);
  g_assert_true (g_bytes_equal (before, after));
  assert_small_store_intact (dir);
  rm_rf (dir);
}

static void
test_disk_full (void)
{
  g_autofree char *dir = tmp_dir_new ();
  make_small_store (dir);
  const char *argv[] = { self_exe, "--child", "fill-until-full", dir, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_test_message ("child: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, &error));
  g_assert_no_error (error);
  /* The child got a GError a user can read, about the disk. */
  g_assert_true (g_str_has_prefix (out, "error "));
  g_assert_nonnull (strstr (out, "disk"));
  assert_small_store_intact (dir);
  rm_rf (dir);
}

/* ---- Migrations from every earlier version ------------------------------ */

/* Rows that each old schema can hold, written with that schema's SQL. */
static void
fill_version (DermStore *s, int version)
{
  const char *sql =
    "INSERT INTO patients (id, identifier, birth_year, sex, created) VALUES (1, 'OLD', 1950, 'female', 1);"
    "INSERT INTO lesions (id, patient_id, body_site, label, created) VALUES (1, 1, 'back', 'old mole', 1);"
    "INSERT INTO lesions (id, patient_id, body_site, label, created) VALUES (2, 1, 'face', 'new spot', 1);"
    "INSERT INTO images (id, lesion_id, captured, sha256, width, height, original_name, file_name)"
    " VALUES (1, 1, 5, '" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "', 4, 3, 'a.jpg',"
    " 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg');"
    /* Never analysed nor confirmed. */
    "INSERT INTO images (id, lesion_id, captured, sha256, width, height, original_name, file_name)"
    " VALUES (2, 2, 6, '" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" "', 4, 3, 'b.jpg',"
    " 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.jpg');"
    "INSERT INTO models (id, kind, architecture, file_path, sha256, created, active)"
    " VALUES (1, 'classifier', 'resnet50', '/m1', 's1', 1, 0), (2, 'classifier', 'resnet50', '/m2', 's2', 2, 1);"
    "INSERT INTO analyses (image_id, classifier_id, model_info, p_mel, p_nv, p_bcc, p_akiec, p_bkl, p_df,"
    " p_vasc, predicted, malignant_risk, created) VALUES"
    " (1, 1, 'first', 0.1, 0.9, 0, 0, 0, 0, 0, 1, 0.1, 10),"
    " (1, 2, 'second', 0.8, 0.2, 0, 0, 0, 0, 0, 0, 0.8, 20);"
    "INSERT INTO annotations (image_id, diagnosis, dx_type, notes, created) VALUES"
    " (1, 0, 'histo', 'confirmed melanoma', 30);";
  g_assert_cmpint (sqlite3_exec (s->db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  if (version >= 3)
    g_assert_cmpint (sqlite3_exec (s->db, "UPDATE models SET provenance = 'p' WHERE id = 2",
                                   NULL, NULL, NULL), ==, SQLITE_OK);
}

static void
test_migrations (void)
{
  for (int v = 0; v < derm_store_schema_version (); v++)
    {
      g_test_message ("from version %d", v);
      g_autofree char *dir = tmp_dir_new ();
      g_autoptr(GError) error = NULL;
      if (v > 0)
        {
          g_autoptr(DermStore) old = _derm_store_open_at_version (dir, v, &error);
          g_assert_no_error (error);
          g_assert_cmpint (query_int (old, "PRAGMA user_version"), ==, v);
          fill_version (old, v);
        }
      g_autoptr(DermStore) s = derm_store_open (dir, &error);
      g_assert_no_error (error);
      g_assert_cmpint (query_int (s, "PRAGMA user_version"), ==, derm_store_schema_version ());
      g_assert_true (derm_store_check_integrity (s, &error));
      g_assert_cmpint (query_int (s, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
      if (v == 0)
        {
          g_assert_cmpint (query_int (s, "SELECT count(*) FROM images"), ==, 0);
          rm_rf (dir);
          continue;
        }
      /* The old rows read as cases: latest analysis and annotation found. */
      g_autoptr(DermCase) c = derm_store_get_case (s, 1, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (c->patient->identifier, ==, "OLD");
      g_assert_cmpstr (c->analysis->model_info, ==, "second");
      g_assert_cmpuint (c->analyses->len, ==, 2);
      g_assert_cmpstr (c->annotation->notes, ==, "confirmed melanoma");
      DermCaseQuery q;
      derm_case_query_init (&q);
      q.min_risk = 0.5;
      q.confirmed = DERM_CONFIRMED_YES;
      gint64 total = 0;
      g_autoptr(GPtrArray) l = derm_store_list_cases (s, &q, &total, &error);
      g_assert_cmpint (total, ==, 1);
      /* Schema 4's copies on images were filled from the old rows. */
      g_assert_cmpint (query_int (s, "SELECT count(*) FROM images WHERE id = 1 AND body_site = 'back'"
                                     " AND analysis_id = 2 AND predicted = 0 AND risk = 0.8"
                                     " AND confirmed = 1 AND diagnosis = 0"), ==, 1);
      g_assert_cmpint (query_int (s, "SELECT count(*) FROM images WHERE id = 2 AND body_site = 'face'"
                                     " AND analysis_id IS NULL AND predicted IS NULL AND risk IS NULL"
                                     " AND confirmed = 0 AND diagnosis IS NULL"), ==, 1);
      derm_case_query_init (&q);
      q.predicted = DERM_CLASS_MEL;
      q.sort = DERM_CASE_SORT_RISK_DESC;
      g_autoptr(GPtrArray) mel = derm_store_list_cases (s, &q, &total, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (mel->len, ==, 1);
      g_assert_cmpint (total, ==, 1);
      /* ... and the new triggers keep them: the unanalysed visit gets a
       * melanoma analysis and an annotation and now leads the risk order. */
      const char *later =
        "INSERT INTO analyses (image_id, model_info, p_mel, p_nv, p_bcc, p_akiec, p_bkl, p_df,"
        " p_vasc, predicted, malignant_risk, created) VALUES"
        " (2, 'third', 0.95, 0.05, 0, 0, 0, 0, 0, 0, 0.95, 40);"
        "INSERT INTO annotations (image_id, diagnosis, dx_type, notes, created) VALUES"
        " (2, 0, 'histo', 'also melanoma', 50);";
      g_assert_cmpint (sqlite3_exec (s->db, later, NULL, NULL, NULL), ==, SQLITE_OK);
      q.confirmed = DERM_CONFIRMED_YES;
      g_autoptr(GPtrArray) both = derm_store_list_cases (s, &q, &total, &error);
      g_assert_no_error (error);
      g_assert_cmpint (total, ==, 2);
      g_assert_cmpuint (both->len, ==, 2);
      g_assert_cmpint (((DermCase *) both->pdata[0])->image->id, ==, 2);
      g_assert_cmpstr (((DermCase *) both->pdata[0])->analysis->model_info, ==, "third");
      g_autoptr(DermModelVersion) act = derm_store_get_active_model (s, DERM_MODEL_KIND_CLASSIFIER, &error);
      g_assert_no_error (error);
      g_assert_cmpint (act->id, ==, 2);
      /* New writes work on the migrated file. */
      g_autoptr(DermModelVersion) m = derm_store_get_model (s, 1, &error);
      m->settings_json = g_strdup ("{}");
      g_assert_cmpint (derm_store_register_model (s, m, &error), ==, 3);
      g_assert_true (derm_store_activate_model (s, 1, &error));
      g_assert_no_error (error);
      rm_rf (dir);
    }
}

int
main (int argc, char **argv)
{
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (argc >= 3 && g_strcmp0 (argv[1], "--child") == 0)
    return child_main (argc, argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/robust/kill-mid-import", test_kill_mid_import);
  g_test_add_func ("/store/robust/newer-version-refused", test_newer_version_refused);
  g_test_add_func ("/store/robust/garbage-file-refused", test_garbage_file_refused);
  g_test_add_func ("/store/robust/damaged-pages-reported", test_damaged_pages_reported);
  g_test_add_func ("/store/robust/read-only", test_read_only);
  g_test_add_func ("/store/robust/disk-full", test_disk_full);
  g_test_add_func ("/store/robust/migrations-from-every-version", test_migrations);
  return g_test_run ();
}
