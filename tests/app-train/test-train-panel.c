/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-train-panel.c: the training panel under Xvfb, driven through its
 * widgets on a small generated HAM10000 folder: start a job, see events and
 * the bar move, analyse while it trains, stop within one step, resume,
 * finish, see the new version with metrics, activate it and see an analysis
 * report it, then roll back. Then both models in one job from the folder
 * and the case database's confirmed cases; export, import and delete
 * versions through their dialogs; a full disk while the new model is saved;
 * running out of memory.
 *   test-train-panel OUTDIR        (XDG_DATA_HOME must be an empty folder)
 *   test-train-panel --make-dataset OUTDIR   (only writes OUTDIR/ham-tiny) */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gstdio.h>
#include <adwaita.h>

#include "derm-decision.h"
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
static char *data_dir;          /* the generated HAM10000 folder */
static gint64 initial_version;  /* the classifier installed before any job */
static gint64 both_classifier, both_segmenter;   /* registered by the "both" job */

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

/* The decision of the last analysis. */
static struct {
  float probs[DERM_N_CLASSES];
  int top_class;
  gboolean decided_by_rule;
  double model_risk_threshold;
} last_decision;

typedef struct {
  gboolean done;
  gboolean was_running;
  char *info;
  char *seg_info;
  GError *error;
} Analysis;

static void
analysed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Analysis *a = user_data;
  g_autoptr(DermAnalysisResult) r = derm_worker_analyze_finish (DERM_WORKER (source), result, &a->error);
  a->was_running = panel != NULL && derm_train_panel_is_running (panel);
  if (r != NULL)
    {
      a->info = g_strdup (r->classifier_info);
      a->seg_info = g_strdup (r->segmenter_info);
      memcpy (last_decision.probs, r->probs, sizeof r->probs);
      last_decision.top_class = r->top_class;
      last_decision.decided_by_rule = r->decided_by_rule;
      last_decision.model_risk_threshold = r->model_risk_threshold;
    }
  a->done = TRUE;
}

/* Analyses the probe image with the window's worker. Returns: (transfer
 * full) the classifier's info; the segmenter's in @seg_info (may be NULL). */
static char *
analyse_now (char **seg_info)
{
  Analysis a = { 0 };
  derm_worker_analyze_async (worker, probe_image, NULL, FALSE, NULL, analysed_cb, &a);
  wait_for (&a.done);
  g_assert_no_error (a.error);
  if (seg_info != NULL)
    *seg_info = a.seg_info;
  else
    g_free (a.seg_info);
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
      derm_worker_analyze_async (worker, probe_image, NULL, FALSE, NULL, analysed_cb, &w->during);
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
/* Counted too: two activations can land in one main-loop iteration. */
static guint n_activations;

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
  n_activations++;
}

static void
open_panel (void)
{
  window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 900);
  panel = DERM_TRAIN_PANEL (derm_train_panel_new (NULL));
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (panel));
  gtk_window_present (GTK_WINDOW (window));
  g_signal_connect (panel, "versions-changed", G_CALLBACK (versions_changed_cb), NULL);
  g_signal_connect (panel, "version-activated", G_CALLBACK (version_activated_cb), NULL);
  /* The panel lists the versions on a thread: wait for the list. */
  versions_changed = FALSE;
  wait_for (&versions_changed);
}

