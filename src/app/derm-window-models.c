/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-window-models.c: the window's models and training view: importing
 * a model file into the registry, the training view and the header's job
 * button, the first run (Train on HAM10000 until the image is analysed),
 * activating versions (with a toast's Undo), and asking before closing on a
 * running job. */
#include "config.h"

#define G_LOG_DOMAIN "derm-window"

#include <glib/gi18n.h>

#include "derm-context.h"
#include "derm-feedback.h"
#include "derm-page.h"
#include "derm-store.h"
#include "derm-train-panel.h"
#include "derm-window.h"
#include "derm-window-private.h"

/* ---- Import weights ------------------------------------------------------------ */

static void
model_imported_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(DermWindow) self = g_weak_ref_get (user_data);
  g_autoptr(GError) error = NULL;
  gint64 id = derm_context_import_model_finish (DERM_CONTEXT (source), result, NULL, &error);
  g_weak_ref_clear (user_data);
  g_free (user_data);
  if (self == NULL)
    return;
  self->imports_pending--;
  if (id > 0)
    {
      derm_toast_show (GTK_WIDGET (self->toast_overlay),
                       _("The model file was imported and is active."), NULL, NULL, NULL);
      return;
    }
  derm_show_error (GTK_WIDGET (self), _("The weights could not be imported"), error->message);
}

void
derm_window_import_model (DermWindow *self, GFile *file)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));
  g_autofree char *path = g_file_get_path (file);
  if (path == NULL)
    return;
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  self->imports_pending++;
  derm_context_import_model_async (self->context, path, NULL, model_imported_cb, ref);
}

gboolean
derm_window_get_importing (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), FALSE);
  return self->imports_pending > 0;
}

static void
import_response_cb (GtkNativeDialog *dialog, int response, DermWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (file != NULL)
        derm_window_import_model (self, file);
    }
  g_object_unref (dialog);
}

static void
import_weights_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  static const char *const patterns[] = { "*.safetensors", NULL };
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (_("Import Model Weights"), GTK_WINDOW (widget),
                                 GTK_FILE_CHOOSER_ACTION_OPEN, _("_Import"), _("_Cancel"));
  _derm_window_add_filter (GTK_FILE_CHOOSER (chooser), _("Model weights (safetensors)"), NULL, patterns, TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (import_response_cb), widget);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* ---- Training ------------------------------------------------------------------ */

static void
version_activated_cb (DermTrainPanel *panel, int kind, DermWindow *self)
{
  derm_context_model_activated (self->context, kind);
}

/* The header's training button: visible while a job runs (and after it
 * ends, until the training view is seen) when the analysis view is shown. */
static void
set_training_status (DermWindow *self, const char *text, gboolean running)
{
  gtk_label_set_text (self->training_status_label, text);
  gtk_spinner_set_spinning (self->training_spinner, running);
  gtk_widget_set_visible (GTK_WIDGET (self->training_spinner), running);
  gboolean training_view = g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack),
                                      "training") == 0;
  gtk_widget_set_visible (GTK_WIDGET (self->training_status_button), !training_view);
}

static void
training_event_cb (DermTrainRunner *runner, DermTrainRunnerEvent *e, DermWindow *self)
{
  if (e->type != DERM_TRAIN_EVENT_STEP || e->steps <= 0 || e->epochs <= 0)
    return;
  double job = (e->epoch + (double) e->step / e->steps) / e->epochs;
  int n_tasks = MAX (e->n_tasks, 1);
  double fraction = (e->task_index + job) / n_tasks;
  /* Translators: the header's training button; %d %% is the progress */
  g_autofree char *text = g_strdup_printf (_("Training %d %%"), (int) (100 * CLAMP (fraction, 0, 1)));
  set_training_status (self, text, TRUE);
}

static void
training_finished_cb (DermTrainRunner *runner, const GError *error, DermWindow *self)
{
  set_training_status (self, error == NULL ? _("Training finished")
                             : g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                               ? _("Training stopped") : _("Training failed"), FALSE);
}

/* ---- First run: from no model to a diagnosis ------------------------------------ */

static void
first_run_done_cb (DermTrainPanel *panel, DermWindow *self)
{
  /* The models are being activated: the open images are analysed on them. */
  derm_window_show_analysis (self);
  derm_toast_show (GTK_WIDGET (self->toast_overlay),
                   _("The new classifier and segmenter are active."), NULL, NULL, NULL);
}

void
derm_window_train_first_run (DermWindow *self, const char *folder)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  g_return_if_fail (folder != NULL);
  g_settings_set_string (_derm_window_settings (self), "ham10000-folder", folder);
  DermTrainPanel *panel = derm_window_show_training (self);
  derm_train_panel_first_run (panel, folder);
}

static void
ham10000_chosen_cb (GtkNativeDialog *dialog, int response, DermWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      if (path != NULL)
        derm_window_train_first_run (self, path);
    }
  g_object_unref (dialog);
}

