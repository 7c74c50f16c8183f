/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-io.c: exporting cases (CSV, HAM10000 folder) and importing a
 * HAM10000 folder, with a small RFC 4180 CSV reader and writer. */
#define _GNU_SOURCE /* syncfs */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "derm-image.h"
#include "derm-store-private.h"

/* ---- CSV ---------------------------------------------------------------- */

/* Reads one record starting at *pos: quoted fields ("" is a quote, commas
 * and line breaks inside quotes are data), CRLF or LF line ends. Returns
 * NULL at the end of the text, or with @error on an unterminated quote. */
static GPtrArray *
csv_next_record (const char *text, gsize len, gsize *pos, guint line, GError **error)
{
  gsize i = *pos;
  if (i >= len)
    return NULL;
  g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  GString *field = g_string_new (NULL);
  gboolean quoted = FALSE, was_quoted = FALSE;

  for (;;)
    {
      if (i >= len)
        {
          if (quoted)
            {
              g_string_free (field, TRUE);
              g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                           _("line %u: a quoted field is never closed"), line);
              return NULL;
            }
          break;
        }
      char ch = text[i];
      if (quoted)
        {
          if (ch == '"')
            {
              if (i + 1 < len && text[i + 1] == '"')
                {
                  g_string_append_c (field, '"');
                  i += 2;
                  continue;
                }
              quoted = FALSE;
              i++;
              continue;
            }
          g_string_append_c (field, ch);
          i++;
          continue;
        }
      if (ch == '"' && field->len == 0 && !was_quoted)
        {
          quoted = was_quoted = TRUE;
          i++;
          continue;
        }
      if (ch == ',')
        {
          g_ptr_array_add (fields, g_string_free (field, FALSE));
          field = g_string_new (NULL);
          was_quoted = FALSE;
          i++;
          continue;
        }
      if (ch == '\r' || ch == '\n')
        {
          i += (ch == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
          break;
        }
      g_string_append_c (field, ch);
      i++;
    }
  g_ptr_array_add (fields, g_string_free (field, FALSE));
  *pos = i;
  return g_steal_pointer (&fields);
}

static gboolean
csv_is_blank (GPtrArray *rec)
{
  return rec->len == 1 && ((char *) rec->pdata[0])[0] == '\0';
}