static void
close_panel (void)
{
  gtk_window_destroy (GTK_WINDOW (window));
  window = NULL;
  panel = NULL;
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* @data: 0 folder, 1 confirmed cases, 2 both; @task: 0 classifier,
 * 1 segmenter, 2 both. ResNet-18 from the active model, on the CPU. */
static void
set_up_job (guint data, guint task, int epochs, int batch, int size)
{
  gtk_editable_set_text (GTK_EDITABLE (child ("folder_entry")), data_dir);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("data_drop")), data);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("task_drop")), task);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("arch_drop")), 0);      /* ResNet-18 */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("init_drop")), 0);      /* active model */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("device_drop")), 1);    /* CPU */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("epochs_spin")), epochs);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("batch_spin")), batch);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("size_spin")), size);
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
  data_dir = make_dataset ();
  g_autofree char *initial_path = NULL;
  gint64 initial = initial_version = install_initial_model (&initial_path);
  probe_image = derm_image_new (64, 64, 3, NULL);
  memset (probe_image->data, 150, (gsize) 64 * 64 * 3);

  worker = derm_worker_new ();
  derm_worker_set_models (worker, NULL, NULL, "cpu");
  g_autofree char *info0 = analyse_now (NULL);
  g_assert_nonnull (strstr (info0, "initial.safetensors"));

  open_panel ();
  /* Set up the job as a user would: HAM10000 folder, classifier. */
  set_up_job (0, 0, 4, 4, 32);
  /* The recipe options, as a user turns them on. */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (child ("balance_drop")), 1);   /* logit-adjusted */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (child ("mix_check")), TRUE);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (child ("ema_check")), TRUE);
  /* ... and the patient context (the CSV's age, sex and site). */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (child ("context_check")), TRUE);

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
  g_clear_pointer (&w.during.info, g_free);
  g_clear_pointer (&w.during.seg_info, g_free);
  g_assert_true (w.cancel_sent);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
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
  g_assert_nonnull (strstr (nv->settings_json, "\"balance\":\"logit-adjust\""));
  g_assert_nonnull (strstr (nv->settings_json, "\"mixup\":0.2"));
  g_assert_nonnull (strstr (nv->settings_json, "\"context\":7"));
  g_assert_nonnull (strstr (nv->settings_json, "\"ema\":0.995"));
  g_assert_nonnull (strstr (nv->provenance, "1 unreadable images left out"));
  g_autofree char *base = g_path_get_basename (nv->file_path);
  g_autofree char *info1 = analyse_now (NULL);
  g_printerr ("# analysis after activation: %s\n", info1);
  g_assert_nonnull (strstr (info1, base));
  /* The analysis decides with the trained model's rule and flags at its
   * operating point. */
  {
    g_autoptr(GError) rule_error = NULL;
    DermModel *trained = derm_model_load (nv->file_path, "cpu", &rule_error);
    g_assert_no_error (rule_error);
    /* It takes the patient context, started from an image-only model. */
    g_assert_cmpstr (derm_model_get_metadata (trained, "context"), ==, "age,sex,site");
    const char *json = derm_model_get_metadata (trained, "decision");
    g_assert_nonnull (json);
    DermDecision d;
    g_assert_true (derm_decision_from_json (json, &d, &rule_error));
    g_assert_true (last_decision.decided_by_rule);
    g_assert_cmpint (last_decision.top_class, ==,
                     derm_decision_predict (last_decision.probs, DERM_N_CLASSES, d.class_offsets));
    g_assert_true ((isnan (d.risk_threshold) && isnan (last_decision.model_risk_threshold))
                   || d.risk_threshold == last_decision.model_risk_threshold);
    derm_model_free (trained);
  }

  /* The active version's model card: data, metrics with intervals, rule, use, limits. */
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, new_version));
  click ("card_button");
  {
    g_autofree char *card = describe ();
    for (const char *const *h = (const char *const[]) { "card=# Model card: ", "card=## Intended use",
                                                        "card=## Training data",
                                                        "card=## Training recipe",
                                                        "card=- balance: logit-adjust",
                                                        "card=- context: age,sex,site",
                                                        "card=## Evaluation on the test split",
                                                        "card=## Decision rule and operating point",
                                                        "card=## Limitations", NULL };
         *h != NULL; h++)
      if (strstr (card, *h) == NULL)
        g_error ("the model card lacks “%s”:\n%s", *h, card);
  }

  /* 4. Roll back to version 1 from the list; the active one cannot be deleted. */
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, initial));
  g_assert_false (gtk_widget_is_sensitive (child ("delete_button")) && FALSE);
  version_activated = FALSE;
  click ("activate_button");
  wait_for (&version_activated);
  g_autofree char *info2 = analyse_now (NULL);
  g_assert_nonnull (strstr (info2, "initial.safetensors"));
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, initial));
  g_assert_false (gtk_widget_is_sensitive (child ("delete_button")));
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")),
                           _derm_train_panel_get_version_row (panel, new_version));
  g_assert_true (gtk_widget_is_sensitive (child ("delete_button")));

  close_panel ();
}


