/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-private.hpp: shared by the engine's C++ files only.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gio/gio.h>
#include <glib.h>
#include <torch/torch.h>

#include "derm-engine.h"
#include "derm-safetensors.h"

namespace derm {

// A new g_malloc'd string, or NULL when the device does not exist.
char *cuda_device_name (int index);
void cuda_empty_cache (void);
// bf16 autocast on CUDA for the calling thread only.
void cuda_set_autocast (bool enabled);

// bf16 autocast while in scope, when @enabled: on CUDA always, on the CPU
// when the CPU precision policy says bf16; off again on leaving, by return
// or exception. Weights and optimizer state stay fp32.
struct Autocast
{
  int kind = 0;   // 0: off, 1: CUDA, 2: CPU
  Autocast (const torch::Device &device, bool enabled);
  ~Autocast ();
  Autocast (const Autocast &) = delete;
  Autocast &operator= (const Autocast &) = delete;
};
// The CPU precision policy (derm_engine_cpu_policy ()), for the engine.
bool cpu_bf16 (void);
bool cpu_channels_last (void);
// The memory format of activations and 4-d weights on @device.
at::MemoryFormat memory_format (const torch::Device &device);
// On a background thread (derm_engine_set_background_thread) and the CPU:
// waits while a foreground analysis is pending, or until *@cancel is set.
void wait_for_foreground (const torch::Device &device, const volatile gint *cancel);
// Between the stages of a network: on a background thread and the CPU,
// waits there (and at the same point of the backward pass) while a
// foreground analysis is pending, so that it waits for a stage, not a whole
// training step. Returns @x.
torch::Tensor yield_point (const torch::Tensor &x);
// While in scope, waits at yield points on this thread also end when
// *@cancel is set (the training epoch's cancel flag).
struct CancelScope
{
  const volatile gint *previous;
  explicit CancelScope (const volatile gint *cancel);
  ~CancelScope ();
  CancelScope (const CancelScope &) = delete;
  CancelScope &operator= (const CancelScope &) = delete;
};
// cuDNN benchmark mode.
void cuda_configure (void);

// An error with a code in @domain (DERM_ERROR unless named) and a
// user-facing message.
struct Error : std::runtime_error
{
  GQuark domain;
  int code;
  Error (int c, const std::string &msg) : std::runtime_error (msg), domain (DERM_ERROR), code (c) {}
  Error (GQuark d, int c, const std::string &msg) : std::runtime_error (msg), domain (d), code (c) {}
};

[[noreturn]] void fail (int code, const char *format, ...) G_GNUC_PRINTF (2, 3);
// The one cancellation error of every layer: G_IO_ERROR_CANCELLED.
[[noreturn]] void fail_cancelled (const char *message);

// Called inside a catch (...) block: classifies the exception in flight
// (derm::Error, c10::Error with what_without_backtrace, CUDA out of memory,
// std::bad_alloc, std::exception, anything) into @error.
void set_error_from_exception (GError **error);

// Every C entry point: try { ... } DERM_CATCH (error, failure_value)
#define DERM_CATCH(error, failval)           \
  catch (...)                                \
    {                                        \
      derm::set_error_from_exception (error); \
      return failval;                        \
    }

// Parses "auto", "cpu", "cuda", "cuda:N" (NULL = "auto").
torch::Device parse_device (const char *name);
std::string device_string (const torch::Device &device);

// Every network: forward() gives logits (N x classes, or N x 1 x H x W).
struct Net : torch::nn::Module
{
  virtual torch::Tensor forward (torch::Tensor x) = 0;
};

// ResNet: features() runs up to layer4 (for Grad-CAM), head() the rest.
struct ResNetNet : Net
{
  virtual torch::Tensor features (torch::Tensor x) = 0;
  virtual torch::Tensor head (torch::Tensor features) = 0;
  // The encoded patient context (derm-patient.h) of the next head () calls:
  // N x DERM_PATIENT_DIM float rows, one per image, or one for all;
  // undefined: every field unknown. A net without context ignores it.
  virtual void set_context (const torch::Tensor &rows) { (void) rows; }
};

// The width of a context branch's output, joined to the image features.
constexpr int CONTEXT_WIDTH = 32;

// @members >= 2: an ensemble of that many ResNets (see derm_model_new_ensemble);
// @context: with a patient context branch.
std::shared_ptr<Net> make_net (DermArch arch, int num_classes, int unet_base, int members,
                               bool context);

// Encoded rows (n x DERM_PATIENT_DIM, CPU float) of @patients, keeping only
// the fields in @fields; NULL or n 0: an undefined tensor.
torch::Tensor encode_patients (const DermPatientContext *patients, int n, unsigned fields);

} // namespace derm

