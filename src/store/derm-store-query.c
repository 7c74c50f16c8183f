/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-query.c: listing cases with filters, one case, a lesion's
 * timeline. Every value is a bound parameter; only fixed SQL fragments are
 * concatenated. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-store-private.h"

void
derm_case_query_init (DermCaseQuery *q)
{
  memset (q, 0, sizeof *q);
  q->predicted = -1;
  q->diagnosis = -1;
  q->min_risk = -1.0;
  q->confirmed = DERM_CONFIRMED_ANY;
  q->sort = DERM_CASE_SORT_CAPTURED_DESC;
}

/* The columns of a case row; masks only when asked for. */
#define CASE_SELECT(MASKS_A, MASKS_N)                                              \
  "SELECT p.id, p.identifier, p.birth_year, p.sex, p.created,"                    \
  " l.id, l.patient_id, l.body_site, l.label, l.created,"                          \
  " i.id, i.lesion_id, i.captured, i.sha256, i.width, i.height, i.original_name,"  \
  " i.file_name,"                                                                  \
  " a.id, a.classifier_id, a.segmenter_id, a.model_info,"                          \
  " a.p_mel, a.p_nv, a.p_bcc, a.p_akiec, a.p_bkl, a.p_df, a.p_vasc,"               \
  " a.predicted, a.malignant_risk, " MASKS_A ", a.measurements_json, a.created,"   \
  " n.id, n.diagnosis, n.dx_type, " MASKS_N ", n.notes, n.created"

#define CASE_FROM                                                                  \
  " FROM images i JOIN lesions l ON l.id = i.lesion_id"                            \
  CASE_FROM_REST

/* CROSS JOIN keeps images as the outer loop (SQLite's documented hint), so a
 * page sorted by capture time or risk walks an index of images in that order
 * (images_captured, images_site, images_risk, images_predicted) and stops
 * after offset + limit matches, instead of filtering every lesion and
 * sorting: median 28 ms -> 10 ms for a page of 50 among 100,000 cases by
 * capture time, 80 ms -> under 1 ms by risk (bench/store). The filters read
 * only images' own columns (schema 4 copies the lesion's site and the
 * latest analysis and annotation onto it), except the text filter. */
#define CASE_FROM_BY_INDEX                                                      \
  " FROM images i CROSS JOIN lesions l ON l.id = i.lesion_id"                      \
  CASE_FROM_REST

#define CASE_FROM_REST                                                             \
  " JOIN patients p ON p.id = l.patient_id"                                        \
  " LEFT JOIN analyses a ON a.id = i.analysis_id"                                  \
  " LEFT JOIN annotations n ON n.id = i.annotation_id"

enum {
  C_P = 0, C_L = 5, C_I = 10, C_A = 18, C_N = 34,
};

static DermAnalysis *
analysis_from_columns (StoreStmt *stmt, int c, gint64 image_id)
{
  DermAnalysis *a = g_new0 (DermAnalysis, 1);
  a->id = sqlite3_column_int64 (stmt, c);
  a->image_id = image_id;
  a->classifier_id = sqlite3_column_int64 (stmt, c + 1);
  a->segmenter_id = sqlite3_column_int64 (stmt, c + 2);
  a->model_info = _derm_store_column_dup (stmt, c + 3);
  for (int k = 0; k < DERM_N_CLASSES; k++)
    a->probs[k] = (float) sqlite3_column_double (stmt, c + 4 + k);
  a->predicted = sqlite3_column_int (stmt, c + 11);
  a->malignant_risk = sqlite3_column_double (stmt, c + 12);
  a->mask_png = _derm_store_column_bytes (stmt, c + 13);
  a->measurements_json = _derm_store_column_dup (stmt, c + 14);
  a->created = sqlite3_column_int64 (stmt, c + 15);
  return a;
}

