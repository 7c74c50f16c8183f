/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page.c: one opened image (a tab of the window): the widget's life
 * cycle, properties and template, construction, the public getters, decoding
 * the image on a worker thread, and the setters of the state the other parts
 * share (they notify the properties). The analysis and its overlays are in
 * derm-page-analysis.c, cases and corrections in derm-page-case.c, actions,
 * shortcuts and the report in derm-page-actions.c; the struct is in
 * derm-page-private.h. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <glib/gi18n.h>

#include "derm-case.h"
#include "derm-enum-types.h"
#include "derm-page.h"
#include "derm-page-private.h"
#include "derm-results.h"
#include "derm-viewer.h"

G_DEFINE_FINAL_TYPE (DermPage, derm_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_FILE,
  PROP_TITLE,
  PROP_STATE,
  PROP_ANALYSIS_STATE,
  PROP_CONTEXT,
  PROP_CASE_ID,
  PROP_BUSY,
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

/* A GWeakRef to @object for an async callback's user data. Returns: (transfer full). */
GWeakRef *
_derm_page_weak_ref_new (gpointer object)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, object);
  return ref;
}

/* Frees the GWeakRef @user_data. Returns: (transfer full) the page, or NULL
 * when it has been closed. */
DermPage *
_derm_page_weak_ref_steal (gpointer user_data)
{
  GWeakRef *ref = user_data;
  DermPage *self = g_weak_ref_get (ref);
  g_weak_ref_clear (ref);
  g_free (ref);
  return self;
}

/* Runs on the main thread. @user_data is a GWeakRef to the page: a page
 * closed while its image decoded is gone, and the result is dropped. */
static void
image_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);

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
  if (self->stored != NULL && self->stored->analysis != NULL)
    _derm_page_show_stored (self);
  else
    derm_page_analyze (self);
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

  self->load_cancellable = g_cancellable_new ();
  g_autoptr(GTask) task = g_task_new (NULL, self->load_cancellable, image_loaded_cb, _derm_page_weak_ref_new (self));
  g_task_set_source_tag (task, start_loading);
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  g_task_run_in_thread (task, load_image_worker);
}

/* ---- State the parts share: its setters notify the properties -------------- */

void
_derm_page_set_analysis_state (DermPage *self, DermAnalysisState state)
{
  if (self->analysis_state == state)
    return;
  self->analysis_state = state;
  _derm_page_update_actions (self);
  _derm_page_update_overlay_controls (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ANALYSIS_STATE]);
}

void
_derm_page_set_status (DermPage *self, const char *message, gboolean is_error)
{
  gtk_label_set_text (self->status_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), message != NULL);
  if (is_error)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "dim-label");
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "dim-label");
    }
}

void
_derm_page_set_last_error (DermPage *self, const char *message)
{
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  if (message != NULL)
    _derm_page_set_status (self, message, TRUE);
}

void
_derm_page_change_pending (DermPage *self, int delta)
{
  self->pending += delta;
  _derm_page_update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static char *
case_title (const DermCase *c)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (c->image->captured);
  g_autofree char *date = dt != NULL ? g_date_time_format (dt, "%Y-%m-%d") : g_strdup ("?");
  /* Translators: a stored case's tab title: patient, body site, visit date */
  return g_strdup_printf (_("%s, %s, %s"), c->patient->identifier,
                          derm_body_site_label (c->lesion->body_site), date);
}

void
_derm_page_set_stored (DermPage *self, DermCase *c)
{
  if (self->stored != c)
    derm_case_free (self->stored);
  self->stored = c;
  /* What the case knows of the patient is the context of what runs next. */
  if (c != NULL)
    {
      derm_case_patient_context (c, &self->patient);
      self->has_patient = TRUE;
    }
  g_free (self->title);
  self->title = case_title (c);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CASE_ID]);
  _derm_page_update_actions (self);
  _derm_page_update_overlay_controls (self);
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
    _derm_page_bind_settings (self);
  gtk_spinner_set_spinning (self->loading_spinner, TRUE);
  start_loading (self);
}

