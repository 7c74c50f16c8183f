/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-patient-context.h: what the clinician knows besides the image (age at
 * capture, sex, body site) and its encoding as a classifier's input.
 *
 * The encoding is one row of DERM_PATIENT_DIM floats, in three fields:
 *   age   2 values: age / 100 and 1 (known), or 0 and 0 (unknown)
 *   sex   3 values: one-hot male, female, unknown
 *   site  15 values: one-hot over derm_body_sites () (HAM10000's
 *         localization vocabulary, whose last word is "unknown")
 * "Unknown" is a value of its own in every field, so a model trained with
 * fields dropped at random (DermPatientField) works with any subset.
 * dx_type (how the diagnosis was confirmed) is never an input: it leaks the
 * label. */
#pragma once

#include <glib.h>

#include "derm-vocab.h"

G_BEGIN_DECLS

#define DERM_PATIENT_N_SITES 15
#define DERM_PATIENT_DIM (2 + 3 + DERM_PATIENT_N_SITES)

typedef struct {
  double age;      /* years at capture; NAN when unknown */
  DermSex sex;     /* DERM_SEX_UNKNOWN when unknown */
  int site;        /* index into derm_body_sites (); -1 or the "unknown" index when unknown */
} DermPatientContext;

/* The fields, as bits (a model's "context" metadata names them). */
typedef enum {
  DERM_PATIENT_AGE = 1 << 0,
  DERM_PATIENT_SEX = 1 << 1,
  DERM_PATIENT_SITE = 1 << 2,
  DERM_PATIENT_ALL = 7,
} DermPatientField;

/* Every field unknown. */
void     derm_patient_context_init (DermPatientContext *p);
/* From HAM10000's spelling: @age may be NAN; @sex and @site strings may be
 * NULL, "" or "unknown" (unknown), else a key of derm-vocab (case-insensitive).
 * FALSE with @error for a word outside the vocabulary or an age outside
 * 0..120 (the fields read so far stay set). */
gboolean derm_patient_context_set (DermPatientContext *p, double age, const char *sex, const char *site,
                           GError **error);
/* Keeps only the fields in @fields (the others become unknown). */
void     derm_patient_context_mask (DermPatientContext *p, DermPatientField fields);
/* The fields that are known. */
DermPatientField derm_patient_context_known (const DermPatientContext *p);
/* Writes DERM_PATIENT_DIM floats (see above). */
void     derm_patient_context_encode (const DermPatientContext *p, float *row);
/* The start and width of @field in a row (one bit). */
void     derm_patient_field_range (DermPatientField field, int *start, int *width);

/* "age,sex,site" for the bits set, in that order ("" for none). Returns: (transfer full). */
char    *derm_patient_fields_to_string (DermPatientField fields);
/* The reverse; FALSE with @error for an unknown word. "" gives 0. */
gboolean derm_patient_fields_from_string (const char *s, DermPatientField *fields, GError **error);
/* For people: "age, sex and body site", the fields set (translated).
 * Returns: (transfer full). */
char    *derm_patient_context_fields_label (DermPatientField fields);
/* For people: "63 years, female, back" with only the known fields (translated);
 * "" when none is known. Returns: (transfer full). */
char    *derm_patient_context_describe (const DermPatientContext *p);

G_END_DECLS
