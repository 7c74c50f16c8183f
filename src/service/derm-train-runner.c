/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-runner.c: the training panel's job thread (see derm-train-runner.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-runner"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-dataset.h"
#include "derm-error.h"
#include "derm-registry.h"
#include "derm-safetensors.h"
#include "derm-store.h"
#include "derm-train-runner.h"

#define JOB_FILE "job.json"

/* ---- Settings ------------------------------------------------------------------ */

void
derm_train_settings_init (DermTrainSettings *s)
{
  DermTrainJobConfig job;
  derm_train_job_config_init (&job);
  memset (s, 0, sizeof *s);
  s->data = DERM_TRAIN_DATA_FOLDER;
  s->classify = TRUE;
  s->arch = job.arch;
  s->init = DERM_TRAIN_INIT_ACTIVE;
  s->finetune = job.finetune;
  s->epochs = job.epochs;
  s->batch = job.batch;
  s->image_size = 224;
  s->lr = 1e-3;
  s->device = g_strdup ("auto");
  s->patience = job.patience;
  s->seed = job.seed;
  s->balance = job.balance;
  s->mixup = job.mixup;
  s->cutmix = job.cutmix;
  s->ema = job.ema;
  s->folds = 1;
}

static char *active_model_path (DermModelKind kind, gint64 *id);

gboolean
derm_train_settings_init_for_machine (DermTrainSettings *s)
{
  derm_train_settings_init (s);
  if (derm_engine_cuda_available ())
    return FALSE;
  gint64 id = 0;
  g_autofree char *active = active_model_path (DERM_MODEL_KIND_CLASSIFIER, &id);
  if (active != NULL)
    return FALSE;
  s->arch = DERM_ARCH_RESNET18;
  s->image_size = 96;
  s->epochs = 4;
  s->segment = TRUE;
  s->seg_epochs = 1;
  return TRUE;
}

void
derm_train_settings_clear (DermTrainSettings *s)
{
  g_clear_pointer (&s->folder, g_free);
  g_clear_pointer (&s->init_file, g_free);
  g_clear_pointer (&s->device, g_free);
}

static void
settings_copy (DermTrainSettings *dst, const DermTrainSettings *src)
{
  *dst = *src;
  dst->folder = g_strdup (src->folder);
  dst->init_file = g_strdup (src->init_file);
  dst->device = g_strdup (src->device);
}

static const char *const data_names[] = { "folder", "cases", "both" };
static const char *const init_names[] = { "active", "file", "scratch" };

static int
name_index (const char *const *names, int n, const char *name)
{
  for (int i = 0; i < n; i++)
    if (g_strcmp0 (names[i], name) == 0)
      return i;
  return -1;
}

char *
derm_train_settings_to_json (const DermTrainSettings *s)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
#define STR(k, v) G_STMT_START { json_builder_set_member_name (b, k); \
    if ((v) != NULL) json_builder_add_string_value (b, v); else json_builder_add_null_value (b); } G_STMT_END
#define INT(k, v) G_STMT_START { json_builder_set_member_name (b, k); json_builder_add_int_value (b, v); } G_STMT_END
  STR ("data", data_names[s->data]);
  STR ("folder", s->folder);
  json_builder_set_member_name (b, "classify");
  json_builder_add_boolean_value (b, s->classify);
  json_builder_set_member_name (b, "segment");
  json_builder_add_boolean_value (b, s->segment);
  STR ("architecture", derm_arch_name (s->arch));
  STR ("init", init_names[s->init]);
  STR ("init_file", s->init_file);
  STR ("finetune", derm_finetune_name (s->finetune));
  INT ("epochs", s->epochs);
  INT ("seg_epochs", s->seg_epochs);
  INT ("batch", s->batch);
  INT ("image_size", s->image_size);
  json_builder_set_member_name (b, "lr");
  json_builder_add_double_value (b, s->lr);
  STR ("device", s->device);
  INT ("limit", s->limit);
  INT ("patience", s->patience);
  INT ("seed", (gint64) s->seed);
  STR ("balance", derm_balance_name (s->balance));
  json_builder_set_member_name (b, "mixup");
  json_builder_add_double_value (b, s->mixup);
  json_builder_set_member_name (b, "cutmix");
  json_builder_add_double_value (b, s->cutmix);
  json_builder_set_member_name (b, "ema");
  json_builder_add_double_value (b, s->ema);
  INT ("folds", s->folds);
  INT ("context", s->context);
#undef STR
#undef INT
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
member_dup (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

static gboolean
settings_from_object (DermTrainSettings *s, JsonObject *o, GError **error)
{
  derm_train_settings_clear (s);
  derm_train_settings_init (s);
  g_autofree char *data = member_dup (o, "data");
  g_autofree char *arch = member_dup (o, "architecture");
  g_autofree char *init = member_dup (o, "init");
  g_autofree char *finetune = member_dup (o, "finetune");
  int d = name_index (data_names, G_N_ELEMENTS (data_names), data);
  int i = name_index (init_names, G_N_ELEMENTS (init_names), init);
  DermFinetune f;
  if (d < 0 || i < 0 || !derm_finetune_from_name (finetune, &f) || !derm_arch_from_name (arch, &s->arch))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("The saved training settings are damaged; start a new job."));
      return FALSE;
    }
  s->data = d;
  s->init = i;
  s->finetune = f;
  s->folder = member_dup (o, "folder");
  s->init_file = member_dup (o, "init_file");
  g_free (s->device);
  s->device = member_dup (o, "device");
  s->classify = json_object_get_boolean_member_with_default (o, "classify", TRUE);
  s->segment = json_object_get_boolean_member_with_default (o, "segment", FALSE);
  s->epochs = json_object_get_int_member_with_default (o, "epochs", s->epochs);
  s->seg_epochs = json_object_get_int_member_with_default (o, "seg_epochs", 0);
  s->batch = json_object_get_int_member_with_default (o, "batch", s->batch);
  s->image_size = json_object_get_int_member_with_default (o, "image_size", s->image_size);
  s->lr = json_object_get_double_member_with_default (o, "lr", s->lr);
  s->limit = json_object_get_int_member_with_default (o, "limit", 0);
  s->patience = json_object_get_int_member_with_default (o, "patience", s->patience);
  s->seed = json_object_get_int_member_with_default (o, "seed", 1);
  const char *balance = json_object_get_string_member_with_default (o, "balance", NULL);
  if (balance != NULL && !derm_balance_from_name (balance, &s->balance))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("The saved training settings are damaged; start a new job."));
      return FALSE;
    }
  s->mixup = json_object_get_double_member_with_default (o, "mixup", s->mixup);
  s->cutmix = json_object_get_double_member_with_default (o, "cutmix", s->cutmix);
  s->ema = json_object_get_double_member_with_default (o, "ema", s->ema);
  s->folds = (int) CLAMP (json_object_get_int_member_with_default (o, "folds", s->folds), 1,
                          DERM_TRAIN_MAX_FOLDS);
  s->context = (unsigned) json_object_get_int_member_with_default (o, "context", s->context)
               & DERM_PATIENT_ALL;
  return TRUE;
}

