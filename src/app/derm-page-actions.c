/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page-actions.c: a page's actions (overlay toggles, zoom, save,
 * report, correction tools, undo), their shortcuts and sensitivity, and the
 * PDF report export on a worker thread. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-page.h"
#include "derm-page-private.h"
#include "derm-report.h"
#include "derm-feedback.h"
#include "derm-viewer.h"

/* ---- Overlays and zoom --------------------------------------------------- */

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

/* ---- Sensitivity ----------------------------------------------------------- */

void
_derm_page_update_actions (DermPage *self)
{
  if (self->save_case_button == NULL)
    return;
  const char *why = _derm_page_analysis_unavailable_reason (self);
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

static void
history_changed_cb (DermViewer *viewer, GParamSpec *pspec, DermPage *self)
{
  _derm_page_update_actions (self);
}

static void
save_case_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_page_show_save_dialog (DERM_PAGE (widget));
}

/* Report ---------------------------------------------------------------------------- */

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
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (res), &error);
  if (self == NULL)
    return;
  _derm_page_change_pending (self, -1);
  if (!ok)
    {
      _derm_page_set_last_error (self, error->message);
      return;
    }
  _derm_page_set_last_error (self, NULL);
  g_free (self->last_report);
  self->last_report = g_strdup (g_object_get_data (G_OBJECT (res), "path"));
  g_autofree char *name = g_path_get_basename (self->last_report);
  g_autofree char *message = g_strdup_printf (_("Report saved as “%s”."), name);
  _derm_page_set_status (self, NULL, FALSE);
  derm_toast_show (GTK_WIDGET (self), message, _("_Open"), "win.show-file",
                   g_variant_new_string (self->last_report));
}

gboolean
derm_page_export_report (DermPage *self, const char *path, GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  const char *why = _derm_page_analysis_unavailable_reason (self);
  if (why != NULL || self->result == NULL || self->image == NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, why != NULL ? why : "");
      return FALSE;
    }

  DermReport *report = g_new0 (DermReport, 1);
  report->image = derm_image_copy (self->image);
  const DermImage *mask = derm_viewer_get_mask (self->viewer);
  report->mask = mask != NULL ? derm_image_copy (mask) : NULL;
  report->result = derm_analysis_result_copy (self->result, FALSE);
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

  _derm_page_change_pending (self, +1);
  g_autoptr(GTask) task = g_task_new (NULL, self->ops_cancellable, report_written_cb, _derm_page_weak_ref_new (self));
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
        _derm_page_set_last_error (self, _("Choose a folder on this computer for the report."));
      else if (!derm_page_export_report (self, path, &error))
        _derm_page_set_last_error (self, error->message);
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

/* ---- Correction tools and undo ------------------------------------------ */

static void
save_correction_action (GtkWidget *widget, const char *name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  g_autoptr(GError) error = NULL;
  if (!derm_page_save_correction (self, &error))
    _derm_page_set_last_error (self, error->message);
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

/* The results beside a narrow window's image: shown over it, or hidden. */
static void
toggle_results_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  DermPage *self = DERM_PAGE (widget);
  adw_flap_set_reveal_flap (self->flap, !adw_flap_get_reveal_flap (self->flap));
}

/* ---- Installing the actions and shortcuts ---------------------------------- */

/* The page's actions; class_init installs them. */
void
_derm_page_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "page.toggle-mask", NULL, toggle_mask_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-contour", NULL, toggle_contour_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-heatmap", NULL, toggle_heatmap_action);
  gtk_widget_class_install_action (widget_class, "page.toggle-results", NULL, toggle_results_action);
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
}

/* The correction tools, undo and zoom as the widgets change, and the
 * page's shortcuts. */
void
_derm_page_actions_init (DermPage *self)
{
  g_signal_connect (self->viewer, "notify::zoom", G_CALLBACK (zoom_changed_cb), self);
  g_object_bind_property (self->correct_button, "active", self->correct_revealer, "reveal-child",
                          G_BINDING_SYNC_CREATE);
  g_signal_connect (self->correct_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->brush_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->eraser_button, "toggled", G_CALLBACK (tool_toggled_cb), self);
  g_signal_connect (self->viewer, "notify::can-undo", G_CALLBACK (history_changed_cb), self);
  g_signal_connect (self->viewer, "notify::can-redo", G_CALLBACK (history_changed_cb), self);

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
    { GDK_KEY_F9, 0, "page.toggle-results" },
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