struct DermModel
{
  DermArch arch = DERM_ARCH_RESNET50;
  int num_classes = 7;
  int input_size = 224;
  int unet_base = 32;
  int members = 1;   // K >= 2: an ensemble
  unsigned context = 0;   // DermPatientField bits the model takes; 0: image only
  unsigned context_mask = DERM_PATIENT_ALL;   // derm_model_set_context_mask
  // The encoded patient context of inference calls (derm_model_set_patients),
  // CPU float, or undefined (every field unknown).
  torch::Tensor patients;
  std::shared_ptr<derm::Net> net;
  torch::Device device = torch::Device (torch::kCPU);
  std::string device_name = "cpu";
  std::map<std::string, std::string> metadata;
  // Parsed from metadata, refreshed by refresh_from_metadata().
  float mean[3] = { 0.485f, 0.456f, 0.406f };
  float std[3] = { 0.229f, 0.224f, 0.225f };
  // mean and std as 1 x 3 x 1 x 1 tensors on the device, made by
  // normalize_unit() when undefined; refresh_from_metadata() and a move to
  // another device reset them.
  torch::Tensor mean_t, std_t;
  double temperature = 1.0;
  bool shades_of_gray = false;
  // bf16 autocast for inference on CUDA (the CPU follows the CPU policy).
  bool inference_bf16 = false;
  // A captured CUDA graph of the batch-1 forward pass (builds with
  // DERM_CUDA_GRAPHS only); opaque, see cuda_graph_forward ().
  std::shared_ptr<void> cuda_graph;
};

struct DermDeviceCache
{
  torch::Device device = torch::Device (torch::kCPU);
  int n = 0;
  int size = 0;
  torch::Tensor images;   // n x size x size x 3 uint8
  torch::Tensor masks;    // n x size x size uint8 (0 / 255), or undefined
  torch::Tensor labels;   // n int64, or undefined
  torch::Tensor context;  // n x DERM_PATIENT_DIM float (encoded patients), or undefined
  torch::Tensor luma;     // 1 x 3 x 1 x 1 float: derm_augment's grey weights
};

