/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-patient-context.c: patient context (age, sex, body site) and its encoding. */
#include "config.h"

#define G_LOG_DOMAIN "derm-patient"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "derm-error.h"
#include "derm-patient-context.h"

static const char *const field_names[] = { "age", "sex", "site" };

static int
unknown_site (void)
{
  return DERM_PATIENT_N_SITES - 1;
}

void
derm_patient_context_init (DermPatientContext *p)
{
  p->age = NAN;
  p->sex = DERM_SEX_UNKNOWN;
  p->site = -1;
}

gboolean
derm_patient_context_set (DermPatientContext *p, double age, const char *sex, const char *site, GError **error)
{
  derm_patient_context_init (p);
  if (!isnan (age))
    {
      if (!(age >= 0 && age <= 120))
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("The age %g is not plausible (0 to 120 years)."), age);
          return FALSE;
        }
      p->age = age;
    }
  if (sex != NULL && *sex != '\0')
    {
      int s = derm_sex_from_string (sex);
      if (s < 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("Unknown sex “%s”: use male, female or unknown."), sex);
          return FALSE;
        }
      p->sex = (DermSex) s;
    }
  if (site != NULL && *site != '\0')
    {
      const char *const *sites = derm_body_sites ();
      int found = -1;
      for (int i = 0; sites[i] != NULL; i++)
        if (g_ascii_strcasecmp (sites[i], site) == 0)
          found = i;
      if (found < 0)
        {
          g_autofree char *all = g_strjoinv (", ", (char **) sites);
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("Unknown body site “%s”: use one of %s."), site, all);
          return FALSE;
        }
      p->site = found == unknown_site () ? -1 : found;
    }
  return TRUE;
}

void
derm_patient_context_mask (DermPatientContext *p, DermPatientField fields)
{
  if (!(fields & DERM_PATIENT_AGE))
    p->age = NAN;
  if (!(fields & DERM_PATIENT_SEX))
    p->sex = DERM_SEX_UNKNOWN;
  if (!(fields & DERM_PATIENT_SITE))
    p->site = -1;
}

DermPatientField
derm_patient_context_known (const DermPatientContext *p)
{
  DermPatientField f = 0;
  if (!isnan (p->age))
    f |= DERM_PATIENT_AGE;
  if (p->sex == DERM_SEX_MALE || p->sex == DERM_SEX_FEMALE)
    f |= DERM_PATIENT_SEX;
  if (p->site >= 0 && p->site < unknown_site ())
    f |= DERM_PATIENT_SITE;
  return f;
}

void
derm_patient_field_range (DermPatientField field, int *start, int *width)
{
  switch (field)
    {
    case DERM_PATIENT_AGE:
      *start = 0, *width = 2;
      return;
    case DERM_PATIENT_SEX:
      *start = 2, *width = 3;
      return;
    default:
      *start = 5, *width = DERM_PATIENT_N_SITES;
      return;
    }
}

void
derm_patient_context_encode (const DermPatientContext *p, float *row)
{
  G_STATIC_ASSERT (DERM_PATIENT_DIM == 20);
  memset (row, 0, sizeof (float) * DERM_PATIENT_DIM);
  DermPatientField known = derm_patient_context_known (p);
  if (known & DERM_PATIENT_AGE)
    {
      row[0] = (float) (p->age / 100.0);
      row[1] = 1.0f;
    }
  /* male, female, unknown */
  row[2 + (known & DERM_PATIENT_SEX ? (p->sex == DERM_SEX_MALE ? 0 : 1) : 2)] = 1.0f;
  row[5 + (known & DERM_PATIENT_SITE ? p->site : unknown_site ())] = 1.0f;
}

char *
derm_patient_fields_to_string (DermPatientField fields)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 3; i++)
    if (fields & (1 << i))
      g_string_append_printf (s, "%s%s", s->len > 0 ? "," : "", field_names[i]);
  return g_string_free (s, FALSE);
}

gboolean
derm_patient_fields_from_string (const char *s, DermPatientField *fields, GError **error)
{
  *fields = 0;
  if (s == NULL || *s == '\0')
    return TRUE;
  g_auto(GStrv) words = g_strsplit (s, ",", -1);
  for (char **w = words; *w != NULL; w++)
    {
      g_strstrip (*w);
      int found = -1;
      for (int i = 0; i < 3; i++)
        if (g_str_equal (*w, field_names[i]))
          found = i;
      if (found < 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("Unknown context field “%s”: use age, sex and site."), *w);
          return FALSE;
        }
      *fields |= 1 << found;
    }
  return TRUE;
}

char *
derm_patient_context_describe (const DermPatientContext *p)
{
  DermPatientField known = derm_patient_context_known (p);
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (known & DERM_PATIENT_AGE)
    g_ptr_array_add (parts, g_strdup_printf (_("%d years"), (int) round (p->age)));
  if (known & DERM_PATIENT_SEX)
    g_ptr_array_add (parts, g_strdup (p->sex == DERM_SEX_MALE ? _("male") : _("female")));
  if (known & DERM_PATIENT_SITE)
    g_ptr_array_add (parts, g_strdup (derm_body_site_label (derm_body_sites ()[p->site])));
  g_ptr_array_add (parts, NULL);
  return g_strjoinv (", ", (char **) parts->pdata);
}

char *
derm_patient_context_fields_label (DermPatientField fields)
{
  const char *names[3];
  int n = 0;
  if (fields & DERM_PATIENT_AGE)
    names[n++] = _("age");
  if (fields & DERM_PATIENT_SEX)
    names[n++] = _("sex");
  if (fields & DERM_PATIENT_SITE)
    names[n++] = _("body site");
  switch (n)
    {
    case 0:
      return g_strdup ("");
    case 1:
      return g_strdup (names[0]);
    case 2:
      /* Translators: "age and sex" */
      return g_strdup_printf (_("%s and %s"), names[0], names[1]);
    default:
      /* Translators: "age, sex and body site" */
      return g_strdup_printf (_("%s, %s and %s"), names[0], names[1], names[2]);
    }
}
