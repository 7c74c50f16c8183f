/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-results.h: the results panel: probabilities as a sorted bar chart,
 * top class, malignant-risk flag, low-confidence note, measurements, model
 * versions, and the decision-support disclaimer. */
#pragma once

#include <gtk/gtk.h>

#include "derm-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_RESULTS (derm_results_get_type ())
G_DECLARE_FINAL_TYPE (DermResults, derm_results, DERM, RESULTS, GtkWidget)

GtkWidget *derm_results_new (void);

void derm_results_show_analysing (DermResults *self);
void derm_results_show_no_model (DermResults *self, const char *message);
void derm_results_show_failed (DermResults *self, const char *message);
/* @result is borrowed. Thresholds: malignant risk (MEL + BCC + AKIEC) and
 * the top-two margin under which confidence is low. @pixels_per_mm > 0
 * shows sizes in millimetres. */
/* @risk_threshold is the user's; with @override_risk_threshold unset the
 * model's operating point is used where it has one (derm_report_flag_text). */
void derm_results_show (DermResults *self, const DermAnalysisResult *result,
                        double risk_threshold, gboolean override_risk_threshold,
                        double low_confidence_margin,
                        double pixels_per_mm);

/* What the panel shows, as "key=value" lines (for tests). */
void derm_results_describe (DermResults *self, GString *out);

G_END_DECLS
