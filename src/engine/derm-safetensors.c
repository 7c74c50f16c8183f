/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-safetensors.c: a bounds-checked safetensors reader and an atomic
 * writer. Nothing in a file is trusted until every check has passed. */
#include "config.h"

#define G_LOG_DOMAIN "derm-engine"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-error.h"
#include "derm-safetensors.h"

struct DermSafetensors {
  GBytes *bytes;
  GMappedFile *mapped;      /* when opened from a path */
  GArray *tensors;          /* DermStTensor, sorted by data offset */
  GPtrArray *names;         /* owned strings the tensors borrow */
  GHashTable *index;        /* name -> index into tensors */
  GHashTable *metadata;     /* string -> string */
};

static const struct {
  const char *name;
  gsize size;
} dtypes[] = {
  [DERM_ST_F32] = { "F32", 4 },
  [DERM_ST_F16] = { "F16", 2 },
  [DERM_ST_BF16] = { "BF16", 2 },
  [DERM_ST_F64] = { "F64", 8 },
  [DERM_ST_I64] = { "I64", 8 },
  [DERM_ST_I32] = { "I32", 4 },
  [DERM_ST_I16] = { "I16", 2 },
  [DERM_ST_I8] = { "I8", 1 },
  [DERM_ST_U8] = { "U8", 1 },
  [DERM_ST_BOOL] = { "BOOL", 1 },
};

const char *
derm_st_dtype_name (DermStDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), "?");
  return dtypes[dtype].name;
}

gsize
derm_st_dtype_size (DermStDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), 0);
  return dtypes[dtype].size;
}

gboolean
derm_st_dtype_from_name (const char *name, DermStDtype *dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (g_strcmp0 (name, dtypes[i].name) == 0)
      {
        *dtype = (DermStDtype) i;
        return TRUE;
      }
  return FALSE;
}

void
derm_safetensors_free (DermSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->tensors, g_array_unref);
  g_clear_pointer (&st->names, g_ptr_array_unref);
  g_clear_pointer (&st->index, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->bytes, g_bytes_unref);
  g_clear_pointer (&st->mapped, g_mapped_file_unref);
  g_free (st);
}

static gboolean
fail (GError **error, int code, const char *name, const char *format, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, int code, const char *name, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, DERM_ERROR, code, _("%s is not a usable weight file: %s"), name, msg);
  return FALSE;
}

