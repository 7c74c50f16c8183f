/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bench-analysis.c: the analysis both CPU benchmarks time. */
#include "config.h"

#define G_LOG_DOMAIN "derm-bench"

#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>
#include <unistd.h>

#include "derm-bench-analysis.h"

void
bench_die (const char *program, GError *error)
{
  g_printerr ("%s: %s\n", program, error->message);
  exit (1);
}

int
bench_compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

double
bench_median (double *t, int n, double *p10, double *p90)
{
  qsort (t, n, sizeof (double), bench_compare_double);
  *p10 = t[n / 10];
  *p90 = t[n * 9 / 10];
  return t[n / 2];
}

GBytes *
bench_jpeg_bytes (const char *path)
{
  GError *error = NULL;
  char *data = NULL;
  gsize len = 0;
  if (path != NULL)
    {
      if (!g_file_get_contents (path, &data, &len, &error))
        bench_die ("bench", error);
      return g_bytes_new_take (data, len);
    }
  DermImage *img = derm_image_new (600, 450, 3, &error);
  GRand *rand = g_rand_new_with_seed (3);
  for (int y = 0; y < 450; y++)
    for (int x = 0; x < 600; x++)
      {
        gboolean in = (x - 300) * (x - 300) + (y - 225) * (y - 225) < 150 * 150;
        guint8 *p = img->data + ((gsize) y * 600 + x) * 3;
        p[0] = (guint8) ((in ? 110 : 210) + g_rand_int_range (rand, -15, 16));
        p[1] = (guint8) ((in ? 70 : 160) + g_rand_int_range (rand, -15, 16));
        p[2] = (guint8) ((in ? 50 : 140) + g_rand_int_range (rand, -15, 16));
      }
  char *tmp = NULL;
  int fd = g_file_open_tmp ("derm-bench-XXXXXX.jpg", &tmp, &error);
  if (fd < 0)
    bench_die ("bench", error);
  close (fd);
  if (!derm_image_save_jpeg (img, tmp, 90, &error) || !g_file_get_contents (tmp, &data, &len, &error))
    bench_die ("bench", error);
  g_unlink (tmp);
  g_free (tmp);
  g_rand_free (rand);
  derm_image_free (img);
  return g_bytes_new_take (data, len);
}

DermImage *
bench_decode_jpeg (GBytes *bytes)
{
  GError *error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  DermImage *img = derm_image_load_from_memory (data, len, "bench", 3, 256, 256, &error);
  if (img == NULL)
    bench_die ("bench", error);
  return img;
}

DermModel *
bench_analysis_model (DermArch arch, const char *device, const char *weights_dir, gboolean verbose)
{
  GError *error = NULL;
  DermModel *m;
  if (weights_dir != NULL)
    {
      g_autofree char *path = g_build_filename (weights_dir, arch == DERM_ARCH_UNET ? "unet.safetensors"
                                                : "resnet50.safetensors", NULL);
      m = derm_model_load (path, device, &error);
    }
  else
    {
      DermModelConfig cfg = { arch, arch == DERM_ARCH_UNET ? 1 : 7, 0, 0 };
      m = derm_model_new (&cfg, device, &error);
    }
  if (m == NULL)
    bench_die ("bench", error);
  if (verbose)
    printf ("# %s: %" G_GINT64_FORMAT " parameters, %d px input%s%s\n", derm_arch_name (derm_model_get_arch (m)),
            derm_model_count_parameters (m), derm_model_get_input_size (m),
            derm_model_get_arch (m) == DERM_ARCH_UNET ? ", base width 32" : "",
            weights_dir != NULL ? ", weights of --weights" : "");
  return m;
}

static double
ms_since (gint64 *t)
{
  gint64 now = g_get_monotonic_time ();
  double ms = (now - *t) / 1000.0;
  *t = now;
  return ms;
}

void
bench_run_analysis (DermModel *classifier, DermModel *segmenter, GBytes *bytes, BenchAnalysis *out)
{
  GError *error = NULL;
  float probs[7];
  gint64 start = g_get_monotonic_time (), t = start;
  DermImage *img = bench_decode_jpeg (bytes);
  out->decode_ms = ms_since (&t);
  if (!derm_model_classify (classifier, img, FALSE, probs, &error))
    bench_die ("bench", error);
  out->top_class = 0;
  for (int c = 1; c < derm_model_get_num_classes (classifier) && c < 7; c++)
    if (probs[c] > probs[out->top_class])
      out->top_class = c;
  out->classify_ms = ms_since (&t);
  DermImage *mask = derm_model_segment (segmenter, img, FALSE, &error);
  if (mask == NULL)
    bench_die ("bench", error);
  out->segment_ms = ms_since (&t);
  DermImage *heat = derm_model_gradcam (classifier, img, out->top_class, &error);
  if (heat == NULL)
    bench_die ("bench", error);
  out->gradcam_ms = ms_since (&t);
  out->measured = derm_lesion_measure (img, mask, &out->lesion, NULL);
  out->measure_ms = ms_since (&t);
  out->total_ms = (t - start) / 1000.0;
  out->width = img->width;
  out->height = img->height;
  derm_image_free (heat);
  derm_image_free (mask);
  derm_image_free (img);
}
