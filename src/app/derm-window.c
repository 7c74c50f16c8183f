/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-window.c: the main window. */
#include "config.h"

#define G_LOG_DOMAIN "derm-window"

#include <glib/gi18n.h>

#include "derm-case.h"
#include "derm-case-browser.h"
#include "derm-compare.h"
#include "derm-context.h"
#include "derm-engine.h"
#include "derm-feedback.h"
#include "derm-page.h"
#include "derm-store.h"
#include "derm-train-panel.h"
#include "derm-window.h"
#include "derm-window-private.h"

struct _DermWindow
{
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;  /* every transient message */
  AdwHeaderBar *header_bar;
  GtkButton *open_button;
  GtkMenuButton *menu_button;
  AdwViewStack *view_stack;        /* "analysis" and "training" */
  GtkStack *main_stack;
  GtkNotebook *notebook;
  GtkBox *training_box;
  GtkButton *training_status_button;
  GtkSpinner *training_spinner;
  GtkLabel *training_status_label;

  GtkFileChooserNative *chooser;
  DermCaseBrowser *case_browser;   /* weak: the browser window while it is open */
  DermCompare *compare;            /* weak: the comparison window while it is open */
  DermTrainPanel *training_panel;  /* the training view's panel, created on first use */
  gboolean close_confirmed;        /* the user agreed to stop a running training job */
  int imports_pending;             /* model files being imported into the registry */

  DermContext *context;            /* construct-only: settings and workers */
};

enum { PROP_0, PROP_CONTEXT, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DermWindow, derm_window, ADW_TYPE_APPLICATION_WINDOW)

static void page_case_saved_cb (DermPage *page, GParamSpec *pspec, DermWindow *self);

static GSettings *
window_settings (DermWindow *self)
{
  return derm_context_get_settings (self->context);
}

/* ---- Pages ------------------------------------------------------------------ */

static void
update_pages_visibility (DermWindow *self)
{
  int n = gtk_notebook_get_n_pages (self->notebook);
  gtk_notebook_set_show_tabs (self->notebook, n > 1);
  gtk_stack_set_visible_child_name (self->main_stack, n > 0 ? "pages" : "welcome");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.close-page", n > 0);

  DermPage *page = derm_window_get_current_page (self);
  if (page != NULL)
    {
      /* Translators: window title; %s is the image's file name */
      g_autofree char *title = g_strdup_printf (_("%s — Dermalens"), derm_page_get_title (page));
      gtk_window_set_title (GTK_WINDOW (self), title);
    }
  else
    gtk_window_set_title (GTK_WINDOW (self), _("Dermalens"));
}

static void
close_page (DermWindow *self, DermPage *page)
{
  int index = gtk_notebook_page_num (self->notebook, GTK_WIDGET (page));
  if (index >= 0)
    gtk_notebook_remove_page (self->notebook, index);
  update_pages_visibility (self);
}

static void
tab_close_clicked_cb (GtkButton *button, DermPage *page)
{
  DermWindow *self = DERM_WINDOW (gtk_widget_get_root (GTK_WIDGET (button)));
  close_page (self, page);
}

static GtkWidget *
create_tab_label (DermPage *page)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label = gtk_label_new (derm_page_get_title (page));
  /* A page saved as a case takes the case's name. */
  g_object_bind_property (page, "title", label, "label", G_BINDING_DEFAULT);
  gtk_label_set_width_chars (GTK_LABEL (label), 10);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 24);
  gtk_box_append (GTK_BOX (box), label);

  GtkWidget *close = gtk_button_new_from_icon_name ("window-close-symbolic");
  gtk_widget_add_css_class (close, "flat");
  gtk_widget_add_css_class (close, "circular");
  gtk_widget_set_tooltip_text (close, _("Close the image"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (close),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Close the image"),
                                  -1);
  g_signal_connect (close, "clicked", G_CALLBACK (tab_close_clicked_cb), page);
  gtk_box_append (GTK_BOX (box), close);
  return box;
}

