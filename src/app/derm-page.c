/* derm-page.c: one opened image: decoded on a worker thread, then shown. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "derm-application.h"
#include "derm-case.h"
#include "derm-error.h"
#include "derm-page.h"
#include "derm-page-private.h"
#include "derm-report.h"
#include "derm-results.h"
#include "derm-save-dialog.h"
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
  GtkToggleButton *correct_button;
  GtkRevealer *correct_revealer;
  GtkToggleButton *brush_button;
  GtkToggleButton *eraser_button;
  GtkSpinButton *brush_size_spin;
  GtkDropDown *diagnosis_dropdown;
  GtkDropDown *dx_type_dropdown;
  GtkButton *save_case_button;
  GtkButton *report_button;
  GtkButton *save_correction_button;
  GtkLabel *status_label;

  DermCase *stored;         /* the case this image is stored as, or NULL */
  char *notes;              /* the visit's notes */
  guint pending;            /* store and report operations running */
  char *last_error;         /* of the latest store or report operation */
  char *last_report;        /* path of the latest report written */
  GCancellable *ops_cancellable;

  GFile *file;
  DermWorker *worker;
  GSettings *settings;
  DermAnalysisState analysis_state;
  DermAnalysisResult *result;
  GCancellable *analysis_cancellable;
  GCancellable *gradcam_cancellable;
  gboolean heatmap_on_demand;  /* the heatmap shown was computed now, not by the analysis */
  guint measure_source;        /* debounce of the corrected mask's measurement */
  GCancellable *measure_cancellable; /* the measurement running, or NULL */
  guint measurements_started;  /* of corrected masks, for tests of the debounce */
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
  PROP_CASE_ID,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void show_stored (DermPage *self);
static void update_actions (DermPage *self);
static void update_overlay_controls (DermPage *self);
static void select_diagnosis (DermPage *self);
static void cancel_measure (DermPage *self);
static void schedule_measure (DermPage *self);
static void request_stored_heatmap (DermPage *self);
static void set_status (DermPage *self, const char *message, gboolean is_error);

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
static GWeakRef *
weak_ref_new (gpointer object)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, object);
  return ref;
}

/* Frees the GWeakRef @user_data. Returns: (transfer full) the page, or NULL
 * when it has been closed. */
static DermPage *
weak_ref_steal (gpointer user_data)
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
  g_autoptr(DermPage) self = weak_ref_steal (user_data);

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
    show_stored (self);
  else
    derm_page_analyze (self);
}

/* ---- Analysis on the model worker ------------------------------------------------ */

static void
set_analysis_state (DermPage *self, DermAnalysisState state)
{
  if (self->analysis_state == state)
    return;
  self->analysis_state = state;
  update_actions (self);
  update_overlay_controls (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ANALYSIS_STATE]);
}

static void
show_result (DermPage *self)
{
  derm_results_show (self->results, self->result,
                     g_settings_get_double (self->settings, "risk-threshold"),
                     g_settings_get_boolean (self->settings, "override-risk-threshold"),
                     g_settings_get_double (self->settings, "low-confidence-margin"),
                     g_settings_get_enum (self->settings, "units") == 1
                       ? g_settings_get_double (self->settings, "pixels-per-mm") : 0.0);
}

static void
analysis_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);

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

  cancel_measure (self);
  derm_analysis_result_free (self->result);
  self->result = g_steal_pointer (&result);
  self->heatmap_on_demand = FALSE;
  derm_viewer_set_mask (self->viewer, self->result->mask);
  derm_viewer_set_heatmap (self->viewer, self->result->heatmap);
  gtk_drop_down_set_selected (self->heatmap_class_dropdown, self->result->heatmap_class);
  select_diagnosis (self);
  show_result (self);
  set_analysis_state (self, DERM_ANALYSIS_DONE);
  update_actions (self);
}

void
derm_page_analyze (DermPage *self)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  if (self->image == NULL || self->worker == NULL)
    return;
  /* A stored case shows what was stored: the record is not recomputed. */
  if (self->stored != NULL && self->stored->analysis != NULL)
    {
      show_stored (self);
      return;
    }

  if (self->analysis_cancellable != NULL)
    g_cancellable_cancel (self->analysis_cancellable);
  g_clear_object (&self->analysis_cancellable);
  self->analysis_cancellable = g_cancellable_new ();

  derm_results_show_analysing (self->results);
  set_analysis_state (self, DERM_ANALYSIS_RUNNING);
  derm_worker_analyze_async (self->worker, self->image,
                             g_settings_get_boolean (self->settings, "test-time-augmentation"),
                             self->analysis_cancellable, analysis_done_cb, weak_ref_new (self));
}

