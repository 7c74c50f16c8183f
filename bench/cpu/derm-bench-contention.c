/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bench-contention: an analysis while a job trains, in one process, as
 * in the app (issue 13: "keep it under 1 s on 2 cores").
 *
 * One thread trains a classifier (ResNet-18, 128 px, batch 32, AdamW,
 * cross-entropy, mixed precision: the engine's CPU policy) on synthetic
 * data without end (derm_trainer_run_epoch with a feed that stops only
 * when told to). The main thread runs the app's whole analysis of one
 * JPEG (decode, ResNet-50 classify, U-Net base 32 segment, Grad-CAM of the
 * top class, lesion measurements) --n times, one every --interval seconds:
 *
 *   alone   the analyses with no training (before the training starts)
 *   train   the training with no analysis, for --train-window seconds
 *   nogate  analyses while the training runs
 *   gate    the same, each inside derm_engine_foreground_begin/end (the
 *           training thread is marked with derm_engine_set_background_thread,
 *           so its CPU steps wait while an analysis is pending)
 *
 * For each analysis phase: median and maximum latency (from before
 * foreground_begin to after foreground_end in the gated phase), and the
 * training's images/s over the phase; for the gated phase also how long the
 * training waited (derm_engine_foreground_waited_us). Every result is one
 * line "RESULT name value unit" on stdout. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "derm-bench-analysis.h"
#include "derm-engine.h"
#include "derm-error.h"

static char *device = NULL;
static char *jpeg_path = NULL;
static char *weights_dir = NULL;
static char *arch_name = NULL;
static int n_analyses = 10, train_size = 128, batch = 32, threads = 0, warmup_steps = 2;
static double interval = 1.5, train_window = 0;

typedef struct {
  DermArch arch;
  guint8 *images;
  gint32 *labels;
  volatile gint stop;
  volatile gint failed;
  GMutex lock;
  GCond cond;
  GArray *done_us; /* gint64: monotonic time at the end of each step */
  double loss;
} Training;

static gboolean
feed_next (gpointer user_data, DermBatch *b, GError **error)
{
  Training *t = user_data;
  if (g_atomic_int_get (&t->stop))
    return FALSE;
  b->images = t->images;
  b->labels = t->labels;
  b->masks = NULL;
  b->n = batch;
  b->height = b->width = train_size;
  return TRUE;
}

static void
step_done (const DermTrainProgress *progress, gpointer user_data)
{
  Training *t = user_data;
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&t->lock);
  g_array_append_val (t->done_us, now);
  t->loss = progress->loss;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

/* The training thread: creates, uses and frees its model and trainer. It
 * is background work, as the app's training job: its steps wait while an
 * analysis is inside derm_engine_foreground_begin/end. */
static gpointer
train_worker (gpointer data)
{
  Training *t = data;
  GError *error = NULL;
  derm_engine_set_background_thread (TRUE);
  DermModelConfig cfg = { t->arch, 7, 0, train_size };
  DermModel *m = derm_model_new (&cfg, device, &error);
  DermTrainer *tr = NULL;
  if (m != NULL)
    {
      DermTrainConfig tc = { 0 };
      tc.optimizer = DERM_OPTIMIZER_ADAMW;
      tc.loss = DERM_LOSS_CROSS_ENTROPY;
      tc.lr = 1e-4;
      tc.weight_decay = 1e-4;
      tc.total_steps = 100000;
      tc.mixed_precision = TRUE;
      tr = derm_trainer_new (m, &tc, &error);
    }
  /* The feed ends once stop is set, or the trainer sees it and cancels:
   * either is the normal end. */
  gboolean ok = tr != NULL
                && (derm_trainer_run_epoch (tr, 0, -1, feed_next, t, step_done, t, &t->stop, NULL, &error)
                    || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  if (!ok)
    {
      g_printerr ("derm-bench-contention: training: %s\n", error->message);
      g_atomic_int_set (&t->failed, 1);
      g_mutex_lock (&t->lock);
      g_cond_broadcast (&t->cond);
      g_mutex_unlock (&t->lock);
    }
  g_clear_error (&error);
  if (tr != NULL)
    derm_trainer_free (tr);
  if (m != NULL)
    derm_model_free (m);
  return NULL;
}

static guint
steps_done (Training *t)
{
  g_mutex_lock (&t->lock);
  guint n = t->done_us->len;
  g_mutex_unlock (&t->lock);
  return n;
}

/* Training steps done by @when, interpolated linearly between step ends
 * (so a rate over a window does not depend on where the window cuts a step). */
static double
steps_at (Training *t, gint64 when)
{
  g_mutex_lock (&t->lock);
  const gint64 *d = (const gint64 *) t->done_us->data;
  guint n = t->done_us->len;
  double s = 0;
  if (n > 0 && when >= d[n - 1])
    s = n;
  else
    for (guint k = 0; k < n; k++)
      if (when < d[k])
        {
          /* k steps were done at d[k - 1], k + 1 at d[k] */
          s = k == 0 ? 0 : k + (double) (when - d[k - 1]) / (d[k] - d[k - 1]);
          break;
        }
  g_mutex_unlock (&t->lock);
  return s;
}

/* Waits until a training step has ended after @when, so that steps_at
 * (@when) is interpolated rather than cut short. */
static void
wait_step_after (Training *t, gint64 when)
{
  g_mutex_lock (&t->lock);
  while (!g_atomic_int_get (&t->failed)
         && (t->done_us->len == 0 || g_array_index (t->done_us, gint64, t->done_us->len - 1) <= when))
    g_cond_wait (&t->cond, &t->lock);
  g_mutex_unlock (&t->lock);
}

static double
images_per_second (Training *t, gint64 from, gint64 to)
{
  wait_step_after (t, to);
  return (steps_at (t, to) - steps_at (t, from)) * batch / ((to - from) / 1e6);
}

static void
sleep_until (gint64 when)
{
  gint64 now = g_get_monotonic_time ();
  if (when > now)
    g_usleep (when - now);
}

typedef struct {
  double median, max;
  gint64 start, end;
  GString *list;
} Phase;

/* --n analyses, one every --interval seconds (when the last one is done
 * sooner), inside derm_engine_foreground_begin/end when @gate. */
static void
run_phase (DermModel *cls, DermModel *seg, GBytes *bytes, gboolean gate, double spacing, Phase *out)
{
  double *lat = g_new (double, n_analyses);
  out->list = g_string_new (NULL);
  out->start = g_get_monotonic_time ();
  for (int i = 0; i < n_analyses; i++)
    {
      sleep_until (out->start + (gint64) (i * spacing * 1e6));
      BenchAnalysis r;
      gint64 s = g_get_monotonic_time ();
      if (gate)
        derm_engine_foreground_begin ();
      bench_run_analysis (cls, seg, bytes, &r);
      if (gate)
        derm_engine_foreground_end ();
      lat[i] = (g_get_monotonic_time () - s) / 1000.0;
      g_string_append_printf (out->list, "%s%.0f", i ? " " : "", lat[i]);
    }
  out->end = g_get_monotonic_time ();
  double p10, p90;
  out->median = bench_median (lat, n_analyses, &p10, &p90);
  out->max = lat[n_analyses - 1];
  g_free (lat);
}

static void
report_phase (const char *name, Phase *p)
{
  printf ("RESULT contention_%s_median_ms %.1f ms (%d analyses: %s ms)\n", name, p->median, n_analyses,
          p->list->str);
  printf ("RESULT contention_%s_max_ms %.1f ms\n", name, p->max);
  g_string_free (p->list, TRUE);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu (default), auto, cuda, cuda:N", "D" },
    { "jpeg", 0, 0, G_OPTION_ARG_FILENAME, &jpeg_path, "the JPEG to analyse (default: a generated 600 x 450)",
      "FILE" },
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights_dir,
      "analysis models from what derm-bench-engine --check wrote to DIR (default: fresh)", "DIR" },
    { "n", 'n', 0, G_OPTION_ARG_INT, &n_analyses, "analyses per phase (10)", "N" },
    { "interval", 0, 0, G_OPTION_ARG_DOUBLE, &interval, "seconds from one analysis to the next (1.5)", "S" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch_name, "the training model (resnet18)", "ARCH" },
    { "train-size", 0, 0, G_OPTION_ARG_INT, &train_size, "training image size (128)", "PX" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "training batch (32)", "N" },
    { "warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup_steps, "training steps before any timing (2)", "N" },
    { "train-window", 0, 0, G_OPTION_ARG_DOUBLE, &train_window,
      "seconds of training alone (default: n x interval)", "S" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (0: the cores present)", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("- analysis latency while a job trains");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  g_option_context_free (ctx);
  Training t = { 0 };
  t.arch = DERM_ARCH_RESNET18;
  if ((arch_name != NULL && (!derm_arch_from_name (arch_name, &t.arch) || derm_arch_task (t.arch) != DERM_TASK_CLASSIFY))
      || n_analyses < 1 || interval < 0 || batch < 1 || train_size < 32 || warmup_steps < 0)
    {
      g_printerr ("derm-bench-contention: bad arguments (see --help)\n");
      return 2;
    }
  if (device == NULL)
    device = g_strdup ("cpu");
  if (train_window <= 0)
    train_window = MAX (n_analyses * interval, 5.0);
  derm_engine_set_threads (threads);
  const DermCpuPolicy *policy = derm_engine_cpu_policy ();
  printf ("# libtorch %s, %d CPU threads, device %s, CPU policy %s%s (%s)\n", derm_engine_torch_version (),
          derm_engine_get_threads (), device, derm_cpu_precision_name (policy->precision),
          policy->channels_last ? " channels_last" : "", policy->units ? policy->units : "none");
  printf ("# training %s at %d px, batch %d; %d analyses every %.1f s\n", derm_arch_name (t.arch), train_size,
          batch, n_analyses, interval);
  fflush (stdout);

  DermModel *cls = bench_analysis_model (DERM_ARCH_RESNET50, device, weights_dir, TRUE);
  DermModel *seg = bench_analysis_model (DERM_ARCH_UNET, device, weights_dir, TRUE);
  GBytes *bytes = bench_jpeg_bytes (jpeg_path);
  for (int i = 0; i < 2; i++)
    {
      BenchAnalysis r;
      bench_run_analysis (cls, seg, bytes, &r);
    }

  /* Analyses alone, back to back (nothing else to wait for). */
  Phase alone;
  run_phase (cls, seg, bytes, FALSE, 0, &alone);
  report_phase ("alone", &alone);
  fflush (stdout);

  gsize px = (gsize) batch * train_size * train_size * 3;
  t.images = g_malloc (px);
  t.labels = g_new (gint32, batch);
  GRand *rand = g_rand_new_with_seed (2);
  for (gsize i = 0; i < px; i++)
    t.images[i] = (guint8) g_rand_int_range (rand, 0, 256);
  for (int i = 0; i < batch; i++)
    t.labels[i] = i % 7;
  g_rand_free (rand);
  g_mutex_init (&t.lock);
  g_cond_init (&t.cond);
  t.done_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  GThread *thread = g_thread_new ("train", train_worker, &t);
  g_mutex_lock (&t.lock);
  while (t.done_us->len < (guint) MAX (warmup_steps, 1) && !g_atomic_int_get (&t.failed))
    g_cond_wait (&t.cond, &t.lock);
  g_mutex_unlock (&t.lock);
  if (g_atomic_int_get (&t.failed))
    return 1;

  gint64 s = g_get_monotonic_time ();
  g_usleep ((gulong) (train_window * 1e6));
  gint64 e = g_get_monotonic_time ();
  double ips_alone = images_per_second (&t, s, e);
  printf ("RESULT contention_train_alone_ips %.1f img/s (%.1f s, %u steps so far; loss %.3f)\n", ips_alone,
          (e - s) / 1e6, steps_done (&t), t.loss);
  fflush (stdout);

  Phase nogate, gate;
  run_phase (cls, seg, bytes, FALSE, interval, &nogate);
  double ips_nogate = images_per_second (&t, nogate.start, nogate.end);
  report_phase ("nogate", &nogate);
  printf ("RESULT contention_train_nogate_ips %.1f img/s (%.0f%% of alone)\n", ips_nogate,
          100 * ips_nogate / ips_alone);
  fflush (stdout);

  gint64 waited = derm_engine_foreground_waited_us ();
  run_phase (cls, seg, bytes, TRUE, interval, &gate);
  waited = derm_engine_foreground_waited_us () - waited;
  double ips_gate = images_per_second (&t, gate.start, gate.end);
  report_phase ("gate", &gate);
  printf ("RESULT contention_train_gate_ips %.1f img/s (%.0f%% of alone)\n", ips_gate, 100 * ips_gate / ips_alone);
  printf ("RESULT contention_gate_waited_ms %.0f ms (training waited, over %.1f s of the gated phase)\n",
          waited / 1000.0, (gate.end - gate.start) / 1e6);
  fflush (stdout);

  g_atomic_int_set (&t.stop, 1);
  g_thread_join (thread);
  int failed = g_atomic_int_get (&t.failed);
  printf ("# %u training steps in all\n", t.done_us->len);
  g_array_unref (t.done_us);
  g_mutex_clear (&t.lock);
  g_cond_clear (&t.cond);
  g_free (t.images);
  g_free (t.labels);
  g_bytes_unref (bytes);
  derm_model_free (seg);
  derm_model_free (cls);
  return failed;
}
