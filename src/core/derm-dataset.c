/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-dataset.c: HAM10000 metadata CSV, file lookup and validation. */
#include "config.h"

#define G_LOG_DOMAIN "derm-dataset"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "derm-dataset.h"
#include "derm-error.h"

/* ---- CSV ---------------------------------------------------------------- */

typedef struct {
  int line;           /* line the record starts on */
  GPtrArray *fields;  /* char * */
  char *problem;      /* non-NULL: the record is malformed, this says why */
} CsvRecord;

static void
csv_record_free (CsvRecord *rec)
{
  g_ptr_array_unref (rec->fields);
  g_free (rec->problem);
  g_free (rec);
}

/* Splits @text into records (RFC 4180: quoted fields, "" escapes, CRLF or LF).
 * Over-long fields and records, and a quote left open, make a record
 * malformed; after an over-long record parsing resumes at the next newline. */
static GPtrArray *
csv_parse (const char *text, gsize len)
{
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) csv_record_free);
  gsize i = 0;
  int line = 1;

  if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
    i = 3;

  while (i < len)
    {
      CsvRecord *rec = g_new0 (CsvRecord, 1);
      rec->line = line;
      rec->fields = g_ptr_array_new_with_free_func (g_free);
      GString *field = g_string_new (NULL);
      gboolean quoted = FALSE, was_quoted = FALSE, done = FALSE;
      gsize start = i;

      while (!done)
        {
          if (i >= len)
            {
              if (quoted && rec->problem == NULL)
                rec->problem = g_strdup (_("a quoted field is never closed"));
              g_ptr_array_add (rec->fields, g_string_free (g_steal_pointer (&field), FALSE));
              done = TRUE;
              break;
            }
          if (i - start > DERM_DATASET_MAX_RECORD)
            {
              if (rec->problem == NULL)
                rec->problem = g_strdup_printf (_("the record is longer than %d bytes"),
                                                DERM_DATASET_MAX_RECORD);
              /* Resynchronise at the next newline, quotes or not. */
              while (i < len && text[i] != '\n')
                i++;
              if (i < len)
                {
                  i++;
                  line++;
                }
              g_ptr_array_add (rec->fields, g_string_free (g_steal_pointer (&field), FALSE));
              done = TRUE;
              break;
            }
          char c = text[i];
          if (c == '\0' && rec->problem == NULL)
            rec->problem = g_strdup (_("the record contains a NUL byte"));
          if (quoted)
            {
              if (c == '"')
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
              if (c == '\n')
                line++;
              g_string_append_c (field, c);
              i++;
            }
          else if (c == '"' && field->len == 0 && !was_quoted)
            {
              quoted = was_quoted = TRUE;
              i++;
            }
          else if (c == ',')
            {
              g_ptr_array_add (rec->fields, g_string_free (g_steal_pointer (&field), FALSE));
              field = g_string_new (NULL);
              was_quoted = FALSE;
              i++;
            }
          else if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
            i++;
          else if (c == '\n')
            {
              g_ptr_array_add (rec->fields, g_string_free (g_steal_pointer (&field), FALSE));
              i++;
              line++;
              done = TRUE;
            }
          else
            {
              if (c == '"' && rec->problem == NULL)
                rec->problem = g_strdup (_("a quote appears inside an unquoted field"));
              g_string_append_c (field, c);
              i++;
            }
          if (field != NULL && field->len > DERM_DATASET_MAX_FIELD && rec->problem == NULL)
            rec->problem = g_strdup_printf (_("a field is longer than %d bytes"),
                                            DERM_DATASET_MAX_FIELD);
        }
      if (field != NULL)
        g_string_free (field, TRUE);

      /* A blank line is no record. */
      if (rec->fields->len == 1 && rec->problem == NULL
          && ((char *) rec->fields->pdata[0])[0] == '\0')
        csv_record_free (rec);
      else
        g_ptr_array_add (records, rec);
    }
  return records;
}