static void
gradcam_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);

  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) heatmap = derm_worker_gradcam_finish (DERM_WORKER (source), res, &error);
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->gradcam_cancellable
      || g_cancellable_is_cancelled (self->gradcam_cancellable))
    return;
  g_clear_object (&self->gradcam_cancellable);
  if (heatmap == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The heatmap could not be computed: %s"),
                                                  error->message);
      set_status (self, message, TRUE);
      update_overlay_controls (self);
      return;
    }
  derm_viewer_set_heatmap (self->viewer, heatmap);
  if (self->heatmap_on_demand)
    set_status (self, _("Heatmap computed now with the current classifier: a stored case keeps its "
                        "probabilities and mask, not the heatmap."), FALSE);
}

/* Grad-CAM of @class_index on the model worker; replaces the heatmap shown. */
static void
start_gradcam (DermPage *self, int class_index)
{
  if (self->worker == NULL || self->image == NULL)
    return;
  if (self->gradcam_cancellable != NULL)
    g_cancellable_cancel (self->gradcam_cancellable);
  g_clear_object (&self->gradcam_cancellable);
  self->gradcam_cancellable = g_cancellable_new ();
  /* A stored case holds no heatmap: whatever is shown is computed now. */
  self->heatmap_on_demand = self->stored != NULL && self->stored->analysis != NULL;
  if (self->heatmap_on_demand)
    set_status (self, _("Computing the heatmap with the current classifier…"), FALSE);
  derm_worker_gradcam_async (self->worker, self->image, class_index, self->gradcam_cancellable,
                             gradcam_done_cb, weak_ref_new (self));
}

/* A reopened case shows the heatmap only when asked for: it is computed on
 * the model worker then (the stored probabilities and mask stay as stored). */
static void
request_stored_heatmap (DermPage *self)
{
  if (self->settings == NULL || self->stored == NULL || self->stored->analysis == NULL || self->result == NULL
      || self->analysis_state != DERM_ANALYSIS_DONE || self->gradcam_cancellable != NULL
      || !g_settings_get_boolean (self->settings, "show-heatmap"))
    return;
  gboolean has_heatmap;
  g_object_get (self->viewer, "has-heatmap", &has_heatmap, NULL);
  if (!has_heatmap)
    start_gradcam (self, self->result->heatmap_class);
}

static void
show_heatmap_changed_cb (GSettings *settings, const char *key, DermPage *self)
{
  request_stored_heatmap (self);
}

static void
heatmap_class_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, DermPage *self)
{
  guint selected = gtk_drop_down_get_selected (dropdown);
  if (self->result == NULL || selected >= DERM_N_CLASSES || (int) selected == self->result->heatmap_class)
    return;
  self->result->heatmap_class = selected;
  start_gradcam (self, selected);
}

/* ---- Measuring a corrected mask ------------------------------------------------- */

/* What the measuring thread needs; owned by the GTask. */
typedef struct {
  DermImage *image;
  DermImage *mask;        /* as shown, corrections included */
  DermImage *analysed;    /* the analysis's own mask, or NULL */
} MeasureRequest;

typedef struct {
  gboolean ok;
  gboolean corrected;     /* the mask differs from the analysis's */
  DermLesionMeasurements measurements;
  char *error;
} MeasureResult;

static void
measure_request_free (MeasureRequest *request)
{
  derm_image_free (request->image);
  derm_image_free (request->mask);
  derm_image_free (request->analysed);
  g_free (request);
}

static void
measure_result_free (MeasureResult *result)
{
  g_free (result->error);
  g_free (result);
}

static gboolean
same_mask (const DermImage *a, const DermImage *b)
{
  return a != NULL && b != NULL && a->width == b->width && a->height == b->height
         && a->channels == b->channels
         && memcmp (a->data, b->data, (gsize) a->width * a->height * a->channels) == 0;
}

static void
measure_worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  MeasureRequest *request = task_data;
  MeasureResult *result = g_new0 (MeasureResult, 1);
  g_autoptr(GError) error = NULL;
  result->corrected = !same_mask (request->mask, request->analysed);
  result->ok = derm_lesion_measure (request->image, request->mask, &result->measurements, &error);
  if (!result->ok)
    result->error = g_strdup (error->message);
  g_task_return_pointer (task, result, (GDestroyNotify) measure_result_free);
}

static void
measured_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);

  MeasureResult *measured = g_task_propagate_pointer (G_TASK (res), NULL);
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->measure_cancellable
      || g_cancellable_is_cancelled (self->measure_cancellable) || self->result == NULL)
    {
      if (measured != NULL)
        measure_result_free (measured);
      return;
    }
  g_clear_object (&self->measure_cancellable);
  update_actions (self);

  DermAnalysisResult *r = self->result;
  r->has_measurements = measured->ok;
  if (measured->ok)
    r->measurements = measured->measurements;
  g_free (r->measurement_error);
  r->measurement_error = g_steal_pointer (&measured->error);
  r->measurements_corrected = measured->corrected;
  measure_result_free (measured);
  if (self->analysis_state == DERM_ANALYSIS_DONE)
    show_result (self);
}

