/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The training job's API: options, events, refusals; and short runs on a
 * tiny synthetic set for the checkpoint interval and the device data path. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-error.h"
#include "derm-safetensors.h"
#include "derm-train-job.h"
#include "test-util.h"

static void
test_names (void)
{
  DermBalance b;
  g_assert_true (derm_balance_from_name ("sampling", &b));
  g_assert_cmpint (b, ==, DERM_BALANCE_SAMPLING);
  g_assert_false (derm_balance_from_name ("oversample", &b));
  g_assert_cmpstr (derm_balance_name (DERM_BALANCE_LOSS), ==, "loss");
  g_assert_cmpstr (derm_train_event_type_name (DERM_TRAIN_EVENT_EARLY_STOP), ==, "early_stop");
}

static JsonObject *
parse (const char *text, JsonParser *parser)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  g_assert_null (strchr (text, '\n'));
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_event_json (void)
{
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_STEP, .epoch = 2, .epochs = 30, .step = 5,
                       .steps = 100, .global_step = 205, .loss = 0.5, .images_per_second = 800,
                       .lr = 1e-3, .eta_seconds = NAN, .elapsed_seconds = 12 };
  g_autofree char *line = derm_train_event_to_json (&e);
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *o = parse (line, p);
  g_assert_cmpstr (json_object_get_string_member (o, "event"), ==, "step");
  g_assert_cmpint (json_object_get_int_member (o, "global_step"), ==, 205);
  g_assert_cmpfloat (json_object_get_double_member (o, "loss"), ==, 0.5);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (o, "eta")));

  DermTrainEvent t = { .type = DERM_TRAIN_EVENT_TEST, .json = "{\"accuracy\":0.75}",
                       .message = "quote \" and\nnewline" };
  g_autofree char *tl = derm_train_event_to_json (&t);
  g_autoptr(JsonParser) p2 = json_parser_new ();
  JsonObject *to = parse (tl, p2);
  g_assert_cmpfloat (json_object_get_double_member (json_object_get_object_member (to, "metrics"),
                                                    "accuracy"), ==, 0.75);
  g_assert_cmpstr (json_object_get_string_member (to, "message"), ==, "quote \" and\nnewline");

  DermTrainEvent ep = { .type = DERM_TRAIN_EVENT_EPOCH, .epoch = 0, .epochs = 1, .loss = 1.5,
                        .val_metric = 0.4, .val_metric_name = "balanced_accuracy", .is_best = TRUE };
  g_autofree char *el = derm_train_event_to_json (&ep);
  g_autoptr(JsonParser) p3 = json_parser_new ();
  JsonObject *eo = parse (el, p3);
  g_assert_cmpfloat (json_object_get_double_member (eo, "balanced_accuracy"), ==, 0.4);
  g_assert_true (json_object_get_boolean_member (eo, "best"));
}

static void
expect_refusal (DermTrainJobConfig *cfg, int code, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  volatile gint cancel = 0;
  g_assert_false (derm_train_job_run (cfg, NULL, NULL, &cancel, &error));
  g_assert_error (error, DERM_ERROR, code);
  g_assert_nonnull (strstr (error->message, fragment));
}

static void
test_refusals (void)
{
  g_autofree char *tmp = make_temp_dir ();
  g_autofree char *out = g_build_filename (tmp, "m.safetensors", NULL);
  DermTrainJobConfig cfg;
  derm_train_job_config_init (&cfg);
  g_assert_cmpint (cfg.balance, ==, DERM_BALANCE_SAMPLING);
  g_assert_cmpfloat (cfg.val_fraction, ==, 0.15);
  cfg.data_dir = tmp;
  cfg.out_path = out;

  cfg.epochs = 0;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "epoch");
  cfg.epochs = 1;
  cfg.arch = DERM_ARCH_UNET;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "ResNet");
  cfg.arch = DERM_ARCH_RESNET18;
  cfg.batch = 1;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "batch");
  cfg.batch = 8;
  /* an empty folder: no metadata */
  expect_refusal (&cfg, DERM_ERROR_NOT_FOUND, "HAM10000_metadata.csv");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  rm_rf (tmp);
}

/* 7 classes x @per_class lesions, one 32 x 24 image each: a disc whose
 * colour is the class, with its mask. */
