/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-window-private.h: the window's instance, shared by derm-window.c and
 * derm-window-models.c, and what the GUI tests (tests/app/derm-test-hook.c)
 * read of it beyond its public API. */
#pragma once

#include "derm-context.h"
#include "derm-window.h"

G_BEGIN_DECLS

struct _DermWindow
{
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;  /* every transient message */
  AdwHeaderBar *header_bar;
  GtkButton *open_button;
  GtkMenuButton *menu_button;
  AdwViewStack *view_stack;        /* "analysis" and "training" */
  GtkStack *main_stack;
  GtkWidget *welcome_no_model;     /* the welcome page's first-run part, shown with no model */
  GtkNotebook *notebook;
  GtkBox *training_box;
  GtkButton *training_status_button;
  GtkSpinner *training_spinner;
  GtkLabel *training_status_label;

  GtkFileChooserNative *chooser;
  DermCaseBrowser *case_browser;   /* weak: the browser window while it is open */
  DermCompare *compare;            /* weak: the comparison window while it is open */
  DermTrainPanel *training_panel;  /* the training view's panel, created on first use */
  gboolean close_confirmed;        /* the user agreed to stop a running training job */
  int imports_pending;             /* model files being imported into the registry */

  DermContext *context;            /* construct-only: settings and workers */
};

/* derm-window.c */
GSettings      *_derm_window_settings (DermWindow *self);
/* Adds a file filter of @mime_types and @patterns to @chooser (selected when @select). */
void            _derm_window_add_filter (GtkFileChooser *chooser, const char *name,
                                         const char *const *mime_types, const char *const *patterns,
                                         gboolean select);

/* derm-window-models.c */
void            _derm_window_class_models_init (GtkWidgetClass *widget_class);
void            _derm_window_models_init (DermWindow *self);
DermTrainPanel *_derm_window_ensure_training_panel (DermWindow *self);
gboolean        _derm_window_confirm_stop_training (DermWindow *self);
/* Shows the welcome page's first-run part when there is no classifier. */
void            _derm_window_check_models (DermWindow *self);

/* For the test hook. */

/* Returns: (transfer none) the notebook of the open images (for the test hook). */
GtkNotebook *derm_window_get_notebook (DermWindow *self);
/* Returns: "analysis" or "training"; and the header's training button text,
 * or NULL while it is hidden (for the test hook). */
const char *derm_window_get_view (DermWindow *self);
const char *derm_window_get_training_status (DermWindow *self);
/* The titles of the toasts shown, one per line, or NULL (for the test hook). */
const char *derm_window_get_toasts (DermWindow *self);
/* TRUE when the welcome page offers to train or import a model. */
gboolean derm_window_get_offers_first_run (DermWindow *self);
/* TRUE while a model file is being imported (for the test hook). */
gboolean derm_window_get_importing (DermWindow *self);

G_END_DECLS
