/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bench-engine: the engine's speed, for comparison with PyTorch in
 * Python (bench/peer/bench-torch.py measures the same things the same way).
 *
 *   infer       ResNet-50 batch-1 classification latency at 224 px, fp32
 *               (derm_model_classify: preprocessing, forward, softmax, copy
 *               back), median of --runs
 *   infer-bf16  the same under bf16 autocast (CUDA only)
 *   seg         U-Net batch-1 segmentation latency, the app's default U-Net
 *               (base 32, 256 px): decoded image -> resize to 256 ->
 *               normalise -> forward -> sigmoid -> resize back to the image's
 *               size -> 0..255 mask on the host (derm_model_segment)
 *   train64     ResNet-50 training images/s at 224 px, batch 64, AdamW,
 *   train256    batch 256; bf16 autocast + channels_last on CUDA
 *   unet        U-Net training images/s at 256 px, batch 32, BCE + Dice
 *   clsseg      batch 1, decoded image -> ResNet-50 probabilities (224 px)
 *               and U-Net (base 32, 256 px) mask at the image's size
 *   e2e         the same from JPEG bytes in memory: the core's TurboJPEG
 *               loader (DCT-scaled as the app does), then clsseg
 *   train64-dev ResNet-50 training at batch 64 from the device-resident
 *               cache (512 images uploaded once), gathered and augmented on
 *               the device (derm_trainer_run_epoch_cached)
 *   analysis    the app's whole analysis of the JPEG, batch 1: decode
 *               (DCT-scaled), classify (ResNet-50), segment (U-Net base 32),
 *               Grad-CAM of the top class, derm_lesion_measure; each part
 *               timed too
 *   classify_rNN_PX_kK  batch-1 classification latency (derm_model_classify)
 *               of a PX px image by ResNet-NN, one network (K = 1) or an
 *               ensemble of K (derm_model_new_ensemble), e.g.
 *               classify_r18_96_k1,classify_r18_96_k5: an ensemble's cost
 *   train_rNN_PX  ResNet-NN (18, 34, 50) training images/s at PX px, batch
 *               --train-batch (32), AdamW, cross-entropy, mixed precision
 *               (on the CPU: the engine's CPU policy), e.g. train_r18_128
 *
 * On the CPU everything runs under the engine's CPU precision policy
 * ($DERMALENS_CPU_PRECISION, else the CPU decides); --policy prints it.
 * Every result is one line "RESULT name value unit" on stdout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "derm-bench-analysis.h"
#include "derm-engine.h"

static char *device = NULL;
static char *what = NULL;
static int runs = 100, steps = 20, warmup = 5, threads = 0, unet_base = 64, train_size = 224,
           unet_size = 256, unet_batch = 32, train_batch = 32;
static char *train_batches = NULL;
static char *jpeg_path = NULL;
static char *check_dir = NULL;
static char *weights_dir = NULL;
static gboolean show_policy = FALSE;

static void
die (GError *error)
{
  bench_die ("derm-bench-engine", error);
}

/* Times batch-1 derm_model_classify of a random @size px image with @m
 * (median of --runs after warm-up) and prints it as RESULT @name. */
static void
time_classify (DermModel *m, int size, const char *name)
{
  GError *error = NULL;
  DermImage *img = derm_image_new (size, size, 3, &error);
  if (img == NULL)
    die (error);
  GRand *rand = g_rand_new_with_seed (1);
  for (gsize i = 0; i < (gsize) size * size * 3; i++)
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
  qsort (t, runs, sizeof (double), bench_compare_double);
  printf ("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s)\n", name, t[runs / 2], runs,
          t[runs / 10], t[runs * 9 / 10], derm_model_get_device (m));
  fflush (stdout);
  g_free (t);
  g_rand_free (rand);
  derm_image_free (img);
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
  time_classify (m, 224, bf16 ? "infer_bf16_ms" : "infer_fp32_ms");
  derm_model_free (m);
}

/* Batch-1 classification latency of ResNet-@depth at @size px, one network
 * or an ensemble of @k members (fresh weights, each its own seed). */
static void
bench_classify (DermArch arch, int size, int k, const char *name)
{
  GError *error = NULL;
  DermModelConfig cfg = { arch, 7, 0, size };
  DermModel *members[32];
  for (int i = 0; i < k; i++)
    {
      derm_engine_manual_seed (1 + i);
      members[i] = derm_model_new (&cfg, "cpu", &error);
      if (members[i] == NULL)
        die (error);
    }
  DermModel *m = k == 1 ? members[0] : derm_model_new_ensemble (members, k, device, &error);
  if (m == NULL)
    die (error);
  if (k == 1 && device != NULL && !derm_model_to_device (m, device, &error))
    die (error);
  time_classify (m, size, name);
  if (m != members[0])
    derm_model_free (m);
  for (int i = 0; i < k; i++)
    derm_model_free (members[i]);
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

/* The bytes of --jpeg, else a generated 600 x 450 one. Returns: (transfer full). */
static GBytes *
jpeg_bytes (void)
{
  return bench_jpeg_bytes (jpeg_path);
}

/* The models of one analysis with the app's defaults (fresh, or those of
 * --weights), with their parameter counts on stdout. */
static DermModel *
analysis_model (DermArch arch)
{
  return bench_analysis_model (arch, device, weights_dir, TRUE);
}

/* Batch-1 classification + segmentation, from a decoded image (clsseg) or
 * from JPEG bytes (e2e): what one analysis costs before the lesion
 * measurements. */
static void
bench_analysis (gboolean from_jpeg)
{
  GError *error = NULL;
  DermModel *cls = analysis_model (DERM_ARCH_RESNET50);
  DermModel *seg = analysis_model (DERM_ARCH_UNET);
  GBytes *bytes = jpeg_bytes ();
  gsize len = g_bytes_get_size (bytes);
  DermImage *decoded = bench_decode_jpeg (bytes);
  float probs[7];
  double *t = g_new (double, runs);
  for (int i = -warmup * 2; i < runs; i++)
    {
      gint64 s = g_get_monotonic_time ();
      DermImage *img = from_jpeg ? bench_decode_jpeg (bytes) : decoded;
      if (!derm_model_classify (cls, img, FALSE, probs, &error))
        die (error);
      DermImage *mask = derm_model_segment (seg, img, FALSE, &error);
      if (mask == NULL)
        die (error);
      derm_image_free (mask);
      if (from_jpeg)
        derm_image_free (img);
      if (i >= 0)
        t[i] = (g_get_monotonic_time () - s) / 1000.0;
    }
  double p10, p90, med = bench_median (t, runs, &p10, &p90);
  printf ("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; %" G_GSIZE_FORMAT " byte JPEG, "
          "decoded %d x %d)\n", from_jpeg ? "e2e_jpeg_ms" : "cls_seg_ms", med, runs, p10, p90,
          derm_model_get_device (cls), len, decoded->width, decoded->height);
  fflush (stdout);
  g_free (t);
  derm_image_free (decoded);
  g_bytes_unref (bytes);
  derm_model_free (seg);
  derm_model_free (cls);
  derm_engine_empty_cache ();
}

/* Batch-1 segmentation alone, of the decoded --jpeg image. */
static void
bench_seg (void)
{
  GError *error = NULL;
  DermModel *seg = analysis_model (DERM_ARCH_UNET);
  GBytes *bytes = jpeg_bytes ();
  DermImage *img = bench_decode_jpeg (bytes);
  double *t = g_new (double, runs);
  int mw = 0, mh = 0;
  for (int i = -warmup * 2; i < runs; i++)
    {
      gint64 s = g_get_monotonic_time ();
      DermImage *mask = derm_model_segment (seg, img, FALSE, &error);
      if (mask == NULL)
        die (error);
      mw = mask->width;
      mh = mask->height;
      derm_image_free (mask);
      if (i >= 0)
        t[i] = (g_get_monotonic_time () - s) / 1000.0;
    }
  double p10, p90, med = bench_median (t, runs, &p10, &p90);
  printf ("RESULT seg_fp32_ms %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; image %d x %d, mask %d x %d)\n",
          med, runs, p10, p90, derm_model_get_device (seg), img->width, img->height, mw, mh);
  fflush (stdout);
  g_free (t);
  derm_image_free (img);
  g_bytes_unref (bytes);
  derm_model_free (seg);
  derm_engine_empty_cache ();
}

/* --check DIR: one classify + segment of the decoded --jpeg image, with
 * everything the Python side needs to repeat it and compare. */
static void
write_check (void)
{
  GError *error = NULL;
  if (g_mkdir_with_parents (check_dir, 0755) != 0)
    {
      g_printerr ("derm-bench-engine: cannot create %s\n", check_dir);
      exit (1);
    }
  DermModel *cls = bench_analysis_model (DERM_ARCH_RESNET50, device, NULL, TRUE);
  DermModel *seg = bench_analysis_model (DERM_ARCH_UNET, device, NULL, TRUE);
  GBytes *bytes = jpeg_bytes ();
  DermImage *img = bench_decode_jpeg (bytes);
  /* A fresh U-Net's mask is almost flat (about 137 everywhere), which would
   * make a weak comparison: a few steps on this image, with its darker half
   * as the lesion, give it a mask with both sides of 128. */
  DermImage *train_img = derm_image_resize (img, 256, 256, &error);
  if (train_img == NULL)
    die (error);
  guint8 *train_mask = g_malloc (256 * 256);
  double mean = 0;
  for (gsize i = 0; i < 256 * 256; i++)
    mean += train_img->data[3 * i] + train_img->data[3 * i + 1] + train_img->data[3 * i + 2];
  mean /= 256 * 256;
  for (gsize i = 0; i < 256 * 256; i++)
    train_mask[i] = train_img->data[3 * i] + train_img->data[3 * i + 1] + train_img->data[3 * i + 2] < mean
                      ? 255 : 0;
  DermTrainConfig tc = { 0 };
  tc.optimizer = DERM_OPTIMIZER_ADAMW;
  tc.loss = DERM_LOSS_BCE_DICE;
  tc.lr = 1e-3;
  tc.total_steps = 1000;
  DermTrainer *tr = derm_trainer_new (seg, &tc, &error);
  if (tr == NULL)
    die (error);
  gint32 label = 0;
  Feed f = { train_img->data, train_mask, &label, 1, 256, 15 };
  double loss;
  if (!derm_trainer_run_epoch (tr, 0, 15, feed_next, &f, NULL, NULL, NULL, &loss, &error))
    die (error);
  derm_trainer_free (tr);
  g_free (train_mask);
  derm_image_free (train_img);
  float probs[7];
  if (!derm_model_classify (cls, img, FALSE, probs, &error))
    die (error);
  DermImage *mask = derm_model_segment (seg, img, FALSE, &error);
  if (mask == NULL)
    die (error);
  /* The models alone: the same image already at each model's input size
   * (no resize inside the engine), so that the Python side can feed the
   * identical pixels. */
  DermImage *img224 = derm_image_resize (img, 224, 224, &error);
  DermImage *img256 = img224 ? derm_image_resize (img, 256, 256, &error) : NULL;
  if (img256 == NULL)
    die (error);
  float probs224[7];
  if (!derm_model_classify (cls, img224, FALSE, probs224, &error))
    die (error);
  DermImage *mask256 = derm_model_segment (seg, img256, FALSE, &error);
  if (mask256 == NULL)
    die (error);
  g_autofree char *img224_path = g_build_filename (check_dir, "input224.png", NULL);
  g_autofree char *img256_path = g_build_filename (check_dir, "input256.png", NULL);
  g_autofree char *mask256_path = g_build_filename (check_dir, "mask256.png", NULL);
  g_autofree char *probs224_path = g_build_filename (check_dir, "probs224.txt", NULL);
  GString *text224 = g_string_new (NULL);
  for (int i = 0; i < 7; i++)
    g_string_append_printf (text224, "%.9g\n", probs224[i]);
  if (!derm_image_save_png (img224, img224_path, &error) || !derm_image_save_png (img256, img256_path, &error)
      || !derm_image_save_png (mask256, mask256_path, &error)
      || !g_file_set_contents (probs224_path, text224->str, text224->len, &error))
    die (error);
  g_string_free (text224, TRUE);
  derm_image_free (mask256);
  derm_image_free (img256);
  derm_image_free (img224);
  g_autofree char *cls_path = g_build_filename (check_dir, "resnet50.safetensors", NULL);
  g_autofree char *seg_path = g_build_filename (check_dir, "unet.safetensors", NULL);
  g_autofree char *img_path = g_build_filename (check_dir, "decoded.png", NULL);
  g_autofree char *mask_path = g_build_filename (check_dir, "mask.png", NULL);
  g_autofree char *probs_path = g_build_filename (check_dir, "probs.txt", NULL);
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 7; i++)
    g_string_append_printf (text, "%.9g\n", probs[i]);
  if (!derm_model_save (cls, cls_path, &error) || !derm_model_save (seg, seg_path, &error)
      || !derm_image_save_png (img, img_path, &error) || !derm_image_save_png (mask, mask_path, &error)
      || !g_file_set_contents (probs_path, text->str, text->len, &error))
    die (error);
  printf ("CHECK image %d x %d, mask %d x %d, probabilities %d, written to %s\n", img->width, img->height,
          mask->width, mask->height, 7, check_dir);
  g_string_free (text, TRUE);
  derm_image_free (mask);
  derm_image_free (img);
  g_bytes_unref (bytes);
  derm_model_free (seg);
  derm_model_free (cls);
}

/* Training from the device-resident cache with augmentation on the device:
 * what an epoch of `dermalens-cli train --gpu-augment on` costs per image. */
static void
bench_train_cached (int batch, int size, const char *name)
{
  GError *error = NULL;
  DermModelConfig cfg = { DERM_ARCH_RESNET50, 7, 0, size };
  DermModel *m = derm_model_new (&cfg, device, &error);
  if (m == NULL)
    die (error);
  DermTrainConfig tc = { 0 };
  tc.optimizer = DERM_OPTIMIZER_ADAMW;
  tc.loss = DERM_LOSS_CROSS_ENTROPY;
  tc.lr = 1e-4;
  tc.weight_decay = 1e-4;
  tc.total_steps = 1000;
  tc.grad_clip = 5.0;
  tc.mixed_precision = TRUE;
  DermTrainer *tr = derm_trainer_new (m, &tc, &error);
  if (tr == NULL)
    die (error);
  const guint n = 512;
  gsize px = (gsize) n * size * size;
  guint8 *images = g_malloc (px * 3);
  gint32 *labels = g_new (gint32, n);
  GRand *rand = g_rand_new_with_seed (2);
  for (gsize i = 0; i < px * 3; i++)
    images[i] = (guint8) g_rand_int_range (rand, 0, 256);
  for (guint i = 0; i < n; i++)
    labels[i] = i % 7;
  DermDeviceCache *cache = derm_device_cache_new (m, images, labels, NULL, n, size, &error);
  if (cache == NULL)
    die (error);
  guint *order = g_new (guint, MAX (steps, warmup) * batch);
  for (int i = 0; i < MAX (steps, warmup) * batch; i++)
    order[i] = g_rand_int_range (rand, 0, n);
  DermAugmentConfig aug;
  derm_augment_config_default (&aug);
  double loss;
  if (!derm_trainer_run_epoch_cached (tr, 0, cache, order, warmup * batch, batch, TRUE, 1, &aug, NULL,
                                      NULL, NULL, &loss, &error))
    die (error);
  gint64 s = g_get_monotonic_time ();
  if (!derm_trainer_run_epoch_cached (tr, 1, cache, order, steps * batch, batch, TRUE, 1, &aug, NULL,
                                      NULL, NULL, &loss, &error))
    die (error);
  double secs = (g_get_monotonic_time () - s) / 1e6;
  printf ("RESULT %s %.1f img/s (%d steps of %d at %d px, cache of %u on %s, augmented there; loss %.3f)\n",
          name, (double) steps * batch / secs, steps, batch, size, n, derm_model_get_device (m), loss);
  fflush (stdout);
  g_free (order);
  g_rand_free (rand);
  g_free (images);
  g_free (labels);
  derm_device_cache_free (cache);
  derm_trainer_free (tr);
  derm_model_free (m);
  derm_engine_empty_cache ();
}

/* The app's whole analysis of the JPEG (derm-worker.c's run_analysis, from
 * the file's bytes): the total and each part, medians of --runs. */
static void
bench_whole_analysis (void)
{
  DermModel *cls = analysis_model (DERM_ARCH_RESNET50);
  DermModel *seg = analysis_model (DERM_ARCH_UNET);
  GBytes *bytes = jpeg_bytes ();
  double *t = g_new (double, runs), *parts[5];
  for (int k = 0; k < 5; k++)
    parts[k] = g_new (double, runs);
  BenchAnalysis r = { 0 };
  for (int i = -warmup * 2; i < runs; i++)
    {
      bench_run_analysis (cls, seg, bytes, &r);
      if (i < 0)
        continue;
      t[i] = r.total_ms;
      parts[0][i] = r.decode_ms;
      parts[1][i] = r.classify_ms;
      parts[2][i] = r.segment_ms;
      parts[3][i] = r.gradcam_ms;
      parts[4][i] = r.measure_ms;
    }
  double p10, p90, med = bench_median (t, runs, &p10, &p90), pm[5];
  for (int k = 0; k < 5; k++)
    {
      double a, b;
      pm[k] = bench_median (parts[k], runs, &a, &b);
      g_free (parts[k]);
    }
  g_autofree char *lesion = r.measured
    ? g_strdup_printf ("lesion %" G_GINT64_FORMAT " px, perimeter %.0f, diameter %.0f, asymmetry %.2f/%.2f, "
                       "%d colours", r.lesion.area_px, r.lesion.perimeter_px, r.lesion.diameter_px,
                       r.lesion.asymmetry[0], r.lesion.asymmetry[1], r.lesion.n_colors)
    : g_strdup ("no lesion in the mask");
  printf ("RESULT analysis_ms %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; %" G_GSIZE_FORMAT " byte JPEG, "
          "%d x %d; parts decode %.1f classify %.1f segment %.1f gradcam %.1f measure %.1f; top class %d, "
          "heat map %d x %d, %s)\n", med, runs, p10, p90, derm_model_get_device (cls), g_bytes_get_size (bytes),
          r.width, r.height, pm[0], pm[1], pm[2], pm[3], pm[4], r.top_class, r.width, r.height, lesion);
  fflush (stdout);
  g_free (t);
  g_bytes_unref (bytes);
  derm_model_free (seg);
  derm_model_free (cls);
  derm_engine_empty_cache ();
}

/* "POLICY precision=bf16 channels_last=yes cpu_has_bf16=yes forced=no
 * units=AMX-BF16 reason=..." */
static void
print_policy (void)
{
  const DermCpuPolicy *p = derm_engine_cpu_policy ();
  printf ("POLICY precision=%s channels_last=%s cpu_has_bf16=%s forced=%s units=%s reason=%s\n",
          derm_cpu_precision_name (p->precision), p->channels_last ? "yes" : "no",
          p->cpu_has_bf16 ? "yes" : "no", p->forced ? "yes" : "no", p->units ? p->units : "none",
          p->reason ? p->reason : "");
  fflush (stdout);
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
    { "what", 0, 0, G_OPTION_ARG_STRING, &what,
      "infer,infer-bf16,seg,clsseg,e2e,analysis,train64,train64-dev,train256,unet,train_rNN_PX", "LIST" },
    { "jpeg", 0, 0, G_OPTION_ARG_FILENAME, &jpeg_path, "JPEG for seg, clsseg, e2e (default: a generated 600 x 450)",
      "FILE" },
    { "check", 0, 0, G_OPTION_ARG_FILENAME, &check_dir,
      "write weights, decoded image, probabilities and mask for bench-torch.py --check, then exit", "DIR" },
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights_dir,
      "seg, clsseg, e2e, analysis: the weights a --check wrote to DIR (default: fresh)", "DIR" },
    { "policy", 0, 0, G_OPTION_ARG_NONE, &show_policy, "print the engine's CPU precision policy and exit", NULL },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "inference runs (median)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "timed training steps", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "untimed warm-up steps/runs", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "CPU threads (0: the cores present)", "N" },
    { "unet-base", 0, 0, G_OPTION_ARG_INT, &unet_base, "U-Net base width (64: 31 M parameters)", "N" },
    { "train-size", 0, 0, G_OPTION_ARG_INT, &train_size, "ResNet training image size", "PX" },
    { "train-batches", 0, 0, G_OPTION_ARG_STRING, &train_batches, "override: batch sizes for train64,train256", "A,B" },
    { "unet-size", 0, 0, G_OPTION_ARG_INT, &unet_size, "U-Net training image size", "PX" },
    { "unet-batch", 0, 0, G_OPTION_ARG_INT, &unet_batch, "U-Net batch size", "N" },
    { "train-batch", 0, 0, G_OPTION_ARG_INT, &train_batch, "batch of the train_rNN_PX rows", "N" },
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
    what = g_strdup ("infer,infer-bf16,seg,clsseg,e2e,train64,train64-dev,train256,unet");
  if (runs < 1 || steps < 1 || warmup < 0)
    return 2;
  int b1 = 64, b2 = 256;
  if (train_batches != NULL && sscanf (train_batches, "%d,%d", &b1, &b2) != 2)
    return 2;
  derm_engine_set_threads (threads);
  if (show_policy)
    {
      print_policy ();
      return 0;
    }
  const DermCpuPolicy *policy = derm_engine_cpu_policy ();
  printf ("# libtorch %s, %d CPU threads, device %s, CPU policy %s%s\n", derm_engine_torch_version (),
          derm_engine_get_threads (), device ? device : "auto", derm_cpu_precision_name (policy->precision),
          policy->channels_last ? " channels_last" : "");
  gboolean cuda = derm_engine_cuda_available () && (device == NULL || !g_str_equal (device, "cpu"));
  if (check_dir != NULL)
    {
      write_check ();
      return 0;
    }
  if (wants ("infer"))
    bench_infer (FALSE);
  if (wants ("infer-bf16") && cuda)
    bench_infer (TRUE);
  if (wants ("seg"))
    bench_seg ();
  if (wants ("clsseg"))
    bench_analysis (FALSE);
  if (wants ("e2e"))
    bench_analysis (TRUE);
  if (wants ("train64"))
    bench_train (DERM_ARCH_RESNET50, b1, train_size, "train_r50_b64_ips");
  if (wants ("train64-dev"))
    bench_train_cached (b1, train_size, "train_r50_b64_devaug_ips");
  if (wants ("train256"))
    bench_train (DERM_ARCH_RESNET50, b2, train_size, "train_r50_b256_ips");
  if (wants ("analysis"))
    bench_whole_analysis ();
  if (wants ("unet"))
    bench_train (DERM_ARCH_UNET, unet_batch, unet_size, "train_unet_b32_ips");
  g_auto(GStrv) parts = g_strsplit (what, ",", -1);
  for (int i = 0; parts[i] != NULL; i++)
    {
      int depth, size, k;
      char tail;
      DermArch arch;
      if (sscanf (parts[i], "classify_r%d_%d_k%d%c", &depth, &size, &k, &tail) == 3 && size >= 32
          && k >= 1 && k <= 32)
        {
          g_autofree char *arch_name = g_strdup_printf ("resnet%d", depth);
          g_autofree char *name = g_strdup_printf ("%s_ms", parts[i]);
          if (derm_arch_from_name (arch_name, &arch))
            bench_classify (arch, size, k, name);
          continue;
        }
      if (sscanf (parts[i], "train_r%d_%d%c", &depth, &size, &tail) != 2 || size < 32)
        continue;
      g_autofree char *arch_name = g_strdup_printf ("resnet%d", depth);
      if (!derm_arch_from_name (arch_name, &arch))
        continue;
      g_autofree char *name = g_strdup_printf ("%s_ips", parts[i]);
      bench_train (arch, train_batch, size, name);
    }
  return 0;
}