gboolean
derm_train_settings_from_json (DermTrainSettings *s, const char *json, GError **error)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  if (!json_parser_load_from_data (p, json, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("The saved training settings are damaged; start a new job."));
      return FALSE;
    }
  return settings_from_object (s, json_node_get_object (json_parser_get_root (p)), error);
}

static gboolean
settings_check (const DermTrainSettings *s, GError **error)
{
  const char *problem = NULL;
  if (!s->classify && !s->segment)
    problem = _("Choose what to train: the classifier, the segmenter or both.");
  else if (s->data != DERM_TRAIN_DATA_CASES && (s->folder == NULL || *s->folder == '\0'))
    problem = _("Choose the HAM10000 folder to train on.");
  else if (s->data != DERM_TRAIN_DATA_CASES && !g_file_test (s->folder, G_FILE_TEST_IS_DIR))
    problem = _("The HAM10000 folder does not exist; choose another one.");
  else if (s->init == DERM_TRAIN_INIT_FILE && (s->init_file == NULL || *s->init_file == '\0'))
    problem = _("Choose the weights file to start from, or start from the active model or from scratch.");
  else if (s->classify && derm_arch_task (s->arch) != DERM_TASK_CLASSIFY)
    problem = _("The classifier must be a ResNet.");
  if (problem != NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, problem);
      return FALSE;
    }
  return TRUE;
}

/* ---- Events -------------------------------------------------------------------- */

DermTrainRunnerEvent *
derm_train_runner_event_copy (const DermTrainRunnerEvent *e)
{
  DermTrainRunnerEvent *c = g_memdup2 (e, sizeof *e);
  c->message = g_strdup (e->message);
  c->json = g_strdup (e->json);
  return c;
}

void
derm_train_runner_event_free (DermTrainRunnerEvent *e)
{
  if (e == NULL)
    return;
  g_free (e->message);
  g_free (e->json);
  g_free (e);
}

G_DEFINE_BOXED_TYPE (DermTrainRunnerEvent, derm_train_runner_event,
                     derm_train_runner_event_copy, derm_train_runner_event_free)

/* ---- Paths --------------------------------------------------------------------- */

/* Not created here: it exists only while a job is running or resumable. */
static char *
training_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "dermalens", "training", NULL);
}

static gboolean
remove_tree (const char *path)
{
  GStatBuf st;
  if (g_lstat (path, &st) != 0)
    return TRUE;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      return g_rmdir (path) == 0;
    }
  return g_unlink (path) == 0;
}

char *
derm_train_describe_error (const GError *error, const DermTrainSettings *settings)
{
  if (g_error_matches (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY))
    return g_strdup_printf (_("%s This job had batch size %d at %d px."), error->message,
                            settings != NULL ? settings->batch : 0,
                            settings != NULL ? settings->image_size : 0);
  if (g_error_matches (error, DERM_ERROR, DERM_ERROR_IO))
    {
      gboolean sentence = g_str_has_suffix (error->message, ".");
      return g_strdup_printf (_("%s%s Make room on the disk, then resume the job; the active "
                                "versions are unchanged."), error->message, sentence ? "" : ".");
    }
  return g_strdup (error->message);
}

/* ---- The job thread ------------------------------------------------------------- */

typedef struct {
  DermTrainSettings settings;
  gboolean resume;
  GWeakRef runner;
  volatile gint cancel;
  volatile gint current_step;    /* global step of the last finished step */
  /* Filled by the thread. */
  DermTask task;
  int task_index, n_tasks;
} JobContext;

typedef struct {
  GWeakRef runner;
  DermTrainRunnerEvent *event;   /* NULL: finished */
  GError *error;                 /* finished with this error */
} Post;

struct _DermTrainRunner
{
  GObject parent_instance;

  GThread *thread;
  JobContext *job;
  gint64 cancel_step;            /* the step finished when Stop was asked; -1 */
  gint64 steps_after_cancel;     /* of the last stopped job; -1 */
};

G_DEFINE_FINAL_TYPE (DermTrainRunner, derm_train_runner, G_TYPE_OBJECT)

