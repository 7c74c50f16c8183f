/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page-case.c: a page's case: saving the image and its analysis as
 * a case (and the "Save to Case" dialog), showing a stored case as it was
 * saved, and storing a correction and diagnosis, through the store worker. */
#include "config.h"

#include <math.h>

#define G_LOG_DOMAIN "derm-page"

#include <string.h>

#include <glib/gi18n.h>

#include "derm-context.h"
#include "derm-case.h"
#include "derm-error.h"
#include "derm-page.h"
#include "derm-page-private.h"
#include "derm-results.h"
#include "derm-save-dialog.h"
#include "derm-feedback.h"
#include "derm-viewer.h"

/* ---- Cases ------------------------------------------------------------------ */

static DermStoreWorker *
page_store_worker (DermPage *self)
{
  return derm_context_get_store_worker (self->context);
}

void
_derm_page_select_diagnosis (DermPage *self)
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
void
_derm_page_show_stored (DermPage *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *notes = NULL;
  DermAnalysisResult *result = derm_case_result_from_analysis (self->stored->analysis, &notes, &error);
  if (result == NULL)
    {
      derm_results_show_failed (self->results, error->message);
      _derm_page_set_analysis_state (self, DERM_ANALYSIS_FAILED);
      return;
    }
  _derm_page_cancel_measure (self);
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
  _derm_page_select_diagnosis (self);
  _derm_page_show_result (self);
  _derm_page_set_analysis_state (self, DERM_ANALYSIS_DONE);
  _derm_page_update_actions (self);
  _derm_page_update_overlay_controls (self);
  /* The stored measurements are of the analysis's mask: measure the
   * clinician's correction instead (a measurement, not an analysis). */
  if (corrected != NULL)
    _derm_page_schedule_measure (self);
  _derm_page_request_stored_heatmap (self);
}

static void
case_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  DermCase *c = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      derm_case_free (c);
      return;
    }
  _derm_page_change_pending (self, -1);
  GtkWidget *dialog = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (c == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The case could not be saved: %s"), error->message);
      _derm_page_set_last_error (self, message);
      if (dialog != NULL)
        derm_save_dialog_show_error (DERM_SAVE_DIALOG (dialog), message);
      return;
    }
  _derm_page_set_last_error (self, NULL);
  _derm_page_set_stored (self, c);
  derm_viewer_mark_saved (self->viewer);
  g_autofree char *message = g_strdup_printf (_("Stored as a visit of patient %s."), c->patient->identifier);
  _derm_page_set_status (self, NULL, FALSE);
  derm_toast_show (GTK_WIDGET (self), message, _("_Browse Cases"), "win.cases", NULL);
  if (dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (dialog));
}

gboolean
derm_page_save_case (DermPage *self, const char *patient, int birth_year, DermSex sex,
                     const char *site, const char *label, gint64 captured, const char *notes,
                     GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);

  const char *why = _derm_page_analysis_unavailable_reason (self);
  DermStoreWorker *store = page_store_worker (self);
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
  request->birth_year = birth_year;
  request->sex = sex;
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

  _derm_page_change_pending (self, +1);
  _derm_page_set_status (self, _("Saving the case…"), FALSE);
  derm_store_worker_run_async (store, derm_case_save_job, request,
                               (GDestroyNotify) derm_case_save_request_free,
                               (GDestroyNotify) derm_case_free, self->ops_cancellable,
                               case_saved_cb, _derm_page_weak_ref_new (self));
  return TRUE;
}

void
_derm_page_save_from_dialog (DermPage *self)
{
  DermSaveDialog *dialog = g_object_get_data (G_OBJECT (self), "derm-save-dialog");
  if (dialog == NULL)
    return;
  g_autoptr(GError) error = NULL;
  g_autofree char *notes = derm_save_dialog_get_notes (dialog);
  if (!derm_page_save_case (self, derm_save_dialog_get_patient (dialog),
                            derm_save_dialog_get_birth_year (dialog), derm_save_dialog_get_sex (dialog),
                            derm_save_dialog_get_site (dialog), derm_save_dialog_get_label (dialog),
                            derm_save_dialog_get_captured (dialog), notes, &error))
    derm_save_dialog_show_error (dialog, error->message);
}

