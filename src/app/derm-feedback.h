/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-feedback.h: what the window says to the user, from any widget inside
 * it: transient messages as toasts, errors and questions as AdwMessageDialogs. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* Shows @title in the AdwToastOverlay around @from; with @button_label, a
 * button that activates @action_name (with @target, floating, may be NULL).
 * Returns FALSE, showing nothing, when @from is not inside an overlay (a
 * widget built on its own, as some tests do). */
gboolean    derm_toast_show (GtkWidget *from, const char *title, const char *button_label,
                             const char *action_name, GVariant *target);

/* The titles of the toasts shown in @overlay, one per line, or NULL (for
 * the test hook). */
const char *derm_toast_get_shown (AdwToastOverlay *overlay);

/* An error over @from's window: @heading, @body (plain text) and Close. */
void        derm_show_error (GtkWidget *from, const char *heading, const char *body);

/* A question over @from's window with Cancel and @accept_label (destructive
 * or suggested). Connect to its "response" ("accept" or "cancel"; it closes
 * itself after) before the main loop runs again.
 * Returns: (transfer none) the dialog, presented. */
AdwMessageDialog *derm_ask (GtkWidget *from, const char *heading, const char *body,
                            const char *accept_label, gboolean destructive);

G_END_DECLS
