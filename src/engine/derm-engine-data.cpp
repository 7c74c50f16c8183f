/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-data.cpp: the device-resident training data path. The uint8
// cache lives on the model's device; batches are gathered with index_select
// and augmented there (affine_grid + grid_sample, colour jitter), with the
// random parameters the CPU loader would draw for the same seeds.
#include "config.h"

#include <cstring>
#include <vector>

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace F = torch::nn::functional;

namespace derm {

// Values per sample in the parameter table: the 2 x 3 affine map, then
// brightness, contrast, saturation.
static const int N_PARAMS = 9;

void
check_model_device (DermModel *model, DermDeviceCache *cache)
{
  if (model->device != cache->device)
    fail (DERM_ERROR_MISMATCH, _("The image cache is on %s but the model is on %s; build the cache "
                                 "after moving the model"),
          device_string (cache->device).c_str (), model->device_name.c_str ());
}

torch::Tensor
with_unknown (const torch::Tensor &rows, DermPatientField field, const torch::Tensor &which)
{
  int start, width;
  derm_patient_field_range (field, &start, &width);
  DermPatientContext unknown;
  derm_patient_context_init (&unknown);
  auto u = encode_patients (&unknown, 1, DERM_PATIENT_ALL).narrow (1, start, width).to (rows.device ());
  auto part = rows.narrow (1, start, width);
  auto replaced = which.defined () ? torch::where (which.view ({ -1, 1 }), u.expand_as (part), part)
                                   : u.expand_as (part);
  auto out = rows.clone ();
  out.narrow (1, start, width).copy_ (replaced);
  return out;
}

torch::Tensor
context_for (DermModel *model, DermDeviceCache *cache, const torch::Tensor &idx)
{
  if (model->context == 0 || !cache->context.defined ())
    return torch::Tensor ();
  auto rows = cache->context.index_select (0, idx);
  for (DermPatientField f : { DERM_PATIENT_AGE, DERM_PATIENT_SEX, DERM_PATIENT_SITE })
    if (!(model->context & f))
      rows = with_unknown (rows, f, torch::Tensor ());
  return rows;
}

torch::Tensor
device_indices (DermDeviceCache *cache, const guint *idx, int n)
{
  if (n <= 0 || idx == nullptr)
    fail (DERM_ERROR_INVALID, _("No cache entries were given"));
  auto host = torch::empty ({ n }, torch::kLong);
  int64_t *dst = host.data_ptr<int64_t> ();
  for (int i = 0; i < n; i++)
    {
      if (idx[i] >= (guint) cache->n)
        fail (DERM_ERROR_INVALID, _("Cache entry %u does not exist; the cache holds %d images"), idx[i],
              cache->n);
      dst[i] = idx[i];
    }
  if (cache->device.is_cuda ())
    return host.pin_memory ().to (cache->device, /*non_blocking=*/true);
  return host;
}

// The parameters of @n samples, drawn on the host (a few numbers per image)
// exactly as the CPU loader draws them, then copied to the device without
// waiting: pinned memory from the caching host allocator, which keeps the
// buffer until the copy is done.
static torch::Tensor
draw_params (DermDeviceCache *cache, const DermAugmentConfig *augment, guint64 seed, int epoch,
             int batch, int n)
{
  auto host = torch::empty ({ n, N_PARAMS }, torch::kFloat);
  float *p = host.data_ptr<float> ();
  g_autoptr (GRand) rand = derm_augment_batch_rand (seed, epoch, batch);
  for (int i = 0; i < n; i++)
    {
      DermAugmentParams ap;
      derm_augment_draw (augment, rand, &ap);
      for (int k = 0; k < 6; k++)
        p[i * N_PARAMS + k] = (float) ap.affine[k];
      p[i * N_PARAMS + 6] = (float) ap.brightness;
      p[i * N_PARAMS + 7] = (float) ap.contrast;
      p[i * N_PARAMS + 8] = (float) ap.saturation;
    }
  if (cache->device.is_cuda ())
    return host.pin_memory ().to (cache->device, /*non_blocking=*/true);
  return host;
}

void
device_batch (DermDeviceCache *cache, const torch::Tensor &idx, const DermAugmentConfig *augment,
              guint64 seed, int epoch, int batch, torch::Tensor *x01, torch::Tensor *mask)
{
  const int64_t n = idx.size (0);
  const int s = cache->size;
  auto x = cache->images.index_select (0, idx).permute ({ 0, 3, 1, 2 }).to (torch::kFloat).div_ (255.0);
  torch::Tensor m;
  if (cache->masks.defined () && mask != nullptr)
    m = cache->masks.index_select (0, idx).unsqueeze (1).gt (0).to (torch::kFloat);
  if (augment != nullptr)
    {
      auto params = draw_params (cache, augment, seed, epoch, batch, (int) n);
      auto theta = params.narrow (1, 0, 6).reshape ({ n, 2, 3 });
      auto grid = F::affine_grid (theta, { n, 3, s, s }, /*align_corners=*/false);
      // Reflection about the border pixels' outer edges: the CPU loader's
      // mirrored borders.
      x = F::grid_sample (x.contiguous (), grid,
                          F::GridSampleFuncOptions ()
                            .mode (torch::kBilinear)
                            .padding_mode (torch::kReflection)
                            .align_corners (false));
      if (m.defined ())
        m = F::grid_sample (m, grid,
                            F::GridSampleFuncOptions ()
                              .mode (torch::kNearest)
                              .padding_mode (torch::kReflection)
                              .align_corners (false));
      // Colour as derm_augment: saturation around the pixel's grey, times
      // brightness, then contrast around the image's mean grey.
      auto bright = params.narrow (1, 6, 1).view ({ n, 1, 1, 1 });
      auto contrast = params.narrow (1, 7, 1).view ({ n, 1, 1, 1 });
      auto sat = params.narrow (1, 8, 1).view ({ n, 1, 1, 1 });
      auto grey = (x * cache->luma).sum (1, /*keepdim=*/true);
      x = ((grey + (x - grey) * sat) * bright).clamp (0.0, 1.0);
      auto mean = (x * cache->luma).sum (1, true).mean ({ 2, 3 }, true);
      x = (mean + (x - mean) * contrast).clamp (0.0, 1.0);
    }
  *x01 = x;
  if (mask != nullptr)
    *mask = m;
}

static bool
cuda_memory_info_for (const torch::Device &device, guint64 *free_bytes, guint64 *total_bytes)
{
  if (!device.is_cuda ())
    return false;
  return cuda_memory_info (device.has_index () ? device.index () : 0, free_bytes, total_bytes);
}

} // namespace derm

