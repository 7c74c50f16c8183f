/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store.c: the case database's connection: opening and closing,
 * the per-connection PRAGMAs, the integrity check, SQLite errors mapped to
 * DermError with a hint for the user, and the statement and argument
 * helpers the other files share (derm-store-private.h). The schema is in
 * derm-store-schema.c, patients to annotations in derm-store-cases.c, the
 * image files in derm-store-files.c, the model registry in
 * derm-store-models.c, queries in derm-store-query.c, export and import in
 * derm-store-io.c. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "derm-error.h"
#include "derm-store-private.h"

/* ---- SQLite helpers ---------------------------------------------------- */

static int
error_code_for (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DERM_ERROR_FORMAT;
    case SQLITE_NOMEM:
      return DERM_ERROR_OUT_OF_MEMORY;
    default:
      return DERM_ERROR_DATABASE;
    }
}

static const char *
hint_for (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return _("The file is damaged or is not a Dermalens case database; it was left as it is. "
               "Restore it from a backup or choose another database.");
    case SQLITE_FULL:
      return _("The disk is full: free some space and try again. "
               "Cases saved before are kept.");
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return _("Check that the database and its folder exist and are writable by you.");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return _("Another program kept the database busy for too long; try again.");
    case SQLITE_IOERR:
      return _("The disk reported an error (it may be full or failing).");
    default:
      return NULL;
    }
}

void
_derm_store_set_error_code (DermStore *store, int rc, GError **error, const char *what)
{
  const char *msg = store && store->db ? sqlite3_errmsg (store->db) : sqlite3_errstr (rc);
  const char *hint = hint_for (rc);
  g_set_error (error, DERM_ERROR, error_code_for (rc), "%s: %s.%s%s", what, msg,
               hint ? " " : "", hint ? hint : "");
}

void
_derm_store_set_error (DermStore *store, GError **error, const char *what)
{
  _derm_store_set_error_code (store, sqlite3_extended_errcode (store->db), error, what);
}

void
_derm_store_stmt_release (StoreStmt *stmt)
{
  if (stmt == NULL)
    return;
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

StoreStmt *
_derm_store_prepare (DermStore *store, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (store->stmts, sql);
  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  int rc = sqlite3_prepare_v3 (store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      _derm_store_set_error_code (store, rc, error, _("Could not read the case database"));
      return NULL;
    }
  g_hash_table_insert (store->stmts, g_strdup (sql), stmt);
  return stmt;
}

gboolean
_derm_store_exec (DermStore *store, const char *sql, GError **error)
{
  int rc = sqlite3_exec (store->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      _derm_store_set_error_code (store, rc, error, _("The case database reported an error"));
      return FALSE;
    }
  return TRUE;
}

gboolean
_derm_store_begin (DermStore *store, GError **error)
{
  int rc = sqlite3_exec (store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      _derm_store_set_error_code (store, rc, error, _("Could not start writing to the case database"));
      return FALSE;
    }
  return TRUE;
}

gboolean
_derm_store_commit (DermStore *store, GError **error)
{
  int rc = sqlite3_exec (store->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      _derm_store_set_error_code (store, rc, error, _("Could not save to the case database"));
      _derm_store_rollback (store);
      return FALSE;
    }
  return TRUE;
}

void
_derm_store_rollback (DermStore *store)
{
  if (!sqlite3_get_autocommit (store->db))
    sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
}

void
_derm_store_bind_text (StoreStmt *stmt, int index, const char *s)
{
  if (s == NULL)
    sqlite3_bind_null (stmt, index);
  else
    sqlite3_bind_text (stmt, index, s, -1, SQLITE_TRANSIENT);
}

void
_derm_store_bind_blob (StoreStmt *stmt, int index, GBytes *bytes)
{
  if (bytes == NULL)
    {
      sqlite3_bind_null (stmt, index);
      return;
    }
  gsize len;
  const void *data = g_bytes_get_data (bytes, &len);
  sqlite3_bind_blob64 (stmt, index, data ? data : "", len, SQLITE_TRANSIENT);
}

char *
_derm_store_column_dup (StoreStmt *stmt, int col)
{
  if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
    return NULL;
  return g_strdup ((const char *) sqlite3_column_text (stmt, col));
}

GBytes *
_derm_store_column_bytes (StoreStmt *stmt, int col)
{
  if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
    return NULL;
  const void *data = sqlite3_column_blob (stmt, col);
  int len = sqlite3_column_bytes (stmt, col);
  return g_bytes_new (data, len);
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
gboolean
_derm_store_step_done (DermStore *store, StoreStmt *stmt, GError **error, const char *what)
{
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ;
  if (rc != SQLITE_DONE)
    {
      _derm_store_set_error_code (store, sqlite3_extended_errcode (store->db), error, what);
      return FALSE;
    }
  return TRUE;
}

/* ---- Arguments and times ------------------------------------------------ */

gint64
_derm_store_now_seconds (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

gboolean
_derm_store_check_text (const char *s, const char *what, gboolean required, GError **error)
{
  if (s == NULL && !required)
    return TRUE;
  if (s == NULL || (required && *s == '\0'))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("The %s is missing."), what);
      return FALSE;
    }
  if (!g_utf8_validate (s, -1, NULL))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("The %s is not valid UTF-8 text."), what);
      return FALSE;
    }
  return TRUE;
}

