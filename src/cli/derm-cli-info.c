/* SPDX-License-Identifier: GPL-3.0-or-later */
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
  const DermCpuPolicy *policy = derm_engine_cpu_policy ();
  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "version");
      json_builder_add_string_value (b, PACKAGE_VERSION);
      json_builder_set_member_name (b, "libtorch");
      json_builder_add_string_value (b, derm_engine_torch_version ());
      json_builder_set_member_name (b, "libtorch_dir");
      json_builder_add_string_value (b, LIBTORCH_DIR);
      json_builder_set_member_name (b, "cuda_built");
      json_builder_add_boolean_value (b, LIBTORCH_HAS_CUDA);
      json_builder_set_member_name (b, "cuda_available");
      json_builder_add_boolean_value (b, n > 0);
      json_builder_set_member_name (b, "threads");
      json_builder_add_int_value (b, derm_engine_get_threads ());
      json_builder_set_member_name (b, "devices");
      json_builder_begin_array (b);
      json_builder_add_string_value (b, "cpu");
      for (int i = 0; i < n; i++)
        {
          g_autofree char *dev = g_strdup_printf ("cuda:%d", i);
          json_builder_add_string_value (b, dev);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "cpu");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "precision");
      json_builder_add_string_value (b, derm_cpu_precision_name (policy->precision));
      json_builder_set_member_name (b, "channels_last");
      json_builder_add_boolean_value (b, policy->channels_last);
      json_builder_set_member_name (b, "bf16_units");
      json_builder_add_string_value (b, policy->units);
      json_builder_set_member_name (b, "forced");
      json_builder_add_boolean_value (b, policy->forced);
      json_builder_set_member_name (b, "reason");
      json_builder_add_string_value (b, policy->reason);
      json_builder_end_object (b);
      json_builder_end_object (b);
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }

  printf ("Dermalens %s\n", PACKAGE_VERSION);
  printf ("libtorch:     %s (%s)\n", derm_engine_torch_version (), LIBTORCH_DIR);
  printf ("CUDA built:   %s\n", LIBTORCH_HAS_CUDA ? _("yes") : _("no"));
  printf ("CUDA usable:  %s\n", n > 0 ? _("yes") : _("no"));
  printf ("CPU threads:  %d (of %u cores)\n", derm_engine_get_threads (), g_get_num_processors ());
  printf ("CPU path:     %s\n", policy->reason);
  printf ("CPU bf16:     %s\n", policy->units);
  printf ("Devices:      cpu");
  for (int i = 0; i < n; i++)
    {
      g_autofree char *name = derm_engine_cuda_device_name (i);
      printf (", cuda:%d (%s)", i, name ? name : "?");
    }
  printf ("\n");
  return DERM_CLI_EXIT_OK;
}
