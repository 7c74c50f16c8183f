/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-engine-precision.c: the CPU precision policy. The environment,
 * the setting and what the CPU says decide it; bf16 inference agrees with
 * fp32 (top class, probabilities, masks, Grad-CAM) on models trained on
 * generated data; bf16 training reaches fp32's result and keeps fp32
 * weights and optimizer state; and CPU
 * training on a background thread waits while an analysis is pending.
 *
 * meson runs this with DERMALENS_CPU_PRECISION=bf16, so that the bf16 path
 * runs on every CPU (emulated where the CPU has no bfloat16 units);
 * derm_engine_set_cpu_fp32 () switches to fp32 for the reference. */
#include "config.h"

#include "derm-safetensors.h"
#include "engine-test-util.h"

#define SIZE 64
#define SMALL 32

static DermImage *
shape_image (TestShapes *d, int i)
{
  DermImage *img = derm_image_new (d->size, d->size, 3, NULL);
  memcpy (img->data, d->images + (gsize) i * d->size * d->size * 3, (gsize) d->size * d->size * 3);
  return img;
}

static void
train_epochs (DermModel *m, const DermTrainConfig *c, TestShapes *d, int epochs)
{
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, c, &error);
  g_assert_no_error (error);
  for (int e = 0; e < epochs; e++)
    {
      double loss = -1;
      g_assert_true (derm_trainer_run_epoch (tr, e, -1, test_shapes_next_batch, d, NULL, NULL, NULL,
                                             &loss, &error));
      g_assert_no_error (error);
    }
  derm_trainer_free (tr);
}

/* The policy in a child process, with the environment set before the
 * engine first reads it. */
static void
test_policy_environment (void)
{
  if (g_test_subprocess ())
    {
      const char *want = g_getenv ("DERM_TEST_WANT");
      const DermCpuPolicy *p = derm_engine_cpu_policy ();
      g_assert_nonnull (p->reason);
      g_assert_nonnull (p->units);
      if (g_strcmp0 (want, "fp32") == 0)
        {
          g_assert_cmpint (p->precision, ==, DERM_CPU_PRECISION_FP32);
          g_assert_false (p->channels_last);
          g_assert_true (p->forced);
          g_assert_nonnull (strstr (p->reason, "DERMALENS_CPU_PRECISION=fp32"));
        }
      else if (g_strcmp0 (want, "bf16") == 0)
        {
          g_assert_cmpint (p->precision, ==, DERM_CPU_PRECISION_BF16);
          g_assert_true (p->channels_last);
          g_assert_true (p->forced);
        }
      else
        {
          /* "auto": the CPU decides, and says which units it found. */
          g_assert_false (p->forced);
          g_assert_cmpint (p->precision == DERM_CPU_PRECISION_BF16, ==, p->cpu_has_bf16);
          g_assert_cmpint (g_strcmp0 (p->units, "none") != 0, ==, p->cpu_has_bf16);
        }
      /* The setting wins over both, and gives the decision back. */
      DermCpuPrecision before = p->precision;
      derm_engine_set_cpu_fp32 (TRUE);
      p = derm_engine_cpu_policy ();
      g_assert_cmpint (p->precision, ==, DERM_CPU_PRECISION_FP32);
      g_assert_true (p->forced);
      g_assert_nonnull (strstr (p->reason, "setting"));
      derm_engine_set_cpu_fp32 (FALSE);
      g_assert_cmpint (derm_engine_cpu_policy ()->precision, ==, before);
      return;
    }
  const char *cases[][2] = { { "fp32", "fp32" }, { "bf16", "bf16" }, { "auto", "auto" }, { "", "auto" } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *old = g_strdup (g_getenv ("DERMALENS_CPU_PRECISION"));
      g_setenv ("DERMALENS_CPU_PRECISION", cases[i][0], TRUE);
      g_setenv ("DERM_TEST_WANT", cases[i][1], TRUE);
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      if (old != NULL)
        g_setenv ("DERMALENS_CPU_PRECISION", old, TRUE);
    }
}

/* A ResNet-18 trained on discs vs squares (fp32), then classified under both
 * paths: top class and probabilities agree. */
