/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-save-dialog.h: "Save to Case": patient identifier, body site,
 * lesion label, visit date and notes. */
#pragma once

#include <adwaita.h>

#include "derm-vocab.h"

G_BEGIN_DECLS

#define DERM_TYPE_SAVE_DIALOG (derm_save_dialog_get_type ())
G_DECLARE_FINAL_TYPE (DermSaveDialog, derm_save_dialog, DERM, SAVE_DIALOG, AdwWindow)

/* Returns: (transfer none) a new modal dialog over @parent; it emits
 * "save" when the user confirms valid fields, then the caller closes it. */
DermSaveDialog *derm_save_dialog_new (GtkWindow *parent);

/* Fills the fields (for the tests and for a follow-up visit). @site is a
 * HAM10000 site; @date is YYYY-MM-DD. NULL leaves a field as it is. */
void        derm_save_dialog_set_fields (DermSaveDialog *self, const char *patient, const char *site,
                                         const char *label, const char *date, const char *notes);

/* The fields. Returns: (transfer none) / (transfer full) as marked. */
/* The patient's year of birth (0: not known) and sex. */
void        derm_save_dialog_set_patient_facts (DermSaveDialog *self, int birth_year, DermSex sex);
int         derm_save_dialog_get_birth_year (DermSaveDialog *self);
DermSex     derm_save_dialog_get_sex (DermSaveDialog *self);
const char *derm_save_dialog_get_patient (DermSaveDialog *self);
const char *derm_save_dialog_get_site (DermSaveDialog *self);     /* HAM10000 spelling */
const char *derm_save_dialog_get_label (DermSaveDialog *self);
gint64      derm_save_dialog_get_captured (DermSaveDialog *self); /* local midnight, Unix time */
char       *derm_save_dialog_get_notes (DermSaveDialog *self);    /* (transfer full) */

/* Shows @message under the fields (a save that failed). */
void        derm_save_dialog_show_error (DermSaveDialog *self, const char *message);
/* Presses "Save" (what the button does). */
void        derm_save_dialog_confirm (DermSaveDialog *self);

G_END_DECLS
