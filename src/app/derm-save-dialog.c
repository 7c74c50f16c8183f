/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-save-dialog.c: "Save to Case". */
#include "config.h"

#define G_LOG_DOMAIN "derm-save-dialog"

#include <glib/gi18n.h>

#include "derm-case.h"
#include "derm-save-dialog.h"
#include "derm-store.h"

struct _DermSaveDialog
{
  AdwWindow parent_instance;

  GtkEntry *patient_entry;
  GtkSpinButton *birth_year_spin;
  GtkDropDown *sex_dropdown;
  GtkDropDown *site_dropdown;
  GtkEntry *label_entry;
  GtkEntry *date_entry;
  GtkCalendar *calendar;
  GtkTextView *notes_view;
  GtkLabel *error_label;
  GtkButton *save_button;
};

G_DEFINE_FINAL_TYPE (DermSaveDialog, derm_save_dialog, ADW_TYPE_WINDOW)

enum { SIGNAL_SAVE, N_SIGNALS };
static guint signals[N_SIGNALS];

static GDateTime *
parse_date (const char *text)
{
  int y, m, d;
  char extra;
  if (text == NULL || sscanf (text, "%d-%d-%d%c", &y, &m, &d, &extra) != 3)
    return NULL;
  if (!g_date_valid_dmy (d, m, y))
    return NULL;
  return g_date_time_new_local (y, m, d, 0, 0, 0);
}

void
derm_save_dialog_show_error (DermSaveDialog *self, const char *message)
{
  g_return_if_fail (DERM_IS_SAVE_DIALOG (self));
  gtk_label_set_text (self->error_label, message);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL && *message != '\0');
}

/* Returns the first problem with the fields, or NULL. */
static const char *
validate (DermSaveDialog *self)
{
  g_autofree char *patient = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->patient_entry))));
  if (*patient == '\0')
    return _("Enter the patient’s identifier (a pseudonym, not a name).");
  g_autoptr(GDateTime) date = parse_date (gtk_editable_get_text (GTK_EDITABLE (self->date_entry)));
  if (date == NULL)
    return _("Enter the visit date as YYYY-MM-DD, or pick it from the calendar.");
  int born = gtk_spin_button_get_value_as_int (self->birth_year_spin);
  if (born != 0 && (born < 1850 || born > g_date_time_get_year (date)))
    return _("The year of birth must be between 1850 and the visit’s year (0: not known).");
  return NULL;
}

void
derm_save_dialog_confirm (DermSaveDialog *self)
{
  g_return_if_fail (DERM_IS_SAVE_DIALOG (self));
  const char *problem = validate (self);
  derm_save_dialog_show_error (self, problem);
  if (problem == NULL)
    g_signal_emit (self, signals[SIGNAL_SAVE], 0);
}

static void
save_clicked_cb (GtkButton *button, DermSaveDialog *self)
{
  derm_save_dialog_confirm (self);
}

static void
cancel_clicked_cb (GtkButton *button, DermSaveDialog *self)
{
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
day_selected_cb (GtkCalendar *calendar, DermSaveDialog *self)
{
  g_autoptr(GDateTime) date = gtk_calendar_get_date (calendar);
  g_autofree char *text = g_date_time_format (date, "%Y-%m-%d");
  gtk_editable_set_text (GTK_EDITABLE (self->date_entry), text);
}

void
derm_save_dialog_set_fields (DermSaveDialog *self, const char *patient, const char *site,
                             const char *label, const char *date, const char *notes)
{
  g_return_if_fail (DERM_IS_SAVE_DIALOG (self));
  if (patient != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->patient_entry), patient);
  if (site != NULL)
    {
      const char *const *sites = derm_body_sites ();
      for (guint i = 0; sites[i] != NULL; i++)
        if (g_ascii_strcasecmp (sites[i], site) == 0)
          gtk_drop_down_set_selected (self->site_dropdown, i);
    }
  if (label != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->label_entry), label);
  if (date != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->date_entry), date);
  if (notes != NULL)
    gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->notes_view), notes, -1);
}

void
derm_save_dialog_set_patient_facts (DermSaveDialog *self, int birth_year, DermSex sex)
{
  g_return_if_fail (DERM_IS_SAVE_DIALOG (self));
  gtk_spin_button_set_value (self->birth_year_spin, birth_year);
  gtk_drop_down_set_selected (self->sex_dropdown, sex == DERM_SEX_MALE ? 1 : sex == DERM_SEX_FEMALE ? 2 : 0);
}

int
derm_save_dialog_get_birth_year (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), 0);
  return gtk_spin_button_get_value_as_int (self->birth_year_spin);
}

DermSex
derm_save_dialog_get_sex (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), DERM_SEX_UNKNOWN);
  guint i = gtk_drop_down_get_selected (self->sex_dropdown);
  return i == 1 ? DERM_SEX_MALE : i == 2 ? DERM_SEX_FEMALE : DERM_SEX_UNKNOWN;
}

const char *
derm_save_dialog_get_patient (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), NULL);
  return gtk_editable_get_text (GTK_EDITABLE (self->patient_entry));
}

const char *
derm_save_dialog_get_site (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), NULL);
  guint i = gtk_drop_down_get_selected (self->site_dropdown);
  const char *const *sites = derm_body_sites ();
  return i < g_strv_length ((char **) sites) ? sites[i] : "unknown";
}

const char *
derm_save_dialog_get_label (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), NULL);
  return gtk_editable_get_text (GTK_EDITABLE (self->label_entry));
}

gint64
derm_save_dialog_get_captured (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), 0);
  g_autoptr(GDateTime) date = parse_date (gtk_editable_get_text (GTK_EDITABLE (self->date_entry)));
  return date != NULL ? g_date_time_to_unix (date) : 0;
}

char *
derm_save_dialog_get_notes (DermSaveDialog *self)
{
  g_return_val_if_fail (DERM_IS_SAVE_DIALOG (self), NULL);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->notes_view);
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

static void
derm_save_dialog_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), DERM_TYPE_SAVE_DIALOG);
  G_OBJECT_CLASS (derm_save_dialog_parent_class)->dispose (object);
}

static void
derm_save_dialog_class_init (DermSaveDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = derm_save_dialog_dispose;

  signals[SIGNAL_SAVE] = g_signal_new ("save", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-save-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, patient_entry);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, birth_year_spin);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, sex_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, site_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, label_entry);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, date_entry);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, calendar);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, notes_view);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, DermSaveDialog, save_button);
  gtk_widget_class_bind_template_callback (widget_class, save_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, day_selected_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
derm_save_dialog_init (DermSaveDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  const char *const *sites = derm_body_sites ();
  g_autoptr(GtkStringList) model = gtk_string_list_new (NULL);
  guint unknown = 0;
  for (guint i = 0; sites[i] != NULL; i++)
    {
      gtk_string_list_append (model, derm_body_site_label (sites[i]));
      if (g_str_equal (sites[i], "unknown"))
        unknown = i;
    }
  gtk_drop_down_set_model (self->site_dropdown, G_LIST_MODEL (model));
  gtk_drop_down_set_selected (self->site_dropdown, unknown);

  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *today = g_date_time_format (now, "%Y-%m-%d");
  gtk_editable_set_text (GTK_EDITABLE (self->date_entry), today);
  gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->save_button));
}

DermSaveDialog *
derm_save_dialog_new (GtkWindow *parent)
{
  return g_object_new (DERM_TYPE_SAVE_DIALOG, "transient-for", parent, "modal", TRUE, NULL);
}
