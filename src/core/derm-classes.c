/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "derm-classes.h"

static const struct {
  const char *code;
  const char *name;
  gboolean malignant;
} classes[DERM_N_CLASSES] = {
  { "MEL", N_("Melanoma"), TRUE },
  { "NV", N_("Melanocytic nevus"), FALSE },
  { "BCC", N_("Basal cell carcinoma"), TRUE },
  { "AKIEC", N_("Actinic keratosis / intraepithelial carcinoma"), TRUE },
  { "BKL", N_("Benign keratosis-like lesion"), FALSE },
  { "DF", N_("Dermatofibroma"), FALSE },
  { "VASC", N_("Vascular lesion"), FALSE },
};

const char *
derm_class_code (DermClass c)
{
  g_return_val_if_fail (c < DERM_N_CLASSES, NULL);
  return classes[c].code;
}

const char *
derm_class_name (DermClass c)
{
  g_return_val_if_fail (c < DERM_N_CLASSES, NULL);
  return g_dgettext (GETTEXT_PACKAGE, classes[c].name);
}

gboolean
derm_class_is_malignant (DermClass c)
{
  g_return_val_if_fail (c < DERM_N_CLASSES, FALSE);
  return classes[c].malignant;
}

int
derm_class_from_code (const char *code)
{
  if (code == NULL)
    return -1;
  for (int i = 0; i < DERM_N_CLASSES; i++)
    if (g_ascii_strcasecmp (code, classes[i].code) == 0)
      return i;
  return -1;
}

double
derm_class_malignant_risk (const float probs[DERM_N_CLASSES])
{
  double risk = 0;
  for (int i = 0; i < DERM_N_CLASSES; i++)
    if (classes[i].malignant)
      risk += probs[i];
  return risk;
}
