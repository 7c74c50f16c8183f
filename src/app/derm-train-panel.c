/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-panel.c: the training panel (see derm-train-panel.h): the
 * container of the job form (derm-train-setup.c), the job's progress
 * (derm-train-progress.c) and the model versions (derm-train-versions.c); it
 * owns the job runner and connects the three to it and to each other. */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-panel"

#include <math.h>

#include <glib/gi18n.h>

#include "derm-classes.h"
#include "derm-error.h"
#include "derm-train-panel-private.h"
#include "derm-train-progress-private.h"
#include "derm-train-setup-private.h"
#include "derm-train-versions-private.h"

struct _DermTrainPanel
{
  GtkWidget parent_instance;

  /* template */
  GtkWidget *content;
  GtkStack *stack;
  DermTrainSetup *setup;
  DermTrainProgressView *progress;
  DermTrainVersions *versions;

  DermTrainRunner *runner;
  gboolean activate_when_done;   /* the first run: activate the job's models when it ends */
};

G_DEFINE_FINAL_TYPE (DermTrainPanel, derm_train_panel, GTK_TYPE_WIDGET)

enum { SIGNAL_VERSION_ACTIVATED, SIGNAL_VERSIONS_CHANGED, SIGNAL_FIRST_RUN_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- The job ---------------------------------------------------------------------------- */

static void
update_sensitivity (DermTrainPanel *self)
{
  gboolean running = derm_train_runner_is_running (self->runner);
  derm_train_setup_set_running (self->setup, running);
  derm_train_progress_view_set_job_state (self->progress, running,
                                          derm_train_runner_can_resume (self->runner));
}

static void
runner_event_cb (DermTrainRunner *runner, DermTrainRunnerEvent *e, DermTrainPanel *self)
{
  derm_train_progress_view_show_event (self->progress, e);
  if (e->type == DERM_TRAIN_RUNNER_EVENT_REGISTERED)
    derm_train_versions_refresh_and_select (self->versions, e->version_id);
}

static void activate_result_requested_cb (DermTrainProgressView *progress, DermTrainPanel *self);

static void
runner_finished_cb (DermTrainRunner *runner, const GError *error, DermTrainPanel *self)
{
  g_autofree char *msg = NULL;
  gint64 after = 0;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    after = derm_train_runner_get_steps_after_cancel (runner);
  else if (error != NULL)
    {
      DermTrainSettings s;
      derm_train_setup_read_settings (self->setup, &s);
      msg = derm_train_describe_error (error, &s);
      derm_train_settings_clear (&s);
    }
  derm_train_progress_view_show_finished (self->progress, error, msg, after);
  update_sensitivity (self);
  if (error == NULL && self->activate_when_done)
    {
      self->activate_when_done = FALSE;
      activate_result_requested_cb (self->progress, self);
      g_signal_emit (self, signals[SIGNAL_FIRST_RUN_DONE], 0);
    }
}

static void
start_requested_cb (DermTrainSetup *setup, DermTrainPanel *self)
{
  DermTrainSettings s;
  derm_train_setup_read_settings (self->setup, &s);
  g_autoptr(GError) error = NULL;
  derm_train_progress_view_reset (self->progress);
  if (!derm_train_runner_start (self->runner, &s, &error))
    derm_train_progress_view_set_stage (self->progress, error->message);
  else
    derm_train_progress_view_set_stage (self->progress, _("Starting…"));
  derm_train_settings_clear (&s);
  update_sensitivity (self);
}

static void
stop_requested_cb (DermTrainProgressView *progress, DermTrainPanel *self)
{
  derm_train_runner_cancel (self->runner);
}

/* Shows the stopped job's settings in the form. */
static void
show_resume_settings (DermTrainPanel *self)
{
  g_autofree char *json = derm_train_runner_get_resume_settings (self->runner);
  DermTrainSettings s;
  derm_train_settings_init (&s);
  if (json != NULL && derm_train_settings_from_json (&s, json, NULL))
    derm_train_setup_write_settings (self->setup, &s);
  derm_train_settings_clear (&s);
}

static void
resume_requested_cb (DermTrainProgressView *progress, DermTrainPanel *self)
{
  show_resume_settings (self);
  g_autoptr(GError) error = NULL;
  derm_train_progress_view_hide_result (self->progress);
  if (!derm_train_runner_resume (self->runner, &error))
    derm_train_progress_view_set_stage (self->progress, error->message);
  else
    derm_train_progress_view_set_stage (self->progress, _("Resuming…"));
  update_sensitivity (self);
}

static void
compare_requested_cb (DermTrainProgressView *progress, DermTrainPanel *self)
{
  gtk_stack_set_visible_child_name (self->stack, "versions");
  gint64 id = derm_train_progress_view_get_new_version (self->progress);
  if (id > 0)
    derm_train_versions_select (self->versions, id);
}

static void
activate_result_requested_cb (DermTrainProgressView *progress, DermTrainPanel *self)
{
  /* Both models of a "both" job, one after the other. */
  for (int k = 0; k < 2; k++)
    {
      gint64 id = derm_train_progress_view_get_new_version_of_kind (self->progress, k);
      if (id > 0)
        derm_train_versions_activate (self->versions, id);
    }
}

static void
version_activated_cb (DermTrainVersions *versions, int kind, DermTrainPanel *self)
{
  g_signal_emit (self, signals[SIGNAL_VERSION_ACTIVATED], 0, kind);
}

static void
versions_changed_cb (DermTrainVersions *versions, DermTrainPanel *self)
{
  g_signal_emit (self, signals[SIGNAL_VERSIONS_CHANGED], 0);
}

/* ---- Private (tests) ------------------------------------------------------------------ */

GtkWidget *
_derm_train_panel_get_child (DermTrainPanel *self, const char *name)
{
  struct { GtkWidget *widget; GType type; } parts[] = {
    { GTK_WIDGET (self), DERM_TYPE_TRAIN_PANEL },
    { GTK_WIDGET (self->setup), DERM_TYPE_TRAIN_SETUP },
    { GTK_WIDGET (self->progress), DERM_TYPE_TRAIN_PROGRESS_VIEW },
    { GTK_WIDGET (self->versions), DERM_TYPE_TRAIN_VERSIONS },
  };
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      GObject *o = gtk_widget_get_template_child (parts[i].widget, parts[i].type, name);
      if (GTK_IS_WIDGET (o))
        return GTK_WIDGET (o);
    }
  return NULL;
}