static void
derm_page_dispose (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  g_clear_handle_id (&self->fold_idle, g_source_remove);
  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  if (self->analysis_cancellable != NULL)
    g_cancellable_cancel (self->analysis_cancellable);
  g_clear_object (&self->analysis_cancellable);
  if (self->gradcam_cancellable != NULL)
    g_cancellable_cancel (self->gradcam_cancellable);
  g_clear_object (&self->gradcam_cancellable);
  _derm_page_cancel_measure (self);
  if (self->ops_cancellable != NULL)
    g_cancellable_cancel (self->ops_cancellable);
  g_clear_object (&self->ops_cancellable);
  GtkWidget *dialog = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (dialog));
  g_clear_object (&self->worker);
  g_clear_object (&self->settings);
  g_clear_object (&self->context);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_PAGE);

  G_OBJECT_CLASS (derm_page_parent_class)->dispose (object);
}

static void
derm_page_finalize (GObject *object)
{
  DermPage *self = DERM_PAGE (object);
  g_free (self->image_description);

  g_clear_object (&self->file);
  g_free (self->title);
  g_free (self->error_message);
  derm_image_free (self->image);
  derm_analysis_result_free (self->result);
  derm_case_free (self->stored);
  g_free (self->notes);
  g_free (self->last_error);
  g_free (self->last_report);

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
      g_value_set_enum (value, self->state);
      break;
    case PROP_ANALYSIS_STATE:
      g_value_set_enum (value, self->analysis_state);
      break;
    case PROP_CONTEXT:
      g_value_set_object (value, self->context);
      break;
    case PROP_CASE_ID:
      g_value_set_int64 (value, self->stored != NULL ? self->stored->image->id : 0);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->pending > 0);
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
    case PROP_CONTEXT:
      /* The worker and the settings the page uses all the time, at hand. */
      self->context = g_value_dup_object (value);
      self->worker = g_object_ref (derm_context_get_worker (self->context));
      self->settings = g_object_ref (derm_context_get_settings (self->context));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* At 800 px or less the results fold over the image (a toolbar button and
 * F9 show them); wider, they sit beside it. libadwaita 1.2 has no
 * breakpoints: the fold policy follows the page's width, set after the
 * allocation (setting it during one would queue another). */
#define NARROW_WIDTH 800

static gboolean
apply_fold_policy_cb (gpointer user_data)
{
  DermPage *self = user_data;
  self->fold_idle = 0;
  gboolean narrow = gtk_widget_get_width (GTK_WIDGET (self)) <= NARROW_WIDTH;
  adw_flap_set_fold_policy (self->flap, narrow ? ADW_FLAP_FOLD_POLICY_ALWAYS : ADW_FLAP_FOLD_POLICY_AUTO);
  return G_SOURCE_REMOVE;
}

/* The page is a bin around its state stack, laid out here rather than by a
 * GtkBinLayout so that it sees its own width. */
static void
derm_page_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                   int *natural, int *minimum_baseline, int *natural_baseline)
{
  gtk_widget_measure (GTK_WIDGET (DERM_PAGE (widget)->state_stack), orientation, for_size, minimum,
                      natural, minimum_baseline, natural_baseline);
}

static void
derm_page_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  DermPage *self = DERM_PAGE (widget);
  gtk_widget_allocate (GTK_WIDGET (self->state_stack), width, height, baseline, NULL);
  AdwFlapFoldPolicy want = width <= NARROW_WIDTH ? ADW_FLAP_FOLD_POLICY_ALWAYS : ADW_FLAP_FOLD_POLICY_AUTO;
  if (adw_flap_get_fold_policy (self->flap) != want && self->fold_idle == 0)
    self->fold_idle = g_idle_add_full (G_PRIORITY_HIGH_IDLE, apply_fold_policy_cb, self, NULL);
}

