/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-test-hook.h: hooks the GUI tests drive through the environment of
 * tests/app/dermalens-test (the application with this hook linked in).
 *
 *   DERMALENS_TEST_SCREENSHOT=PATH  once the first page has settled (image
 *                                   shown, or its error), render the window
 *                                   to PATH (PNG)
 *   DERMALENS_TEST_STATE=PATH       write what the window shows as
 *                                   "key=value" lines to PATH
 *   DERMALENS_TEST_SCRIPT=STEPS     before that, run STEPS (separated by ";",
 *                                   fields by "|") through the same functions
 *                                   the buttons call, each step waiting for
 *                                   its outcome: save-case|PATIENT|SITE|LESION|DATE|NOTES,
 *                                   open-file|PATH, browse, browse-search|TEXT,
 *                                   browse-site|SITE, browse-open|ROW, compare|ROW,
 *                                   toggle|mask|contour|heatmap, paint|X|Y|X2|Y2,
 *                                   erase|X|Y|X2|Y2, undo, redo, diagnose|CODE|DX_TYPE,
 *                                   store-correction, export|PATH,
 *                                   state|PATH (page, browser and comparison),
 *                                   shot|main|browser|compare|save-dialog|PATH,
 *                                   save-dialog|PATIENT|SITE|LESION|DATE|NOTES (fills
 *                                   the dialog without pressing Save),
 *                                   train|FOLDER|EPOCHS|BATCH|SIZE[|TASK] (a job in
 *                                   the training view, until its steps run; TASK:
 *                                   classifier (default), segmenter or both),
 *                                   wait-train[|TASK|EPOCH] (until the job ends, or
 *                                   until the bar shows TASK ("Classifier",
 *                                   "Segmenter") at EPOCH or later), train-compare,
 *                                   train-activate (the result's buttons),
 *                                   train-resume (Resume, until its steps run),
 *                                   train-stop (Stop, until the job has ended),
 *                                   crash (SIGKILL: the process dies on the spot),
 *                                   view|analysis|training,
 *                                   close-window (the title bar's close),
 *                                   stop-dialog|keep|stop (answers the question)
 *   DERMALENS_TRAIN_LIMIT=N         train steps use about N lesions (train --limit)
 * With either set, the application quits after writing them. All are for
 * tests only; users never see them. A failing step prints why and makes
 * the application exit 1. */
#pragma once

#include <gtk/gtk.h>

#include "derm-window.h"

G_BEGIN_DECLS

/* TRUE when a test hook is requested. */
gboolean derm_test_hook_enabled (void);

/* Watches @window's pages when a hook is requested; called once per new
 * window (dermalens-test does it on GtkApplication::window-added). */
void     derm_test_hook_watch_window (DermWindow *window);

/* Renders @widget as it is now into a PNG file. */
gboolean derm_test_hook_save_screenshot (GtkWidget *widget, const char *path, GError **error);

/* Writes, to @path, each action of the application, @window, its pages and
 * their viewers with the keyboard path that reaches it ("keys_path="), the
 * actions none reaches ("keys_none=") and the shortcuts the shortcuts window
 * does not list ("keys_unlisted="). */
void     derm_test_keys_write (GtkApplicationWindow *window, const char *path);

G_END_DECLS
