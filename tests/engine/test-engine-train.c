/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-engine-train.c: the training loop on generated data: a ResNet-18
 * learns discs vs squares, a U-Net learns disc masks; cancel, resume and
 * seeded repeatability; the U-Net on odd sizes. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "derm-safetensors.h"
#include "engine-test-util.h"

#define SIZE 64

static DermImage *
data_image (TestShapes *d, int i)
{
  DermImage *img = derm_image_new (d->size, d->size, 3, NULL);
  memcpy (img->data, d->images + (gsize) i * d->size * d->size * 3, (gsize) d->size * d->size * 3);
  return img;
}

static double
run_epoch (DermTrainer *tr, int epoch, TestShapes *d)
{
  g_autoptr(GError) error = NULL;
  double loss = -1;
  g_assert_true (derm_trainer_run_epoch (tr, epoch, (d->n + d->batch - 1) / d->batch,
                                         test_shapes_next_batch, d, NULL, NULL, NULL, &loss, &error));
  g_assert_no_error (error);
  return loss;
}

static void
test_classifier_learns (void)
{
  const int epochs = 6;
  TestShapes *train = test_shapes_new (64, SIZE, 1, FALSE);
  /* Small batches: more steps, so BatchNorm's running statistics (used in
   * eval mode) catch up with the weights. */
  train->batch = 8;
  TestShapes *test = test_shapes_new (64, SIZE, 2, FALSE);
  derm_engine_manual_seed (11);
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, SIZE);
  DermTrainConfig c = test_classify_config (epochs * 8);
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  double first = 0, last = 0;
  for (int e = 0; e < epochs; e++)
    {
      double l = run_epoch (tr, e, train);
      g_printerr ("# resnet18 epoch %d loss %.4f\n", e, l);
      if (e == 0)
        first = l;
      last = l;
    }
  g_assert_cmpint (derm_trainer_get_global_step (tr), ==, epochs * 8);
  g_assert_cmpint (derm_trainer_get_epoch (tr), ==, epochs);
  g_assert_cmpfloat (last, <, first * 0.6);

  DermImage **imgs = g_new (DermImage *, test->n);
  for (int i = 0; i < test->n; i++)
    imgs[i] = data_image (test, i);
  float *probs = g_new (float, test->n * 2);
  g_assert_true (derm_model_classify_batch (m, (const DermImage *const *) imgs, test->n, FALSE, probs, &error));
  g_assert_no_error (error);
  int correct = 0;
  for (int i = 0; i < test->n; i++)
    correct += (probs[2 * i + 1] > probs[2 * i]) == (test->labels[i] == 1);
  g_printerr ("# resnet18 held-out accuracy %d/%d\n", correct, test->n);
  g_assert_cmpint (correct, >=, test->n * 8 / 10);

  for (int i = 0; i < test->n; i++)
    derm_image_free (imgs[i]);
  g_free (imgs);
  g_free (probs);
  derm_trainer_free (tr);
  derm_model_free (m);
  test_shapes_free (train);
  test_shapes_free (test);
}

static void
test_unet_learns (void)
{
  TestShapes *train = test_shapes_new (32, SIZE, 3, TRUE);
  train->batch = 8;
  TestShapes *test = test_shapes_new (12, SIZE, 4, TRUE);
  derm_engine_manual_seed (12);
  DermModel *m = test_new_model (DERM_ARCH_UNET, 1, 8, SIZE);
  const int epochs = 8;
  DermTrainConfig c = { 0 };
  c.optimizer = DERM_OPTIMIZER_ADAMW;
  c.loss = DERM_LOSS_BCE_DICE;
  c.lr = 5e-3;
  c.total_steps = epochs * 4;
  c.warmup_steps = 2;
  c.seed = 3;
  c.mixed_precision = TRUE;
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  for (int e = 0; e < epochs; e++)
    {
      double l = run_epoch (tr, e, train);
      if (e % 4 == 3)
        g_printerr ("# unet epoch %d loss %.4f\n", e, l);
    }
  double dice_sum = 0;
  for (int i = 0; i < test->n; i++)
    {
      g_autoptr(DermImage) img = data_image (test, i);
      g_autoptr(DermImage) mask = derm_model_segment (m, img, FALSE, &error);
      g_assert_no_error (error);
      g_assert_cmpint (mask->width, ==, SIZE);
      const guint8 *truth = test->masks + (gsize) i * SIZE * SIZE;
      int inter = 0, a = 0, b = 0;
      for (int k = 0; k < SIZE * SIZE; k++)
        {
          gboolean p = mask->data[k] >= 128, t = truth[k] != 0;
          inter += p && t;
          a += p;
          b += t;
        }
      dice_sum += 2.0 * inter / MAX (1, a + b);
    }
  double dice = dice_sum / test->n;
  g_printerr ("# unet held-out Dice %.3f\n", dice);
  g_assert_cmpfloat (dice, >, 0.8);
  derm_trainer_free (tr);
  derm_model_free (m);
  test_shapes_free (train);
  test_shapes_free (test);
}

