/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-util.h: what the training view's parts (derm-train-setup.c,
 * derm-train-progress.c, derm-train-versions.c) share: number and time
 * formats, metrics JSON, table cells and the file chooser. */
#pragma once

#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* "1:02:03" or "2:03"; "–" when unknown. Returns: (transfer full). */
char       *_derm_train_format_duration (double seconds);
/* "0.123" or "–". Returns: (transfer full). */
char       *_derm_train_format_number (double v);
/* The root object of @json, parsed by @parser, or NULL. (transfer none) */
JsonObject *_derm_train_parse_object (JsonParser *parser, const char *json);
/* The number @name of @o, NAN when absent. */
double      _derm_train_object_number (JsonObject *o, const char *name);
/* The "per_class" entry of class @c in @metrics, or NULL. (transfer none) */
JsonObject *_derm_train_class_object (JsonObject *metrics, int c);
/* Removes every child of @grid. */
void        _derm_train_grid_clear (GtkGrid *grid);
/* A label for a table: a heading or a number. Returns: (transfer floating). */
GtkWidget  *_derm_train_cell (const char *text, gboolean heading, float xalign);

typedef void (*DermTrainChosenFunc) (GtkWidget *owner, GFile *file);
/* Opens a file chooser for @owner, kept in *@slot until it answers (one
 * still open there is closed first); @func gets the file chosen. A
 * @pattern adds a safetensors filter. */
void        _derm_train_choose_file (GtkWidget *owner, GtkFileChooserNative **slot,
                                     const char *title, GtkFileChooserAction action,
                                     const char *accept, const char *pattern,
                                     const char *current_name, DermTrainChosenFunc func);

G_END_DECLS