/* ---- Files -------------------------------------------------------------- */

static gboolean
has_suffix_ci (const char *name, const char *suffix)
{
  gsize n = strlen (name), s = strlen (suffix);
  return n > s && g_ascii_strcasecmp (name + n - s, suffix) == 0;
}

/* Adds id -> path for the files of @dir that end with one of @suffixes
 * (the id is the name without the suffix); the first one found wins. */
static void
index_folder (GHashTable *index, const char *dir, const char *const *suffixes)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    for (int k = 0; suffixes[k] != NULL; k++)
      if (has_suffix_ci (name, suffixes[k]))
        {
          char *id = g_strndup (name, strlen (name) - strlen (suffixes[k]));
          if (g_hash_table_contains (index, id))
            g_free (id);
          else
            g_hash_table_insert (index, id, g_build_filename (dir, name, NULL));
          break;
        }
}

/* An image id becomes a file name: no separators, no "..", nothing odd. */
static gboolean
valid_image_id (const char *id)
{
  if (id[0] == '\0' || id[0] == '.' || strlen (id) > 128)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

/* ---- Dataset ------------------------------------------------------------ */

static void
sample_free (DermSample *s)
{
  g_free (s->lesion_id);
  g_free (s->image_id);
  g_free (s->dx_type);
  g_free (s->sex);
  g_free (s->localization);
  g_free (s->image_path);
  g_free (s->mask_path);
  g_free (s);
}

static void
issue_free (DermDatasetIssue *issue)
{
  g_free (issue->message);
  g_free (issue);
}

static void
add_issue (DermDataset *ds, int line, DermDatasetIssueKind kind, gboolean skipped,
           const char *format, ...) G_GNUC_PRINTF (5, 6);

static void
add_issue (DermDataset *ds, int line, DermDatasetIssueKind kind, gboolean skipped,
           const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  DermDatasetIssue *issue = g_new0 (DermDatasetIssue, 1);
  issue->line = line;
  issue->kind = kind;
  issue->skipped = skipped;
  issue->message = line > 0 ? g_strdup_printf (_("line %d: %s"), line, reason)
                            : g_steal_pointer (&reason);
  g_ptr_array_add (ds->issues, issue);
  if (skipped)
    ds->n_skipped++;
}

void
derm_dataset_free (DermDataset *dataset)
{
  if (dataset == NULL)
    return;
  g_free (dataset->root);
  g_free (dataset->csv_path);
  g_ptr_array_unref (dataset->samples);
  g_ptr_array_unref (dataset->issues);
  g_free (dataset);
}

static void
recount (DermDataset *ds)
{
  g_autoptr(GHashTable) lesions = g_hash_table_new (g_str_hash, g_str_equal);
  memset (ds->class_counts, 0, sizeof ds->class_counts);
  ds->n_masks = 0;
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      ds->class_counts[s->label]++;
      if (s->mask_path != NULL)
        ds->n_masks++;
      g_hash_table_add (lesions, s->lesion_id);
    }
  ds->n_lesions = g_hash_table_size (lesions);
}

static int
find_column (CsvRecord *header, const char *name)
{
  for (guint i = 0; i < header->fields->len; i++)
    {
      g_autofree char *f = g_strstrip (g_strdup (header->fields->pdata[i]));
      if (g_ascii_strcasecmp (f, name) == 0)
        return (int) i;
    }
  return -1;
}

static char *
field_dup (CsvRecord *rec, int col)
{
  if (col < 0 || (guint) col >= rec->fields->len)
    return g_strdup ("");
  return g_strstrip (g_strdup (rec->fields->pdata[col]));
}

