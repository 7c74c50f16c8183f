/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-crash.c: crash safety (issue 9). A child process is killed with
 * SIGKILL in the middle of saving cases, of saving and registering model
 * versions, and of a training job; then the files and the database must be
 * consistent: integrity_check ok, every listed file complete and matching
 * its recorded SHA-256, the active model loadable, nothing reported saved
 * lost, and the training job's last checkpoint resumes to a finished model.
 *
 * The kill lands at a different moment each round (after a varying number
 * of saves plus a varying delay); the assertions hold whatever the moment. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <utime.h>

#include <gio/gio.h>

#include "derm-dataset.h"
#include "derm-engine.h"
#include "derm-safetensors.h"
#include "derm-store.h"
#include "derm-train-job.h"
#include "hardening-util.h"

static char *self_exe;

/* ---- Running and killing a child ---------------------------------------- */

/* Starts `self --child MODE ARG...`, reads its stdout lines until one starts
 * with @wait_for (a prefix) @wait_count times, waits @delay_ms, SIGKILLs it.
 * Returns: (transfer full) every line it printed, in order, NULL-terminated. */
static char **
run_and_kill (const char *const *args, const char *wait_for, guint wait_count, guint delay_ms)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, self_exe);
  g_ptr_array_add (argv, (gpointer) "--child");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) child = g_subprocess_newv ((const char *const *) argv->pdata,
                                                    G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_autoptr(GDataInputStream) in =
    g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  guint seen = 0;
  while (seen < wait_count)
    {
      char *line = g_data_input_stream_read_line_utf8 (in, NULL, NULL, &error);
      g_assert_no_error (error);
      if (line == NULL)
        g_error ("the child ended before printing “%s” %u times", wait_for, wait_count);
      if (g_str_has_prefix (line, wait_for))
        seen++;
      g_ptr_array_add (lines, line);
    }
  if (delay_ms > 0)
    g_usleep (delay_ms * 1000);
  g_subprocess_send_signal (child, SIGKILL);
  /* Whatever it printed before dying counts as reported. */
  char *line;
  while ((line = g_data_input_stream_read_line_utf8 (in, NULL, NULL, NULL)) != NULL)
    g_ptr_array_add (lines, line);
  g_assert_true (g_subprocess_wait (child, NULL, &error));
  g_assert_true (g_subprocess_get_if_signaled (child));
  g_assert_cmpint (g_subprocess_get_term_sig (child), ==, SIGKILL);
  g_ptr_array_add (lines, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&lines), FALSE);
}

/* The number in the last line starting with @prefix ("saved 12"), or 0. */
static gint64
last_reported (char **lines, const char *prefix)
{
  gint64 n = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      n = g_ascii_strtoll (lines[i] + strlen (prefix), NULL, 10);
  return n;
}

/* Four rounds in one new folder DIR, with the store DIR/store: starts
 * `--child MODE DIR`, kills it after @first_wait + round lines starting with
 * @prefix plus round * @delay_step ms, then @check (DIR, the highest number
 * the children reported so far). */
static void
kill_in_rounds (const char *mode, const char *prefix, guint first_wait, guint delay_step,
                void (*check) (const char *dir, gint64 at_least))
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_assert_cmpint (g_mkdir (db, 0700), ==, 0);
  gint64 reported = 0;
  for (guint round = 0; round < 4; round++)
    {
      const char *args[] = { mode, dir, NULL };
      g_auto(GStrv) lines = run_and_kill (args, prefix, first_wait + round, round * delay_step);
      gint64 n = last_reported (lines, prefix);
      g_test_message ("round %u: killed after “%s%" G_GINT64_FORMAT "”", round, prefix, n);
      reported = MAX (reported, n);
      check (dir, reported);
    }
  hardening_rm_rf (dir);
}

