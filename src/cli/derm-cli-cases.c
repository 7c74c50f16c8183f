/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli-cases.c: dermalens-cli cases list|show|add|export|import|delete */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-cli.h"
#include "derm-store.h"

static char *opt_db;
static gboolean opt_json;

static const GOptionEntry common_entries[] = {
  { "db", 0, 0, G_OPTION_ARG_FILENAME, &opt_db,
    N_("Case database file or data folder (default: the user's)"), N_("PATH") },
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

static gboolean
parse (GOptionContext *ctx, const char *summary, int *argc, char ***argv)
{
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, common_entries, GETTEXT_PACKAGE);
  return derm_cli_parse (ctx, argc, argv);
}

static gboolean
parse_id (const char *s, gint64 *out)
{
  char *end = NULL;
  gint64 v = g_ascii_strtoll (s, &end, 10);
  if (end == s || *end != '\0' || v <= 0)
    {
      derm_cli_error (_("“%s” is not a case number"), s);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

/* Accepts YYYY-MM-DD (midnight UTC) or a full ISO 8601 time. 0 on error. */
static gint64
parse_date (const char *s)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601 (s, utc);
  if (dt == NULL)
    {
      int y, m, d;
      char extra;
      if (sscanf (s, "%d-%d-%d%c", &y, &m, &d, &extra) == 3)
        dt = g_date_time_new_utc (y, m, d, 0, 0, 0);
    }
  return dt ? g_date_time_to_unix (dt) : 0;
}

static char *
format_time (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M") : g_strdup ("?");
}

/* ---- JSON ----------------------------------------------------------------- */

static void
add_time (JsonBuilder *b, const char *name, gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);
  g_autofree char *iso = dt ? g_date_time_format_iso8601 (dt) : NULL;
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, iso ? iso : "");
}

static void
add_analysis_json (JsonBuilder *b, const DermAnalysis *a)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, a->id);
  json_builder_set_member_name (b, "predicted");
  json_builder_add_string_value (b, derm_class_code (a->predicted));
  json_builder_set_member_name (b, "malignant_risk");
  json_builder_add_double_value (b, a->malignant_risk);
  json_builder_set_member_name (b, "probabilities");
  json_builder_begin_object (b);
  for (int k = 0; k < DERM_N_CLASSES; k++)
    {
      json_builder_set_member_name (b, derm_class_code (k));
      json_builder_add_double_value (b, a->probs[k]);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "model_info");
  json_builder_add_string_value (b, a->model_info);
  json_builder_set_member_name (b, "has_mask");
  json_builder_add_boolean_value (b, a->mask_png != NULL);
  if (a->measurements_json)
    {
      g_autoptr(JsonNode) m = json_from_string (a->measurements_json, NULL);
      if (m)
        {
          json_builder_set_member_name (b, "measurements");
          json_builder_add_value (b, g_steal_pointer (&m));
        }
    }
  add_time (b, "created", a->created);
  json_builder_end_object (b);
}