gint64
_derm_train_panel_get_new_version (DermTrainPanel *self)
{
  return derm_train_progress_view_get_new_version (self->progress);
}

gint64
_derm_train_panel_get_new_version_of_kind (DermTrainPanel *self, int kind)
{
  return derm_train_progress_view_get_new_version_of_kind (self->progress, kind);
}

GtkNativeDialog *
_derm_train_panel_get_file_chooser (DermTrainPanel *self)
{
  GtkNativeDialog *chooser = _derm_train_setup_get_file_chooser (self->setup);
  return chooser != NULL ? chooser : _derm_train_versions_get_file_chooser (self->versions);
}

gint64
_derm_train_panel_get_selected_version (DermTrainPanel *self)
{
  return _derm_train_versions_get_selected (self->versions);
}

GtkListBoxRow *
_derm_train_panel_get_version_row (DermTrainPanel *self, gint64 id)
{
  return _derm_train_versions_get_row (self->versions, id);
}

void
_derm_train_panel_set_limit (DermTrainPanel *self, guint lesions)
{
  _derm_train_setup_set_limit (self->setup, lesions);
}

void
_derm_train_panel_describe (DermTrainPanel *self, GString *out)
{
  g_string_append_printf (out, "running=%d\n", derm_train_runner_is_running (self->runner));
  g_string_append_printf (out, "can_resume=%d\n", derm_train_runner_can_resume (self->runner));
  g_string_append_printf (out, "first_run=%d\n", self->activate_when_done);
  _derm_train_setup_describe (self->setup, out);
  _derm_train_progress_view_describe (self->progress, out);
  _derm_train_versions_describe (self->versions, out);
  _derm_train_progress_view_describe_log (self->progress, out);
}

/* ---- GObject ----------------------------------------------------------------------------- */

gboolean
derm_train_panel_is_running (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), FALSE);
  return derm_train_runner_is_running (self->runner);
}

void
derm_train_panel_cancel (DermTrainPanel *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  derm_train_runner_cancel (self->runner);
}

DermTrainRunner *
derm_train_panel_get_runner (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), NULL);
  return self->runner;
}

void
derm_train_panel_refresh_versions (DermTrainPanel *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  derm_train_versions_refresh (self->versions);
}

void
derm_train_panel_set_folder (DermTrainPanel *self, const char *folder)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  derm_train_setup_set_folder (self->setup, folder);
}

void
derm_train_panel_activate_version (DermTrainPanel *self, gint64 id)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  derm_train_versions_activate (self->versions, id);
}