static void
csv_append_field (GString *out, const char *s, gboolean first)
{
  if (!first)
    g_string_append_c (out, ',');
  if (s == NULL)
    return;
  gboolean quote = strpbrk (s, ",\"\r\n") != NULL
                   || (*s && (g_ascii_isspace (s[0]) || g_ascii_isspace (s[strlen (s) - 1])));
  if (!quote)
    {
      g_string_append (out, s);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = s; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
csv_append_row (GString *out, const char * const *fields, int n)
{
  for (int k = 0; k < n; k++)
    csv_append_field (out, fields[k], k == 0);
  g_string_append (out, "\r\n");
}

/* ---- Files --------------------------------------------------------------- */

static gboolean
write_file_synced (const char *path, const void *data, gsize len, GError **error)
{
  g_autoptr(GError) local = NULL;
  /* g_file_set_contents_full writes a temporary file, fsyncs and renames. */
  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

static char *
format_date (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format_iso8601 (dt) : g_strdup ("");
}

/* ---- Export: CSV ----------------------------------------------------------- */

static GPtrArray *
all_matching (DermStore *store, const DermCaseQuery *query, gboolean confirmed_only,
              GError **error)
{
  DermCaseQuery q;
  if (query)
    q = *query;
  else
    derm_case_query_init (&q);
  if (confirmed_only)
    q.confirmed = DERM_CONFIRMED_YES;
  return derm_store_list_cases (store, &q, NULL, error);
}

gint64
derm_store_export_csv (DermStore *store, const DermCaseQuery *query,
                       const char *csv_path, GError **error)
{
  g_autoptr(GPtrArray) cases = all_matching (store, query, FALSE, error);
  if (cases == NULL)
    return -1;

  static const char * const header[] = {
    "case_id", "patient", "birth_year", "sex", "lesion_id", "body_site", "lesion_label",
    "captured", "original_name", "sha256", "width", "height",
    "predicted", "malignant_risk", "p_mel", "p_nv", "p_bcc", "p_akiec", "p_bkl", "p_df", "p_vasc",
    "model_info", "analysed", "diagnosis", "dx_type", "notes", "annotated",
  };
  enum { N = G_N_ELEMENTS (header) };
  g_autoptr(GString) out = g_string_new (NULL);
  csv_append_row (out, header, N);

  for (guint k = 0; k < cases->len; k++)
    {
      DermCase *c = cases->pdata[k];
      char *v[N] = { NULL };
      v[0] = g_strdup_printf ("%" G_GINT64_FORMAT, c->image->id);
      v[1] = g_strdup (c->patient->identifier);
      v[2] = c->patient->birth_year ? g_strdup_printf ("%d", c->patient->birth_year) : g_strdup ("");
      v[3] = g_strdup (derm_sex_to_string (c->patient->sex));
      v[4] = g_strdup_printf ("%" G_GINT64_FORMAT, c->lesion->id);
      v[5] = g_strdup (c->lesion->body_site);
      v[6] = g_strdup (c->lesion->label);
      v[7] = format_date (c->image->captured);
      v[8] = g_strdup (c->image->original_name);
      v[9] = g_strdup (c->image->sha256);
      v[10] = g_strdup_printf ("%d", c->image->width);
      v[11] = g_strdup_printf ("%d", c->image->height);
      if (c->analysis)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          v[12] = g_strdup (derm_class_code (c->analysis->predicted));
          v[13] = g_strdup (g_ascii_formatd (buf, sizeof buf, "%.6f", c->analysis->malignant_risk));
          for (int j = 0; j < DERM_N_CLASSES; j++)
            v[14 + j] = g_strdup (g_ascii_formatd (buf, sizeof buf, "%.6f", c->analysis->probs[j]));
          v[21] = g_strdup (c->analysis->model_info);
          v[22] = format_date (c->analysis->created);
        }
      if (c->annotation)
        {
          v[23] = g_strdup (derm_class_code (c->annotation->diagnosis));
          v[24] = g_strdup (derm_dx_type_to_string (c->annotation->dx_type));
          v[25] = g_strdup (c->annotation->notes);
          v[26] = format_date (c->annotation->created);
        }
      csv_append_row (out, (const char * const *) v, N);
      for (int j = 0; j < N; j++)
        g_free (v[j]);
    }
  if (!write_file_synced (csv_path, out->str, out->len, error))
    return -1;
  return cases->len;
}

/* ---- Export: HAM10000 folder --------------------------------------------- */

static gboolean
write_case_jpeg (DermCase *c, const char *dest, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_get_contents (c->image->path, &data, &len, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   _("The stored image of case %" G_GINT64_FORMAT " is missing: %s"),
                   c->image->id, local->message);
      return FALSE;
    }
  if (derm_image_detect_format ((const guint8 *) data, len) == DERM_IMAGE_FORMAT_JPEG)
    return write_file_synced (dest, data, len, error);
  /* HAM10000's layout has .jpg images: re-encode the PNGs. */
  g_autoptr(DermImage) img = derm_image_load_from_memory ((const guint8 *) data, len,
                                                          c->image->path, 3, 0, 0, error);
  return img != NULL && derm_image_save_jpeg (img, dest, 95, error);
}

gint64
derm_store_export_ham10000 (DermStore *store, const DermCaseQuery *query,
                            const char *dir, GError **error)
{
  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
      if (d == NULL || g_dir_read_name (d) != NULL)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                       _("%s is not an empty folder: choose a new or empty folder to export to."),
                       dir);
          return -1;
        }
    }
  g_autoptr(GPtrArray) cases = all_matching (store, query, TRUE, error);
  if (cases == NULL)
    return -1;

  /* Built beside the destination and renamed into place at the end, so a
   * failed export leaves no half-written dataset behind. */
  g_autofree char *parent = g_path_get_dirname (dir);
  if (g_mkdir_with_parents (parent, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Could not create %s: %s."),
                   parent, g_strerror (saved));
      return -1;
    }
  g_autofree char *base = g_path_get_basename (dir);
  g_autofree char *tmpl = g_strdup_printf (".%s-XXXXXX", base);
  g_autofree char *tmp = g_build_filename (parent, tmpl, NULL);
  if (g_mkdtemp_full (tmp, 0700) == NULL)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Could not create a folder in %s: %s."),
                   parent, g_strerror (saved));
      return -1;
    }
  g_autofree char *images = g_build_filename (tmp, "images", NULL);
  g_autofree char *masks = g_build_filename (tmp, "masks", NULL);
  g_mkdir (images, 0700);
  g_mkdir (masks, 0700);

  g_autoptr(GString) csv = g_string_new (NULL);
  static const char * const header[] = {
    "lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"
  };
  csv_append_row (csv, header, G_N_ELEMENTS (header));

  for (guint k = 0; k < cases->len; k++)
    {
      g_autoptr(DermCase) c = derm_store_get_case (store, ((DermCase *) cases->pdata[k])->image->id,
                                                   error);
      if (c == NULL || c->annotation == NULL)
        {
          if (c != NULL)
            continue;   /* un-confirmed since the list was read */
          goto fail;
        }
      g_autofree char *image_id = g_strdup_printf ("DL_%07" G_GINT64_FORMAT, c->image->id);
      g_autofree char *lesion_id = g_strdup_printf ("DL_L%07" G_GINT64_FORMAT, c->lesion->id);
      g_autofree char *dx = g_ascii_strdown (derm_class_code (c->annotation->diagnosis), -1);
      g_autofree char *age = NULL;
      if (c->patient->birth_year > 0)
        {
          g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (c->image->captured);
          int years = dt ? g_date_time_get_year (dt) - c->patient->birth_year : -1;
          age = years >= 0 ? g_strdup_printf ("%d.0", years) : g_strdup ("");
        }
      const char *row[] = {
        lesion_id, image_id, dx, derm_dx_type_to_string (c->annotation->dx_type),
        age ? age : "", derm_sex_to_string (c->patient->sex), c->lesion->body_site,
      };
      csv_append_row (csv, row, G_N_ELEMENTS (row));

      g_autofree char *jpg_name = g_strconcat (image_id, ".jpg", NULL);
      g_autofree char *jpg = g_build_filename (images, jpg_name, NULL);
      if (!write_case_jpeg (c, jpg, error))
        goto fail;
      GBytes *mask = c->annotation->mask_png ? c->annotation->mask_png
                     : c->analysis ? c->analysis->mask_png : NULL;
      if (mask != NULL)
        {
          g_autofree char *mask_name = g_strconcat (image_id, "_segmentation.png", NULL);
          g_autofree char *mask_path = g_build_filename (masks, mask_name, NULL);
          gsize len;
          const void *data = g_bytes_get_data (mask, &len);
          if (!write_file_synced (mask_path, data, len, error))
            goto fail;
        }
    }
  {
    g_autofree char *meta = g_build_filename (tmp, "HAM10000_metadata.csv", NULL);
    if (!write_file_synced (meta, csv->str, csv->len, error))
      goto fail;
  }
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    g_rmdir (dir);   /* empty, checked above */
  if (g_rename (tmp, dir) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Could not create %s: %s."),
                   dir, g_strerror (saved));
      goto fail;
    }
  return cases->len;

