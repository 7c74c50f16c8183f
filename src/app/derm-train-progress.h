/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-progress.h: the training panel's view of the running job: Stop
 * and Resume, the stage, the progress bar, the loss and metric curves, the
 * per-class recall, the job's report, and its test results with the buttons
 * to compare and activate the versions it registered. (The type is
 * DermTrainProgressView: DermTrainProgress is the engine's progress record,
 * derm-engine.h.) */
#pragma once

#include <gtk/gtk.h>

#include "derm-train-runner.h"

G_BEGIN_DECLS

#define DERM_TYPE_TRAIN_PROGRESS_VIEW (derm_train_progress_view_get_type ())
G_DECLARE_FINAL_TYPE (DermTrainProgressView, derm_train_progress_view, DERM, TRAIN_PROGRESS_VIEW,
                      GtkWidget)

/* Clears what the last job showed, for a new one. */
void   derm_train_progress_view_reset (DermTrainProgressView *self);
/* Shows @text as the stage (what the job does now, or why it does not run). */
void   derm_train_progress_view_set_stage (DermTrainProgressView *self, const char *text);
/* Stop is sensitive while a job runs; Resume when none runs and @can_resume. */
void   derm_train_progress_view_set_job_state (DermTrainProgressView *self, gboolean running,
                                               gboolean can_resume);
/* Hides the last job's result (a resumed job shows its own). */
void   derm_train_progress_view_hide_result (DermTrainProgressView *self);
/* Shows one event of the runner. */
void   derm_train_progress_view_show_event (DermTrainProgressView *self,
                                            const DermTrainRunnerEvent *e);
/* Shows the job's end: @error NULL (finished), cancelled (then
 * @steps_after_cancel says how late it stopped) or failed (then @message
 * says why, for the user). */
void   derm_train_progress_view_show_finished (DermTrainProgressView *self, const GError *error,
                                               const char *message, gint64 steps_after_cancel);
/* The last version the job registered, 0 when none. */
gint64 derm_train_progress_view_get_new_version (DermTrainProgressView *self);
/* The version of @kind (DermModelKind) the job registered, 0 when none. */
gint64 derm_train_progress_view_get_new_version_of_kind (DermTrainProgressView *self,
                                                         int kind);

/* Signals:
 *   "stop" () Stop was clicked: stop the job.
 *   "resume" () Resume was clicked: resume the stopped job.
 *   "compare" () compare the new version with the active one.
 *   "activate-result" () activate the versions the job registered. */

G_END_DECLS