static char *
sha256_of_file (const char *path)
{
  g_autoptr(GBytes) bytes = hardening_read (path);
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

/* ---- Saving cases ---------------------------------------------------------- */

/* Child: saves cases (image copy, analysis with a mask, annotation) in an
 * endless loop, printing "saved N" after each whole case. */
static int
child_save_cases (const char *dir)
{
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_autofree char *src = g_build_filename (dir, "incoming", NULL);
  g_mkdir (src, 0700);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  gint64 patient = derm_store_ensure_patient (store, "P-crash", 1960, DERM_SEX_MALE, &error);
  gint64 lesion = derm_store_add_lesion (store, patient, "back", "watched", &error);
  g_assert_no_error (error);
  DermCaseQuery q;
  derm_case_query_init (&q);
  gint64 n = 0;
  g_autoptr(GPtrArray) existing = derm_store_list_cases (store, &q, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (gint64) existing->len);
  for (guint32 seed = (guint32) n + 1000 * (guint32) getpid ();; seed++)
    {
      g_autofree char *name = g_strdup_printf ("visit %u.jpg", seed);
      /* About 150 KB: copying and syncing it takes a while. */
      g_autofree char *jpg = hardening_noise_jpeg (src, name, 240, 200, seed);
      gint64 image = derm_store_add_image (store, lesion, jpg, 0, &error);
      g_assert_no_error (error);
      g_autoptr(DermImage) mask = derm_image_new (24, 20, 1, &error);
      for (gsize i = 0; i < 24 * 20; i++)
        mask->data[i] = (i + seed) % 7 ? 0 : 255;
      gsize png_len = 0;
      guint8 *png = derm_image_encode_png (mask, &png_len, &error);
      g_autoptr(GBytes) mask_png = g_bytes_new_take (png, png_len);
      DermAnalysis a = { .image_id = image, .predicted = DERM_CLASS_MEL,
                         .model_info = (char *) "crash test", .mask_png = mask_png };
      for (int c = 0; c < DERM_N_CLASSES; c++)
        a.probs[c] = c == 0 ? 0.4f : 0.1f;
      g_assert_cmpint (derm_store_add_analysis (store, &a, &error), >, 0);
      DermAnnotation ann = { .image_id = image, .diagnosis = DERM_CLASS_MEL,
                             .dx_type = DERM_DX_TYPE_HISTO, .notes = (char *) "confirmed" };
      g_assert_cmpint (derm_store_add_annotation (store, &ann, &error), >, 0);
      g_assert_no_error (error);
      g_unlink (jpg);
      printf ("saved %" G_GINT64_FORMAT "\n", ++n);
      fflush (stdout);
    }
  return 0;
}

/* Sets @path's times two hours back: a temporary copy that old is stale. */
static void
age_two_hours (const char *path)
{
  struct utimbuf old = { time (NULL) - 7200, time (NULL) - 7200 };
  g_assert_cmpint (g_utime (path, &old), ==, 0);
}

static void
assert_store_consistent (const char *dir, gint64 at_least)
{
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_check_integrity (store, &error));
  g_assert_no_error (error);
  DermCaseQuery q;
  derm_case_query_init (&q);
  gint64 total = 0;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &q, &total, &error);
  g_assert_no_error (error);
  /* Nothing the child reported saved is lost. */
  g_assert_cmpint (total, >=, at_least);
  guint complete = 0;
  for (guint i = 0; i < cases->len; i++)
    {
      DermCase *c = cases->pdata[i];
      /* Every stored image is whole: its bytes match the recorded hash. */
      g_assert_true (g_file_test (c->image->path, G_FILE_TEST_IS_REGULAR));
      g_autofree char *sha = sha256_of_file (c->image->path);
      g_assert_cmpstr (sha, ==, c->image->sha256);
      g_autoptr(DermImage) img = derm_image_load (c->image->path, 3, 0, 0, &error);
      g_assert_no_error (error);
      g_assert_cmpint (img->width, ==, c->image->width);
      g_autoptr(DermCase) full = derm_store_get_case (store, c->image->id, &error);
      g_assert_no_error (error);
      if (full->analysis != NULL)
        {
          g_assert_nonnull (full->analysis->mask_png);
          g_autoptr(DermImage) mask = derm_image_load_from_memory (
            g_bytes_get_data (full->analysis->mask_png, NULL),
            g_bytes_get_size (full->analysis->mask_png), "mask", 1, 0, 0, &error);
          g_assert_no_error (error);
          g_assert_cmpint (mask->width, ==, 24);
        }
      complete += full->analysis != NULL && full->annotation != NULL;
    }
  /* Only the case being saved at the kill may be incomplete (a visit
   * without its analysis or annotation yet). */
  g_assert_cmpuint (complete, >=, cases->len - MIN (cases->len, 1));
  /* Files left by the kill (a copy cut short, a copy whose row was never
   * committed) are found and removed; then every file in images/ is a
   * referenced, complete copy. Temporary copies count as stale after an
   * hour: age them. */
  const char *images = derm_store_get_images_dir (store);
  {
    g_autoptr(GDir) d = g_dir_open (images, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL)
      if (g_str_has_prefix (name, ".incoming-"))
        {
          g_autofree char *path = g_build_filename (images, name, NULL);
          g_test_message ("a temporary copy was left: %s", name);
          age_two_hours (path);
        }
  }
  g_assert_cmpint (derm_store_remove_orphan_images (store, &error), >=, 0);
  g_assert_no_error (error);
  g_assert_cmpuint (hardening_count_files (images, NULL), ==, cases->len);
}

