/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-registry.c: installing, importing, activating, exporting and deleting
 * model versions: the files in the models folder and their registry rows. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-engine.h"
#include "derm-error.h"
#include "derm-registry.h"
#include "derm-safetensors.h"

#define HAM10000_ORDER "MEL,NV,BCC,AKIEC,BKL,DF,VASC"
#define IMAGENET_MEAN "0.485,0.456,0.406"
#define IMAGENET_STD "0.229,0.224,0.225"

char *
derm_registry_models_dir (DermStore *store, GError **error)
{
  g_autofree char *data_dir = g_path_get_dirname (derm_store_get_db_path (store));
  char *dir = g_build_filename (data_dir, "models", NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot create the models folder %s: %s"),
                   dir, g_strerror (saved));
      g_free (dir);
      return NULL;
    }
  return dir;
}

/* Copies @src to @dst (mode 0600, synced): @dst appears whole or not at
 * all. On failure @error is GLib's file error. */
static gboolean
copy_file (const char *src, const char *dst, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  return g_file_get_contents (src, &contents, &len, error)
         && g_file_set_contents_full (dst, contents, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT
                                      | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

static DermModelKind
kind_of (DermArch arch)
{
  return derm_arch_task (arch) == DERM_TASK_CLASSIFY ? DERM_MODEL_KIND_CLASSIFIER
                                                     : DERM_MODEL_KIND_SEGMENTER;
}

static char *
file_sha256 (const char *path, GError **error)
{
  g_autoptr(GMappedFile) mapped = g_mapped_file_new (path, FALSE, error);
  if (mapped == NULL)
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                      (const guchar *) g_mapped_file_get_contents (mapped),
                                      g_mapped_file_get_length (mapped));
}

/* A path in @dir that does not exist yet: STEM-YYYYmmdd-HHMMSS[-N].safetensors. */
static char *
new_model_path (const char *dir, const char *stem)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  for (int i = 0;; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup_printf ("%s-%s.safetensors", stem, stamp)
                                     : g_strdup_printf ("%s-%s-%d.safetensors", stem, stamp, i);
      char *candidate = g_build_filename (dir, name, NULL);
      if (!g_file_test (candidate, G_FILE_TEST_EXISTS))
        return candidate;
      g_free (candidate);
    }
}

/* Moves (or copies) @src into @dir as a new file; the destination appears
 * whole or not at all. Returns: (transfer full) its path. */
static char *
place_file (const char *src, const char *dir, const char *stem, gboolean move, GError **error)
{
  char *dst = new_model_path (dir, stem);
  if (move && g_rename (src, dst) == 0)
    return dst;
  /* A copy, or a move across file systems: through a temporary file. */
  g_autoptr(GError) local = NULL;
  if (!copy_file (src, dst, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("The model could not be saved in %s (%s)"),
                   dir, local->message);
      g_free (dst);
      return NULL;
    }
  if (move)
    g_unlink (src);
  return dst;
}

gint64
derm_registry_install (DermStore *store, const char *path, gboolean move, const char *stem,
                       const char *settings_json, const char *provenance, gint64 parent_id,
                       char **installed, GError **error)
{
  g_autoptr(DermSafetensors) sf = derm_safetensors_open (path, error);
  if (sf == NULL)
    return 0;
  GHashTable *meta = derm_safetensors_get_metadata (sf);
  const char *arch_name = g_hash_table_lookup (meta, "architecture");
  DermArch arch;
  if (arch_name == NULL || !derm_arch_from_name (arch_name, &arch))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s is not a Dermalens model file (it names no known architecture)"), path);
      return 0;
    }
  DermModelKind kind = kind_of (arch);
  g_autofree char *metrics = g_strdup (g_hash_table_lookup (meta, "metrics"));
  g_autofree char *settings = g_strdup (settings_json != NULL ? settings_json
                                                              : g_hash_table_lookup (meta, "training"));
  g_autofree char *default_stem = g_strdup_printf ("%s-%s", derm_model_kind_to_string (kind),
                                                   arch_name);
  g_clear_pointer (&sf, derm_safetensors_free);

  g_autofree char *dir = derm_registry_models_dir (store, error);
  if (dir == NULL)
    return 0;
  g_autofree char *dest = place_file (path, dir, stem != NULL ? stem : default_stem, move, error);
  if (dest == NULL)
    return 0;
  g_autofree char *sha = file_sha256 (dest, error);
  if (sha == NULL)
    {
      g_unlink (dest);
      return 0;
    }
  if (parent_id > 0)
    {
      g_autoptr(DermModelVersion) parent = derm_store_get_model (store, parent_id, NULL);
      if (parent == NULL)
        parent_id = 0;   /* deleted meanwhile */
    }
  DermModelVersion v = {
    .kind = kind, .architecture = (char *) derm_arch_name (arch), .file_path = dest,
    .sha256 = sha, .metrics_json = metrics, .settings_json = settings,
    .provenance = (char *) provenance, .parent_id = parent_id,
  };
  gint64 id = derm_store_register_model (store, &v, error);
  if (id == 0)
    {
      g_unlink (dest);
      return 0;
    }
  if (installed != NULL)
    *installed = g_steal_pointer (&dest);
  return id;
}

