/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-util.c: helpers the training view's parts share. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "derm-classes.h"
#include "derm-train-util.h"

char *
_derm_train_format_duration (double seconds)
{
  if (!isfinite (seconds) || seconds < 0)
    return g_strdup ("–");
  gint64 s = (gint64) (seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", s / 3600, (int) (s / 60 % 60), (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

JsonObject *
_derm_train_parse_object (JsonParser *parser, const char *json)
{
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

double
_derm_train_object_number (JsonObject *o, const char *name)
{
  if (o == NULL)
    return NAN;
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return NAN;
  return json_node_get_double (n);
}

JsonObject *
_derm_train_class_object (JsonObject *metrics, int c)
{
  if (metrics == NULL || !json_object_has_member (metrics, "per_class"))
    return NULL;
  JsonObject *pc = json_object_get_object_member (metrics, "per_class");
  if (pc == NULL || !json_object_has_member (pc, derm_class_code (c)))
    return NULL;
  return json_object_get_object_member (pc, derm_class_code (c));
}

char *
_derm_train_format_number (double v)
{
  return isfinite (v) ? g_strdup_printf ("%.3f", v) : g_strdup ("–");
}

void
_derm_train_grid_clear (GtkGrid *grid)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (grid))) != NULL)
    gtk_grid_remove (grid, child);
}

GtkWidget *
_derm_train_cell (const char *text, gboolean heading, float xalign)
{
  GtkWidget *label = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (label), xalign);
  gtk_label_set_selectable (GTK_LABEL (label), FALSE);
  if (heading)
    gtk_widget_add_css_class (label, "heading");
  else
    gtk_widget_add_css_class (label, "numeric");
  return label;
}

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, GtkWidget *owner)
{
  DermTrainChosenFunc func = g_object_get_data (G_OBJECT (dialog), "chosen-func");
  GtkFileChooserNative **slot = g_object_get_data (G_OBJECT (dialog), "chooser-slot");
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (file != NULL)
        func (owner, file);
    }
  gtk_native_dialog_destroy (dialog);
  g_clear_object (slot);
}

void
_derm_train_choose_file (GtkWidget *owner, GtkFileChooserNative **slot, const char *title,
                         GtkFileChooserAction action, const char *accept, const char *pattern,
                         const char *current_name, DermTrainChosenFunc func)
{
  if (*slot != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (*slot));
  g_clear_object (slot);
  GtkRoot *root = gtk_widget_get_root (owner);
  *slot = gtk_file_chooser_native_new (title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                       action, accept, _("_Cancel"));
  if (pattern != NULL)
    {
      g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
      gtk_file_filter_set_name (filter, _("Model weights (safetensors)"));
      gtk_file_filter_add_pattern (filter, pattern);
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (*slot), filter);
    }
  if (current_name != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (*slot), current_name);
  g_object_set_data (G_OBJECT (*slot), "chosen-func", func);
  g_object_set_data (G_OBJECT (*slot), "chooser-slot", slot);
  g_signal_connect (*slot, "response", G_CALLBACK (chooser_response_cb), owner);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (*slot));
}