static void
add_case_json (JsonBuilder *b, const DermCase *c)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, c->image->id);
  json_builder_set_member_name (b, "patient");
  json_builder_add_string_value (b, c->patient->identifier);
  json_builder_set_member_name (b, "patient_id");
  json_builder_add_int_value (b, c->patient->id);
  json_builder_set_member_name (b, "birth_year");
  if (c->patient->birth_year)
    json_builder_add_int_value (b, c->patient->birth_year);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "sex");
  json_builder_add_string_value (b, derm_sex_to_string (c->patient->sex));
  json_builder_set_member_name (b, "lesion_id");
  json_builder_add_int_value (b, c->lesion->id);
  json_builder_set_member_name (b, "body_site");
  json_builder_add_string_value (b, c->lesion->body_site);
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b, c->lesion->label);
  add_time (b, "captured", c->image->captured);
  json_builder_set_member_name (b, "image");
  json_builder_add_string_value (b, c->image->path);
  json_builder_set_member_name (b, "original_name");
  json_builder_add_string_value (b, c->image->original_name);
  json_builder_set_member_name (b, "sha256");
  json_builder_add_string_value (b, c->image->sha256);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, c->image->width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, c->image->height);
  json_builder_set_member_name (b, "analysis");
  if (c->analysis)
    add_analysis_json (b, c->analysis);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "annotation");
  if (c->annotation)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "diagnosis");
      json_builder_add_string_value (b, derm_class_code (c->annotation->diagnosis));
      json_builder_set_member_name (b, "dx_type");
      json_builder_add_string_value (b, derm_dx_type_to_string (c->annotation->dx_type));
      json_builder_set_member_name (b, "notes");
      json_builder_add_string_value (b, c->annotation->notes);
      json_builder_set_member_name (b, "has_mask");
      json_builder_add_boolean_value (b, c->annotation->mask_png != NULL);
      add_time (b, "created", c->annotation->created);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  if (c->analyses)
    {
      json_builder_set_member_name (b, "analyses");
      json_builder_begin_array (b);
      for (guint k = 0; k < c->analyses->len; k++)
        add_analysis_json (b, c->analyses->pdata[k]);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
}

static void
print_case_line (const DermCase *c)
{
  g_autofree char *when = format_time (c->image->captured);
  char risk[32] = "-";
  if (c->analysis)
    g_snprintf (risk, sizeof risk, "%s %.2f", derm_class_code (c->analysis->predicted),
                c->analysis->malignant_risk);
  printf ("%-7" G_GINT64_FORMAT " %-16s %-18s %-16s %-12s %s\n", c->image->id, when,
          c->patient->identifier, c->lesion->body_site, risk,
          c->annotation ? derm_class_code (c->annotation->diagnosis) : "-");
}

/* ---- Filters shared by list and export ------------------------------------- */

typedef struct {
  char *patient, *site, *predicted, *diagnosis, *from, *to, *text, *sort;
  double min_risk;
  gboolean confirmed, unconfirmed;
  int limit, offset;
} FilterOpts;

static void
add_filter_entries (GOptionContext *ctx, FilterOpts *o)
{
  const GOptionEntry entries[] = {
    { "patient", 0, 0, G_OPTION_ARG_STRING, &o->patient, N_("Patient identifier"), N_("ID") },
    { "site", 0, 0, G_OPTION_ARG_STRING, &o->site, N_("Body site (HAM10000 localization)"), N_("SITE") },
    { "predicted", 0, 0, G_OPTION_ARG_STRING, &o->predicted, N_("Predicted class (MEL, NV, ...)"), N_("CLASS") },
    { "diagnosis", 0, 0, G_OPTION_ARG_STRING, &o->diagnosis, N_("Confirmed diagnosis"), N_("CLASS") },
    { "min-risk", 0, 0, G_OPTION_ARG_DOUBLE, &o->min_risk, N_("Malignant risk at least R (0..1)"), N_("R") },
    { "confirmed", 0, 0, G_OPTION_ARG_NONE, &o->confirmed, N_("Only confirmed cases"), NULL },
    { "unconfirmed", 0, 0, G_OPTION_ARG_NONE, &o->unconfirmed, N_("Only unconfirmed cases"), NULL },
    { "from", 0, 0, G_OPTION_ARG_STRING, &o->from, N_("Captured on or after DATE"), N_("DATE") },
    { "to", 0, 0, G_OPTION_ARG_STRING, &o->to, N_("Captured before DATE"), N_("DATE") },
    { "text", 0, 0, G_OPTION_ARG_STRING, &o->text, N_("Text in the notes or lesion label"), N_("TEXT") },
    { "sort", 0, 0, G_OPTION_ARG_STRING, &o->sort, N_("newest, oldest, risk or patient"), N_("ORDER") },
    { "limit", 0, 0, G_OPTION_ARG_INT, &o->limit, N_("At most N cases"), N_("N") },
    { "offset", 0, 0, G_OPTION_ARG_INT, &o->offset, N_("Skip the first N cases"), N_("N") },
    { NULL }
  };
  GOptionGroup *g = g_option_group_new ("filters", _("Filters:"), _("Show the filter options"), NULL, NULL);
  g_option_group_add_entries (g, entries);
  g_option_group_set_translation_domain (g, GETTEXT_PACKAGE);
  g_option_context_add_group (ctx, g);
  o->min_risk = -1;
}

