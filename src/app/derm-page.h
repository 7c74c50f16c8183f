/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-page.h: one opened image (a tab of the window): loading, error, or
 * the viewer with its analysis. */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"
#include "derm-save-dialog.h"
#include "derm-store.h"
#include "derm-context.h"

G_BEGIN_DECLS

typedef enum {
  DERM_PAGE_LOADING,
  DERM_PAGE_ERROR,
  DERM_PAGE_READY,
} DermPageState;

typedef enum {
  DERM_ANALYSIS_NONE,
  DERM_ANALYSIS_RUNNING,
  DERM_ANALYSIS_DONE,
  DERM_ANALYSIS_NO_MODEL,
  DERM_ANALYSIS_FAILED,
} DermAnalysisState;

#define DERM_TYPE_PAGE (derm_page_get_type ())
G_DECLARE_FINAL_TYPE (DermPage, derm_page, DERM, PAGE, GtkWidget)

/* Starts decoding @file on a worker thread, then analyses it with
 * @worker; overlay and threshold settings come from @settings.
 * Returns: (transfer floating). */
DermPage      *derm_page_new (GFile *file, DermContext *context);

/* Returns: (transfer none). */
GFile         *derm_page_get_file (DermPage *self);
/* The file's display name. Returns: (transfer none). */
const char    *derm_page_get_title (DermPage *self);
DermPageState  derm_page_get_state (DermPage *self);
DermAnalysisState derm_page_get_analysis_state (DermPage *self);
/* The reason the image could not be opened, or NULL. (transfer none) */
const char    *derm_page_get_error_message (DermPage *self);
/* The decoded image, or NULL until ready. (transfer none) */
const DermImage *derm_page_get_image (DermPage *self);
/* The latest analysis, or NULL. (transfer none) */
const DermAnalysisResult *derm_page_get_result (DermPage *self);

/* A page for a stored case (@stored: transfer full, as derm_store_get_case
 * returns it, masks loaded): shows its image with the stored analysis and
 * overlays; nothing is computed again. Returns: (transfer floating). */
DermPage      *derm_page_new_for_case (DermCase *stored, DermContext *context);
/* The case this page is stored as, or NULL. (transfer none) */
const DermCase *derm_page_get_case (DermPage *self);
/* TRUE while a save, correction or report runs ("busy" property). */
gboolean       derm_page_get_busy (DermPage *self);
/* The latest store or report error, or NULL. (transfer none) */
const char    *derm_page_get_last_error (DermPage *self);

/* Stores the image and its analysis (the mask as shown, corrections
 * included) as a visit of @patient's lesion at @site named @label (a new
 * patient with @birth_year, 0 when not known, and @sex), on the
 * store thread. FALSE with @error when the fields or the page's state do not
 * allow it; the outcome arrives later ("case-id", or the last error). */
gboolean       derm_page_save_case (DermPage *self, const char *patient, int birth_year,
                                    DermSex sex, const char *site, const char *label,
                                    gint64 captured, const char *notes, GError **error);
/* Opens the "Save to Case" dialog. Returns: (transfer none). */
DermSaveDialog *derm_page_show_save_dialog (DermPage *self);
/* Writes the PDF report to @path on a worker thread. */
gboolean       derm_page_export_report (DermPage *self, const char *path, GError **error);
/* One brush (or eraser) stroke from (x, y) to (x2, y2) in image pixels,
 * undoable as one step; opens the correction bar. */
void           derm_page_paint (DermPage *self, gboolean erase, double x, double y,
                                double x2, double y2);
void           derm_page_set_diagnosis (DermPage *self, int diagnosis, DermDxType dx_type);
/* Stores the mask as shown and the chosen diagnosis as an annotation. */
gboolean       derm_page_save_correction (DermPage *self, GError **error);

/* Runs the analysis again (after new models were imported). */
void           derm_page_analyze (DermPage *self);

G_END_DECLS
