/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-engine.h: the C face of the libtorch shim (C++ behind it).
 *
 * Conventions: opaque handles; every function that can fail returns FALSE or
 * NULL and sets a GError (DERM_ERROR domain); no C++ exception ever crosses
 * this header. Each function says who owns what it returns.
 */
#pragma once

#include <glib.h>

#include "derm-augment.h"
#include "derm-error.h"
#include "derm-image.h"
#include "derm-patient-context.h"

G_BEGIN_DECLS

/* ---- Runtime ---------------------------------------------------------- */

/* The libtorch version string, e.g. "1.13.1". Borrowed, static. */
const char *derm_engine_torch_version (void);
/* TRUE when this build links libtorch_cuda and a CUDA device is usable. */
gboolean    derm_engine_cuda_available (void);
int         derm_engine_cuda_device_count (void);
/* A new string naming device @index ("NVIDIA H100 80GB HBM3, 79.1 GiB"). */
char       *derm_engine_cuda_device_name (int index);
/* Sets the intra-op thread count; 0 means the cores present. Returns the
 * count in use. Debian's libtorch starts with one thread: call this once at
 * start-up. */
int         derm_engine_set_threads (int threads);
int         derm_engine_get_threads (void);

/* ---- CPU precision policy ---------------------------------------------- */

/* How the engine computes on the CPU: plain fp32, or bf16 autocast (the
 * oneDNN kernels use the CPU's bfloat16 units) with weights, optimizer
 * state and saved files in fp32. Decided once, at the first call, from what
 * the CPU itself reports (cpuid: AMX-BF16 or AVX512-BF16, and the OS saving
 * their registers) and $DERMALENS_CPU_PRECISION ("fp32" forces fp32, "bf16"
 * forces bf16 even without the units, for tests and measurement; "auto" or
 * unset: the CPU decides). It applies to inference (classify, segment,
 * Grad-CAM, TTA) and to training when DermTrainConfig.mixed_precision is
 * set. CUDA devices keep their own path (bf16 autocast for training). */
typedef enum {
  DERM_CPU_PRECISION_FP32,
  DERM_CPU_PRECISION_BF16,
} DermCpuPrecision;

typedef struct {
  DermCpuPrecision precision; /* what the engine uses now */
  gboolean channels_last;     /* NHWC activations and weights on the CPU */
  gboolean cpu_has_bf16;      /* the CPU has bfloat16 matrix units */
  gboolean forced;            /* the environment or the setting chose, not the CPU */
  const char *units;          /* "AMX-BF16", "AVX512-BF16" or "none". Static. */
  const char *reason;         /* one translated sentence: why this path. Static. */
} DermCpuPolicy;

/* The policy in use. Returns: (transfer none) static; valid until the next
 * derm_engine_set_cpu_fp32 (). Thread-safe. */
const DermCpuPolicy *derm_engine_cpu_policy (void);
/* The user's setting: TRUE forces fp32 whatever the CPU has; FALSE gives the
 * decision back to the CPU (and the environment). Takes effect for the next
 * forward pass or training step. */
void                 derm_engine_set_cpu_fp32 (gboolean force);
/* "fp32" or "bf16". Static. */
const char          *derm_cpu_precision_name (DermCpuPrecision precision);

/* ---- Analysis before training ------------------------------------------ */

/* A foreground analysis is about to use the CPU (begin) or is done (end);
 * calls nest and may come from any thread. While one is pending, CPU work on
 * threads marked as background (training steps, validation and evaluation
 * chunks) waits before its next step, so the two do not share the cores: an
 * analysis waits for at most the step in progress. CUDA work does not wait. */
void        derm_engine_foreground_begin (void);
void        derm_engine_foreground_end (void);
/* Marks the calling thread as background work (a training job in the app's
 * process) or not. Default: not. */
void        derm_engine_set_background_thread (gboolean background);
/* Microseconds background work has waited for foreground work so far. */
gint64      derm_engine_foreground_waited_us (void);

/* Frees cached, unused GPU memory (after a training job). No-op on CPU. */
void        derm_engine_empty_cache (void);
/* Seeds libtorch's CPU and CUDA generators. */
void        derm_engine_manual_seed (guint64 seed);
/* Free and total memory of @device ("cuda", "cuda:N"; NULL = "auto").
 * FALSE when unknown (CPU, or a build without CUDA). */