static DermCase *
case_from_row (DermStore *store, StoreStmt *stmt)
{
  DermCase *c = g_new0 (DermCase, 1);

  DermPatient *p = c->patient = g_new0 (DermPatient, 1);
  p->id = sqlite3_column_int64 (stmt, C_P);
  p->identifier = _derm_store_column_dup (stmt, C_P + 1);
  p->birth_year = sqlite3_column_int (stmt, C_P + 2);
  p->sex = MAX (derm_sex_from_string ((const char *) sqlite3_column_text (stmt, C_P + 3)), 0);
  p->created = sqlite3_column_int64 (stmt, C_P + 4);

  DermLesion *l = c->lesion = g_new0 (DermLesion, 1);
  l->id = sqlite3_column_int64 (stmt, C_L);
  l->patient_id = sqlite3_column_int64 (stmt, C_L + 1);
  l->body_site = _derm_store_column_dup (stmt, C_L + 2);
  l->label = _derm_store_column_dup (stmt, C_L + 3);
  l->created = sqlite3_column_int64 (stmt, C_L + 4);

  DermStoredImage *i = c->image = g_new0 (DermStoredImage, 1);
  i->id = sqlite3_column_int64 (stmt, C_I);
  i->lesion_id = sqlite3_column_int64 (stmt, C_I + 1);
  i->captured = sqlite3_column_int64 (stmt, C_I + 2);
  i->sha256 = _derm_store_column_dup (stmt, C_I + 3);
  i->width = sqlite3_column_int (stmt, C_I + 4);
  i->height = sqlite3_column_int (stmt, C_I + 5);
  i->original_name = _derm_store_column_dup (stmt, C_I + 6);
  i->path = g_build_filename (store->images_dir,
                              (const char *) sqlite3_column_text (stmt, C_I + 7), NULL);

  if (sqlite3_column_type (stmt, C_A) != SQLITE_NULL)
    c->analysis = analysis_from_columns (stmt, C_A, i->id);

  if (sqlite3_column_type (stmt, C_N) != SQLITE_NULL)
    {
      DermAnnotation *n = c->annotation = g_new0 (DermAnnotation, 1);
      n->id = sqlite3_column_int64 (stmt, C_N);
      n->image_id = i->id;
      n->diagnosis = sqlite3_column_int (stmt, C_N + 1);
      n->dx_type = MAX (derm_dx_type_from_string ((const char *) sqlite3_column_text (stmt, C_N + 2)), 0);
      n->mask_png = _derm_store_column_bytes (stmt, C_N + 3);
      n->notes = _derm_store_column_dup (stmt, C_N + 4);
      n->created = sqlite3_column_int64 (stmt, C_N + 5);
    }
  return c;
}

