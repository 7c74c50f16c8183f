/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-split.c: lesion-grouped, class-stratified splits. */
#include "config.h"

#define G_LOG_DOMAIN "derm-split"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "derm-error.h"
#include "derm-split.h"

static const char *const part_names[DERM_SPLIT_N_PARTS] = { "train", "val", "test" };

const char *
derm_split_part_name (DermSplitPart part)
{
  g_return_val_if_fail (part < DERM_SPLIT_N_PARTS, NULL);
  return part_names[part];
}

gboolean
derm_split_part_from_name (const char *name, DermSplitPart *part)
{
  for (int i = 0; i < DERM_SPLIT_N_PARTS; i++)
    if (g_strcmp0 (name, part_names[i]) == 0)
      {
        *part = (DermSplitPart) i;
        return TRUE;
      }
  return FALSE;
}

typedef struct {
  const char *id;
  int counts[DERM_N_CLASSES];
  guint8 part;
} Lesion;

static int
compare_lesions (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Lesion *const *) a)->id, (*(Lesion *const *) b)->id);
}

static int
lesion_class (const Lesion *l)
{
  int best = 0;
  for (int c = 1; c < DERM_N_CLASSES; c++)
    if (l->counts[c] > l->counts[best])
      best = c;
  return best;
}

/* The lesions of the samples @indices (NULL: every sample; @n of them) of
 * @ds, grouped by class (a lesion's class is its most frequent dx), each
 * class's list sorted by id and shuffled with @rand, drawn in class order:
 * the same seed and content give the same order whatever the hash table's.
 * @by_id maps lesion ids to the Lesion structs (owned by it). */
static void
lesions_by_class (const DermDataset *ds, const guint *indices, guint n, GRand *rand,
                  GHashTable *by_id, GPtrArray *per_class[DERM_N_CLASSES])
{
  for (guint k = 0; k < n; k++)
    {
      DermSample *s = ds->samples->pdata[indices != NULL ? indices[k] : k];
      Lesion *l = g_hash_table_lookup (by_id, s->lesion_id);
      if (l == NULL)
        {
          l = g_new0 (Lesion, 1);
          l->id = s->lesion_id;
          g_hash_table_insert (by_id, (gpointer) l->id, l);
        }
      l->counts[s->label]++;
    }
  for (int c = 0; c < DERM_N_CLASSES; c++)
    per_class[c] = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, by_id);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (per_class[lesion_class (value)], value);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GPtrArray *l = per_class[c];
      g_ptr_array_sort (l, compare_lesions);
      for (guint i = l->len; i > 1; i--)
        {
          guint j = g_rand_int_range (rand, 0, i);
          gpointer t = l->pdata[i - 1];
          l->pdata[i - 1] = l->pdata[j];
          l->pdata[j] = t;
        }
    }
}

guint8 *
derm_split_assign (const DermDataset *ds, const DermSplitConfig *config, GError **error)
{
  double fv = config->val_fraction, ft = config->test_fraction;
  if (!(fv >= 0 && ft >= 0 && fv + ft < 1))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("the validation (%g) and test (%g) fractions must be at least 0 and "
                     "leave some lesions for training (sum under 1)"), fv, ft);
      return NULL;
    }

  g_autoptr(GHashTable) by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GPtrArray *per_class[DERM_N_CLASSES];
  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) (config->seed ^ (config->seed >> 32)));
  lesions_by_class (ds, NULL, ds->samples->len, rand, by_id, per_class);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GPtrArray *l = per_class[c];
      guint n = l->len;
      guint n_test = (guint) floor (n * ft + 0.5);
      guint n_val = (guint) floor (n * fv + 0.5);
      if (n >= 3)
        {
          if (ft > 0 && n_test == 0)
            n_test = 1;
          if (fv > 0 && n_val == 0)
            n_val = 1;
        }
      while (n_test + n_val >= n && n_test + n_val > 0)
        {
          /* Keep at least one training lesion. */
          if (n_val >= n_test && n_val > 0)
            n_val--;
          else
            n_test--;
        }
      for (guint i = 0; i < n; i++)
        ((Lesion *) l->pdata[i])->part = i < n_test ? DERM_SPLIT_TEST
                                        : i < n_test + n_val ? DERM_SPLIT_VAL
                                        : DERM_SPLIT_TRAIN;
      g_ptr_array_unref (l);
    }

  guint8 *out = g_new (guint8, MAX (ds->samples->len, 1));
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      out[i] = ((Lesion *) g_hash_table_lookup (by_id, s->lesion_id))->part;
    }
  return out;
}

