/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-report.h: the case report as a PDF (cairo's PDF surface): the image
 * with the lesion contour, the probabilities as a chart, the measurements,
 * the notes, the clinician's diagnosis when there is one, the model
 * versions, the dates and the decision-support disclaimer. */
#pragma once

#include <glib.h>

#include "derm-store.h"
#include "derm-worker.h"

G_BEGIN_DECLS

/* Everything the report shows; every pointer is owned by the report. */
typedef struct {
  DermImage *image;             /* RGB, required */
  DermImage *mask;              /* may be NULL: no contour */
  DermAnalysisResult *result;   /* required (its mask/heatmap are not used) */
  char *title;                  /* image name, or the case's patient and site */
  char *patient;                /* NULL when not stored as a case */
  char *body_site;              /* display name, or NULL */
  char *lesion_label;           /* or NULL */
  gint64 captured;              /* Unix time, 0: unknown */
  char *notes;                  /* or NULL */
  int diagnosis;                /* the clinician's DermClass, -1: none */
  DermDxType dx_type;
  char *annotation_notes;       /* or NULL */
  double risk_threshold;        /* the user's threshold (settings) ... */
  gboolean override_risk_threshold; /* ... used instead of the model's operating point */
  double pixels_per_mm;         /* > 0: sizes in millimetres */
} DermReport;

/* The malignant-risk threshold the flag uses for @result: the model's
 * operating point, or @setting when @override is set or the model has none
 * (*@from_model says which; may be NULL). */
double derm_report_flag_threshold (const DermAnalysisResult *result, gboolean override,
                                   double setting, gboolean *from_model);
/* The flag's sentence for @result, or NULL when its malignant risk is under
 * that threshold: the risk, the threshold and whose it is, and with the
 * model's operating point what the flag means on held-out data.
 * Returns: (transfer full). */
char  *derm_report_flag_text (const DermAnalysisResult *result, gboolean override,
                              double setting);

/* Called once per measurement row: a translated label and its value. */
typedef void (*DermMeasurementRowFunc) (const char *label, const char *value, gpointer user_data);

/* Formats @m as the rows the results panel and the report show, in order:
 * area, diameter, asymmetry, border irregularity, colours. Sizes are in
 * millimetres when @pixels_per_mm > 0, otherwise in pixels. */
void derm_report_measurement_rows (const DermLesionMeasurements *m, double pixels_per_mm,
                                   DermMeasurementRowFunc row, gpointer user_data);

void derm_report_free (DermReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermReport, derm_report_free)

/* Writes the report to @path (A4, one page), atomically. Safe on any thread.
 * Returns FALSE with @error (DERM_ERROR_IO) when it cannot be written. */
gboolean derm_report_write_pdf (const DermReport *report, const char *path, GError **error);

/* What the patient context did to @result, for people (the results panel
 * and the report), or NULL when the classifier takes none.
 * Returns: (transfer full). */
char *derm_report_context_text (const DermAnalysisResult *result);

G_END_DECLS
