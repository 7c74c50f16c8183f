/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-page-private.h: what the GUI tests (tests/app/derm-test-hook.c) read
 * of a page beyond its public API, not for the application's own use; then
 * what the parts of a page share: its struct and their internal functions
 * (derm-page.c, derm-page-analysis.c, derm-page-case.c, derm-page-actions.c). */
#pragma once

#include <adwaita.h>

#include "derm-page.h"
#include "derm-results.h"
#include "derm-viewer.h"

G_BEGIN_DECLS

/* TRUE while the page computes something besides the analysis: the
 * measurement of a corrected mask (debounced after each stroke) or a
 * heatmap. */
gboolean       derm_page_get_computing (DermPage *self);

/* Appends what the page shows as "key=value" lines (for tests). */
void           derm_page_describe (DermPage *self, GString *out);

/* ---- The page's parts: not for use outside derm-page*.c ------------------ */

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
  AdwFlap *flap;
  guint fold_idle;                /* applies the fold policy after an allocation */
  char *image_description;        /* the viewer's accessible description */                  /* the results beside the image, or over it when narrow */
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
  DermContext *context;
  DermWorker *worker;       /* the context's */
  GSettings *settings;      /* the context's */
  DermAnalysisState analysis_state;
  DermAnalysisResult *result;
  /* The patient context the analysis runs with (a classifier that takes
   * it): the stored case's, or the save dialog's; has_patient FALSE: none. */
  gboolean has_patient;
  DermPatientContext patient;
  /* The save dialog's fields wait for the analysis with their context. */
  gboolean save_after_analysis;
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

/* derm-page.c: weak references for async callbacks' user data, and the
 * state the parts share (the setters notify the properties). */
GWeakRef      *_derm_page_weak_ref_new (gpointer object);
DermPage      *_derm_page_weak_ref_steal (gpointer user_data);
void           _derm_page_set_analysis_state (DermPage *self, DermAnalysisState state);
void           _derm_page_set_status (DermPage *self, const char *message, gboolean is_error);
void           _derm_page_set_last_error (DermPage *self, const char *message);
void           _derm_page_change_pending (DermPage *self, int delta);
/* @c: (transfer full) the case the page is stored as. */
void           _derm_page_set_stored (DermPage *self, DermCase *c);

/* derm-page-analysis.c */
void           _derm_page_analysis_init (DermPage *self);
void           _derm_page_bind_settings (DermPage *self);
void           _derm_page_show_result (DermPage *self);
void           _derm_page_request_stored_heatmap (DermPage *self);
void           _derm_page_cancel_measure (DermPage *self);
void           _derm_page_schedule_measure (DermPage *self);
const char    *_derm_page_analysis_unavailable_reason (DermPage *self);
void           _derm_page_update_overlay_controls (DermPage *self);

/* derm-page-case.c */
void           _derm_page_select_diagnosis (DermPage *self);
void           _derm_page_show_stored (DermPage *self);
/* Stores the case from the open save dialog's fields (none open: nothing). */
void           _derm_page_save_from_dialog (DermPage *self);

/* derm-page-actions.c */
void           _derm_page_class_actions_init (GtkWidgetClass *widget_class);
void           _derm_page_actions_init (DermPage *self);
void           _derm_page_update_actions (DermPage *self);

G_END_DECLS
