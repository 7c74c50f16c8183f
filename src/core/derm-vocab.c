/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-vocab.c: the keys of the closed vocabularies (sexes, dx types, body
 * sites, model kinds) with their lookups, and the translated labels people
 * read for dx types and body sites. */
#include "config.h"

#define G_LOG_DOMAIN "derm-vocab"

#include <glib/gi18n-lib.h>

#include "derm-vocab.h"

static const char * const sexes[] = { "unknown", "male", "female" };
static const char * const dx_types[] = { "histo", "follow_up", "consensus", "confocal" };
static const char * const dx_type_labels[] = {
  N_("Histopathology"), N_("Follow-up examination"), N_("Expert consensus"),
  N_("Confocal microscopy"),
};
static const char * const model_kinds[] = { "classifier", "segmenter" };
static const char * const body_sites[] = {
  "abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand",
  "lower extremity", "neck", "scalp", "trunk", "upper extremity", "unknown", NULL
};
/* In the order of body_sites. */
static const char * const body_site_labels[] = {
  N_("Abdomen"), N_("Acral"), N_("Back"), N_("Chest"), N_("Ear"), N_("Face"), N_("Foot"),
  N_("Genital"), N_("Hand"), N_("Lower extremity"), N_("Neck"), N_("Scalp"), N_("Trunk"),
  N_("Upper extremity"), N_("Unknown site"),
};

G_STATIC_ASSERT (G_N_ELEMENTS (dx_type_labels) == G_N_ELEMENTS (dx_types));
G_STATIC_ASSERT (G_N_ELEMENTS (body_site_labels) == G_N_ELEMENTS (body_sites) - 1);

static int
lookup (const char * const *words, int n, const char *s)
{
  if (s == NULL)
    return -1;
  for (int i = 0; i < n; i++)
    if (g_ascii_strcasecmp (words[i], s) == 0)
      return i;
  return -1;
}

const char *
derm_sex_to_string (DermSex sex)
{
  return (unsigned) sex < G_N_ELEMENTS (sexes) ? sexes[sex] : "unknown";
}

int
derm_sex_from_string (const char *s)
{
  return lookup (sexes, G_N_ELEMENTS (sexes), s);
}

const char *
derm_dx_type_to_string (DermDxType t)
{
  return (unsigned) t < G_N_ELEMENTS (dx_types) ? dx_types[t] : NULL;
}

int
derm_dx_type_from_string (const char *s)
{
  return lookup (dx_types, G_N_ELEMENTS (dx_types), s);
}

const char *
derm_dx_type_label (DermDxType t)
{
  return (unsigned) t < G_N_ELEMENTS (dx_type_labels)
         ? g_dgettext (GETTEXT_PACKAGE, dx_type_labels[t]) : "";
}

const char *
derm_model_kind_to_string (DermModelKind k)
{
  return (unsigned) k < G_N_ELEMENTS (model_kinds) ? model_kinds[k] : NULL;
}

int
derm_model_kind_from_string (const char *s)
{
  return lookup (model_kinds, G_N_ELEMENTS (model_kinds), s);
}

const char * const *
derm_body_sites (void)
{
  return body_sites;
}

gboolean
derm_body_site_is_valid (const char *site)
{
  return lookup (body_sites, G_N_ELEMENTS (body_sites) - 1, site) >= 0;
}

const char *
derm_body_site_label (const char *site)
{
  /* Exact match: a stored site is lower case already. */
  for (gsize i = 0; i < G_N_ELEMENTS (body_site_labels); i++)
    if (g_strcmp0 (site, body_sites[i]) == 0)
      return g_dgettext (GETTEXT_PACKAGE, body_site_labels[i]);
  return site != NULL ? site : "";
}
