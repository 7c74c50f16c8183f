/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-cases.c: the rows of a case: patients, lesions, visits
 * (images rows), analyses and annotations; adding and reading them,
 * deleting a visit, lesion or patient with what hangs on it, and freeing
 * their records. The image files themselves are derm-store-files.c's;
 * queries over whole cases are derm-store-query.c's. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-image.h"
#include "derm-store-private.h"

/* ---- Records ----------------------------------------------------------- */

void
derm_patient_free (DermPatient *p)
{
  if (p == NULL)
    return;
  g_free (p->identifier);
  g_free (p);
}

void
derm_lesion_free (DermLesion *l)
{
  if (l == NULL)
    return;
  g_free (l->body_site);
  g_free (l->label);
  g_free (l);
}

void
derm_stored_image_free (DermStoredImage *i)
{
  if (i == NULL)
    return;
  g_free (i->sha256);
  g_free (i->original_name);
  g_free (i->path);
  g_free (i);
}

void
derm_analysis_free (DermAnalysis *a)
{
  if (a == NULL)
    return;
  g_free (a->model_info);
  g_clear_pointer (&a->mask_png, g_bytes_unref);
  g_free (a->measurements_json);
  g_free (a);
}

void
derm_annotation_free (DermAnnotation *a)
{
  if (a == NULL)
    return;
  g_clear_pointer (&a->mask_png, g_bytes_unref);
  g_free (a->notes);
  g_free (a);
}

void
derm_case_free (DermCase *c)
{
  if (c == NULL)
    return;
  derm_patient_free (c->patient);
  derm_lesion_free (c->lesion);
  derm_stored_image_free (c->image);
  derm_analysis_free (c->analysis);
  derm_annotation_free (c->annotation);
  g_clear_pointer (&c->analyses, g_ptr_array_unref);
  g_free (c);
}

/* ---- Patients and lesions --------------------------------------------- */

static DermPatient *
patient_from_row (StoreStmt *stmt)
{
  DermPatient *p = g_new0 (DermPatient, 1);
  p->id = sqlite3_column_int64 (stmt, 0);
  p->identifier = _derm_store_column_dup (stmt, 1);
  p->birth_year = sqlite3_column_int (stmt, 2);
  p->sex = MAX (derm_sex_from_string ((const char *) sqlite3_column_text (stmt, 3)), 0);
  p->created = sqlite3_column_int64 (stmt, 4);
  return p;
}

#define PATIENT_COLUMNS "id, identifier, birth_year, sex, created"

static DermPatient *
get_patient_where (DermStore *store, const char *sql, gint64 id, const char *identifier,
                   GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, sql, error);
  if (stmt == NULL)
    return NULL;
  if (identifier)
    _derm_store_bind_text (stmt, 1, identifier);
  else
    sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return patient_from_row (stmt);
  if (rc == SQLITE_DONE)
    {
      if (identifier)
        g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                     _("There is no patient “%s”."), identifier);
      else
        g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                     _("There is no patient %lld."), (long long) id);
      return NULL;
    }
  _derm_store_set_error (store, error, _("Could not read a patient"));
  return NULL;
}

DermPatient *
derm_store_get_patient (DermStore *store, gint64 id, GError **error)
{
  return get_patient_where (store, "SELECT " PATIENT_COLUMNS " FROM patients WHERE id = ?",
                            id, NULL, error);
}

DermPatient *
derm_store_find_patient (DermStore *store, const char *identifier, GError **error)
{
  g_return_val_if_fail (identifier != NULL, NULL);
  return get_patient_where (store,
                            "SELECT " PATIENT_COLUMNS " FROM patients WHERE identifier = ?",
                            0, identifier, error);
}
/* Inside or outside a transaction: one INSERT OR IGNORE is atomic. */
gint64
derm_store_ensure_patient (DermStore *store, const char *identifier,
                           int birth_year, DermSex sex, GError **error)
{
  if (!_derm_store_check_text (identifier, _("patient identifier"), TRUE, error))
    return 0;
  if (birth_year != 0 && (birth_year < 1850 || birth_year > 2200))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("The birth year %d is not plausible."), birth_year);
      return 0;
    }
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      "INSERT OR IGNORE INTO patients (identifier, birth_year, sex, created) "
      "VALUES (?, ?, ?, ?)", error);
    if (stmt == NULL)
      return 0;
    _derm_store_bind_text (stmt, 1, identifier);
    if (birth_year != 0)
      sqlite3_bind_int (stmt, 2, birth_year);
    _derm_store_bind_text (stmt, 3, derm_sex_to_string (sex));
    sqlite3_bind_int64 (stmt, 4, _derm_store_now_seconds ());
    if (!_derm_store_step_done (store, stmt, error, _("Could not save the patient")))
      return 0;
  }
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT id FROM patients WHERE identifier = ?", error);
  if (stmt == NULL)
    return 0;
  _derm_store_bind_text (stmt, 1, identifier);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      _derm_store_set_error (store, error, _("Could not save the patient"));
      return 0;
    }
  return sqlite3_column_int64 (stmt, 0);
}

