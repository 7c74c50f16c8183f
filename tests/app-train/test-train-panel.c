/* test-train-panel.c: the training panel under Xvfb, driven through its
 * widgets on a small generated HAM10000 folder: start a job, see events and
 * the bar move, analyse while it trains, stop within one step, resume,
 * finish, see the new version with metrics, activate it and see an analysis
 * report it, then roll back.
 *   test-train-panel OUTDIR        (XDG_DATA_HOME must be an empty folder) */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "derm-engine.h"
#include "derm-resources.h"
#include "derm-store.h"
#include "derm-test-hook.h"
#include "derm-train-panel-private.h"
#include "derm-worker.h"

static const char *outdir;
static GtkWidget *window;
static DermTrainPanel *panel;
static DermWorker *worker;
static DermImage *probe_image;

/* ---- Data ------------------------------------------------------------------------ */

static void
make_image (const char *path, const char *mask_path, int klass, int index)
{
  const int size = 48;
  g_autoptr(DermImage) img = derm_image_new (size, size, 3, NULL);
  g_autoptr(DermImage) mask = derm_image_new (size, size, 1, NULL);
  /* One colour per class, position and radius vary: learnable, not trivial. */
  static const guint8 colours[DERM_N_CLASSES][3] = {
    { 40, 20, 20 }, { 120, 70, 40 }, { 200, 120, 160 }, { 190, 60, 50 },
    { 150, 140, 90 }, { 90, 60, 110 }, { 170, 20, 40 },
  };
  double cx = 20 + index % 5 * 2, cy = 22 + index % 3 * 2, r = 9 + index % 4;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        guint8 *p = derm_image_pixel (img, x, y);
        gboolean in = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
        int noise = (x * 7 + y * 13 + index * 31) % 11 - 5;
        for (int c = 0; c < 3; c++)
          p[c] = CLAMP ((in ? colours[klass][c] : (int []) { 225, 180, 160 }[c]) + noise, 0, 255);
        *derm_image_pixel (mask, x, y) = in ? 255 : 0;
      }
  g_assert_true (derm_image_save_jpeg (img, path, 92, NULL));
  g_assert_true (derm_image_save_png (mask, mask_path, NULL));
}

static char *
make_dataset (void)
{
  char *dir = g_build_filename (outdir, "ham-tiny", NULL);
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_autofree char *masks = g_build_filename (dir, "masks", NULL);
  g_mkdir_with_parents (images, 0700);
  g_mkdir_with_parents (masks, 0700);
  g_autoptr(GString) csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  static const char *const dx[] = { "mel", "nv", "bcc", "akiec", "bkl", "df", "vasc" };
  int n = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    for (int i = 0; i < 8; i++, n++)
      {
        g_autofree char *id = g_strdup_printf ("ISIC_%07d", n);
        g_autofree char *name = g_strconcat (id, ".jpg", NULL);
        g_autofree char *mname = g_strconcat (id, "_segmentation.png", NULL);
        g_autofree char *path = g_build_filename (images, name, NULL);
        g_autofree char *mpath = g_build_filename (masks, mname, NULL);
        make_image (path, mpath, c, i);
        g_string_append_printf (csv, "HAM_%07d,%s,%s,histo,50,male,back\n", n, id, dx[c]);
      }
  /* One unreadable image: a JPEG cut short. */
  g_autofree char *bad = g_build_filename (images, "ISIC_9999999.jpg", NULL);
  g_assert_true (g_file_set_contents (bad, "\xff\xd8\xff\xe0\x00\x10JFIF", 10, NULL));
  g_string_append (csv, "HAM_9999999,ISIC_9999999,nv,histo,50,female,back\n");
  g_autofree char *csv_path = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_assert_true (g_file_set_contents (csv_path, csv->str, -1, NULL));
  return dir;
}

/* A first classifier, active before any training: version 1. */
static gint64
install_initial_model (char **path_out)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "dermalens", "models", NULL);
  g_mkdir_with_parents (dir, 0700);
  char *path = g_build_filename (dir, "initial.safetensors", NULL);
  DermModelConfig mc = { DERM_ARCH_RESNET18, DERM_N_CLASSES, 0, 32 };
  g_autoptr(GError) error = NULL;
  DermModel *model = derm_model_new (&mc, "cpu", &error);
  g_assert_no_error (error);
  g_assert_true (derm_model_save (model, path, &error));
  derm_model_free (model);
  g_autoptr(DermStore) store = derm_store_open (NULL, &error);
  g_assert_no_error (error);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) contents, len);
  DermModelVersion v = { .kind = DERM_MODEL_KIND_CLASSIFIER, .architecture = "resnet18",
                         .file_path = path, .sha256 = sha, .provenance = "test: fresh weights" };
  gint64 id = derm_store_register_model (store, &v, &error);
  g_assert_no_error (error);
  g_assert_true (derm_store_activate_model (store, id, &error));
  *path_out = path;
  return id;
}

