/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-vocab.h: the closed vocabularies of a case and of the model registry:
 * sexes, how a diagnosis was confirmed (dx types), body sites and model
 * kinds. Each word has a stable key, untranslated and in HAM10000's spelling,
 * that files, the case database and JSON use; sexes, dx types and body sites
 * that people read also have a translated label. The other vocabularies live
 * with what they describe: classes in derm-classes.h, lesion colours in
 * derm-lesion.h. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  DERM_SEX_UNKNOWN = 0,
  DERM_SEX_MALE,
  DERM_SEX_FEMALE,
} DermSex;

/* How a diagnosis was confirmed: HAM10000's dx_type vocabulary. */
typedef enum {
  DERM_DX_TYPE_HISTO = 0,
  DERM_DX_TYPE_FOLLOW_UP,
  DERM_DX_TYPE_CONSENSUS,
  DERM_DX_TYPE_CONFOCAL,
} DermDxType;

typedef enum {
  DERM_MODEL_KIND_CLASSIFIER = 0,
  DERM_MODEL_KIND_SEGMENTER,
} DermModelKind;

/* Keys (borrowed static strings, HAM10000 spelling). The _from_string
 * functions return -1 for an unknown string (case-insensitive). */
const char *derm_sex_to_string (DermSex sex);               /* "male" */
int         derm_sex_from_string (const char *s);
const char *derm_dx_type_to_string (DermDxType t);          /* "histo" */
int         derm_dx_type_from_string (const char *s);
const char *derm_model_kind_to_string (DermModelKind k);    /* "classifier" */
int         derm_model_kind_from_string (const char *s);
/* HAM10000's localization vocabulary: "abdomen", "acral", ... "unknown".
 * Returns: (transfer none) a NULL-terminated static array. */
const char * const *derm_body_sites (void);
gboolean    derm_body_site_is_valid (const char *site);

/* Labels for people (borrowed, translated). */
const char *derm_dx_type_label (DermDxType t);              /* "Histopathology"; "" when unknown */
/* "Lower extremity" for "lower extremity" (exact key); any other string is
 * returned as it is, NULL as "". */
const char *derm_body_site_label (const char *site);

G_END_DECLS