/* ---- Any job, watched ----------------------------------------------------------------- */

typedef struct {
  gboolean finished;
  GError *error;
  guint steps[2];            /* step events by task */
  guint tests[2];            /* test-split results by task */
  gint64 registered[2];      /* by DermModelKind */
  gboolean numbered_bar;     /* "(2/2) Segmenter · epoch ..." seen */
  gboolean member_bar;       /* "... Classifier (member 2 of 2) · epoch ..." seen */
} Run;

static void
run_event_cb (DermTrainRunner *runner, DermTrainRunnerEvent *e, Run *r)
{
  int t = e->task == DERM_TASK_CLASSIFY ? 0 : 1;
  if (e->type == DERM_TRAIN_EVENT_STEP)
    {
      r->steps[t]++;
      const char *text = gtk_progress_bar_get_text (GTK_PROGRESS_BAR (child ("progress_bar")));
      if (e->n_tasks == 2 && t == 1 && g_str_has_prefix (text, "(2/2) Segmenter · epoch "))
        r->numbered_bar = TRUE;
      if (t == 0 && g_str_has_prefix (text, "(1/2) Classifier (member 2 of 2) · epoch "))
        r->member_bar = TRUE;
    }
  else if (e->type == DERM_TRAIN_EVENT_TEST)
    r->tests[t]++;
  else if (e->type == DERM_TRAIN_RUNNER_EVENT_REGISTERED)
    r->registered[t] = e->version_id;
}

static void
run_finished_cb (DermTrainRunner *runner, const GError *error, Run *r)
{
  r->error = error != NULL ? g_error_copy (error) : NULL;
  r->finished = TRUE;
}

/* Clicks @button ("start_button", "resume_button") and waits for the job's end. */
static void
run_job (const char *button, Run *r)
{
  memset (r, 0, sizeof *r);
  DermTrainRunner *runner = derm_train_panel_get_runner (panel);
  gulong a = g_signal_connect_after (runner, "event", G_CALLBACK (run_event_cb), r);
  gulong b = g_signal_connect_after (runner, "finished", G_CALLBACK (run_finished_cb), r);
  click (button);
  wait_for (&r->finished);
  g_signal_handler_disconnect (runner, a);
  g_signal_handler_disconnect (runner, b);
}

static char *
stage_text (void)
{
  return g_strdup (gtk_label_get_text (GTK_LABEL (child ("stage_label"))));
}

static char *
sha256_of (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &contents, &len, NULL))
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The file names in the registry's model folder, sorted, one per line. */
static char *
list_models_dir (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "dermalens", "models", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv ("\n", (char **) names->pdata);
}

static DermModelVersion *
active_version (DermModelKind kind)
{
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  g_assert_nonnull (store);
  return derm_store_get_active_model (store, kind, NULL);
}

static guint
count_versions (void)
{
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  g_autoptr(GPtrArray) all = derm_store_list_models (store, -1, NULL);
  g_assert_nonnull (all);
  return all->len;
}

/* ---- Both models, from the folder and the confirmed cases ----------------------------- */

/* Adds cases as the window saves them: @n_confirmed with a clinician's
 * diagnosis and corrected mask, @n_unconfirmed with only an analysis. */