/* ---- Opening ------------------------------------------------------------ */

gboolean
_derm_store_pragma_int (DermStore *store, const char *sql, int *value, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        {
          *value = sqlite3_column_int (stmt, 0);
          rc = SQLITE_OK;
        }
      else if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    }
  if (rc != SQLITE_OK)
    {
      g_autofree char *what = g_strdup_printf (_("Could not open the case database %s"),
                                               store->db_path);
      _derm_store_set_error_code (store, sqlite3_extended_errcode (store->db), error, what);
    }
  sqlite3_finalize (stmt);
  return rc == SQLITE_OK;
}

/* Sets a PRAGMA and reads it back: SQLite ignores PRAGMAs it cannot apply
 * without reporting an error (journal_mode answers the mode it kept). */
static gboolean
set_pragma (DermStore *store, const char *set_sql, const char *get_sql,
            int expected, GError **error)
{
  int value = -1;
  if (!_derm_store_pragma_int (store, set_sql, &value, error))
    return FALSE;
  if (!_derm_store_pragma_int (store, get_sql, &value, error))
    return FALSE;
  if (value != expected)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_DATABASE,
                   _("Could not configure the case database %s (%s gave %d, not %d)."),
                   store->db_path, get_sql, value, expected);
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_wal (DermStore *store, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
  gboolean ok = FALSE;
  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ok = g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") == 0;
  if (rc != SQLITE_ROW)
    {
      g_autofree char *what = g_strdup_printf (_("Could not open the case database %s"),
                                               store->db_path);
      _derm_store_set_error_code (store, sqlite3_extended_errcode (store->db), error, what);
    }
  else if (!ok)
    g_set_error (error, DERM_ERROR, DERM_ERROR_DATABASE,
                 _("Could not switch the case database %s to write-ahead logging "
                   "(the file system may not support it)."), store->db_path);
  sqlite3_finalize (stmt);
  return ok;
}

/* Page cache per connection, in KiB when negative (SQLite's convention). */
#define DERM_STORE_CACHE_KIB -32768

static char *
make_absolute (const char *path)
{
  if (g_path_is_absolute (path))
    return g_strdup (path);
  g_autofree char *cwd = g_get_current_dir ();
  return g_build_filename (cwd, path, NULL);
}