static void
test_kill_mid_case_save (void)
{
  kill_in_rounds ("save-cases", "saved ", 2, 7, assert_store_consistent);
}

/* What a kill in the middle of an image copy leaves: a temporary file. It is
 * removed once stale, never while it may be another connection's copy. */
static void
test_stale_temporary_copies (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (dir, &error);
  g_assert_no_error (error);
  const char *images = derm_store_get_images_dir (store);
  g_mkdir_with_parents (images, 0700);
  g_autofree char *stale = g_build_filename (images, ".incoming-AbC123", NULL);
  g_autofree char *fresh = g_build_filename (images, ".incoming-XyZ789", NULL);
  g_assert_true (g_file_set_contents (stale, "half a JPEG", -1, NULL));
  g_assert_true (g_file_set_contents (fresh, "a JPEG being copied", -1, NULL));
  age_two_hours (stale);
  g_assert_cmpint (derm_store_remove_orphan_images (store, &error), ==, 1);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fresh, G_FILE_TEST_EXISTS));
  hardening_rm_rf (dir);
}

/* ---- Saving model versions ----------------------------------------------- */

/* Child: saves a new model version file, registers it, activates it; in an
 * endless loop, printing "active N" once version N is active. The file is
 * written (atomically) before the registry names it. */
static int
child_save_models (const char *dir)
{
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_autofree char *models = g_build_filename (dir, "models", NULL);
  g_mkdir (models, 0700);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) known = derm_store_list_models (store, DERM_MODEL_KIND_SEGMENTER, &error);
  g_assert_no_error (error);
  g_autoptr(DermModel) m = hardening_tiny_unet ();
  for (guint v = known->len + 1;; v++)
    {
      g_autofree char *version = g_strdup_printf ("%u", v);
      derm_model_set_metadata (m, "version", version);
      g_autofree char *name = g_strdup_printf ("segmenter v%u.safetensors", v);
      g_autofree char *path = g_build_filename (models, name, NULL);
      g_assert_true (derm_model_save (m, path, &error));
      g_autofree char *sha = sha256_of_file (path);
      DermModelVersion mv = { .kind = DERM_MODEL_KIND_SEGMENTER, .architecture = (char *) "unet",
                              .file_path = path, .sha256 = sha,
                              .provenance = (char *) "crash test" };
      gint64 id = derm_store_register_model (store, &mv, &error);
      g_assert_no_error (error);
      g_assert_true (derm_store_activate_model (store, id, &error));
      printf ("active %u\n", v);
      fflush (stdout);
    }
  return 0;
}

