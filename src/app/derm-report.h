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
  double risk_threshold;
  double pixels_per_mm;         /* > 0: sizes in millimetres */
} DermReport;

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

G_END_DECLS
