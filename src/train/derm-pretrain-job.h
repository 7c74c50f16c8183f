/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-pretrain-job.h: self-supervised pretraining (SimSiam, the engine's
 * DermPretrainer) of a classifier's backbone on the training split of a
 * HAM10000 folder, never its validation or test images, plus any unlabelled
 * images given (the case database's). The result is a classifier file with
 * a fresh head: a start for `train --init` and the training view's "Start
 * from". Events, cancel, checkpoint (OUT.ckpt) and resume as the training
 * job (derm-train-job.h). */
#pragma once

#include <glib.h>

#include "derm-engine.h"
#include "derm-train-job.h"

G_BEGIN_DECLS

typedef struct {
  DermArch arch;              /* a ResNet */
  const char *data_dir;       /* HAM10000 folder */
  const char *out_path;       /* START.safetensors; the checkpoint is OUT.ckpt */
  int epochs;
  int batch;                  /* images per batch (two views each) */
  int image_size;             /* 0: 224 */
  double lr;                  /* 0: 0.05 x batch / 256 (SimSiam's rule) */
  double weight_decay;
  int dim;                    /* projection width; 0: the features' */
  const char *device;         /* NULL: "auto" */
  /* The split whose training images are used: the seed and fractions the
   * classifier will be trained with (its validation and test images are
   * never seen). */
  guint64 seed;
  double val_fraction;
  double test_fraction;
  guint limit;                /* 0: every lesion (as train --limit) */
  const char *const *extra_images; /* NULL-terminated paths of unlabelled images, or NULL */
  const char *extra_source;   /* what they are, for the record ("the case database") */
  const char *resume;         /* NULL or OUT.ckpt */
  double checkpoint_every;    /* seconds; 0: every epoch */
  int workers;
} DermPretrainJobConfig;

/* ResNet-50, 100 epochs, batch 64, 224 px, weight decay 1e-4, split seed 1
 * with fractions 0.15 / 0.15, a checkpoint at most every 60 s. */
void     derm_pretrain_job_config_init (DermPretrainJobConfig *config);

/* Runs the job: DATASET, CACHE, STEP, EPOCH (val_metric: the projections'
 * spread, "projection_spread"), CHECKPOINT, MESSAGE and DONE events.
 * Returns TRUE when the start file is written. */
gboolean derm_pretrain_job_run (const DermPretrainJobConfig *config, DermTrainEventFunc on_event,
                                gpointer user_data, const volatile gint *cancel, GError **error);

G_END_DECLS
