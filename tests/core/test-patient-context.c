/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-patient-context.c: the patient context a classifier may take: its
 * encoding (one row, "unknown" a value of its own in every field), the words
 * it accepts and refuses, masking, the field names a model file stores, and
 * a HAM10000 row's context (never its dx_type). */
#include "config.h"

#include <glib.h>
#include <math.h>
#include <string.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "derm-patient-context.h"

static void
test_encode (void)
{
  float row[DERM_PATIENT_DIM];
  DermPatientContext p;
  derm_patient_context_init (&p);
  g_assert_cmpint (derm_patient_context_known (&p), ==, 0);
  derm_patient_context_encode (&p, row);
  /* Unknown: age 0 with its "known" bit 0, the sex and site "unknown" slots. */
  g_assert_cmpfloat (row[0], ==, 0);
  g_assert_cmpfloat (row[1], ==, 0);
  g_assert_cmpfloat (row[2], ==, 0);
  g_assert_cmpfloat (row[3], ==, 0);
  g_assert_cmpfloat (row[4], ==, 1);
  g_assert_cmpfloat (row[5 + DERM_PATIENT_N_SITES - 1], ==, 1);
  float sum = 0;
  for (int i = 0; i < DERM_PATIENT_DIM; i++)
    sum += row[i];
  g_assert_cmpfloat (sum, ==, 2);

  g_autoptr(GError) error = NULL;
  g_assert_true (derm_patient_context_set (&p, 45, "Female", "lower extremity", &error));
  g_assert_no_error (error);
  g_assert_cmpint (derm_patient_context_known (&p), ==, DERM_PATIENT_ALL);
  derm_patient_context_encode (&p, row);
  g_assert_cmpfloat_with_epsilon (row[0], 0.45, 1e-6);
  g_assert_cmpfloat (row[1], ==, 1);
  g_assert_cmpfloat (row[3], ==, 1);   /* female */
  g_assert_cmpfloat (row[4], ==, 0);
  int site = -1;
  for (int i = 0; derm_body_sites ()[i] != NULL; i++)
    if (g_str_equal (derm_body_sites ()[i], "lower extremity"))
      site = i;
  g_assert_cmpfloat (row[5 + site], ==, 1);
  g_assert_cmpfloat (row[5 + DERM_PATIENT_N_SITES - 1], ==, 0);

  /* Each field's range: age 2, sex 3, site 15, side by side. */
  int start, width;
  derm_patient_field_range (DERM_PATIENT_AGE, &start, &width);
  g_assert_cmpint (start, ==, 0);
  g_assert_cmpint (width, ==, 2);
  derm_patient_field_range (DERM_PATIENT_SEX, &start, &width);
  g_assert_cmpint (start, ==, 2);
  g_assert_cmpint (width, ==, 3);
  derm_patient_field_range (DERM_PATIENT_SITE, &start, &width);
  g_assert_cmpint (start + width, ==, DERM_PATIENT_DIM);

  /* Masking keeps only the fields named. */
  derm_patient_context_mask (&p, DERM_PATIENT_SEX);
  g_assert_cmpint (derm_patient_context_known (&p), ==, DERM_PATIENT_SEX);
  g_assert_true (isnan (p.age));
  g_assert_cmpint (p.site, ==, -1);
}

static void
test_words (void)
{
  DermPatientContext p;
  g_autoptr(GError) error = NULL;
  /* "unknown" and blanks are unknown, not errors. */
  g_assert_true (derm_patient_context_set (&p, NAN, "unknown", "unknown", &error));
  g_assert_cmpint (derm_patient_context_known (&p), ==, 0);
  g_assert_true (derm_patient_context_set (&p, NAN, "", NULL, &error));
  g_assert_cmpint (derm_patient_context_known (&p), ==, 0);
  g_assert_no_error (error);
  /* Words outside the vocabulary and implausible ages are refused by name. */
  g_assert_false (derm_patient_context_set (&p, NAN, NULL, "elbow", &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "elbow"));
  g_clear_error (&error);
  g_assert_false (derm_patient_context_set (&p, NAN, "f", NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (derm_patient_context_set (&p, 140, NULL, NULL, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (derm_patient_context_set (&p, -1, NULL, NULL, &error));
  g_clear_error (&error);

  g_assert_true (derm_patient_context_set (&p, 63.4, "male", "Back", &error));
  g_autofree char *text = derm_patient_context_describe (&p);
  g_assert_cmpstr (text, ==, "63 years, male, Back");
  derm_patient_context_mask (&p, DERM_PATIENT_AGE);
  g_autofree char *age_only = derm_patient_context_describe (&p);
  g_assert_cmpstr (age_only, ==, "63 years");
}

static void
test_field_names (void)
{
  DermPatientField f;
  g_autoptr(GError) error = NULL;
  g_autofree char *all = derm_patient_fields_to_string (DERM_PATIENT_ALL);
  g_assert_cmpstr (all, ==, "age,sex,site");
  g_assert_true (derm_patient_fields_from_string (all, &f, &error));
  g_assert_cmpint (f, ==, DERM_PATIENT_ALL);
  g_assert_true (derm_patient_fields_from_string ("site, age", &f, &error));
  g_assert_cmpint (f, ==, DERM_PATIENT_AGE | DERM_PATIENT_SITE);
  g_assert_true (derm_patient_fields_from_string ("", &f, &error));
  g_assert_cmpint (f, ==, 0);
  g_autofree char *none = derm_patient_fields_to_string (0);
  g_assert_cmpstr (none, ==, "");
  g_assert_false (derm_patient_fields_from_string ("age,dx_type", &f, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
}

/* A HAM10000 row's context: age, sex and localization; a value outside the
 * vocabulary is unknown and reported; dx_type plays no part. */
static void
test_sample (void)
{
  DermSample s = { 0 };
  s.age = 55;
  s.sex = (char *) "male";
  s.localization = (char *) "scalp";
  s.dx_type = (char *) "histo";
  DermPatientContext p;
  g_assert_true (derm_sample_patient_context (&s, &p));
  g_assert_cmpint (derm_patient_context_known (&p), ==, DERM_PATIENT_ALL);
  float with_histo[DERM_PATIENT_DIM], with_follow_up[DERM_PATIENT_DIM];
  derm_patient_context_encode (&p, with_histo);
  s.dx_type = (char *) "follow_up";
  g_assert_true (derm_sample_patient_context (&s, &p));
  derm_patient_context_encode (&p, with_follow_up);
  g_assert_cmpmem (with_histo, sizeof with_histo, with_follow_up, sizeof with_follow_up);

  s.age = NAN;
  s.localization = (char *) "elbow";
  g_assert_false (derm_sample_patient_context (&s, &p));
  g_assert_cmpint (derm_patient_context_known (&p), ==, DERM_PATIENT_SEX);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/patient-context/encode", test_encode);
  g_test_add_func ("/patient-context/words", test_words);
  g_test_add_func ("/patient-context/field-names", test_field_names);
  g_test_add_func ("/patient-context/sample", test_sample);
  return g_test_run ();
}
