/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-safetensors.c: the safetensors reader (header length, JSON header,
 * dtypes, shapes, data offsets) and, for files it accepts, a write and a
 * re-read that must give the same tensors. */
#include "config.h"

#include <string.h>

#include "derm-error.h"
#include "derm-safetensors.h"
#include "fuzz-common.h"

static char *scratch;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_logging ();
  scratch = fuzz_make_scratch ("derm-fuzz-st");
  return 0;
}

static void
check_tensors (DermSafetensors *st, const guint8 *base, gsize len)
{
  guint n = derm_safetensors_get_n_tensors (st);
  gsize total = 0;
  for (guint i = 0; i < n; i++)
    {
      const DermStTensor *t = derm_safetensors_get_tensor (st, i);
      g_assert (t != NULL && t->name != NULL);
      g_assert (t->ndim >= 0 && t->ndim <= DERM_ST_MAX_DIMS);
      guint64 count = 1;
      for (int d = 0; d < t->ndim; d++)
        {
          g_assert (t->shape[d] >= 0);
          count *= (guint64) t->shape[d];
        }
      g_assert (count * derm_st_dtype_size (t->dtype) == t->nbytes);
      if (t->nbytes > 0)
        {
          /* Inside the input, and readable to its last byte. */
          g_assert (t->data >= base && t->data + t->nbytes <= base + len);
          volatile guint8 sink = t->data[0] ^ t->data[t->nbytes - 1];
          (void) sink;
        }
      g_assert (derm_safetensors_lookup (st, t->name) == t);
      total += t->nbytes;
    }
  g_assert (total <= len);
  g_assert (derm_safetensors_lookup (st, "\x01 no such tensor") == NULL);
}

/* What was accepted can be written and read back to the same tensors. */
static void
round_trip (DermSafetensors *st)
{
  guint n = derm_safetensors_get_n_tensors (st);
  if (n > 256)
    return;
  g_autoptr(GArray) tensors = g_array_new (FALSE, TRUE, sizeof (DermStTensor));
  for (guint i = 0; i < n; i++)
    g_array_append_val (tensors, *derm_safetensors_get_tensor (st, i));
  g_autofree char *path = g_build_filename (scratch, "model.safetensors", NULL);
  g_autoptr(GError) error = NULL;
  g_assert (derm_safetensors_write (path, (const DermStTensor *) tensors->data, n,
                                    derm_safetensors_get_metadata (st), &error));
  g_autoptr(DermSafetensors) again = derm_safetensors_open (path, &error);
  g_assert (again != NULL);
  g_assert (derm_safetensors_get_n_tensors (again) == n);
  for (guint i = 0; i < n; i++)
    {
      const DermStTensor *a = derm_safetensors_get_tensor (st, i);
      const DermStTensor *b = derm_safetensors_lookup (again, a->name);
      g_assert (b != NULL);
      g_assert (a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes);
      g_assert (memcmp (a->shape, b->shape, sizeof (gint64) * a->ndim) == 0);
      g_assert (a->nbytes == 0 || memcmp (a->data, b->data, a->nbytes) == 0);
    }
  GHashTable *m1 = derm_safetensors_get_metadata (st);
  GHashTable *m2 = derm_safetensors_get_metadata (again);
  g_assert (g_hash_table_size (m1) == g_hash_table_size (m2));
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m1);
  while (g_hash_table_iter_next (&it, &k, &v))
    g_assert (g_strcmp0 (v, g_hash_table_lookup (m2, k)) == 0);
  g_unlink (path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermSafetensors) st = derm_safetensors_parse (bytes, "fuzz.safetensors", &error);
  if (st == NULL)
    {
      g_assert (error != NULL && error->domain == DERM_ERROR);
      g_assert (error->message[0] != '\0');
      return 0;
    }
  g_assert (error == NULL);
  check_tensors (st, g_bytes_get_data (bytes, NULL), size);
  round_trip (st);
  return 0;
}
