/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page-analysis.c: a page's analysis: the classification and
 * segmentation, and Grad-CAM, on the model worker; the results shown; the
 * mask and heatmap overlays and their controls; and the measurement of a
 * corrected mask, debounced, off the UI thread. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <string.h>

#include <glib/gi18n.h>

#include "derm-classes.h"
#include "derm-error.h"
#include "derm-page.h"
#include "derm-page-private.h"
#include "derm-results.h"
#include "derm-viewer.h"

/* ---- Analysis on the model worker ------------------------------------------------ */

void
_derm_page_show_result (DermPage *self)
{
  derm_results_show (self->results, self->result,
                     g_settings_get_double (self->settings, "risk-threshold"),
                     g_settings_get_boolean (self->settings, "override-risk-threshold"),
                     g_settings_get_double (self->settings, "low-confidence-margin"),
                     g_settings_get_enum (self->settings, "units") == 1
                       ? g_settings_get_double (self->settings, "pixels-per-mm") : 0.0);
  /* What a screen reader says of the image: the leading result with it. */
  g_autofree char *description = NULL;
  if (self->result != NULL && self->result->classified)
    /* Translators: the image's accessible description; %s a diagnosis, %.0f a percentage */
    description = g_strdup_printf (_("The model's result: %s, %.0f percent."),
                                   derm_class_name (self->result->top_class),
                                   100.0 * self->result->probs[self->result->top_class]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->viewer), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  description != NULL ? description : "", -1);
  g_free (self->image_description);
  self->image_description = g_steal_pointer (&description);
}

static void
analysis_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);

  g_autoptr(GError) error = NULL;
  g_autoptr(DermAnalysisResult) result = derm_worker_analyze_finish (DERM_WORKER (source), res, &error);
  /* A closed page, or a request superseded by a newer one: drop it. */
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->analysis_cancellable
      || g_cancellable_is_cancelled (self->analysis_cancellable))
    return;

  gboolean save = self->save_after_analysis;
  self->save_after_analysis = FALSE;
  if (result == NULL)
    {
      if (save)
        _derm_page_save_from_dialog (self);
      if (g_error_matches (error, DERM_ERROR, DERM_ERROR_NOT_FOUND))
        {
          derm_results_show_no_model (self->results, error->message);
          _derm_page_set_analysis_state (self, DERM_ANALYSIS_NO_MODEL);
        }
      else
        {
          derm_results_show_failed (self->results, error->message);
          _derm_page_set_analysis_state (self, DERM_ANALYSIS_FAILED);
        }
      return;
    }

  _derm_page_cancel_measure (self);
  derm_analysis_result_free (self->result);
  self->result = g_steal_pointer (&result);
  self->heatmap_on_demand = FALSE;
  derm_viewer_set_mask (self->viewer, self->result->mask);
  derm_viewer_set_heatmap (self->viewer, self->result->heatmap);
  gtk_drop_down_set_selected (self->heatmap_class_dropdown, self->result->heatmap_class);
  _derm_page_select_diagnosis (self);
  _derm_page_show_result (self);
  _derm_page_set_analysis_state (self, DERM_ANALYSIS_DONE);
  _derm_page_update_actions (self);
  /* The save dialog waited for the analysis with its patient context. */
  if (save)
    _derm_page_save_from_dialog (self);
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
      _derm_page_show_stored (self);
      return;
    }

  if (self->analysis_cancellable != NULL)
    g_cancellable_cancel (self->analysis_cancellable);
  g_clear_object (&self->analysis_cancellable);
  self->analysis_cancellable = g_cancellable_new ();

  derm_results_show_analysing (self->results);
  _derm_page_set_analysis_state (self, DERM_ANALYSIS_RUNNING);
  derm_worker_analyze_async (self->worker, self->image, self->has_patient ? &self->patient : NULL,
                             g_settings_get_boolean (self->settings, "test-time-augmentation"),
                             self->analysis_cancellable, analysis_done_cb, _derm_page_weak_ref_new (self));
}

