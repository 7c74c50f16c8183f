/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-setup-private.h: what derm-train-panel.c reads of this part for
 * the GUI tests' accessors (derm-train-panel-private.h). */
#pragma once

#include "derm-train-setup.h"

G_BEGIN_DECLS

void             _derm_train_setup_set_limit (DermTrainSetup *self, guint lesions);
GtkNativeDialog *_derm_train_setup_get_file_chooser (DermTrainSetup *self);
/* Appends "setup_folder=", "setup_task=", ... lines: the form as it is. */
void             _derm_train_setup_describe (DermTrainSetup *self, GString *out);
/* TRUE while the time estimate runs. */
gboolean         _derm_train_setup_get_estimating (DermTrainSetup *self);

G_END_DECLS
