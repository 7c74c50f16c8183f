/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-charts.h: the training panel's cairo charts: live curves of the
 * training loss and the validation metric, and a confusion matrix heat map. */
#pragma once

#include <gtk/gtk.h>

#include "derm-classes.h"

G_BEGIN_DECLS

#define DERM_TYPE_CURVE (derm_curve_get_type ())
G_DECLARE_FINAL_TYPE (DermCurve, derm_curve, DERM, CURVE, GtkWidget)

/* Returns: (transfer floating). */
GtkWidget *derm_curve_new (void);
void       derm_curve_clear (DermCurve *self);
/* The x axis is in epochs (fractional within an epoch); @epochs its end. */
void       derm_curve_set_epochs (DermCurve *self, int epochs);
/* A training-loss point (running mean of the epoch so far). */
void       derm_curve_add_loss (DermCurve *self, double epoch, double loss);
/* A validation-metric point (0..1) at the end of an epoch. */
void       derm_curve_add_metric (DermCurve *self, double epoch, double metric);
/* The metric's label, e.g. "Balanced accuracy" (copied). */
void       derm_curve_set_metric_name (DermCurve *self, const char *name);
/* Drops the points after @epoch (a resumed job repeats the stopped epoch). */
void       derm_curve_truncate (DermCurve *self, double epoch);
guint      derm_curve_get_n_loss (DermCurve *self);
guint      derm_curve_get_n_metric (DermCurve *self);

#define DERM_TYPE_CONFUSION (derm_confusion_get_type ())
G_DECLARE_FINAL_TYPE (DermConfusion, derm_confusion, DERM, CONFUSION, GtkWidget)

/* Returns: (transfer floating). */
GtkWidget *derm_confusion_new (void);
/* @counts: [true][predicted], DERM_N_CLASSES x DERM_N_CLASSES; NULL clears. */
void       derm_confusion_set (DermConfusion *self, const int counts[DERM_N_CLASSES][DERM_N_CLASSES]);
gboolean   derm_confusion_has_data (DermConfusion *self);

G_END_DECLS