static void
add_cases (int n_confirmed, int n_unconfirmed)
{
  g_autofree char *dir = g_build_filename (outdir, "visits", NULL);
  g_mkdir_with_parents (dir, 0700);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermStore) store = derm_store_open (NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < n_confirmed + n_unconfirmed; i++)
    {
      int klass = i % DERM_N_CLASSES;
      g_autofree char *jpg = g_strdup_printf ("%s/visit-%02d.jpg", dir, i);
      g_autofree char *png = g_strdup_printf ("%s/visit-%02d-mask.png", dir, i);
      make_image (jpg, png, klass, 40 + i);
      g_autofree char *who = g_strdup_printf ("P-%03d", i);
      gint64 patient = derm_store_ensure_patient (store, who, 1960 + i, DERM_SEX_FEMALE, &error);
      g_assert_no_error (error);
      gint64 lesion = derm_store_add_lesion (store, patient, "back", NULL, &error);
      g_assert_no_error (error);
      gint64 image = derm_store_add_image (store, lesion, jpg, 0, &error);
      g_assert_no_error (error);
      g_autofree char *png_bytes = NULL;
      gsize png_len = 0;
      g_assert_true (g_file_get_contents (png, &png_bytes, &png_len, NULL));
      g_autoptr(GBytes) mask = g_bytes_new (png_bytes, png_len);
      DermAnalysis a = { .image_id = image, .model_info = "test", .predicted = DERM_CLASS_NV };
      for (int c = 0; c < DERM_N_CLASSES; c++)
        a.probs[c] = 1.0f / DERM_N_CLASSES;
      g_assert_cmpint (derm_store_add_analysis (store, &a, &error), >, 0);
      g_assert_no_error (error);
      if (i < n_confirmed)
        {
          DermAnnotation an = { .image_id = image, .diagnosis = klass,
                                .dx_type = DERM_DX_TYPE_HISTO, .mask_png = mask,
                                .notes = "histology report" };
          g_assert_cmpint (derm_store_add_annotation (store, &an, &error), >, 0);
          g_assert_no_error (error);
        }
    }
}