fail:
  remove_tree (tmp);
  return -1;
}

/* ---- Import: HAM10000 folder ---------------------------------------------- */

static char *
find_in_dirs (const char *root, const char * const *subdirs, const char *name)
{
  for (int k = 0; subdirs[k]; k++)
    {
      char *path = g_build_filename (root, subdirs[k], name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  return NULL;
}

static int
column_index (GPtrArray *header, const char *name)
{
  for (guint k = 0; k < header->len; k++)
    if (g_ascii_strcasecmp (g_strstrip ((char *) header->pdata[k]), name) == 0)
      return (int) k;
  return -1;
}

static gboolean
visit_exists (DermStore *store, gint64 lesion_id, const char *original_name,
              gboolean *exists, GError **error)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT 1 FROM images WHERE lesion_id = ? AND original_name = ? LIMIT 1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, lesion_id);
  _derm_store_bind_text (stmt, 2, original_name);
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      _derm_store_set_error (store, error, _("Could not read the case database"));
      return FALSE;
    }
  *exists = rc == SQLITE_ROW;
  return TRUE;
}

static gint64
find_or_add_lesion (DermStore *store, gint64 patient_id, const char *site, const char *label,
                    GError **error)
{
  {
    g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
      "SELECT id FROM lesions WHERE patient_id = ? AND label = ? ORDER BY id LIMIT 1", error);
    if (stmt == NULL)
      return 0;
    sqlite3_bind_int64 (stmt, 1, patient_id);
    _derm_store_bind_text (stmt, 2, label);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
      return sqlite3_column_int64 (stmt, 0);
    if (rc != SQLITE_DONE)
      {
        _derm_store_set_error (store, error, _("Could not read the case database"));
        return 0;
      }
  }
  return derm_store_add_lesion (store, patient_id, site, label, error);
}

typedef struct {
  int lesion, image, dx, dx_type, age, sex, localization;
} HamColumns;

static const char *
field (GPtrArray *rec, int col)
{
  return col >= 0 && (guint) col < rec->len ? g_strstrip ((char *) rec->pdata[col]) : "";
}

/* Imports one metadata row inside the open transaction. Returns FALSE with
 * @error; *imported says whether a new visit was added. */