typedef struct {
  volatile gint *cancel;
  int cancel_at;
  int calls;
  gint64 first_global_step;
} ProgressState;

static void
progress_cb (const DermTrainProgress *p, gpointer user_data)
{
  ProgressState *s = user_data;
  if (s->calls++ == 0)
    s->first_global_step = p->global_step;
  g_assert_cmpfloat (p->loss, >=, 0);
  g_assert_cmpfloat (p->lr, >, 0);
  if (s->cancel != NULL && p->step == s->cancel_at)
    g_atomic_int_set (s->cancel, 1);
}

static void
test_cancel (void)
{
  TestShapes *d = test_shapes_new (64, 32, 5, FALSE);
  d->batch = 8;
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  DermTrainConfig c = test_classify_config (100);
  g_autoptr(GError) error = NULL;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  volatile gint cancel = 0;
  ProgressState s = { &cancel, 2, 0, 0 };
  double loss = -1;
  g_assert_false (derm_trainer_run_epoch (tr, 0, 8, test_shapes_next_batch, d, progress_cb, &s,
                                          &cancel, &loss, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Cancelled during step 2: no step 3 was taken. */
  g_assert_cmpint (derm_trainer_get_global_step (tr), ==, 2);
  g_assert_cmpint (s.calls, ==, 2);
  g_assert_cmpfloat (loss, >, 0);
  derm_trainer_free (tr);
  derm_model_free (m);
  test_shapes_free (d);
}

static void
test_resume (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *ckpt = g_build_filename (dir, "ckpt.safetensors", NULL);
  TestShapes *d = test_shapes_new (32, 32, 6, FALSE);
  d->batch = 8;
  g_autoptr(GError) error = NULL;
  for (int opt = 0; opt < 2; opt++)
    {
      DermTrainConfig c = test_classify_config (40);
      c.optimizer = opt == 0 ? DERM_OPTIMIZER_ADAMW : DERM_OPTIMIZER_SGD;
      c.momentum = 0.9;
      c.loss = opt == 0 ? DERM_LOSS_CROSS_ENTROPY : DERM_LOSS_FOCAL;
      float weights[2] = { 1.0f, 2.0f };
      c.class_weights = weights;
      c.label_smoothing = opt == 0 ? 0.1 : 0.0;
      /* Mixing draws from (seed, step): the resumed epoch mixes as the continued one. */
      c.mixup_alpha = opt == 0 ? 0.2 : 0.0;
      c.cutmix_alpha = opt == 0 ? 1.0 : 0.0;
      c.finetune = opt == 0 ? DERM_FINETUNE_ALL : DERM_FINETUNE_LAST;
      DermModel *a = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
      DermTrainer *ta = derm_trainer_new (a, &c, &error);
      g_assert_no_error (error);
      run_epoch (ta, 0, d);
      g_assert_true (derm_trainer_save_checkpoint (ta, ckpt, &error));
      g_assert_no_error (error);

      /* A fresh model and trainer (other random weights) resume from it. */
      DermModel *b = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
      DermTrainer *tb = derm_trainer_new (b, &c, &error);
      g_assert_no_error (error);
      g_assert_true (derm_trainer_load_checkpoint (tb, ckpt, &error));
      g_assert_no_error (error);
      g_assert_cmpint (derm_trainer_get_global_step (tb), ==, 4);
      g_assert_cmpint (derm_trainer_get_epoch (tb), ==, 1);

      ProgressState s = { NULL, 0, 0, 0 };
      double la = run_epoch (ta, 1, d), lb = -1;
      g_assert_true (derm_trainer_run_epoch (tb, 1, 4, test_shapes_next_batch, d, progress_cb, &s,
                                             NULL, &lb, &error));
      g_assert_no_error (error);
      g_assert_cmpint (s.first_global_step, ==, 5);
      g_printerr ("# resume (%s): continued %.6f, resumed %.6f\n", opt ? "sgd" : "adamw", la, lb);
      /* Same weights, optimizer state and schedule position: the same epoch. */
      if (test_on_cuda ())
        g_assert_cmpfloat (fabs (la - lb), <, 1e-2 * la);
      else
        g_assert_cmpfloat (fabs (la - lb), <, 1e-5 * MAX (1.0, la));

      /* A checkpoint of another optimizer is refused. */
      DermTrainConfig other = c;
      other.optimizer = opt == 0 ? DERM_OPTIMIZER_SGD : DERM_OPTIMIZER_ADAMW;
      DermTrainer *tc = derm_trainer_new (b, &other, &error);
      g_assert_no_error (error);
      g_assert_false (derm_trainer_load_checkpoint (tc, ckpt, &error));
      g_assert_error (error, DERM_ERROR, DERM_ERROR_MISMATCH);
      g_clear_error (&error);
      derm_trainer_free (tc);

      derm_trainer_free (tb);
      derm_trainer_free (ta);
      derm_model_free (b);
      derm_model_free (a);
    }
  /* A model file is not a checkpoint. */
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  g_assert_true (derm_model_save (m, ckpt, &error));
  DermTrainConfig c = test_classify_config (10);
  DermTrainer *t = derm_trainer_new (m, &c, &error);
  g_assert_false (derm_trainer_load_checkpoint (t, ckpt, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  derm_trainer_free (t);
  derm_model_free (m);
  test_shapes_free (d);
  test_rmdir (dir);
}

static void
test_seed_repeats (void)
{
  if (test_on_cuda ())
    {
      g_test_skip ("exact repeats are promised on the CPU only");
      return;
    }
  TestShapes *d = test_shapes_new (16, 32, 8, FALSE);
  d->batch = 8;
  double loss[2];
  for (int run = 0; run < 2; run++)
    {
      derm_engine_manual_seed (99);
      DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
      DermTrainConfig c = test_classify_config (2);
      g_autoptr(GError) error = NULL;
      DermTrainer *tr = derm_trainer_new (m, &c, &error);
      loss[run] = run_epoch (tr, 0, d);
      derm_trainer_free (tr);
      derm_model_free (m);
    }
  g_assert_cmpfloat (loss[0], ==, loss[1]);
  test_shapes_free (d);
}

/* Mean probability of class 1 over @d's images with @label. */
static double
mean_prob (DermModel *m, TestShapes *d, int label)
{
  double sum = 0;
  int count = 0;
  for (int i = 0; i < d->n; i++)
    if (d->labels[i] == label)
      {
        g_autoptr(GError) error = NULL;
        DermImage *img = data_image (d, i);
        float p[2];
        g_assert_true (derm_model_classify (m, img, FALSE, p, &error));
        g_assert_no_error (error);
        sum += p[1];
        count++;
        derm_image_free (img);
      }
  return sum / count;
}

/* Mixup + cutmix + the weight average: the loss falls; the
 * average is a different set of weights that swaps in and out exactly and
 * survives a checkpoint; each run repeats with its seed. */
static void
test_recipe_options (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *ckpt = g_build_filename (dir, "ckpt.safetensors", NULL);
  const int epochs = 3, size = 32;
  TestShapes *train = test_shapes_new (32, size, 1, FALSE);
  train->batch = 8;
  TestShapes *test = test_shapes_new (16, size, 2, FALSE);
  double first_loss[2] = { 0 }, last_loss = 0;
  g_autoptr(GError) error = NULL;
  for (int run = 0; run < 2; run++)
    {
      derm_engine_manual_seed (11);
      DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, size);
      DermTrainConfig c = test_classify_config (epochs * 4);
      c.mixup_alpha = 0.2;
      c.cutmix_alpha = 1.0;
      c.ema_decay = 0.9;
      DermTrainer *tr = derm_trainer_new (m, &c, &error);
      g_assert_no_error (error);
      for (int e = 0; e < epochs; e++)
        {
          double l = run_epoch (tr, e, train);
          if (e == 0)
            first_loss[run] = l;
          last_loss = l;
        }
      if (run == 1 || test_on_cuda ())
        {
          derm_trainer_free (tr);
          derm_model_free (m);
          break;
        }
      double raw = mean_prob (m, test, 1);
      g_assert_true (derm_trainer_swap_ema (tr));
      double avg = mean_prob (m, test, 1);
      g_printerr ("# mixup+cutmix+ema: loss %.4f -> %.4f; P(square | square) raw %.4f, "
                  "average %.4f\n", first_loss[0], last_loss, raw, avg);
      g_assert_cmpfloat (avg, !=, raw);
      /* Training refuses to go on with the average swapped in. */
      g_assert_false (derm_trainer_run_epoch (tr, epochs, 4, test_shapes_next_batch, train, NULL,
                                              NULL, NULL, NULL, &error));
      g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
      g_clear_error (&error);
      train->pos = 0;
      /* A checkpoint written while swapped keeps both sets apart. */
      g_assert_true (derm_trainer_save_checkpoint (tr, ckpt, &error));
      g_assert_no_error (error);
      g_assert_true (derm_trainer_swap_ema (tr));
      g_assert_cmpfloat (mean_prob (m, test, 1), ==, raw);

      DermModel *b = test_new_model (DERM_ARCH_RESNET18, 2, 0, size);
      DermTrainer *tb = derm_trainer_new (b, &c, &error);
      g_assert_no_error (error);
      g_assert_true (derm_trainer_load_checkpoint (tb, ckpt, &error));
      g_assert_no_error (error);
      g_assert_cmpfloat (mean_prob (b, test, 1), ==, raw);
      g_assert_true (derm_trainer_swap_ema (tb));
      g_assert_cmpfloat (mean_prob (b, test, 1), ==, avg);
      derm_trainer_free (tb);
      derm_model_free (b);
      derm_trainer_free (tr);
      derm_model_free (m);
    }
  if (!test_on_cuda ())
    g_assert_cmpfloat (first_loss[0], ==, first_loss[1]);
  /* The same seed without mixing: another first epoch. */
  {
    derm_engine_manual_seed (11);
    DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, size);
    DermTrainConfig c = test_classify_config (epochs * 4);
    DermTrainer *tr = derm_trainer_new (m, &c, &error);
    g_assert_no_error (error);
    double plain = run_epoch (tr, 0, train);
    g_printerr ("# first epoch: mixed %.4f, plain %.4f\n", first_loss[0], plain);
    g_assert_cmpfloat (fabs (plain - first_loss[0]), >, 1e-4);
    derm_trainer_free (tr);
    derm_model_free (m);
  }

  /* Without an average there is nothing to swap. */
  DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  DermTrainConfig plain = test_classify_config (4);
  DermTrainer *tr = derm_trainer_new (m, &plain, &error);
  g_assert_no_error (error);
  g_assert_false (derm_trainer_swap_ema (tr));
  derm_trainer_free (tr);

  /* Settings out of range, and mixing for a U-Net, are refused. */
  DermTrainConfig bad = plain;
  bad.ema_decay = 1.0;
  g_assert_null (derm_trainer_new (m, &bad, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  bad = plain;
  bad.mixup_alpha = -1;
  g_assert_null (derm_trainer_new (m, &bad, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  derm_model_free (m);
  DermModel *u = test_new_model (DERM_ARCH_UNET, 1, 8, 32);
  DermTrainConfig seg = plain;
  seg.loss = DERM_LOSS_BCE_DICE;
  seg.cutmix_alpha = 1.0;
  g_assert_null (derm_trainer_new (u, &seg, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  derm_model_free (u);
  test_shapes_free (train);
  test_shapes_free (test);
  test_rmdir (dir);
}

/* The logit-adjusted loss: offsets o added to the logits in the loss only.
 * Training sees class 1 favoured by e^3, so the raw model learns to score
 * it lower than a model trained without: on the same balanced data its
 * probability of class 1 drops. */
static void
test_logit_adjusted_loss (void)
{
  TestShapes *train = test_shapes_new (32, 32, 3, FALSE);
  train->batch = 8;
  double p1[2];
  for (int run = 0; run < 2; run++)
    {
      derm_engine_manual_seed (5);
      DermModel *m = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
      DermTrainConfig c = test_classify_config (4 * 4);
      float offsets[2] = { 0.0f, 3.0f };
      c.loss_logit_offsets = run == 1 ? offsets : NULL;
      g_autoptr(GError) error = NULL;
      DermTrainer *tr = derm_trainer_new (m, &c, &error);
      g_assert_no_error (error);
      for (int e = 0; e < 4; e++)
        run_epoch (tr, e, train);
      p1[run] = 0.5 * (mean_prob (m, train, 0) + mean_prob (m, train, 1));
      derm_trainer_free (tr);
      derm_model_free (m);
    }
  g_printerr ("# mean P(class 1): plain loss %.3f, logit-adjusted (+3 on class 1) %.3f\n", p1[0],
              p1[1]);
  g_assert_cmpfloat (p1[1], <, p1[0] - 0.05);
  test_shapes_free (train);
}

static void
test_unet_odd_sizes (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autoptr(GError) error = NULL;
  /* An input size that is no multiple of 16. */
  DermModel *m = test_new_model (DERM_ARCH_UNET, 1, 4, 37);
  g_autoptr(GRand) rand = g_rand_new_with_seed (1);
  g_autoptr(DermImage) img = derm_image_new (53, 41, 3, &error);
  test_draw_shape (rand, 41, 0, img->data, NULL);
  g_autoptr(DermImage) mask = derm_model_segment (m, img, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mask->width, ==, 53);
  g_assert_cmpint (mask->height, ==, 41);
  g_assert_cmpint (mask->channels, ==, 1);

  /* Training on an odd batch size works, and the gradient reaches the first
   * layer: its weights change after one step. */
  g_autofree char *before = g_build_filename (dir, "before.safetensors", NULL);
  g_autofree char *after = g_build_filename (dir, "after.safetensors", NULL);
  g_assert_true (derm_model_save (m, before, &error));
  TestShapes *d = test_shapes_new (4, 45, 9, TRUE);
  DermTrainConfig c = { 0 };
  c.loss = DERM_LOSS_BCE_DICE;
  c.lr = 1e-3;
  DermTrainer *tr = derm_trainer_new (m, &c, &error);
  g_assert_no_error (error);
  run_epoch (tr, 0, d);
  g_assert_true (derm_model_save (m, after, &error));
  g_autoptr(DermSafetensors) sa = derm_safetensors_open (before, &error);
  g_autoptr(DermSafetensors) sb = derm_safetensors_open (after, &error);
  g_assert_no_error (error);
  const DermStTensor *wa = derm_safetensors_lookup (sa, "inc.0.weight");
  const DermStTensor *wb = derm_safetensors_lookup (sb, "inc.0.weight");
  g_assert_nonnull (wa);
  g_assert_nonnull (wb);
  g_assert_cmpint (wa->nbytes, ==, 4 * 3 * 3 * 3 * sizeof (float));
  g_assert_true (memcmp (wa->data, wb->data, wa->nbytes) != 0);

  /* Fine-tuning the head of a ResNet leaves the backbone as it was. */
  DermModel *r = test_new_model (DERM_ARCH_RESNET18, 2, 0, 32);
  g_assert_true (derm_model_save (r, before, &error));
  DermTrainConfig rc = test_classify_config (4);
  rc.finetune = DERM_FINETUNE_HEAD;
  DermTrainer *rt = derm_trainer_new (r, &rc, &error);
  g_assert_no_error (error);
  TestShapes *rd = test_shapes_new (8, 32, 10, FALSE);
  run_epoch (rt, 0, rd);
  g_assert_true (derm_model_save (r, after, &error));
  g_autoptr(DermSafetensors) ra = derm_safetensors_open (before, &error);
  g_autoptr(DermSafetensors) rb = derm_safetensors_open (after, &error);
  for (guint i = 0; i < derm_safetensors_get_n_tensors (ra); i++)
    {
      const DermStTensor *t = derm_safetensors_get_tensor (ra, i);
      const DermStTensor *u = derm_safetensors_lookup (rb, t->name);
      gboolean same = memcmp (t->data, u->data, t->nbytes) == 0;
      if (g_str_has_prefix (t->name, "fc."))
        g_assert_false (same);
      else if (!same)
        g_error ("%s changed while only the head was trained", t->name);
    }
  derm_trainer_free (rt);
  derm_model_free (r);
  test_shapes_free (rd);

  derm_trainer_free (tr);
  derm_model_free (m);
  test_shapes_free (d);
  test_rmdir (dir);
}


/* SimSiam on generated images: the loss falls below its start (the views
 * of one image come to agree), the projections keep a spread (no
 * collapse), the backbone's weights change and the head's do not; a
 * checkpoint restores model, heads, optimizer and epoch into a new
 * pretrainer, which then takes the same next epoch; a training checkpoint
 * is refused as a pretraining one. */
static void
test_pretrain (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autoptr(GError) error = NULL;
  TestShapes *d = test_shapes_new (32, 32, 5, FALSE);
  derm_engine_manual_seed (3);
  g_autoptr(DermModel) m = test_new_model (DERM_ARCH_RESNET18, 7, 0, 32);
  g_autofree char *before = g_build_filename (dir, "before.safetensors", NULL);
  g_assert_true (derm_model_save (m, before, &error));
  g_autoptr(DermDeviceCache) cache = derm_device_cache_new (m, d->images, d->labels, NULL, d->n, 32, &error);
  g_assert_no_error (error);
  DermPretrainConfig pc = { .lr = 0.05, .weight_decay = 1e-4, .total_steps = 6 * 4, .warmup_steps = 2,
                            .seed = 9, .dim = 64 };
  DermPretrainer *p = derm_pretrainer_new (m, &pc, &error);
  g_assert_no_error (error);
  DermAugmentConfig aug;
  derm_augment_config_default (&aug);
  guint order[32];
  for (int i = 0; i < 32; i++)
    order[i] = i;
  double first = NAN, loss = NAN, spread = NAN;
  for (int epoch = 0; epoch < 3; epoch++)
    {
      g_assert_true (derm_pretrainer_run_epoch (p, epoch, cache, order, 32, 8, 9, &aug, NULL, NULL, NULL,
                                                &loss, &spread, &error));
      g_assert_no_error (error);
      if (epoch == 0)
        first = loss;
      g_test_message ("epoch %d: loss %.4f, spread %.4f", epoch, loss, spread);
    }
  g_assert_cmpint (derm_pretrainer_get_epoch (p), ==, 3);
  g_assert_true (loss >= -1.0 && loss <= 1.0);
  g_assert_cmpfloat (loss, <, first);
  g_assert_cmpfloat (spread, >, 0.01);
  /* The backbone learnt; the classifier's head was never trained. */
  g_autofree char *after = g_build_filename (dir, "after.safetensors", NULL);
  g_assert_true (derm_model_save (m, after, &error));
  g_autoptr(DermSafetensors) sb = derm_safetensors_open (before, &error);
  g_autoptr(DermSafetensors) sa = derm_safetensors_open (after, &error);
  const DermStTensor *c1b = derm_safetensors_lookup (sb, "conv1.weight");
  const DermStTensor *c1a = derm_safetensors_lookup (sa, "conv1.weight");
  g_assert_true (memcmp (c1b->data, c1a->data, c1b->nbytes) != 0);
  const DermStTensor *fcb = derm_safetensors_lookup (sb, "fc.weight");
  const DermStTensor *fca = derm_safetensors_lookup (sa, "fc.weight");
  g_assert_cmpmem (fcb->data, fcb->nbytes, fca->data, fca->nbytes);

  /* A checkpoint, then one more epoch from it and from the original. */
  g_autofree char *ckpt = g_build_filename (dir, "pre.ckpt", NULL);
  g_assert_true (derm_pretrainer_save_checkpoint (p, ckpt, &error));
  g_assert_no_error (error);
  double l1 = NAN, l2 = NAN;
  derm_engine_manual_seed (4);
  g_assert_true (derm_pretrainer_run_epoch (p, 3, cache, order, 32, 8, 9, &aug, NULL, NULL, NULL, &l1,
                                            NULL, &error));
  g_autoptr(DermModel) m2 = test_new_model (DERM_ARCH_RESNET18, 7, 0, 32);
  DermPretrainer *p2 = derm_pretrainer_new (m2, &pc, &error);
  g_assert_true (derm_pretrainer_load_checkpoint (p2, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpint (derm_pretrainer_get_epoch (p2), ==, 3);
  derm_engine_manual_seed (4);
  g_assert_true (derm_pretrainer_run_epoch (p2, 3, cache, order, 32, 8, 9, &aug, NULL, NULL, NULL, &l2,
                                            NULL, &error));
  g_assert_cmpfloat_with_epsilon (l1, l2, 1e-4);

  /* Another width's heads, or a training checkpoint, are refused. */
  DermPretrainConfig wide = pc;
  wide.dim = 128;
  DermPretrainer *p3 = derm_pretrainer_new (m2, &wide, &error);
  g_assert_false (derm_pretrainer_load_checkpoint (p3, ckpt, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_MISMATCH);
  g_clear_error (&error);
  DermTrainConfig tc = { 0 };
  tc.optimizer = DERM_OPTIMIZER_ADAMW;
  tc.loss = DERM_LOSS_CROSS_ENTROPY;
  tc.lr = 1e-3;
  tc.total_steps = 1;
  DermTrainer *tr = derm_trainer_new (m2, &tc, &error);
  g_autofree char *train_ckpt = g_build_filename (dir, "train.ckpt", NULL);
  g_assert_true (derm_trainer_save_checkpoint (tr, train_ckpt, &error));
  g_assert_false (derm_pretrainer_load_checkpoint (p3, train_ckpt, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
  g_clear_error (&error);
  derm_trainer_free (tr);
  /* An ensemble or a U-Net is not pretrained. */
  g_autoptr(DermModel) unet = test_new_model (DERM_ARCH_UNET, 1, 8, 32);
  g_assert_null (derm_pretrainer_new (unet, &pc, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);

  derm_pretrainer_free (p3);
  derm_pretrainer_free (p2);
  derm_pretrainer_free (p);
  test_shapes_free (d);
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  derm_engine_set_threads (0);
  g_test_add_func ("/engine/train/classifier-learns", test_classifier_learns);
  g_test_add_func ("/engine/train/unet-learns", test_unet_learns);
  g_test_add_func ("/engine/train/cancel", test_cancel);
  g_test_add_func ("/engine/train/resume", test_resume);
  g_test_add_func ("/engine/train/seed-repeats", test_seed_repeats);
  g_test_add_func ("/engine/train/unet-odd-sizes", test_unet_odd_sizes);
  g_test_add_func ("/engine/train/recipe-options", test_recipe_options);
  g_test_add_func ("/engine/train/logit-adjusted-loss", test_logit_adjusted_loss);
  g_test_add_func ("/engine/pretrain", test_pretrain);
  return g_test_run ();
}