/* ---- Driving ------------------------------------------------------------------------- */

static GtkWidget *
child (const char *name)
{
  GtkWidget *w = _derm_train_panel_get_child (panel, name);
  g_assert_nonnull (w);
  return w;
}

static void
click (const char *name)
{
  GtkWidget *w = child (name);
  g_assert_true (gtk_widget_is_sensitive (w));
  g_signal_emit_by_name (w, "clicked");
}

static void
wait_for (gboolean *flag)
{
  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
}

static void
painted_cb (GdkFrameClock *clock, gboolean *flag)
{
  *flag = TRUE;
}

/* Waits until the window has laid out and drawn a frame. */
static void
wait_frame (void)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);
  for (int i = 0; i < 2; i++)
    {
      gboolean painted = FALSE;
      gulong id = g_signal_connect (clock, "after-paint", G_CALLBACK (painted_cb), &painted);
      gtk_widget_queue_draw (window);
      wait_for (&painted);
      g_signal_handler_disconnect (clock, id);
    }
}

static void
shot (const char *name)
{
  wait_frame ();
  g_autofree char *path = g_build_filename (outdir, name, NULL);
  g_autoptr(GError) error = NULL;
  if (!derm_test_hook_save_screenshot (window, path, &error))
    g_printerr ("# screenshot %s: %s\n", path, error->message);
  else
    g_printerr ("# screenshot: %s\n", path);
}

typedef struct {
  gboolean done;
  gboolean was_running;
  char *info;
  GError *error;
} Analysis;

static void
analysed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Analysis *a = user_data;
  g_autoptr(DermAnalysisResult) r = derm_worker_analyze_finish (DERM_WORKER (source), result, &a->error);
  a->was_running = panel != NULL && derm_train_panel_is_running (panel);
  if (r != NULL)
    a->info = g_strdup (r->classifier_info);
  a->done = TRUE;
}

static char *
analyse_now (void)
{
  Analysis a = { 0 };
  derm_worker_analyze_async (worker, probe_image, FALSE, NULL, analysed_cb, &a);
  wait_for (&a.done);
  g_assert_no_error (a.error);
  return a.info;
}

/* ---- Job watching ------------------------------------------------------------------- */

typedef struct {
  int phase;                 /* 1: until the stop; 2: resumed */
  guint steps;
  double last_fraction;
  guint fraction_moves;
  gboolean cancel_sent;
  gint64 step_at_cancel;
  gint64 max_step_after_cancel;
  int first_epoch_after_resume;
  gboolean resumed_message;
  gboolean checkpoint_seen;
  gboolean test_event;
  gboolean epoch_recall;
  Analysis during;
  gboolean analysis_sent;
  gboolean finished;
  GError *error;
} Watch;

static void
event_cb (DermTrainRunner *runner, DermTrainRunnerEvent *e, Watch *w)
{
  GtkProgressBar *bar = GTK_PROGRESS_BAR (child ("progress_bar"));
  if (e->type == DERM_TRAIN_EVENT_MESSAGE && strstr (e->message, "resumed from") != NULL)
    w->resumed_message = TRUE;
  if (e->type == DERM_TRAIN_EVENT_CHECKPOINT)
    w->checkpoint_seen = TRUE;
  if (e->type == DERM_TRAIN_EVENT_TEST)
    w->test_event = TRUE;
  if (e->type == DERM_TRAIN_EVENT_EPOCH && e->json != NULL && strstr (e->json, "\"recall\"") != NULL)
    w->epoch_recall = TRUE;
  if (e->type != DERM_TRAIN_EVENT_STEP)
    return;
  w->steps++;
  /* The panel's bar says what it measures and moves each step. */
  const char *text = gtk_progress_bar_get_text (bar);
  g_assert_nonnull (strstr (text, "epoch "));
  g_assert_nonnull (strstr (text, "images/s"));
  g_assert_nonnull (strstr (text, "elapsed"));
  double f = gtk_progress_bar_get_fraction (bar);
  if (f > w->last_fraction)
    w->fraction_moves++;
  w->last_fraction = f;

  if (w->phase == 2 && w->first_epoch_after_resume < 0)
    w->first_epoch_after_resume = e->epoch;
  if (w->phase == 1 && !w->analysis_sent)
    {
      /* The window's analysis goes on while the job trains. */
      w->analysis_sent = TRUE;
      derm_worker_analyze_async (worker, probe_image, FALSE, NULL, analysed_cb, &w->during);
    }
  if (w->cancel_sent)
    w->max_step_after_cancel = MAX (w->max_step_after_cancel, e->global_step);
  else if (w->phase == 1 && e->epoch >= 1 && w->during.done)
    {
      shot ("train-in-progress.png");
      w->step_at_cancel = e->global_step;
      w->cancel_sent = TRUE;
      click ("cancel_button");
    }
}

