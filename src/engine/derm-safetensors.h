/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-safetensors.h: safetensors files, read and written in C (json-glib).
 *
 * The format: 8 bytes little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {"key": "value"}}), then the tensors' raw little-endian
 * bytes; offsets are relative to the end of the header.
 *
 * Reading checks everything before any tensor is used: the header length
 * against the file, the JSON, every dtype, that each shape's byte count
 * equals its range, that ranges lie inside the data, do not overlap and
 * leave no hole. A file that fails any check is refused with a sentence
 * naming the problem (DERM_ERROR_FORMAT or DERM_ERROR_UNSUPPORTED).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DERM_ST_MAX_DIMS 8
/* A header longer than this is refused (real ones are a few hundred KiB). */
#define DERM_ST_MAX_HEADER ((guint64) 100 * 1024 * 1024)

typedef enum {
  DERM_ST_F32,
  DERM_ST_F16,
  DERM_ST_BF16,
  DERM_ST_F64,
  DERM_ST_I64,
  DERM_ST_I32,
  DERM_ST_I16,
  DERM_ST_I8,
  DERM_ST_U8,
  DERM_ST_BOOL,
} DermStDtype;

typedef struct {
  const char *name;       /* borrowed from the file object */
  DermStDtype dtype;
  int ndim;
  gint64 shape[DERM_ST_MAX_DIMS];
  const guint8 *data;     /* borrowed; NOT aligned: memcpy out of it */
  gsize nbytes;
} DermStTensor;

typedef struct DermSafetensors DermSafetensors;

/* "F32" ... ; Borrowed, static. */
const char *derm_st_dtype_name (DermStDtype dtype);
gsize       derm_st_dtype_size (DermStDtype dtype);
gboolean    derm_st_dtype_from_name (const char *name, DermStDtype *dtype);

/* Maps @path and validates it. Returns: (transfer full). */
DermSafetensors *derm_safetensors_open (const char *path, GError **error);
/* Validates @bytes (kept referenced); @name is used in messages.
 * Returns: (transfer full). */
DermSafetensors *derm_safetensors_parse (GBytes *bytes, const char *name, GError **error);
void             derm_safetensors_free (DermSafetensors *st);

/* Tensors in file order of their data offsets. Borrowed. */
guint               derm_safetensors_get_n_tensors (DermSafetensors *st);
const DermStTensor *derm_safetensors_get_tensor (DermSafetensors *st, guint index);
/* NULL when absent. Borrowed. */
const DermStTensor *derm_safetensors_lookup (DermSafetensors *st, const char *name);
/* The __metadata__ object (string to string; empty when absent). Borrowed. */
GHashTable         *derm_safetensors_get_metadata (DermSafetensors *st);

/* Writes @n tensors (their data read from ->data, ->nbytes bytes each) and
 * @metadata (string to string, may be NULL) to @path atomically: a
 * temporary file in the same folder, fsync, rename. On error any previous
 * file at @path is untouched. */
gboolean derm_safetensors_write (const char *path, const DermStTensor *tensors, guint n,
                                 GHashTable *metadata, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermSafetensors, derm_safetensors_free)

G_END_DECLS
