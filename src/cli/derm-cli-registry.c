/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-cli-registry.c: dermalens-cli models list|show|import|activate|export|delete,
 * on the same registry as the window's training view (src/service/derm-registry). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-cli.h"
#include "derm-registry.h"
#include "derm-store.h"

static char *opt_db;
static gboolean opt_json;

static const GOptionEntry common_entries[] = {
  { "db", 0, 0, G_OPTION_ARG_FILENAME, &opt_db,
    N_("Case database file or data folder (default: the user's); its models folder is beside it"),
    N_("PATH") },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, N_("Print JSON"), NULL },
  { NULL }
};

static DermStore *
open_store (void)
{
  g_autoptr(GError) error = NULL;
  DermStore *s = derm_store_open (opt_db, &error);
  if (s == NULL)
    derm_cli_error ("%s", error->message);
  return s;
}

/* Parses the common options and @entries; exactly @n_args arguments must be left. */
static gboolean
parse (const GOptionEntry *entries, const char *parameters, const char *summary, int n_args,
       int *argc, char ***argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new (parameters);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, common_entries, GETTEXT_PACKAGE);
  if (entries != NULL)
    g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!derm_cli_parse (ctx, argc, argv))
    return FALSE;
  if (*argc != n_args + 1)
    {
      g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
      derm_cli_error (_("expected %s"), parameters);
      fputs (help, stderr);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_version_id (const char *s, gint64 *out)
{
  char *end = NULL;
  gint64 v = g_ascii_strtoll (s, &end, 10);
  if (end == s || *end != '\0' || v <= 0)
    {
      derm_cli_error (_("“%s” is not a model version number (see dermalens-cli models list)"), s);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

/* The common start of a subcommand that takes a VERSION first: parses the
 * options and @n_args arguments, the version number, and opens the store.
 * Returns: (transfer full) the store, or NULL with *@rc the exit status. */
static DermStore *
open_for_version (const char *parameters, const char *summary, int n_args, int *argc, char ***argv,
                  gint64 *id, int *rc)
{
  *rc = DERM_CLI_EXIT_USAGE;
  if (!parse (NULL, parameters, summary, n_args, argc, argv) || !parse_version_id ((*argv)[1], id))
    return NULL;
  *rc = DERM_CLI_EXIT_FAILURE;
  return open_store ();
}

static char *
format_created (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (t);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M") : g_strdup ("");
}

/* Adds @json (a JSON text, may be NULL or broken) as member @name, parsed. */
static void
add_parsed (JsonBuilder *b, const char *name, const char *json)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  json_builder_set_member_name (b, name);
  if (json != NULL && *json != '\0' && json_parser_load_from_data (p, json, -1, NULL))
    json_builder_add_value (b, json_node_copy (json_parser_get_root (p)));
  else
    json_builder_add_null_value (b);
}

static void
add_version (JsonBuilder *b, const DermModelVersion *v, gboolean full)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (v->created);
  g_autofree char *created = dt != NULL ? g_date_time_format_iso8601 (dt) : NULL;
  g_autofree char *summary = derm_registry_version_summary (v);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, v->id);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, derm_model_kind_to_string (v->kind));
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, v->architecture);
  json_builder_set_member_name (b, "active");
  json_builder_add_boolean_value (b, v->active);
  json_builder_set_member_name (b, "created");
  json_builder_add_string_value (b, created);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, v->file_path);
  json_builder_set_member_name (b, "sha256");
  json_builder_add_string_value (b, v->sha256);
  json_builder_set_member_name (b, "parent");
  if (v->parent_id > 0)
    json_builder_add_int_value (b, v->parent_id);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "provenance");
  json_builder_add_string_value (b, v->provenance);
  json_builder_set_member_name (b, "summary");
  json_builder_add_string_value (b, summary);
  if (full)
    {
      add_parsed (b, "metrics", v->metrics_json);
      add_parsed (b, "settings", v->settings_json);
    }
  json_builder_end_object (b);
}