/* LIKE with '\' as the escape character: the user's %, _ and \ are literal. */
static char *
like_pattern (const char *text)
{
  GString *s = g_string_new ("%");
  for (const char *p = text; *p; p++)
    {
      if (*p == '%' || *p == '_' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '%');
  return g_string_free (s, FALSE);
}

typedef struct {
  GString *where;
  /* Parameters in order: each is an int64, a double or a string. */
  GArray *kinds;   /* char: 'i', 'd', 's' */
  GArray *ints;
  GArray *doubles;
  GPtrArray *strings;
} Filter;

static void
filter_clear (Filter *f)
{
  g_string_free (f->where, TRUE);
  g_array_unref (f->kinds);
  g_array_unref (f->ints);
  g_array_unref (f->doubles);
  g_ptr_array_unref (f->strings);
}

static void
add_cond (Filter *f, const char *cond)
{
  g_string_append (f->where, f->where->len ? " AND " : " WHERE ");
  g_string_append (f->where, cond);
}

static void
add_int (Filter *f, gint64 v)
{
  char k = 'i';
  g_array_append_val (f->kinds, k);
  g_array_append_val (f->ints, v);
}

static void
add_double (Filter *f, double v)
{
  char k = 'd';
  g_array_append_val (f->kinds, k);
  g_array_append_val (f->doubles, v);
}

static void
add_string (Filter *f, char *v /* (transfer full) */)
{
  char k = 's';
  g_array_append_val (f->kinds, k);
  g_ptr_array_add (f->strings, v);
}

/* The WHERE clause of @q. For a count (@for_count), every condition reads
 * images alone or an IN (subquery), so the count needs no join: the usual
 * filters are then answered by one covering index (see schema step 4), and
 * the text filter matches notes and labels once each, then finds their
 * images by index, instead of joining every image to its lesion and note. */
/* Whether a page walks an index of images in its sort order (CROSS JOIN). */
static gboolean
page_walks_index (const DermCaseQuery *q)
{
  return q->sort != DERM_CASE_SORT_PATIENT && q->patient_id <= 0
         && q->patient_identifier == NULL && q->lesion_id <= 0;
}

/* The column @col of images in a condition; prefixed with "+" when the
 * condition must not pick the index. A page of a limited size must walk an
 * index in its sort order and stop: SQLite would otherwise take an index for
 * an equality (all 80,000 "predicted = NV" cases) and sort every match
 * (350 ms instead of 5 ms for a page, bench data). Only the site
 * (images_site) and the capture time keep the capture order, and only the
 * class and the risk (images_predicted, images_risk) keep the risk order. */
static const char *
image_col (const DermCaseQuery *q, gboolean for_count, const char *col)
{
  if (for_count || q->limit == 0 || !page_walks_index (q))
    return "";
  gboolean by_risk = q->sort == DERM_CASE_SORT_RISK_DESC;
  gboolean keeps_order = by_risk ? (g_str_equal (col, "predicted") || g_str_equal (col, "risk"))
                                 : (g_str_equal (col, "body_site") || g_str_equal (col, "captured"));
  return keeps_order ? "" : "+";
}

static void
add_image_cond (Filter *f, const DermCaseQuery *q, gboolean for_count,
                const char *col, const char *op)
{
  g_autofree char *cond = g_strdup_printf ("%si.%s %s", image_col (q, for_count, col), col, op);
  add_cond (f, cond);
}

static gboolean
build_filter (const DermCaseQuery *q, gboolean for_count, Filter *f, GError **error)
{
  f->where = g_string_new (NULL);
  f->kinds = g_array_new (FALSE, FALSE, 1);
  f->ints = g_array_new (FALSE, FALSE, sizeof (gint64));
  f->doubles = g_array_new (FALSE, FALSE, sizeof (double));
  f->strings = g_ptr_array_new_with_free_func (g_free);

  if (q->patient_id > 0)
    {
      add_cond (f, for_count ? "i.lesion_id IN (SELECT id FROM lesions WHERE patient_id = ?)"
                             : "l.patient_id = ?");
      add_int (f, q->patient_id);
    }
  if (q->patient_identifier)
    {
      add_cond (f, for_count ? "i.lesion_id IN (SELECT l.id FROM lesions l"
                               " JOIN patients p ON p.id = l.patient_id WHERE p.identifier = ?)"
                             : "p.identifier = ?");
      add_string (f, g_strdup (q->patient_identifier));
    }
  if (q->lesion_id > 0)
    {
      add_cond (f, "i.lesion_id = ?");
      add_int (f, q->lesion_id);
    }
  if (q->body_site)
    {
      if (!derm_body_site_is_valid (q->body_site))
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("“%s” is not a body site."), q->body_site);
          return FALSE;
        }
      add_image_cond (f, q, for_count, "body_site", "= ?");
      add_string (f, g_ascii_strdown (q->body_site, -1));
    }
  if (q->predicted >= 0)
    {
      if (q->predicted >= DERM_N_CLASSES)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("No such class: %d."), q->predicted);
          return FALSE;
        }
      add_image_cond (f, q, for_count, "predicted", "= ?");
      add_int (f, q->predicted);
    }
  if (q->diagnosis >= 0)
    {
      if (q->diagnosis >= DERM_N_CLASSES)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("No such class: %d."), q->diagnosis);
          return FALSE;
        }
      add_image_cond (f, q, for_count, "diagnosis", "= ?");
      add_int (f, q->diagnosis);
    }
  if (q->min_risk >= 0.0)
    {
      if (isnan (q->min_risk) || q->min_risk > 1.0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("The malignant-risk threshold must be between 0 and 1."));
          return FALSE;
        }
      add_image_cond (f, q, for_count, "risk", ">= ?");
      add_double (f, q->min_risk);
    }
  if (q->confirmed == DERM_CONFIRMED_YES)
    add_image_cond (f, q, for_count, "confirmed", "= 1");
  else if (q->confirmed == DERM_CONFIRMED_NO)
    add_image_cond (f, q, for_count, "confirmed", "= 0");
  if (q->captured_from > 0)
    {
      add_image_cond (f, q, for_count, "captured", ">= ?");
      add_int (f, q->captured_from);
    }
  if (q->captured_to > 0)
    {
      add_image_cond (f, q, for_count, "captured", "< ?");
      add_int (f, q->captured_to);
    }
  if (q->text && *q->text)
    {
      if (!g_utf8_validate (q->text, -1, NULL))
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("The search text is not valid UTF-8."));
          return FALSE;
        }
      add_cond (f, for_count
                   ? "(i.annotation_id IN (SELECT id FROM annotations WHERE notes LIKE ? ESCAPE '\\')"
                     " OR i.lesion_id IN (SELECT id FROM lesions WHERE label LIKE ? ESCAPE '\\'))"
                   : "(n.notes LIKE ? ESCAPE '\\' OR l.label LIKE ? ESCAPE '\\')");
      add_string (f, like_pattern (q->text));
      add_string (f, like_pattern (q->text));
    }
  return TRUE;
}

