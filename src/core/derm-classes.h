/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-classes.h: the seven HAM10000 diagnoses, in the order every file
 * format and API uses (DESIGN.md, "Classes"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  DERM_CLASS_MEL = 0,
  DERM_CLASS_NV,
  DERM_CLASS_BCC,
  DERM_CLASS_AKIEC,
  DERM_CLASS_BKL,
  DERM_CLASS_DF,
  DERM_CLASS_VASC,
  DERM_N_CLASSES
} DermClass;

/* Borrowed, static strings. */
const char *derm_class_code (DermClass c);        /* "MEL" */
const char *derm_class_name (DermClass c);        /* "Melanoma" (translated) */
gboolean    derm_class_is_malignant (DermClass c);

/* Accepts "MEL" or HAM10000's "mel" (any case). Returns -1 when unknown. */
int         derm_class_from_code (const char *code);

/* Sum of MEL + BCC + AKIEC probabilities. */
double      derm_class_malignant_risk (const float probs[DERM_N_CLASSES]);

G_END_DECLS