gboolean    derm_engine_device_memory (const char *device, guint64 *free_bytes,
                                       guint64 *total_bytes);

/* ---- Models ------------------------------------------------------------ */

/* A model: a torch::nn module on a device, with its weight-file metadata.
 * Use one DermModel from one thread at a time; free it on the thread that
 * used it (libtorch objects are freed on their owner thread). */
typedef struct DermModel DermModel;

typedef enum {
  DERM_ARCH_RESNET18,
  DERM_ARCH_RESNET34,
  DERM_ARCH_RESNET50,
  DERM_ARCH_UNET,
} DermArch;

typedef enum {
  DERM_TASK_CLASSIFY,
  DERM_TASK_SEGMENT,
} DermTask;

/* "resnet18", "resnet34", "resnet50", "unet". Borrowed, static. */
const char *derm_arch_name (DermArch arch);
gboolean    derm_arch_from_name (const char *name, DermArch *arch);
DermTask    derm_arch_task (DermArch arch);

typedef struct {
  DermArch arch;
  int num_classes;   /* classifiers: 7 (DERM_N_CLASSES) or 1000 (ImageNet) */
  int unet_base;     /* U-Net first-level width; 0 means 32 */
  int input_size;    /* square side the model is fed; 0: 224 (ResNet), 256 (U-Net) */
  int members;       /* 0 or 1: one network; K >= 2: an ensemble of K ResNets (see below) */
  /* Classifiers: the patient context fields (DermPatientField bits) the
   * model takes besides the image; 0: the image alone. A small network
   * (DERM_PATIENT_DIM -> 32 -> 32, ReLU) encodes the context and its output
   * joins the pooled image features before the head ("fc" then takes
   * features + 32 inputs; the tensors "context.*"). Metadata "context"
   * names the fields ("age,sex,site"). */
  unsigned context;
} DermModelConfig;

/* Device names: "auto" (CUDA when the linked libtorch has it, else CPU),
 * "cpu", "cuda", "cuda:N". NULL means "auto". */

/* A new model with fresh (Kaiming / torchvision default) weights, ImageNet
 * mean/std normalisation and temperature 1. Returns: (transfer full). */
DermModel  *derm_model_new (const DermModelConfig *config, const char *device, GError **error);
/* Loads a Dermalens weight file (safetensors with our __metadata__); the
 * architecture and sizes come from the metadata. Returns: (transfer full). */
DermModel  *derm_model_load (const char *path, const char *device, GError **error);
/* Copies the tensors of a safetensors file into @model: every parameter AND
 * buffer must be present with its shape, else the first mismatch is named.
 * With @replace_head, a classifier head ("fc.*") of another class count (a
 * torchvision ImageNet export) is skipped and the fresh head kept. */
gboolean    derm_model_load_weights (DermModel *model, const char *path,
                                     gboolean replace_head, GError **error);
/* The same from member @member of an ensemble's file into a single network
 * (each member of a new ensemble can start from its counterpart). */
gboolean    derm_model_load_member_weights (DermModel *model, const char *path, int member,
                                            gboolean replace_head, GError **error);
/* Writes a safetensors file (F32) with every parameter and buffer and the
 * metadata; atomically (temp file, fsync, rename). */
gboolean    derm_model_save (DermModel *model, const char *path, GError **error);
void        derm_model_free (DermModel *model);

/* An ensemble: K classifiers of one architecture in one model and one file
 * (tensors "member0." ... "member<K-1>.", metadata "ensemble_members" = K).
 * Its forward pass is the log of the mean of the members' probabilities,
 * each member calibrated by its own temperature (the buffer
 * "member_temperature"), so classify, evaluate, Grad-CAM, temperature and
 * the decision rule treat it as one model with temperature 1. It is not
 * trained as a whole: derm_trainer_new refuses it; train its members, then
 * assemble them here. A new ensemble holding copies of @members' weights
 * (same architecture, classes, input size, normalisation and colour
 * constancy; their temperatures become the members' calibration; their
 * other metadata is not copied). Returns: (transfer full). */