static void
filter_opts_clear (FilterOpts *o)
{
  g_free (o->patient);
  g_free (o->site);
  g_free (o->predicted);
  g_free (o->diagnosis);
  g_free (o->from);
  g_free (o->to);
  g_free (o->text);
  g_free (o->sort);
}

static gboolean
class_option (const char *s, int *out)
{
  if (s == NULL)
    return TRUE;
  *out = derm_class_from_code (s);
  if (*out < 0)
    derm_cli_error (_("unknown class “%s”: use MEL, NV, BCC, AKIEC, BKL, DF or VASC"), s);
  return *out >= 0;
}

static gboolean
build_query (FilterOpts *o, DermCaseQuery *q)
{
  derm_case_query_init (q);
  q->patient_identifier = o->patient;
  q->body_site = o->site;
  q->text = o->text;
  q->min_risk = o->min_risk;
  if (!class_option (o->predicted, &q->predicted) || !class_option (o->diagnosis, &q->diagnosis))
    return FALSE;
  if (o->confirmed && o->unconfirmed)
    {
      derm_cli_error (_("--confirmed and --unconfirmed exclude each other"));
      return FALSE;
    }
  q->confirmed = o->confirmed ? DERM_CONFIRMED_YES : o->unconfirmed ? DERM_CONFIRMED_NO : DERM_CONFIRMED_ANY;
  if (o->from && (q->captured_from = parse_date (o->from)) == 0)
    {
      derm_cli_error (_("“%s” is not a date (YYYY-MM-DD)"), o->from);
      return FALSE;
    }
  if (o->to && (q->captured_to = parse_date (o->to)) == 0)
    {
      derm_cli_error (_("“%s” is not a date (YYYY-MM-DD)"), o->to);
      return FALSE;
    }
  if (o->limit < 0 || o->offset < 0)
    {
      derm_cli_error (_("--limit and --offset cannot be negative"));
      return FALSE;
    }
  q->limit = o->limit;
  q->offset = o->offset;
  if (o->sort == NULL || strcmp (o->sort, "newest") == 0)
    q->sort = DERM_CASE_SORT_CAPTURED_DESC;
  else if (strcmp (o->sort, "oldest") == 0)
    q->sort = DERM_CASE_SORT_CAPTURED_ASC;
  else if (strcmp (o->sort, "risk") == 0)
    q->sort = DERM_CASE_SORT_RISK_DESC;
  else if (strcmp (o->sort, "patient") == 0)
    q->sort = DERM_CASE_SORT_PATIENT;
  else
    {
      derm_cli_error (_("unknown sort order “%s”: use newest, oldest, risk or patient"), o->sort);
      return FALSE;
    }
  return TRUE;
}

/* ---- Subcommands ------------------------------------------------------------ */

static int
run_list (const DermCaseQuery *q)
{
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  gint64 total = 0;
  g_autoptr(GPtrArray) cases = derm_store_list_cases (s, q, &total, &error);
  if (cases == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "total");
      json_builder_add_int_value (b, total);
      json_builder_set_member_name (b, "cases");
      json_builder_begin_array (b);
      for (guint k = 0; k < cases->len; k++)
        add_case_json (b, cases->pdata[k]);
      json_builder_end_array (b);
      json_builder_end_object (b);
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }
  printf ("%-7s %-16s %-18s %-16s %-12s %s\n", _("CASE"), _("CAPTURED"), _("PATIENT"),
          _("SITE"), _("PREDICTED"), _("CONFIRMED"));
  for (guint k = 0; k < cases->len; k++)
    print_case_line (cases->pdata[k]);
  printf (_("%u of %lld cases\n"), cases->len, (long long) total);
  return DERM_CLI_EXIT_OK;
}