DermPage *
derm_window_open_file (DermWindow *self, GFile *file)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  int n = gtk_notebook_get_n_pages (self->notebook);
  for (int i = 0; i < n; i++)
    {
      DermPage *page = DERM_PAGE (gtk_notebook_get_nth_page (self->notebook, i));
      if (g_file_equal (derm_page_get_file (page), file))
        {
          gtk_notebook_set_current_page (self->notebook, i);
          return page;
        }
    }

  DermPage *page = derm_page_new (file, self->context);
  g_signal_connect_object (page, "notify::case-id", G_CALLBACK (page_case_saved_cb), self, 0);
  int index = gtk_notebook_append_page (self->notebook, GTK_WIDGET (page), create_tab_label (page));
  gtk_notebook_set_tab_reorderable (self->notebook, GTK_WIDGET (page), TRUE);
  gtk_notebook_set_current_page (self->notebook, index);

  g_autofree char *uri = g_file_get_uri (file);
  gtk_recent_manager_add_item (gtk_recent_manager_get_default (), uri);

  update_pages_visibility (self);
  return page;
}

DermPage *
derm_window_get_current_page (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  int index = gtk_notebook_get_current_page (self->notebook);
  if (index < 0)
    return NULL;
  return DERM_PAGE (gtk_notebook_get_nth_page (self->notebook, index));
}

static void
switch_page_cb (GtkNotebook *notebook, GtkWidget *page, guint index, DermWindow *self)
{
  /* The current page changes after this signal. */
  g_autofree char *title = g_strdup_printf (_("%s — Dermalens"), derm_page_get_title (DERM_PAGE (page)));
  gtk_window_set_title (GTK_WINDOW (self), title);
}

/* ---- Open ------------------------------------------------------------------- */

static void
open_files (DermWindow *self, GListModel *files)
{
  guint n = g_list_model_get_n_items (files);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, i);
      derm_window_open_file (self, file);
    }
}

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, DermWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));
      open_files (self, files);
    }
  g_clear_object (&self->chooser);
}

static void
add_filter (GtkFileChooser *chooser, const char *name, const char *const *mime_types,
            const char *const *patterns, gboolean select)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, name);
  for (; mime_types != NULL && *mime_types != NULL; mime_types++)
    gtk_file_filter_add_mime_type (filter, *mime_types);
  for (; patterns != NULL && *patterns != NULL; patterns++)
    gtk_file_filter_add_pattern (filter, *patterns);
  gtk_file_chooser_add_filter (chooser, filter);
  if (select)
    gtk_file_chooser_set_filter (chooser, filter);
}

void
derm_window_choose_files (DermWindow *self)
{
  static const char *const all_mimes[] = { "image/jpeg", "image/png", NULL };
  static const char *const all_patterns[] = { "*.jpg", "*.jpeg", "*.JPG", "*.JPEG", "*.png", "*.PNG", NULL };
  static const char *const jpeg_mimes[] = { "image/jpeg", NULL };
  static const char *const jpeg_patterns[] = { "*.jpg", "*.jpeg", "*.JPG", "*.JPEG", NULL };
  static const char *const png_mimes[] = { "image/png", NULL };
  static const char *const png_patterns[] = { "*.png", "*.PNG", NULL };

  g_return_if_fail (DERM_IS_WINDOW (self));

  if (self->chooser != NULL)
    {
      gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
      return;
    }

  self->chooser = gtk_file_chooser_native_new (_("Open Images"), GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_OPEN,
                                               _("_Open"), _("_Cancel"));
  GtkFileChooser *chooser = GTK_FILE_CHOOSER (self->chooser);
  gtk_file_chooser_set_select_multiple (chooser, TRUE);
  add_filter (chooser, _("Dermoscopy images (JPEG, PNG)"), all_mimes, all_patterns, TRUE);
  add_filter (chooser, _("JPEG images"), jpeg_mimes, jpeg_patterns, FALSE);
  add_filter (chooser, _("PNG images"), png_mimes, png_patterns, FALSE);

  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  derm_window_choose_files (DERM_WINDOW (widget));
}

static void
close_page_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  DermWindow *self = DERM_WINDOW (widget);
  DermPage *page = derm_window_get_current_page (self);
  if (page != NULL)
    close_page (self, page);
}