guint8 *
derm_split_folds (const DermDataset *ds, const guint *indices, guint n, guint k, guint64 seed)
{
  g_return_val_if_fail (k >= 1 && k <= 255, NULL);
  g_autoptr(GHashTable) by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GPtrArray *per_class[DERM_N_CLASSES];
  /* Another stream than the split's for the same seed. */
  guint64 s = seed ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) (s ^ (s >> 32)));
  lesions_by_class (ds, indices, n, rand, by_id, per_class);
  /* Each class dealt round the folds, starting where the last class
   * stopped, so the folds' sizes differ by at most one lesion overall. */
  guint next = 0;
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GPtrArray *l = per_class[c];
      for (guint i = 0; i < l->len; i++, next = (next + 1) % k)
        ((Lesion *) l->pdata[i])->part = (guint8) next;
      g_ptr_array_unref (l);
    }
  guint8 *out = g_new (guint8, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      DermSample *sample = ds->samples->pdata[indices[i]];
      out[i] = ((Lesion *) g_hash_table_lookup (by_id, sample->lesion_id))->part;
    }
  return out;
}

GArray *
derm_split_indices (const guint8 *assignment, guint n, DermSplitPart part)
{
  GArray *a = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n; i++)
    if (assignment[i] == part)
      g_array_append_val (a, i);
  return a;
}

GArray *
derm_split_subsample_lesions (const DermDataset *dataset, const GArray *indices, double fraction,
                              guint64 seed)
{
  GArray *kept = g_array_new (FALSE, FALSE, sizeof (guint));
  if (!(fraction > 0.0 && fraction < 1.0))
    {
      g_array_append_vals (kept, indices->data, indices->len);
      return kept;
    }
  /* Lesions per class, in order of first appearance. */
  g_autoptr(GHashTable) lesion_class = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *by_class[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    by_class[c] = g_ptr_array_new ();
  for (guint i = 0; i < indices->len; i++)
    {
      const DermSample *s = dataset->samples->pdata[g_array_index (indices, guint, i)];
      if (!g_hash_table_contains (lesion_class, s->lesion_id))
        {
          g_hash_table_insert (lesion_class, s->lesion_id, GINT_TO_POINTER (s->label));
          g_ptr_array_add (by_class[s->label], s->lesion_id);
        }
    }
  g_autoptr(GHashTable) keep = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) (seed * 2654435761u + 0x5eed));
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GPtrArray *l = by_class[c];
      if (l->len == 0)
        continue;
      /* Fisher-Yates, then the first ceil(fraction * n). */
      for (guint i = l->len - 1; i > 0; i--)
        {
          guint j = (guint) g_rand_int_range (rand, 0, (gint32) i + 1);
          gpointer t = l->pdata[i];
          l->pdata[i] = l->pdata[j];
          l->pdata[j] = t;
        }
      guint n = MAX (1, (guint) ceil (fraction * l->len));
      for (guint i = 0; i < n && i < l->len; i++)
        g_hash_table_add (keep, l->pdata[i]);
    }
  for (guint i = 0; i < indices->len; i++)
    {
      guint idx = g_array_index (indices, guint, i);
      const DermSample *s = dataset->samples->pdata[idx];
      if (g_hash_table_contains (keep, s->lesion_id))
        g_array_append_val (kept, idx);
    }
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_ptr_array_unref (by_class[c]);
  return kept;
}

char *
derm_split_to_json (const DermSplitConfig *config, guint limit, const char *sha,
                    const guint8 *assignment, guint n)
{
  guint counts[DERM_SPLIT_N_PARTS] = { 0 };
  for (guint i = 0; i < n; i++)
    counts[assignment[i]]++;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) config->seed);
  json_builder_set_member_name (b, "val_fraction");
  json_builder_add_double_value (b, config->val_fraction);
  json_builder_set_member_name (b, "test_fraction");
  json_builder_add_double_value (b, config->test_fraction);
  json_builder_set_member_name (b, "limit");
  json_builder_add_int_value (b, limit);
  json_builder_set_member_name (b, "dataset_sha256");
  json_builder_add_string_value (b, sha != NULL ? sha : "");
  for (int p = 0; p < DERM_SPLIT_N_PARTS; p++)
    {
      g_autofree char *key = g_strdup_printf ("n_%s", part_names[p]);
      json_builder_set_member_name (b, key);
      json_builder_add_int_value (b, counts[p]);
    }
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

gboolean
derm_split_from_json (const char *json, DermSplitConfig *config, guint *limit,
                      char **sha, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("the model's \"split\" metadata is not a JSON object"));
      return FALSE;
    }
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  if (!json_object_has_member (o, "seed") || !json_object_has_member (o, "val_fraction")
      || !json_object_has_member (o, "test_fraction"))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("the model's \"split\" metadata lacks seed or fractions"));
      return FALSE;
    }
  config->seed = (guint64) json_object_get_int_member (o, "seed");
  config->val_fraction = json_object_get_double_member (o, "val_fraction");
  config->test_fraction = json_object_get_double_member (o, "test_fraction");
  if (limit != NULL)
    *limit = (guint) json_object_get_int_member_with_default (o, "limit", 0);
  if (sha != NULL)
    *sha = g_strdup (json_object_get_string_member_with_default (o, "dataset_sha256", ""));
  return TRUE;
}
