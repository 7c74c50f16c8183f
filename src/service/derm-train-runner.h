/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-runner.h: a training job of the training panel, run on its own
 * thread (DESIGN.md, "Threads").
 *
 * The runner prepares the data (a HAM10000 folder, the store's confirmed
 * cases, or both, merged into one folder of links, unreadable images left
 * out and counted), runs derm_train_job_run () for the classifier, the
 * segmenter or both in turn, with its own model copies, and registers each
 * finished model as a new version in the store (inactive: the user decides).
 *
 * Events come back on the main thread (g_idle_add, dropped once the runner
 * is gone) as the "event" signal; "finished" follows the last one. A
 * cancelled or failed job leaves its state in the training folder
 * ($XDG_DATA_HOME/dermalens/training): derm_train_runner_resume () goes on
 * from the last checkpoint, even after a restart. */
#pragma once

#include <glib-object.h>

#include "derm-engine.h"
#include "derm-train-job.h"

G_BEGIN_DECLS

typedef enum {
  DERM_TRAIN_DATA_FOLDER,   /* a HAM10000 folder */
  DERM_TRAIN_DATA_CASES,    /* the store's confirmed cases */
  DERM_TRAIN_DATA_BOTH,
} DermTrainData;

typedef enum {
  DERM_TRAIN_INIT_ACTIVE,   /* the active version of the same kind */
  DERM_TRAIN_INIT_FILE,     /* a safetensors file (ImageNet export) */
  DERM_TRAIN_INIT_SCRATCH,
} DermTrainInit;

/* What the user set up. Strings are owned by the settings. */
typedef struct {
  DermTrainData data;
  char *folder;             /* HAM10000 folder (FOLDER, BOTH) */
  gboolean classify;        /* train the classifier */
  gboolean segment;         /* train the segmenter (after the classifier when both) */
  DermArch arch;            /* the classifier's ResNet; the segmenter is a U-Net */
  DermTrainInit init;
  char *init_file;          /* INIT_FILE: weights for the classifier */
  DermFinetune finetune;
  int epochs;
  int seg_epochs;           /* the segmenter's when both train (0: @epochs) */
  int batch;
  int image_size;           /* 0: the architecture's default */
  double lr;
  char *device;             /* "auto", "cpu", "cuda" ... */
  guint limit;              /* 0: every lesion */
  int patience;
  DermBalance balance;       /* classifier: sampling or logit-adjust */
  double mixup, cutmix, ema; /* classifier recipe, 0: off (DermTrainJobConfig) */
  int folds;                /* classifier: 0 or 1 one network, K an ensemble of K */
  unsigned context;         /* classifier: patient context fields (DermPatientField), 0: none */
  guint64 seed;
} DermTrainSettings;

/* Fills @settings with the pipeline's defaults (derm_train_job_config_init):
 * HAM10000 folder, classifier, ResNet-50 from the active model, all layers,
 * 30 epochs, batch 32, 224 px, lr 1e-3, device "auto". */
void               derm_train_settings_init (DermTrainSettings *settings);
void               derm_train_settings_clear (DermTrainSettings *settings);
/* derm_train_settings_init (), then, on a machine without a CUDA device and
 * with no active classifier yet (a new user), the first models a CPU trains
 * in minutes, as measured in docs/model-quality.md: a ResNet-18 at 96 px for
 * 4 epochs (about 8 minutes on 2 cores), then the U-Net at 96 px for one
 * epoch (18 minutes on 2 EPYC cores, test Dice 0.89). Returns TRUE when it
 * chose that. */
gboolean           derm_train_settings_init_for_machine (DermTrainSettings *settings);
/* Returns: (transfer full) a JSON object of @settings. */
char              *derm_train_settings_to_json (const DermTrainSettings *settings);
/* Reads what derm_train_settings_to_json () wrote into @settings (cleared first). */
gboolean           derm_train_settings_from_json (DermTrainSettings *settings, const char *json,
                                                  GError **error);