gint64
derm_store_add_lesion (DermStore *store, gint64 patient_id, const char *body_site,
                       const char *label, GError **error)
{
  if (!derm_body_site_is_valid (body_site))
    {
      g_autofree char *all = g_strjoinv (", ", (char **) derm_body_sites ());
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("“%s” is not a body site; use one of: %s."),
                   body_site ? body_site : "", all);
      return 0;
    }
  if (!_derm_store_check_text (label, _("lesion label"), FALSE, error))
    return 0;
  g_autoptr(DermPatient) p = derm_store_get_patient (store, patient_id, error);
  if (p == NULL)
    return 0;
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "INSERT INTO lesions (patient_id, body_site, label, created) VALUES (?, ?, ?, ?)", error);
  if (stmt == NULL)
    return 0;
  g_autofree char *site = g_ascii_strdown (body_site, -1);
  sqlite3_bind_int64 (stmt, 1, patient_id);
  _derm_store_bind_text (stmt, 2, site);
  _derm_store_bind_text (stmt, 3, label ? label : "");
  sqlite3_bind_int64 (stmt, 4, _derm_store_now_seconds ());
  if (!_derm_store_step_done (store, stmt, error, _("Could not save the lesion")))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

#define LESION_COLUMNS "id, patient_id, body_site, label, created"

static DermLesion *
lesion_from_row (StoreStmt *stmt)
{
  DermLesion *l = g_new0 (DermLesion, 1);
  l->id = sqlite3_column_int64 (stmt, 0);
  l->patient_id = sqlite3_column_int64 (stmt, 1);
  l->body_site = _derm_store_column_dup (stmt, 2);
  l->label = _derm_store_column_dup (stmt, 3);
  l->created = sqlite3_column_int64 (stmt, 4);
  return l;
}

DermLesion *
derm_store_get_lesion (DermStore *store, gint64 id, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " LESION_COLUMNS " FROM lesions WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return lesion_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                 _("There is no lesion %" G_GINT64_FORMAT "."), id);
  else
    _derm_store_set_error (store, error, _("Could not read a lesion"));
  return NULL;
}