static void
assert_registry_consistent (const char *dir, gint64 at_least)
{
  g_autofree char *db = g_build_filename (dir, "store", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (db, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_check_integrity (store, &error));
  g_autoptr(GPtrArray) all = derm_store_list_models (store, DERM_MODEL_KIND_SEGMENTER, &error);
  g_assert_no_error (error);
  g_assert_cmpint (all->len, >=, at_least);
  guint active = 0;
  for (guint i = 0; i < all->len; i++)
    {
      DermModelVersion *mv = all->pdata[i];
      /* No half-written file is listed: every file is whole and loads. */
      g_autofree char *sha = sha256_of_file (mv->file_path);
      g_assert_cmpstr (sha, ==, mv->sha256);
      active += mv->active;
    }
  g_assert_cmpuint (active, ==, 1);
  g_autoptr(DermModelVersion) act = derm_store_get_active_model (store, DERM_MODEL_KIND_SEGMENTER,
                                                                 &error);
  g_assert_no_error (error);
  g_autoptr(DermModel) m = derm_model_load (act->file_path, "cpu", &error);
  g_assert_no_error (error);
  /* The active version is the newest the child reported active, or the
   * one it was activating when killed. */
  gint64 v = g_ascii_strtoll (derm_model_get_metadata (m, "version"), NULL, 10);
  g_assert_cmpint (v, >=, at_least);
  g_assert_cmpint (v, <=, at_least + 1);
  /* A file being written at the kill is only a temporary name beside the
   * versions, never a file at a registered path. */
}

static void
test_kill_mid_model_save (void)
{
  kill_in_rounds ("save-models", "active ", 1, 3, assert_registry_consistent);
}

/* ---- A training job -------------------------------------------------------- */

/* A small HAM10000-like folder: 3 lesions of each class, one 32x32 image
 * each, the class visible as a colour. */
static void
make_dataset (const char *dir)
{
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_assert_cmpint (g_mkdir_with_parents (images, 0700), ==, 0);
  GString *csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    for (int k = 0; k < 3; k++)
      {
        g_autofree char *id = g_strdup_printf ("ISIC_%07d", c * 10 + k);
        g_autoptr(DermImage) img = derm_image_new (32, 32, 3, NULL);
        for (gsize i = 0; i < 32 * 32 * 3; i++)
          img->data[i] = (guint8) ((i % 3 == (gsize) c % 3 ? 40 * c : 128)
                                   + g_rand_int_range (rand, 0, 20));
        g_autofree char *name = g_strdup_printf ("%s.jpg", id);
        g_autofree char *path = g_build_filename (images, name, NULL);
        g_assert_true (derm_image_save_jpeg (img, path, 90, NULL));
        g_autofree char *dx = g_ascii_strdown (derm_class_code (c), -1);
        g_string_append_printf (csv, "HAM_%07d,%s,%s,histo,50,male,back\n", c * 10 + k, id, dx);
      }
  g_autofree char *meta = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_assert_true (g_file_set_contents (meta, csv->str, (gssize) csv->len, NULL));
  g_string_free (csv, TRUE);
}

static void
job_config (DermTrainJobConfig *cfg, const char *data, const char *out, int epochs,
            const char *resume)
{
  derm_train_job_config_init (cfg);
  cfg->task = DERM_TASK_CLASSIFY;
  cfg->arch = DERM_ARCH_RESNET18;
  cfg->data_dir = data;
  cfg->out_path = out;
  cfg->epochs = epochs;
  cfg->batch = 4;
  cfg->image_size = 32;
  cfg->device = "cpu";
  cfg->seed = 11;
  cfg->val_fraction = 0.25;
  cfg->test_fraction = 0.2;
  cfg->workers = 1;
  cfg->patience = 0;
  cfg->checkpoint_every = 0;   /* a checkpoint after every epoch: the test kills between them */
  cfg->resume = resume;
}

static void
print_event (const DermTrainEvent *event, gpointer user_data)
{
  if (event->type == DERM_TRAIN_EVENT_CHECKPOINT)
    {
      printf ("checkpoint %d\n", event->epoch + 1);
      fflush (stdout);
    }
}

/* The job's length; a resumed job must be configured as the original. */
#define JOB_EPOCHS 6

/* Child: a training job that writes a checkpoint after every epoch. */
static int
child_train (const char *dir)
{
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "model \"run\".safetensors", NULL);
  DermTrainJobConfig cfg;
  job_config (&cfg, data, out, JOB_EPOCHS, NULL);
  g_autoptr(GError) error = NULL;
  gboolean ok = derm_train_job_run (&cfg, print_event, NULL, NULL, &error);
  g_printerr ("the job ended: %s\n", ok ? "done" : error->message);
  return 1;
}