/* A JSON integer in [0, G_MAXINT64], else FALSE. */
static gboolean
node_get_uint (JsonNode *node, guint64 *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse_tensor (DermSafetensors *st, const char *file, const char *tname, JsonNode *node,
              gsize data_len, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, DERM_ERROR_FORMAT, file, _("the entry of tensor “%s” is not a JSON object"), tname);
  JsonObject *obj = json_node_get_object (node);

  JsonNode *dt = json_object_get_member (obj, "dtype");
  if (dt == NULL || json_node_get_value_type (dt) != G_TYPE_STRING)
    return fail (error, DERM_ERROR_FORMAT, file, _("tensor “%s” has no dtype"), tname);
  DermStTensor t = { 0 };
  if (!derm_st_dtype_from_name (json_node_get_string (dt), &t.dtype))
    return fail (error, DERM_ERROR_UNSUPPORTED, file,
                 _("tensor “%s” has the unknown dtype “%s” (known: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)"),
                 tname, json_node_get_string (dt));

  JsonNode *sh = json_object_get_member (obj, "shape");
  if (sh == NULL || !JSON_NODE_HOLDS_ARRAY (sh))
    return fail (error, DERM_ERROR_FORMAT, file, _("tensor “%s” has no shape"), tname);
  JsonArray *shape = json_node_get_array (sh);
  guint ndim = json_array_get_length (shape);
  if (ndim > DERM_ST_MAX_DIMS)
    return fail (error, DERM_ERROR_FORMAT, file, _("tensor “%s” has %u dimensions (at most %d)"),
                 tname, ndim, DERM_ST_MAX_DIMS);
  /* The element count is bounded by the data length, so the product cannot
   * overflow once each step is checked against it. */
  guint64 count = 1;
  gboolean zero = FALSE;
  for (guint i = 0; i < ndim; i++)
    {
      guint64 d;
      if (!node_get_uint (json_array_get_element (shape, i), &d))
        return fail (error, DERM_ERROR_FORMAT, file,
                     _("tensor “%s”: dimension %u is not a non-negative integer"), tname, i);
      t.shape[i] = (gint64) d;
      if (d == 0)
        zero = TRUE;
      else if (!zero)
        {
          if (d > G_MAXUINT64 / count || count * d > data_len)
            return fail (error, DERM_ERROR_FORMAT, file,
                         _("tensor “%s” claims a shape larger than the file"), tname);
          count *= d;
        }
    }
  t.ndim = (int) ndim;
  if (zero)
    count = 0;
  guint64 need = count * dtypes[t.dtype].size;
  if (count != 0 && need / dtypes[t.dtype].size != count)
    return fail (error, DERM_ERROR_FORMAT, file, _("tensor “%s” claims a shape larger than the file"), tname);

  JsonNode *off = json_object_get_member (obj, "data_offsets");
  guint64 begin, end;
  if (off == NULL || !JSON_NODE_HOLDS_ARRAY (off)
      || json_array_get_length (json_node_get_array (off)) != 2
      || !node_get_uint (json_array_get_element (json_node_get_array (off), 0), &begin)
      || !node_get_uint (json_array_get_element (json_node_get_array (off), 1), &end))
    return fail (error, DERM_ERROR_FORMAT, file,
                 _("tensor “%s” has no valid data_offsets [begin, end]"), tname);
  if (begin > end || end > data_len)
    return fail (error, DERM_ERROR_FORMAT, file,
                 _("tensor “%s” lies at bytes %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                   ", outside the %" G_GSIZE_FORMAT " bytes of data (truncated file?)"),
                 tname, begin, end, data_len);
  if (end - begin != need)
    return fail (error, DERM_ERROR_FORMAT, file,
                 _("tensor “%s” has %" G_GUINT64_FORMAT " bytes but its shape and dtype need %"
                   G_GUINT64_FORMAT), tname, end - begin, need);

  char *owned = g_strdup (tname);
  g_ptr_array_add (st->names, owned);
  t.name = owned;
  t.nbytes = (gsize) need;
  /* data is filled in once the data start is known; keep the offset there. */
  t.data = (const guint8 *) (guintptr) begin;
  g_array_append_val (st->tensors, t);
  return TRUE;
}

static int
compare_offsets (gconstpointer a, gconstpointer b)
{
  guintptr x = (guintptr) ((const DermStTensor *) a)->data;
  guintptr y = (guintptr) ((const DermStTensor *) b)->data;
  if (x != y)
    return x < y ? -1 : 1;
  gsize nx = ((const DermStTensor *) a)->nbytes, ny = ((const DermStTensor *) b)->nbytes;
  return nx < ny ? -1 : nx > ny;
}

DermSafetensors *
derm_safetensors_parse (GBytes *bytes, const char *name, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  if (len < 8)
    {
      fail (error, DERM_ERROR_FORMAT, name, _("the file is only %" G_GSIZE_FORMAT " bytes long"), len);
      return NULL;
    }
  guint64 hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | data[i];
  if (hlen > len - 8)
    {
      fail (error, DERM_ERROR_FORMAT, name,
            _("the header claims %" G_GUINT64_FORMAT " bytes but the file has only %" G_GSIZE_FORMAT
              " after the length field (truncated, or not safetensors)"), hlen, len - 8);
      return NULL;
    }
  if (hlen > DERM_ST_MAX_HEADER)
    {
      fail (error, DERM_ERROR_TOO_LARGE, name, _("the header is larger than 100 MiB"));
      return NULL;
    }
  if (hlen < 2 || data[8] != '{')
    {
      fail (error, DERM_ERROR_FORMAT, name, _("the header is not a JSON object"));
      return NULL;
    }

  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) jerr = NULL;
  if (!json_parser_load_from_data (parser, (const char *) data + 8, (gssize) hlen, &jerr))
    {
      fail (error, DERM_ERROR_FORMAT, name, _("the header is not valid JSON (%s)"), jerr->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, DERM_ERROR_FORMAT, name, _("the header is not a JSON object"));
      return NULL;
    }

  g_autoptr(DermSafetensors) st = g_new0 (DermSafetensors, 1);
  st->tensors = g_array_new (FALSE, TRUE, sizeof (DermStTensor));
  st->names = g_ptr_array_new_with_free_func (g_free);
  st->index = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  gsize data_start = 8 + (gsize) hlen;
  gsize data_len = len - data_start;
  JsonObject *obj = json_node_get_object (root);
  g_autoptr(GList) members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *node = json_object_get_member (obj, key);
      /* JSON escapes such as json-glib's octal ones can make bytes that are
       * not UTF-8: such a name could not be written back. */
      if (!g_utf8_validate (key, -1, NULL))
        {
          fail (error, DERM_ERROR_FORMAT, name, _("a tensor name in the header is not valid UTF-8"));
          return NULL;
        }
      if (strcmp (key, "__metadata__") == 0)
        {
          if (!JSON_NODE_HOLDS_OBJECT (node))
            {
              fail (error, DERM_ERROR_FORMAT, name, _("__metadata__ is not a JSON object"));
              return NULL;
            }
          JsonObject *meta = json_node_get_object (node);
          g_autoptr(GList) keys = json_object_get_members (meta);
          for (GList *k = keys; k != NULL; k = k->next)
            {
              JsonNode *v = json_object_get_member (meta, k->data);
              if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
                {
                  fail (error, DERM_ERROR_FORMAT, name,
                        _("metadata value of “%s” is not a string"), (const char *) k->data);
                  return NULL;
                }
              if (!g_utf8_validate (k->data, -1, NULL)
                  || !g_utf8_validate (json_node_get_string (v), -1, NULL))
                {
                  fail (error, DERM_ERROR_FORMAT, name, _("the metadata is not valid UTF-8"));
                  return NULL;
                }
              g_hash_table_replace (st->metadata, g_strdup (k->data),
                                    g_strdup (json_node_get_string (v)));
            }
          continue;
        }
      if (!parse_tensor (st, name, key, node, data_len, error))
        return NULL;
    }

  g_array_sort (st->tensors, compare_offsets);
  guint64 pos = 0;
  for (guint i = 0; i < st->tensors->len; i++)
    {
      DermStTensor *t = &g_array_index (st->tensors, DermStTensor, i);
      guint64 begin = (guintptr) t->data;
      if (begin < pos)
        {
          fail (error, DERM_ERROR_FORMAT, name, _("the data of tensor “%s” overlaps another tensor"), t->name);
          return NULL;
        }
      if (begin > pos)
        {
          fail (error, DERM_ERROR_FORMAT, name,
                _("there is a hole of %" G_GUINT64_FORMAT " bytes before tensor “%s”"),
                begin - pos, t->name);
          return NULL;
        }
      pos = begin + t->nbytes;
      t->data = data + data_start + begin;
      g_hash_table_insert (st->index, (gpointer) t->name, GUINT_TO_POINTER (i + 1));
    }
  if (pos != data_len)
    {
      fail (error, DERM_ERROR_FORMAT, name,
            _("%" G_GUINT64_FORMAT " bytes after the last tensor belong to no tensor"), data_len - pos);
      return NULL;
    }
  st->bytes = g_bytes_ref (bytes);
  return g_steal_pointer (&st);
}