/* ---- Import ----------------------------------------------------------------------- */

/* The ResNet a torchvision state dict holds, from its tensor names. */
static gboolean
torchvision_arch (DermSafetensors *sf, DermArch *arch)
{
  if (derm_safetensors_lookup (sf, "layer1.0.conv3.weight") != NULL)
    *arch = DERM_ARCH_RESNET50;
  else if (derm_safetensors_lookup (sf, "layer3.5.conv1.weight") != NULL)
    *arch = DERM_ARCH_RESNET34;
  else if (derm_safetensors_lookup (sf, "layer1.0.conv1.weight") != NULL)
    *arch = DERM_ARCH_RESNET18;
  else
    return FALSE;
  return TRUE;
}

/* @order: codes in the head's output order. Fills @to_ours (head row ->
 * Dermalens class). */
static gboolean
parse_class_order (const char *order, int to_ours[DERM_N_CLASSES], GError **error)
{
  g_auto (GStrv) codes = g_strsplit (order, ",", -1);
  gboolean seen[DERM_N_CLASSES] = { FALSE };
  gboolean ok = g_strv_length (codes) == DERM_N_CLASSES;
  for (int i = 0; ok && i < DERM_N_CLASSES; i++)
    {
      int c = derm_class_from_code (g_strstrip (codes[i]));
      ok = c >= 0 && !seen[c];
      if (ok)
        {
          seen[c] = TRUE;
          to_ours[i] = c;
        }
    }
  if (!ok)
    g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                 _("The class order “%s” is not the seven HAM10000 codes (MEL, NV, BCC, AKIEC, "
                   "BKL, DF, VASC), each once, in the order of the head's outputs"), order);
  return ok;
}

static gboolean
parse_rgb (const char *text, gboolean positive, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  gboolean ok = g_strv_length (parts) == 3;
  for (int i = 0; ok && i < 3; i++)
    {
      char *end = NULL;
      double v = g_ascii_strtod (g_strstrip (parts[i]), &end);
      ok = end != parts[i] && *end == '\0' && isfinite (v) && (!positive || v > 0);
    }
  if (!ok)
    g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                 _("“%s” is not three comma-separated numbers%s (one per colour channel, for "
                   "pixels scaled to 0..1)"), text, positive ? _(" above zero") : "");
  return ok;
}

/* Writes the tensors of @sf to @dest with the head's rows in Dermalens's
 * class order. */
static gboolean
write_reordered (DermSafetensors *sf, const int to_ours[DERM_N_CLASSES], const char *dest,
                 GError **error)
{
  guint n = derm_safetensors_get_n_tensors (sf);
  g_autofree DermStTensor *tensors = g_new (DermStTensor, n);
  g_autoptr(GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      tensors[i] = *derm_safetensors_get_tensor (sf, i);
      DermStTensor *t = &tensors[i];
      if (strcmp (t->name, "fc.weight") != 0 && strcmp (t->name, "fc.bias") != 0)
        continue;
      gsize row = t->nbytes / DERM_N_CLASSES;
      guint8 *out = g_malloc (t->nbytes);
      for (int r = 0; r < DERM_N_CLASSES; r++)
        memcpy (out + (gsize) to_ours[r] * row, t->data + (gsize) r * row, row);
      g_ptr_array_add (buffers, out);
      t->data = out;
    }
  return derm_safetensors_write (dest, tensors, n, NULL, error);
}