void
derm_window_reanalyze (DermWindow *self)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  int n = gtk_notebook_get_n_pages (self->notebook);
  for (int i = 0; i < n; i++)
    derm_page_analyze (DERM_PAGE (gtk_notebook_get_nth_page (self->notebook, i)));
}

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
    return;
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
  add_filter (GTK_FILE_CHOOSER (chooser), _("Model weights (safetensors)"), NULL, patterns, TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (import_response_cb), widget);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* ---- Drag and drop -------------------------------------------------------------- */

static gboolean
drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, DermWindow *self)
{
  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  GSList *files = g_value_get_boxed (value);
  for (GSList *l = files; l != NULL; l = l->next)
    derm_window_open_file (self, G_FILE (l->data));
  return files != NULL;
}

/* ---- Cases ----------------------------------------------------------------------- */

static DermStoreWorker *
window_store_worker (DermWindow *self)
{
  return derm_context_get_store_worker (self->context);
}

static void
page_case_saved_cb (DermPage *page, GParamSpec *pspec, DermWindow *self)
{
  if (self->case_browser != NULL)
    derm_case_browser_reload (self->case_browser);
  update_pages_visibility (self);
}

DermPage *
derm_window_open_case (DermWindow *self, DermCase *c)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  g_return_val_if_fail (c != NULL, NULL);

  int n = gtk_notebook_get_n_pages (self->notebook);
  for (int i = 0; i < n; i++)
    {
      DermPage *page = DERM_PAGE (gtk_notebook_get_nth_page (self->notebook, i));
      const DermCase *shown = derm_page_get_case (page);
      if (shown != NULL && shown->image->id == c->image->id)
        {
          derm_case_free (c);
          gtk_notebook_set_current_page (self->notebook, i);
          return page;
        }
    }

  DermPage *page = derm_page_new_for_case (c, self->context);
  g_signal_connect_object (page, "notify::case-id", G_CALLBACK (page_case_saved_cb), self, 0);
  int index = gtk_notebook_append_page (self->notebook, GTK_WIDGET (page), create_tab_label (page));
  gtk_notebook_set_tab_reorderable (self->notebook, GTK_WIDGET (page), TRUE);
  gtk_notebook_set_current_page (self->notebook, index);
  update_pages_visibility (self);
  return page;
}

static void
show_error_dialog (DermWindow *self, const char *title, const char *message)
{
  derm_show_error (GTK_WIDGET (self), title, message);
}

static void
case_fetched_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(DermWindow) self = g_weak_ref_get (ref);
  g_weak_ref_clear (ref);
  g_free (ref);
  g_autoptr(GError) error = NULL;
  DermCase *c = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      derm_case_free (c);
      return;
    }
  if (c == NULL)
    {
      show_error_dialog (self, _("The case could not be opened"), error->message);
      return;
    }
  derm_window_open_case (self, c);
  gtk_window_present (GTK_WINDOW (self));
}

void
derm_window_open_case_id (DermWindow *self, gint64 image_id)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  DermStoreWorker *store = window_store_worker (self);
  if (store == NULL)
    return;
  gint64 *id = g_new (gint64, 1);
  *id = image_id;
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_store_worker_run_async (store, derm_case_get_job, id, g_free, (GDestroyNotify) derm_case_free,
                               NULL, case_fetched_cb, ref);
}

static void
browser_open_case_cb (DermCaseBrowser *browser, gint64 image_id, DermWindow *self)
{
  derm_window_open_case_id (self, image_id);
}

DermCompare *
derm_window_show_compare (DermWindow *self, gint64 lesion_id)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  DermStoreWorker *store = window_store_worker (self);
  g_return_val_if_fail (store != NULL, NULL);
  if (self->compare != NULL)
    gtk_window_destroy (GTK_WINDOW (self->compare));
  GSettings *settings = window_settings (self);
  self->compare = derm_compare_new (GTK_WINDOW (self), store, settings, lesion_id);
  g_object_add_weak_pointer (G_OBJECT (self->compare), (gpointer *) &self->compare);
  gtk_window_present (GTK_WINDOW (self->compare));
  return self->compare;
}

