/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-feedback.c: toasts and message dialogs. */
#include "config.h"

#include <glib/gi18n.h>

#include "derm-feedback.h"

#define TOASTS_SHOWN_KEY "derm-toasts-shown"

static void
toasts_shown_free (gpointer data)
{
  g_string_free (data, TRUE);
}

gboolean
derm_toast_show (GtkWidget *from, const char *title, const char *button_label,
                 const char *action_name, GVariant *target)
{
  g_return_val_if_fail (GTK_IS_WIDGET (from), FALSE);
  g_return_val_if_fail (title != NULL, FALSE);
  GtkWidget *overlay = ADW_IS_TOAST_OVERLAY (from)
                         ? from : gtk_widget_get_ancestor (from, ADW_TYPE_TOAST_OVERLAY);
  if (overlay == NULL)
    {
      if (target != NULL)
        g_variant_unref (g_variant_ref_sink (target));
      return FALSE;
    }
  /* The title is markup: file and patient names may hold '&' or '<'. */
  g_autofree char *escaped = g_markup_escape_text (title, -1);
  AdwToast *toast = adw_toast_new (escaped);
  if (button_label != NULL && action_name != NULL)
    {
      adw_toast_set_button_label (toast, button_label);
      adw_toast_set_action_name (toast, action_name);
      if (target != NULL)
        adw_toast_set_action_target_value (toast, target);
    }
  else if (target != NULL)
    g_variant_unref (g_variant_ref_sink (target));
  adw_toast_set_timeout (toast, 5);
  /* Every title, one per line, for the test hook. */
  GString *shown = g_object_get_data (G_OBJECT (overlay), TOASTS_SHOWN_KEY);
  if (shown == NULL)
    {
      shown = g_string_new (NULL);
      g_object_set_data_full (G_OBJECT (overlay), TOASTS_SHOWN_KEY, shown, toasts_shown_free);
    }
  g_string_append_printf (shown, "%s\n", title);
  adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
  return TRUE;
}

const char *
derm_toast_get_shown (AdwToastOverlay *overlay)
{
  g_return_val_if_fail (ADW_IS_TOAST_OVERLAY (overlay), NULL);
  GString *shown = g_object_get_data (G_OBJECT (overlay), TOASTS_SHOWN_KEY);
  return shown != NULL ? shown->str : NULL;
}

static GtkWindow *
parent_window (GtkWidget *from)
{
  GtkRoot *root = from != NULL ? gtk_widget_get_root (from) : NULL;
  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

void
derm_show_error (GtkWidget *from, const char *heading, const char *body)
{
  GtkWidget *dialog = adw_message_dialog_new (parent_window (from), heading, body);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

AdwMessageDialog *
derm_ask (GtkWidget *from, const char *heading, const char *body, const char *accept_label,
          gboolean destructive)
{
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent_window (from),
                                                                         heading, body));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "accept", accept_label, NULL);
  adw_message_dialog_set_response_appearance (dialog, "accept",
                                              destructive ? ADW_RESPONSE_DESTRUCTIVE
                                                          : ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  gtk_window_present (GTK_WINDOW (dialog));
  return dialog;
}