static void
derm_page_class_init (DermPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = derm_page_constructed;
  object_class->dispose = derm_page_dispose;
  object_class->finalize = derm_page_finalize;
  widget_class->measure = derm_page_measure;
  widget_class->size_allocate = derm_page_size_allocate;
  object_class->get_property = derm_page_get_property;
  object_class->set_property = derm_page_set_property;

  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, DERM_TYPE_PAGE_STATE, DERM_PAGE_LOADING,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ANALYSIS_STATE] =
    g_param_spec_enum ("analysis-state", NULL, NULL, DERM_TYPE_ANALYSIS_STATE, DERM_ANALYSIS_NONE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* The settings and the workers (the window's). */
  properties[PROP_CONTEXT] =
    g_param_spec_object ("context", NULL, NULL, DERM_TYPE_CONTEXT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CASE_ID] =
    g_param_spec_int64 ("case-id", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (DERM_TYPE_VIEWER);
  g_type_ensure (DERM_TYPE_RESULTS);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-page.ui");
  gtk_widget_class_bind_template_child (widget_class, DermPage, state_stack);
  gtk_widget_class_bind_template_child (widget_class, DermPage, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, DermPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, DermPage, viewer);
  gtk_widget_class_bind_template_child (widget_class, DermPage, results);
  gtk_widget_class_bind_template_child (widget_class, DermPage, flap);
  gtk_widget_class_bind_template_child (widget_class, DermPage, mask_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, contour_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, heatmap_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, opacity_scale);
  gtk_widget_class_bind_template_child (widget_class, DermPage, heatmap_class_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermPage, zoom_label);
  gtk_widget_class_bind_template_child (widget_class, DermPage, correct_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, correct_revealer);
  gtk_widget_class_bind_template_child (widget_class, DermPage, brush_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, eraser_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, brush_size_spin);
  gtk_widget_class_bind_template_child (widget_class, DermPage, diagnosis_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermPage, dx_type_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermPage, save_case_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, report_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, save_correction_button);
  gtk_widget_class_bind_template_child (widget_class, DermPage, status_label);

  _derm_page_class_actions_init (widget_class);
}

static void
derm_page_init (DermPage *self)
{
  self->state = DERM_PAGE_LOADING;
  gtk_widget_init_template (GTK_WIDGET (self));

  const char *classes[DERM_N_CLASSES + 1];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    classes[c] = derm_class_name (c);
  classes[DERM_N_CLASSES] = NULL;
  g_autoptr(GtkStringList) dx_model = gtk_string_list_new (classes);
  gtk_drop_down_set_model (self->diagnosis_dropdown, G_LIST_MODEL (dx_model));
  g_autoptr(GtkStringList) dx_types = gtk_string_list_new (NULL);
  for (int t = DERM_DX_TYPE_HISTO; t <= DERM_DX_TYPE_CONFOCAL; t++)
    gtk_string_list_append (dx_types, derm_dx_type_label (t));
  gtk_drop_down_set_model (self->dx_type_dropdown, G_LIST_MODEL (dx_types));

  self->ops_cancellable = g_cancellable_new ();
  _derm_page_analysis_init (self);
  _derm_page_actions_init (self);
  _derm_page_update_actions (self);
  _derm_page_update_overlay_controls (self);
}


DermPage *
derm_page_new (GFile *file, DermContext *context)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (DERM_IS_CONTEXT (context), NULL);
  return g_object_new (DERM_TYPE_PAGE, "file", file, "context", context, NULL);
}

DermPage *
derm_page_new_for_case (DermCase *stored, DermContext *context)
{
  g_return_val_if_fail (stored != NULL && stored->image != NULL, NULL);
  g_return_val_if_fail (DERM_IS_CONTEXT (context), NULL);
  g_autoptr(GFile) file = g_file_new_for_path (stored->image->path);
  /* The image decodes asynchronously: the case is in place before it arrives. */
  DermPage *self = g_object_new (DERM_TYPE_PAGE, "file", file, "context", context, NULL);
  _derm_page_set_stored (self, stored);
  return self;
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

const DermCase *
derm_page_get_case (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->stored;
}

gboolean
derm_page_get_busy (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  /* A save that waits for the analysis with its patient context is pending too. */
  return self->pending > 0 || self->save_after_analysis;
}

const char *
derm_page_get_last_error (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->last_error;
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
  g_string_append_printf (out, "results_folded=%d\nresults_shown=%d\n", adw_flap_get_folded (self->flap),
                          !adw_flap_get_folded (self->flap) || adw_flap_get_reveal_flap (self->flap));
  g_string_append_printf (out, "image_description=%s\n",
                          self->image_description != NULL ? self->image_description : "");
  g_string_append_printf (out, "heatmap_source=%s\n",
                          !hh ? "none" : self->heatmap_on_demand ? "on-demand" : "analysis");
  static const struct { const char *name; gsize offset; } controls[] = {
    { "mask_button", G_STRUCT_OFFSET (DermPage, mask_button) },
    { "contour_button", G_STRUCT_OFFSET (DermPage, contour_button) },
    { "opacity_scale", G_STRUCT_OFFSET (DermPage, opacity_scale) },
    { "heatmap_button", G_STRUCT_OFFSET (DermPage, heatmap_button) },
    { "heatmap_class", G_STRUCT_OFFSET (DermPage, heatmap_class_dropdown) },
    { "save_correction", G_STRUCT_OFFSET (DermPage, save_correction_button) },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (controls); i++)
    {
      GtkWidget *w = G_STRUCT_MEMBER (GtkWidget *, self, controls[i].offset);
      g_string_append_printf (out, "%s_enabled=%d\n%s_tooltip=%s\n", controls[i].name,
                              gtk_widget_is_sensitive (w), controls[i].name,
                              gtk_widget_get_tooltip_text (w) != NULL ? gtk_widget_get_tooltip_text (w) : "");
    }
  g_string_append_printf (out, "status=%s\n", gtk_widget_get_visible (GTK_WIDGET (self->status_label))
                                                 ? gtk_label_get_text (self->status_label) : "");
  derm_results_describe (self->results, out);

  g_string_append_printf (out, "source=%s\n",
                          self->stored != NULL && self->stored->analysis != NULL ? "stored" : "computed");
  g_string_append_printf (out, "case_id=%" G_GINT64_FORMAT "\n",
                          self->stored != NULL ? self->stored->image->id : (gint64) 0);
  if (self->worker != NULL)
    g_string_append_printf (out, "worker_analyses=%u\n", derm_worker_get_analysis_count (self->worker));
  if (self->stored != NULL)
    {
      g_string_append_printf (out, "patient=%s\nbody_site=%s\nlesion_id=%" G_GINT64_FORMAT "\n",
                              self->stored->patient->identifier, self->stored->lesion->body_site,
                              self->stored->lesion->id);
      const DermAnnotation *a = self->stored->annotation;
      g_string_append_printf (out, "confirmed=%d\n", a != NULL);
      if (a != NULL)
        g_string_append_printf (out, "diagnosis=%s\ndx_type=%s\nannotation_mask=%d\n",
                                derm_class_code (a->diagnosis), derm_dx_type_to_string (a->dx_type),
                                a->mask_png != NULL);
    }
  g_autofree char *notes = g_strescape (self->notes != NULL ? self->notes : "", NULL);
  g_string_append_printf (out, "notes=%s\n", notes);
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  gsize mask_pixels = 0;
  if (mask != NULL)
    for (gsize i = 0; i < (gsize) mask->width * mask->height; i++)
      mask_pixels += mask->data[i] >= 128;
  g_string_append_printf (out, "mask_pixels=%" G_GSIZE_FORMAT "\n", mask_pixels);
  gboolean can_undo, can_redo, edited;
  g_object_get (self->viewer, "can-undo", &can_undo, "can-redo", &can_redo, "edited", &edited, NULL);
  g_string_append_printf (out, "can_undo=%d\ncan_redo=%d\nedited=%d\n", can_undo, can_redo, edited);
  g_string_append_printf (out, "corrected_measurements=%u\n", self->measurements_started);
  g_string_append_printf (out, "save_case_enabled=%d\nsave_case_tooltip=%s\n",
                          gtk_widget_is_sensitive (GTK_WIDGET (self->save_case_button)),
                          gtk_widget_get_tooltip_text (GTK_WIDGET (self->save_case_button)));
  g_string_append_printf (out, "report_enabled=%d\nreport_tooltip=%s\n",
                          gtk_widget_is_sensitive (GTK_WIDGET (self->report_button)),
                          gtk_widget_get_tooltip_text (GTK_WIDGET (self->report_button)));
  if (self->last_error != NULL)
    g_string_append_printf (out, "last_error=%s\n", self->last_error);
  if (self->last_report != NULL)
    g_string_append_printf (out, "report=%s\n", self->last_report);
}