static void
test_classify_agrees (void)
{
  if (test_on_cuda ())
    {
      g_test_skip ("the CPU policy applies to the CPU");
      return;
    }
  derm_engine_set_cpu_fp32 (TRUE);
  TestShapes *train = test_shapes_new (64, SIZE, 1, FALSE);
  train->batch = 8;
  derm_engine_manual_seed (11);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, SIZE);
  DermTrainConfig c = test_classify_config (6 * 8);
  train_epochs (m, &c, train, 6);

  TestShapes *test = test_shapes_new (64, SIZE, 2, FALSE);
  DermImage **imgs = g_new (DermImage *, test->n);
  for (int i = 0; i < test->n; i++)
    imgs[i] = shape_image (test, i);
  g_autoptr(GError) error = NULL;
  for (int tta = 0; tta < 2; tta++)
    {
      /* TTA on a quarter: emulated bf16 is slow on CPUs without the units. */
      const int n = tta ? test->n / 4 : test->n;
      float *p32 = g_new (float, n * 2), *p16 = g_new (float, n * 2);
      derm_engine_set_cpu_fp32 (TRUE);
      g_assert_true (derm_model_classify_batch (m, (const DermImage *const *) imgs, n, tta, p32, &error));
      g_assert_no_error (error);
      derm_engine_set_cpu_fp32 (FALSE);
      g_assert_cmpint (derm_engine_cpu_policy ()->precision, ==, DERM_CPU_PRECISION_BF16);
      g_assert_true (derm_model_classify_batch (m, (const DermImage *const *) imgs, n, tta, p16, &error));
      g_assert_no_error (error);
      int agree = 0;
      double max_diff = 0;
      for (int i = 0; i < n; i++)
        {
          agree += (p32[2 * i + 1] > p32[2 * i]) == (p16[2 * i + 1] > p16[2 * i]);
          for (int k = 0; k < 2; k++)
            max_diff = MAX (max_diff, fabs (p32[2 * i + k] - p16[2 * i + k]));
        }
      g_printerr ("# classify%s: top class agrees on %d/%d, max probability difference %.4f\n",
                  tta ? " (TTA)" : "", agree, n, max_diff);
      g_assert_cmpint (agree * 1000, >=, n * 995);
      g_assert_cmpfloat (max_diff, <=, 0.02);
      g_free (p32);
      g_free (p16);
    }

  /* Grad-CAM under bf16 points where fp32's does. */
  derm_engine_set_cpu_fp32 (TRUE);
  g_autoptr(DermImage) cam32 = derm_model_gradcam (m, imgs[0], 0, &error);
  g_assert_no_error (error);
  derm_engine_set_cpu_fp32 (FALSE);
  g_autoptr(DermImage) cam16 = derm_model_gradcam (m, imgs[0], 0, &error);
  g_assert_no_error (error);
  double diff = 0;
  for (int k = 0; k < SIZE * SIZE; k++)
    diff += abs ((int) cam32->data[k] - (int) cam16->data[k]);
  diff /= SIZE * SIZE;
  g_printerr ("# Grad-CAM: mean difference %.2f grey levels\n", diff);
  g_assert_cmpfloat (diff, <, 8.0);

  for (int i = 0; i < test->n; i++)
    derm_image_free (imgs[i]);
  g_free (imgs);
  derm_model_free (m);
  test_shapes_free (train);
  test_shapes_free (test);
}

/* A U-Net (base 8) trained on disc masks, in fp32 or in bf16. */
static DermModel *
train_unet (TestShapes *train, gboolean fp32)
{
  derm_engine_set_cpu_fp32 (fp32);
  derm_engine_manual_seed (12);
  DermModel *m = test_new_model (DERM_ARCH_UNET, 1, 8, SIZE);
  DermTrainConfig c = { 0 };
  c.optimizer = DERM_OPTIMIZER_ADAMW;
  c.loss = DERM_LOSS_BCE_DICE;
  c.lr = 5e-3;
  c.total_steps = 8 * 4;
  c.warmup_steps = 2;
  c.seed = 3;
  c.mixed_precision = TRUE;
  train_epochs (m, &c, train, 8);
  return m;
}

/* Held-out Dice of @m's masks, computed under the current policy. */
static double
held_out_dice (DermModel *m, TestShapes *test)
{
  g_autoptr(GError) error = NULL;
  double sum = 0;
  for (int i = 0; i < test->n; i++)
    {
      g_autoptr(DermImage) img = shape_image (test, i);
      g_autoptr(DermImage) mask = derm_model_segment (m, img, FALSE, &error);
      g_assert_no_error (error);
      const guint8 *truth = test->masks + (gsize) i * SIZE * SIZE;
      int inter = 0, a = 0, b = 0;
      for (int k = 0; k < SIZE * SIZE; k++)
        {
          gboolean p = mask->data[k] >= 128, t = truth[k] != 0;
          inter += p && t;
          a += p;
          b += t;
        }
      sum += 2.0 * inter / MAX (1, a + b);
    }
  return sum / test->n;
}

