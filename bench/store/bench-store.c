/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-store: builds a case database of N cases (default 100,000) and
 * times, as a median of many runs, the two queries the UI waits on:
 * a filtered, sorted page of 50 cases, and a lesion's timeline. Prints the
 * query plans so a missing index shows.
 *
 *   bench-store [--cases N] [--runs R] [--keep DIR] [--no-analyze]
 *
 * The plans printed are those of the SQL the store runs for each page and
 * count. --no-analyze leaves out ANALYZE, as in a user's database (the store
 * never runs it), to check that the plans do not depend on statistics.
 *
 * Rows are inserted directly with SQL (through the store's own schema and
 * migrations); image files are not written: the queries never read them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "derm-store-private.h"

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* This thread's CPU time in ms: on a loaded machine the wall time also
 * counts the time other processes held the cores. */
static double
cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
exec_or_die (sqlite3 *db, const char *sql)
{
  char *msg = NULL;
  if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
    g_error ("%s: %s", sql, msg);
}

static void
build (DermStore *s, int n_cases, gboolean analyze)
{
  static const char * const sites[] = { "back", "face", "trunk", "lower extremity",
                                        "upper extremity", "abdomen", "chest", "scalp" };
  sqlite3 *db = s->db;
  GRand *rng = g_rand_new_with_seed (42);
  exec_or_die (db, "BEGIN");
  sqlite3_stmt *p, *l, *i, *a, *n;
  sqlite3_prepare_v2 (db, "INSERT INTO patients (identifier, birth_year, sex, created) VALUES (?, ?, ?, 0)", -1, &p, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO lesions (patient_id, body_site, label, created) VALUES (?, ?, ?, 0)", -1, &l, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO images (lesion_id, captured, sha256, width, height, original_name, file_name)"
                          " VALUES (?, ?, ?, 600, 450, 'x.jpg', ?)", -1, &i, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO analyses (image_id, model_info, p_mel, p_nv, p_bcc, p_akiec, p_bkl, p_df,"
                          " p_vasc, predicted, malignant_risk, created) VALUES (?, 'bench', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                     -1, &a, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO annotations (image_id, diagnosis, dx_type, notes, created)"
                          " VALUES (?, ?, 'histo', ?, 0)", -1, &n, NULL);
  int cases = 0, patient = 0;
  gint64 t0 = 1500000000;
  while (cases < n_cases)
    {
      char ident[32];
      g_snprintf (ident, sizeof ident, "P%06d", ++patient);
      sqlite3_bind_text (p, 1, ident, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int (p, 2, 1930 + g_rand_int_range (rng, 0, 80));
      sqlite3_bind_text (p, 3, g_rand_boolean (rng) ? "male" : "female", -1, SQLITE_STATIC);
      sqlite3_step (p);
      sqlite3_reset (p);
      gint64 pid = sqlite3_last_insert_rowid (db);
      int n_lesions = g_rand_int_range (rng, 1, 4);
      for (int k = 0; k < n_lesions && cases < n_cases; k++)
        {
          sqlite3_bind_int64 (l, 1, pid);
          sqlite3_bind_text (l, 2, sites[g_rand_int_range (rng, 0, G_N_ELEMENTS (sites))], -1, SQLITE_STATIC);
          sqlite3_bind_text (l, 3, "mole", -1, SQLITE_STATIC);
          sqlite3_step (l);
          sqlite3_reset (l);
          gint64 lid = sqlite3_last_insert_rowid (db);
          int visits = g_rand_int_range (rng, 1, 5);
          for (int v = 0; v < visits && cases < n_cases; v++, cases++)
            {
              char sha[65], file[70];
              g_snprintf (sha, sizeof sha, "%064x", cases);
              g_snprintf (file, sizeof file, "%s.jpg", sha);
              sqlite3_bind_int64 (i, 1, lid);
              sqlite3_bind_int64 (i, 2, t0 + g_rand_int_range (rng, 0, 5 * 365 * 86400));
              sqlite3_bind_text (i, 3, sha, -1, SQLITE_TRANSIENT);
              sqlite3_bind_text (i, 4, file, -1, SQLITE_TRANSIENT);
              sqlite3_step (i);
              sqlite3_reset (i);
              gint64 iid = sqlite3_last_insert_rowid (db);
              float probs[DERM_N_CLASSES], sum = 0;
              for (int c = 0; c < DERM_N_CLASSES; c++)
                sum += probs[c] = (float) g_rand_double (rng) * (c == 1 ? 4.f : 1.f);
              int top = 0;
              for (int c = 0; c < DERM_N_CLASSES; c++)
                {
                  probs[c] /= sum;
                  if (probs[c] > probs[top])
                    top = c;
                }
              sqlite3_bind_int64 (a, 1, iid);
              for (int c = 0; c < DERM_N_CLASSES; c++)
                sqlite3_bind_double (a, 2 + c, probs[c]);
              sqlite3_bind_int (a, 9, top);
              sqlite3_bind_double (a, 10, derm_class_malignant_risk (probs));
              sqlite3_step (a);
              sqlite3_reset (a);
              if (g_rand_int_range (rng, 0, 10) < 3)
                {
                  sqlite3_bind_int64 (n, 1, iid);
                  sqlite3_bind_int (n, 2, top);
                  sqlite3_bind_text (n, 3, g_rand_boolean (rng) ? "histology confirmed" : "follow-up 6 months",
                                     -1, SQLITE_STATIC);
                  sqlite3_step (n);
                  sqlite3_reset (n);
                }
            }
        }
    }
  exec_or_die (db, "COMMIT");
  if (analyze)
    exec_or_die (db, "ANALYZE");
  sqlite3_finalize (p);
  sqlite3_finalize (l);
  sqlite3_finalize (i);
  sqlite3_finalize (a);
  sqlite3_finalize (n);
  g_rand_free (rng);
}

static void
print_plan (DermStore *s, const char *sql)
{
  if (sql == NULL)
    return;
  sqlite3_stmt *st = NULL;
  g_autofree char *explain = g_strconcat ("EXPLAIN QUERY PLAN ", sql, NULL);
  if (sqlite3_prepare_v2 (s->db, explain, -1, &st, NULL) != SQLITE_OK)
    {
      printf ("  (plan: %s)\n", sqlite3_errmsg (s->db));
      return;
    }
  while (sqlite3_step (st) == SQLITE_ROW)
    printf ("  %s\n", sqlite3_column_text (st, 3));
  sqlite3_finalize (st);
}

typedef struct {
  const char *name;
  DermCaseQuery q;
  gboolean total;
} PageCase;

int
main (int argc, char **argv)
{
  int n_cases = 100000, runs = 200;
  gboolean no_analyze = FALSE;
  g_autofree char *keep = NULL;
  GOptionEntry entries[] = {
    { "cases", 0, 0, G_OPTION_ARG_INT, &n_cases, "Cases in the database", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Timed runs per query", "R" },
    { "keep", 0, 0, G_OPTION_ARG_FILENAME, &keep, "Build in DIR and keep it", "DIR" },
    { "no-analyze", 0, 0, G_OPTION_ARG_NONE, &no_analyze, "Leave out ANALYZE (no planner statistics)", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  g_autofree char *dir = keep ? g_strdup (keep) : g_dir_make_tmp ("bench-store-XXXXXX", &error);
  g_autoptr(DermStore) s = derm_store_open (dir, &error);
  if (s == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  gint64 t = g_get_monotonic_time ();
  build (s, n_cases, !no_analyze);
  printf ("built %d cases in %.1f s (%s)\n", n_cases, (g_get_monotonic_time () - t) / 1e6,
          derm_store_get_db_path (s));

  PageCase pages[9];
  derm_case_query_init (&pages[0].q);
  pages[0].name = "page 3 of 50, site=back, risk>=0.3, newest first";
  pages[0].q.body_site = "back";
  pages[0].q.min_risk = 0.3;
  pages[0].q.offset = 100;
  pages[0].q.limit = 50;
  pages[0].total = FALSE;
  pages[1] = pages[0];
  pages[1].name = "the same with the total count";
  pages[1].total = TRUE;
  derm_case_query_init (&pages[2].q);
  pages[2].name = "page 1 of 50, predicted=MEL, unconfirmed, highest risk first";
  pages[2].q.predicted = DERM_CLASS_MEL;
  pages[2].q.confirmed = DERM_CONFIRMED_NO;
  pages[2].q.sort = DERM_CASE_SORT_RISK_DESC;
  pages[2].q.limit = 50;
  pages[2].total = FALSE;
  pages[3] = pages[2];
  pages[3].name = "the same with the total count";
  pages[3].total = TRUE;
  derm_case_query_init (&pages[4].q);
  pages[4].name = "page 1 of 50, text 'histology', 2019, newest first";
  pages[4].q.text = "histology";
  pages[4].q.captured_from = 1546300800;
  pages[4].q.captured_to = 1577836800;
  pages[4].q.limit = 50;
  pages[4].total = FALSE;
  derm_case_query_init (&pages[5].q);
  pages[5].name = "page 1 of 50, text 'histology', all dates, with total";
  pages[5].q.text = "histology";
  pages[5].q.limit = 50;
  pages[5].total = TRUE;
  derm_case_query_init (&pages[6].q);
  pages[6].name = "confirmed cases: 1 row and the total (training)";
  pages[6].q.confirmed = DERM_CONFIRMED_YES;
  pages[6].q.limit = 1;
  pages[6].total = TRUE;
  derm_case_query_init (&pages[7].q);
  pages[7].name = "page 21 of 50, predicted=NV (most cases), newest first";
  pages[7].q.predicted = DERM_CLASS_NV;
  pages[7].q.offset = 1000;
  pages[7].q.limit = 50;
  pages[7].total = FALSE;
  derm_case_query_init (&pages[8].q);
  pages[8].name = "page 1 of 50, site=back, highest risk first";
  pages[8].q.body_site = "back";
  pages[8].q.sort = DERM_CASE_SORT_RISK_DESC;
  pages[8].q.limit = 50;
  pages[8].total = FALSE;

  double *ms = g_new (double, runs);
  double *cpu = g_new (double, runs);
  for (guint c = 0; c < G_N_ELEMENTS (pages); c++)
    {
      guint len = 0;
      gint64 total_seen = 0;
      for (int r = 0; r < runs; r++)
        {
          gint64 total = 0;
          gint64 t0 = g_get_monotonic_time ();
          double c0 = cpu_ms ();
          g_autoptr(GPtrArray) out = derm_store_list_cases (s, &pages[c].q,
                                                            pages[c].total ? &total : NULL, &error);
          ms[r] = (g_get_monotonic_time () - t0) / 1e3;
          cpu[r] = cpu_ms () - c0;
          g_assert_nonnull (out);
          len = out->len;
          total_seen = total;
        }
      qsort (ms, runs, sizeof *ms, cmp_double);
      qsort (cpu, runs, sizeof *cpu, cmp_double);
      printf ("list %-60s %2u rows  median %.2f ms  p90 %.2f ms  (cpu median %.2f ms)\n",
              pages[c].name, len, ms[runs / 2], ms[runs * 9 / 10], cpu[runs / 2]);
      if (pages[c].total)
        printf ("     (total %" G_GINT64_FORMAT ")\n", total_seen);
    }

  GRand *rng = g_rand_new_with_seed (7);
  gint64 n_lesions = 0;
  {
    sqlite3_stmt *st;
    sqlite3_prepare_v2 (s->db, "SELECT max(id) FROM lesions", -1, &st, NULL);
    sqlite3_step (st);
    n_lesions = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
  }
  guint visits = 0;
  for (int r = 0; r < runs; r++)
    {
      gint64 lesion = g_rand_int_range (rng, 1, (gint32) n_lesions + 1);
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GPtrArray) tl = derm_store_lesion_timeline (s, lesion, &error);
      ms[r] = (g_get_monotonic_time () - t0) / 1e3;
      g_assert_nonnull (tl);
      visits += tl->len;
    }
  qsort (ms, runs, sizeof *ms, cmp_double);
  printf ("timeline of a random lesion (%.1f visits on average)%*s median %.2f ms  p90 %.2f ms\n",
          (double) visits / runs, 24, "", ms[runs / 2], ms[runs * 9 / 10]);
  g_rand_free (rng);
  g_free (ms);
  g_free (cpu);

  printf ("\n");
  for (guint c = 0; c < G_N_ELEMENTS (pages); c++)
    {
      g_autofree char *page_sql = _derm_store_case_list_sql (&pages[c].q, FALSE, NULL);
      printf ("query plan, %s:\n", pages[c].name);
      print_plan (s, page_sql);
      if (pages[c].total)
        {
          g_autofree char *count_sql = _derm_store_case_list_sql (&pages[c].q, TRUE, NULL);
          printf ("query plan, %s (count):\n", pages[c].name);
          print_plan (s, count_sql);
        }
    }
  printf ("query plan, timeline:\n");
  print_plan (s, "SELECT i.id FROM images i LEFT JOIN analyses a ON a.id = i.analysis_id"
                 " WHERE i.lesion_id = 5 ORDER BY i.captured, i.id");

  if (keep == NULL)
    {
      g_autofree char *cmd = NULL;
      derm_store_close (g_steal_pointer (&s));
      cmd = g_strdup_printf ("rm -rf '%s'", dir);
      if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", dir);
    }
  return 0;
}