GPtrArray *
derm_store_list_lesions (DermStore *store, gint64 patient_id, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " LESION_COLUMNS " FROM lesions WHERE patient_id = ? ORDER BY id", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, patient_id);
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) derm_lesion_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (out, lesion_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      _derm_store_set_error (store, error, _("Could not read the lesions"));
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* ---- Images ------------------------------------------------------------ */

gint64
_derm_store_insert_image (DermStore *store, gint64 lesion_id, gint64 captured,
                          const char *sha256, const char *file_name, int width, int height,
                          const char *original_name, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "INSERT INTO images (lesion_id, captured, sha256, width, height, original_name, file_name) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, lesion_id);
  sqlite3_bind_int64 (stmt, 2, captured);
  _derm_store_bind_text (stmt, 3, sha256);
  sqlite3_bind_int (stmt, 4, width);
  sqlite3_bind_int (stmt, 5, height);
  _derm_store_bind_text (stmt, 6, original_name);
  _derm_store_bind_text (stmt, 7, file_name);
  if (!_derm_store_step_done (store, stmt, error, _("Could not save the image")))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

gint64
derm_store_add_image (DermStore *store, gint64 lesion_id, const char *file_path,
                      gint64 captured, GError **error)
{
  g_return_val_if_fail (file_path != NULL, 0);
  g_autoptr(DermLesion) lesion = derm_store_get_lesion (store, lesion_id, error);
  if (lesion == NULL)
    return 0;

  char sha[65];
  g_autofree char *file_name = NULL;
  int w = 0, h = 0;
  gboolean created_new = FALSE;
  if (!_derm_store_copy_image_in (store, file_path, TRUE, sha, &file_name, &w, &h,
                                  &created_new, error))
    return 0;

  g_autofree char *base = g_path_get_basename (file_path);
  g_autofree char *original = g_utf8_make_valid (base, -1);
  gint64 id = 0;
  if (_derm_store_begin (store, error))
    {
      id = _derm_store_insert_image (store, lesion_id,
                                     captured > 0 ? captured : _derm_store_now_seconds (),
                                     sha, file_name, w, h, original, error);
      if (id == 0 || !_derm_store_commit (store, error))
        {
          _derm_store_rollback (store);
          id = 0;
        }
    }
  if (id == 0)
    {
      if (created_new)
        _derm_store_remove_if_unreferenced (store, file_name);
      return 0;
    }

  /* A concurrent delete may have removed the file between our copy and our
   * commit (it saw no reference yet): put it back. */
  g_autofree char *dest = g_build_filename (store->images_dir, file_name, NULL);
  if (!g_file_test (dest, G_FILE_TEST_EXISTS))
    {
      gboolean again;
      char sha2[65];
      g_autofree char *name2 = NULL;
      if (!_derm_store_copy_image_in (store, file_path, TRUE, sha2, &name2, &w, &h, &again, error))
        return 0;
    }
  return id;
}

#define IMAGE_COLUMNS "id, lesion_id, captured, sha256, width, height, original_name, file_name"

DermStoredImage *
derm_store_get_image (DermStore *store, gint64 id, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      DermStoredImage *i = g_new0 (DermStoredImage, 1);
      i->id = sqlite3_column_int64 (stmt, 0);
      i->lesion_id = sqlite3_column_int64 (stmt, 1);
      i->captured = sqlite3_column_int64 (stmt, 2);
      i->sha256 = _derm_store_column_dup (stmt, 3);
      i->width = sqlite3_column_int (stmt, 4);
      i->height = sqlite3_column_int (stmt, 5);
      i->original_name = _derm_store_column_dup (stmt, 6);
      i->path = g_build_filename (store->images_dir, (const char *) sqlite3_column_text (stmt, 7), NULL);
      return i;
    }
  if (rc == SQLITE_DONE)
    g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                 _("There is no case (image) %" G_GINT64_FORMAT "."), id);
  else
    _derm_store_set_error (store, error, _("Could not read an image"));
  return NULL;
}

/* ---- Analyses and annotations ------------------------------------------ */

static gboolean
check_png (GBytes *png, const char *what, GError **error)
{
  if (png == NULL)
    return TRUE;
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  if (data == NULL || derm_image_detect_format (data, len) != DERM_IMAGE_FORMAT_PNG)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("The %s is not a PNG image."), what);
      return FALSE;
    }
  return TRUE;
}

static gboolean
image_exists (DermStore *store, gint64 image_id, GError **error)
{
  g_autoptr(DermStoredImage) img = derm_store_get_image (store, image_id, error);
  return img != NULL;
}

gint64
derm_store_add_analysis (DermStore *store, const DermAnalysis *a, GError **error)
{
  g_return_val_if_fail (a != NULL, 0);
  if ((unsigned) a->predicted >= DERM_N_CLASSES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("The predicted class %d is not one of the 7 classes."), a->predicted);
      return 0;
    }
  for (int k = 0; k < DERM_N_CLASSES; k++)
    if (!(a->probs[k] >= 0.f && a->probs[k] <= 1.f))
      {
        g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                     _("The probability of %s is not between 0 and 1."), derm_class_code (k));
        return 0;
      }
  if (!check_png (a->mask_png, _("analysis mask"), error)
      || !_derm_store_check_text (a->model_info, _("model description"), FALSE, error)
      || !_derm_store_check_text (a->measurements_json, _("measurements"), FALSE, error)
      || !image_exists (store, a->image_id, error))
    return 0;

  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "INSERT INTO analyses (image_id, classifier_id, segmenter_id, model_info,"
    " p_mel, p_nv, p_bcc, p_akiec, p_bkl, p_df, p_vasc, predicted, malignant_risk,"
    " mask_png, measurements_json, created)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, a->image_id);
  if (a->classifier_id > 0)
    sqlite3_bind_int64 (stmt, 2, a->classifier_id);
  if (a->segmenter_id > 0)
    sqlite3_bind_int64 (stmt, 3, a->segmenter_id);
  _derm_store_bind_text (stmt, 4, a->model_info ? a->model_info : "");
  for (int k = 0; k < DERM_N_CLASSES; k++)
    sqlite3_bind_double (stmt, 5 + k, a->probs[k]);
  sqlite3_bind_int (stmt, 12, a->predicted);
  sqlite3_bind_double (stmt, 13, derm_class_malignant_risk (a->probs));
  _derm_store_bind_blob (stmt, 14, a->mask_png);
  _derm_store_bind_text (stmt, 15, a->measurements_json);
  sqlite3_bind_int64 (stmt, 16, a->created > 0 ? a->created : _derm_store_now_seconds ());
  /* One INSERT (and its trigger) is its own transaction. */
  if (!_derm_store_step_done (store, stmt, error, _("Could not save the analysis")))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