DermModel  *derm_model_new_ensemble (DermModel *const *members, int n_members,
                                     const char *device, GError **error);
/* 1 for a single network, K for an ensemble. */
int         derm_model_get_members (DermModel *model);

DermArch    derm_model_get_arch (DermModel *model);
int         derm_model_get_num_classes (DermModel *model);   /* 1 for U-Net */
int         derm_model_get_input_size (DermModel *model);
/* The device in use, e.g. "cpu" or "cuda:0". Borrowed. */
const char *derm_model_get_device (DermModel *model);
/* Moves the model (e.g. to "cpu" after a CUDA failure). */
gboolean    derm_model_to_device (DermModel *model, const char *device, GError **error);
double      derm_model_get_temperature (DermModel *model);
void        derm_model_set_temperature (DermModel *model, double temperature);
gint64      derm_model_count_parameters (DermModel *model);

/* Metadata: string keys and values as stored in safetensors' __metadata__.
 * Keys the engine owns: "format" ("dermalens/1"), "architecture", "classes"
 * (comma-separated codes in order), "input_size", "mean", "std"
 * (comma-separated), "temperature", "unet_base", "color_constancy"
 * ("none" | "shades_of_gray"). Training adds its own ("split", "metrics", ...).
 * get: borrowed or NULL; set: copies; NULL value removes. */
const char *derm_model_get_metadata (DermModel *model, const char *key);
void        derm_model_set_metadata (DermModel *model, const char *key, const char *value);
/* Returns: (transfer full) a NULL-terminated list; g_strfreev() it. */
char      **derm_model_list_metadata (DermModel *model);

/* The patient context fields @model takes (0: the image alone). */
DermPatientField derm_model_get_context (DermModel *model);
/* The patient context of the following classify, logits and Grad-CAM calls
 * on @model, until set again: @n patients, one per image of each call, or
 * one for every image (@n 1); NULL or @n 0: every field unknown. Fields the
 * model does not take are ignored; so is the whole call for a model without
 * context. Copied. */
void        derm_model_set_patients (DermModel *model, const DermPatientContext *patients, int n);
/* Of the context given by derm_model_set_patients (), inference keeps only
 * these fields and treats the others as unknown (default: all). 0 measures
 * the model with every field missing. Takes effect at the next set_patients. */
void        derm_model_set_context_mask (DermModel *model, DermPatientField fields);

/* ---- Inference (eval mode, no grad) ------------------------------------ */

/* Preprocessing is one function shared by training, evaluation and
 * inference: Shades-of-Gray colour constancy when the metadata asks for it,
 * resize to input_size x input_size, scale to [0,1], normalise by mean/std.
 *
 * classify: @probs receives num_classes softmax(logits / temperature).
 * With @tta, the 8 flips/90-degree rotations are averaged.  */
gboolean    derm_model_classify (DermModel *model, const DermImage *image,
                                 gboolean tta, float *probs, GError **error);
/* @probs receives n * num_classes values, image-major. */
gboolean    derm_model_classify_batch (DermModel *model, const DermImage *const *images,
                                       int n, gboolean tta, float *probs, GError **error);
/* Raw logits (no temperature), n * num_classes; for calibration. */
gboolean    derm_model_logits_batch (DermModel *model, const DermImage *const *images,
                                     int n, gboolean tta, float *logits, GError **error);
/* U-Net: a new 1-channel image at @image's own size, 0..255 = lesion
 * probability (threshold at 128 for a binary mask). Returns: (transfer full). */
DermImage  *derm_model_segment (DermModel *model, const DermImage *image,
                                gboolean tta, GError **error);
/* Returns: (transfer full) an array of @n new masks; free each, then g_free. */
DermImage **derm_model_segment_batch (DermModel *model, const DermImage *const *images,
                                      int n, gboolean tta, GError **error);
/* The image half of the preprocessing, for callers that cache training
 * images: the model's colour constancy (metadata "color_constancy"), gray
 * replicated to RGB, resized to @size x @size (0: the model's input size).
 * Training batches built from these are normalised by the trainer with the
 * same function inference uses. Returns: (transfer full) a new RGB image. */
DermImage  *derm_model_prepare_image (DermModel *model, const DermImage *image,
                                      int size, GError **error);
