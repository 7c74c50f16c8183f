/* derm-bench-engine: the engine's speed, for comparison with PyTorch in
 * Python (bench/peer/bench-torch.py measures the same things the same way).
 *
 *   infer       ResNet-50 batch-1 classification latency at 224 px, fp32
 *               (derm_model_classify: preprocessing, forward, softmax, copy
 *               back), median of --runs
 *   infer-bf16  the same under bf16 autocast (CUDA only)
 *   train64     ResNet-50 training images/s at 224 px, batch 64, AdamW,
 *   train256    batch 256; bf16 autocast + channels_last on CUDA
 *   unet        U-Net training images/s at 256 px, batch 32, BCE + Dice
 *
 * Every result is one line "RESULT name value unit" on stdout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "derm-engine.h"

static char *device = NULL;
static char *what = NULL;
static int runs = 100, steps = 20, warmup = 5, threads = 0, unet_base = 64, train_size = 224,
           unet_size = 256, unet_batch = 32;
static char *train_batches = NULL;

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
die (GError *error)
{
  g_printerr ("derm-bench-engine: %s\n", error->message);
  exit (1);
}

static void
bench_infer (gboolean bf16)
{
  GError *error = NULL;
  DermModelConfig cfg = { DERM_ARCH_RESNET50, 7, 0, 224 };
  DermModel *m = derm_model_new (&cfg, device, &error);
  if (m == NULL)
    die (error);
  derm_model_set_inference_bf16 (m, bf16);
  DermImage *img = derm_image_new (224, 224, 3, &error);
  GRand *rand = g_rand_new_with_seed (1);
  for (gsize i = 0; i < 224 * 224 * 3; i++)
    img->data[i] = (guint8) g_rand_int_range (rand, 0, 256);
  float probs[7];
  for (int i = 0; i < warmup * 2; i++)
    if (!derm_model_classify (m, img, FALSE, probs, &error))
      die (error);
  double *t = g_new (double, runs);
  for (int i = 0; i < runs; i++)
    {
      gint64 s = g_get_monotonic_time ();
      if (!derm_model_classify (m, img, FALSE, probs, &error))
        die (error);
      t[i] = (g_get_monotonic_time () - s) / 1000.0;
    }
  qsort (t, runs, sizeof (double), compare_double);
  printf ("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s)\n", bf16 ? "infer_bf16_ms" : "infer_fp32_ms",
          t[runs / 2], runs, t[runs / 10], t[runs * 9 / 10], derm_model_get_device (m));
  fflush (stdout);
  g_free (t);
  g_rand_free (rand);
  derm_image_free (img);
  derm_model_free (m);
}

typedef struct {
  guint8 *images;
  guint8 *masks;
  gint32 *labels;
  int n, size;
  int left;
} Feed;

static gboolean
feed_next (gpointer user_data, DermBatch *batch, GError **error)
{
  Feed *f = user_data;
  if (f->left-- <= 0)
    return FALSE;
  batch->images = f->images;
  batch->masks = f->masks;
  batch->labels = f->labels;
  batch->n = f->n;
  batch->height = batch->width = f->size;
  return TRUE;
}

static void
bench_train (DermArch arch, int batch, int size, const char *name)
{
  GError *error = NULL;
  DermModelConfig cfg = { arch, 7, unet_base, size };
  DermModel *m = derm_model_new (&cfg, device, &error);
  if (m == NULL)
    die (error);
  DermTrainConfig tc = { 0 };
  tc.optimizer = DERM_OPTIMIZER_ADAMW;
  tc.loss = arch == DERM_ARCH_UNET ? DERM_LOSS_BCE_DICE : DERM_LOSS_CROSS_ENTROPY;
  tc.lr = 1e-4;
  tc.weight_decay = 1e-4;
  tc.total_steps = 1000;
  tc.mixed_precision = TRUE;
  DermTrainer *tr = derm_trainer_new (m, &tc, &error);
  if (tr == NULL)
    die (error);
  Feed f = { 0 };
  f.n = batch;
  f.size = size;
  gsize px = (gsize) batch * size * size;
  f.images = g_malloc (px * 3);
  f.masks = g_malloc (px);
  f.labels = g_new (gint32, batch);
  GRand *rand = g_rand_new_with_seed (2);
  for (gsize i = 0; i < px * 3; i++)
    f.images[i] = (guint8) g_rand_int_range (rand, 0, 256);
  for (gsize i = 0; i < px; i++)
    f.masks[i] = (i / size) % size < (gsize) size / 2 ? 255 : 0;
  for (int i = 0; i < batch; i++)
    f.labels[i] = i % 7;
  double loss;
  f.left = warmup;
  if (!derm_trainer_run_epoch (tr, 0, warmup, feed_next, &f, NULL, NULL, NULL, &loss, &error))
    die (error);
  f.left = steps;
  gint64 s = g_get_monotonic_time ();
  if (!derm_trainer_run_epoch (tr, 1, steps, feed_next, &f, NULL, NULL, NULL, &loss, &error))
    die (error);
  double secs = (g_get_monotonic_time () - s) / 1e6;
  printf ("RESULT %s %.1f img/s (%d steps of %d at %d px; %s; loss %.3f)\n", name,
          (double) steps * batch / secs, steps, batch, size, derm_model_get_device (m), loss);
  fflush (stdout);
  g_rand_free (rand);
  g_free (f.images);
  g_free (f.masks);
  g_free (f.labels);
  derm_trainer_free (tr);
  derm_model_free (m);
  derm_engine_empty_cache ();
}

static gboolean
wants (const char *name)
{
  g_auto(GStrv) parts = g_strsplit (what, ",", -1);
  return g_strv_contains ((const char *const *) parts, name);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "auto, cpu, cuda, cuda:N", "D" },
    { "what", 0, 0, G_OPTION_ARG_STRING, &what, "infer,infer-bf16,train64,train256,unet", "LIST" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "inference runs (median)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "timed training steps", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "untimed warm-up steps/runs", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (0: the cores present)", "N" },
    { "unet-base", 0, 0, G_OPTION_ARG_INT, &unet_base, "U-Net base width (64: 31 M parameters)", "N" },
    { "train-size", 0, 0, G_OPTION_ARG_INT, &train_size, "ResNet training image size", "PX" },
    { "train-batches", 0, 0, G_OPTION_ARG_STRING, &train_batches, "override: batch sizes for train64,train256", "A,B" },
    { "unet-size", 0, 0, G_OPTION_ARG_INT, &unet_size, "U-Net training image size", "PX" },
    { "unet-batch", 0, 0, G_OPTION_ARG_INT, &unet_batch, "U-Net batch size", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  g_option_context_free (ctx);
  if (what == NULL)
    what = g_strdup ("infer,infer-bf16,train64,train256,unet");
  if (runs < 1 || steps < 1 || warmup < 0)
    return 2;
  int b1 = 64, b2 = 256;
  if (train_batches != NULL && sscanf (train_batches, "%d,%d", &b1, &b2) != 2)
    return 2;
  derm_engine_set_threads (threads);
  printf ("# libtorch %s, %d CPU threads, device %s\n", derm_engine_torch_version (), derm_engine_get_threads (),
          device ? device : "auto");
  gboolean cuda = derm_engine_cuda_available () && (device == NULL || !g_str_equal (device, "cpu"));
  if (wants ("infer"))
    bench_infer (FALSE);
  if (wants ("infer-bf16") && cuda)
    bench_infer (TRUE);
  if (wants ("train64"))
    bench_train (DERM_ARCH_RESNET50, b1, train_size, "train_r50_b64_ips");
  if (wants ("train256"))
    bench_train (DERM_ARCH_RESNET50, b2, train_size, "train_r50_b256_ips");
  if (wants ("unet"))
    bench_train (DERM_ARCH_UNET, unet_batch, unet_size, "train_unet_b32_ips");
  return 0;
}
