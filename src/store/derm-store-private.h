/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-private.h: what the files of the case store share, and the
 * hooks its tests use (migration to an older schema). Not a public API. */
#pragma once

#include <sqlite3.h>

#include "derm-store.h"

G_BEGIN_DECLS

struct _DermStore {
  sqlite3 *db;
  char *db_path;
  char *images_dir;
  GHashTable *stmts;   /* SQL text -> sqlite3_stmt *, prepared once */
};

/* A cached statement, borrowed from the store. g_autoptr(StoreStmt) resets it
 * and clears its bindings when it goes out of scope, so no read transaction
 * stays open (it would pin the WAL) and no value leaks into the next use. */
typedef sqlite3_stmt StoreStmt;
void _derm_store_stmt_release (StoreStmt *stmt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StoreStmt, _derm_store_stmt_release)

/* Returns: (transfer none) the prepared statement for @sql, reset. */
StoreStmt *_derm_store_prepare (DermStore *store, const char *sql, GError **error);
/* Sets @error from the connection's last error: @what says what failed,
 * in words for the user ("Could not save the analysis"). */
void _derm_store_set_error (DermStore *store, GError **error, const char *what);
void _derm_store_set_error_code (DermStore *store, int rc, GError **error, const char *what);
gboolean _derm_store_exec (DermStore *store, const char *sql, GError **error);
/* BEGIN IMMEDIATE (a writer takes its lock up front, so it waits on
 * busy_timeout instead of failing to upgrade a read lock), COMMIT, ROLLBACK. */
gboolean _derm_store_begin (DermStore *store, GError **error);
gboolean _derm_store_commit (DermStore *store, GError **error);
void     _derm_store_rollback (DermStore *store);

/* Binds a UTF-8 string, or NULL when @s is NULL. */
void _derm_store_bind_text (StoreStmt *stmt, int index, const char *s);
void _derm_store_bind_blob (StoreStmt *stmt, int index, GBytes *bytes);
/* Returns: (transfer full) the column as a string, NULL for SQL NULL. */
char *_derm_store_column_dup (StoreStmt *stmt, int col);
GBytes *_derm_store_column_bytes (StoreStmt *stmt, int col);
/* Runs a statement that returns no rows (or whose rows are ignored); on
 * failure sets @error from the connection, @what as for _derm_store_set_error. */
gboolean _derm_store_step_done (DermStore *store, StoreStmt *stmt, GError **error,
                                const char *what);
/* Runs a one-row statement outside the cache (a PRAGMA) and reads its first
 * column into @value, left as it was when there is no row. */
gboolean _derm_store_pragma_int (DermStore *store, const char *sql, int *value,
                                 GError **error);

/* The current time in Unix seconds, for a row's created column. */
gint64 _derm_store_now_seconds (void);
/* Checks a string argument: valid UTF-8, and present and not empty when
 * @required. @what names it in the message ("patient identifier"). */
gboolean _derm_store_check_text (const char *s, const char *what, gboolean required,
                                 GError **error);
/* Creates @dir (and its parents) with user-only permissions when absent. */
gboolean _derm_store_ensure_private_dir (const char *dir, GError **error);

/* derm-store-schema.c: applies the missing migrations up to schema @target,
 * each in its own write transaction. */
gboolean _derm_store_migrate (DermStore *store, int target, GError **error);

/* derm-store-files.c: copies the image at @file_path into the images
 * directory (content addressed), fsync'ing it when @sync. Fills @sha256 (65
 * bytes), @file_name (the name inside images/), width and height.
 * @created_new is TRUE when the file was not there before (so a failed
 * insert may remove it). */
gboolean _derm_store_copy_image_in (DermStore *store, const char *file_path,
                                    gboolean sync, char sha256[65],
                                    char **file_name, int *width, int *height,
                                    gboolean *created_new, GError **error);
/* derm-store-cases.c: inserts an images row (inside the caller's transaction). */
gint64 _derm_store_insert_image (DermStore *store, gint64 lesion_id, gint64 captured,
                                 const char *sha256, const char *file_name,
                                 int width, int height, const char *original_name,
                                 GError **error);
/* derm-store-files.c: removes @file_name from images/ when no visit
 * references it any more. */
void _derm_store_remove_if_unreferenced (DermStore *store, const char *file_name);

/* Bench and tests: the SQL derm_store_list_cases () runs for @query's page
 * (@for_count FALSE) or its total count, to show its EXPLAIN QUERY PLAN.
 * Returns: (transfer full) the SQL, or NULL with @error for an invalid query. */
char *_derm_store_case_list_sql (const DermCaseQuery *query, gboolean for_count,
                                 GError **error);

/* Tests: opens @location migrated to exactly @version (1 .. current), so a
 * test can fill an old schema and then open it with derm_store_open (). */
DermStore *_derm_store_open_at_version (const char *location, int version, GError **error);

G_END_DECLS