enum { SIGNAL_EVENT, SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
job_context_free (JobContext *job)
{
  derm_train_settings_clear (&job->settings);
  g_weak_ref_clear (&job->runner);
  g_free (job);
}

static gboolean
deliver_cb (gpointer data)
{
  Post *post = data;
  g_autoptr(DermTrainRunner) self = g_weak_ref_get (&post->runner);
  if (self != NULL)
    {
      if (post->event != NULL)
        g_signal_emit (self, signals[SIGNAL_EVENT], 0, post->event);
      else
        {
          /* The thread has returned (or is about to): join it first, so that
           * a handler may start the next job. */
          if (self->thread != NULL)
            g_thread_join (self->thread);
          self->thread = NULL;
          if (self->cancel_step >= 0)
            self->steps_after_cancel = g_atomic_int_get (&self->job->current_step) - self->cancel_step;
          g_clear_pointer (&self->job, job_context_free);
          derm_engine_empty_cache ();
          g_signal_emit (self, signals[SIGNAL_FINISHED], 0, post->error);
        }
    }
  derm_train_runner_event_free (post->event);
  g_clear_error (&post->error);
  g_weak_ref_clear (&post->runner);
  g_free (post);
  return G_SOURCE_REMOVE;
}

static void
post_event (JobContext *job, DermTrainRunnerEvent *event)
{
  Post *post = g_new0 (Post, 1);
  g_weak_ref_init (&post->runner, NULL);
  g_autoptr(GObject) runner = g_weak_ref_get (&job->runner);
  g_weak_ref_set (&post->runner, runner);
  event->task = job->task;
  event->task_index = job->task_index;
  event->n_tasks = job->n_tasks;
  post->event = derm_train_runner_event_copy (event);
  g_idle_add_full (G_PRIORITY_DEFAULT, deliver_cb, post, NULL);
}

static void
post_message (JobContext *job, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
post_message (JobContext *job, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  DermTrainRunnerEvent e = { .type = DERM_TRAIN_EVENT_MESSAGE, .message = msg, .val_metric = NAN };
  post_event (job, &e);
}

static void
job_event_cb (const DermTrainEvent *je, gpointer data)
{
  JobContext *job = data;
  if (je->type == DERM_TRAIN_EVENT_STEP)
    g_atomic_int_set (&job->current_step, (gint) je->global_step);
  DermTrainRunnerEvent e = {
    .type = je->type, .epoch = je->epoch, .epochs = je->epochs, .step = je->step,
    .steps = je->steps, .global_step = je->global_step, .loss = je->loss,
    .images_per_second = je->images_per_second, .eta_seconds = je->eta_seconds,
    .elapsed_seconds = je->elapsed_seconds, .val_metric = je->val_metric,
    .temperature = je->temperature, .is_best = je->is_best, .done = je->done,
    .total = je->total, .n_train = je->n_train, .n_val = je->n_val, .n_test = je->n_test,
    .member = je->member, .members = je->members, .message = (char *) je->message,
    .json = (char *) je->json,
  };
  post_event (job, &e);
}

/* ---- Data ------------------------------------------------------------------------ */

typedef struct {
  GString *csv;
  GHashTable *ids;          /* image ids written */
  guint n_images, n_unreadable, n_rows_skipped, n_duplicates, n_masks;
  char *first_unreadable;
} Merge;

static const char *
file_extension (const char *path)
{
  const char *dot = strrchr (path, '.');
  return dot != NULL ? dot : ".jpg";
}

static void
csv_field (GString *out, const char *s)
{
  if (s == NULL)
    s = "";
  if (strpbrk (s, ",\"\n\r") == NULL)
    {
      g_string_append (out, s);
      return;
    }
  g_string_append_c (out, '"');
  for (; *s; s++)
    {
      if (*s == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *s);
    }
  g_string_append_c (out, '"');
}

static gboolean
link_file (const char *target, const char *link_path, GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (target, NULL);
  g_unlink (link_path);
  if (symlink (abs, link_path) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot prepare the training data in %s: %s"),
                   link_path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Adds the readable samples of the HAM10000 folder @src to the merged folder @dst. */
static gboolean
merge_source (JobContext *job, const char *src, const char *dst, Merge *m, GError **error)
{
  g_autoptr(DermDataset) ds = derm_dataset_load (src, DERM_DATASET_LENIENT, error);
  if (ds == NULL)
    return FALSE;
  m->n_rows_skipped += ds->n_skipped;
  guint n = ds->samples->len;
  for (guint i = 0; i < n; i++)
    {
      if (g_atomic_int_get (&job->cancel))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("Stopped while preparing the training data."));
          return FALSE;
        }
      const DermSample *s = ds->samples->pdata[i];
      if (i % MAX (n / 100, 1) == 0 || i + 1 == n)
        {
          DermTrainRunnerEvent e = { .type = DERM_TRAIN_RUNNER_EVENT_PREPARE, .done = i + 1,
                                     .total = n, .val_metric = NAN };
          post_event (job, &e);
        }
      if (g_hash_table_contains (m->ids, s->image_id))
        {
          m->n_duplicates++;
          continue;
        }
      /* A DCT-scaled decode finds truncated and corrupt files cheaply. */
      g_autoptr(GError) bad = NULL;
      g_autoptr(DermImage) probe = derm_image_load (s->image_path, 3, 32, 32, &bad);
      if (probe == NULL)
        {
          m->n_unreadable++;
          if (m->first_unreadable == NULL)
            m->first_unreadable = g_strdup (bad->message);
          continue;
        }
      g_autofree char *img_name = g_strconcat (s->image_id, file_extension (s->image_path), NULL);
      g_autofree char *img_link = g_build_filename (dst, "images", img_name, NULL);
      if (!link_file (s->image_path, img_link, error))
        return FALSE;
      if (s->mask_path != NULL)
        {
          g_autoptr(DermImage) mask = derm_image_load (s->mask_path, 1, 0, 0, NULL);
          if (mask != NULL)
            {
              g_autofree char *mask_name = g_strconcat (s->image_id, "_segmentation.png", NULL);
              g_autofree char *mask_link = g_build_filename (dst, "masks", mask_name, NULL);
              if (!link_file (s->mask_path, mask_link, error))
                return FALSE;
              m->n_masks++;
            }
        }
      g_hash_table_add (m->ids, g_strdup (s->image_id));
      csv_field (m->csv, s->lesion_id);
      g_string_append_c (m->csv, ',');
      csv_field (m->csv, s->image_id);
      g_string_append_c (m->csv, ',');
      g_autofree char *dx = g_ascii_strdown (derm_class_code (s->label), -1);
      g_string_append (m->csv, dx);
      g_string_append_c (m->csv, ',');
      csv_field (m->csv, s->dx_type);
      g_string_append_c (m->csv, ',');
      if (isfinite (s->age))
        g_string_append_printf (m->csv, "%g", s->age);
      g_string_append_c (m->csv, ',');
      csv_field (m->csv, s->sex);
      g_string_append_c (m->csv, ',');
      csv_field (m->csv, s->localization);
      g_string_append_c (m->csv, '\n');
      m->n_images++;
    }
  return TRUE;
}

/* Builds job_dir/data: one HAM10000 folder of links to the readable images
 * of the chosen sources. The store's confirmed cases are exported first
 * (job_dir/cases). Returns the provenance text, or NULL with @error. */
static char *
prepare_data (JobContext *job, const char *job_dir, GError **error)
{
  const DermTrainSettings *s = &job->settings;
  g_autofree char *data = g_build_filename (job_dir, "data", NULL);
  g_autofree char *cases = g_build_filename (job_dir, "cases", NULL);
  remove_tree (data);
  remove_tree (cases);
  g_autofree char *images = g_build_filename (data, "images", NULL);
  g_autofree char *masks = g_build_filename (data, "masks", NULL);
  if (g_mkdir_with_parents (images, 0700) != 0 || g_mkdir_with_parents (masks, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot create %s: %s"), data,
                   g_strerror (saved));
      return NULL;
    }

  Merge m = { g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n"),
              g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  g_autoptr(GString) provenance = g_string_new (NULL);
  gboolean ok = TRUE;
  gint64 n_cases = 0;
  if (s->data != DERM_TRAIN_DATA_CASES)
    {
      post_message (job, _("Checking the images of %s"), s->folder);
      ok = merge_source (job, s->folder, data, &m, error);
      /* Translators: provenance of a model; %s is a folder */
      g_string_append_printf (provenance, _("HAM10000 folder “%s”"), s->folder);
    }
  if (ok && s->data != DERM_TRAIN_DATA_FOLDER)
    {
      post_message (job, _("Exporting the confirmed cases of the case database"));
      g_autoptr(DermStore) store = derm_store_open (NULL, error);
      DermCaseQuery query;
      derm_case_query_init (&query);
      query.confirmed = DERM_CONFIRMED_YES;
      n_cases = store != NULL ? derm_store_export_ham10000 (store, &query, cases, error) : -1;
      ok = n_cases >= 0;
      if (ok && n_cases > 0)
        ok = merge_source (job, cases, data, &m, error);
      if (provenance->len > 0)
        g_string_append (provenance, " + ");
      g_string_append_printf (provenance,
                              g_dngettext (GETTEXT_PACKAGE, "%lld confirmed case of the case database",
                                           "%lld confirmed cases of the case database",
                                           MAX (n_cases, 0)),
                              (long long) MAX (n_cases, 0));
    }
  if (ok)
    {
      g_autofree char *csv = g_build_filename (data, "HAM10000_metadata.csv", NULL);
      ok = g_file_set_contents (csv, m.csv->str, (gssize) m.csv->len, NULL);
      if (!ok)
        g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot write %s"), csv);
    }
  if (ok)
    {
      g_string_append_printf (provenance, _("; %u images, %u with masks"), m.n_images, m.n_masks);
      if (m.n_unreadable > 0)
        g_string_append_printf (provenance, _("; %u unreadable images left out"), m.n_unreadable);
      if (m.n_unreadable > 0)
        post_message (job,
                      g_dngettext (GETTEXT_PACKAGE, "%u unreadable image was skipped (the first: %s)",
                                   "%u unreadable images were skipped (the first: %s)", m.n_unreadable),
                      m.n_unreadable, m.first_unreadable);
      if (m.n_rows_skipped > 0)
        post_message (job, g_dngettext (GETTEXT_PACKAGE, "%u row of the metadata was skipped",
                                        "%u rows of the metadata were skipped", m.n_rows_skipped),
                      m.n_rows_skipped);
      if (m.n_duplicates > 0)
        post_message (job, g_dngettext (GETTEXT_PACKAGE, "%u image was in both sources and used once",
                                        "%u images were in both sources and used once", m.n_duplicates),
                      m.n_duplicates);
      post_message (job, _("Training data: %u images (%u unreadable skipped)"), m.n_images,
                    m.n_unreadable);
    }
  g_string_free (m.csv, TRUE);
  g_hash_table_unref (m.ids);
  g_free (m.first_unreadable);
  if (!ok)
    return NULL;
  return g_string_free (g_steal_pointer (&provenance), FALSE);
}

/* ---- Job state (job.json) ---------------------------------------------------------- */

typedef struct {
  char *settings_json;
  char *provenance;
  int tasks_done;
  gint64 parents[2];     /* by DermModelKind */
} JobState;

static void
job_state_clear (JobState *st)
{
  g_clear_pointer (&st->settings_json, g_free);
  g_clear_pointer (&st->provenance, g_free);
}

/* Adds the member @name holding the JSON document @json; adds nothing
 * when @json is NULL or does not parse. */
static void
add_json_member (JsonBuilder *b, const char *name, const char *json)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  if (json == NULL || !json_parser_load_from_data (p, json, -1, NULL)
      || json_parser_get_root (p) == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_value (b, json_node_copy (json_parser_get_root (p)));
}

static gboolean
job_state_save (const char *job_dir, const JobState *st, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_json_member (b, "settings", st->settings_json);
  json_builder_set_member_name (b, "provenance");
  json_builder_add_string_value (b, st->provenance != NULL ? st->provenance : "");
  json_builder_set_member_name (b, "tasks_done");
  json_builder_add_int_value (b, st->tasks_done);
  json_builder_set_member_name (b, "parent_classifier");
  json_builder_add_int_value (b, st->parents[0]);
  json_builder_set_member_name (b, "parent_segmenter");
  json_builder_add_int_value (b, st->parents[1]);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, TRUE);
  g_autofree char *path = g_build_filename (job_dir, JOB_FILE, NULL);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT
                                 | G_FILE_SET_CONTENTS_DURABLE, 0600, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("Cannot save the job's state: %s"),
                   local->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
job_state_load (const char *job_dir, JobState *st, GError **error)
{
  g_autofree char *path = g_build_filename (job_dir, JOB_FILE, NULL);
  g_autoptr(JsonParser) p = json_parser_new ();
  if (!json_parser_load_from_file (p, path, NULL) || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)))
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                           _("There is no stopped training job to resume."));
      return FALSE;
    }
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  JsonNode *settings = json_object_get_member (o, "settings");
  if (settings == NULL || !JSON_NODE_HOLDS_OBJECT (settings))
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_FORMAT,
                           _("The saved training settings are damaged; start a new job."));
      return FALSE;
    }
  st->settings_json = json_to_string (settings, FALSE);
  st->provenance = member_dup (o, "provenance");
  st->tasks_done = json_object_get_int_member_with_default (o, "tasks_done", 0);
  st->parents[0] = json_object_get_int_member_with_default (o, "parent_classifier", 0);
  st->parents[1] = json_object_get_int_member_with_default (o, "parent_segmenter", 0);
  return TRUE;
}

