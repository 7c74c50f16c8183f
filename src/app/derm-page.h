/* derm-page.h: one opened image (a tab of the window): loading, error, or
 * the viewer with its analysis. */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"
#include "derm-worker.h"

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
DermPage      *derm_page_new (GFile *file, DermWorker *worker, GSettings *settings);

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

/* Runs the analysis again (after new models were imported). */
void           derm_page_analyze (DermPage *self);

/* Appends what the page shows as "key=value" lines (for tests). */
void           derm_page_describe (DermPage *self, GString *out);

G_END_DECLS
