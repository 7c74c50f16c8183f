/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-setup.h: the training panel's job form: the data, the task, the
 * architecture, the starting weights, the recipe, the device, epochs, batch,
 * image size and learning rate; the time estimate and the Start button. */
#pragma once

#include <gtk/gtk.h>

#include "derm-train-runner.h"

G_BEGIN_DECLS

#define DERM_TYPE_TRAIN_SETUP (derm_train_setup_get_type ())
G_DECLARE_FINAL_TYPE (DermTrainSetup, derm_train_setup, DERM, TRAIN_SETUP, GtkWidget)

/* Fills @settings (initialised here; the caller clears it) from the form. */
void derm_train_setup_read_settings (DermTrainSetup *self, DermTrainSettings *settings);
/* Shows @settings in the form. */
void derm_train_setup_write_settings (DermTrainSetup *self, const DermTrainSettings *settings);
/* While a job runs the form and Start are insensitive. */
void derm_train_setup_set_running (DermTrainSetup *self, gboolean running);
/* Sets the HAM10000 folder field. */
void derm_train_setup_set_folder (DermTrainSetup *self, const char *folder);
/* Measures how long the job set up now would take, as the Estimate button does. */
void derm_train_setup_estimate (DermTrainSetup *self);

/* Signals:
 *   "start" () when Start was clicked: read the settings and start the job. */

G_END_DECLS