static gboolean
import_row (DermStore *store, const char *root, GPtrArray *rec, const HamColumns *cols,
            guint line, int this_year, gint64 now, gboolean *imported, GError **error)
{
  static const char * const image_dirs[] = {
    "images", "HAM10000_images_part_1", "HAM10000_images_part_2", ".", NULL
  };
  static const char * const mask_dirs[] = {
    "masks", "HAM10000_segmentations_lesion_tschandl", NULL
  };
  const char *lesion_id = field (rec, cols->lesion);
  const char *image_id = field (rec, cols->image);
  const char *dx = field (rec, cols->dx);
  const char *dx_type = field (rec, cols->dx_type);
  const char *age = field (rec, cols->age);
  const char *sex = field (rec, cols->sex);
  const char *site = field (rec, cols->localization);
  *imported = FALSE;

  if (!*lesion_id || !*image_id || strchr (image_id, '/') || strstr (image_id, "..")
      || !g_utf8_validate (lesion_id, -1, NULL) || !g_utf8_validate (image_id, -1, NULL))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("line %u: the lesion_id or image_id is missing or not a plain name"), line);
      return FALSE;
    }
  if (strlen (lesion_id) > DERM_DATASET_MAX_FIELD || strlen (image_id) > DERM_DATASET_MAX_FIELD)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("line %u: the lesion_id or image_id is longer than %d bytes"),
                   line, DERM_DATASET_MAX_FIELD);
      return FALSE;
    }
  int klass = derm_class_from_code (dx);
  int how = derm_dx_type_from_string (dx_type);
  int sx = *sex ? derm_sex_from_string (sex) : DERM_SEX_UNKNOWN;
  if (klass < 0 || how < 0 || sx < 0 || !derm_body_site_is_valid (site))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("line %u: unknown dx “%s”, dx_type “%s”, sex “%s” or localization “%s”"),
                   line, dx, dx_type, sex, site);
      return FALSE;
    }
  int birth_year = 0;
  if (*age)
    {
      char *end = NULL;
      double years = g_ascii_strtod (age, &end);
      if (end == age || *end != '\0' || !(years >= 0 && years <= 120))
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                       _("line %u: the age “%s” is not a number of years"), line, age);
          return FALSE;
        }
      birth_year = this_year - (int) years;
    }

  g_autofree char *identifier = g_strconcat ("HAM10000:", lesion_id, NULL);
  gint64 patient = derm_store_ensure_patient (store, identifier, birth_year, sx, error);
  if (patient == 0)
    return FALSE;
  gint64 lesion = find_or_add_lesion (store, patient, site, lesion_id, error);
  if (lesion == 0)
    return FALSE;
  g_autofree char *jpg_name = g_strconcat (image_id, ".jpg", NULL);
  gboolean exists = FALSE;
  if (!visit_exists (store, lesion, jpg_name, &exists, error))
    return FALSE;
  if (exists)
    return TRUE;

  g_autofree char *image_path = find_in_dirs (root, image_dirs, jpg_name);
  if (image_path == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("line %u: the image %s is not in images/, HAM10000_images_part_1/, "
                     "HAM10000_images_part_2/ or the folder itself"), line, jpg_name);
      return FALSE;
    }
  char sha[65];
  g_autofree char *file_name = NULL;
  int w, h;
  gboolean created_new;
  /* Not fsync'ed one by one: the batch's files are synced together before
   * its commit (syncfs in derm_store_import_ham10000). */
  if (!_derm_store_copy_image_in (store, image_path, FALSE, sha, &file_name, &w, &h,
                                  &created_new, error))
    return FALSE;
  gint64 image = _derm_store_insert_image (store, lesion, now, sha, file_name, w, h,
                                           jpg_name, error);
  if (image == 0)
    return FALSE;

  g_autofree char *mask_name = g_strconcat (image_id, "_segmentation.png", NULL);
  g_autofree char *mask_path = find_in_dirs (root, mask_dirs, mask_name);
  g_autoptr(GBytes) mask = NULL;
  if (mask_path != NULL)
    {
      g_autofree char *data = NULL;
      gsize len = 0;
      g_autoptr(GError) local = NULL;
      if (!g_file_get_contents (mask_path, &data, &len, &local))
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
          return FALSE;
        }
      if (derm_image_detect_format ((const guint8 *) data, len) != DERM_IMAGE_FORMAT_PNG)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s is not a PNG mask"), mask_path);
          return FALSE;
        }
      mask = g_bytes_new_take (g_steal_pointer (&data), len);
    }
  DermAnnotation ann = {
    .image_id = image, .diagnosis = klass, .dx_type = how, .mask_png = mask,
    .notes = (char *) "", .created = now,
  };
  if (derm_store_add_annotation (store, &ann, error) == 0)
    return FALSE;
  *imported = TRUE;
  return TRUE;
}

