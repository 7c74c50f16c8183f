/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c: the dermalens executable. */
#include "config.h"

#include <stdio.h>

#include "derm-application.h"

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  if (!derm_application_setup_environment (&error))
    {
      fprintf (stderr, "dermalens: %s\n", error->message);
      return 1;
    }

  g_autoptr(DermApplication) app = derm_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