/* ---- Registration ---------------------------------------------------------------- */

/* Registers the finished model at @path (moved into the models folder).
 * Returns the version id or 0 with @error. */
static gint64
register_model (JobContext *job, DermTask task, const char *path, const JobState *st,
                GError **error)
{
  DermModelKind kind = task == DERM_TASK_CLASSIFY ? DERM_MODEL_KIND_CLASSIFIER
                                                  : DERM_MODEL_KIND_SEGMENTER;
  g_autoptr(DermSafetensors) sf = derm_safetensors_open (path, error);
  if (sf == NULL)
    return 0;
  GHashTable *meta = derm_safetensors_get_metadata (sf);
  const char *metrics = meta != NULL ? g_hash_table_lookup (meta, "metrics") : NULL;
  const char *training = meta != NULL ? g_hash_table_lookup (meta, "training") : NULL;
  g_autofree char *settings_json = NULL;
  {
    g_autoptr(JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    add_json_member (b, "panel", st->settings_json);
    add_json_member (b, "training", training);
    json_builder_end_object (b);
    g_autoptr(JsonNode) root = json_builder_get_root (b);
    settings_json = json_to_string (root, FALSE);
  }
  g_autofree char *metrics_copy = g_strdup (metrics);
  g_clear_pointer (&sf, derm_safetensors_free);

  g_autoptr(DermStore) store = derm_store_open (NULL, error);
  if (store == NULL)
    return 0;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *when = g_date_time_format (now, "%Y-%m-%d %H:%M");
  const DermTrainSettings *s = &job->settings;
  g_autofree char *provenance =
    g_strdup_printf (_("%s. Split: seed %" G_GUINT64_FORMAT ", 70 %% training, 15 %% validation, "
                       "15 %% test, grouped by lesion. Trained in Dermalens %s on %s, %s."),
                     st->provenance != NULL ? st->provenance : "", s->seed, PACKAGE_VERSION,
                     s->device != NULL ? s->device : "auto", when);
  if (s->limit > 0)
    {
      /* Translators: appended to a model's provenance */
      g_autofree char *limited = g_strdup_printf (_(" Only about %u lesions of the data were used, drawn "
                                                    "class by class."), s->limit);
      char *both = g_strconcat (provenance, limited, NULL);
      g_free (provenance);
      provenance = both;
    }
  g_autofree char *installed = NULL;
  gint64 id = derm_registry_install (store, path, TRUE, NULL, settings_json, provenance,
                                     st->parents[kind], &installed, error);
  if (id > 0)
    {
      DermTrainRunnerEvent e = { .type = DERM_TRAIN_RUNNER_EVENT_REGISTERED, .version_id = id,
                                 .message = installed, .json = metrics_copy, .val_metric = NAN };
      post_event (job, &e);
    }
  return id;
}

/* ---- The thread ------------------------------------------------------------------- */

static char *
active_model_path (DermModelKind kind, gint64 *id)
{
  g_autoptr(DermStore) store = derm_store_open (NULL, NULL);
  if (store == NULL)
    return NULL;
  g_autoptr(DermModelVersion) v = derm_store_get_active_model (store, kind, NULL);
  if (v == NULL)
    return NULL;
  *id = v->id;
  return g_strdup (v->file_path);
}

static gboolean
run_tasks (JobContext *job, GError **error)
{
  DermTrainSettings *s = &job->settings;
  g_autofree char *job_dir = training_dir ();
  JobState st = { 0 };
  gboolean ok = TRUE;

  if (job->resume)
    {
      ok = job_state_load (job_dir, &st, error);
      if (ok)
        ok = derm_train_settings_from_json (s, st.settings_json, error);
      if (ok)
        post_message (job, _("Resuming the stopped job"));
    }
  else
    {
      remove_tree (job_dir);
      g_mkdir_with_parents (job_dir, 0700);
      st.settings_json = derm_train_settings_to_json (s);
      st.provenance = prepare_data (job, job_dir, error);
      ok = st.provenance != NULL;
      if (ok && s->init == DERM_TRAIN_INIT_ACTIVE)
        for (int k = 0; k < 2; k++)
          g_free (active_model_path (k, &st.parents[k]));
      if (ok)
        ok = job_state_save (job_dir, &st, error);
    }

  DermTask tasks[2];
  int n_tasks = 0;
  if (s->classify)
    tasks[n_tasks++] = DERM_TASK_CLASSIFY;
  if (s->segment)
    tasks[n_tasks++] = DERM_TASK_SEGMENT;
  job->n_tasks = n_tasks;

  g_autofree char *data_dir = g_build_filename (job_dir, "data", NULL);
  for (int t = st.tasks_done; ok && t < n_tasks; t++)
    {
      DermTask task = tasks[t];
      DermModelKind kind = task == DERM_TASK_CLASSIFY ? DERM_MODEL_KIND_CLASSIFIER
                                                      : DERM_MODEL_KIND_SEGMENTER;
      job->task = task;
      job->task_index = t;
      g_autofree char *out = g_build_filename (job_dir, task == DERM_TASK_CLASSIFY
                                               ? "classifier.safetensors" : "segmenter.safetensors",
                                               NULL);
      g_autofree char *ckpt = g_strconcat (out, ".ckpt", NULL);
      g_autofree char *init = NULL;
      if (s->init == DERM_TRAIN_INIT_ACTIVE)
        {
          gint64 id = 0;
          init = active_model_path (kind, &id);
          if (init == NULL)
            post_message (job, _("No active %s yet: starting from scratch"),
                          task == DERM_TASK_CLASSIFY ? _("classifier") : _("segmenter"));
        }
      else if (s->init == DERM_TRAIN_INIT_FILE && task == DERM_TASK_CLASSIFY)
        init = g_strdup (s->init_file);

      DermTrainJobConfig cfg;
      derm_train_job_config_init (&cfg);
      cfg.task = task;
      cfg.arch = task == DERM_TASK_CLASSIFY ? s->arch : DERM_ARCH_UNET;
      cfg.data_dir = data_dir;
      cfg.out_path = out;
      cfg.epochs = task == DERM_TASK_SEGMENT && s->classify && s->seg_epochs > 0 ? s->seg_epochs
                                                                              : s->epochs;
      cfg.batch = s->batch;
      cfg.image_size = s->image_size;
      cfg.lr = s->lr;
      cfg.device = s->device;
      cfg.seed = s->seed;
      cfg.limit = s->limit;
      cfg.init_weights = init;
      cfg.finetune = task == DERM_TASK_CLASSIFY ? s->finetune : DERM_FINETUNE_ALL;
      cfg.patience = s->patience;
      if (task == DERM_TASK_CLASSIFY)
        {
          cfg.balance = s->balance;
          cfg.mixup = s->mixup;
          cfg.cutmix = s->cutmix;
          cfg.folds = s->folds;
          cfg.context = s->context;
        }
      cfg.ema = s->ema;
      cfg.lenient = TRUE;
      cfg.resume = job->resume && g_file_test (ckpt, G_FILE_TEST_EXISTS) ? ckpt : NULL;
      post_message (job, _("Training the %s (%s)"),
                    task == DERM_TASK_CLASSIFY ? _("classifier") : _("segmenter"),
                    derm_arch_name (cfg.arch));
      ok = derm_train_job_run (&cfg, job_event_cb, job, &job->cancel, error);
      derm_engine_empty_cache ();
      if (!ok)
        break;
      ok = register_model (job, task, out, &st, error) > 0;
      if (!ok)
        break;
      st.tasks_done = t + 1;
      job->resume = FALSE;   /* the next task starts fresh */
      if (st.tasks_done < n_tasks)
        ok = job_state_save (job_dir, &st, error);
    }
  if (ok)
    remove_tree (job_dir);
  job_state_clear (&st);
  return ok;
}

static gpointer
job_worker (gpointer data)
{
  JobContext *job = data;
  GError *error = NULL;
  /* Debian's libtorch starts with one intra-op thread. */
  derm_engine_set_threads (0);
  /* On the CPU an analysis goes first: the job waits at its next network
   * stage while the model worker serves one (two thread teams on the same
   * cores starve each other). */
  derm_engine_set_background_thread (TRUE);
  run_tasks (job, &error);
  derm_engine_empty_cache ();

  Post *post = g_new0 (Post, 1);
  g_autoptr(GObject) runner = g_weak_ref_get (&job->runner);
  g_weak_ref_init (&post->runner, runner);
  post->error = error;
  g_idle_add_full (G_PRIORITY_DEFAULT, deliver_cb, post, NULL);
  return NULL;
}

/* ---- Public -------------------------------------------------------------------- */

static gboolean
launch (DermTrainRunner *self, JobContext *job, GError **error)
{
  g_weak_ref_init (&job->runner, self);
  self->job = job;
  self->cancel_step = -1;
  self->steps_after_cancel = -1;
  self->thread = g_thread_try_new ("derm-train", job_worker, job, error);
  if (self->thread == NULL)
    {
      g_clear_pointer (&self->job, job_context_free);
      return FALSE;
    }
  return TRUE;
}

gboolean
derm_train_runner_start (DermTrainRunner *self, const DermTrainSettings *settings, GError **error)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), FALSE);
  if (self->thread != NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, _("A training job is already running."));
      return FALSE;
    }
  if (!settings_check (settings, error))
    return FALSE;
  JobContext *job = g_new0 (JobContext, 1);
  settings_copy (&job->settings, settings);
  return launch (self, job, error);
}

