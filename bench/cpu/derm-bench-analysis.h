/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-bench-analysis.h: what derm-bench-engine and derm-bench-contention
 * share: the benchmark's JPEG, the app's decoding of it, the analysis
 * models, and one whole analysis as the app runs it (src/app/derm-worker.c,
 * run_analysis). */
#pragma once

#include <glib.h>

#include "derm-engine.h"
#include "derm-lesion.h"

G_BEGIN_DECLS

/* The milliseconds of each part of one analysis, and what it found. */
typedef struct {
  double decode_ms;   /* JPEG bytes -> RGB image, DCT-scaled as the app does */
  double classify_ms; /* ResNet-50 probabilities */
  double segment_ms;  /* U-Net mask at the image's size */
  double gradcam_ms;  /* heat map of the top class */
  double measure_ms;  /* derm_lesion_measure on the image and mask */
  double total_ms;
  int top_class;
  int width, height;  /* of the decoded image */
  gboolean measured;  /* FALSE: the mask held no lesion */
  DermLesionMeasurements lesion;
} BenchAnalysis;

void        bench_die (const char *program, GError *error) G_GNUC_NORETURN;
int         bench_compare_double (const void *a, const void *b);
/* Sorts @t and returns its median, with the 10th and 90th percentiles. */
double      bench_median (double *t, int n, double *p10, double *p90);

/* The bytes of @path, or of a generated dermoscopy-like 600 x 450 JPEG (a
 * dark, noisy disc on skin) when @path is NULL. Returns: (transfer full). */
GBytes     *bench_jpeg_bytes (const char *path);
/* Decodes @bytes as the app's loader does for an analysis (DCT-scaled to
 * at least 256 x 256). Returns: (transfer full). */
DermImage  *bench_decode_jpeg (GBytes *bytes);
/* An analysis model with the app's defaults: ResNet-50 (7 classes, 224 px)
 * or U-Net (base 32, 256 px); fresh weights, or those of
 * @weights_dir/resnet50.safetensors or unet.safetensors (what
 * `derm-bench-engine --check` writes) when @weights_dir is not NULL. With
 * @verbose, a "# ..." line with its parameter count. Returns: (transfer full). */
DermModel  *bench_analysis_model (DermArch arch, const char *device, const char *weights_dir,
                                  gboolean verbose);
/* One whole analysis of the JPEG @bytes: decode, classify, segment,
 * Grad-CAM of the top class, lesion measurements; dies on an engine error. */
void        bench_run_analysis (DermModel *classifier, DermModel *segmenter, GBytes *bytes,
                                BenchAnalysis *out);

G_END_DECLS