/* The runner's own events, besides the job's (DermTrainEventType). */
#define DERM_TRAIN_RUNNER_EVENT_PREPARE    100  /* done / total images checked */
#define DERM_TRAIN_RUNNER_EVENT_REGISTERED 101  /* version_id, message: the file */

/* A job event copied for the main thread. */
typedef struct {
  int type;                 /* DermTrainEventType or DERM_TRAIN_RUNNER_EVENT_* */
  DermTask task;            /* the job it belongs to */
  int task_index, n_tasks;  /* 0-based job number when both models are trained */
  int epoch, epochs, step, steps;
  int member, members;      /* the ensemble member in training (-1: none) and their count */
  gint64 global_step;
  double loss, images_per_second, eta_seconds, elapsed_seconds, val_metric, temperature;
  gboolean is_best;
  guint done, total, n_train, n_val, n_test;
  gint64 version_id;
  char *message;            /* owned, may be NULL */
  char *json;               /* owned, may be NULL: test metrics, or the epoch's
                               validation metrics (classifier) */
} DermTrainRunnerEvent;

#define DERM_TYPE_TRAIN_RUNNER_EVENT (derm_train_runner_event_get_type ())
GType                 derm_train_runner_event_get_type (void);
DermTrainRunnerEvent *derm_train_runner_event_copy (const DermTrainRunnerEvent *event);
void                  derm_train_runner_event_free (DermTrainRunnerEvent *event);

#define DERM_TYPE_TRAIN_RUNNER (derm_train_runner_get_type ())
G_DECLARE_FINAL_TYPE (DermTrainRunner, derm_train_runner, DERM, TRAIN_RUNNER, GObject)

/* Returns: (transfer full). */
DermTrainRunner *derm_train_runner_new (void);

/* Starts a new job (a resumable one is discarded). FALSE with
 * DERM_ERROR_INVALID when a job runs or the settings are incomplete. */
gboolean   derm_train_runner_start (DermTrainRunner *self, const DermTrainSettings *settings,
                                    GError **error);
/* Resumes the job left in the training folder. */
gboolean   derm_train_runner_resume (DermTrainRunner *self, GError **error);
/* Asks the job to stop; it does within one training step and keeps a
 * checkpoint. */
void       derm_train_runner_cancel (DermTrainRunner *self);
gboolean   derm_train_runner_is_running (DermTrainRunner *self);
/* How many training steps finished after Stop was asked, in the last
 * stopped job (counted on the training thread); -1 when none was stopped. */
gint64     derm_train_runner_get_steps_after_cancel (DermTrainRunner *self);
/* TRUE when a cancelled or failed job can be resumed. */
gboolean   derm_train_runner_can_resume (DermTrainRunner *self);
/* The settings of the resumable job. Returns: (transfer full) JSON or NULL. */
char      *derm_train_runner_get_resume_settings (DermTrainRunner *self);
/* Forgets the resumable job and its files. */
void       derm_train_runner_discard (DermTrainRunner *self);
/* Stops a running job and waits for its thread (application shutdown). */
void       derm_train_runner_shutdown (DermTrainRunner *self);

/* A user's sentence for a failed job (out of memory: a smaller batch or the
 * CPU). Returns: (transfer full). */
char      *derm_train_describe_error (const GError *error, const DermTrainSettings *settings);

/* Measures training speed on @settings' device with a few steps of
 * synthetic batches (the first one not counted), and counts the training
 * images, on a thread. The result: images per second. */
void       derm_train_estimate_async (const DermTrainSettings *settings, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) where and how @settings would train, for the
 * estimate: "the CPU in fp32", "the CPU in bf16 (AMX-BF16)", "the GPU
 * (bf16 autocast)". */
char      *derm_train_describe_path (const DermTrainSettings *settings);
/* @n_images: images the job would train on; @seconds: the estimate of the
 * training epochs. Returns: images per second, or 0 with @error. */
double     derm_train_estimate_finish (GAsyncResult *result, guint *n_images, double *seconds,
                                       GError **error);

G_END_DECLS