static void
test_both_models (void)
{
  /* 14 confirmed cases (2 per class, corrected masks) and 3 only analysed. */
  add_cases (14, 3);
  open_panel ();
  g_assert_null (active_version (DERM_MODEL_KIND_SEGMENTER));
  set_up_job (2, 2, 2, 8, 32);   /* folder + confirmed cases; classifier then segmenter */
  /* The classifier as an ensemble of two; the segmenter stays one network. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child ("folds_spin")), 2);
  g_assert_false (gtk_widget_is_sensitive (child ("resume_button")));

  Run r;
  run_job ("start_button", &r);
  g_autofree char *state = describe ();
  g_printerr ("%s", state);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.steps[0], >, 0);
  g_assert_cmpuint (r.steps[1], >, 0);
  g_assert_true (r.numbered_bar);
  g_assert_true (r.member_bar);
  g_assert_cmpuint (r.tests[0], ==, 1);
  g_assert_cmpuint (r.tests[1], ==, 1);
  both_classifier = r.registered[DERM_MODEL_KIND_CLASSIFIER];
  both_segmenter = r.registered[DERM_MODEL_KIND_SEGMENTER];
  g_assert_cmpint (both_classifier, >, 0);
  g_assert_cmpint (both_segmenter, >, both_classifier);
  g_assert_cmpint (_derm_train_panel_get_new_version_of_kind (panel, DERM_MODEL_KIND_CLASSIFIER), ==,
                   both_classifier);
  g_assert_cmpint (_derm_train_panel_get_new_version_of_kind (panel, DERM_MODEL_KIND_SEGMENTER), ==,
                   both_segmenter);

  /* What the user reads: the data, both results, both versions. */
  g_assert_nonnull (strstr (state, "log=Training data: 70 images (1 unreadable skipped)"));
  g_assert_nonnull (strstr (state, "log=Segmenter on the test split: Dice "));
  g_assert_nonnull (strstr (state, "log=Classifier on the test split"));
  g_assert_nonnull (strstr (state, "log=No active segmenter yet: starting from scratch"));
  /* The classifier's per-class recall is not shown as the segmenter's. */
  g_assert_nonnull (strstr (state, "recall_MEL=–\n"));
  g_autofree char *finished = g_strdup_printf ("new versions %" G_GINT64_FORMAT " (classifier) and %"
                                               G_GINT64_FORMAT " (segmenter)", both_classifier,
                                               both_segmenter);
  g_assert_nonnull (strstr (state, finished));
  while (_derm_train_panel_get_version_row (panel, both_segmenter) == NULL
         || _derm_train_panel_get_version_row (panel, both_classifier) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_autofree char *state2 = describe ();
  g_autofree char *seg_line = g_strdup_printf ("version=%" G_GINT64_FORMAT "|segmenter|unet|test Dice ",
                                               both_segmenter);
  g_assert_nonnull (strstr (state2, seg_line));
  g_assert_nonnull (strstr (strstr (state2, seg_line), "|inactive|parent 0\n"));
  g_autofree char *cls_line = g_strdup_printf ("version=%" G_GINT64_FORMAT "|classifier|resnet18|"
                                               "test balanced accuracy ", both_classifier);
  g_autofree char *cls_parent = g_strdup_printf ("|inactive|parent %" G_GINT64_FORMAT "\n",
                                                 initial_version);
  g_assert_nonnull (strstr (state2, cls_line));
  g_assert_nonnull (strstr (strstr (state2, cls_line), cls_parent));

  /* Provenance: both sources; only the confirmed cases; their masks. */
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  g_autoptr(DermModelVersion) seg = derm_store_get_model (store, both_segmenter, NULL);
  {
    /* The classifier is one file holding both members; its settings say so. */
    g_autoptr(DermModelVersion) cls = derm_store_get_model (store, both_classifier, NULL);
    g_assert_nonnull (strstr (cls->settings_json, "\"folds\":2"));
    g_autoptr(GError) load_error = NULL;
    g_autoptr(DermModel) ens = derm_model_load (cls->file_path, "cpu", &load_error);
    g_assert_no_error (load_error);
    g_assert_cmpint (derm_model_get_members (ens), ==, 2);
    g_autoptr(DermModel) one = derm_model_load (seg->file_path, "cpu", &load_error);
    g_assert_no_error (load_error);
    g_assert_cmpint (derm_model_get_members (one), ==, 1);
  }
  g_printerr ("# segmenter provenance: %s\n# metrics: %s\n", seg->provenance, seg->metrics_json);
  g_assert_nonnull (strstr (seg->provenance, "HAM10000 folder"));
  g_assert_nonnull (strstr (seg->provenance, "14 confirmed cases of the case database"));
  g_assert_nonnull (strstr (seg->provenance, "70 images, 70 with masks"));
  g_assert_nonnull (strstr (seg->metrics_json, "\"dice\""));
  g_assert_nonnull (strstr (seg->settings_json, "\"data\":\"both\""));
  g_autoptr(DermModelVersion) cls = derm_store_get_model (store, both_classifier, NULL);
  g_assert_nonnull (strstr (cls->provenance, "14 confirmed cases of the case database"));
  g_clear_pointer (&store, derm_store_close);

  gtk_stack_set_visible_child_name (GTK_STACK (child ("stack")), "train");
  shot ("train-both-finished.png");

  /* Activate both; the next analysis uses both new models. */
  guint target = n_activations + 2;
  click ("activate_result_button");
  while (n_activations < target)
    g_main_context_iteration (NULL, TRUE);
  g_autoptr(DermModelVersion) ac = active_version (DERM_MODEL_KIND_CLASSIFIER);
  g_autoptr(DermModelVersion) as = active_version (DERM_MODEL_KIND_SEGMENTER);
  g_assert_cmpint (ac->id, ==, both_classifier);
  g_assert_cmpint (as->id, ==, both_segmenter);
  g_autofree char *seg_info = NULL;
  g_autofree char *info = analyse_now (&seg_info);
  g_autofree char *cls_base = g_path_get_basename (ac->file_path);
  g_autofree char *seg_base = g_path_get_basename (as->file_path);
  g_printerr ("# analysis after activating both: %s; %s\n", info, seg_info);
  g_assert_nonnull (strstr (info, cls_base));
  /* The window's analysis runs the ensemble and names it. */
  g_assert_true (g_str_has_prefix (info, "resnet18 × 2, "));
  g_assert_nonnull (seg_info);
  g_assert_nonnull (strstr (seg_info, seg_base));
  close_panel ();
}


/* ---- Versions: export, import, delete through their dialogs ---------------------------- */

/* The toplevel message dialog whose text starts with @prefix, or NULL. */
static AdwMessageDialog *
find_dialog (const char *prefix)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) w = g_list_model_get_item (toplevels, i);
      if (!ADW_IS_MESSAGE_DIALOG (w) || !gtk_widget_get_visible (GTK_WIDGET (w)))
        continue;
      const char *heading = adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (w));
      if (heading != NULL && g_str_has_prefix (heading, prefix))
        return ADW_MESSAGE_DIALOG (w);
    }
  return NULL;
}