static void
finished_cb (DermTrainRunner *runner, const GError *error, Watch *w)
{
  w->error = error != NULL ? g_error_copy (error) : NULL;
  w->finished = TRUE;
}

static gboolean versions_changed;
static gboolean version_activated;

static void
versions_changed_cb (DermTrainPanel *p, gpointer data)
{
  versions_changed = TRUE;
}

static void
version_activated_cb (DermTrainPanel *p, int kind, gpointer data)
{
  /* What the window does with an empty model setting: reload from the store. */
  derm_worker_set_models (worker, NULL, NULL, "cpu");
  version_activated = TRUE;
}

static char *
describe (void)
{
  g_autoptr(GString) s = g_string_new (NULL);
  _derm_train_panel_describe (panel, s);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
test_train_panel (void)
{
  g_autofree char *data = make_dataset ();
  g_autofree char *initial_path = NULL;
  gint64 initial = install_initial_model (&initial_path);
  probe_image = derm_image_new (64, 64, 3, NULL);
  memset (probe_image->data, 150, (gsize) 64 * 64 * 3);

  worker = derm_worker_new ();
  derm_worker_set_models (worker, NULL, NULL, "cpu");
  g_autofree char *info0 = analyse_now ();
  g_assert_nonnull (strstr (info0, "initial.safetensors"));

  window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 900);
  panel = DERM_TRAIN_PANEL (derm_train_panel_new ());
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (panel));
  gtk_window_present (GTK_WINDOW (window));
  g_signal_connect (panel, "versions-changed", G_CALLBACK (versions_changed_cb), NULL);
  g_signal_connect (panel, "version-activated", G_CALLBACK (version_activated_cb), NULL);

  /* Set up the job as a user would. */
  gtk_editable_set_text (GTK_EDITABLE (child ("folder_entry")), data);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("data_drop")), 0);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("task_drop")), 0);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("arch_drop")), 0);      /* ResNet-18 */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("init_drop")), 0);      /* active model */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("device_drop")), 1);    /* CPU */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("epochs_spin")), 4);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("batch_spin")), 4);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("size_spin")), 32);

  /* The estimate measures a few steps first. */
  click ("estimate_button");
  GtkLabel *estimate = GTK_LABEL (child ("estimate_label"));
  while (strstr (gtk_label_get_text (estimate), "images/s") == NULL
         && strstr (gtk_label_get_text (estimate), "Measuring") != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_printerr ("# %s\n", gtk_label_get_text (estimate));
  g_assert_nonnull (strstr (gtk_label_get_text (estimate), "images/s"));
  g_assert_nonnull (strstr (gtk_label_get_text (estimate), "57 images"));

  Watch w = { .phase = 1, .first_epoch_after_resume = -1 };
  DermTrainRunner *runner = derm_train_panel_get_runner (panel);
  g_signal_connect_after (runner, "event", G_CALLBACK (event_cb), &w);
  g_signal_connect_after (runner, "finished", G_CALLBACK (finished_cb), &w);

  /* 1. Start, analyse while it trains, stop in epoch 2. */
  click ("start_button");
  g_assert_true (derm_train_panel_is_running (panel));
  g_assert_false (gtk_widget_is_sensitive (child ("start_button")));
  wait_for (&w.finished);
  g_printerr ("# phase 1: %u step events, bar moved %u times, stop at step %" G_GINT64_FORMAT
              ", last step after it %" G_GINT64_FORMAT "\n", w.steps, w.fraction_moves,
              w.step_at_cancel, w.max_step_after_cancel);
  g_assert_true (w.during.done);
  g_assert_no_error (w.during.error);
  g_assert_true (w.during.was_running);
  g_assert_nonnull (strstr (w.during.info, "initial.safetensors"));
  g_assert_true (w.cancel_sent);
  g_assert_error (w.error, DERM_ERROR, DERM_ERROR_CANCELLED);
  g_assert_cmpuint (w.fraction_moves, >=, 5);
  g_assert_true (w.epoch_recall);
  /* Within one step, counted on the training thread (the main loop's events
   * may lag behind it): the step running when Stop was asked finishes. */
  gint64 after = derm_train_runner_get_steps_after_cancel (runner);
  g_printerr ("# the job stopped %" G_GINT64_FORMAT " step(s) after the request\n", after);
  g_assert_cmpint (after, >=, 0);
  g_assert_cmpint (after, <=, 1);
  g_assert_true (gtk_widget_is_sensitive (child ("resume_button")));
  g_autofree char *state1 = describe ();
  g_assert_nonnull (strstr (state1, "1 unreadable image was skipped"));
  g_assert_nonnull (strstr (state1, "recall_MEL="));
  g_assert_null (strstr (state1, "recall_MEL=–"));
  g_assert_true (g_file_test (g_build_filename (g_get_user_data_dir (), "dermalens", "training",
                                                "classifier.safetensors.ckpt", NULL),
                              G_FILE_TEST_EXISTS));

  /* 2. Resume and finish. */
  g_clear_error (&w.error);
  w.phase = 2;
  w.finished = FALSE;
  versions_changed = FALSE;
  click ("resume_button");
  wait_for (&w.finished);
  g_assert_no_error (w.error);
  g_assert_true (w.resumed_message);
  g_assert_cmpint (w.first_epoch_after_resume, >=, 1);
  g_assert_true (w.test_event);
  gint64 new_version = _derm_train_panel_get_new_version (panel);
  g_assert_cmpint (new_version, >, initial);
  while (_derm_train_panel_get_version_row (panel, new_version) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_autofree char *state2 = describe ();
  g_printerr ("%s", state2);
  g_autofree char *line = g_strdup_printf ("version=%" G_GINT64_FORMAT "|classifier|resnet18|test "
                                           "balanced accuracy ", new_version);
  g_assert_nonnull (strstr (state2, line));
  g_autofree char *parent = g_strdup_printf ("|inactive|parent %" G_GINT64_FORMAT "\n", initial);
  g_assert_nonnull (strstr (strstr (state2, line), parent));
  g_assert_nonnull (strstr (state2, "confusion=1"));
  g_assert_false (g_file_test (g_build_filename (g_get_user_data_dir (), "dermalens", "training", NULL),
                               G_FILE_TEST_EXISTS));

  /* 3. Compare side by side, then activate the new version. */
  click ("compare_button");
  g_assert_cmpint (_derm_train_panel_get_selected_version (panel), ==, new_version);
  g_autofree char *title = g_strdup (gtk_label_get_text (GTK_LABEL (child ("compare_title"))));
  g_assert_nonnull (strstr (title, "(active)"));
  shot ("train-comparison.png");
  gtk_stack_set_visible_child_name (GTK_STACK (child ("stack")), "train");
  GtkWidget *sw = gtk_widget_get_ancestor (child ("result_box"), GTK_TYPE_SCROLLED_WINDOW);
  wait_frame ();
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw));
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
  shot ("train-finished.png");
  gtk_stack_set_visible_child_name (GTK_STACK (child ("stack")), "versions");

  version_activated = FALSE;
  click ("activate_result_button");
  wait_for (&version_activated);
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  g_autoptr(DermModelVersion) nv = derm_store_get_model (store, new_version, NULL);
  g_assert_true (nv->active);
  g_assert_nonnull (nv->metrics_json);
  g_assert_nonnull (strstr (nv->settings_json, "\"epochs\":4"));
  g_assert_nonnull (strstr (nv->provenance, "1 unreadable images left out"));
  g_autofree char *base = g_path_get_basename (nv->file_path);
  g_autofree char *info1 = analyse_now ();
  g_printerr ("# analysis after activation: %s\n", info1);
  g_assert_nonnull (strstr (info1, base));

  /* 4. Roll back to version 1 from the list; the active one cannot be deleted. */
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, initial));
  g_assert_false (gtk_widget_is_sensitive (child ("delete_button")) && FALSE);
  version_activated = FALSE;
  click ("activate_button");
  wait_for (&version_activated);
  g_autofree char *info2 = analyse_now ();
  g_assert_nonnull (strstr (info2, "initial.safetensors"));
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, initial));
  g_assert_false (gtk_widget_is_sensitive (child ("delete_button")));
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, new_version));
  g_assert_true (gtk_widget_is_sensitive (child ("delete_button")));

  gtk_window_destroy (GTK_WINDOW (window));
  derm_worker_shutdown (worker);
  g_clear_object (&worker);
  derm_image_free (probe_image);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 2)
    {
      g_printerr ("usage: test-train-panel OUTDIR\n");
      return 2;
    }
  outdir = argv[1];
  if (!gtk_init_check ())
    {
      g_printerr ("no display\n");
      return 77;
    }
  (void) derm_get_resource ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);
  derm_engine_set_threads (0);
  g_test_add_func ("/train-panel/job-cancel-resume-activate", test_train_panel);
  return g_test_run ();
}