/* A torchvision ResNet state dict with a seven-output head, converted into a
 * Dermalens file at @dest that the engine wrote. @used: @options with the
 * defaults filled in (strings borrowed). */
static gboolean
convert_torchvision (const char *path, DermSafetensors *sf, const DermImportOptions *options,
                     const char *dest, DermImportOptions *used, GError **error)
{
  DermArch arch;
  if (!torchvision_arch (sf, &arch))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s is neither a Dermalens model nor a torchvision ResNet-18, -34 or -50 state "
                     "dict (no “architecture” metadata, no “layer1.0.conv1.weight”)"), path);
      return FALSE;
    }
  const DermStTensor *fc = derm_safetensors_lookup (sf, "fc.weight");
  if (fc == NULL || fc->ndim != 2)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s has no classifier head “fc.weight”"),
                   path);
      return FALSE;
    }
  if (fc->shape[0] != DERM_N_CLASSES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                   _("%s is a %s whose head has %lld outputs, not the seven "
                     "diagnoses, so it cannot diagnose as it is. Use it as starting weights "
                     "instead: dermalens-cli init-weights --from, then train."),
                   path, derm_arch_name (arch), (long long) fc->shape[0]);
      return FALSE;
    }
  DermImportOptions o = options != NULL ? *options : (DermImportOptions) { 0 };
  const char *order = used->classes = o.classes != NULL ? o.classes : HAM10000_ORDER;
  const char *mean = used->mean = o.mean != NULL ? o.mean : IMAGENET_MEAN;
  const char *std = used->std = o.std != NULL ? o.std : IMAGENET_STD;
  int size = used->input_size = o.input_size > 0 ? o.input_size : 224;
  int to_ours[DERM_N_CLASSES];
  if (!parse_class_order (order, to_ours, error) || !parse_rgb (mean, FALSE, error)
      || !parse_rgb (std, TRUE, error))
    return FALSE;
  if (size < 16 || size > 4096)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("An input size of %d px is outside 16 to 4096"), size);
      return FALSE;
    }

  g_autofree char *reordered = g_strconcat (dest, ".head", NULL);
  if (!write_reordered (sf, to_ours, reordered, error))
    return FALSE;
  DermModelConfig cfg = { .arch = arch, .num_classes = DERM_N_CLASSES, .input_size = size };
  DermModel *model = derm_model_new (&cfg, "cpu", error);
  gboolean ok = model != NULL && derm_model_load_weights (model, reordered, FALSE, error);
  g_unlink (reordered);
  if (ok)
    {
      g_autofree char *base = g_path_get_basename (path);
      derm_model_set_metadata (model, "mean", mean);
      derm_model_set_metadata (model, "std", std);
      derm_model_set_metadata (model, "imported_from", base);
      derm_model_set_metadata (model, "imported_class_order", order);
      ok = derm_model_save (model, dest, error);
    }
  derm_model_free (model);
  return ok;
}

/* A Dermalens file: the engine loads it (the only real check that it can use
 * it); a classifier must have the seven diagnoses. */
static gboolean
check_dermalens_file (const char *path, DermArch *arch, GError **error)
{
  DermModel *model = derm_model_load (path, "cpu", error);
  if (model == NULL)
    return FALSE;
  *arch = derm_model_get_arch (model);
  int classes = derm_model_get_num_classes (model);
  derm_model_free (model);
  if (derm_arch_task (*arch) == DERM_TASK_CLASSIFY && classes != DERM_N_CLASSES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_MISMATCH,
                   _("This file has %d classes, not the seven diagnoses: use it as starting "
                     "weights for training instead."), classes);
      return FALSE;
    }
  return TRUE;
}