static void
make_dataset (const char *dir, int per_class)
{
  GString *csv = g_string_new ("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
  const guint8 skin[3] = { 200, 160, 140 };
  for (int c = 0; c < DERM_N_CLASSES; c++)
    for (int k = 0; k < per_class; k++)
      {
        g_autofree char *id = g_strdup_printf ("ISIC_%07d", c * 10 + k);
        guint8 lesion[3] = { (guint8) (30 * c), (guint8) (255 - 30 * c), (guint8) (60 + 20 * k) };
        write_sample (dir, "images", "masks", id, 32, 24, lesion, skin);
        g_autofree char *dx = g_ascii_strdown (derm_class_code (c), -1);
        g_string_append_printf (csv, "HAM_%07d,%s,%s,histo,50,male,back\n", c * 10 + k, id, dx);
      }
  write_text (dir, "HAM10000_metadata.csv", csv->str);
  g_string_free (csv, TRUE);
}

static void
make_tiny_dataset (const char *dir)
{
  make_dataset (dir, 3);
}

typedef struct {
  int epochs, checkpoints, steps;
  GString *messages;
} Counts;

static void
count_event (const DermTrainEvent *e, gpointer data)
{
  Counts *c = data;
  if (e->type == DERM_TRAIN_EVENT_EPOCH)
    c->epochs++;
  else if (e->type == DERM_TRAIN_EVENT_CHECKPOINT)
    c->checkpoints++;
  else if (e->type == DERM_TRAIN_EVENT_STEP)
    c->steps++;
  else if (e->type == DERM_TRAIN_EVENT_MESSAGE)
    g_string_append_printf (c->messages, "%s\n", e->message);
}

static void
tiny_job (DermTrainJobConfig *cfg, const char *data, const char *out)
{
  derm_train_job_config_init (cfg);
  cfg->arch = DERM_ARCH_RESNET18;
  cfg->data_dir = data;
  cfg->out_path = out;
  cfg->epochs = 4;
  cfg->batch = 4;
  cfg->image_size = 32;
  cfg->device = "cpu";
  cfg->val_fraction = 0.2;
  cfg->test_fraction = 0.2;
  cfg->workers = 1;
  cfg->patience = 0;
}

/* A checkpoint after the first epoch, then only once the interval passed:
 * with an hour, one in a 4-epoch run; with 0, one after every epoch but the
 * last. None is left once the run finishes. */
static void
test_checkpoint_interval (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "m.safetensors", NULL);
  g_autofree char *ckpt = g_strdup_printf ("%s.ckpt", out);
  make_tiny_dataset (data);
  DermTrainJobConfig cfg;
  tiny_job (&cfg, data, out);
  g_assert_cmpfloat (cfg.checkpoint_every, ==, 60);
  const double every[] = { 3600, 0 };
  const int expected[] = { 1, 3 };
  for (int i = 0; i < 2; i++)
    {
      cfg.checkpoint_every = every[i];
      Counts c = { 0, 0, 0, g_string_new (NULL) };
      g_autoptr(GError) error = NULL;
      g_assert_true (derm_train_job_run (&cfg, count_event, &c, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpint (c.epochs, ==, 4);
      g_assert_cmpint (c.checkpoints, ==, expected[i]);
      g_assert_false (g_file_test (ckpt, G_FILE_TEST_EXISTS));
      g_string_free (c.messages, TRUE);
    }
  cfg.checkpoint_every = -1;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "checkpoint");
  rm_rf (dir);
}

/* Whether two model files hold the same tensors and metadata, but for the
 * model card's date of training. */
static gboolean
same_model (const char *a_path, const char *b_path)
{
  g_autoptr(DermSafetensors) a = derm_safetensors_open (a_path, NULL);
  g_autoptr(DermSafetensors) b = derm_safetensors_open (b_path, NULL);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  if (derm_safetensors_get_n_tensors (a) != derm_safetensors_get_n_tensors (b))
    return FALSE;
  for (guint i = 0; i < derm_safetensors_get_n_tensors (a); i++)
    {
      const DermStTensor *ta = derm_safetensors_get_tensor (a, i);
      const DermStTensor *tb = derm_safetensors_lookup (b, ta->name);
      if (tb == NULL || ta->nbytes != tb->nbytes || memcmp (ta->data, tb->data, ta->nbytes) != 0)
        return FALSE;
    }
  GHashTable *ma = derm_safetensors_get_metadata (a), *mb = derm_safetensors_get_metadata (b);
  if (g_hash_table_size (ma) != g_hash_table_size (mb))
    return FALSE;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, ma);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      const char *w = g_hash_table_lookup (mb, k);
      if (w == NULL)
        return FALSE;
      if (g_str_equal (k, "model_card"))
        {
          /* "trained_at" is the one member that differs */
          g_autoptr(GRegex) date = g_regex_new ("\"trained_at\":\"[^\"]*\"", 0, 0, NULL);
          g_autofree char *x = g_regex_replace_literal (date, v, -1, 0, "", 0, NULL);
          g_autofree char *y = g_regex_replace_literal (date, w, -1, 0, "", 0, NULL);
          if (!g_str_equal (x, y) || g_str_equal (x, v))
            return FALSE;
        }
      else if (!g_str_equal (v, w))
        return FALSE;
    }
  return TRUE;
}