/* A U-Net trained in fp32: its bf16 masks agree with its fp32 masks on >= 99%
 * of pixels. The same U-Net trained in bf16 (same seed, same data) reaches
 * the fp32 one's held-out Dice. */
static void
test_segment_agrees (void)
{
  if (test_on_cuda ())
    {
      g_test_skip ("the CPU policy applies to the CPU");
      return;
    }
  TestShapes *train = test_shapes_new (32, SIZE, 3, TRUE);
  train->batch = 8;
  TestShapes *test = test_shapes_new (12, SIZE, 4, TRUE);
  DermModel *m = train_unet (train, TRUE);
  g_autoptr(GError) error = NULL;
  gint64 same = 0, total = 0;
  for (int i = 0; i < test->n; i++)
    {
      g_autoptr(DermImage) img = shape_image (test, i);
      derm_engine_set_cpu_fp32 (TRUE);
      g_autoptr(DermImage) a = derm_model_segment (m, img, FALSE, &error);
      g_assert_no_error (error);
      derm_engine_set_cpu_fp32 (FALSE);
      g_autoptr(DermImage) b = derm_model_segment (m, img, FALSE, &error);
      g_assert_no_error (error);
      for (int k = 0; k < SIZE * SIZE; k++)
        same += (a->data[k] >= 128) == (b->data[k] >= 128);
      total += SIZE * SIZE;
    }
  g_printerr ("# segment: %.3f%% of pixels on the same side of 128\n", 100.0 * same / total);
  g_assert_cmpint (same * 100, >=, total * 99);

  derm_engine_set_cpu_fp32 (TRUE);
  double dice32 = held_out_dice (m, test);
  DermModel *m16 = train_unet (train, FALSE);
  derm_engine_set_cpu_fp32 (TRUE);
  double dice16 = held_out_dice (m16, test);
  g_printerr ("# held-out Dice: trained in fp32 %.3f, in bf16 %.3f\n", dice32, dice16);
  g_assert_cmpfloat (dice32, >, 0.8);
  g_assert_cmpfloat (dice16, >, 0.8);
  g_assert_cmpfloat (fabs (dice16 - dice32), <, 0.05);
  derm_model_free (m16);
  derm_model_free (m);
  test_shapes_free (train);
  test_shapes_free (test);
}

/* A classifier's training steps under bf16 lower the loss, and what training
 * keeps is fp32: the saved weights and the optimizer state in a checkpoint;
 * the file loads back and classifies as the model in memory does. */
static void
test_train_keeps_fp32 (void)
{
  if (test_on_cuda ())
    {
      g_test_skip ("the CPU policy applies to the CPU");
      return;
    }
  derm_engine_set_cpu_fp32 (FALSE);
  g_assert_cmpint (derm_engine_cpu_policy ()->precision, ==, DERM_CPU_PRECISION_BF16);
  /* Small images: emulated bf16 trains slowly on CPUs without the units. */
  TestShapes *train = test_shapes_new (32, SMALL, 1, FALSE);
  train->batch = 8;
  derm_engine_manual_seed (11);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, SMALL);
  DermTrainConfig c = test_classify_config (3 * 4);
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  double first = 0, last = 0;
  for (int e = 0; e < 3; e++)
    {
      double loss = -1;
      g_assert_true (derm_trainer_run_epoch (tr, e, -1, test_shapes_next_batch, train, NULL, NULL,
                                             NULL, &loss, &error));
      g_assert_no_error (error);
      if (e == 0)
        first = loss;
      last = loss;
    }
  g_printerr ("# bf16 training loss %.4f -> %.4f\n", first, last);
  g_assert_cmpfloat (last, <, first);

  g_autofree char *dir = test_tmpdir ();
  g_autofree char *wpath = g_build_filename (dir, "m.safetensors", NULL);
  g_autofree char *cpath = g_build_filename (dir, "m.ckpt", NULL);
  g_assert_true (derm_model_save (m, wpath, &error));
  g_assert_true (derm_trainer_save_checkpoint (tr, cpath, &error));
  g_assert_no_error (error);
  const char *paths[] = { wpath, cpath };
  for (guint f = 0; f < G_N_ELEMENTS (paths); f++)
    {
      g_autoptr(DermSafetensors) st = derm_safetensors_open (paths[f], &error);
      g_assert_no_error (error);
      int floats = 0;
      for (guint i = 0; i < derm_safetensors_get_n_tensors (st); i++)
        {
          const DermStTensor *t = derm_safetensors_get_tensor (st, i);
          if (t->dtype == DERM_ST_I64 || t->dtype == DERM_ST_U8)
            continue;
          if (t->dtype != DERM_ST_F32)
            g_error ("%s: %s is not fp32", paths[f], t->name);
          floats++;
        }
      g_assert_cmpint (floats, >, 0);
    }
  g_autoptr(DermModel) back = derm_model_load (wpath, "cpu", &error);
  g_assert_no_error (error);
  g_autoptr(DermImage) img = shape_image (train, 0);
  float a[2], b[2];
  g_assert_true (derm_model_classify (m, img, FALSE, a, &error));
  g_assert_true (derm_model_classify (back, img, FALSE, b, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (a[0] - b[0]), <, 1e-5);

  derm_trainer_free (tr);
  derm_model_free (m);
  test_shapes_free (train);
  test_rmdir (dir);
}