namespace derm {

void refresh_from_metadata (DermModel *model);

// The one preprocessing path. prepare_image: colour constancy (when the
// metadata asks for it) + resize to @size (or input_size when 0); returns a
// new RGB image (gray input is replicated).
DermImage *prepare_image (DermModel *model, const DermImage *image, int size);
// The tensor half: uint8 NHWC (any device) -> float NCHW normalised on the
// model's device (in the device's memory_format ()).
torch::Tensor normalize_batch (DermModel *model, const torch::Tensor &uint8_nhwc);
// Its float half: NCHW in [0, 1] (any device) -> normalised on the model's
// device (in memory_format ()). normalize_batch ends in it.
torch::Tensor normalize_unit (DermModel *model, const torch::Tensor &x01);
// The forward pass of inference (bf16 autocast when the model asks for it).
torch::Tensor run_net (DermModel *model, const torch::Tensor &x);
// Gives a model with context the rows of images [@start, @start + @n) of
// the current call (the model's patients; one row serves all). No-op
// without context.
void set_net_context (DermModel *model, int start, int n);
// Both halves for a list of images -> normalised NCHW at input_size.
torch::Tensor preprocess (DermModel *model, const DermImage *const *images, int n);

// Named tensors (parameters AND buffers) of a model.
std::vector<std::pair<std::string, torch::Tensor>> named_state (DermModel *model);

// "[2, 3]".
std::string shape_string (const std::vector<int64_t> &shape);
// A new CPU tensor holding a copy of @t's bytes.
torch::Tensor st_to_tensor (const DermStTensor *t);
// Copies tensors named @prefix + name from @st into the model: every
// parameter and buffer must be present with its shape (fc.* may be missing
// or misshaped with @replace_head); a tensor the model lacks is an error.
// Nothing is copied unless everything matches.
void copy_weights (DermModel *model, DermSafetensors *st, const char *path,
                   const std::string &prefix, bool replace_head);
// Writes named tensors (float as F32, int64 as I64, uint8 as U8) and
// metadata atomically.
gboolean write_state (const char *path, const std::vector<std::pair<std::string, torch::Tensor>> &named,
                      const std::map<std::string, std::string> &metadata, GError **error);

// Gives 4-d parameters the device's memory format: channels_last on CUDA,
// and on the CPU when the CPU policy says so.
void apply_memory_format (DermModel *model);

// The batch-1 inference forward pass replayed from a CUDA graph captured on
// first use (fixed shape, fp32, eval mode; recaptured when the input shape
// or the parameters' memory change). Returns an undefined tensor when graphs
// are not built in (DERM_CUDA_GRAPHS), not applicable, or failed once: the
// caller then runs eagerly. The result is overwritten by the next replay.
torch::Tensor cuda_graph_forward (DermModel *model, const torch::Tensor &x);

// Checkpoints (training and pretraining): the optimizer's state in
// libtorch's own archive format as a uint8 tensor ("optimizer"), and back
// (read whole before anything is loaded, so a bad archive changes nothing);
// a step or epoch count of the metadata, checked (@max: the largest allowed).
torch::Tensor optimizer_to_blob (torch::optim::Optimizer &optimizer);
void optimizer_archive_from_blob (const DermStTensor *blob, const torch::Device &device,
                                  torch::serialize::InputArchive &archive);
gint64 checkpoint_count (const char *value, gint64 max, const char *path, const char *what);

// Free and total memory of a CUDA device; false without CUDA.
bool cuda_memory_info (int index, guint64 *free_bytes, guint64 *total_bytes);

// A batch from a device cache: entries @idx (int64 on the cache's device),
// gathered and, with @augment, augmented there with the parameters
// derm_augment_draw () gives for (@seed, @epoch, @batch). @x01: N x 3 x S x S
// float in [0, 1]; @mask (when the cache has masks): N x 1 x S x S, 0 or 1.
void device_batch (DermDeviceCache *cache, const torch::Tensor &idx, const DermAugmentConfig *augment,
                   guint64 seed, int epoch, int batch, torch::Tensor *x01, torch::Tensor *mask);
// Entries @idx (n of them) as an int64 tensor on the cache's device, each
// checked against the cache size.
torch::Tensor device_indices (DermDeviceCache *cache, const guint *idx, int n);
// @rows (N x DERM_PATIENT_DIM) with @field set to "unknown" in the rows
// @which (N booleans) selects, or in every row (@which undefined). A new tensor.
torch::Tensor with_unknown (const torch::Tensor &rows, DermPatientField field, const torch::Tensor &which);
// The context rows of cache entries @idx for @model: the cached patients
// with only the model's fields kept, or undefined (every field unknown).
torch::Tensor context_for (DermModel *model, DermDeviceCache *cache, const torch::Tensor &idx);
// Throws DERM_ERROR_MISMATCH unless @model is on @cache's device.
void check_model_device (DermModel *model, DermDeviceCache *cache);

} // namespace derm