gboolean
derm_train_runner_resume (DermTrainRunner *self, GError **error)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), FALSE);
  if (self->thread != NULL)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_INVALID, _("A training job is already running."));
      return FALSE;
    }
  if (!derm_train_runner_can_resume (self))
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                           _("There is no stopped training job to resume."));
      return FALSE;
    }
  JobContext *job = g_new0 (JobContext, 1);
  derm_train_settings_init (&job->settings);
  job->resume = TRUE;
  return launch (self, job, error);
}

void
derm_train_runner_cancel (DermTrainRunner *self)
{
  g_return_if_fail (DERM_IS_TRAIN_RUNNER (self));
  if (self->job != NULL && !g_atomic_int_get (&self->job->cancel))
    {
      g_atomic_int_set (&self->job->cancel, 1);
      /* Read after setting the flag: a step that ends meanwhile counts as
       * before the request, so the count below never flatters us. */
      self->cancel_step = g_atomic_int_get (&self->job->current_step);
    }
}

gint64
derm_train_runner_get_steps_after_cancel (DermTrainRunner *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), -1);
  return self->steps_after_cancel;
}

gboolean
derm_train_runner_is_running (DermTrainRunner *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), FALSE);
  return self->thread != NULL;
}

gboolean
derm_train_runner_can_resume (DermTrainRunner *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), FALSE);
  if (self->thread != NULL)
    return FALSE;
  g_autofree char *dir = training_dir ();
  g_autofree char *path = g_build_filename (dir, JOB_FILE, NULL);
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