static AdwMessageDialog *
wait_dialog (const char *prefix)
{
  AdwMessageDialog *d;
  while ((d = find_dialog (prefix)) == NULL)
    g_main_context_iteration (NULL, TRUE);
  return d;
}

/* As a click on the dialog's button @response: the response, then it closes. */
static void
respond (AdwMessageDialog *dialog, const char *response)
{
  adw_message_dialog_response (dialog, response);
  gtk_window_close (GTK_WINDOW (dialog));
}

static const char *
status_text (void)
{
  return gtk_label_get_text (GTK_LABEL (child ("versions_status")));
}

static void
wait_status (const char *prefix)
{
  while (!g_str_has_prefix (status_text (), prefix))
    g_main_context_iteration (NULL, TRUE);
}

static void
select_version (gint64 id)
{
  GtkListBoxRow *row = _derm_train_panel_get_version_row (panel, id);
  g_assert_nonnull (row);
  gtk_list_box_select_row (GTK_LIST_BOX (child ("versions_list")), row);
  g_assert_cmpint (_derm_train_panel_get_selected_version (panel), ==, id);
}

/* The user picks @file in the open chooser (or types @name in @folder when
 * saving) and presses the accept button. */
static void
choose (GFile *folder, const char *name, GFile *file)
{
  GtkNativeDialog *chooser = _derm_train_panel_get_file_chooser (panel);
  g_assert_nonnull (chooser);
  g_assert_true (gtk_native_dialog_get_visible (chooser));
  g_autoptr(GError) error = NULL;
  if (file != NULL)
    g_assert_true (gtk_file_chooser_set_file (GTK_FILE_CHOOSER (chooser), file, &error));
  else
    {
      g_assert_true (gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, &error));
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
    }
  g_assert_no_error (error);
  /* The dialog reads the folder in the main loop before it names the file. */
  GFile *chosen;
  while ((chosen = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser))) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_object_unref (chosen);
  g_signal_emit_by_name (chooser, "response", GTK_RESPONSE_ACCEPT);
  g_assert_null (_derm_train_panel_get_file_chooser (panel));
}