static void
bind_filter (StoreStmt *stmt, const Filter *f)
{
  guint ni = 0, nd = 0, ns = 0;
  for (guint k = 0; k < f->kinds->len; k++)
    {
      int index = (int) k + 1;
      switch (g_array_index (f->kinds, char, k))
        {
        case 'i':
          sqlite3_bind_int64 (stmt, index, g_array_index (f->ints, gint64, ni++));
          break;
        case 'd':
          sqlite3_bind_double (stmt, index, g_array_index (f->doubles, double, nd++));
          break;
        default:
          _derm_store_bind_text (stmt, index, f->strings->pdata[ns++]);
          break;
        }
    }
}

static const char *
order_by (DermCaseSort sort)
{
  switch (sort)
    {
    case DERM_CASE_SORT_CAPTURED_ASC:
      return " ORDER BY i.captured ASC, i.id ASC";
    case DERM_CASE_SORT_RISK_DESC:
      /* NULL (unanalysed) sorts below every number, so DESC puts it last. */
      return " ORDER BY i.risk DESC, i.captured DESC, i.id DESC";
    case DERM_CASE_SORT_PATIENT:
      return " ORDER BY p.identifier, i.captured DESC, i.id DESC";
    case DERM_CASE_SORT_CAPTURED_DESC:
    default:
      return " ORDER BY i.captured DESC, i.id DESC";
    }
}

static GPtrArray *
collect_cases (DermStore *store, StoreStmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) derm_case_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (out, case_from_row (store, stmt));
  if (rc != SQLITE_DONE)
    {
      _derm_store_set_error (store, error, _("Could not read the cases"));
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* Returns: (transfer full) the SQL of @query's page (@for_count FALSE:
 * parameters are the filter's, then LIMIT and OFFSET) or of its count; NULL
 * with @error for an invalid query. @f, when not NULL, receives the filter
 * (clear it with filter_clear ()). */
static char *
case_list_sql (const DermCaseQuery *query, gboolean for_count, Filter *f_out, GError **error)
{
  Filter f;
  if (!build_filter (query, for_count, &f, error))
    {
      filter_clear (&f);
      return NULL;
    }
  char *sql;
  if (for_count)
    sql = g_strconcat ("SELECT count(*) FROM images i", f.where->str, NULL);
  else
    {
      /* With a patient or lesion filter, starting from that lesion is faster. */
      gboolean by_index = page_walks_index (query);
      sql = g_strconcat (CASE_SELECT ("NULL", "NULL"), by_index ? CASE_FROM_BY_INDEX : CASE_FROM,
                         f.where->str, order_by (query->sort), " LIMIT ? OFFSET ?", NULL);
    }
  if (f_out != NULL)
    *f_out = f;
  else
    filter_clear (&f);
  return sql;
}

char *
_derm_store_case_list_sql (const DermCaseQuery *query, gboolean for_count, GError **error)
{
  return case_list_sql (query, for_count, NULL, error);
}

/* Sets *@total to the number of cases matching @query. */
static gboolean
count_cases (DermStore *store, const DermCaseQuery *query, gint64 *total, GError **error)
{
  Filter f;
  g_autofree char *sql = case_list_sql (query, TRUE, &f, error);
  if (sql == NULL)
    return FALSE;
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, sql, error);
  gboolean ok = stmt != NULL;
  if (ok)
    {
      bind_filter (stmt, &f);
      ok = sqlite3_step (stmt) == SQLITE_ROW;
      if (ok)
        *total = sqlite3_column_int64 (stmt, 0);
      else
        _derm_store_set_error (store, error, _("Could not count the cases"));
    }
  filter_clear (&f);
  return ok;
}