char *
derm_train_runner_get_resume_settings (DermTrainRunner *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_RUNNER (self), NULL);
  g_autofree char *dir = training_dir ();
  JobState st = { 0 };
  if (!job_state_load (dir, &st, NULL))
    return NULL;
  char *json = g_steal_pointer (&st.settings_json);
  job_state_clear (&st);
  return json;
}

void
derm_train_runner_discard (DermTrainRunner *self)
{
  g_return_if_fail (DERM_IS_TRAIN_RUNNER (self));
  if (self->thread != NULL)
    return;
  g_autofree char *dir = training_dir ();
  remove_tree (dir);
}

void
derm_train_runner_shutdown (DermTrainRunner *self)
{
  g_return_if_fail (DERM_IS_TRAIN_RUNNER (self));
  if (self->thread == NULL)
    return;
  g_atomic_int_set (&self->job->cancel, 1);
  g_thread_join (self->thread);
  self->thread = NULL;
  g_clear_pointer (&self->job, job_context_free);
}

static void
derm_train_runner_dispose (GObject *object)
{
  derm_train_runner_shutdown (DERM_TRAIN_RUNNER (object));
  G_OBJECT_CLASS (derm_train_runner_parent_class)->dispose (object);
}

static void
derm_train_runner_class_init (DermTrainRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = derm_train_runner_dispose;

  /* (event: DermTrainRunnerEvent, borrowed) */
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1,
                                        DERM_TYPE_TRAIN_RUNNER_EVENT | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* (error: GError or NULL on success, borrowed) */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                           G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
derm_train_runner_init (DermTrainRunner *self)
{
  self->cancel_step = -1;
  self->steps_after_cancel = -1;
}

DermTrainRunner *
derm_train_runner_new (void)
{
  return g_object_new (DERM_TYPE_TRAIN_RUNNER, NULL);
}

/* ---- Estimate ------------------------------------------------------------------- */

typedef struct {
  DermTrainSettings settings;
  guint n_images;
  double seconds;
} EstimateData;

static void
estimate_data_free (EstimateData *d)
{
  derm_train_settings_clear (&d->settings);
  g_free (d);
}

typedef struct {
  guint8 *images;
  gint32 *labels;
  guint8 *masks;
  int n, size, steps_left;
  gint64 t_first, t_last;
  int timed_steps;
} Synthetic;

static gboolean
synthetic_batch (gpointer data, DermBatch *batch, GError **error)
{
  Synthetic *s = data;
  if (s->steps_left-- <= 0)
    return FALSE;
  batch->images = s->images;
  batch->labels = s->labels;
  batch->masks = s->masks;
  batch->n = s->n;
  batch->height = batch->width = s->size;
  return TRUE;
}

static void
synthetic_progress (const DermTrainProgress *p, gpointer data)
{
  Synthetic *s = data;
  gint64 now = g_get_monotonic_time ();
  if (p->step == 1)
    s->t_first = now;   /* the first step warms up: not counted */
  else
    {
      s->t_last = now;
      s->timed_steps = p->step - 1;
    }
}

/* Images per second of @task's model training on @settings' device. */
static double
measure_speed (const DermTrainSettings *st, DermTask task, GCancellable *cancellable, GError **error)
{
  gboolean classify = task == DERM_TASK_CLASSIFY;
  int size = st->image_size > 0 ? st->image_size : classify ? 224 : 256;
  DermModelConfig mc = { classify ? st->arch : DERM_ARCH_UNET, classify ? DERM_N_CLASSES : 1, 0, size };
  DermModel *model = derm_model_new (&mc, st->device, error);
  if (model == NULL)
    return 0;
  Synthetic s = { 0 };
  /* A full batch on a GPU (it also shows whether it fits); at most 8 images on a CPU. */
  s.n = g_str_has_prefix (derm_model_get_device (model), "cpu") ? MIN (st->batch, 8) : st->batch;
  s.n = MAX (s.n, 2);
  s.size = size;
  s.steps_left = 3;
  gsize px = (gsize) size * size;
  s.images = g_malloc (px * 3 * s.n);
  s.masks = g_malloc0 (px * s.n);
  s.labels = g_new (gint32, s.n);
  GRand *rand = g_rand_new_with_seed (1);
  for (gsize i = 0; i < px * 3 * s.n; i++)
    s.images[i] = g_rand_int_range (rand, 0, 256);
  for (int i = 0; i < s.n; i++)
    {
      s.labels[i] = i % DERM_N_CLASSES;
      memset (s.masks + px * i + px / 4, 255, px / 2);
    }
  g_rand_free (rand);
  DermTrainConfig tc = { 0 };
  tc.optimizer = DERM_OPTIMIZER_ADAMW;
  tc.loss = classify ? DERM_LOSS_CROSS_ENTROPY : DERM_LOSS_BCE_DICE;
  tc.lr = 1e-4;
  tc.total_steps = 3;
  tc.finetune = classify ? st->finetune : DERM_FINETUNE_ALL;
  tc.mixed_precision = TRUE;
  double ips = 0;
  DermTrainer *trainer = derm_trainer_new (model, &tc, error);
  if (trainer != NULL
      && derm_trainer_run_epoch (trainer, 0, 3, synthetic_batch, &s, synthetic_progress, &s,
                                 NULL, NULL, error))
    {
      if (s.timed_steps > 0 && s.t_last > s.t_first)
        ips = (double) s.timed_steps * s.n / ((s.t_last - s.t_first) / 1e6);
      else
        g_set_error_literal (error, DERM_ERROR, DERM_ERROR_FAILED,
                             _("The training speed could not be measured."));
    }
  derm_trainer_free (trainer);
  derm_model_free (model);
  g_free (s.images);
  g_free (s.masks);
  g_free (s.labels);
  derm_engine_empty_cache ();
  return ips;
}

char *
derm_train_describe_path (const DermTrainSettings *settings)
{
  const char *device = settings->device;
  gboolean cpu = g_strcmp0 (device, "cpu") == 0
                 || ((device == NULL || *device == '\0' || g_strcmp0 (device, "auto") == 0)
                     && !derm_engine_cuda_available ());
  if (!cpu)
    return g_strdup (_("the GPU (bf16 autocast)"));
  const DermCpuPolicy *policy = derm_engine_cpu_policy ();
  if (policy->precision == DERM_CPU_PRECISION_BF16)
    return g_strdup_printf (_("the CPU in bf16 (%s)"), policy->units);
  return g_strdup (_("the CPU in fp32"));
}

static guint
count_images (const DermTrainSettings *s, GError **error)
{
  guint n = 0;
  if (s->data != DERM_TRAIN_DATA_CASES)
    {
      g_autoptr(DermDataset) ds = derm_dataset_load (s->folder, DERM_DATASET_LENIENT, error);
      if (ds == NULL)
        return 0;
      n += ds->samples->len;
    }
  if (s->data != DERM_TRAIN_DATA_FOLDER)
    {
      g_autoptr(DermStore) store = derm_store_open (NULL, error);
      if (store == NULL)
        return 0;
      DermCaseQuery q;
      derm_case_query_init (&q);
      q.confirmed = DERM_CONFIRMED_YES;
      q.limit = 1;
      gint64 total = 0;
      g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &q, &total, error);
      if (cases == NULL)
        return 0;
      n += (guint) total;
    }
  return n;
}