static gboolean
measure_timeout_cb (gpointer user_data)
{
  DermPage *self = user_data;
  self->measure_source = 0;
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  if (self->image == NULL || self->result == NULL || mask == NULL)
    {
      update_actions (self);
      return G_SOURCE_REMOVE;
    }

  MeasureRequest *request = g_new0 (MeasureRequest, 1);
  request->image = derm_image_copy (self->image);
  request->mask = derm_image_copy (mask);
  request->analysed = self->result->mask != NULL ? derm_image_copy (self->result->mask) : NULL;

  self->measure_cancellable = g_cancellable_new ();
  self->measurements_started++;
  g_autoptr(GTask) task = g_task_new (NULL, self->measure_cancellable, measured_cb, weak_ref_new (self));
  g_task_set_source_tag (task, measure_timeout_cb);
  g_task_set_task_data (task, request, (GDestroyNotify) measure_request_free);
  g_task_run_in_thread (task, measure_worker);
  return G_SOURCE_REMOVE;
}

static void
cancel_measure (DermPage *self)
{
  g_clear_handle_id (&self->measure_source, g_source_remove);
  if (self->measure_cancellable != NULL)
    g_cancellable_cancel (self->measure_cancellable);
  g_clear_object (&self->measure_cancellable);
}

/* Measures the mask as shown once the corrections pause: a burst of strokes
 * or undos costs one measurement, off the UI thread. */
#define MEASURE_DELAY_MS 250

static void
schedule_measure (DermPage *self)
{
  cancel_measure (self);
  self->measure_source = g_timeout_add (MEASURE_DELAY_MS, measure_timeout_cb, self);
  update_actions (self);
}

static void
mask_edited_cb (DermViewer *viewer, DermPage *self)
{
  schedule_measure (self);
}

gboolean
derm_page_get_computing (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  return self->measure_source != 0 || self->measure_cancellable != NULL
         || self->gradcam_cancellable != NULL;
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
  g_settings_bind (self->settings, "brush-size", self->viewer, "brush-size", G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "brush-size", gtk_spin_button_get_adjustment (self->brush_size_spin),
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "show-mask", self->mask_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "show-contour", self->contour_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "show-heatmap", self->heatmap_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "mask-opacity", gtk_range_get_adjustment (GTK_RANGE (self->opacity_scale)),
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (self->settings, "changed::show-heatmap", G_CALLBACK (show_heatmap_changed_cb), self, 0);
  g_signal_connect_object (self->settings, "changed::risk-threshold", G_CALLBACK (thresholds_changed_cb), self, 0);
  g_signal_connect_object (self->settings, "changed::override-risk-threshold", G_CALLBACK (thresholds_changed_cb), self, 0);
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

  self->load_cancellable = g_cancellable_new ();
  g_autoptr(GTask) task = g_task_new (NULL, self->load_cancellable, image_loaded_cb, weak_ref_new (self));
  g_task_set_source_tag (task, start_loading);
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  g_task_run_in_thread (task, load_image_worker);
}

/* ---- Cases, corrections and reports ---------------------------------------------- */

static DermStoreWorker *
page_store_worker (void)
{
  GApplication *app = g_application_get_default ();
  return DERM_IS_APPLICATION (app) ? derm_application_get_store_worker (DERM_APPLICATION (app)) : NULL;
}

static void
set_status (DermPage *self, const char *message, gboolean is_error)
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

static void
set_last_error (DermPage *self, const char *message)
{
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  if (message != NULL)
    set_status (self, message, TRUE);
}

static void
change_pending (DermPage *self, int delta)
{
  self->pending += delta;
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

/* Why what depends on the analysis cannot be used yet, or NULL when it
 * can; @failed: the reason once the analysis has failed. */
static const char *
unavailable_reason (DermPage *self, const char *failed)
{
  switch (self->analysis_state)
    {
    case DERM_ANALYSIS_DONE:
      return NULL;
    case DERM_ANALYSIS_NO_MODEL:
      return _("No classification model is installed: import weights first.");
    case DERM_ANALYSIS_FAILED:
      return failed;
    case DERM_ANALYSIS_NONE:
    case DERM_ANALYSIS_RUNNING:
    default:
      return _("Available once the analysis has finished.");
    }
}

/* Why the analysis cannot be used yet, or NULL when it can. */
static const char *
analysis_unavailable_reason (DermPage *self)
{
  return unavailable_reason (self, _("The analysis failed, so there is nothing to store or report."));
}

static void
update_actions (DermPage *self)
{
  if (self->save_case_button == NULL)
    return;
  const char *why = analysis_unavailable_reason (self);
  gboolean busy = self->pending > 0;

  /* A case stores the measurements shown: not while they are redone. */
  gboolean measuring = self->measure_source != 0 || self->measure_cancellable != NULL;
  gboolean can_save = why == NULL && self->stored == NULL && !busy && !measuring;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "page.save-case", can_save);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->save_case_button),
                               can_save ? _("Store the image and its analysis in a case (Ctrl+S)")
                               : self->stored != NULL ? _("This image is already stored as a case.")
                               : busy ? _("Busy storing or exporting; try again in a moment.")
                               : measuring ? _("Measuring the corrected mask; try again in a moment.")
                               : why);

  gboolean can_report = why == NULL && !busy;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "page.export-report", can_report);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->report_button),
                               can_report ? _("Export a PDF report of this analysis (Ctrl+E)")
                               : busy ? _("Busy storing or exporting; try again in a moment.")
                               : why);

  gboolean can_correct = self->stored != NULL && !busy;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "page.save-correction", can_correct);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->save_correction_button),
                               can_correct ? _("Store the corrected mask and the diagnosis as an annotation")
                               : self->stored == NULL ? _("Save the case first: corrections are stored with it.")
                               : _("Busy storing or exporting; try again in a moment."));

  gboolean can_undo, can_redo;
  g_object_get (self->viewer, "can-undo", &can_undo, "can-redo", &can_redo, NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "page.undo", can_undo);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "page.redo", can_redo);
}