gboolean
_derm_store_ensure_private_dir (const char *dir, GError **error)
{
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   _("Could not create the folder %s: %s."), dir, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static void
finalize_stmt (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static void
close_db (DermStore *store)
{
  g_clear_pointer (&store->stmts, g_hash_table_destroy);
  if (store->db)
    sqlite3_close_v2 (store->db);
  store->db = NULL;
}

void
derm_store_close (DermStore *store)
{
  if (store == NULL)
    return;
  close_db (store);
  g_free (store->db_path);
  g_free (store->images_dir);
  g_free (store);
}

static DermStore *
open_store (const char *location, int target, GError **error)
{
  g_autoptr(DermStore) store = g_new0 (DermStore, 1);
  g_autofree char *data_dir = NULL;

  if (location == NULL)
    {
      data_dir = g_build_filename (g_get_user_data_dir (), "dermalens", NULL);
      store->db_path = g_build_filename (data_dir, DERM_STORE_DB_NAME, NULL);
    }
  else if (g_file_test (location, G_FILE_TEST_IS_DIR))
    {
      data_dir = make_absolute (location);
      store->db_path = g_build_filename (data_dir, DERM_STORE_DB_NAME, NULL);
    }
  else
    {
      store->db_path = make_absolute (location);
      data_dir = g_path_get_dirname (store->db_path);
    }
  store->images_dir = g_build_filename (data_dir, DERM_STORE_IMAGES_DIR, NULL);
  store->stmts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        finalize_stmt);

  if (!_derm_store_ensure_private_dir (data_dir, error))
    return NULL;

  /* Created by us with 0600, so SQLite's -wal and -shm (which copy the
   * database's mode) are user-only too. */
  if (!g_file_test (store->db_path, G_FILE_TEST_EXISTS))
    {
      int fd = g_open (store->db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 && errno != EEXIST)
        {
          int saved = errno;
          g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                       _("Could not create the case database %s: %s."),
                       store->db_path, g_strerror (saved));
          return NULL;
        }
      if (fd >= 0)
        close (fd);
    }

  int rc = sqlite3_open_v2 (store->db_path, &store->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      g_autofree char *what = g_strdup_printf (_("Could not open the case database %s"),
                                               store->db_path);
      _derm_store_set_error_code (store, rc, error, what);
      return NULL;
    }
  sqlite3_extended_result_codes (store->db, 1);
  if (sqlite3_db_readonly (store->db, "main") == 1)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_DATABASE,
                   _("The case database %s is read-only. Check that it and its folder are "
                     "writable by you."), store->db_path);
      return NULL;
    }

  int value = -1;
  if (!_derm_store_pragma_int (store,
                               "PRAGMA busy_timeout = " G_STRINGIFY (DERM_STORE_BUSY_TIMEOUT_MS),
                               &value, error))
    return NULL;
  if (value != DERM_STORE_BUSY_TIMEOUT_MS)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_DATABASE,
                   _("Could not configure the case database %s (busy_timeout)."), store->db_path);
      return NULL;
    }

  /* The version is read before anything could write: a database from a
   * newer Dermalens, or a file that is not a database, stays byte for byte
   * as it was (journal_mode = WAL would rewrite the header). */
  int version = 0;
  if (!_derm_store_pragma_int (store, "PRAGMA user_version", &version, error))
    return NULL;
  /* user_version alone does not read the schema; a damaged or foreign file
   * is caught here, still before any write. */
  int n_objects = 0;
  if (!_derm_store_pragma_int (store, "SELECT count(*) FROM sqlite_schema", &n_objects, error))
    return NULL;
  if (version > derm_store_schema_version ())
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_UNSUPPORTED,
                   _("The case database %s was written by a newer version of Dermalens "
                     "(schema %d; this version knows up to %d). It was left untouched: "
                     "open it with the newer Dermalens."),
                   store->db_path, version, derm_store_schema_version ());
      return NULL;
    }
  if (version == 0 && n_objects > 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s is an SQLite database but not a Dermalens case database; "
                     "it was left untouched."), store->db_path);
      return NULL;
    }

  if (!set_pragma (store, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1, error))
    return NULL;
  if (!set_wal (store, error))
    return NULL;
  /* NORMAL in WAL mode: a commit survives a crash of the process; a power
   * loss may lose the last commits but never corrupts the file. */
  if (!set_pragma (store, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous", 1, error))
    return NULL;
  /* SQLite's default page cache is 2 MiB; 100,000 cases take about 65 MiB,
   * and a count or a text search that reads a few MiB of it then goes to the
   * kernel page by page (bench/store: 22 ms -> 15 ms for a text search with
   * its total). The cache grows only as pages are read. */
  if (!set_pragma (store, "PRAGMA cache_size = " G_STRINGIFY (DERM_STORE_CACHE_KIB),
                   "PRAGMA cache_size", DERM_STORE_CACHE_KIB, error))
    return NULL;

  if (target > 0 && !_derm_store_migrate (store, target, error))
    return NULL;

  if (!_derm_store_ensure_private_dir (store->images_dir, error))
    return NULL;
  return g_steal_pointer (&store);
}

DermStore *
derm_store_open (const char *location, GError **error)
{
  return open_store (location, derm_store_schema_version (), error);
}

DermStore *
_derm_store_open_at_version (const char *location, int version, GError **error)
{
  g_return_val_if_fail (version >= 1 && version <= derm_store_schema_version (), NULL);
  return open_store (location, version, error);
}

const char *
derm_store_get_db_path (DermStore *store)
{
  return store->db_path;
}

const char *
derm_store_get_images_dir (DermStore *store)
{
  return store->images_dir;
}

gboolean
derm_store_check_integrity (DermStore *store, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, "PRAGMA integrity_check", error);
  if (stmt == NULL)
    return FALSE;
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      _derm_store_set_error (store, error, _("Could not check the case database"));
      return FALSE;
    }
  const char *first = (const char *) sqlite3_column_text (stmt, 0);
  if (g_strcmp0 (first, "ok") != 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("The case database %s is damaged (%s). Restore it from a backup."),
                   store->db_path, first ? first : "?");
      return FALSE;
    }
  return TRUE;
}
