/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-progress-private.h: what derm-train-panel.c reads of this part for
 * the GUI tests' accessors (derm-train-panel-private.h). */
#pragma once

#include "derm-train-progress.h"

G_BEGIN_DECLS

/* "progress_text=...", the stage, the curves, the recall, "new_version=...". */
void             _derm_train_progress_view_describe (DermTrainProgressView *self, GString *out);
/* The job's report, "log=..." lines. */
void             _derm_train_progress_view_describe_log (DermTrainProgressView *self, GString *out);

G_END_DECLS
