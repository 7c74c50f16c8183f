/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli.c: command dispatch for dermalens-cli. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "derm-cli.h"
#include "derm-engine.h"
#include "derm-paths.h"

static const DermCliCommand commands[] = {
  { "info", N_("Show the libtorch version, devices and threads"), derm_cli_info },
  { "classify", N_("Classify lesion images with a model file"), derm_cli_classify },
  { "segment", N_("Write a lesion mask of an image with a U-Net file"), derm_cli_segment },
  { "weights-info", N_("Show a weight file's architecture, classes and metadata"), derm_cli_weights_info },
  { "init-weights", N_("Write a freshly initialised model file"), derm_cli_init_weights },
  { "train", N_("Train a classifier or segmenter on a HAM10000 folder"), derm_cli_train },
  { "evaluate", N_("Evaluate a model on a split of a HAM10000 folder"), derm_cli_evaluate },
  { "pretrain", N_("Pretrain a classifier's backbone without labels (SimSiam) on a HAM10000 "
                   "training split and the cases' images"), derm_cli_pretrain },
  { "refit-decision", N_("Fit a classifier's decision rule and operating point again"),
    derm_cli_refit_decision },
  { "analyze", N_("Classify, segment and measure lesion images"), derm_cli_analyze },
  { "cases", N_("List, show, add, export, import and delete stored cases"), derm_cli_cases },
  { "models", N_("List, show, import, activate, export and delete model versions"), derm_cli_models },
};

static void
print_usage (FILE *out)
{
  fprintf (out, _("Usage: dermalens-cli [--version] [--help] COMMAND [OPTIONS...]\n\n"
                  "Dermoscopy decision support without a display.\n\nCommands:\n"));
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-14s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (out, _("\nRun 'dermalens-cli COMMAND --help' for a command's options.\n"));
}

void
derm_cli_error (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "dermalens-cli: %s\n", msg);
}

void
derm_cli_print_json (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  if (root == NULL)
    return;
  g_autofree char *text = json_to_string (root, TRUE);
  printf ("%s\n", text);
}

gboolean
derm_cli_parse (GOptionContext *context, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      derm_cli_error ("%s", error->message);
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
      fputs (help, stderr);
      return FALSE;
    }
  return TRUE;
}

gboolean
derm_cli_parse_options (const GOptionEntry *entries, const char *parameter_string,
                        const char *summary, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (parameter_string);
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  return derm_cli_parse (context, argc, argv);
}

static void
print_subcommands (FILE *out, const char *usage, const DermCliCommand *subcommands, gsize n)
{
  fputs (usage, out);
  for (gsize k = 0; k < n; k++)
    fprintf (out, "  %-9s %s\n", subcommands[k].name, _(subcommands[k].summary));
}

int
derm_cli_run_subcommand (const char *command, const DermCliCommand *subcommands, gsize n,
                         const char *usage, int argc, char **argv)
{
  if (argc < 2)
    {
      print_subcommands (stderr, usage, subcommands, n);
      return DERM_CLI_EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      print_subcommands (stdout, usage, subcommands, n);
      return DERM_CLI_EXIT_OK;
    }
  for (gsize k = 0; k < n; k++)
    if (strcmp (argv[1], subcommands[k].name) == 0)
      {
        g_autofree char *prog = g_strdup_printf ("%s %s", command, argv[1]);
        g_set_prgname (prog);
        return subcommands[k].run (argc - 1, argv + 1);
      }
  derm_cli_error (_("unknown %s subcommand '%s'"), command, argv[1]);
  print_subcommands (stderr, usage, subcommands, n);
  return DERM_CLI_EXIT_USAGE;
}

int
derm_cli_main (int argc, char **argv)
{
  derm_setup_translations ();

  if (argc < 2)
    {
      print_usage (stderr);
      return DERM_CLI_EXIT_USAGE;
    }
  const char *name = argv[1];
  if (strcmp (name, "--version") == 0 || strcmp (name, "-V") == 0)
    {
      printf ("dermalens-cli %s (libtorch %s)\n", PACKAGE_VERSION, derm_engine_torch_version ());
      return DERM_CLI_EXIT_OK;
    }
  if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0 || strcmp (name, "help") == 0)
    {
      print_usage (stdout);
      return DERM_CLI_EXIT_OK;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (name, commands[i].name) == 0)
      {
        derm_engine_set_threads (0);
        /* The command sees itself as argv[0]. */
        return commands[i].run (argc - 1, argv + 1);
      }

  derm_cli_error (_("unknown command '%s'"), name);
  print_usage (stderr);
  return DERM_CLI_EXIT_USAGE;
}

gboolean
derm_cli_context_fields (const char *s, unsigned *fields)
{
  DermPatientField f = 0;
  if (g_strcmp0 (s, "all") == 0)
    f = DERM_PATIENT_ALL;
  else if (!derm_patient_fields_from_string (s, &f, NULL))
    return FALSE;
  *fields = f;
  return f != 0;
}
