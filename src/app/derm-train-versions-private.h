/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-versions-private.h: what derm-train-panel.c reads of this part for
 * the GUI tests' accessors (derm-train-panel-private.h). */
#pragma once

#include "derm-train-versions.h"

G_BEGIN_DECLS

GtkNativeDialog *_derm_train_versions_get_file_chooser (DermTrainVersions *self);
gint64           _derm_train_versions_get_selected (DermTrainVersions *self);
GtkListBoxRow   *_derm_train_versions_get_row (DermTrainVersions *self, gint64 id);
/* The last model card shown ("card=..."), the versions ("version=..."). */
void             _derm_train_versions_describe (DermTrainVersions *self, GString *out);

G_END_DECLS
