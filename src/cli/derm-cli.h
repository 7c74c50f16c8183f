/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli.h: dermalens-cli's commands. Each command parses its own options
 * with GOptionContext and returns the process exit status:
 * 0 success, 1 failure (message on stderr), 2 usage error (usage on stderr). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "derm-train-job.h"

G_BEGIN_DECLS

#define DERM_CLI_EXIT_OK 0
#define DERM_CLI_EXIT_FAILURE 1
#define DERM_CLI_EXIT_USAGE 2

typedef int (*DermCliCommandFunc) (int argc, char **argv);

typedef struct {
  const char *name;
  const char *summary;
  DermCliCommandFunc run;
} DermCliCommand;

/* Runs dermalens-cli with the full argv (argv[0] is the program). */
int derm_cli_main (int argc, char **argv);

/* Parses @argv with @context; on a bad option prints the message and the
 * usage on stderr and returns FALSE (the command then exits 2). */
gboolean derm_cli_parse (GOptionContext *context, int *argc, char ***argv);
/* The common case of derm_cli_parse(): a context with @parameter_string
 * (the arguments after the options in the usage line, or NULL), @summary
 * and @entries (translated with GETTEXT_PACKAGE). */
gboolean derm_cli_parse_options (const GOptionEntry *entries, const char *parameter_string,
                                 const char *summary, int *argc, char ***argv);
/* Prints what @builder built as indented JSON on stdout; nothing when it
 * built nothing. */
void derm_cli_print_json (JsonBuilder *builder);
/* A command made of subcommands ("cases list", "models import"): runs the
 * one argv[1] names with argv shifted by one, or prints @usage (translated
 * by the caller) and the table's summaries. Returns its exit status. */
int  derm_cli_run_subcommand (const char *command, const DermCliCommand *subcommands, gsize n,
                              const char *usage, int argc, char **argv);
/* Prints "dermalens-cli: MESSAGE" on stderr. */
void derm_cli_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Progress of a training or pretraining job on stderr (a bar on a
 * terminal, plain lines otherwise) and, with json_log, one JSON line per
 * event. */
typedef struct {
  gboolean tty;
  FILE *json_log;
  gboolean bar_shown;
  int last_plain_step;
} DermCliTrainUi;

void derm_cli_train_event_cb (const DermTrainEvent *e, gpointer ui);
/* Ends the bar and closes the JSON log. */
void derm_cli_train_ui_end (DermCliTrainUi *ui);
/* Ctrl-C sets the returned flag (a second one ends the process) until
 * derm_cli_cancel_end (). */
const volatile gint *derm_cli_cancel_begin (void);
void                 derm_cli_cancel_end (void);

/* "all" or some of "age,sex,site" as DermPatientField bits (at least one). */
gboolean derm_cli_context_fields (const char *s, unsigned *fields);

/* The options of a patient's context, for classify and analyze: a double
 * (NAN until given) and two strings. */
#define DERM_CLI_PATIENT_OPTIONS(age, sex, site)                                                   \
  { "age", 0, 0, G_OPTION_ARG_DOUBLE, &(age),                                                     \
    N_("The patient's age at capture, in years (a model with patient context)"), "YEARS" },      \
  { "sex", 0, 0, G_OPTION_ARG_STRING, &(sex), N_("male, female or unknown"), "SEX" },             \
  { "site", 0, 0, G_OPTION_ARG_STRING, &(site),                                                   \
    N_("The lesion's body site, in HAM10000's words (back, face, lower extremity, ...)"), "SITE" }

/* The commands (one file each). */
int derm_cli_info (int argc, char **argv);
int derm_cli_classify (int argc, char **argv);
int derm_cli_segment (int argc, char **argv);
int derm_cli_weights_info (int argc, char **argv);
int derm_cli_init_weights (int argc, char **argv);
int derm_cli_train (int argc, char **argv);
int derm_cli_evaluate (int argc, char **argv);
int derm_cli_pretrain (int argc, char **argv);
int derm_cli_refit_decision (int argc, char **argv);
int derm_cli_analyze (int argc, char **argv);
int derm_cli_cases (int argc, char **argv);
int derm_cli_models (int argc, char **argv);

G_END_DECLS