/* bf16 autocast for inference on CUDA (default off: fp32). No effect on CPU. */
void        derm_model_set_inference_bf16 (DermModel *model, gboolean enabled);

/* Grad-CAM of @class_index from the last ResNet stage: a new 1-channel image
 * at @image's size, 0..255. Returns: (transfer full). */
DermImage  *derm_model_gradcam (DermModel *model, const DermImage *image,
                                int class_index, GError **error);

/* ---- Training ---------------------------------------------------------- */

typedef struct DermTrainer DermTrainer;

typedef enum {
  DERM_FINETUNE_ALL,   /* every layer */
  DERM_FINETUNE_LAST,  /* ResNet layer4 + fc */
  DERM_FINETUNE_HEAD,  /* fc only (and the patient context branch) */
} DermFinetune;

typedef enum {
  DERM_OPTIMIZER_ADAMW,
  DERM_OPTIMIZER_SGD,  /* with Nesterov momentum */
} DermOptimizer;

typedef enum {
  DERM_LOSS_CROSS_ENTROPY,  /* class-weighted when class_weights is set */
  DERM_LOSS_FOCAL,
  DERM_LOSS_BCE_DICE,       /* segmentation */
} DermLoss;

typedef struct {
  DermOptimizer optimizer;
  DermLoss loss;
  double lr;              /* peak learning rate */
  double weight_decay;
  double momentum;        /* SGD */
  int total_steps;        /* for the cosine schedule */
  int warmup_steps;       /* linear warm-up from lr/100 */
  const float *class_weights; /* NULL or num_classes weights (copied) */
  double focal_gamma;     /* 0: 2.0 */
  double label_smoothing;
  double grad_clip;       /* max global norm; 0 = off */
  DermFinetune finetune;
  guint64 seed;           /* CPU runs repeat exactly with the same seed */
  gboolean mixed_precision; /* bf16 autocast on CUDA (set per training thread) */
  /* Classifiers only (a U-Net's masks are never mixed): */
  double mixup_alpha;     /* > 0: mixup, lambda ~ Beta(alpha, alpha) (Zhang et al. 2018) */
  double cutmix_alpha;    /* > 0: cutmix, a box of area 1 - lambda pasted (Yun et al. 2019);
                             with both set each batch uses one of the two, at even odds */
  /* NULL or num_classes values (copied) added to the logits in the training
   * loss only: tau * log(prior) is the logit-adjusted loss (Menon et al.
   * 2021), whose plain arg-max then balances the classes. */
  const float *loss_logit_offsets;
  /* > 0: an exponential moving average of the weights (and float buffers)
   * with this decay per step (warmed up as min(decay, (1 + t) / (10 + t))),
   * swapped in by derm_trainer_swap_ema () and kept in checkpoints. */
  double ema_decay;
  /* Models with patient context: each field of each training sample is
   * made unknown with this probability, and all of them together with half
   * of it, so the model learns to work with any subset (0: never). */
  double context_dropout;
} DermTrainConfig;

/* One batch from C: n images of height x width x 3 uint8 (NHWC, already
 * augmented, at the training size), and labels (classify) or masks
 * (segment: n x height x width, 0 = skin, nonzero = lesion). */
typedef struct {
  const guint8 *images;
  const gint32 *labels;
  const guint8 *masks;
  int n;
  int height;
  int width;
  /* Models with patient context: n patients, or NULL (every field unknown). */
  const DermPatientContext *patients;
} DermBatch;

/* Fills @batch with the next batch (memory stays valid until the next call).
 * Returns FALSE at the end of the epoch (no error) or on failure (@error). */
typedef gboolean (*DermBatchFunc) (gpointer user_data, DermBatch *batch, GError **error);

typedef struct {
  int epoch;              /* 0-based */
  int step;               /* within the epoch, 1-based */
  int steps_in_epoch;     /* -1 when unknown */
  gint64 global_step;
  double loss;            /* running mean over the epoch so far */
  double images_per_second;
  double lr;
} DermTrainProgress;

typedef void (*DermProgressFunc) (const DermTrainProgress *progress, gpointer user_data);