static void
estimate_run (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  EstimateData *d = task_data;
  GError *error = NULL;
  if (!settings_check (&d->settings, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  d->n_images = count_images (&d->settings, &error);
  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  derm_engine_set_threads (0);
  double seconds = 0, ips_sum = 0;
  int n = 0;
  for (int t = 0; t < 2; t++)
    {
      if ((t == 0 && !d->settings.classify) || (t == 1 && !d->settings.segment))
        continue;
      double ips = measure_speed (&d->settings, t == 0 ? DERM_TASK_CLASSIFY : DERM_TASK_SEGMENT,
                                  cancellable, &error);
      if (ips <= 0)
        {
          g_task_return_error (task, error);
          return;
        }
      /* 70 % of the images train each epoch; validation (15 %) runs forward
       * only, about a third of a training step's cost per image. */
      double per_epoch = 0.70 * d->n_images / ips + 0.15 * d->n_images / (3 * ips);
      /* An ensemble of K trains K members on (K - 1) / K of the images each. */
      int k = t == 0 ? d->settings.folds : 1;
      int epochs = t == 1 && d->settings.classify && d->settings.seg_epochs > 0
                     ? d->settings.seg_epochs : d->settings.epochs;
      seconds += epochs * per_epoch * (k > 1 ? k - 1 : 1);
      ips_sum += ips;
      n++;
    }
  d->seconds = seconds;
  double *ips = g_new (double, 1);
  *ips = ips_sum / MAX (n, 1);
  g_task_return_pointer (task, ips, g_free);
}

static gpointer
estimate_worker (gpointer data)
{
  g_autoptr(GTask) task = data;
  estimate_run (task, NULL, g_task_get_task_data (task), g_task_get_cancellable (task));
  return NULL;
}

void
derm_train_estimate_async (const DermTrainSettings *settings, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, derm_train_estimate_async);
  EstimateData *d = g_new0 (EstimateData, 1);
  settings_copy (&d->settings, settings);
  g_task_set_task_data (task, d, (GDestroyNotify) estimate_data_free);
  /* Not g_task_run_in_thread: the measurement runs for seconds and must not
   * hold one of GLib's shared pool threads. */
  g_autoptr(GThread) thread = g_thread_new ("derm-train-estimate", estimate_worker,
                                            g_object_ref (task));
}

double
derm_train_estimate_finish (GAsyncResult *result, guint *n_images, double *seconds, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), 0);
  EstimateData *d = g_task_get_task_data (G_TASK (result));
  g_autofree double *ips = g_task_propagate_pointer (G_TASK (result), error);
  if (ips == NULL)
    return 0;
  if (n_images != NULL)
    *n_images = d->n_images;
  if (seconds != NULL)
    *seconds = d->seconds;
  return *ips;
}