/* Why the overlays cannot be shown yet, or NULL when they can. */
static const char *
overlay_unavailable_reason (DermPage *self)
{
  return unavailable_reason (self, _("The analysis failed, so there is no overlay to show."));
}

static void
set_control (GtkWidget *widget, gboolean enabled, const char *tooltip, const char *why)
{
  gtk_widget_set_sensitive (widget, enabled);
  gtk_widget_set_tooltip_text (widget, enabled ? tooltip : why);
}

/* Overlay buttons: enabled when there is something to show; otherwise
 * their tooltip says why not. */
static void
update_overlay_controls (DermPage *self)
{
  if (self->mask_button == NULL)
    return;
  gboolean has_mask, has_heatmap;
  g_object_get (self->viewer, "has-mask", &has_mask, "has-heatmap", &has_heatmap, NULL);
  const char *why = overlay_unavailable_reason (self);

  const char *no_mask = why;
  if (no_mask == NULL)
    no_mask = self->result != NULL && self->result->segmenter_info == NULL
                ? _("No segmentation model is installed, so there is no mask.")
                : _("The segmentation found no mask for this image.");
  set_control (GTK_WIDGET (self->mask_button), has_mask, _("Show the segmentation mask (M)"), no_mask);
  set_control (GTK_WIDGET (self->contour_button), has_mask, _("Show the lesion contour (C)"), no_mask);
  set_control (GTK_WIDGET (self->opacity_scale), has_mask, _("Mask opacity"), no_mask);

  /* A reopened case computes its heatmap when asked for. */
  gboolean stored = self->stored != NULL && self->stored->analysis != NULL;
  gboolean can_heatmap = has_heatmap || (why == NULL && stored && self->worker != NULL);
  set_control (GTK_WIDGET (self->heatmap_button), can_heatmap,
               has_heatmap || !stored ? _("Show what the model looked at (H)")
                                      : _("Show what the model looked at (H): computed now with "
                                          "the current classifier, as a case does not store it"),
               why != NULL ? why : _("The heatmap could not be computed for this image."));
  set_control (GTK_WIDGET (self->heatmap_class_dropdown), has_heatmap,
               _("Class whose heatmap is shown"),
               why != NULL ? why : _("Show the heatmap first."));
}

static void
overlays_changed_cb (DermViewer *viewer, GParamSpec *pspec, DermPage *self)
{
  update_overlay_controls (self);
}

static void
history_changed_cb (DermViewer *viewer, GParamSpec *pspec, DermPage *self)
{
  update_actions (self);
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

static void
set_stored (DermPage *self, DermCase *c)
{
  if (self->stored != c)
    derm_case_free (self->stored);
  self->stored = c;
  g_free (self->title);
  self->title = case_title (c);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CASE_ID]);
  update_actions (self);
  update_overlay_controls (self);
}

static void
select_diagnosis (DermPage *self)
{
  if (self->stored != NULL && self->stored->annotation != NULL)
    {
      gtk_drop_down_set_selected (self->diagnosis_dropdown, self->stored->annotation->diagnosis);
      gtk_drop_down_set_selected (self->dx_type_dropdown, self->stored->annotation->dx_type);
    }
  else if (self->result != NULL)
    gtk_drop_down_set_selected (self->diagnosis_dropdown, self->result->top_class);
}