/* The patient context the dialog's fields give: age at the visit, sex, site. */
static void
dialog_patient_context (DermSaveDialog *dialog, DermPatientContext *ctx)
{
  derm_patient_context_init (ctx);
  int born = derm_save_dialog_get_birth_year (dialog);
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (derm_save_dialog_get_captured (dialog));
  if (born > 0 && when != NULL && g_date_time_get_year (when) >= born)
    ctx->age = g_date_time_get_year (when) - born;
  ctx->sex = derm_save_dialog_get_sex (dialog);
  DermPatientContext site;
  if (derm_patient_context_set (&site, NAN, NULL, derm_save_dialog_get_site (dialog), NULL))
    ctx->site = site.site;
}

static gboolean
same_context (const DermPatientContext *a, const DermPatientContext *b)
{
  return ((isnan (a->age) && isnan (b->age)) || a->age == b->age) && a->sex == b->sex
         && a->site == b->site;
}

static void
save_dialog_save_cb (DermSaveDialog *dialog, DermPage *self)
{
  /* A classifier that weighs the patient's context analyses again with the
   * dialog's before the case is stored: what is stored is what it says
   * with what the clinician entered. */
  DermPatientContext ctx;
  dialog_patient_context (dialog, &ctx);
  /* A new analysis would replace the mask: unsaved corrections keep the
   * analysis as it is (it is stored without the context, and says so). */
  gboolean edited = FALSE;
  g_object_get (self->viewer, "edited", &edited, NULL);
  if (edited && self->result != NULL
      && (derm_patient_context_known (&ctx) & self->result->context_taken) != 0)
    derm_toast_show (GTK_WIDGET (self),
                     _("Stored without the patient context: the mask has corrections that "
                       "another analysis would replace."), NULL, NULL, NULL);
  if (!edited && self->result != NULL && self->stored == NULL
      && (derm_patient_context_known (&ctx) & self->result->context_taken) != 0
      && !(self->has_patient && same_context (&ctx, &self->patient))
      && _derm_page_analysis_unavailable_reason (self) == NULL)
    {
      self->patient = ctx;
      self->has_patient = TRUE;
      self->save_after_analysis = TRUE;
      _derm_page_set_status (self, _("Analysing again with the patient context…"), FALSE);
      derm_page_analyze (self);
      return;
    }
  _derm_page_save_from_dialog (self);
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

/* Correction ------------------------------------------------------------------------- */

static void
correction_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(DermPage) self = _derm_page_weak_ref_steal (user_data);
  g_autoptr(GError) error = NULL;
  DermCase *c = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      derm_case_free (c);
      return;
    }
  _derm_page_change_pending (self, -1);
  if (c == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The correction could not be stored: %s"), error->message);
      _derm_page_set_last_error (self, message);
      return;
    }
  _derm_page_set_last_error (self, NULL);
  _derm_page_set_stored (self, c);
  derm_viewer_mark_saved (self->viewer);
  _derm_page_set_status (self, NULL, FALSE);
  derm_toast_show (GTK_WIDGET (self),
                   _("Correction stored: the case is confirmed and can be used for training."),
                   NULL, NULL, NULL);
}

gboolean
derm_page_save_correction (DermPage *self, GError **error)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), FALSE);
  DermStoreWorker *store = page_store_worker (self);
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

  _derm_page_change_pending (self, +1);
  derm_store_worker_run_async (store, derm_case_annotate_job, request,
                               (GDestroyNotify) derm_case_annotate_request_free,
                               (GDestroyNotify) derm_case_free, self->ops_cancellable,
                               correction_saved_cb, _derm_page_weak_ref_new (self));
  return TRUE;
}

void
derm_page_set_diagnosis (DermPage *self, int diagnosis, DermDxType dx_type)
{
  g_return_if_fail (DERM_IS_PAGE (self));
  gtk_drop_down_set_selected (self->diagnosis_dropdown, diagnosis);
  gtk_drop_down_set_selected (self->dx_type_dropdown, dx_type);
}
