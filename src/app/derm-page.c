/* derm-page.c: one opened image: decoded on a worker thread, then shown. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-page.h"
#include "derm-results.h"
#include "derm-viewer.h"

struct _DermPage
{
  GtkWidget parent_instance;

  GtkStack *state_stack;
  GtkSpinner *loading_spinner;
  GtkLabel *error_label;
  DermViewer *viewer;
  DermResults *results;
  GtkToggleButton *mask_button;
  GtkToggleButton *contour_button;
  GtkToggleButton *heatmap_button;
  GtkScale *opacity_scale;
  GtkDropDown *heatmap_class_dropdown;
  GtkLabel *zoom_label;

  GFile *file;
  DermWorker *worker;
  GSettings *settings;
  DermAnalysisState analysis_state;
  DermAnalysisResult *result;
  GCancellable *analysis_cancellable;
  GCancellable *gradcam_cancellable;
  char *title;
  DermPageState state;
  char *error_message;
  DermImage *image;
  GCancellable *load_cancellable;
};

G_DEFINE_FINAL_TYPE (DermPage, derm_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_FILE,
  PROP_TITLE,
  PROP_STATE,
  PROP_ANALYSIS_STATE,
  PROP_WORKER,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- Loading on a worker thread ------------------------------------------ */

/* What the worker needs; owned by the GTask. */
typedef struct {
  char *path;
} LoadRequest;

static void
load_request_free (LoadRequest *request)
{
  g_free (request->path);
  g_free (request);
}

static void
load_image_worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LoadRequest *request = task_data;
  GError *error = NULL;

  DermImage *image = derm_image_load (request->path, 3, 0, 0, &error);
  if (image == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, image, (GDestroyNotify) derm_image_free);
}

static void
set_state (DermPage *self, DermPageState state)
{
  if (self->state == state)
    return;
  self->state = state;
  gtk_spinner_set_spinning (self->loading_spinner, state == DERM_PAGE_LOADING);
  switch (state)
    {
    case DERM_PAGE_LOADING:
      gtk_stack_set_visible_child_name (self->state_stack, "loading");
      break;
    case DERM_PAGE_ERROR:
      gtk_stack_set_visible_child_name (self->state_stack, "error");
      break;
    case DERM_PAGE_READY:
      gtk_stack_set_visible_child_name (self->state_stack, "image");
      break;
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
show_error (DermPage *self, const char *message)
{
  g_free (self->error_message);
  self->error_message = g_strdup (message);
  gtk_label_set_text (self->error_label, message);
  set_state (self, DERM_PAGE_ERROR);
}

/* Runs on the main thread. @user_data is a GWeakRef to the page: a page
 * closed while its image decoded is gone, and the result is dropped. */
static void
image_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *page_ref = user_data;
  g_autoptr(DermPage) self = g_weak_ref_get (page_ref);
  g_weak_ref_clear (page_ref);
  g_free (page_ref);

  GTask *task = G_TASK (result);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) image = g_task_propagate_pointer (task, &error);

  if (self == NULL || g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    return;
  g_clear_object (&self->load_cancellable);

  if (image == NULL)
    {
      show_error (self, error->message);
      return;
    }

  derm_viewer_set_image (self->viewer, image);
  self->image = g_steal_pointer (&image);
  set_state (self, DERM_PAGE_READY);
  derm_page_analyze (self);
}

/* ---- Analysis on the model worker ------------------------------------------------ */

static void
set_analysis_state (DermPage *self, DermAnalysisState state)
{
  if (self->analysis_state == state)
    return;
  self->analysis_state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ANALYSIS_STATE]);
}

static void
show_result (DermPage *self)
{
  derm_results_show (self->results, self->result,
                     g_settings_get_double (self->settings, "risk-threshold"),
                     g_settings_get_double (self->settings, "low-confidence-margin"),
                     g_settings_get_enum (self->settings, "units") == 1
                       ? g_settings_get_double (self->settings, "pixels-per-mm") : 0.0);
}