static int
cases_list (int argc, char **argv)
{
  FilterOpts o = { 0 };
  g_autoptr(GOptionContext) ctx = g_option_context_new (NULL);
  add_filter_entries (ctx, &o);
  int rc = DERM_CLI_EXIT_USAGE;
  DermCaseQuery q;
  if (!parse (ctx, _("List cases, newest first, with filters."), &argc, &argv) || !build_query (&o, &q))
    ;
  else if (argc > 1)
    derm_cli_error (_("list takes no arguments"));
  else
    rc = run_list (&q);
  filter_opts_clear (&o);
  return rc;
}

static int
cases_show (int argc, char **argv)
{
  gboolean timeline = FALSE;
  const GOptionEntry entries[] = {
    { "timeline", 0, 0, G_OPTION_ARG_NONE, &timeline, N_("Show every visit of the case's lesion"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (_("CASE"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  gint64 id;
  if (!parse (ctx, _("Show one case with its analyses."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc != 2)
    {
      derm_cli_error (_("show takes one case number"));
      return DERM_CLI_EXIT_USAGE;
    }
  if (!parse_id (argv[1], &id))
    return DERM_CLI_EXIT_USAGE;
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermCase) c = derm_store_get_case (s, id, &error);
  g_autoptr(GPtrArray) tl = NULL;
  if (c && timeline)
    tl = derm_store_lesion_timeline (s, c->lesion->id, &error);
  if (c == NULL || (timeline && tl == NULL))
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      if (tl)
        {
          json_builder_begin_array (b);
          for (guint k = 0; k < tl->len; k++)
            add_case_json (b, tl->pdata[k]);
          json_builder_end_array (b);
        }
      else
        add_case_json (b, c);
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }
  GPtrArray *show = tl;
  g_autoptr(GPtrArray) one = NULL;
  if (show == NULL)
    {
      one = g_ptr_array_new ();
      g_ptr_array_add (one, c);
      show = one;
    }
  for (guint k = 0; k < show->len; k++)
    {
      DermCase *v = show->pdata[k];
      g_autofree char *when = format_time (v->image->captured);
      printf (_("Case %lld: patient %s, lesion %lld (%s%s%s), captured %s\n"),
              (long long) v->image->id, v->patient->identifier, (long long) v->lesion->id, v->lesion->body_site,
              *v->lesion->label ? ", " : "", v->lesion->label, when);
      printf (_("  image: %s (%dx%d, from %s)\n"), v->image->path, v->image->width, v->image->height,
              v->image->original_name);
      for (guint j = 0; j < v->analyses->len; j++)
        {
          DermAnalysis *a = v->analyses->pdata[j];
          g_autofree char *at = format_time (a->created);
          printf (_("  analysis %s: %s, malignant risk %.2f"), at, derm_class_code (a->predicted),
                  a->malignant_risk);
          for (int n = 0; n < DERM_N_CLASSES; n++)
            printf (" %s=%.3f", derm_class_code (n), a->probs[n]);
          printf ("%s%s\n", *a->model_info ? "  " : "", a->model_info);
        }
      if (v->annotation)
        printf (_("  confirmed: %s (%s)%s%s\n"), derm_class_code (v->annotation->diagnosis),
                derm_dx_type_to_string (v->annotation->dx_type),
                *v->annotation->notes ? ": " : "", v->annotation->notes);
      else
        printf (_("  not confirmed\n"));
    }
  return DERM_CLI_EXIT_OK;
}

static int
cases_add (int argc, char **argv)
{
  g_autofree char *patient = NULL, *site = NULL, *label = NULL, *sex = NULL, *date = NULL;
  int birth_year = 0;
  gint64 lesion = 0;
  const GOptionEntry entries[] = {
    { "patient", 0, 0, G_OPTION_ARG_STRING, &patient, N_("Pseudonymous patient identifier (required)"), N_("ID") },
    { "birth-year", 0, 0, G_OPTION_ARG_INT, &birth_year, N_("Patient's birth year (new patients)"), N_("YEAR") },
    { "sex", 0, 0, G_OPTION_ARG_STRING, &sex, N_("male, female or unknown (new patients)"), N_("SEX") },
    { "lesion", 0, 0, G_OPTION_ARG_INT64, &lesion, N_("Add a visit to this existing lesion"), N_("N") },
    { "site", 0, 0, G_OPTION_ARG_STRING, &site, N_("Body site of a new lesion"), N_("SITE") },
    { "label", 0, 0, G_OPTION_ARG_STRING, &label, N_("Label of a new lesion"), N_("TEXT") },
    { "date", 0, 0, G_OPTION_ARG_STRING, &date, N_("Capture date (default: now)"), N_("DATE") },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (_("IMAGE"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!parse (ctx, _("Add a visit: the image is copied into the case database."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc != 2 || lesion < 0 || (lesion == 0 && (patient == NULL || site == NULL)))
    {
      derm_cli_error (_("add needs one IMAGE and --patient with --site, or --lesion"));
      return DERM_CLI_EXIT_USAGE;
    }
  int sx = sex ? derm_sex_from_string (sex) : DERM_SEX_UNKNOWN;
  if (sx < 0)
    {
      derm_cli_error (_("--sex is male, female or unknown"));
      return DERM_CLI_EXIT_USAGE;
    }
  gint64 captured = 0;
  if (date && (captured = parse_date (date)) == 0)
    {
      derm_cli_error (_("“%s” is not a date (YYYY-MM-DD)"), date);
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  if (lesion == 0)
    {
      gint64 pid = derm_store_ensure_patient (s, patient, birth_year, sx, &error);
      if (pid != 0)
        lesion = derm_store_add_lesion (s, pid, site, label, &error);
    }
  gint64 id = lesion ? derm_store_add_image (s, lesion, argv[1], captured, &error) : 0;
  if (id == 0)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"id\": %" G_GINT64_FORMAT ", \"lesion_id\": %" G_GINT64_FORMAT "}\n", id, lesion);
  else
    printf (_("Added case %lld (lesion %lld)\n"), (long long) id, (long long) lesion);
  return DERM_CLI_EXIT_OK;
}

static int
run_export (const DermCaseQuery *q, gboolean ham, const char *path)
{
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  gint64 n = ham ? derm_store_export_ham10000 (s, q, path, &error)
                 : derm_store_export_csv (s, q, path, &error);
  if (n < 0)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "exported");
      json_builder_add_int_value (b, n);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, path);
      json_builder_end_object (b);
      derm_cli_print_json (b);
    }
  else
    printf (_("Exported %lld cases to %s\n"), (long long) n, path);
  return DERM_CLI_EXIT_OK;
}

static int
cases_export (int argc, char **argv)
{
  FilterOpts o = { 0 };
  g_autofree char *format = NULL;
  const GOptionEntry entries[] = {
    { "format", 0, 0, G_OPTION_ARG_STRING, &format, N_("csv (default) or ham10000 (confirmed cases)"), N_("FORMAT") },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (_("OUTPUT"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  add_filter_entries (ctx, &o);
  int rc = DERM_CLI_EXIT_USAGE;
  DermCaseQuery q;
  gboolean ok = parse (ctx, _("Export cases as a CSV file, or confirmed cases as a HAM10000 folder."),
                       &argc, &argv) && build_query (&o, &q);
  gboolean ham = format && g_ascii_strcasecmp (format, "ham10000") == 0;
  if (ok && (argc != 2 || (format && !ham && g_ascii_strcasecmp (format, "csv") != 0)))
    derm_cli_error (_("export takes one OUTPUT path; --format is csv or ham10000"));
  else if (ok)
    rc = run_export (&q, ham, argv[1]);
  filter_opts_clear (&o);
  return rc;
}

static gboolean
import_progress (guint64 done, guint64 committed, guint64 total, gpointer user_data)
{
  if (isatty (fileno (stderr)) && (done % 100 == 0 || done == total))
    fprintf (stderr, "\r%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, done, total);
  return TRUE;
}

static int
cases_import (int argc, char **argv)
{
  int batch = 100;
  const GOptionEntry entries[] = {
    { "batch-size", 0, 0, G_OPTION_ARG_INT, &batch, N_("Rows per transaction (default 100)"), N_("N") },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (_("FOLDER"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!parse (ctx, _("Import a HAM10000 folder (metadata CSV, images, optional masks) as "
                     "confirmed cases. Running it again skips what is already there."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc != 2 || batch <= 0)
    {
      derm_cli_error (_("import takes one FOLDER and a positive --batch-size"));
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  gint64 n = derm_store_import_ham10000 (s, argv[1], batch, import_progress, NULL, &error);
  if (isatty (fileno (stderr)))
    fprintf (stderr, "\n");
  if (n < 0)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"imported\": %" G_GINT64_FORMAT "}\n", n);
  else
    printf (_("Imported %lld cases\n"), (long long) n);
  return DERM_CLI_EXIT_OK;
}

static int
cases_delete (int argc, char **argv)
{
  gboolean lesion = FALSE, patient = FALSE;
  const GOptionEntry entries[] = {
    { "lesion", 0, 0, G_OPTION_ARG_NONE, &lesion, N_("ID is a lesion: delete it with all its visits"), NULL },
    { "patient", 0, 0, G_OPTION_ARG_NONE, &patient, N_("ID is a patient identifier: delete everything of theirs"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (_("ID"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!parse (ctx, _("Delete a case (visit), a lesion or a patient, and stored images no longer used."),
              &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  gint64 id = 0;
  if (argc != 2 || (lesion && patient) || (!patient && !parse_id (argv[1], &id)))
    {
      derm_cli_error (_("delete takes one ID (a case number, or with --lesion a lesion number, "
                        "or with --patient an identifier)"));
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(DermStore) s = open_store ();
  if (s == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  if (patient)
    {
      g_autoptr(DermPatient) p = derm_store_find_patient (s, argv[1], &error);
      ok = p != NULL && derm_store_delete_patient (s, p->id, &error);
    }
  else if (lesion)
    ok = derm_store_delete_lesion (s, id, &error);
  else
    ok = derm_store_delete_image (s, id, &error);
  if (!ok)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (opt_json)
    printf ("{\"deleted\": true}\n");
  else
    printf (_("Deleted %s\n"), argv[1]);
  return DERM_CLI_EXIT_OK;
}

static const DermCliCommand subcommands[] = {
  { "list", N_("List cases with filters, sorted and paged"), cases_list },
  { "show", N_("Show a case, or its lesion's timeline"), cases_show },
  { "add", N_("Add a visit (copies the image in)"), cases_add },
  { "export", N_("Export as CSV or as a HAM10000 folder"), cases_export },
  { "import", N_("Import a HAM10000 folder"), cases_import },
  { "delete", N_("Delete a case, lesion or patient"), cases_delete },
};

int
derm_cli_cases (int argc, char **argv)
{
  int rc = derm_cli_run_subcommand ("cases", subcommands, G_N_ELEMENTS (subcommands),
                                    _("Usage: dermalens-cli cases SUBCOMMAND [--db PATH] [--json] "
                                      "[OPTIONS...]\n\nSubcommands:\n"), argc, argv);
  g_clear_pointer (&opt_db, g_free);
  return rc;
}