DermDataset *
derm_dataset_load (const char *dir, DermDatasetFlags flags, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("%s is not a folder; give the HAM10000 folder that holds "
                     "HAM10000_metadata.csv"), dir);
      return NULL;
    }
  g_autofree char *csv_path = g_build_filename (dir, "HAM10000_metadata.csv", NULL);
  g_autoptr(GMappedFile) mapped = g_mapped_file_new (csv_path, FALSE, NULL);
  if (mapped == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("%s has no readable HAM10000_metadata.csv"), dir);
      return NULL;
    }
  gsize len = g_mapped_file_get_length (mapped);
  if (len > DERM_DATASET_MAX_CSV_BYTES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE,
                   _("%s is %" G_GSIZE_FORMAT " MiB, more than the %" G_GSIZE_FORMAT
                     " MiB a metadata file may have"),
                   csv_path, len >> 20, DERM_DATASET_MAX_CSV_BYTES >> 20);
      return NULL;
    }
  const char *text = len > 0 ? g_mapped_file_get_contents (mapped) : "";
  g_autoptr(GPtrArray) records = csv_parse (text, len);
  if (records->len == 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s is empty"), csv_path);
      return NULL;
    }

  CsvRecord *header = records->pdata[0];
  int c_lesion = find_column (header, "lesion_id");
  int c_image = find_column (header, "image_id");
  int c_dx = find_column (header, "dx");
  if (header->problem != NULL || c_lesion < 0 || c_image < 0 || c_dx < 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s: the first line must name the columns lesion_id, image_id and dx "
                     "(HAM10000's header is lesion_id,image_id,dx,dx_type,age,sex,localization)"),
                   csv_path);
      return NULL;
    }
  int c_dx_type = find_column (header, "dx_type");
  int c_age = find_column (header, "age");
  int c_sex = find_column (header, "sex");
  int c_loc = find_column (header, "localization");

  DermDataset *ds = g_new0 (DermDataset, 1);
  ds->root = g_strdup (dir);
  ds->csv_path = g_strdup (csv_path);
  ds->samples = g_ptr_array_new_with_free_func ((GDestroyNotify) sample_free);
  ds->issues = g_ptr_array_new_with_free_func ((GDestroyNotify) issue_free);

  g_autoptr(GHashTable) images = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) masks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *image_suffixes[] = { ".jpg", ".jpeg", ".png", NULL };
  const char *mask_suffixes[] = { "_segmentation.png", NULL };
  const char *image_dirs[] = { "images", "HAM10000_images_part_1", "HAM10000_images_part_2", "" };
  const char *mask_dirs[] = { "masks", "HAM10000_segmentations_lesion_tschandl" };
  for (gsize k = 0; k < G_N_ELEMENTS (mask_dirs); k++)
    {
      g_autofree char *d = g_build_filename (dir, mask_dirs[k], NULL);
      index_folder (masks, d, mask_suffixes);
    }
  for (gsize k = 0; k < G_N_ELEMENTS (image_dirs); k++)
    {
      g_autofree char *d = g_build_filename (dir, image_dirs[k], NULL);
      index_folder (images, d, image_suffixes);
    }

  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint r = 1; r < records->len; r++)
    {
      CsvRecord *rec = records->pdata[r];
      ds->n_rows++;
      if (rec->problem != NULL)
        {
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MALFORMED, TRUE, "%s", rec->problem);
          continue;
        }
      if (rec->fields->len != header->fields->len)
        {
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MALFORMED, TRUE,
                     _("%u fields where the header has %u"),
                     rec->fields->len, header->fields->len);
          continue;
        }
      g_autofree char *lesion = field_dup (rec, c_lesion);
      g_autofree char *image = field_dup (rec, c_image);
      g_autofree char *dx = field_dup (rec, c_dx);
      if (lesion[0] == '\0')
        {
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MALFORMED, TRUE, _("lesion_id is empty"));
          continue;
        }
      if (!valid_image_id (image))
        {
          g_autofree char *shown = g_strescape (image, NULL);
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MALFORMED, TRUE,
                     _("image_id \"%s\" is not a plain file name"), shown);
          continue;
        }
      int label = derm_class_from_code (dx);
      if (label < 0)
        {
          g_autofree char *shown = g_strescape (dx, NULL);
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_UNKNOWN_DX, TRUE,
                     _("unknown dx \"%s\" for %s (expected akiec, bcc, bkl, df, mel, nv or vasc)"),
                     shown, image);
          continue;
        }
      gpointer first_line;
      if (g_hash_table_lookup_extended (seen, image, NULL, &first_line))
        {
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_DUPLICATE_ID, TRUE,
                     _("image_id %s already appears on line %d"), image,
                     GPOINTER_TO_INT (first_line));
          continue;
        }
      const char *image_path = g_hash_table_lookup (images, image);
      if (image_path == NULL)
        {
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MISSING_IMAGE, TRUE,
                     _("no image file for %s (looked for %s.jpg in images/, "
                       "HAM10000_images_part_1/, HAM10000_images_part_2/ and the folder)"),
                     image, image);
          continue;
        }
      const char *mask_path = g_hash_table_lookup (masks, image);
      if (mask_path == NULL)
        {
          gboolean required = (flags & DERM_DATASET_REQUIRE_MASKS) != 0;
          add_issue (ds, rec->line, DERM_DATASET_ISSUE_MISSING_MASK, required,
                     _("no mask for %s (looked for masks/%s_segmentation.png)"), image, image);
          if (required)
            continue;
        }

      DermSample *s = g_new0 (DermSample, 1);
      s->lesion_id = g_steal_pointer (&lesion);
      s->image_id = g_strdup (image);
      s->label = (DermClass) label;
      s->dx_type = field_dup (rec, c_dx_type);
      s->sex = field_dup (rec, c_sex);
      s->localization = field_dup (rec, c_loc);
      s->image_path = g_strdup (image_path);
      s->mask_path = g_strdup (mask_path);
      s->line = rec->line;
      s->age = NAN;
      g_autofree char *age = field_dup (rec, c_age);
      if (age[0] != '\0')
        {
          char *end = NULL;
          double v = g_ascii_strtod (age, &end);
          if (end == age || *end != '\0' || !(v >= 0 && v <= 150))
            {
              g_autofree char *shown = g_strescape (age, NULL);
              add_issue (ds, rec->line, DERM_DATASET_ISSUE_BAD_VALUE, FALSE,
                         _("age \"%s\" is not a number of years; kept as unknown"), shown);
            }
          else
            s->age = v;
        }
      g_hash_table_insert (seen, g_strdup (image), GINT_TO_POINTER (rec->line));
      g_ptr_array_add (ds->samples, s);
    }
  recount (ds);

  if (ds->n_skipped > 0 && !(flags & DERM_DATASET_LENIENT))
    {
      g_autofree char *report = derm_dataset_report (ds, 10);
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s: %u of %u rows are not usable (use the lenient mode to go on "
                     "without them):\n%s"),
                   csv_path, ds->n_skipped, ds->n_rows, report);
      derm_dataset_free (ds);
      return NULL;
    }
  if (ds->samples->len == 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s: no usable image (%u rows read, %u skipped)"),
                   csv_path, ds->n_rows, ds->n_skipped);
      derm_dataset_free (ds);
      return NULL;
    }
  return ds;
}