DermSafetensors *
derm_safetensors_open (const char *path, GError **error)
{
  g_autoptr(GError) ferr = NULL;
  g_autoptr(GMappedFile) mapped = g_mapped_file_new (path, FALSE, &ferr);
  if (mapped == NULL)
    {
      g_set_error (error, DERM_ERROR, ferr->code == G_FILE_ERROR_NOENT ? DERM_ERROR_NOT_FOUND : DERM_ERROR_IO,
                   _("Cannot read the weight file: %s"), ferr->message);
      return NULL;
    }
  g_autoptr(GBytes) bytes = g_mapped_file_get_bytes (mapped);
  DermSafetensors *st = derm_safetensors_parse (bytes, path, error);
  if (st != NULL)
    st->mapped = g_steal_pointer (&mapped);
  return st;
}

guint
derm_safetensors_get_n_tensors (DermSafetensors *st)
{
  return st->tensors->len;
}

const DermStTensor *
derm_safetensors_get_tensor (DermSafetensors *st, guint index)
{
  g_return_val_if_fail (index < st->tensors->len, NULL);
  return &g_array_index (st->tensors, DermStTensor, index);
}

const DermStTensor *
derm_safetensors_lookup (DermSafetensors *st, const char *name)
{
  guint i = GPOINTER_TO_UINT (g_hash_table_lookup (st->index, name));
  return i == 0 ? NULL : &g_array_index (st->tensors, DermStTensor, i - 1);
}