/* Creates the optimizer for @model (borrowed: it must outlive the trainer);
 * an ensemble is refused (DERM_ERROR_UNSUPPORTED).
 * Create, use and free a trainer on one thread (autocast is per thread).
 * Returns: (transfer full). */
DermTrainer *derm_trainer_new (DermModel *model, const DermTrainConfig *config, GError **error);
void         derm_trainer_free (DermTrainer *trainer);

/* Trains over batches from @next until it returns FALSE. @cancel, when not
 * NULL, is read between steps: once nonzero the epoch stops with
 * G_IO_ERROR_CANCELLED after at most one more step. @steps_in_epoch is only
 * reported in progress (-1 if unknown). @mean_loss may be NULL. */
gboolean     derm_trainer_run_epoch (DermTrainer *trainer, int epoch, int steps_in_epoch,
                                     DermBatchFunc next, gpointer batch_data,
                                     DermProgressFunc progress, gpointer progress_data,
                                     const volatile gint *cancel, double *mean_loss,
                                     GError **error);
/* ---- Device-resident training data ------------------------------------ */

/* The uint8 training cache uploaded once to a model's device, so batches are
 * gathered (index_select) and augmented there with torch ops and no host
 * copy per step. On "cpu" it is a copy in host memory: the same code path,
 * for tests. Free it on the thread that uses it. */
typedef struct DermDeviceCache DermDeviceCache;

/* Bytes a cache of @n images of @size x @size (with masks) takes. */
guint64          derm_device_cache_bytes (guint n, int size, gboolean masks);
/* Copies @n images (n x size x size x 3 bytes, NHWC), @labels (n, or NULL)
 * and @masks (n x size x size, nonzero = lesion, or NULL) to @model's device.
 * Labels must be classes of @model when it classifies (checked here, once).
 * Returns: (transfer full). */
DermDeviceCache *derm_device_cache_new (DermModel *model, const guint8 *images,
                                        const gint32 *labels, const guint8 *masks,
                                        guint n, int size, GError **error);
/* The patient context of the @n cached entries (n of the cache), for a
 * model with context; the cached epoch and validation then use it. Copied. */
gboolean         derm_device_cache_set_patients (DermDeviceCache *cache, const DermPatientContext *patients,
                                                 guint n, GError **error);
void             derm_device_cache_free (DermDeviceCache *cache);
guint            derm_device_cache_get_n (DermDeviceCache *cache);

/* The device augmentation of entries @idx (n): flips, 90-degree rotations,
 * a small rotation and random resized crop through one affine map
 * (affine_grid + grid_sample: bilinear for images, nearest for masks,
 * reflected borders) and per-sample brightness, saturation and contrast,
 * with the parameters derm_augment_draw () draws from
 * derm_augment_batch_rand (@seed, @epoch, @batch), as the CPU loader does.
 * @augment NULL: the cached images as they are. Copies the result back to
 * @images (n x size x size x 3) and, when not NULL and the cache has masks,
 * @masks (n x size x size, 0 / 255): for tests and inspection; training
 * never copies batches back. */
gboolean         derm_device_cache_augment (DermDeviceCache *cache, const guint *idx, int n,
                                            const DermAugmentConfig *augment, guint64 seed,
                                            int epoch, int batch, guint8 *images,
                                            guint8 *masks, GError **error);

/* One epoch over cache entries @order (n of them, e.g. from
 * derm_epoch_order ()), in batches of @batch (a last, partial one dropped
 * with @drop_last), augmented on the device with @augment (NULL: none) and
 * the seeds of derm_device_cache_augment (): batch b of @epoch draws from
 * derm_augment_batch_rand (@seed, @epoch, b). Otherwise as
 * derm_trainer_run_epoch (): progress each step, @cancel between steps, the
 * loss read back every few steps on CUDA. The cache must be on the model's
 * device. */
gboolean     derm_trainer_run_epoch_cached (DermTrainer *trainer, int epoch, DermDeviceCache *cache,
                                            const guint *order, guint n, int batch,
                                            gboolean drop_last, guint64 seed,
                                            const DermAugmentConfig *augment,
                                            DermProgressFunc progress, gpointer progress_data,
                                            const volatile gint *cancel, double *mean_loss,
                                            GError **error);

