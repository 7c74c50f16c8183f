/* derm-cli-info.c: dermalens-cli info */
#include "config.h"

#include <stdio.h>

#include <glib/gi18n.h>

#include "derm-cli.h"
#include "derm-engine.h"

int
derm_cli_info (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL, _("Show the libtorch version, devices and threads."),
                               &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc > 1)
    {
      derm_cli_error (_("info takes no arguments"));
      return DERM_CLI_EXIT_USAGE;
    }

  int n = derm_engine_cuda_device_count ();
  if (json)
    {
      printf ("{\"version\": \"%s\", \"libtorch\": \"%s\", \"libtorch_dir\": \"%s\", "
              "\"cuda_built\": %s, \"cuda_available\": %s, \"threads\": %d, \"devices\": [\"cpu\"",
              PACKAGE_VERSION, derm_engine_torch_version (), LIBTORCH_DIR,
              LIBTORCH_HAS_CUDA ? "true" : "false", n > 0 ? "true" : "false",
              derm_engine_get_threads ());
      for (int i = 0; i < n; i++)
        printf (", \"cuda:%d\"", i);
      printf ("]}\n");
      return DERM_CLI_EXIT_OK;
    }

  printf ("Dermalens %s\n", PACKAGE_VERSION);
  printf ("libtorch:     %s (%s)\n", derm_engine_torch_version (), LIBTORCH_DIR);
  printf ("CUDA built:   %s\n", LIBTORCH_HAS_CUDA ? _("yes") : _("no"));
  printf ("CUDA usable:  %s\n", n > 0 ? _("yes") : _("no"));
  printf ("CPU threads:  %d (of %u cores)\n", derm_engine_get_threads (), g_get_num_processors ());
  printf ("Devices:      cpu");
  for (int i = 0; i < n; i++)
    {
      g_autofree char *name = derm_engine_cuda_device_name (i);
      printf (", cuda:%d (%s)", i, name ? name : "?");
    }
  printf ("\n");
  return DERM_CLI_EXIT_OK;
}
