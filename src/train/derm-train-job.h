/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-job.h: one whole training job, reusable by the CLI and the
 * GUI's training panel: dataset, lesion-grouped split, uint8 cache, threaded
 * loader, epochs with validation, best model, early stopping, resumable
 * checkpoint, temperature fit, decision rule (class offsets and the
 * malignant-risk operating point, fitted on validation: the "decision"
 * metadata, derm-decision.h), test evaluation and model metadata.
 *
 * Run it on one thread (it creates, uses and frees its models there); report
 * progress through the event callback (called on that thread, except the
 * CACHE events, which come from the decoding threads one at a time); stop it by
 * setting *cancel to nonzero from any thread: it then writes a checkpoint
 * (OUT.ckpt) that --resume continues, and fails with G_IO_ERROR_CANCELLED. */
#pragma once

#include <glib.h>

#include "derm-engine.h"

G_BEGIN_DECLS

typedef enum {
  DERM_BALANCE_NONE,
  DERM_BALANCE_LOSS,      /* cross-entropy weighted by 1 / sqrt(class frequency) */
  DERM_BALANCE_SAMPLING,  /* each class drawn equally often */
  DERM_BALANCE_LOGIT_ADJUST, /* natural frequencies; the loss adds log(prior) to the logits
                                (Menon et al. 2021), so the arg-max balances the classes */
} DermBalance;

/* Where training batches are augmented. ON: the uint8 cache is uploaded
 * once to the model's device and batches are gathered and augmented there
 * (also on "cpu", for tests); OFF: the threaded CPU loader; AUTO: ON for
 * CUDA, OFF for CPU. ON and AUTO fall back to the CPU loader, with a message,
 * when the cache does not fit in the device's free memory. */
typedef enum {
  DERM_GPU_AUGMENT_AUTO,
  DERM_GPU_AUGMENT_ON,
  DERM_GPU_AUGMENT_OFF,
} DermGpuAugment;

/* "auto", "on", "off". Borrowed, static. */
const char *derm_gpu_augment_name (DermGpuAugment mode);
gboolean    derm_gpu_augment_from_name (const char *name, DermGpuAugment *mode);

/* "none", "loss", "sampling", "logit-adjust". Borrowed, static. */
const char *derm_balance_name (DermBalance balance);
gboolean    derm_balance_from_name (const char *name, DermBalance *balance);

/* "all", "last", "head" (DermFinetune is the engine's). Borrowed, static. */
const char *derm_finetune_name (DermFinetune finetune);
gboolean    derm_finetune_from_name (const char *name, DermFinetune *finetune);

/* The recipe options' strengths where they are on: what the training view's
 * switches and bench/model/ablation.sh use. */
#define DERM_TRAIN_MIXUP_ALPHA 0.2
#define DERM_TRAIN_CUTMIX_ALPHA 1.0
#define DERM_TRAIN_EMA_DECAY 0.995

typedef struct {
  DermTask task;
  DermArch arch;
  const char *data_dir;       /* HAM10000 folder */
  const char *out_path;       /* MODEL.safetensors; the checkpoint is OUT.ckpt */
  int epochs;
  int batch;
  int image_size;             /* 0: the architecture's default (224 / 256) */
  double lr;                  /* 0: 1e-3 (AdamW) */
  double weight_decay;
  const char *device;         /* NULL: "auto" */
  guint64 seed;
  guint limit;                /* 0: every lesion; else about this many, stratified */
  double val_fraction;
  double test_fraction;
  const char *init_weights;   /* NULL or a safetensors file (ImageNet export) */
  DermFinetune finetune;
  const char *resume;         /* NULL or a checkpoint */
  DermBalance balance;
  gboolean shades_of_gray;
  int patience;               /* epochs without improvement before stopping; 0 = never */
  int workers;                /* loader / decoding threads; 0: the cores present */
  gboolean lenient;           /* go on without the dataset's bad rows */
  gboolean tta;               /* test-time augmentation for the final test metrics */
  /* The resumable checkpoint (OUT.ckpt) is written after the first epoch,
   * then after an epoch once this many seconds passed since the last one,
   * and on cancel; 0 = after every epoch. Default 60. */
  double checkpoint_every;
  DermGpuAugment gpu_augment; /* augmentation on the model's device (see below) */
  /* Classification recipe (0: off; see DermTrainConfig): */
  double mixup;               /* mixup's Beta alpha, e.g. 0.2 */
  double cutmix;              /* cutmix's Beta alpha, e.g. 1.0 */
  /* The weights' moving average, decay per step (e.g. 0.998): validated
   * beside the raw weights each epoch and saved in their place when its
   * validation metric is at least as good. */
  double ema;
  /* 0 or 1: one network. K >= 2: an ensemble of K members, member k trained
   * on the training split less its k-th lesion-grouped fold and validated,
   * early-stopped and calibrated on that fold; the members are assembled
   * into one model file (derm_model_new_ensemble), whose temperature and
   * decision rule are fitted on the validation split as a single network's.
   * The test split is never seen. Members live in OUT.member<k> until the
   * job ends; a cancelled job resumes (with the same --folds) from OUT.ckpt,
   * keeping the members already finished. Started from an ensemble's file
   * (init_weights), member k starts from its member k modulo their count,
   * and a single network from its first member. */
  int folds;
  /* Classification: the patient context fields (DermPatientField bits:
   * age, sex, body site from the metadata CSV) the model takes besides the
   * image; 0: the image alone. Each field is dropped at random in training
   * (DERM_TRAIN_CONTEXT_DROPOUT), so the model works with any subset. */
  unsigned context;
  /* The seed of the split (and of --limit's choice); 0: @seed. With it
   * fixed, seeds vary the initial weights, order and augmentation over one
   * split (what comparing a pretrained start with scratch needs: the start
   * saw that split's training images only). */
  guint64 split_seed;
  /* 0 or >= 1: every training lesion; else about this share of them, class
   * by class (at least one per class), chosen with the split seed: for
   * measuring with 10 % or 25 % of the labels. Validation and test stay whole. */
  double train_fraction;
} DermTrainJobConfig;

