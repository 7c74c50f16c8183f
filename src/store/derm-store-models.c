/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-models.c: the model registry: registering a trained
 * classifier or segmenter version with its file, checksum, metrics, settings
 * and provenance, listing and reading versions, making one the active
 * version of its kind, and deleting an inactive one. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-store-private.h"

void
derm_model_version_free (DermModelVersion *m)
{
  if (m == NULL)
    return;
  g_free (m->architecture);
  g_free (m->file_path);
  g_free (m->sha256);
  g_free (m->metrics_json);
  g_free (m->settings_json);
  g_free (m->provenance);
  g_free (m);
}

#define MODEL_COLUMNS "id, kind, architecture, file_path, sha256, metrics_json, settings_json," \
                      " provenance, parent_id, created, active"

static DermModelVersion *
model_from_row (StoreStmt *stmt)
{
  DermModelVersion *m = g_new0 (DermModelVersion, 1);
  m->id = sqlite3_column_int64 (stmt, 0);
  m->kind = MAX (derm_model_kind_from_string ((const char *) sqlite3_column_text (stmt, 1)), 0);
  m->architecture = _derm_store_column_dup (stmt, 2);
  m->file_path = _derm_store_column_dup (stmt, 3);
  m->sha256 = _derm_store_column_dup (stmt, 4);
  m->metrics_json = _derm_store_column_dup (stmt, 5);
  m->settings_json = _derm_store_column_dup (stmt, 6);
  m->provenance = _derm_store_column_dup (stmt, 7);
  m->parent_id = sqlite3_column_int64 (stmt, 8);
  m->created = sqlite3_column_int64 (stmt, 9);
  m->active = sqlite3_column_int (stmt, 10) != 0;
  return m;
}

gint64
derm_store_register_model (DermStore *store, const DermModelVersion *m, GError **error)
{
  g_return_val_if_fail (m != NULL, 0);
  if (derm_model_kind_to_string (m->kind) == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("A model is a classifier or a segmenter."));
      return 0;
    }
  if (!_derm_store_check_text (m->architecture, _("model architecture"), TRUE, error)
      || !_derm_store_check_text (m->file_path, _("model file path"), TRUE, error)
      || !_derm_store_check_text (m->sha256, _("model file SHA-256"), TRUE, error)
      || !_derm_store_check_text (m->metrics_json, _("model metrics"), FALSE, error)
      || !_derm_store_check_text (m->settings_json, _("model settings"), FALSE, error)
      || !_derm_store_check_text (m->provenance, _("model provenance"), FALSE, error))
    return 0;
  if (m->parent_id != 0)
    {
      g_autoptr(DermModelVersion) parent = derm_store_get_model (store, m->parent_id, error);
      if (parent == NULL)
        return 0;
    }
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "INSERT INTO models (kind, architecture, file_path, sha256, metrics_json, settings_json,"
    " provenance, parent_id, created, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", error);
  if (stmt == NULL)
    return 0;
  _derm_store_bind_text (stmt, 1, derm_model_kind_to_string (m->kind));
  _derm_store_bind_text (stmt, 2, m->architecture);
  _derm_store_bind_text (stmt, 3, m->file_path);
  _derm_store_bind_text (stmt, 4, m->sha256);
  _derm_store_bind_text (stmt, 5, m->metrics_json);
  _derm_store_bind_text (stmt, 6, m->settings_json);
  _derm_store_bind_text (stmt, 7, m->provenance);
  if (m->parent_id != 0)
    sqlite3_bind_int64 (stmt, 8, m->parent_id);
  sqlite3_bind_int64 (stmt, 9, m->created > 0 ? m->created : _derm_store_now_seconds ());
  if (!_derm_store_step_done (store, stmt, error, _("Could not register the model")))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

GPtrArray *
derm_store_list_models (DermStore *store, int kind, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " MODEL_COLUMNS " FROM models WHERE ?1 IS NULL OR kind = ?1"
    " ORDER BY created DESC, id DESC", error);
  if (stmt == NULL)
    return NULL;
  if (kind >= 0)
    _derm_store_bind_text (stmt, 1, derm_model_kind_to_string (kind));
  g_autoptr(GPtrArray) out =
    g_ptr_array_new_with_free_func ((GDestroyNotify) derm_model_version_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (out, model_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      _derm_store_set_error (store, error, _("Could not read the model registry"));
      return NULL;
    }
  return g_steal_pointer (&out);
}

DermModelVersion *
derm_store_get_model (DermStore *store, gint64 id, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " MODEL_COLUMNS " FROM models WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return model_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                 _("There is no model version %" G_GINT64_FORMAT "."), id);
  else
    _derm_store_set_error (store, error, _("Could not read the model registry"));
  return NULL;
}

DermModelVersion *
derm_store_get_active_model (DermStore *store, DermModelKind kind, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " MODEL_COLUMNS " FROM models WHERE kind = ? AND active = 1", error);
  if (stmt == NULL)
    return NULL;
  _derm_store_bind_text (stmt, 1, derm_model_kind_to_string (kind));
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return model_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                 _("No %s model is active."), derm_model_kind_to_string (kind));
  else
    _derm_store_set_error (store, error, _("Could not read the model registry"));
  return NULL;
}

gboolean
derm_store_activate_model (DermStore *store, gint64 id, GError **error)
{
  if (!_derm_store_begin (store, error))
    return FALSE;
  g_autoptr(DermModelVersion) m = derm_store_get_model (store, id, error);
  if (m == NULL)
    goto fail;
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      "UPDATE models SET active = 0 WHERE kind = ? AND active = 1", error);
    if (stmt == NULL)
      goto fail;
    _derm_store_bind_text (stmt, 1, derm_model_kind_to_string (m->kind));
    if (!_derm_store_step_done (store, stmt, error, _("Could not activate the model")))
      goto fail;
  }
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      "UPDATE models SET active = 1 WHERE id = ?", error);
    if (stmt == NULL)
      goto fail;
    sqlite3_bind_int64 (stmt, 1, id);
    if (!_derm_store_step_done (store, stmt, error, _("Could not activate the model")))
      goto fail;
  }
  return _derm_store_commit (store, error);

fail:
  _derm_store_rollback (store);
  return FALSE;
}

gboolean
derm_store_delete_model (DermStore *store, gint64 id, GError **error)
{
  if (!_derm_store_begin (store, error))
    return FALSE;
  g_autoptr(DermModelVersion) m = derm_store_get_model (store, id, error);
  if (m == NULL)
    goto fail;
  if (m->active)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Model version %" G_GINT64_FORMAT " is the active %s: activate another "
                     "version before deleting it."), id, derm_model_kind_to_string (m->kind));
      goto fail;
    }
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, "DELETE FROM models WHERE id = ?", error);
    if (stmt == NULL)
      goto fail;
    sqlite3_bind_int64 (stmt, 1, id);
    if (!_derm_store_step_done (store, stmt, error, _("Could not delete the model version")))
      goto fail;
  }
  return _derm_store_commit (store, error);

fail:
  _derm_store_rollback (store);
  return FALSE;
}