static gboolean
sync_images (DermStore *store, GError **error)
{
  int fd = open (store->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return TRUE;
  int rc = syncfs (fd);
  int saved = errno;
  close (fd);
  if (rc != 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   _("Could not write the imported images to disk: %s."), g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Rolls back the open batch and removes the image copies it made, which no
 * row references any more (a failed import leaves no patient image behind). */
static void
discard_batch (DermStore *store)
{
  _derm_store_rollback (store);
  derm_store_remove_orphan_images (store, NULL);
}

gint64
derm_store_import_ham10000 (DermStore *store, const char *dir, guint batch_size,
                            DermStoreImportProgress progress, gpointer user_data,
                            GError **error)
{
  if (batch_size == 0)
    batch_size = 100;
  g_autofree char *meta = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  GStatBuf st;
  if (g_stat (meta, &st) == 0 && (guint64) st.st_size > DERM_DATASET_MAX_CSV_BYTES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE,
                   _("%s is larger than the %d MiB a metadata file may have."),
                   meta, (int) (DERM_DATASET_MAX_CSV_BYTES >> 20));
      return -1;
    }
  if (!g_file_get_contents (meta, &text, &len, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("%s is not a HAM10000 folder: %s"), dir, local->message);
      return -1;
    }
  gsize pos = 0;
  if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
    pos = 3;

  guint line = 1;
  g_autoptr(GPtrArray) header = csv_next_record (text, len, &pos, line, &local);
  HamColumns cols = { -1, -1, -1, -1, -1, -1, -1 };
  if (header)
    cols = (HamColumns) {
      column_index (header, "lesion_id"), column_index (header, "image_id"),
      column_index (header, "dx"), column_index (header, "dx_type"),
      column_index (header, "age"), column_index (header, "sex"),
      column_index (header, "localization"),
    };
  if (cols.lesion < 0 || cols.image < 0 || cols.dx < 0 || cols.dx_type < 0
      || cols.localization < 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s lacks HAM10000's columns (lesion_id, image_id, dx, dx_type, "
                     "localization)."), meta);
      return -1;
    }

  /* Parsed up front: a malformed file fails before anything is written. */
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GArray) lines = g_array_new (FALSE, FALSE, sizeof (guint));
  for (;;)
    {
      line++;
      GPtrArray *rec = csv_next_record (text, len, &pos, line, &local);
      if (rec == NULL)
        {
          if (local)
            {
              g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, "%s: %s", meta, local->message);
              return -1;
            }
          break;
        }
      if (csv_is_blank (rec))
        {
          g_ptr_array_unref (rec);
          continue;
        }
      g_ptr_array_add (rows, rec);
      g_array_append_val (lines, line);
    }

  g_autoptr(GDateTime) now_dt = g_date_time_new_now_utc ();
  int this_year = g_date_time_get_year (now_dt);
  gint64 now = g_date_time_to_unix (now_dt);
  guint64 total = rows->len, done = 0, committed = 0;
  gint64 imported = 0, imported_committed = 0;
  guint in_batch = 0;

  for (guint k = 0; k < rows->len; k++)
    {
      if (in_batch == 0 && !_derm_store_begin (store, error))
        return -1;
      gboolean added = FALSE;
      g_autoptr(GError) row_error = NULL;
      if (!import_row (store, dir, rows->pdata[k], &cols, g_array_index (lines, guint, k),
                       this_year, now, &added, &row_error))
        {
          discard_batch (store);
          g_propagate_prefixed_error (error, g_steal_pointer (&row_error),
                                      _("Import stopped after %" G_GINT64_FORMAT
                                        " new cases were saved: %s: "),
                                      imported_committed, meta);
          return -1;
        }
      imported += added;
      done++;
      in_batch++;
      if (in_batch == batch_size || k + 1 == rows->len)
        {
          if (!sync_images (store, error))
            {
              discard_batch (store);
              return -1;
            }
          if (!_derm_store_commit (store, error))
            {
              discard_batch (store);
              return -1;
            }
          committed = done;
          imported_committed = imported;
          in_batch = 0;
        }
      if (progress && !progress (done, committed, total, user_data))
        {
          discard_batch (store);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                       _("Import cancelled; %" G_GINT64_FORMAT " new cases were saved."),
                       imported_committed);
          return -1;
        }
    }
  return imported;
}