char *
derm_dataset_report (const DermDataset *ds, guint max_issues)
{
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, _("%u rows, %u usable images of %u lesions, %u with masks, "
                                 "%u skipped\n"),
                          ds->n_rows, ds->samples->len, ds->n_lesions, ds->n_masks,
                          ds->n_skipped);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_string_append_printf (out, "%s%s %u", c ? ", " : "  ", derm_class_code (c),
                            ds->class_counts[c]);
  g_string_append_c (out, '\n');
  guint shown = 0;
  for (guint i = 0; i < ds->issues->len; i++)
    {
      DermDatasetIssue *issue = ds->issues->pdata[i];
      if (max_issues > 0 && shown == max_issues)
        {
          g_string_append_printf (out, _("  ... and %u more\n"), ds->issues->len - shown);
          break;
        }
      g_string_append_printf (out, "  %s%s\n", issue->message,
                              issue->skipped ? _(" (skipped)") : "");
      shown++;
    }
  return g_string_free (out, FALSE);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char *
derm_dataset_hash (const DermDataset *ds)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      g_ptr_array_add (lines, g_strdup_printf ("%s %s\n", s->image_id, derm_class_code (s->label)));
    }
  g_ptr_array_sort (lines, compare_strings);
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  for (guint i = 0; i < lines->len; i++)
    g_checksum_update (sum, lines->pdata[i], -1);
  return g_strdup (g_checksum_get_string (sum));
}