/* Shows the stored analysis as it was saved: nothing is computed again. */
static void
show_stored (DermPage *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *notes = NULL;
  DermAnalysisResult *result = derm_case_result_from_analysis (self->stored->analysis, &notes, &error);
  if (result == NULL)
    {
      derm_results_show_failed (self->results, error->message);
      set_analysis_state (self, DERM_ANALYSIS_FAILED);
      return;
    }
  cancel_measure (self);
  derm_analysis_result_free (self->result);
  self->result = result;
  g_free (self->notes);
  self->notes = g_steal_pointer (&notes);

  /* The clinician's corrected mask, when there is one, is the one that counts. */
  g_autoptr(DermImage) corrected = NULL;
  const DermAnnotation *annotation = self->stored->annotation;
  if (annotation != NULL && annotation->mask_png != NULL)
    {
      corrected = derm_case_decode_mask (annotation->mask_png, _("the corrected mask"), &error);
      if (corrected == NULL)
        g_warning ("Corrected mask of case %" G_GINT64_FORMAT ": %s", self->stored->image->id, error->message);
    }
  derm_viewer_set_mask (self->viewer, corrected != NULL ? corrected : result->mask);
  /* No heatmap is stored with a case: it is computed when asked for. */
  if (self->gradcam_cancellable != NULL)
    g_cancellable_cancel (self->gradcam_cancellable);
  g_clear_object (&self->gradcam_cancellable);
  derm_viewer_set_heatmap (self->viewer, NULL);
  gtk_drop_down_set_selected (self->heatmap_class_dropdown, result->heatmap_class);
  select_diagnosis (self);
  show_result (self);
  set_analysis_state (self, DERM_ANALYSIS_DONE);
  update_actions (self);
  update_overlay_controls (self);
  /* The stored measurements are of the analysis's mask: measure the
   * clinician's correction instead (a measurement, not an analysis). */
  if (corrected != NULL)
    schedule_measure (self);
  request_stored_heatmap (self);
}

static void
case_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  DermCase *c = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      derm_case_free (c);
      return;
    }
  change_pending (self, -1);
  GtkWidget *dialog = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (c == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The case could not be saved: %s"), error->message);
      set_last_error (self, message);
      if (dialog != NULL)
        derm_save_dialog_show_error (DERM_SAVE_DIALOG (dialog), message);
      return;
    }
  set_last_error (self, NULL);
  set_stored (self, c);
  derm_viewer_mark_saved (self->viewer);
  g_autofree char *message = g_strdup_printf (_("Stored as a visit of patient %s."), c->patient->identifier);
  set_status (self, message, FALSE);
  if (dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (dialog));
}

gboolean
derm_page_save_case (DermPage *self, const char *patient, const char *site, const char *label,
                     gint64 captured, const char *notes, GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);

  const char *why = analysis_unavailable_reason (self);
  DermStoreWorker *store = page_store_worker ();
  g_autofree char *id = g_strstrip (g_strdup (patient != NULL ? patient : ""));
  if (why != NULL || self->result == NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, why != NULL ? why : "");
      return FALSE;
    }
  if (self->stored != NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, _("This image is already stored as a case."));
      return FALSE;
    }
  if (self->measure_source != 0 || self->measure_cancellable != NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID,
                           _("Measuring the corrected mask; try again in a moment."));
      return FALSE;
    }
  if (*id == '\0')
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID,
                           _("Enter the patient’s identifier (a pseudonym, not a name)."));
      return FALSE;
    }
  if (!derm_body_site_is_valid (site))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("“%s” is not a body site."), site);
      return FALSE;
    }
  g_autofree char *path = g_file_get_path (self->file);
  if (store == NULL || path == NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_FAILED, _("The case database is not available."));
      return FALSE;
    }

  DermCaseSaveRequest *request = g_new0 (DermCaseSaveRequest, 1);
  request->patient = g_steal_pointer (&id);
  request->body_site = g_ascii_strdown (site, -1);
  request->lesion_label = g_strstrip (g_strdup (label != NULL ? label : ""));
  request->captured = captured;
  request->notes = g_strdup (notes != NULL ? notes : "");
  request->image_path = g_steal_pointer (&path);
  memcpy (request->probs, self->result->probs, sizeof request->probs);
  request->predicted = self->result->top_class;
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  request->mask = mask != NULL ? derm_image_copy (mask) : NULL;
  request->measurements_json = derm_case_measurements_to_json (self->result, notes);
  request->model_info = g_strdup_printf ("%s\n%s", self->result->classifier_info != NULL
                                                     ? self->result->classifier_info : "",
                                         self->result->segmenter_info != NULL
                                           ? self->result->segmenter_info : "");
  g_free (self->notes);
  self->notes = g_strdup (request->notes);

  change_pending (self, +1);
  set_status (self, _("Saving the case…"), FALSE);
  derm_store_worker_run_async (store, derm_case_save_job, request,
                               (GDestroyNotify) derm_case_save_request_free,
                               (GDestroyNotify) derm_case_free, self->ops_cancellable,
                               case_saved_cb, weak_ref_new (self));
  return TRUE;
}