static void
browser_compare_cb (DermCaseBrowser *browser, gint64 lesion_id, DermWindow *self)
{
  derm_window_show_compare (self, lesion_id);
}

DermCaseBrowser *
derm_window_show_cases (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  DermStoreWorker *store = window_store_worker (self);
  g_return_val_if_fail (store != NULL, NULL);
  if (self->case_browser == NULL)
    {
      self->case_browser = derm_case_browser_new (GTK_WINDOW (self), store);
      g_object_add_weak_pointer (G_OBJECT (self->case_browser), (gpointer *) &self->case_browser);
      g_signal_connect_object (self->case_browser, "open-case", G_CALLBACK (browser_open_case_cb), self, 0);
      g_signal_connect_object (self->case_browser, "compare-lesion", G_CALLBACK (browser_compare_cb), self, 0);
    }
  else
    derm_case_browser_reload (self->case_browser);
  gtk_window_present (GTK_WINDOW (self->case_browser));
  return self->case_browser;
}

static void
cases_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  derm_window_show_cases (DERM_WINDOW (widget));
}

/* ---- Window state ------------------------------------------------------------- */

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

static DermTrainPanel *ensure_training_panel (DermWindow *self);

void
derm_window_train_first_run (DermWindow *self, const char *folder)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  g_return_if_fail (folder != NULL);
  g_settings_set_string (window_settings (self), "ham10000-folder", folder);
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
  g_autofree char *last = g_settings_get_string (window_settings (self), "ham10000-folder");
  if (last != NULL && *last != '\0' && g_file_test (last, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GFile) folder = g_file_new_for_path (last);
      gtk_file_chooser_set_file (GTK_FILE_CHOOSER (chooser), folder, NULL);
    }
  g_signal_connect (chooser, "response", G_CALLBACK (ham10000_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static DermTrainPanel *
ensure_training_panel (DermWindow *self)
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
      g_autofree char *folder = g_settings_get_string (window_settings (self), "ham10000-folder");
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
      ensure_training_panel (self);
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
  ensure_training_panel (self);
  adw_view_stack_set_visible_child_name (self->view_stack, "training");
  return self->training_panel;
}

void
derm_window_show_analysis (DermWindow *self)
{
  g_return_if_fail (DERM_IS_WINDOW (self));
  adw_view_stack_set_visible_child_name (self->view_stack, "analysis");
}

DermTrainPanel *
derm_window_get_training_panel (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  return self->training_panel;
}

int
derm_window_get_n_pages (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), 0);
  return gtk_notebook_get_n_pages (self->notebook);
}

GtkNotebook *
derm_window_get_notebook (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  return self->notebook;
}

const char *
derm_window_get_view (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  return adw_view_stack_get_visible_child_name (self->view_stack);
}

const char *
derm_window_get_training_status (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->training_status_button))
           ? gtk_label_get_text (self->training_status_label) : NULL;
}

const char *
derm_window_get_toasts (DermWindow *self)
{
  g_return_val_if_fail (DERM_IS_WINDOW (self), NULL);
  return derm_toast_get_shown (self->toast_overlay);
}

/* A toast's Open button: the file (a report) in the desktop's viewer. */
static void
show_file_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr(GFile) file = g_file_new_for_path (g_variant_get_string (param, NULL));
  g_autofree char *uri = g_file_get_uri (file);
  gtk_show_uri (GTK_WINDOW (widget), uri, GDK_CURRENT_TIME);
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
  DermTrainPanel *panel = ensure_training_panel (DERM_WINDOW (widget));
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
static gboolean
confirm_stop_training (DermWindow *self)
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

static gboolean
derm_window_close_request (GtkWindow *window)
{
  DermWindow *self = DERM_WINDOW (window);
  GSettings *settings = window_settings (self);

  if (!confirm_stop_training (self))
    return TRUE;

  if (settings != NULL)
    {
      int width, height;
      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_boolean (settings, "window-maximized", gtk_window_is_maximized (window));
      if (!gtk_window_is_maximized (window) && width > 0 && height > 0)
        {
          g_settings_set_int (settings, "window-width", width);
          g_settings_set_int (settings, "window-height", height);
        }
    }

  return GTK_WINDOW_CLASS (derm_window_parent_class)->close_request (window);
}