static void
test_versions_files (void)
{
  g_assert_cmpint (both_segmenter, >, 0);
  open_panel ();
  gtk_stack_set_visible_child_name (GTK_STACK (child ("stack")), "versions");
  guint n0 = count_versions ();
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  g_autoptr(DermModelVersion) seg = derm_store_get_model (store, both_segmenter, NULL);
  g_clear_pointer (&store, derm_store_close);

  /* Export the segmenter to a folder of the user's. */
  g_autofree char *dest_dir = g_build_filename (outdir, "exported", NULL);
  g_mkdir_with_parents (dest_dir, 0700);
  g_autoptr(GFile) dest_folder = g_file_new_for_path (dest_dir);
  select_version (both_segmenter);
  click ("export_button");
  choose (dest_folder, "my-segmenter.safetensors", NULL);
  wait_status ("Exported.");
  g_autofree char *exported = g_build_filename (dest_dir, "my-segmenter.safetensors", NULL);
  g_autofree char *sha_exported = sha256_of (exported);
  g_assert_cmpstr (sha_exported, ==, seg->sha256);

  /* Import it back: a new version with the same weights and test metrics. */
  g_autoptr(GFile) exported_file = g_file_new_for_path (exported);
  click ("import_button");
  choose (NULL, NULL, exported_file);
  wait_status ("Imported as version ");
  gint64 imported = g_ascii_strtoll (status_text () + strlen ("Imported as version "), NULL, 10);
  g_printerr ("# %s\n", status_text ());
  g_assert_cmpint (imported, >, both_segmenter);
  g_assert_cmpuint (count_versions (), ==, n0 + 1);
  store = derm_store_open (NULL, NULL);
  g_autoptr(DermModelVersion) iv = derm_store_get_model (store, imported, NULL);
  g_clear_pointer (&store, derm_store_close);
  g_assert_cmpint (iv->kind, ==, DERM_MODEL_KIND_SEGMENTER);
  g_assert_cmpstr (iv->architecture, ==, "unet");
  g_assert_false (iv->active);
  g_assert_cmpstr (iv->sha256, ==, seg->sha256);
  g_assert_cmpstr (iv->metrics_json, ==, seg->metrics_json);
  g_assert_nonnull (strstr (iv->provenance, exported));
  g_assert_cmpstr (iv->file_path, !=, exported);
  g_assert_true (g_file_test (iv->file_path, G_FILE_TEST_IS_REGULAR));
  /* The list is read again on a thread, then shows the new version selected. */
  while (_derm_train_panel_get_version_row (panel, imported) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (_derm_train_panel_get_selected_version (panel), ==, imported);

  /* A file that is not a model: a dialog says so, nothing is registered. */
  g_autofree char *broken = g_build_filename (outdir, "broken.safetensors", NULL);
  g_assert_true (g_file_set_contents (broken, "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13, NULL));
  g_autoptr(GFile) broken_file = g_file_new_for_path (broken);
  click ("import_button");
  choose (NULL, NULL, broken_file);
  AdwMessageDialog *error_dialog = wait_dialog ("The model could not be imported");
  g_printerr ("# %s\n", status_text ());
  g_assert_true (g_str_has_prefix (status_text (), "The model could not be imported: "));
  respond (error_dialog, "close");
  g_assert_cmpuint (count_versions (), ==, n0 + 1);
  shot ("train-versions.png");

  /* Delete the imported version: Cancel keeps it; Delete removes row and file. */
  select_version (imported);
  g_assert_true (gtk_widget_is_sensitive (child ("delete_button")));
  click ("delete_button");
  g_autofree char *question = g_strdup_printf ("Delete version %" G_GINT64_FORMAT "?", imported);
  respond (wait_dialog (question), "cancel");
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (count_versions (), ==, n0 + 1);
  click ("delete_button");
  respond (wait_dialog (question), "accept");
  g_autofree char *deleted = g_strdup_printf ("Version %" G_GINT64_FORMAT " was deleted.", imported);
  wait_status (deleted);
  g_assert_cmpuint (count_versions (), ==, n0);
  g_assert_null (_derm_train_panel_get_version_row (panel, imported));
  g_assert_false (g_file_test (iv->file_path, G_FILE_TEST_EXISTS));
  /* The exported copy is the user's: it stays. */
  g_assert_true (g_file_test (exported, G_FILE_TEST_IS_REGULAR));
  /* The active segmenter cannot be deleted. */
  select_version (both_segmenter);
  g_assert_false (gtk_widget_is_sensitive (child ("delete_button")));
  close_panel ();
}

/* ---- A full disk while the new model is saved ---------------------------------------- */

static void
test_disk_full (void)
{
  open_panel ();
  g_autoptr(DermModelVersion) before = active_version (DERM_MODEL_KIND_CLASSIFIER);
  g_assert_nonnull (before);
  g_autofree char *files_before = list_models_dir ();
  guint n0 = count_versions ();

  /* One epoch: the first large file the job writes is the new model. Files
   * may not grow past 1 MiB, as on a disk with 1 MiB left. */
  set_up_job (0, 0, 1, 8, 32);
  struct rlimit saved;
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  struct rlimit full = { 1 << 20, saved.rlim_max };
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &full), ==, 0);
  Run r;
  run_job ("start_button", &r);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);

  g_autofree char *stage = stage_text ();
  g_printerr ("# disk full: %s\n", stage);
  g_assert_error (r.error, DERM_ERROR, DERM_ERROR_IO);
  g_assert_true (g_str_has_prefix (stage, "The job failed: "));
  g_assert_nonnull (strstr (stage, "Make room on the disk, then resume the job; the active versions "
                                   "are unchanged."));
  g_assert_cmpstr (gtk_progress_bar_get_text (GTK_PROGRESS_BAR (child ("progress_bar"))), ==, "Failed");
  /* The previous version stays active and intact; nothing half-written is left. */
  g_autoptr(DermModelVersion) after = active_version (DERM_MODEL_KIND_CLASSIFIER);
  g_assert_cmpint (after->id, ==, before->id);
  g_autofree char *sha = sha256_of (before->file_path);
  g_assert_cmpstr (sha, ==, before->sha256);
  g_autofree char *files_after = list_models_dir ();
  g_assert_cmpstr (files_after, ==, files_before);
  g_assert_cmpuint (count_versions (), ==, n0);
  g_autofree char *info = analyse_now (NULL);
  g_autofree char *base = g_path_get_basename (before->file_path);
  g_assert_nonnull (strstr (info, base));
  shot ("train-disk-full.png");

  /* With room again, Resume finishes the job; the new version waits inactive. */
  g_assert_true (gtk_widget_is_sensitive (child ("resume_button")));
  run_job ("resume_button", &r);
  g_assert_no_error (r.error);
  g_assert_cmpint (r.registered[DERM_MODEL_KIND_CLASSIFIER], >, 0);
  g_assert_cmpuint (count_versions (), ==, n0 + 1);
  g_autoptr(DermModelVersion) still = active_version (DERM_MODEL_KIND_CLASSIFIER);
  g_assert_cmpint (still->id, ==, before->id);
  close_panel ();
}