GHashTable *
derm_safetensors_get_metadata (DermSafetensors *st)
{
  return st->metadata;
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      gssize w = write (fd, data, MIN (len, (gsize) 1 << 30));
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      data += w;
      len -= (gsize) w;
    }
  return TRUE;
}

/* A process killed while writing @path leaves its temporary "@path.XXXXXX"
 * behind (models are hundreds of MB). Removes those more than an hour old: a
 * younger one may belong to another writer still at work. */
static void
remove_stale_temporaries (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  gsize blen = strlen (base);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      if (strlen (name) != blen + 7 || strncmp (name, base, blen) != 0 || name[blen] != '.')
        continue;
      gboolean suffix = TRUE;
      for (gsize i = blen + 1; i < blen + 7; i++)
        suffix = suffix && g_ascii_isalnum (name[i]);
      g_autofree char *full = g_build_filename (dir, name, NULL);
      GStatBuf st;
      if (suffix && g_lstat (full, &st) == 0 && S_ISREG (st.st_mode) && now - st.st_mtime > 3600)
        g_unlink (full);
    }
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

gboolean
derm_safetensors_write (const char *path, const DermStTensor *tensors, guint n,
                        GHashTable *metadata, GError **error)
{
  remove_stale_temporaries (path);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (metadata != NULL && g_hash_table_size (metadata) > 0)
    {
      json_builder_set_member_name (b, "__metadata__");
      json_builder_begin_object (b);
      /* Sorted keys: the same model writes the same bytes. */
      g_autofree gpointer *keys = g_hash_table_get_keys_as_array (metadata, NULL);
      guint nk = g_hash_table_size (metadata);
      qsort (keys, nk, sizeof *keys, compare_strings);
      for (guint i = 0; i < nk; i++)
        {
          /* Text from elsewhere (a file path, say) may not be UTF-8: written
           * as it is, the file could not be read back. */
          g_autofree char *key = g_utf8_make_valid (keys[i], -1);
          g_autofree char *value = g_utf8_make_valid (g_hash_table_lookup (metadata, keys[i]), -1);
          json_builder_set_member_name (b, key);
          json_builder_add_string_value (b, value);
        }
      json_builder_end_object (b);
    }
  guint64 offset = 0;
  for (guint i = 0; i < n; i++)
    {
      const DermStTensor *t = &tensors[i];
      json_builder_set_member_name (b, t->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, derm_st_dtype_name (t->dtype));
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (int d = 0; d < t->ndim; d++)
        json_builder_add_int_value (b, t->shape[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "data_offsets");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, (gint64) offset);
      json_builder_add_int_value (b, (gint64) (offset + t->nbytes));
      json_builder_end_array (b);
      json_builder_end_object (b);
      offset += t->nbytes;
    }
  json_builder_end_object (b);

  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  gsize hlen = 0;
  g_autofree char *header = json_generator_to_data (gen, &hlen);
  /* Pad with spaces so the data starts 8-byte aligned, as the reference
   * implementation does. */
  gsize padded = (hlen + 7) & ~(gsize) 7;
  g_autofree char *hbuf = g_malloc (padded);
  memcpy (hbuf, header, hlen);
  memset (hbuf + hlen, ' ', padded - hlen);
  guint8 lenbuf[8];
  for (int i = 0; i < 8; i++)
    lenbuf[i] = (guint8) (((guint64) padded >> (8 * i)) & 0xff);

  g_autofree char *tmp = g_strdup_printf ("%s.XXXXXX", path);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot write %s: %s"), path, g_strerror (e));
      return FALSE;
    }
  gboolean ok = write_all (fd, lenbuf, 8) && write_all (fd, (const guint8 *) hbuf, padded);
  for (guint i = 0; ok && i < n; i++)
    ok = write_all (fd, tensors[i].data, tensors[i].nbytes);
  if (ok)
    ok = fsync (fd) == 0;
  int e = errno;
  if (close (fd) != 0 && ok)
    {
      ok = FALSE;
      e = errno;
    }
  if (ok && g_rename (tmp, path) != 0)
    {
      ok = FALSE;
      e = errno;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot write %s: %s"), path, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}