static GPtrArray *
page_cases (DermStore *store, const DermCaseQuery *query, GError **error)
{
  Filter f;
  g_autofree char *sql = case_list_sql (query, FALSE, &f, error);
  if (sql == NULL)
    return NULL;
  GPtrArray *out = NULL;
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, sql, error);
  if (stmt != NULL)
    {
      bind_filter (stmt, &f);
      int n = (int) f.kinds->len;
      sqlite3_bind_int64 (stmt, n + 1, query->limit > 0 ? (gint64) query->limit : -1);
      sqlite3_bind_int64 (stmt, n + 2, query->offset);
      out = collect_cases (store, stmt, error);
    }
  filter_clear (&f);
  return out;
}

GPtrArray *
derm_store_list_cases (DermStore *store, const DermCaseQuery *query,
                       gint64 *total, GError **error)
{
  DermCaseQuery any;
  if (query == NULL)
    {
      derm_case_query_init (&any);
      query = &any;
    }
  /* Refuse an invalid query before any transaction. */
  {
    Filter f;
    gboolean ok = build_filter (query, FALSE, &f, error);
    filter_clear (&f);
    if (!ok)
      return NULL;
  }

  g_autoptr(GPtrArray) out = NULL;
  /* A read transaction: the count and the page see the same snapshot. */
  gboolean own_txn = total != NULL && sqlite3_get_autocommit (store->db);
  if (own_txn && !_derm_store_exec (store, "BEGIN", error))
    return NULL;
  if (total == NULL || count_cases (store, query, total, error))
    out = page_cases (store, query, error);
  if (own_txn)
    _derm_store_exec (store, "COMMIT", NULL);
  return g_steal_pointer (&out);
}

static gboolean
load_analyses (DermStore *store, DermCase *c, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT a.id, a.classifier_id, a.segmenter_id, a.model_info,"
    " a.p_mel, a.p_nv, a.p_bcc, a.p_akiec, a.p_bkl, a.p_df, a.p_vasc,"
    " a.predicted, a.malignant_risk, a.mask_png, a.measurements_json, a.created"
    " FROM analyses a WHERE a.image_id = ? ORDER BY a.id", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, c->image->id);
  c->analyses = g_ptr_array_new_with_free_func ((GDestroyNotify) derm_analysis_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (c->analyses, analysis_from_columns (stmt, 0, c->image->id));
  if (rc != SQLITE_DONE)
    {
      _derm_store_set_error (store, error, _("Could not read the analyses"));
      return FALSE;
    }
  return TRUE;
}

DermCase *
derm_store_get_case (DermStore *store, gint64 image_id, GError **error)
{
  gboolean own_txn = sqlite3_get_autocommit (store->db);
  if (own_txn && !_derm_store_exec (store, "BEGIN", error))
    return NULL;
  g_autoptr(DermCase) c = NULL;
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      CASE_SELECT ("a.mask_png", "n.mask_png") CASE_FROM " WHERE i.id = ?", error);
    if (stmt == NULL)
      goto done;
    sqlite3_bind_int64 (stmt, 1, image_id);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
      c = case_from_row (store, stmt);
    else if (rc == SQLITE_DONE)
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("There is no case (image) %" G_GINT64_FORMAT "."), image_id);
    else
      _derm_store_set_error (store, error, _("Could not read the case"));
  }
  if (c != NULL && !load_analyses (store, c, error))
    g_clear_pointer (&c, derm_case_free);
done:
  if (own_txn)
    _derm_store_exec (store, "COMMIT", NULL);
  return g_steal_pointer (&c);
}

GPtrArray *
derm_store_lesion_timeline (DermStore *store, gint64 lesion_id, GError **error)
{
  gboolean own_txn = sqlite3_get_autocommit (store->db);
  if (own_txn && !_derm_store_exec (store, "BEGIN", error))
    return NULL;
  g_autoptr(GPtrArray) out = NULL;
  {
    g_autoptr(DermLesion) lesion = derm_store_get_lesion (store, lesion_id, error);
    if (lesion == NULL)
      goto done;
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      CASE_SELECT ("a.mask_png", "n.mask_png") CASE_FROM
      " WHERE i.lesion_id = ? ORDER BY i.captured, i.id", error);
    if (stmt == NULL)
      goto done;
    sqlite3_bind_int64 (stmt, 1, lesion_id);
    out = collect_cases (store, stmt, error);
  }
  for (guint k = 0; out && k < out->len; k++)
    if (!load_analyses (store, out->pdata[k], error))
      g_clear_pointer (&out, g_ptr_array_unref);
done:
  if (own_txn)
    _derm_store_exec (store, "COMMIT", NULL);
  return g_steal_pointer (&out);
}
