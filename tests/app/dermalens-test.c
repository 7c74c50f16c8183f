/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * dermalens-test.c: the Dermalens application as the GUI tests drive it.
 * The same application object as src/app/main.c, with the test hook
 * (derm-test-hook.h: screenshots, state dumps, scripted steps) watching
 * every window it opens, and never handing its files to a running
 * instance. The shipped `dermalens` has none of this. */
#include "config.h"

#include <stdio.h>

#include "derm-application.h"
#include "derm-test-hook.h"

static void
window_added_cb (GtkApplication *app, GtkWindow *window, gpointer user_data)
{
  if (DERM_IS_WINDOW (window))
    derm_test_hook_watch_window (DERM_WINDOW (window));
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  if (!derm_application_setup_environment (&error))
    {
      fprintf (stderr, "dermalens-test: %s\n", error->message);
      return 1;
    }

  g_autoptr(DermApplication) app = derm_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  g_signal_connect (app, "window-added", G_CALLBACK (window_added_cb), NULL);
  int status = g_application_run (G_APPLICATION (app), argc, argv);
  if (g_object_get_data (G_OBJECT (app), "derm-test-failed") != NULL)
    status = 1;
  return status;
}