/* Validation from a device cache (eval mode, no grad, no augmentation):
 * raw logits of entries @idx (n x num_classes, image-major) ... */
gboolean     derm_model_logits_cached (DermModel *model, DermDeviceCache *cache, const guint *idx,
                                       int n, float *logits, GError **error);
/* ... or U-Net lesion probabilities at the cache's size (n x size x size,
 * 0..255, as derm_model_segment ()). */
gboolean     derm_model_segment_cached (DermModel *model, DermDeviceCache *cache, const guint *idx,
                                        int n, guint8 *probs, GError **error);

/* ---- Self-supervised pretraining ------------------------------------------ */

/* SimSiam (Chen & He 2021) on a classifier's ResNet backbone: each image of
 * a batch is augmented twice on the device (derm_device_cache_augment ()'s
 * draws for batches 2b and 2b + 1), a projector (3 layers, BatchNorm) and a
 * predictor (a bottleneck of a quarter of the width) follow the pooled
 * features, and the loss is the symmetrised negative cosine between one
 * view's prediction and the other's projection, the projection's gradient
 * stopped. SGD with momentum 0.9; the backbone and projector on a cosine
 * schedule after a linear warm-up, the predictor at the peak rate. No
 * labels: the classifier's head is not trained. */
typedef struct DermPretrainer DermPretrainer;

typedef struct {
  double lr;              /* peak rate; SimSiam's is 0.05 x batch / 256 */
  double weight_decay;    /* e.g. 1e-4 */
  int total_steps;
  int warmup_steps;
  guint64 seed;
  gboolean mixed_precision; /* bf16 autocast where the device or the CPU policy allow */
  int dim;                /* projection width; 0: the features' (512, ResNet-50 2048) */
} DermPretrainConfig;

/* @model: one ResNet (not an ensemble), borrowed; it must outlive the
 * pretrainer. Use it on one thread. Returns: (transfer full). */
DermPretrainer *derm_pretrainer_new (DermModel *model, const DermPretrainConfig *config,
                                     GError **error);
void            derm_pretrainer_free (DermPretrainer *pretrainer);
/* One epoch over cache entries @order (n; whole batches of @batch, the
 * rest dropped), views augmented with @augment and @seed. @spread
 * (may be NULL) receives the standard deviation of the normalised
 * projections over a batch, averaged over their dimensions: near 0 the
 * representation collapsed; about 1 / sqrt(dim) it did not. Cancel and
 * progress as derm_trainer_run_epoch (). */
gboolean        derm_pretrainer_run_epoch (DermPretrainer *pretrainer, int epoch,
                                           DermDeviceCache *cache, const guint *order, guint n,
                                           int batch, guint64 seed, const DermAugmentConfig *augment,
                                           DermProgressFunc progress, gpointer progress_data,
                                           const volatile gint *cancel, double *mean_loss,
                                           double *spread, GError **error);
int             derm_pretrainer_get_epoch (DermPretrainer *pretrainer);  /* epochs completed */
/* The model, the heads, the optimizer's state and the step, atomically;
 * resume restores them into a pretrainer of the same model and width. */
gboolean        derm_pretrainer_save_checkpoint (DermPretrainer *pretrainer, const char *path,
                                                 GError **error);
gboolean        derm_pretrainer_load_checkpoint (DermPretrainer *pretrainer, const char *path,
                                                 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermPretrainer, derm_pretrainer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermDeviceCache, derm_device_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermModel, derm_model_free)

gint64       derm_trainer_get_global_step (DermTrainer *trainer);
/* With ema_decay set: exchanges the model's weights with their moving
 * average (call again to exchange them back before training on). Without:
 * does nothing and returns FALSE. */
gboolean     derm_trainer_swap_ema (DermTrainer *trainer);
int          derm_trainer_get_epoch (DermTrainer *trainer);   /* epochs completed */

/* Checkpoint: a safetensors file holding the model's tensors, the
 * optimizer's state and the schedule position (metadata), written
 * atomically. Resume restores all three into a trainer built with the same
 * config. */
gboolean     derm_trainer_save_checkpoint (DermTrainer *trainer, const char *path, GError **error);
gboolean     derm_trainer_load_checkpoint (DermTrainer *trainer, const char *path, GError **error);

G_END_DECLS