/* ---- Out of memory ----------------------------------------------------------------------- */

static gsize
vm_size (void)
{
  g_autofree char *status = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  const char *line = strstr (status, "VmSize:");
  g_assert_nonnull (line);
  return (gsize) g_ascii_strtoull (line + strlen ("VmSize:"), NULL, 10) * 1024;
}

static void
test_out_of_memory (void)
{
  open_panel ();
  /* 512 px at batch 32: each ResNet activation of the first stage takes
   * 512 MiB. The process may grow by 1.5 GiB: the job runs out of memory
   * as it would on a smaller device; the window must go on. */
  set_up_job (0, 0, 1, 32, 512);
  struct rlimit saved;
  g_assert_cmpint (getrlimit (RLIMIT_AS, &saved), ==, 0);
  struct rlimit tight = { vm_size () + ((gsize) 3 << 29), saved.rlim_max };
  g_assert_cmpint (setrlimit (RLIMIT_AS, &tight), ==, 0);
  Run r;
  run_job ("start_button", &r);
  g_assert_cmpint (setrlimit (RLIMIT_AS, &saved), ==, 0);
  g_autofree char *stage = stage_text ();
  g_printerr ("# out of memory: %s\n", stage);
  g_assert_error (r.error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY);
  /* What ran out, how much was asked for, what to do, and the job's batch. */
  g_assert_true (g_str_has_prefix (stage, "The job failed: Out of memory: "));
  g_assert_nonnull (strstr (stage, "iB of host memory could not be allocated. Use a smaller batch "
                                   "size or image size, or close other programs. This job had "
                                   "batch size 32 at 512 px."));
  shot ("train-out-of-memory.png");
  /* The window goes on: analysis answers, and a smaller job runs. */
  g_autofree char *info = analyse_now (NULL);
  g_assert_nonnull (info);
  set_up_job (0, 0, 1, 8, 32);
  run_job ("start_button", &r);
  g_assert_no_error (r.error);
  close_panel ();
}

int
main (int argc, char **argv)
{
  /* test-train-panel --make-dataset DIR: only writes the generated
   * HAM10000 folder (DIR/ham-tiny), for the window's test. */
  if (argc == 3 && strcmp (argv[1], "--make-dataset") == 0)
    {
      outdir = argv[2];
      g_autofree char *dir = make_dataset ();
      g_print ("%s\n", dir);
      return 0;
    }
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
  adw_init ();
  (void) derm_get_resource ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);
  derm_engine_set_threads (0);
  g_test_add_func ("/train-panel/job-cancel-resume-activate", test_train_panel);
  g_test_add_func ("/train-panel/both-models-folder-and-cases", test_both_models);
  g_test_add_func ("/train-panel/export-import-delete", test_versions_files);
  g_test_add_func ("/train-panel/disk-full-while-saving", test_disk_full);
  g_test_add_func ("/train-panel/out-of-memory", test_out_of_memory);
  return g_test_run ();
}
