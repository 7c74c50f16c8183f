/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store-files.c: the content-addressed file store, images/ beside the
 * database: copying an image in under its SHA-256 (checked, decoded and
 * written through a temporary file, fsync'ed when asked), removing a file
 * once no visit references it, and sweeping the orphans a crash can leave. */
#include "config.h"

#define G_LOG_DOMAIN "derm-store"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "derm-error.h"
#include "derm-image.h"
#include "derm-store-private.h"

/* ---- Writing ------------------------------------------------------------ */

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

static void
fsync_dir (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

gboolean
_derm_store_copy_image_in (DermStore *store, const char *file_path, gboolean sync,
                           char sha256[65], char **file_name, int *width, int *height,
                           gboolean *created_new, GError **error)
{
  DermImageFormat format = DERM_IMAGE_FORMAT_UNKNOWN;
  g_autoptr(GError) local = NULL;
  *created_new = FALSE;

  if (!derm_image_probe (file_path, width, height, &format, &local))
    {
      g_set_error (error, DERM_ERROR,
                   local->domain == DERM_ERROR && local->code == DERM_ERROR_IO
                   ? DERM_ERROR_IO : DERM_ERROR_FORMAT,
                   _("%s cannot be stored as a case image: %s"), file_path, local->message);
      return FALSE;
    }
  if (format != DERM_IMAGE_FORMAT_JPEG && format != DERM_IMAGE_FORMAT_PNG)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s is not a JPEG or PNG image."), file_path);
      return FALSE;
    }
  /* A case no one can ever load (a 1 KB file declaring 60000 x 60000) is
   * refused now, not when it is opened. */
  if ((guint64) *width * (guint64) *height > DERM_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE,
                   _("%s is %d x %d pixels, more than the %d megapixels Dermalens "
                     "accepts; downscale it first."),
                   file_path, *width, *height, (int) (DERM_IMAGE_MAX_PIXELS / 1000000));
      return FALSE;
    }

  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents (file_path, &contents, &len, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  /* A good header does not make a readable image: decode it (JPEG scaled to
   * 1/8, cheap) so a truncated or corrupt file is refused now, not when the
   * case is opened. */
  g_autofree char *base = g_path_get_basename (file_path);
  g_autoptr(DermImage) decoded = derm_image_load_from_memory ((const guint8 *) contents, len,
                                                              base, 1, 1, 1, &local);
  if (decoded == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s cannot be stored as a case image: %s"), file_path, local->message);
      return FALSE;
    }
  g_autofree char *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  g_strlcpy (sha256, hex, 65);
  *file_name = g_strconcat (hex, format == DERM_IMAGE_FORMAT_JPEG ? ".jpg" : ".png", NULL);

  if (!_derm_store_ensure_private_dir (store->images_dir, error))
    return FALSE;
  g_autofree char *dest = g_build_filename (store->images_dir, *file_name, NULL);
  GStatBuf st;
  if (g_stat (dest, &st) == 0 && (gsize) st.st_size == len)
    return TRUE;   /* already stored: same bytes, same name */

  g_autofree char *tmp = g_build_filename (store->images_dir, ".incoming-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   _("Could not store a copy of %s in %s: %s."),
                   file_path, store->images_dir, g_strerror (saved));
      return FALSE;
    }
  gboolean ok = write_all (fd, (const guint8 *) contents, len);
  int saved = errno;
  if (ok && sync && fsync (fd) != 0)
    {
      ok = FALSE;
      saved = errno;
    }
  if (close (fd) != 0 && ok)
    {
      ok = FALSE;
      saved = errno;
    }
  if (ok && g_rename (tmp, dest) != 0)
    {
      ok = FALSE;
      saved = errno;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   _("Could not store a copy of %s in %s: %s."),
                   file_path, store->images_dir, g_strerror (saved));
      return FALSE;
    }
  if (sync)
    fsync_dir (store->images_dir);
  *created_new = TRUE;
  return TRUE;
}

/* ---- Removing ----------------------------------------------------------- */

static gboolean
file_is_referenced (DermStore *store, const char *file_name, gboolean *referenced)
{
  g_autoptr(StoreStmt) stmt = _derm_store_prepare (store,
    "SELECT 1 FROM images WHERE file_name = ? LIMIT 1", NULL);
  if (stmt == NULL)
    return FALSE;
  _derm_store_bind_text (stmt, 1, file_name);
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return FALSE;
  *referenced = rc == SQLITE_ROW;
  return TRUE;
}

void
_derm_store_remove_if_unreferenced (DermStore *store, const char *file_name)
{
  gboolean referenced = TRUE;
  /* When in doubt (a read error), keep the file. */
  if (!file_is_referenced (store, file_name, &referenced) || referenced)
    return;
  g_autofree char *path = g_build_filename (store->images_dir, file_name, NULL);
  if (g_unlink (path) != 0 && errno != ENOENT)
    g_warning ("Could not remove %s: %s", path, g_strerror (errno));
}

static gboolean
is_stored_name (const char *name)
{
  /* <64 hex>.jpg or .png: nothing else in images/ is ours to remove. */
  if (strlen (name) != 68)
    return FALSE;
  for (int i = 0; i < 64; i++)
    if (!g_ascii_isxdigit (name[i]))
      return FALSE;
  return strcmp (name + 64, ".jpg") == 0 || strcmp (name + 64, ".png") == 0;
}

int
derm_store_remove_orphan_images (DermStore *store, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GDir) dir = g_dir_open (store->images_dir, 0, &local);
  if (dir == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
      return -1;
    }
  int removed = 0;
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      gboolean referenced = TRUE;
      if (g_str_has_prefix (name, ".incoming-"))
        {
          /* A copy cut short by a crash. One being written now by another
           * connection is recent: leave files younger than an hour. */
          g_autofree char *path = g_build_filename (store->images_dir, name, NULL);
          GStatBuf st;
          if (g_lstat (path, &st) == 0 && S_ISREG (st.st_mode)
              && st.st_mtime < g_get_real_time () / G_USEC_PER_SEC - 3600
              && g_unlink (path) == 0)
            removed++;
          continue;
        }
      if (!is_stored_name (name))
        continue;
      if (!file_is_referenced (store, name, &referenced))
        {
          _derm_store_set_error (store, error, _("Could not read the case database"));
          return -1;
        }
      if (referenced)
        continue;
      g_autofree char *path = g_build_filename (store->images_dir, name, NULL);
      if (g_unlink (path) == 0)
        removed++;
    }
  return removed;
}