gint64
derm_store_add_annotation (DermStore *store, const DermAnnotation *a, GError **error)
{
  g_return_val_if_fail (a != NULL, 0);
  if ((unsigned) a->diagnosis >= DERM_N_CLASSES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("The diagnosis %d is not one of the 7 classes."), a->diagnosis);
      return 0;
    }
  if (derm_dx_type_to_string (a->dx_type) == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Say how the diagnosis was confirmed: histo, follow_up, consensus or confocal."));
      return 0;
    }
  if (!check_png (a->mask_png, _("corrected mask"), error)
      || !_derm_store_check_text (a->notes, _("notes"), FALSE, error)
      || !image_exists (store, a->image_id, error))
    return 0;

  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "INSERT INTO annotations (image_id, diagnosis, dx_type, mask_png, notes, created)"
    " VALUES (?, ?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, a->image_id);
  sqlite3_bind_int (stmt, 2, a->diagnosis);
  _derm_store_bind_text (stmt, 3, derm_dx_type_to_string (a->dx_type));
  _derm_store_bind_blob (stmt, 4, a->mask_png);
  _derm_store_bind_text (stmt, 5, a->notes ? a->notes : "");
  sqlite3_bind_int64 (stmt, 6, a->created > 0 ? a->created : _derm_store_now_seconds ());
  if (!_derm_store_step_done (store, stmt, error, _("Could not save the annotation")))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

/* ---- Deletion ----------------------------------------------------------- */

static gboolean
delete_where (DermStore *store, const char *files_sql, const char *delete_sql,
              gint64 id, const char *what_missing, GError **error)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  if (!_derm_store_begin (store, error))
    return FALSE;
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, files_sql, error);
    if (stmt == NULL)
      goto fail;
    sqlite3_bind_int64 (stmt, 1, id);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
      g_ptr_array_add (files, _derm_store_column_dup (stmt, 0));
    if (rc != SQLITE_DONE)
      {
        _derm_store_set_error (store, error, _("Could not delete"));
        goto fail;
      }
  }
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store, delete_sql, error);
    if (stmt == NULL)
      goto fail;
    sqlite3_bind_int64 (stmt, 1, id);
    if (!_derm_store_step_done (store, stmt, error, _("Could not delete")))
      goto fail;
    if (sqlite3_changes (store->db) == 0)
      {
        g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND, what_missing, id);
        goto fail;
      }
  }
  if (!_derm_store_commit (store, error))
    return FALSE;
  /* After the commit: a crash here leaves an unreferenced file (removed by
   * derm_store_remove_orphan_images), never a row without its file. */
  for (guint i = 0; i < files->len; i++)
    _derm_store_remove_if_unreferenced (store, files->pdata[i]);
  return TRUE;

fail:
  _derm_store_rollback (store);
  return FALSE;
}

gboolean
derm_store_delete_image (DermStore *store, gint64 image_id, GError **error)
{
  return delete_where (store, "SELECT file_name FROM images WHERE id = ?",
                       "DELETE FROM images WHERE id = ?", image_id,
                       _("There is no case (image) %" G_GINT64_FORMAT "."), error);
}

gboolean
derm_store_delete_lesion (DermStore *store, gint64 lesion_id, GError **error)
{
  return delete_where (store, "SELECT DISTINCT file_name FROM images WHERE lesion_id = ?",
                       "DELETE FROM lesions WHERE id = ?", lesion_id,
                       _("There is no lesion %" G_GINT64_FORMAT "."), error);
}

gboolean
derm_store_delete_patient (DermStore *store, gint64 patient_id, GError **error)
{
  return delete_where (store,
                       "SELECT DISTINCT i.file_name FROM images i JOIN lesions l ON l.id = i.lesion_id"
                       " WHERE l.patient_id = ?",
                       "DELETE FROM patients WHERE id = ?", patient_id,
                       _("There is no patient %" G_GINT64_FORMAT "."), error);
}