typedef struct {
  volatile gint steps;
  volatile gint stop;
  TestShapes *data;
} Background;

static gboolean
endless_batches (gpointer user_data, DermBatch *batch, GError **error)
{
  Background *bg = user_data;
  TestShapes *d = bg->data;
  if (!test_shapes_next_batch (d, batch, error))
    g_assert_true (test_shapes_next_batch (d, batch, error));
  return TRUE;
}

static void
count_step (const DermTrainProgress *progress, gpointer user_data)
{
  Background *bg = user_data;
  g_atomic_int_inc (&bg->steps);
}

static gpointer
background_worker (gpointer user_data)
{
  Background *bg = user_data;
  derm_engine_set_background_thread (TRUE);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  DermTrainConfig c = test_classify_config (1000);
  GError *error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  gboolean ok = derm_trainer_run_epoch (tr, 0, -1, endless_batches, bg, count_step, bg, &bg->stop, NULL, &error);
  g_assert_false (ok);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_error_free (error);
  derm_trainer_free (tr);
  derm_model_free (m);
  return NULL;
}

static void
wait_for_steps (Background *bg, int at_least)
{
  for (int i = 0; i < 6000 && g_atomic_int_get (&bg->steps) < at_least; i++)
    g_usleep (10 * 1000);
  g_assert_cmpint (g_atomic_int_get (&bg->steps), >=, at_least);
}

/* While an analysis is pending, a training job on a background thread takes
 * no new step; it goes on once the analysis ends, and a cancel reaches it
 * while it waits. A thread not marked as background never waits. */
static void
test_foreground_gate (void)
{
  if (test_on_cuda ())
    {
      g_test_skip ("only CPU training waits");
      return;
    }
  derm_engine_set_cpu_fp32 (TRUE);
  Background bg = { 0 };
  bg.data = test_shapes_new (16, 32, 5, FALSE);
  bg.data->batch = 4;
  GThread *thread = g_thread_new ("background", background_worker, &bg);
  wait_for_steps (&bg, 2);

  gint64 waited = derm_engine_foreground_waited_us ();
  derm_engine_foreground_begin ();
  derm_engine_foreground_begin ();   /* nested */
  int at_begin = g_atomic_int_get (&bg.steps);
  /* This thread is not a background one: its analysis runs at once. */
  g_autoptr(DermModel) fg = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  g_autoptr(DermImage) img = shape_image (bg.data, 0);
  float probs[2];
  g_autoptr(GError) error = NULL;
  for (int i = 0; i < 5; i++)
    g_assert_true (derm_model_classify (fg, img, FALSE, probs, &error));
  g_usleep (500 * 1000);
  /* At most the step in progress at begin () finished. */
  int during = g_atomic_int_get (&bg.steps);
  g_assert_cmpint (during, <=, at_begin + 1);
  derm_engine_foreground_end ();
  g_usleep (200 * 1000);
  g_assert_cmpint (g_atomic_int_get (&bg.steps), ==, during);   /* still one pending */
  derm_engine_foreground_end ();
  wait_for_steps (&bg, during + 2);
  g_assert_cmpint (derm_engine_foreground_waited_us (), >, waited);

  /* Cancel while waiting. */
  derm_engine_foreground_begin ();
  g_usleep (100 * 1000);
  g_atomic_int_set (&bg.stop, 1);
  g_thread_join (thread);
  derm_engine_foreground_end ();
  test_shapes_free (bg.data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  derm_engine_set_threads (0);
  g_test_add_func ("/engine/precision/policy-environment", test_policy_environment);
  g_test_add_func ("/engine/precision/classify-agrees", test_classify_agrees);
  g_test_add_func ("/engine/precision/segment-agrees", test_segment_agrees);
  g_test_add_func ("/engine/precision/train-keeps-fp32", test_train_keeps_fp32);
  g_test_add_func ("/engine/precision/foreground-gate", test_foreground_gate);
  return g_test_run ();
}