static void
save_dialog_save_cb (DermSaveDialog *dialog, DermPage *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *notes = derm_save_dialog_get_notes (dialog);
  if (!derm_page_save_case (self, derm_save_dialog_get_patient (dialog), derm_save_dialog_get_site (dialog),
                            derm_save_dialog_get_label (dialog), derm_save_dialog_get_captured (dialog),
                            notes, &error))
    derm_save_dialog_show_error (dialog, error->message);
}

static void
save_dialog_destroyed_cb (GtkWidget *dialog, DermPage *self)
{
  g_object_set_data (G_OBJECT (self), "derm-save-dialog", NULL);
}

DermSaveDialog *
derm_page_show_save_dialog (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  GtkWidget *existing = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (existing != NULL)
    {
      gtk_window_present (GTK_WINDOW (existing));
      return DERM_SAVE_DIALOG (existing);
    }
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  DermSaveDialog *dialog = derm_save_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL);
  g_object_set_data (G_OBJECT (self), "derm-save-dialog", dialog);
  g_signal_connect_object (dialog, "save", G_CALLBACK (save_dialog_save_cb), self, 0);
  g_signal_connect_object (dialog, "destroy", G_CALLBACK (save_dialog_destroyed_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  return dialog;
}

static void
save_case_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_page_show_save_dialog (DERM_PAGE (widget));
}

/* Report ---------------------------------------------------------------------------- */

static DermAnalysisResult *
copy_result_without_images (const DermAnalysisResult *result)
{
  DermAnalysisResult *copy = g_new0 (DermAnalysisResult, 1);
  *copy = *result;
  copy->mask = copy->heatmap = NULL;
  copy->measurement_error = g_strdup (result->measurement_error);
  copy->classifier_info = g_strdup (result->classifier_info);
  copy->segmenter_info = g_strdup (result->segmenter_info);
  copy->notice = g_strdup (result->notice);
  copy->operating_point_text = g_strdup (result->operating_point_text);
  copy->decision_json = g_strdup (result->decision_json);
  return copy;
}

static void
report_worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  DermReport *report = task_data;
  GError *error = NULL;
  const char *path = g_object_get_data (G_OBJECT (task), "path");
  /* The report measures the mask it draws (corrections included). */
  DermLesionMeasurements m;
  if (report->mask != NULL && derm_lesion_measure (report->image, report->mask, &m, NULL))
    {
      report->result->measurements = m;
      report->result->has_measurements = TRUE;
    }
  if (derm_report_write_pdf (report, path, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
report_written_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (res), &error);
  if (self == NULL)
    return;
  change_pending (self, -1);
  if (!ok)
    {
      set_last_error (self, error->message);
      return;
    }
  set_last_error (self, NULL);
  g_free (self->last_report);
  self->last_report = g_strdup (g_object_get_data (G_OBJECT (res), "path"));
  g_autofree char *message = g_strdup_printf (_("Report saved as “%s”."), self->last_report);
  set_status (self, message, FALSE);
}

gboolean
derm_page_export_report (DermPage *self, const char *path, GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  const char *why = analysis_unavailable_reason (self);
  if (why != NULL || self->result == NULL || self->image == NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, why != NULL ? why : "");
      return FALSE;
    }

  DermReport *report = g_new0 (DermReport, 1);
  report->image = derm_image_copy (self->image);
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  report->mask = mask != NULL ? derm_image_copy (mask) : NULL;
  report->result = copy_result_without_images (self->result);
  report->title = g_strdup (self->title);
  report->notes = g_strdup (self->notes);
  report->diagnosis = -1;
  if (self->stored != NULL)
    {
      report->patient = g_strdup (self->stored->patient->identifier);
      report->body_site = g_strdup (derm_body_site_label (self->stored->lesion->body_site));
      report->lesion_label = g_strdup (self->stored->lesion->label);
      report->captured = self->stored->image->captured;
      if (self->stored->annotation != NULL)
        {
          report->diagnosis = self->stored->annotation->diagnosis;
          report->dx_type = self->stored->annotation->dx_type;
          report->annotation_notes = g_strdup (self->stored->annotation->notes);
        }
    }
  report->risk_threshold = g_settings_get_double (self->settings, "risk-threshold");
  report->override_risk_threshold = g_settings_get_boolean (self->settings, "override-risk-threshold");
  report->pixels_per_mm = g_settings_get_enum (self->settings, "units") == 1
                            ? g_settings_get_double (self->settings, "pixels-per-mm") : 0.0;

  change_pending (self, +1);
  g_autoptr(GTask) task = g_task_new (NULL, self->ops_cancellable, report_written_cb, weak_ref_new (self));
  g_task_set_source_tag (task, derm_page_export_report);
  g_object_set_data_full (G_OBJECT (task), "path", g_strdup (path), g_free);
  g_task_set_task_data (task, report, (GDestroyNotify) derm_report_free);
  g_task_run_in_thread (task, report_worker);
  return TRUE;
}