/* --gpu-augment: on (here on the CPU device) trains from the device cache,
 * with validation there, for both tasks, and repeats itself exactly with the
 * same seed; auto stays with the CPU loader on the CPU. */
static void
test_gpu_augment (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "m.safetensors", NULL);
  make_tiny_dataset (data);
  DermGpuAugment mode;
  g_assert_true (derm_gpu_augment_from_name ("on", &mode));
  g_assert_cmpint (mode, ==, DERM_GPU_AUGMENT_ON);
  g_assert_cmpstr (derm_gpu_augment_name (DERM_GPU_AUGMENT_AUTO), ==, "auto");
  g_assert_false (derm_gpu_augment_from_name ("yes", &mode));

  g_autofree char *first = g_build_filename (dir, "first.safetensors", NULL);
  for (int task = 0; task < 4; task++)
    {
      DermTrainJobConfig cfg;
      tiny_job (&cfg, data, out);
      cfg.epochs = 2;
      cfg.gpu_augment = task == 2 ? DERM_GPU_AUGMENT_AUTO : DERM_GPU_AUGMENT_ON;
      if (task == 1)
        {
          cfg.task = DERM_TASK_SEGMENT;
          cfg.arch = DERM_ARCH_UNET;
          cfg.epochs = 1;
        }
      Counts c = { 0, 0, 0, g_string_new (NULL) };
      g_autoptr(GError) error = NULL;
      g_assert_true (derm_train_job_run (&cfg, count_event, &c, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpint (c.epochs, ==, cfg.epochs);
      g_assert_cmpint (c.steps, >, 0);
      gboolean on_device = strstr (c.messages->str, "augmented there") != NULL;
      g_assert_cmpint (on_device, ==, task != 2);
      g_assert_true (g_file_test (out, G_FILE_TEST_EXISTS));
      if (task == 0)
        g_assert_cmpint (g_rename (out, first), ==, 0);
      else if (task == 3)
        g_assert_true (same_model (out, first));
      g_unlink (out);
      g_string_free (c.messages, TRUE);
    }
  rm_rf (dir);
}

typedef struct {
  volatile gint cancel;
} StopAfterFirstEpoch;

static void
stop_after_first_epoch (const DermTrainEvent *e, gpointer data)
{
  StopAfterFirstEpoch *s = data;
  if (e->type == DERM_TRAIN_EVENT_EPOCH && e->epoch == 0)
    g_atomic_int_set (&s->cancel, 1);
}

/* A copy of the classifier head's weights in a saved model file. */
static GBytes *
head_weights (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (path, &error);
  g_assert_no_error (error);
  const DermStTensor *t = derm_safetensors_lookup (st, "fc.weight");
  g_assert_nonnull (t);
  return g_bytes_new (t->data, t->nbytes);
}

/* Checkpoints are rarer than best-model saves, so a resumed job may start
 * from a checkpoint older than the best model already written. It must keep
 * that model unless an epoch really beats it: here the saved model claims a
 * perfect validation score, so no resumed epoch may replace its weights. */
static void
test_resume_keeps_better_saved_model (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "m.safetensors", NULL);
  g_autofree char *ckpt = g_strdup_printf ("%s.ckpt", out);
  make_tiny_dataset (data);
  DermTrainJobConfig cfg;
  tiny_job (&cfg, data, out);
  cfg.epochs = 3;
  cfg.checkpoint_every = 3600;

  StopAfterFirstEpoch stop = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_false (derm_train_job_run (&cfg, stop_after_first_epoch, &stop, &stop.cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (out, G_FILE_TEST_EXISTS));

  /* As if a later epoch, after the checkpoint, had scored perfectly. */
  DermModel *m = derm_model_load (out, "cpu", &error);
  g_assert_no_error (error);
  const char *training = derm_model_get_metadata (m, "training");
  g_assert_nonnull (training);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, training, -1, NULL));
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  json_object_set_double_member (o, "val_balanced_accuracy", 1.0);
  json_object_set_int_member (o, "best_epoch", 7);
  g_autofree char *patched = json_to_string (json_parser_get_root (parser), FALSE);
  derm_model_set_metadata (m, "training", patched);
  g_assert_true (derm_model_save (m, out, &error));
  derm_model_free (m);
  g_autoptr(GBytes) before = head_weights (out);

  /* And as if the checkpoint had recorded no best yet, so that every resumed
   * epoch beats the checkpoint's own record: only the saved model's record
   * can then keep its weights. */
  {
    g_autoptr(DermSafetensors) st = derm_safetensors_open (ckpt, &error);
    g_assert_no_error (error);
    guint n = derm_safetensors_get_n_tensors (st);
    g_autofree DermStTensor *tensors = g_new (DermStTensor, n);
    for (guint i = 0; i < n; i++)
      tensors[i] = *derm_safetensors_get_tensor (st, i);
    g_autoptr(GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init (&it, derm_safetensors_get_metadata (st));
    while (g_hash_table_iter_next (&it, &k, &v))
      g_hash_table_insert (meta, k, v);
    g_assert_nonnull (g_hash_table_lookup (meta, "train.best_metric"));
    g_hash_table_insert (meta, (gpointer) "train.best_metric", (gpointer) "-1");
    g_autofree char *copy = g_strdup_printf ("%s.new", ckpt);
    g_assert_true (derm_safetensors_write (copy, tensors, n, meta, &error));
    g_assert_no_error (error);
    g_clear_pointer (&st, derm_safetensors_free);
    g_assert_cmpint (g_rename (copy, ckpt), ==, 0);
  }

  cfg.resume = ckpt;
  Counts c = { 0, 0, 0, g_string_new (NULL) };
  g_assert_true (derm_train_job_run (&cfg, count_event, &c, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.epochs, >=, 1);
  g_autoptr(GBytes) after = head_weights (out);
  g_assert_true (g_bytes_equal (before, after));
  g_string_free (c.messages, TRUE);
  rm_rf (dir);
}

typedef struct {
  volatile gint cancel;
  int stop_member;          /* cancel after this member's first epoch */
  int max_member;           /* the highest member seen in a step */
  gboolean members_ok;      /* every step event names 2 members */
  GString *messages;
} EnsembleWatch;

static void
watch_ensemble (const DermTrainEvent *e, gpointer data)
{
  EnsembleWatch *w = data;
  if (e->type == DERM_TRAIN_EVENT_STEP)
    {
      w->max_member = MAX (w->max_member, e->member);
      if (e->members != 2 || e->member < 0)
        w->members_ok = FALSE;
    }
  if (e->type == DERM_TRAIN_EVENT_MESSAGE)
    g_string_append_printf (w->messages, "%s\n", e->message);
  if (e->type == DERM_TRAIN_EVENT_EPOCH && e->member == w->stop_member && e->epoch == 0)
    g_atomic_int_set (&w->cancel, 1);
}

static JsonObject *
metadata_object (DermModel *m, const char *key, JsonParser *parser)
{
  const char *text = derm_model_get_metadata (m, key);
  g_assert_nonnull (text);
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return json_node_get_object (json_parser_get_root (parser));
}

/* --folds 2: two members on lesion-grouped folds, assembled into one model
 * with the members' records and their test metrics; the member files go
 * once it is written. A job stopped in the second member resumes from its
 * checkpoint, keeps the first member and ends with the model an
 * uninterrupted job writes. An ensemble starts an ensemble of as many,
 * never a single network. */
static void
test_ensemble (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *out = g_build_filename (dir, "e.safetensors", NULL);
  g_autofree char *whole = g_build_filename (dir, "whole.safetensors", NULL);
  g_autofree char *ckpt = g_strdup_printf ("%s.ckpt", out);
  g_autofree char *member0 = g_strdup_printf ("%s.member0", out);
  g_autofree char *member1 = g_strdup_printf ("%s.member1", out);
  make_dataset (data, 6);
  DermTrainJobConfig cfg;
  tiny_job (&cfg, data, out);
  cfg.epochs = 2;
  cfg.folds = 2;
  cfg.checkpoint_every = 3600;

  EnsembleWatch w = { 0, -1, -1, TRUE, g_string_new (NULL) };
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_train_job_run (&cfg, watch_ensemble, &w, &w.cancel, &error));
  g_assert_no_error (error);
  g_assert_cmpint (w.max_member, ==, 1);
  g_assert_true (w.members_ok);
  g_assert_nonnull (strstr (w.messages->str, "2 members assembled"));
  g_assert_false (g_file_test (member0, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (member1, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  {
    g_autoptr(DermModel) m = derm_model_load (out, "cpu", &error);
    g_assert_no_error (error);
    g_assert_cmpint (derm_model_get_members (m), ==, 2);
    g_assert_nonnull (derm_model_get_metadata (m, "decision"));
    g_autoptr(JsonParser) p1 = json_parser_new ();
    JsonObject *training = metadata_object (m, "training", p1);
    g_assert_cmpint (json_object_get_int_member (training, "folds"), ==, 2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (training, "members")), ==, 2);
    g_autoptr(JsonParser) p2 = json_parser_new ();
    JsonObject *metrics = metadata_object (m, "metrics", p2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (metrics, "members")), ==, 2);
  }
  g_assert_cmpint (g_rename (out, whole), ==, 0);

  /* Stopped in the second member's first epoch, then resumed. */
  EnsembleWatch stop = { 0, 1, -1, TRUE, g_string_new (NULL) };
  g_assert_false (derm_train_job_run (&cfg, watch_ensemble, &stop, &stop.cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_nonnull (strstr (error->message, "--folds 2 --resume"));
  g_clear_error (&error);
  g_assert_true (g_file_test (member0, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  /* A member's checkpoint does not resume a single network. */
  {
    DermTrainJobConfig single_cfg;
    tiny_job (&single_cfg, data, out);
    single_cfg.epochs = 2;
    single_cfg.resume = ckpt;
    expect_refusal (&single_cfg, DERM_ERROR_MISMATCH, "ensemble's member");
  }
  cfg.resume = ckpt;
  EnsembleWatch resumed = { 0, -1, -1, TRUE, g_string_new (NULL) };
  g_assert_true (derm_train_job_run (&cfg, watch_ensemble, &resumed, &resumed.cancel, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (resumed.messages->str, "member 1 of 2 was trained before"));
  g_assert_true (same_model (out, whole));

  /* Checkpoints and folds must agree. */
  g_autofree char *single = g_build_filename (dir, "single.safetensors", NULL);
  g_autofree char *single_ckpt = g_strdup_printf ("%s.ckpt", single);
  DermTrainJobConfig one;
  tiny_job (&one, data, single);
  one.epochs = 2;
  one.checkpoint_every = 3600;
  StopAfterFirstEpoch s1 = { 0 };
  g_assert_false (derm_train_job_run (&one, stop_after_first_epoch, &s1, &s1.cancel, &error));
  g_clear_error (&error);
  cfg.resume = single_ckpt;
  expect_refusal (&cfg, DERM_ERROR_MISMATCH, "not the checkpoint of an ensemble");
  cfg.resume = NULL;

  /* An ensemble of two starts one of two, member by member, and a single
   * network from its first member. */
  cfg.init_weights = whole;
  cfg.epochs = 1;
  g_assert_true (derm_train_job_run (&cfg, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  one.init_weights = whole;
  one.resume = NULL;
  EnsembleWatch from = { 0, -1, -1, TRUE, g_string_new (NULL) };
  g_assert_true (derm_train_job_run (&one, watch_ensemble, &from, NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (from.messages->str, "starts from its member 1"));
  g_string_free (from.messages, TRUE);

  cfg.init_weights = NULL;
  cfg.folds = DERM_TRAIN_MAX_FOLDS + 1;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "--folds");
  cfg.folds = 2;
  cfg.task = DERM_TASK_SEGMENT;
  cfg.arch = DERM_ARCH_UNET;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "classifiers");
  g_string_free (w.messages, TRUE);
  g_string_free (stop.messages, TRUE);
  g_string_free (resumed.messages, TRUE);
  rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train-job/names", test_names);
  g_test_add_func ("/train-job/event-json", test_event_json);
  g_test_add_func ("/train-job/refusals", test_refusals);
  g_test_add_func ("/train-job/checkpoint-interval", test_checkpoint_interval);
  g_test_add_func ("/train-job/gpu-augment", test_gpu_augment);
  g_test_add_func ("/train-job/resume-keeps-better-saved-model", test_resume_keeps_better_saved_model);
  g_test_add_func ("/train-job/ensemble", test_ensemble);
  return g_test_run ();
}