static int
models_list (int argc, char **argv)
{
  g_autofree char *kind_name = NULL;
  const GOptionEntry entries[] = {
    { "kind", 0, 0, G_OPTION_ARG_STRING, &kind_name, N_("classifier or segmenter (default both)"),
      N_("KIND") },
    { NULL }
  };
  if (!parse (entries, "", _("List the registered model versions, newest first."), 0, &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  int kind = -1;
  if (kind_name != NULL && (kind = derm_model_kind_from_string (kind_name)) < 0)
    {
      derm_cli_error (_("unknown kind “%s”: use classifier or segmenter"), kind_name);
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(DermStore) store = open_store ();
  if (store == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) versions = derm_store_list_models (store, kind, &error);
  if (versions == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_array (b);
      for (guint i = 0; i < versions->len; i++)
        add_version (b, versions->pdata[i], FALSE);
      json_builder_end_array (b);
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }
  if (versions->len == 0)
    {
      printf (_("No model versions yet: train one, or import a file with "
                "'dermalens-cli models import'.\n"));
      return DERM_CLI_EXIT_OK;
    }
  for (guint i = 0; i < versions->len; i++)
    {
      const DermModelVersion *v = versions->pdata[i];
      g_autofree char *when = format_created (v->created);
      g_autofree char *summary = derm_registry_version_summary (v);
      printf ("%5" G_GINT64_FORMAT " %s %-10s %-8s %s  %s\n", v->id, v->active ? "*" : " ",
              derm_model_kind_to_string (v->kind), v->architecture, when, summary);
    }
  printf (_("(* active)\n"));
  return DERM_CLI_EXIT_OK;
}

static int
models_show (int argc, char **argv)
{
  gint64 id;
  int rc;
  g_autoptr(DermStore) store =
    open_for_version (_("VERSION"), _("Show a model version: file, provenance, metrics, settings."),
                      1, &argc, &argv, &id, &rc);
  if (store == NULL)
    return rc;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermModelVersion) v = derm_store_get_model (store, id, &error);
  if (v == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  g_autoptr(JsonBuilder) b = json_builder_new ();
  add_version (b, v, TRUE);
  if (opt_json)
    {
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }
  g_autofree char *when = format_created (v->created);
  g_autofree char *summary = derm_registry_version_summary (v);
  printf (_("Version:     %lld%s\n"), (long long) v->id, v->active ? _(" (active)") : "");
  printf (_("Kind:        %s, %s\n"), derm_model_kind_to_string (v->kind), v->architecture);
  printf (_("Created:     %s\n"), when);
  printf (_("File:        %s\n"), v->file_path);
  printf (_("SHA-256:     %s\n"), v->sha256);
  if (v->parent_id > 0)
    printf (_("Trained from: version %lld\n"), (long long) v->parent_id);
  printf (_("Provenance:  %s\n"), v->provenance != NULL ? v->provenance : "");
  printf (_("Result:      %s\n"), summary);
  return DERM_CLI_EXIT_OK;
}

static int
models_import (int argc, char **argv)
{
  g_autofree char *classes = NULL, *mean = NULL, *std = NULL;
  int size = 0;
  gboolean activate = FALSE;
  const GOptionEntry entries[] = {
    { "classes", 0, 0, G_OPTION_ARG_STRING, &classes,
      N_("torchvision export: its head's class codes in output order (default "
         "MEL,NV,BCC,AKIEC,BKL,DF,VASC)"), N_("CODES") },
    { "mean", 0, 0, G_OPTION_ARG_STRING, &mean,
      N_("torchvision export: the normalisation mean per channel (default ImageNet's, "
         "0.485,0.456,0.406)"), N_("R,G,B") },
    { "std", 0, 0, G_OPTION_ARG_STRING, &std,
      N_("torchvision export: the normalisation standard deviation (default ImageNet's, "
         "0.229,0.224,0.225)"), N_("R,G,B") },
    { "image-size", 's', 0, G_OPTION_ARG_INT, &size,
      N_("torchvision export: the input size it was trained at (default 224)"), N_("N") },
    { "activate", 0, 0, G_OPTION_ARG_NONE, &activate, N_("Activate the new version"), NULL },
    { NULL }
  };
  if (!parse (entries, _("FILE"),
              _("Register a model file as a new version: a Dermalens file, or a torchvision "
                "ResNet-18/34/50 state dict (safetensors) whose head has the seven diagnoses, "
                "which keeps its head."), 1, &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  g_autoptr(DermStore) store = open_store ();
  if (store == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  DermImportOptions options = { classes, mean, std, size };
  DermModelKind kind = DERM_MODEL_KIND_CLASSIFIER;
  gint64 id = derm_registry_import (store, argv[1], &options, &kind, &error);
  if (id == 0 || (activate && !derm_registry_activate (store, id, NULL, &error)))
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  g_autoptr(DermModelVersion) v = derm_store_get_model (store, id, &error);
  if (v == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      add_version (b, v, FALSE);
      derm_cli_print_json (b);
    }
  else if (activate)
    printf (_("Imported %s as version %lld (%s, %s), now active.\n"), argv[1], (long long) id,
            derm_model_kind_to_string (kind), v->architecture);
  else
    printf (_("Imported %s as version %lld (%s, %s); activate it with "
              "'dermalens-cli models activate %lld'.\n"),
            argv[1], (long long) id, derm_model_kind_to_string (kind), v->architecture,
            (long long) id);
  return DERM_CLI_EXIT_OK;
}

static int
models_activate (int argc, char **argv)
{
  gint64 id;
  int rc;
  g_autoptr(DermStore) store =
    open_for_version (_("VERSION"), _("Make a version the active one of its kind; activating the "
                                      "previous one again rolls back."), 1, &argc, &argv, &id, &rc);
  if (store == NULL)
    return rc;
  g_autoptr(GError) error = NULL;
  DermModelKind kind;
  if (!derm_registry_activate (store, id, &kind, &error))
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"activated\": %" G_GINT64_FORMAT ", \"kind\": \"%s\"}\n", id,
            derm_model_kind_to_string (kind));
  else
    printf (_("Version %lld is the active %s.\n"), (long long) id,
            derm_model_kind_to_string (kind));
  return DERM_CLI_EXIT_OK;
}

static int
models_export (int argc, char **argv)
{
  gint64 id;
  int rc;
  g_autoptr(DermStore) store =
    open_for_version (_("VERSION FILE"), _("Copy a version's weight file out of the registry."), 2,
                      &argc, &argv, &id, &rc);
  if (store == NULL)
    return rc;
  g_autoptr(GError) error = NULL;
  if (!derm_registry_export (store, id, argv[2], &error))
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"exported\": %" G_GINT64_FORMAT "}\n", id);
  else
    printf (_("Version %lld written to %s\n"), (long long) id, argv[2]);
  return DERM_CLI_EXIT_OK;
}

static int
models_delete (int argc, char **argv)
{
  gint64 id;
  int rc;
  g_autoptr(DermStore) store =
    open_for_version (_("VERSION"), _("Delete a version that is not active, and its file in the "
                                      "models folder. Analyses that used it keep its name."),
                      1, &argc, &argv, &id, &rc);
  if (store == NULL)
    return rc;
  g_autoptr(GError) error = NULL;
  if (!derm_registry_delete (store, id, &error))
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"deleted\": %" G_GINT64_FORMAT "}\n", id);
  else
    printf (_("Deleted version %lld\n"), (long long) id);
  return DERM_CLI_EXIT_OK;
}

static const DermCliCommand subcommands[] = {
  { "list", N_("List the model versions"), models_list },
  { "show", N_("Show a version's provenance and metrics"), models_show },
  { "import", N_("Register a Dermalens file or a torchvision export"), models_import },
  { "activate", N_("Make a version the active one (or roll back)"), models_activate },
  { "export", N_("Copy a version's file out"), models_export },
  { "delete", N_("Delete a version that is not active"), models_delete },
};

int
derm_cli_models (int argc, char **argv)
{
  int rc = derm_cli_run_subcommand ("models", subcommands, G_N_ELEMENTS (subcommands),
                                    _("Usage: dermalens-cli models SUBCOMMAND [--db PATH] [--json] "
                                      "[OPTIONS...]\n\nThe registry of model versions the window "
                                      "uses.\n\nSubcommands:\n"), argc, argv);
  g_clear_pointer (&opt_db, g_free);
  return rc;
}