static void
gradcam_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);

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
      _derm_page_set_status (self, message, TRUE);
      _derm_page_update_overlay_controls (self);
      return;
    }
  derm_viewer_set_heatmap (self->viewer, heatmap);
  if (self->heatmap_on_demand)
    _derm_page_set_status (self, _("Heatmap computed now with the current classifier: a stored case keeps its "
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
    _derm_page_set_status (self, _("Computing the heatmap with the current classifier…"), FALSE);
  derm_worker_gradcam_async (self->worker, self->image, self->has_patient ? &self->patient : NULL,
                             class_index, self->gradcam_cancellable,
                             gradcam_done_cb, _derm_page_weak_ref_new (self));
}

/* A reopened case shows the heatmap only when asked for: it is computed on
 * the model worker then (the stored probabilities and mask stay as stored). */
void
_derm_page_request_stored_heatmap (DermPage *self)
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
  _derm_page_request_stored_heatmap (self);
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
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);

  MeasureResult *measured = g_task_propagate_pointer (G_TASK (res), NULL);
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->measure_cancellable
      || g_cancellable_is_cancelled (self->measure_cancellable) || self->result == NULL)
    {
      if (measured != NULL)
        measure_result_free (measured);
      return;
    }
  g_clear_object (&self->measure_cancellable);
  _derm_page_update_actions (self);

  DermAnalysisResult *r = self->result;
  r->has_measurements = measured->ok;
  if (measured->ok)
    r->measurements = measured->measurements;
  g_free (r->measurement_error);
  r->measurement_error = g_steal_pointer (&measured->error);
  r->measurements_corrected = measured->corrected;
  measure_result_free (measured);
  if (self->analysis_state == DERM_ANALYSIS_DONE)
    _derm_page_show_result (self);
}

static gboolean
measure_timeout_cb (gpointer user_data)
{
  DermPage *self = user_data;
  self->measure_source = 0;
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  if (self->image == NULL || self->result == NULL || mask == NULL)
    {
      _derm_page_update_actions (self);
      return G_SOURCE_REMOVE;
    }

  MeasureRequest *request = g_new0 (MeasureRequest, 1);
  request->image = derm_image_copy (self->image);
  request->mask = derm_image_copy (mask);
  request->analysed = self->result->mask != NULL ? derm_image_copy (self->result->mask) : NULL;

  self->measure_cancellable = g_cancellable_new ();
  self->measurements_started++;
  g_autoptr(GTask) task = g_task_new (NULL, self->measure_cancellable, measured_cb, _derm_page_weak_ref_new (self));
  g_task_set_source_tag (task, measure_timeout_cb);
  g_task_set_task_data (task, request, (GDestroyNotify) measure_request_free);
  g_task_run_in_thread (task, measure_worker);
  return G_SOURCE_REMOVE;
}

void
_derm_page_cancel_measure (DermPage *self)
{
  g_clear_handle_id (&self->measure_source, g_source_remove);
  if (self->measure_cancellable != NULL)
    g_cancellable_cancel (self->measure_cancellable);
  g_clear_object (&self->measure_cancellable);
}

/* Measures the mask as shown once the corrections pause: a burst of strokes
 * or undos costs one measurement, off the UI thread. */
#define MEASURE_DELAY_MS 250

void
_derm_page_schedule_measure (DermPage *self)
{
  _derm_page_cancel_measure (self);
  self->measure_source = g_timeout_add (MEASURE_DELAY_MS, measure_timeout_cb, self);
  _derm_page_update_actions (self);
}

static void
mask_edited_cb (DermViewer *viewer, DermPage *self)
{
  _derm_page_schedule_measure (self);
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
    _derm_page_show_result (self);
}

void
_derm_page_bind_settings (DermPage *self)
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

/* ---- Overlays and what depends on the analysis ---------------------------- */

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
const char *
_derm_page_analysis_unavailable_reason (DermPage *self)
{
  return unavailable_reason (self, _("The analysis failed, so there is nothing to store or report."));
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
void
_derm_page_update_overlay_controls (DermPage *self)
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
  _derm_page_update_overlay_controls (self);
}

/* The heatmap's class list, and the viewer's changes the analysis follows. */
void
_derm_page_analysis_init (DermPage *self)
{
  const char *names[DERM_N_CLASSES + 1];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    names[c] = derm_class_name (c);
  names[DERM_N_CLASSES] = NULL;
  GtkStringList *model = gtk_string_list_new (names);
  gtk_drop_down_set_model (self->heatmap_class_dropdown, G_LIST_MODEL (model));
  g_object_unref (model);
  g_signal_connect (self->heatmap_class_dropdown, "notify::selected",
                    G_CALLBACK (heatmap_class_changed_cb), self);
  g_signal_connect (self->viewer, "notify::has-mask", G_CALLBACK (overlays_changed_cb), self);
  g_signal_connect (self->viewer, "notify::has-heatmap", G_CALLBACK (overlays_changed_cb), self);
  g_signal_connect (self->viewer, "mask-edited", G_CALLBACK (mask_edited_cb), self);
}