void
derm_train_panel_first_run (DermTrainPanel *self, const char *folder)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  g_return_if_fail (folder != NULL);
  if (derm_train_runner_is_running (self->runner))
    return;
  DermTrainSettings s;
  gboolean cpu = derm_train_settings_init_for_machine (&s);
  s.data = DERM_TRAIN_DATA_FOLDER;
  g_free (s.folder);
  s.folder = g_strdup (folder);
  s.classify = s.segment = TRUE;
  derm_train_setup_write_settings (self->setup, &s);
  derm_train_settings_clear (&s);
  self->activate_when_done = TRUE;
  derm_train_progress_view_set_stage (
    self->progress,
    cpu ? _("The first models for this computer: a classifier (ResNet-18, 96 px, 4 epochs) and a "
            "segmenter (U-Net, 96 px, 1 epoch), trained on the CPU. Press Start; when the job has "
            "finished they are activated and the open image is analysed.")
        : _("The first models: a classifier and a segmenter. Press Start; when the job has "
            "finished they are activated and the open image is analysed."));
  derm_train_setup_estimate (self->setup);
}

gboolean
_derm_train_panel_get_first_run (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), FALSE);
  return self->activate_when_done;
}

gboolean
_derm_train_panel_get_estimating (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), FALSE);
  return _derm_train_setup_get_estimating (self->setup);
}

static void
derm_train_panel_dispose (GObject *object)
{
  DermTrainPanel *self = DERM_TRAIN_PANEL (object);
  if (self->runner != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->runner, self);
      /* Stops the job within one step and joins its thread. */
      derm_train_runner_shutdown (self->runner);
      g_clear_object (&self->runner);
    }
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_TRAIN_PANEL);
  G_OBJECT_CLASS (derm_train_panel_parent_class)->dispose (object);
}

static void
derm_train_panel_class_init (DermTrainPanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_train_panel_dispose;

  signals[SIGNAL_VERSION_ACTIVATED] =
    g_signal_new ("version-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  /* The first run's models were activated (derm_train_panel_first_run ()). */
  signals[SIGNAL_FIRST_RUN_DONE] =
    g_signal_new ("first-run-done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_VERSIONS_CHANGED] =
    g_signal_new ("versions-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  g_type_ensure (DERM_TYPE_TRAIN_SETUP);
  g_type_ensure (DERM_TYPE_TRAIN_PROGRESS_VIEW);
  g_type_ensure (DERM_TYPE_TRAIN_VERSIONS);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-train-panel.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, DermTrainPanel, name)
  BIND (content); BIND (stack); BIND (setup); BIND (progress); BIND (versions);
#undef BIND
}

static void
derm_train_panel_init (DermTrainPanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->runner = derm_train_runner_new ();

  DermTrainSettings s;
  gboolean cpu_first = derm_train_settings_init_for_machine (&s);
  derm_train_setup_write_settings (self->setup, &s);
  derm_train_settings_clear (&s);
  if (cpu_first)
    derm_train_progress_view_set_stage (self->progress,
                                        _("No GPU and no model yet: proposed the first models a "
                                          "CPU trains in minutes: a classifier (ResNet-18, 96 px, "
                                          "4 epochs; about 8 minutes on 2 cores, balanced accuracy "
                                          "about 0.59 on held-out lesions) and a segmenter (U-Net, "
                                          "96 px, 1 epoch; about 18 minutes, Dice about 0.89)."));

  g_signal_connect (self->runner, "event", G_CALLBACK (runner_event_cb), self);
  g_signal_connect (self->runner, "finished", G_CALLBACK (runner_finished_cb), self);
  g_signal_connect (self->setup, "start", G_CALLBACK (start_requested_cb), self);
  g_signal_connect (self->progress, "stop", G_CALLBACK (stop_requested_cb), self);
  g_signal_connect (self->progress, "resume", G_CALLBACK (resume_requested_cb), self);
  g_signal_connect (self->progress, "compare", G_CALLBACK (compare_requested_cb), self);
  g_signal_connect (self->progress, "activate-result", G_CALLBACK (activate_result_requested_cb), self);
  g_signal_connect (self->versions, "version-activated", G_CALLBACK (version_activated_cb), self);
  g_signal_connect (self->versions, "versions-changed", G_CALLBACK (versions_changed_cb), self);

  if (derm_train_runner_can_resume (self->runner))
    {
      show_resume_settings (self);
      derm_train_progress_view_set_stage (self->progress,
                                          _("A stopped job can be resumed from its checkpoint."));
    }
  update_sensitivity (self);
}

GtkWidget *
derm_train_panel_new (DermStoreWorker *store)
{
  DermTrainPanel *self = g_object_new (DERM_TYPE_TRAIN_PANEL, NULL);
  if (store != NULL)
    derm_train_versions_set_store_worker (self->versions, store);
  derm_train_versions_refresh (self->versions);
  return GTK_WIDGET (self);
}