gint64
derm_registry_import (DermStore *store, const char *path, const DermImportOptions *options,
                      DermModelKind *kind, GError **error)
{
  g_autoptr(DermSafetensors) sf = derm_safetensors_open (path, error);
  if (sf == NULL)
    return 0;
  gboolean ours = g_hash_table_contains (derm_safetensors_get_metadata (sf), "architecture");
  g_autofree char *dir = derm_registry_models_dir (store, error);
  if (dir == NULL)
    return 0;
  DermArch arch = DERM_ARCH_UNET;
  g_autofree char *converted = NULL;
  g_autofree char *provenance = NULL;
  if (ours)
    {
      g_clear_pointer (&sf, derm_safetensors_free);
      if (!check_dermalens_file (path, &arch, error))
        return 0;
      provenance = g_strdup_printf (_("Imported from %s"), path);
    }
  else
    {
      DermImportOptions used;
      converted = g_strdup_printf ("%s/.import-%d-%" G_GINT64_FORMAT ".safetensors", dir,
                                   (int) getpid (), g_get_real_time ());
      if (!convert_torchvision (path, sf, options, converted, &used, error))
        {
          g_unlink (converted);
          return 0;
        }
      torchvision_arch (sf, &arch);
      provenance = g_strdup_printf (_("Imported from the torchvision export %s (classes %s, "
                                      "normalisation mean %s, std %s, %d px)"), path,
                                    used.classes, used.mean, used.std, used.input_size);
    }
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    *dot = '\0';
  g_autofree char *stem = g_strdup_printf ("imported-%s", base);
  gint64 id = derm_registry_install (store, converted != NULL ? converted : path, converted != NULL,
                                     stem, NULL, provenance, 0, NULL, error);
  if (converted != NULL)
    g_unlink (converted);   /* still there only when the install failed */
  if (id > 0 && kind != NULL)
    *kind = kind_of (arch);
  return id;
}

/* ---- Activate, delete, export ------------------------------------------------------ */

gboolean
derm_registry_activate (DermStore *store, gint64 id, DermModelKind *kind, GError **error)
{
  g_autoptr(DermModelVersion) v = derm_store_get_model (store, id, error);
  if (v == NULL)
    return FALSE;
  if (!g_file_test (v->file_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("Version %lld's file %s is missing; it was not activated."),
                   (long long) id, v->file_path);
      return FALSE;
    }
  if (!derm_store_activate_model (store, id, error))
    return FALSE;
  if (kind != NULL)
    *kind = v->kind;
  return TRUE;
}

gboolean
derm_registry_delete (DermStore *store, gint64 id, GError **error)
{
  g_autoptr(DermModelVersion) v = derm_store_get_model (store, id, error);
  if (v == NULL || !derm_store_delete_model (store, id, error))
    return FALSE;
  /* The file goes too when it is one of ours. */
  g_autofree char *dir = derm_registry_models_dir (store, NULL);
  g_autofree char *prefix = dir != NULL ? g_strconcat (dir, G_DIR_SEPARATOR_S, NULL) : NULL;
  if (prefix != NULL && g_str_has_prefix (v->file_path, prefix))
    g_unlink (v->file_path);
  return TRUE;
}

gboolean
derm_registry_export (DermStore *store, gint64 id, const char *dest, GError **error)
{
  g_autoptr(DermModelVersion) v = derm_store_get_model (store, id, error);
  if (v == NULL)
    return FALSE;
  g_autoptr(GError) local = NULL;
  if (!copy_file (v->file_path, dest, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Version %lld could not be exported to %s: %s"),
                   (long long) id, dest, local->message);
      return FALSE;
    }
  return TRUE;
}

static double
metric (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_double (n) : NAN;
}

char *
derm_registry_version_summary (const DermModelVersion *version)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *m = NULL;
  if (version->metrics_json != NULL
      && json_parser_load_from_data (parser, version->metrics_json, -1, NULL))
    {
      JsonNode *root = json_parser_get_root (parser);
      m = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
    }
  double ba = metric (m, "balanced_accuracy");
  if (isfinite (ba))
    return g_strdup_printf (_("test balanced accuracy %.3f"), ba);
  double dice = metric (m, "dice");
  if (isfinite (dice))
    return g_strdup_printf (_("test Dice %.3f"), dice);
  return g_strdup (_("no test metrics"));
}