static void
train_ham10000_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  DermWindow *self = DERM_WINDOW (widget);
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (_("Choose the HAM10000 Folder"), GTK_WINDOW (self),
                                 GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Train"), _("_Cancel"));
  g_autofree char *last = g_settings_get_string (_derm_window_settings (self), "ham10000-folder");
  if (last != NULL && *last != '\0' && g_file_test (last, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GFile) folder = g_file_new_for_path (last);
      gtk_file_chooser_set_file (GTK_FILE_CHOOSER (chooser), folder, NULL);
    }
  g_signal_connect (chooser, "response", G_CALLBACK (ham10000_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

DermTrainPanel *
_derm_window_ensure_training_panel (DermWindow *self)
{
  if (self->training_panel == NULL)
    {
      self->training_panel =
        DERM_TRAIN_PANEL (derm_train_panel_new (derm_context_get_store_worker (self->context)));
      gtk_widget_set_vexpand (GTK_WIDGET (self->training_panel), TRUE);
      gtk_box_append (self->training_box, GTK_WIDGET (self->training_panel));
      g_signal_connect_object (self->training_panel, "version-activated",
                               G_CALLBACK (version_activated_cb), self, 0);
      g_signal_connect_object (self->training_panel, "first-run-done",
                               G_CALLBACK (first_run_done_cb), self, 0);
      /* The HAM10000 folder the user last chose. */
      g_autofree char *folder = g_settings_get_string (_derm_window_settings (self), "ham10000-folder");
      if (folder != NULL && *folder != '\0')
        derm_train_panel_set_folder (self->training_panel, folder);
      DermTrainRunner *runner = derm_train_panel_get_runner (self->training_panel);
      g_signal_connect_object (runner, "event", G_CALLBACK (training_event_cb), self, 0);
      g_signal_connect_object (runner, "finished", G_CALLBACK (training_finished_cb), self, 0);
    }
  return self->training_panel;
}

static void
view_changed_cb (AdwViewStack *stack, GParamSpec *pspec, DermWindow *self)
{
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (stack), "training") == 0)
    {
      _derm_window_ensure_training_panel (self);
      derm_train_panel_refresh_versions (self->training_panel);
      gtk_widget_set_visible (GTK_WIDGET (self->training_status_button), FALSE);
    }
  else if (self->training_panel != NULL && derm_train_panel_is_running (self->training_panel))
    gtk_widget_set_visible (GTK_WIDGET (self->training_status_button), TRUE);
}

DermTrainPanel *
derm_window_show_training (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  _derm_window_ensure_training_panel (self);
  adw_view_stack_set_visible_child_name (self->view_stack, "training");
  return self->training_panel;
}

void
derm_window_show_analysis (DermWindow *self)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  adw_view_stack_set_visible_child_name (self->view_stack, "analysis");
}

static void
training_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  derm_window_show_training (DERM_WINDOW (widget));
}

/* A toast's Undo after an activation: the version active before. */
static void
activate_version_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  DermTrainPanel *panel = _derm_window_ensure_training_panel (DERM_WINDOW (widget));
  derm_train_panel_activate_version (panel, g_variant_get_int64 (param));
}

static void
analysis_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  derm_window_show_analysis (DERM_WINDOW (widget));
}

static void
stop_job_response_cb (AdwMessageDialog *dialog, const char *response, DermWindow *self)
{
  if (g_strcmp0 (response, "accept") != 0)
    return;
  self->close_confirmed = TRUE;
  gtk_window_close (GTK_WINDOW (self));
}

/* TRUE when the window may close now; otherwise asks whether to stop the job. */
gboolean
_derm_window_confirm_stop_training (DermWindow *self)
{
  if (self->close_confirmed || self->training_panel == NULL
      || !derm_train_panel_is_running (self->training_panel))
    return TRUE;
  AdwMessageDialog *dialog = derm_ask (GTK_WIDGET (self), _("A training job is running. Stop it?"),
                                       _("It stops after the current step and keeps a "
                                         "checkpoint: it can be resumed from the training "
                                         "panel next time."),
                                       _("_Stop and Close"), TRUE);
  adw_message_dialog_set_response_label (dialog, "cancel", _("_Keep Training"));
  g_signal_connect_object (dialog, "response", G_CALLBACK (stop_job_response_cb), self, 0);
  return FALSE;
}

static void
has_classifier_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(DermWindow) self = g_weak_ref_get (user_data);
  g_weak_ref_clear (user_data);
  g_free (user_data);
  g_autoptr(GError) error = NULL;
  gboolean has = derm_context_has_classifier_finish (DERM_CONTEXT (source), result, &error);
  /* An unreadable store says nothing about the models: offer nothing then. */
  if (self != NULL)
    gtk_widget_set_visible (self->welcome_no_model, !has && error == NULL);
}

void
_derm_window_check_models (DermWindow *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_context_has_classifier_async (self->context, NULL, has_classifier_cb, ref);
}

gboolean
derm_window_get_offers_first_run (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), FALSE);
  return gtk_widget_get_visible (self->welcome_no_model);
}

void
_derm_window_class_models_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.import-weights", NULL, import_weights_action);
  gtk_widget_class_install_action (widget_class, "win.training", NULL, training_action);
  gtk_widget_class_install_action (widget_class, "win.train-ham10000", NULL, train_ham10000_action);
  gtk_widget_class_install_action (widget_class, "win.analysis", NULL, analysis_action);
  gtk_widget_class_install_action (widget_class, "win.activate-version", "x", activate_version_action);
  /* The two views, as GNOME applications switch tabs and views. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.analysis", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.training", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, GDK_CONTROL_MASK, "win.import-weights", NULL);
}

void
_derm_window_models_init (DermWindow *self)
{
  g_signal_connect (self->view_stack, "notify::visible-child-name", G_CALLBACK (view_changed_cb), self);
}