int
derm_dataset_find (const DermDataset *ds, const char *image_id)
{
  for (guint i = 0; i < ds->samples->len; i++)
    if (strcmp (((DermSample *) ds->samples->pdata[i])->image_id, image_id) == 0)
      return (int) i;
  return -1;
}

void
derm_dataset_limit_lesions (DermDataset *ds, guint n_lesions, guint64 seed)
{
  if (n_lesions == 0 || n_lesions >= ds->n_lesions)
    return;

  /* Lesions per class, in CSV order of first appearance. */
  g_autoptr(GHashTable) lesion_class = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *per_class[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    per_class[c] = g_ptr_array_new ();
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      if (!g_hash_table_contains (lesion_class, s->lesion_id))
        {
          g_hash_table_insert (lesion_class, s->lesion_id, GINT_TO_POINTER (s->label));
          g_ptr_array_add (per_class[s->label], s->lesion_id);
        }
    }

  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) (seed ^ (seed >> 32)) ^ 0x5bd1e995u);
  g_autoptr(GHashTable) keep = g_hash_table_new (g_str_hash, g_str_equal);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GPtrArray *l = per_class[c];
      if (l->len == 0)
        continue;
      guint quota = (guint) floor ((double) n_lesions * l->len / ds->n_lesions + 0.5);
      quota = CLAMP (quota, 1, l->len);
      for (guint i = 0; i < quota; i++)
        {
          guint j = i + g_rand_int_range (rand, 0, l->len - i);
          gpointer t = l->pdata[i];
          l->pdata[i] = l->pdata[j];
          l->pdata[j] = t;
          g_hash_table_add (keep, l->pdata[i]);
        }
    }

  /* Lesion ids point into samples: collect the survivors before freeing. */
  GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify) sample_free);
  for (guint i = 0; i < ds->samples->len; i++)
    {
      DermSample *s = ds->samples->pdata[i];
      if (g_hash_table_contains (keep, s->lesion_id))
        {
          g_ptr_array_add (kept, s);
          ds->samples->pdata[i] = NULL;
        }
    }
  g_hash_table_remove_all (keep);
  g_hash_table_remove_all (lesion_class);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_ptr_array_unref (per_class[c]);
  g_ptr_array_set_free_func (ds->samples, NULL);
  for (guint i = 0; i < ds->samples->len; i++)
    if (ds->samples->pdata[i] != NULL)
      sample_free (ds->samples->pdata[i]);
  g_ptr_array_unref (ds->samples);
  ds->samples = kept;
  recount (ds);
}

gboolean
derm_sample_patient_context (const DermSample *sample, DermPatientContext *context)
{
  /* Field by field, so one bad value leaves the others known. */
  DermPatientContext one;
  gboolean ok = TRUE;
  derm_patient_context_init (context);
  if (derm_patient_context_set (&one, sample->age, NULL, NULL, NULL))
    context->age = one.age;
  else
    ok = FALSE;
  if (derm_patient_context_set (&one, NAN, sample->sex, NULL, NULL))
    context->sex = one.sex;
  else
    ok = FALSE;
  if (derm_patient_context_set (&one, NAN, NULL, sample->localization, NULL))
    context->site = one.site;
  else
    ok = FALSE;
  return ok;
}