static void
analysis_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GWeakRef *page_ref = user_data;
  g_autoptr(DermPage) self = g_weak_ref_get (page_ref);
  g_weak_ref_clear (page_ref);
  g_free (page_ref);

  g_autoptr(GError) error = NULL;
  g_autoptr(DermAnalysisResult) result = derm_worker_analyze_finish (DERM_WORKER (source), res, &error);
  /* A closed page, or a request superseded by a newer one: drop it. */
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->analysis_cancellable
      || g_cancellable_is_cancelled (self->analysis_cancellable))
    return;

  if (result == NULL)
    {
      if (g_error_matches (error, DERM_ERROR, DERM_ERROR_NOT_FOUND))
        {
          derm_results_show_no_model (self->results, error->message);
          set_analysis_state (self, DERM_ANALYSIS_NO_MODEL);
        }
      else
        {
          derm_results_show_failed (self->results, error->message);
          set_analysis_state (self, DERM_ANALYSIS_FAILED);
        }
      return;
    }

  derm_analysis_result_free (self->result);
  self->result = g_steal_pointer (&result);
  derm_viewer_set_mask (self->viewer, self->result->mask);
  derm_viewer_set_heatmap (self->viewer, self->result->heatmap);
  gtk_drop_down_set_selected (self->heatmap_class_dropdown, self->result->heatmap_class);
  show_result (self);
  set_analysis_state (self, DERM_ANALYSIS_DONE);
}

void
derm_page_analyze (DermPage *self)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  if (self->image == NULL || self->worker == NULL)
    return;

  if (self->analysis_cancellable != NULL)
    g_cancellable_cancel (self->analysis_cancellable);
  g_clear_object (&self->analysis_cancellable);
  self->analysis_cancellable = g_cancellable_new ();

  GWeakRef *page_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (page_ref, self);
  derm_results_show_analysing (self->results);
  set_analysis_state (self, DERM_ANALYSIS_RUNNING);
  derm_worker_analyze_async (self->worker, self->image,
                             g_settings_get_boolean (self->settings, "test-time-augmentation"),
                             self->analysis_cancellable, analysis_done_cb, page_ref);
}

static void
gradcam_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GWeakRef *page_ref = user_data;
  g_autoptr(DermPage) self = g_weak_ref_get (page_ref);
  g_weak_ref_clear (page_ref);
  g_free (page_ref);

  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) heatmap = derm_worker_gradcam_finish (DERM_WORKER (source), res, &error);
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->gradcam_cancellable
      || g_cancellable_is_cancelled (self->gradcam_cancellable))
    return;
  if (heatmap == NULL)
    {
      g_warning ("Grad-CAM: %s", error->message);
      return;
    }
  derm_viewer_set_heatmap (self->viewer, heatmap);
}

static void
heatmap_class_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, DermPage *self)
{
  guint selected = gtk_drop_down_get_selected (dropdown);
  if (self->result == NULL || selected >= DERM_N_CLASSES || (int) selected == self->result->heatmap_class)
    return;
  self->result->heatmap_class = selected;

  if (self->gradcam_cancellable != NULL)
    g_cancellable_cancel (self->gradcam_cancellable);
  g_clear_object (&self->gradcam_cancellable);
  self->gradcam_cancellable = g_cancellable_new ();
  GWeakRef *page_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (page_ref, self);
  derm_worker_gradcam_async (self->worker, self->image, selected, self->gradcam_cancellable,
                             gradcam_done_cb, page_ref);
}

static void
thresholds_changed_cb (GSettings *settings, const char *key, DermPage *self)
{
  if (self->result != NULL && self->analysis_state == DERM_ANALYSIS_DONE)
    show_result (self);
}

static void
zoom_changed_cb (DermViewer *viewer, GParamSpec *pspec, DermPage *self)
{
  g_autofree char *text = g_strdup_printf ("%.0f %%", 100 * derm_viewer_get_zoom (viewer));
  gtk_label_set_text (self->zoom_label, text);
}

static void
toggle_setting (DermPage *self, const char *key)
{
  g_settings_set_boolean (self->settings, key, !g_settings_get_boolean (self->settings, key));
}

static void
toggle_mask_action (GtkWidget *widget, const char *name, GVariant *param)
{
  toggle_setting (DERM_PAGE (widget), "show-mask");
}

static void
toggle_contour_action (GtkWidget *widget, const char *name, GVariant *param)
{
  toggle_setting (DERM_PAGE (widget), "show-contour");
}

static void
toggle_heatmap_action (GtkWidget *widget, const char *name, GVariant *param)
{
  toggle_setting (DERM_PAGE (widget), "show-heatmap");
}

static void
viewer_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  if (g_str_equal (name, "page.zoom-in"))
    derm_viewer_zoom_in (self->viewer);
  else if (g_str_equal (name, "page.zoom-out"))
    derm_viewer_zoom_out (self->viewer);
  else
    derm_viewer_fit (self->viewer);
}