static void
report_chooser_response_cb (GtkNativeDialog *dialog, int response, DermPage *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      g_autoptr(GError) error = NULL;
      if (path == NULL)
        set_last_error (self, _("Choose a folder on this computer for the report."));
      else if (!derm_page_export_report (self, path, &error))
        set_last_error (self, error->message);
    }
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
export_report_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (_("Export Report"), GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                 GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  g_autofree char *base = g_file_get_basename (self->file);
  char *dot = strrchr (base, '.');
  if (dot != NULL)
    *dot = '\0';
  /* Translators: the suggested file name of a report; %s is the image's name */
  g_autofree char *suggested = g_strdup_printf (_("%s report.pdf"), base);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), suggested);
  g_signal_connect (chooser, "response", G_CALLBACK (report_chooser_response_cb), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* Correction ------------------------------------------------------------------------- */

static void
correction_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  DermCase *c = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      derm_case_free (c);
      return;
    }
  change_pending (self, -1);
  if (c == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The correction could not be stored: %s"), error->message);
      set_last_error (self, message);
      return;
    }
  set_last_error (self, NULL);
  set_stored (self, c);
  derm_viewer_mark_saved (self->viewer);
  set_status (self, _("Correction stored: the case is confirmed and can be used for training."), FALSE);
}

gboolean
derm_page_save_correction (DermPage *self, GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  DermStoreWorker *store = page_store_worker ();
  if (self->stored == NULL || store == NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID,
                           _("Save the case first: corrections are stored with it."));
      return FALSE;
    }
  guint diagnosis = gtk_drop_down_get_selected (self->diagnosis_dropdown);
  guint dx_type = gtk_drop_down_get_selected (self->dx_type_dropdown);
  if (diagnosis >= DERM_N_CLASSES || dx_type > DERM_DX_TYPE_CONFOCAL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID,
                           _("Choose the diagnosis and how it was confirmed."));
      return FALSE;
    }
  DermCaseAnnotateRequest *request = g_new0 (DermCaseAnnotateRequest, 1);
  request->image_id = self->stored->image->id;
  request->diagnosis = diagnosis;
  request->dx_type = dx_type;
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  request->mask = mask != NULL ? derm_image_copy (mask) : NULL;
  request->notes = g_strdup ("");

  change_pending (self, +1);
  derm_store_worker_run_async (store, derm_case_annotate_job, request,
                               (GDestroyNotify) derm_case_annotate_request_free,
                               (GDestroyNotify) derm_case_free, self->ops_cancellable,
                               correction_saved_cb, weak_ref_new (self));
  return TRUE;
}

static void
save_correction_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  g_autoptr(GError) error = NULL;
  if (!derm_page_save_correction (self, &error))
    set_last_error (self, error->message);
}

static void
undo_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  if (g_str_equal (name, "page.undo"))
    derm_viewer_undo (self->viewer);
  else
    derm_viewer_redo (self->viewer);
}

static void
tool_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  gtk_toggle_button_set_active (self->correct_button, TRUE);
  gtk_toggle_button_set_active (g_str_equal (name, "page.eraser") ? self->eraser_button : self->brush_button,
                                TRUE);
}

static void
update_tool (DermPage *self)
{
  DermViewerTool tool = DERM_VIEWER_TOOL_NONE;
  if (gtk_toggle_button_get_active (self->correct_button))
    {
      if (gtk_toggle_button_get_active (self->eraser_button))
        tool = DERM_VIEWER_TOOL_ERASER;
      else if (gtk_toggle_button_get_active (self->brush_button))
        tool = DERM_VIEWER_TOOL_BRUSH;
    }
  g_object_set (self->viewer, "tool", tool, NULL);
}

static void
tool_toggled_cb (GtkToggleButton *button, DermPage *self)
{
  if (button == self->correct_button && gtk_toggle_button_get_active (button)
      && !gtk_toggle_button_get_active (self->eraser_button))
    gtk_toggle_button_set_active (self->brush_button, TRUE);
  update_tool (self);
}