extern "C" {

gboolean
derm_engine_device_memory (const char *device, guint64 *free_bytes, guint64 *total_bytes)
{
  try
    {
      guint64 f = 0, t = 0;
      if (!derm::cuda_memory_info_for (derm::parse_device (device), &f, &t))
        return FALSE;
      if (free_bytes)
        *free_bytes = f;
      if (total_bytes)
        *total_bytes = t;
      return TRUE;
    }
  catch (...)
    {
      return FALSE;
    }
}

guint64
derm_device_cache_bytes (guint n, int size, gboolean masks)
{
  return (guint64) n * size * size * (masks ? 4 : 3);
}

DermDeviceCache *
derm_device_cache_new (DermModel *model, const guint8 *images, const gint32 *labels, const guint8 *masks,
                       guint n, int size, GError **error)
{
  try
    {
      if (model == nullptr || images == nullptr || n == 0 || n > G_MAXINT)
        derm::fail (DERM_ERROR_INVALID, _("There are no images to cache"));
      if (size <= 0 || (guint64) size * size > DERM_IMAGE_MAX_PIXELS)
        derm::fail (DERM_ERROR_INVALID, _("The cached images must be between 1 and %u pixels"),
                    (guint) DERM_IMAGE_MAX_PIXELS);
      if (model->arch != DERM_ARCH_UNET && labels != nullptr)
        // Checked once here: an out-of-range label on CUDA would be a device
        // assert that poisons the whole CUDA context.
        for (guint i = 0; i < n; i++)
          if (labels[i] < 0 || labels[i] >= model->num_classes)
            derm::fail (DERM_ERROR_INVALID, _("Label %u of the cache is %d; the model has %d classes"), i,
                        (int) labels[i], model->num_classes);
      auto cache = std::make_unique<DermDeviceCache> ();
      cache->device = model->device;
      cache->n = (int) n;
      cache->size = size;
      // One copy each to the device (a clone on the CPU: the caller's
      // buffers need not outlive the cache).
      auto to_dev = [&] (torch::Tensor host) {
        return model->device.is_cuda () ? host.to (model->device) : host.clone ();
      };
      cache->images = to_dev (torch::from_blob ((void *) images, { (int64_t) n, size, size, 3 }, torch::kByte));
      if (masks != nullptr)
        cache->masks = to_dev (torch::from_blob ((void *) masks, { (int64_t) n, size, size }, torch::kByte));
      // Made once: a blocking copy to CUDA in every batch would wait for
      // the previous training step.
      cache->luma = torch::tensor ({ 77.0f / 256, 150.0f / 256, 29.0f / 256 })
                      .view ({ 1, 3, 1, 1 })
                      .to (model->device);
      if (labels != nullptr)
        cache->labels = torch::from_blob ((void *) labels, { (int64_t) n }, torch::kInt)
                          .to (torch::kLong)
                          .to (model->device);
      return cache.release ();
    }
  DERM_CATCH (error, nullptr)
}

gboolean
derm_device_cache_set_patients (DermDeviceCache *cache, const DermPatientContext *patients, guint n,
                                GError **error)
{
  try
    {
      if (cache == nullptr || patients == nullptr || (int) n != cache->n)
        derm::fail (DERM_ERROR_INVALID, _("The cache needs one patient context per image"));
      auto rows = derm::encode_patients (patients, (int) n, DERM_PATIENT_ALL);
      cache->context = cache->device.is_cuda () ? rows.to (cache->device) : rows;
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

void
derm_device_cache_free (DermDeviceCache *cache)
{
  try
    {
      delete cache;
    }
  catch (...)
    {
    }
}

guint
derm_device_cache_get_n (DermDeviceCache *cache)
{
  return cache ? (guint) cache->n : 0;
}

gboolean
derm_device_cache_augment (DermDeviceCache *cache, const guint *idx, int n, const DermAugmentConfig *augment,
                           guint64 seed, int epoch, int batch, guint8 *images, guint8 *masks, GError **error)
{
  try
    {
      if (cache == nullptr || images == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No cache or output buffer was given"));
      torch::NoGradGuard no_grad;
      auto ix = derm::device_indices (cache, idx, n);
      torch::Tensor x, m;
      derm::device_batch (cache, ix, augment, seed, epoch, batch, &x, masks ? &m : nullptr);
      auto bytes = x.mul (255.0).round ().clamp (0, 255).to (torch::kByte).permute ({ 0, 2, 3, 1 });
      bytes = bytes.to (torch::kCPU).contiguous ();
      memcpy (images, bytes.data_ptr<guint8> (), (size_t) n * cache->size * cache->size * 3);
      if (masks != nullptr && m.defined ())
        {
          auto mb = m.gt (0.5).to (torch::kByte).mul (255).to (torch::kCPU).contiguous ();
          memcpy (masks, mb.data_ptr<guint8> (), (size_t) n * cache->size * cache->size);
        }
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

// Chunks of validation images per forward pass.
static const int VAL_CHUNK = 128;

gboolean
derm_model_logits_cached (DermModel *model, DermDeviceCache *cache, const guint *idx, int n, float *logits,
                          GError **error)
{
  try
    {
      if (model == nullptr || cache == nullptr || logits == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No model, cache or output buffer was given"));
      if (model->arch == DERM_ARCH_UNET)
        derm::fail (DERM_ERROR_INVALID, _("This is a segmentation model; logits need a classifier"));
      derm::check_model_device (model, cache);
      torch::NoGradGuard no_grad;
      model->net->eval ();
      const int k = model->num_classes;
      for (int start = 0; start < n; start += VAL_CHUNK)
        {
          int m = std::min (VAL_CHUNK, n - start);
          auto ix = derm::device_indices (cache, idx + start, m);
          torch::Tensor x;
          derm::device_batch (cache, ix, nullptr, 0, 0, 0, &x, nullptr);
          if (model->context != 0)
            std::dynamic_pointer_cast<derm::ResNetNet> (model->net)
              ->set_context (derm::context_for (model, cache, ix));
          auto out = derm::run_net (model, derm::normalize_unit (model, x)).to (torch::kFloat);
          out = out.to (torch::kCPU).contiguous ();
          memcpy (logits + (gsize) start * k, out.data_ptr<float> (), sizeof (float) * m * k);
        }
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_model_segment_cached (DermModel *model, DermDeviceCache *cache, const guint *idx, int n, guint8 *probs,
                           GError **error)
{
  try
    {
      if (model == nullptr || cache == nullptr || probs == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No model, cache or output buffer was given"));
      if (model->arch != DERM_ARCH_UNET)
        derm::fail (DERM_ERROR_INVALID, _("This is a classification model; segmentation needs a U-Net"));
      derm::check_model_device (model, cache);
      torch::NoGradGuard no_grad;
      model->net->eval ();
      const int s = cache->size;
      const int chunk = std::max (1, VAL_CHUNK / 4);
      for (int start = 0; start < n; start += chunk)
        {
          int m = std::min (chunk, n - start);
          auto ix = derm::device_indices (cache, idx + start, m);
          torch::Tensor x;
          derm::device_batch (cache, ix, nullptr, 0, 0, 0, &x, nullptr);
          auto p = torch::sigmoid (derm::run_net (model, derm::normalize_unit (model, x)).to (torch::kFloat));
          if (p.size (2) != s || p.size (3) != s)
            p = torch::upsample_bilinear2d (p, { s, s }, /*align_corners=*/false);
          auto bytes = p.mul (255.0).round ().clamp (0, 255).to (torch::kByte).to (torch::kCPU).contiguous ();
          memcpy (probs + (gsize) start * s * s, bytes.data_ptr<guint8> (), (gsize) m * s * s);
        }
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

} // extern "C"