static void
bind_settings (DermPage *self)
{
  static const struct { const char *key; const char *prop; } viewer_keys[] = {
    { "show-mask", "show-mask" }, { "show-contour", "show-contour" },
    { "show-heatmap", "show-heatmap" }, { "mask-opacity", "mask-opacity" },
    { "heatmap-opacity", "heatmap-opacity" }, { "mask-color", "mask-color" },
    { "contour-color", "contour-color" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (viewer_keys); i++)
    g_settings_bind (self->settings, viewer_keys[i].key, self->viewer, viewer_keys[i].prop,
                     G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "show-mask", self->mask_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "show-contour", self->contour_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "show-heatmap", self->heatmap_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "mask-opacity", gtk_range_get_adjustment (GTK_RANGE (self->opacity_scale)),
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_object_bind_property (self->viewer, "has-mask", self->mask_button, "sensitive", G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->viewer, "has-mask", self->contour_button, "sensitive", G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->viewer, "has-mask", self->opacity_scale, "sensitive", G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->viewer, "has-heatmap", self->heatmap_button, "sensitive", G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->viewer, "has-heatmap", self->heatmap_class_dropdown, "sensitive", G_BINDING_SYNC_CREATE);
  g_signal_connect_object (self->settings, "changed::risk-threshold", G_CALLBACK (thresholds_changed_cb), self, 0);
  g_signal_connect_object (self->settings, "changed::low-confidence-margin", G_CALLBACK (thresholds_changed_cb), self, 0);
  g_signal_connect_object (self->settings, "changed::units", G_CALLBACK (thresholds_changed_cb), self, 0);
  g_signal_connect_object (self->settings, "changed::pixels-per-mm", G_CALLBACK (thresholds_changed_cb), self, 0);
}

static void
start_loading (DermPage *self)
{
  g_autofree char *path = g_file_get_path (self->file);
  if (path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (self->file);
      /* Translators: %s is a URI such as sftp://host/image.jpg */
      g_autofree char *msg = g_strdup_printf (_("“%s” is not a local file. Copy it to this computer first."), uri);
      show_error (self, msg);
      return;
    }

  LoadRequest *request = g_new0 (LoadRequest, 1);
  request->path = g_steal_pointer (&path);

  GWeakRef *page_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (page_ref, self);

  self->load_cancellable = g_cancellable_new ();
  g_autoptr(GTask) task = g_task_new (NULL, self->load_cancellable, image_loaded_cb, page_ref);
  g_task_set_source_tag (task, start_loading);
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  g_task_run_in_thread (task, load_image_worker);
}

/* ---- GObject ----------------------------------------------------------------- */

static void
derm_page_constructed (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  G_OBJECT_CLASS (derm_page_parent_class)->constructed (object);

  g_autoptr(GFileInfo) info = g_file_query_info (self->file, G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME,
                                                 G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info != NULL)
    self->title = g_strdup (g_file_info_get_display_name (info));
  else
    self->title = g_file_get_basename (self->file);

  if (self->settings != NULL)
    bind_settings (self);
  gtk_spinner_set_spinning (self->loading_spinner, TRUE);
  start_loading (self);
}

static void
derm_page_dispose (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  if (self->analysis_cancellable != NULL)
    g_cancellable_cancel (self->analysis_cancellable);
  g_clear_object (&self->analysis_cancellable);
  if (self->gradcam_cancellable != NULL)
    g_cancellable_cancel (self->gradcam_cancellable);
  g_clear_object (&self->gradcam_cancellable);
  g_clear_object (&self->worker);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_PAGE);

  G_OBJECT_CLASS (derm_page_parent_class)->dispose (object);
}

static void
derm_page_finalize (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  g_clear_object (&self->file);
  g_free (self->title);
  g_free (self->error_message);
  derm_image_free (self->image);
  derm_analysis_result_free (self->result);

  G_OBJECT_CLASS (derm_page_parent_class)->finalize (object);
}

static void
derm_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  DermPage *self = DERM_PAGE (object);

  switch (prop_id)
    {
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    case PROP_ANALYSIS_STATE:
      g_value_set_int (value, self->analysis_state);
      break;
    case PROP_WORKER:
      g_value_set_object (value, self->worker);
      break;
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
derm_page_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  DermPage *self = DERM_PAGE (object);

  switch (prop_id)
    {
    case PROP_FILE:
      self->file = g_value_dup_object (value);
      break;
    case PROP_WORKER:
      self->worker = g_value_dup_object (value);
      break;
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
derm_page_class_init (DermPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = derm_page_constructed;
  object_class->dispose = derm_page_dispose;
  object_class->finalize = derm_page_finalize;
  object_class->get_property = derm_page_get_property;
  object_class->set_property = derm_page_set_property;

  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, DERM_PAGE_LOADING, DERM_PAGE_READY, DERM_PAGE_LOADING,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ANALYSIS_STATE] =
    g_param_spec_int ("analysis-state", NULL, NULL, DERM_ANALYSIS_NONE, DERM_ANALYSIS_FAILED,
                      DERM_ANALYSIS_NONE, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, DERM_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (DERM_TYPE_VIEWER);
  g_type_ensure (DERM_TYPE_RESULTS);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-page.ui");
  gtk_widget_class_bind_template_child (widget_class, DermPage, state_stack);
  gtk_widget_class_bind_template_child (widget_class, DermPage, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, DermPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, DermPage, viewer);
  gtk_widget_class_bind_template_child (widget_class, DermPage, results);
  gtk_widget_class_bind_template_child (widget_class, DermPage, mask_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, contour_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, heatmap_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, opacity_scale);
  gtk_widget_class_bind_template_child (widget_class, DermPage, heatmap_class_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermPage, zoom_label);

  gtk_widget_class_install_action (widget_class, "page.toggle-mask", NULL, toggle_mask_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-contour", NULL, toggle_contour_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-heatmap", NULL, toggle_heatmap_action);
  gtk_widget_class_install_action (widget_class, "page.zoom-in", NULL, viewer_action);
  gtk_widget_class_install_action (widget_class, "page.zoom-out", NULL, viewer_action);
  gtk_widget_class_install_action (widget_class, "page.fit", NULL, viewer_action);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
derm_page_init (DermPage *self)
{
  self->state = DERM_PAGE_LOADING;
  gtk_widget_init_template (GTK_WIDGET (self));

  const char *names[DERM_N_CLASSES + 1];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    names[c] = derm_class_name (c);
  names[DERM_N_CLASSES] = NULL;
  GtkStringList *model = gtk_string_list_new (names);
  gtk_drop_down_set_model (self->heatmap_class_dropdown, G_LIST_MODEL (model));
  g_object_unref (model);
  g_signal_connect (self->heatmap_class_dropdown, "notify::selected",
                    G_CALLBACK (heatmap_class_changed_cb), self);
  g_signal_connect (self->viewer, "notify::zoom", G_CALLBACK (zoom_changed_cb), self);

  /* Overlay keys work anywhere in the visible page (GLOBAL scope only
   * fires for a mapped page). */
  GtkEventController *shortcuts = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (shortcuts), GTK_SHORTCUT_SCOPE_GLOBAL);
  static const struct { guint key; const char *action; } keys[] = {
    { GDK_KEY_m, "page.toggle-mask" }, { GDK_KEY_c, "page.toggle-contour" },
    { GDK_KEY_h, "page.toggle-heatmap" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_keyval_trigger_new (keys[i].key, 0),
                                                            gtk_named_action_new (keys[i].action)));
  gtk_widget_add_controller (GTK_WIDGET (self), shortcuts);
}

DermPage *
derm_page_new (GFile *file, DermWorker *worker, GSettings *settings)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  return g_object_new (DERM_TYPE_PAGE, "file", file, "worker", worker, "settings", settings, NULL);
}

GFile *
derm_page_get_file (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->file;
}

const char *
derm_page_get_title (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->title;
}

DermPageState
derm_page_get_state (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), DERM_PAGE_ERROR);
  return self->state;
}

const char *
derm_page_get_error_message (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->error_message;
}

const DermImage *
derm_page_get_image (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->image;
}

DermAnalysisState
derm_page_get_analysis_state (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), DERM_ANALYSIS_NONE);
  return self->analysis_state;
}

const DermAnalysisResult *
derm_page_get_result (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->result;
}

void
derm_page_describe (DermPage *self, GString *out)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  if (self->state != DERM_PAGE_READY)
    return;
  g_string_append_printf (out, "zoom=%s\nfit=%d\n", gtk_label_get_text (self->zoom_label),
                          derm_viewer_get_fit (self->viewer));
  g_object_freeze_notify (G_OBJECT (self->viewer));
  gboolean m, c, h, hm, hh;
  g_object_get (self->viewer, "show-mask", &m, "show-contour", &c, "show-heatmap", &h,
                "has-mask", &hm, "has-heatmap", &hh, NULL);
  g_object_thaw_notify (G_OBJECT (self->viewer));
  g_string_append_printf (out, "show_mask=%d\nshow_contour=%d\nshow_heatmap=%d\nhas_mask=%d\nhas_heatmap=%d\n",
                          m, c, h, hm, hh);
  derm_results_describe (self->results, out);
}
