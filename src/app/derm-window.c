/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-window.c: the main window: pages of open images, opening files and
 * stored cases, the case browser and comparison, the window's state. The
 * models and the training view are in derm-window-models.c. */
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

enum { PROP_0, PROP_CONTEXT, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DermWindow, derm_window, ADW_TYPE_APPLICATION_WINDOW)

static void page_case_saved_cb (DermPage *page, GParamSpec *pspec, DermWindow *self);

GSettings *
_derm_window_settings (DermWindow *self)
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

void
_derm_window_add_filter (GtkFileChooser *chooser, const char *name, const char *const *mime_types,
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
  _derm_window_add_filter (chooser, _("Dermoscopy images (JPEG, PNG)"), all_mimes, all_patterns, TRUE);
  _derm_window_add_filter (chooser, _("JPEG images"), jpeg_mimes, jpeg_patterns, FALSE);
  _derm_window_add_filter (chooser, _("PNG images"), png_mimes, png_patterns, FALSE);

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
  GSettings *settings = _derm_window_settings (self);
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

static gboolean
derm_window_close_request (GtkWindow *window)
{
  DermWindow *self = DERM_WINDOW (window);
  GSettings *settings = _derm_window_settings (self);

  if (!_derm_window_confirm_stop_training (self))
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
  GSettings *settings = _derm_window_settings (self);
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
  _derm_window_check_models (self);
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
  gtk_widget_class_bind_template_child (widget_class, DermWindow, welcome_no_model);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_box);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_status_button);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_spinner);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, training_status_label);
  gtk_widget_class_bind_template_child (widget_class, DermWindow, notebook);

  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.close-page", NULL, close_page_action);
  gtk_widget_class_install_action (widget_class, "win.show-file", "s", show_file_action);
  _derm_window_class_models_init (widget_class);
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
  _derm_window_models_init (self);

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
  _derm_window_check_models (self);
  return self;
}