void
derm_page_paint (DermPage *self, gboolean erase, double x, double y, double x2, double y2)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  gtk_toggle_button_set_active (self->correct_button, TRUE);
  gtk_toggle_button_set_active (erase ? self->eraser_button : self->brush_button, TRUE);
  derm_viewer_begin_stroke (self->viewer);
  int steps = (int) ceil (hypot (x2 - x, y2 - y)) + 1;
  for (int i = 0; i < steps; i++)
    {
      double t = steps > 1 ? (double) i / (steps - 1) : 0;
      derm_viewer_paint (self->viewer, x + t * (x2 - x), y + t * (y2 - y));
    }
  derm_viewer_end_stroke (self->viewer);
}

void
derm_page_set_diagnosis (DermPage *self, int diagnosis, DermDxType dx_type)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  gtk_drop_down_set_selected (self->diagnosis_dropdown, diagnosis);
  gtk_drop_down_set_selected (self->dx_type_dropdown, dx_type);
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
  return self->pending > 0;
}

const char *
derm_page_get_last_error (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->last_error;
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
  cancel_measure (self);
  if (self->ops_cancellable != NULL)
    g_cancellable_cancel (self->ops_cancellable);
  g_clear_object (&self->ops_cancellable);
  GtkWidget *dialog = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (dialog));
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

  gtk_widget_class_install_action (widget_class, "page.toggle-mask", NULL, toggle_mask_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-contour", NULL, toggle_contour_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-heatmap", NULL, toggle_heatmap_action);
  gtk_widget_class_install_action (widget_class, "page.zoom-in", NULL, viewer_action);
  gtk_widget_class_install_action (widget_class, "page.zoom-out", NULL, viewer_action);
  gtk_widget_class_install_action (widget_class, "page.fit", NULL, viewer_action);
  gtk_widget_class_install_action (widget_class, "page.save-case", NULL, save_case_action);
  gtk_widget_class_install_action (widget_class, "page.export-report", NULL, export_report_action);
  gtk_widget_class_install_action (widget_class, "page.save-correction", NULL, save_correction_action);
  gtk_widget_class_install_action (widget_class, "page.undo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "page.redo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "page.brush", NULL, tool_action);
  gtk_widget_class_install_action (widget_class, "page.eraser", NULL, tool_action);
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
  g_object_bind_property (self->correct_button, "active", self->correct_revealer, "reveal-child",
                          G_BINDING_SYNC_CREATE);
  g_signal_connect (self->correct_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->brush_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->eraser_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->viewer, "notify::can-undo", G_CALLBACK (history_changed_cb), self);
  g_signal_connect (self->viewer, "notify::can-redo", G_CALLBACK (history_changed_cb), self);
  g_signal_connect (self->viewer, "notify::has-mask", G_CALLBACK (overlays_changed_cb), self);
  g_signal_connect (self->viewer, "notify::has-heatmap", G_CALLBACK (overlays_changed_cb), self);
  g_signal_connect (self->viewer, "mask-edited", G_CALLBACK (mask_edited_cb), self);
  update_actions (self);
  update_overlay_controls (self);

  /* Overlay keys work anywhere in the visible page (GLOBAL scope only
   * fires for a mapped page). */
  GtkEventController *shortcuts = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (shortcuts), GTK_SHORTCUT_SCOPE_GLOBAL);
  static const struct { guint key; const char *action; } keys[] = {
    { GDK_KEY_m, "page.toggle-mask" }, { GDK_KEY_c, "page.toggle-contour" },
    { GDK_KEY_h, "page.toggle-heatmap" }, { GDK_KEY_b, "page.brush" }, { GDK_KEY_e, "page.eraser" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_keyval_trigger_new (keys[i].key, 0),
                                                            gtk_named_action_new (keys[i].action)));
  static const struct { guint key; GdkModifierType mods; const char *action; } accels[] = {
    { GDK_KEY_s, GDK_CONTROL_MASK, "page.save-case" },
    { GDK_KEY_e, GDK_CONTROL_MASK, "page.export-report" },
    { GDK_KEY_z, GDK_CONTROL_MASK, "page.undo" },
    { GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "page.redo" },
    { GDK_KEY_Z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "page.redo" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_keyval_trigger_new (accels[i].key, accels[i].mods),
                                                            gtk_named_action_new (accels[i].action)));
  gtk_widget_add_controller (GTK_WIDGET (self), shortcuts);
}

DermPage *
derm_page_new (GFile *file, DermWorker *worker, GSettings *settings)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  return g_object_new (DERM_TYPE_PAGE, "file", file, "worker", worker, "settings", settings, NULL);
}

DermPage *
derm_page_new_for_case (DermCase *stored, DermWorker *worker, GSettings *settings)
{
  g_return_val_if_fail (stored != NULL && stored->image != NULL, NULL);
  g_autoptr(GFile) file = g_file_new_for_path (stored->image->path);
  /* The image decodes asynchronously: the case is in place before it arrives. */
  DermPage *self = g_object_new (DERM_TYPE_PAGE, "file", file, "worker", worker, "settings", settings, NULL);
  set_stored (self, stored);
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