/* "application" is not a construct property: called once it is set. */
static void
restore_window_state (DermWindow *self)
{
  GSettings *settings = window_settings (self);
  if (settings != NULL)
    {
      gtk_window_set_default_size (GTK_WINDOW (self),
                                   MAX (480, g_settings_get_int (settings, "window-width")),
                                   MAX (360, g_settings_get_int (settings, "window-height")));
      if (g_settings_get_boolean (settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
    }
}

static void
models_changed_cb (DermContext *context, DermWindow *self)
{
  derm_window_reanalyze (self);
}

static void
derm_window_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  DermWindow *self = DERM_WINDOW (object);
  switch (id)
    {
    case PROP_CONTEXT:
      self->context = g_value_dup_object (value);
      g_signal_connect_object (self->context, "models-changed", G_CALLBACK (models_changed_cb), self, 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
derm_window_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  DermWindow *self = DERM_WINDOW (object);
  switch (id)
    {
    case PROP_CONTEXT:
      g_value_set_object (value, self->context);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
derm_window_dispose (GObject *object)
{
  DermWindow *self = DERM_WINDOW (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  if (self->case_browser != NULL)
    gtk_window_destroy (GTK_WINDOW (self->case_browser));
  if (self->compare != NULL)
    gtk_window_destroy (GTK_WINDOW (self->compare));
  /* The panel, a template child, stops its job (within one step) and joins
   * the thread when the template is disposed below. */
  self->training_panel = NULL;
  /* The window would unparent its content again after the template has
   * dropped it: detach it first. */
  adw_application_window_set_content (ADW_APPLICATION_WINDOW (self), NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_WINDOW);

  g_clear_object (&self->context);

  G_OBJECT_CLASS (derm_window_parent_class)->dispose (object);
}

static void
derm_window_class_init (DermWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = derm_window_dispose;
  object_class->set_property = derm_window_set_property;
  object_class->get_property = derm_window_get_property;
  window_class->close_request = derm_window_close_request;

  /* The settings and the workers the window and its pages share. */
  properties[PROP_CONTEXT] = g_param_spec_object ("context", NULL, NULL, DERM_TYPE_CONTEXT,
                                                  G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY
                                                  | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-window.ui");
  gtk_widget_class_bind_template_child (widget_class, DermWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, open_button);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, menu_button);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_box);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_status_button);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_spinner);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_status_label);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, notebook);

  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.close-page", NULL, close_page_action);
  gtk_widget_class_install_action (widget_class, "win.import-weights", NULL, import_weights_action);
  gtk_widget_class_install_action (widget_class, "win.training", NULL, training_action);
  gtk_widget_class_install_action (widget_class, "win.train-ham10000", NULL, train_ham10000_action);
  gtk_widget_class_install_action (widget_class, "win.analysis", NULL, analysis_action);
  gtk_widget_class_install_action (widget_class, "win.activate-version", "x", activate_version_action);
  /* The two views, as GNOME applications switch tabs and views. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.analysis", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.training", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, GDK_CONTROL_MASK, "win.import-weights", NULL);
  gtk_widget_class_install_action (widget_class, "win.show-file", "s", show_file_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.open", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "win.close-page", NULL);
  gtk_widget_class_install_action (widget_class, "win.cases", NULL, cases_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_b, GDK_CONTROL_MASK, "win.cases", NULL);
}

static void
derm_window_init (DermWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  g_signal_connect (self->notebook, "switch-page", G_CALLBACK (switch_page_cb), self);
  g_signal_connect (self->view_stack, "notify::visible-child-name", G_CALLBACK (view_changed_cb), self);

  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (target, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));

  update_pages_visibility (self);
}

DermWindow *
derm_window_new (GtkApplication *application, DermContext *context)
{
  g_return_val_if_fail (DERM_IS_CONTEXT (context), NULL);
  DermWindow *self = g_object_new (DERM_TYPE_WINDOW, "application", application, "context", context,
                                   NULL);
  restore_window_state (self);
  return self;
}