/* Context dropout while training a model with patient context. */
#define DERM_TRAIN_CONTEXT_DROPOUT 0.3

/* The most members an ensemble may have. */
#define DERM_TRAIN_MAX_FOLDS 16

/* Fills @config with the defaults (classification, ResNet-50, 30 epochs,
 * batch 32, fractions 0.15 / 0.15, seed 1, balanced sampling, patience 8,
 * a checkpoint at most every 60 s, --gpu-augment auto). */
void derm_train_job_config_init (DermTrainJobConfig *config);

typedef enum {
  DERM_TRAIN_EVENT_MESSAGE,   /* message */
  DERM_TRAIN_EVENT_DATASET,   /* n_train, n_val, n_test; message: the report summary */
  DERM_TRAIN_EVENT_CACHE,     /* done / total images decoded */
  DERM_TRAIN_EVENT_STEP,      /* epoch, step, steps, loss, images_per_second, lr, eta_seconds */
  DERM_TRAIN_EVENT_EPOCH,     /* epoch, loss, val_metric (NAN without validation), is_best;
                                 json: the classifier's validation metrics (per_class ...) */
  DERM_TRAIN_EVENT_EARLY_STOP,/* epoch */
  DERM_TRAIN_EVENT_CHECKPOINT,/* message: the checkpoint's path */
  DERM_TRAIN_EVENT_CALIBRATED,/* temperature */
  DERM_TRAIN_EVENT_EVALUATING,/* done / total test images */
  DERM_TRAIN_EVENT_TEST,      /* json: the test metrics */
  DERM_TRAIN_EVENT_DONE,      /* message: the model's path; elapsed_seconds */
} DermTrainEventType;

typedef struct {
  DermTrainEventType type;
  int epoch;                  /* 0-based */
  int epochs;
  int step;                   /* 1-based within the epoch */
  int steps;
  gint64 global_step;
  double loss;
  double images_per_second;
  double lr;
  double eta_seconds;         /* of the whole job's training, NAN if unknown */
  double elapsed_seconds;
  double val_metric;
  const char *val_metric_name;/* "balanced_accuracy" or "dice"; borrowed */
  gboolean is_best;
  guint done, total;
  guint n_train, n_val, n_test;
  double temperature;
  const char *message;        /* borrowed, may be NULL */
  const char *json;           /* borrowed, may be NULL */
  int member;                 /* the ensemble member in training (0-based), or -1 */
  int members;                /* 1, or the ensemble's member count */
} DermTrainEvent;

typedef void (*DermTrainEventFunc) (const DermTrainEvent *event, gpointer user_data);

/* "message", "dataset", ... Borrowed, static. */
const char *derm_train_event_type_name (DermTrainEventType type);
/* One line of JSON (no newline) with the event's meaningful fields.
 * Returns: (transfer full). */
char       *derm_train_event_to_json (const DermTrainEvent *event);

/* Runs the job. Returns TRUE when the model file is written. */
gboolean derm_train_job_run (const DermTrainJobConfig *config, DermTrainEventFunc on_event,
                             gpointer user_data, const volatile gint *cancel, GError **error);

G_END_DECLS
