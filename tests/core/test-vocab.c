/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-vocab.c: the closed vocabularies: keys read back case-insensitively,
 * unknown words refused, and a label for every body site and dx type (the
 * tests run untranslated, LC_ALL=C.UTF-8). */
#include "config.h"

#include <glib.h>

#include "derm-vocab.h"

static void
test_keys_round_trip (void)
{
  for (int s = DERM_SEX_UNKNOWN; s <= DERM_SEX_FEMALE; s++)
    g_assert_cmpint (derm_sex_from_string (derm_sex_to_string (s)), ==, s);
  g_assert_cmpstr (derm_sex_to_string (99), ==, "unknown");
  g_assert_cmpint (derm_sex_from_string ("Female"), ==, DERM_SEX_FEMALE);
  g_assert_cmpint (derm_sex_from_string ("f"), ==, -1);
  g_assert_cmpint (derm_sex_from_string (NULL), ==, -1);

  for (int t = DERM_DX_TYPE_HISTO; t <= DERM_DX_TYPE_CONFOCAL; t++)
    g_assert_cmpint (derm_dx_type_from_string (derm_dx_type_to_string (t)), ==, t);
  g_assert_null (derm_dx_type_to_string (99));
  g_assert_cmpint (derm_dx_type_from_string ("biopsy"), ==, -1);

  for (int k = DERM_MODEL_KIND_CLASSIFIER; k <= DERM_MODEL_KIND_SEGMENTER; k++)
    g_assert_cmpint (derm_model_kind_from_string (derm_model_kind_to_string (k)), ==, k);
  g_assert_cmpint (derm_model_kind_from_string ("SEGMENTER"), ==, DERM_MODEL_KIND_SEGMENTER);
  g_assert_null (derm_model_kind_to_string (2));

  g_assert_true (derm_body_site_is_valid ("Lower Extremity"));
  g_assert_false (derm_body_site_is_valid ("elbow"));
  g_assert_false (derm_body_site_is_valid (NULL));
}

static void
test_labels (void)
{
  const char * const *sites = derm_body_sites ();
  g_assert_cmpuint (g_strv_length ((char **) sites), ==, 15);
  /* Every site has its own label, never the key itself. */
  for (guint i = 0; sites[i] != NULL; i++)
    {
      const char *label = derm_body_site_label (sites[i]);
      g_assert_cmpstr (label, !=, sites[i]);
      g_assert_true (g_ascii_strcasecmp (label, sites[i]) == 0
                     || g_str_equal (sites[i], "unknown"));
    }
  g_assert_cmpstr (derm_body_site_label ("lower extremity"), ==, "Lower extremity");
  g_assert_cmpstr (derm_body_site_label ("unknown"), ==, "Unknown site");
  g_assert_cmpstr (derm_body_site_label ("elbow"), ==, "elbow");
  g_assert_cmpstr (derm_body_site_label (NULL), ==, "");

  g_assert_cmpstr (derm_dx_type_label (DERM_DX_TYPE_HISTO), ==, "Histopathology");
  g_assert_cmpstr (derm_dx_type_label (DERM_DX_TYPE_FOLLOW_UP), ==, "Follow-up examination");
  g_assert_cmpstr (derm_dx_type_label (DERM_DX_TYPE_CONSENSUS), ==, "Expert consensus");
  g_assert_cmpstr (derm_dx_type_label (DERM_DX_TYPE_CONFOCAL), ==, "Confocal microscopy");
  g_assert_cmpstr (derm_dx_type_label (99), ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vocab/keys-round-trip", test_keys_round_trip);
  g_test_add_func ("/vocab/labels", test_labels);
  return g_test_run ();
}