static void
count_epochs (const DermTrainEvent *event, gpointer user_data)
{
  if (event->type == DERM_TRAIN_EVENT_EPOCH)
    (*(int *) user_data)++;
}

static void
test_kill_mid_training (void)
{
  g_autofree char *dir = hardening_tmpdir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "model \"run\".safetensors", NULL);
  g_autofree char *ckpt = g_strdup_printf ("%s.ckpt", out);
  make_dataset (data);

  const char *args[] = { "train", dir, NULL };
  g_auto(GStrv) lines = run_and_kill (args, "checkpoint ", 2, 150);
  gint64 done = last_reported (lines, "checkpoint ");
  g_assert_cmpint (done, >=, 2);
  g_assert_cmpint (done, <, JOB_EPOCHS - 1);

  /* The best model so far, when written, is whole. */
  g_autoptr(GError) error = NULL;
  if (g_file_test (out, G_FILE_TEST_EXISTS))
    {
      g_autoptr(DermModel) best = derm_model_load (out, "cpu", &error);
      g_assert_no_error (error);
      g_assert_cmpint (derm_model_get_num_classes (best), ==, DERM_N_CLASSES);
    }

  /* The last checkpoint is whole (the reader checks every byte range) ... */
  g_autoptr(DermSafetensors) st = derm_safetensors_open (ckpt, &error);
  g_assert_no_error (error);
  derm_safetensors_free (g_steal_pointer (&st));

  /* ... and the job, configured as before, resumes from it to the end. */
  DermTrainJobConfig cfg;
  job_config (&cfg, data, out, JOB_EPOCHS, ckpt);
  int epochs_run = 0;
  g_assert_true (derm_train_job_run (&cfg, count_epochs, &epochs_run, NULL, &error));
  g_assert_no_error (error);
  /* It went on where the checkpoint ended: the epochs after the reported
   * checkpoint, one fewer when the kill fell after a newer one was written. */
  g_assert_cmpint (epochs_run, <=, JOB_EPOCHS - done);
  g_assert_cmpint (epochs_run, >=, JOB_EPOCHS - done - 1);
  g_assert_false (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  g_autoptr(DermModel) m = derm_model_load (out, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpint (derm_model_get_num_classes (m), ==, DERM_N_CLASSES);
  hardening_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  self_exe = g_canonicalize_filename (argv[0], NULL);
  derm_engine_set_threads (1);
  if (argc == 4 && strcmp (argv[1], "--child") == 0)
    {
      if (strcmp (argv[2], "save-cases") == 0)
        return child_save_cases (argv[3]);
      if (strcmp (argv[2], "save-models") == 0)
        return child_save_models (argv[3]);
      if (strcmp (argv[2], "train") == 0)
        return child_train (argv[3]);
      return 2;
    }
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hardening/crash/stale-temporary-copies", test_stale_temporary_copies);
  g_test_add_func ("/hardening/crash/kill-mid-case-save", test_kill_mid_case_save);
  g_test_add_func ("/hardening/crash/kill-mid-model-version-save", test_kill_mid_model_save);
  g_test_add_func ("/hardening/crash/kill-mid-training", test_kill_mid_training);
  return g_test_run ();
}
