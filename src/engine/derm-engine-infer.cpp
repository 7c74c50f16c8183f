/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-infer.cpp: the one preprocessing path, classification,
// segmentation, test-time augmentation and Grad-CAM.
#include "config.h"

#include <cmath>
#include <cstring>

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace derm {

// Images per forward pass in the batch functions.
static const int CHUNK = 16;

static void
check_image (const DermImage *image, int index)
{
  if (image == nullptr || image->data == nullptr)
    fail (DERM_ERROR_INVALID, _("Image %d is missing"), index + 1);
  if (image->channels != 1 && image->channels != 3)
    fail (DERM_ERROR_INVALID, _("Image %d has %d channels; the models take RGB (3) or gray (1) images"),
          index + 1, image->channels);
  if (image->width <= 0 || image->height <= 0
      || (guint64) image->width * image->height > DERM_IMAGE_MAX_PIXELS)
    fail (DERM_ERROR_INVALID, _("Image %d has an invalid size %d x %d"), index + 1, image->width,
          image->height);
}

DermImage *
prepare_image (DermModel *model, const DermImage *image, int size)
{
  check_image (image, 0);
  if (size <= 0)
    size = model->input_size;
  g_autoptr (DermImage) rgb = nullptr;
  if (image->channels == 3)
    rgb = derm_image_copy (image);
  else
    {
      GError *err = nullptr;
      rgb = derm_image_new (image->width, image->height, 3, &err);
      if (rgb == nullptr)
        {
          std::string msg = err->message;
          g_error_free (err);
          fail (DERM_ERROR_INVALID, "%s", msg.c_str ());
        }
      gsize n = (gsize) image->width * image->height;
      for (gsize i = 0; i < n; i++)
        rgb->data[3 * i] = rgb->data[3 * i + 1] = rgb->data[3 * i + 2] = image->data[i];
    }
  if (model->shades_of_gray)
    derm_image_shades_of_gray (rgb, 6.0);
  if (rgb->width == size && rgb->height == size)
    return (DermImage *) g_steal_pointer (&rgb);
  GError *err = nullptr;
  DermImage *out = derm_image_resize (rgb, size, size, &err);
  if (out == nullptr)
    {
      std::string msg = err ? err->message : "resize failed";
      g_clear_error (&err);
      fail (DERM_ERROR_INVALID, "%s", msg.c_str ());
    }
  return out;
}

torch::Tensor
normalize_batch (DermModel *model, const torch::Tensor &uint8_nhwc)
{
  if (uint8_nhwc.dim () != 4 || uint8_nhwc.size (3) != 3 || uint8_nhwc.scalar_type () != torch::kByte)
    fail (DERM_ERROR_INVALID, _("A batch must be N x height x width x 3 bytes (RGB)"));
  auto x = uint8_nhwc.to (model->device, /*non_blocking=*/true).permute ({ 0, 3, 1, 2 });
  return normalize_unit (model, x.to (torch::kFloat).div (255.0));
}

torch::Tensor
normalize_unit (DermModel *model, const torch::Tensor &x01)
{
  // Made once, not per batch: a blocking copy to CUDA waits for the GPU.
  if (!model->mean_t.defined () || !model->std_t.defined ())
    {
      auto opts = torch::TensorOptions ().dtype (torch::kFloat).device (model->device);
      model->mean_t = torch::tensor ({ model->mean[0], model->mean[1], model->mean[2] }).to (opts).view ({ 1, 3, 1, 1 });
      model->std_t = torch::tensor ({ model->std[0], model->std[1], model->std[2] }).to (opts).view ({ 1, 3, 1, 1 });
    }
  auto x = x01.to (model->device).sub (model->mean_t).div (model->std_t);
  // A permuted NHWC buffer already is channels_last: kept so where the
  // device's format is channels_last.
  return x.contiguous (memory_format (model->device));
}

torch::Tensor
preprocess (DermModel *model, const DermImage *const *images, int n)
{
  const int s = model->input_size;
  auto batch = torch::empty ({ n, s, s, 3 }, torch::kByte);
  guint8 *dst = batch.data_ptr<guint8> ();
  for (int i = 0; i < n; i++)
    {
      check_image (images[i], i);
      g_autoptr (DermImage) p = prepare_image (model, images[i], s);
      memcpy (dst + (gsize) i * s * s * 3, p->data, (gsize) s * s * 3);
    }
  return normalize_batch (model, model->device.is_cuda () ? batch.pin_memory () : batch);
}

// The 8 symmetries of the square: k = 0..3 rotations, + 4 with a flip.
static torch::Tensor
dihedral (const torch::Tensor &x, int k)
{
  auto y = k >= 4 ? x.flip ({ 3 }) : x;
  return (k % 4) ? torch::rot90 (y, k % 4, { 2, 3 }) : y;
}

static torch::Tensor
dihedral_inverse (const torch::Tensor &y, int k)
{
  auto x = (k % 4) ? torch::rot90 (y, -(k % 4), { 2, 3 }) : y;
  return k >= 4 ? x.flip ({ 3 }) : x;
}

void
set_net_context (DermModel *model, int start, int n)
{
  if (model->context == 0)
    return;
  auto net = std::dynamic_pointer_cast<ResNetNet> (model->net);
  const auto &rows = model->patients;
  if (!rows.defined () || rows.size (0) == 1)
    net->set_context (rows);
  else if (start + n <= rows.size (0))
    net->set_context (rows.narrow (0, start, n));
  else
    fail (DERM_ERROR_MISMATCH, _("%lld patient contexts were given for more images"),
          (long long) rows.size (0));
}

torch::Tensor
run_net (DermModel *model, const torch::Tensor &x)
{
  wait_for_foreground (model->device, nullptr);
  if (model->device.is_cuda ())
    {
      // A captured graph has no context input.
      if (x.size (0) == 1 && !model->inference_bf16 && model->context == 0)
        {
          auto y = cuda_graph_forward (model, x);
          if (y.defined ())
            return y.clone ();
        }
      if (!model->inference_bf16)
        return model->net->forward (x);
    }
  // bf16 on CUDA when the model asks for it, on the CPU when the policy does.
  Autocast autocast (model->device, true);
  if (autocast.kind == 0)
    return model->net->forward (x);
  return model->net->forward (x.contiguous (memory_format (model->device))).to (torch::kFloat);
}

// Classifier outputs for @n images: logits (averaged over TTA) or
// probabilities (softmax(logits / T), averaged over TTA).
static void
classify_into (DermModel *model, const DermImage *const *images, int n, bool tta, bool probs,
               float *out)
{
  if (derm_arch_task (model->arch) != DERM_TASK_CLASSIFY)
    fail (DERM_ERROR_INVALID, _("This is a segmentation model; it cannot classify"));
  if (n < 0 || (n > 0 && (images == nullptr || out == nullptr)))
    fail (DERM_ERROR_INVALID, _("No images were given"));
  torch::NoGradGuard no_grad;
  model->net->eval ();
  const int c = model->num_classes;
  if (model->context != 0 && model->patients.defined () && model->patients.size (0) != 1
      && model->patients.size (0) != n)
    fail (DERM_ERROR_MISMATCH, _("%lld patient contexts were given for %d images"),
          (long long) model->patients.size (0), n);
  for (int start = 0; start < n; start += CHUNK)
    {
      int m = std::min (CHUNK, n - start);
      auto x = preprocess (model, images + start, m);
      set_net_context (model, start, m);
      torch::Tensor acc;
      int views = tta ? 8 : 1;
      for (int k = 0; k < views; k++)
        {
          auto logits = run_net (model, dihedral (x, k)).to (torch::kFloat);
          auto v = probs ? torch::softmax (logits / model->temperature, 1) : logits;
          acc = k == 0 ? v : acc + v;
        }
      acc = (acc / views).to (torch::kCPU).contiguous ();
      memcpy (out + (gsize) start * c, acc.data_ptr<float> (), sizeof (float) * m * c);
    }
}

static std::vector<DermImage *>
segment_into (DermModel *model, const DermImage *const *images, int n, bool tta)
{
  if (model->arch != DERM_ARCH_UNET)
    fail (DERM_ERROR_INVALID, _("This is a classification model; segmentation needs a U-Net"));
  torch::NoGradGuard no_grad;
  model->net->eval ();
  std::vector<DermImage *> masks;
  try
    {
      for (int start = 0; start < n; start += CHUNK)
        {
          int m = std::min (CHUNK, n - start);
          auto x = preprocess (model, images + start, m);
          torch::Tensor acc;
          int views = tta ? 8 : 1;
          for (int k = 0; k < views; k++)
            {
              auto p = torch::sigmoid (run_net (model, dihedral (x, k)).to (torch::kFloat));
              p = dihedral_inverse (p, k);
              acc = k == 0 ? p : acc + p;
            }
          acc = acc / views;
          for (int i = 0; i < m; i++)
            {
              const DermImage *img = images[start + i];
              auto p = torch::upsample_bilinear2d (acc.narrow (0, i, 1), { img->height, img->width },
                                                   /*align_corners=*/false);
              auto bytes = p.mul (255.0).round ().clamp (0, 255).to (torch::kByte).to (torch::kCPU).contiguous ();
              GError *err = nullptr;
              DermImage *mask = derm_image_new (img->width, img->height, 1, &err);
              if (mask == nullptr)
                {
                  std::string msg = err->message;
                  g_error_free (err);
                  fail (DERM_ERROR_OUT_OF_MEMORY, "%s", msg.c_str ());
                }
              memcpy (mask->data, bytes.data_ptr<guint8> (), (gsize) img->width * img->height);
              masks.push_back (mask);
            }
        }
    }
  catch (...)
    {
      for (auto *m : masks)
        derm_image_free (m);
      throw;
    }
  return masks;
}

} // namespace derm

extern "C" {

gboolean
derm_model_classify (DermModel *model, const DermImage *image, gboolean tta, float *probs, GError **error)
{
  try
    {
      derm::classify_into (model, &image, 1, tta, true, probs);
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_model_classify_batch (DermModel *model, const DermImage *const *images, int n, gboolean tta,
                           float *probs, GError **error)
{
  try
    {
      derm::classify_into (model, images, n, tta, true, probs);
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_model_logits_batch (DermModel *model, const DermImage *const *images, int n, gboolean tta,
                         float *logits, GError **error)
{
  try
    {
      derm::classify_into (model, images, n, tta, false, logits);
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

DermImage *
derm_model_segment (DermModel *model, const DermImage *image, gboolean tta, GError **error)
{
  try
    {
      auto masks = derm::segment_into (model, &image, 1, tta);
      return masks[0];
    }
  DERM_CATCH (error, nullptr)
}

DermImage **
derm_model_segment_batch (DermModel *model, const DermImage *const *images, int n, gboolean tta,
                          GError **error)
{
  try
    {
      if (n <= 0 || images == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No images were given"));
      auto masks = derm::segment_into (model, images, n, tta);
      DermImage **out = g_new0 (DermImage *, n);
      for (int i = 0; i < n; i++)
        out[i] = masks[i];
      return out;
    }
  DERM_CATCH (error, nullptr)
}

DermImage *
derm_model_gradcam (DermModel *model, const DermImage *image, int class_index, GError **error)
{
  try
    {
      auto net = std::dynamic_pointer_cast<derm::ResNetNet> (model->net);
      if (!net)
        derm::fail (DERM_ERROR_INVALID, _("Grad-CAM needs a ResNet classifier"));
      if (class_index < 0 || class_index >= model->num_classes)
        derm::fail (DERM_ERROR_INVALID, _("Class %d does not exist (the model has %d classes)"), class_index,
                    model->num_classes);
      torch::AutoGradMode grad (true);
      model->net->eval ();
      auto x = derm::preprocess (model, &image, 1);
      derm::set_net_context (model, 0, 1);
      torch::Tensor feats, grads;
      {
        // The backbone as inference runs it (bf16 where the policy says);
        // the head and its gradient in fp32, as it is cheap.
        torch::NoGradGuard no_grad;
        derm::Autocast autocast (model->device, model->inference_bf16 || !model->device.is_cuda ());
        feats = net->features (x);
      }
      feats = feats.to (torch::kFloat).detach ().requires_grad_ (true);
      auto logits = net->head (feats);
      auto score = logits.select (1, class_index).sum ();
      grads = torch::autograd::grad ({ score }, { feats })[0];
      torch::NoGradGuard no_grad;
      auto weights = grads.mean ({ 2, 3 }, true);
      auto cam = torch::relu ((weights * feats).sum (1, true));
      cam = torch::upsample_bilinear2d (cam, { image->height, image->width }, false);
      auto mx = cam.max ();
      cam = torch::where (mx > 0, cam / mx.clamp_min (1e-12), torch::zeros_like (cam));
      auto bytes = cam.mul (255.0).round ().clamp (0, 255).to (torch::kByte).to (torch::kCPU).contiguous ();
      GError *err = nullptr;
      DermImage *out = derm_image_new (image->width, image->height, 1, &err);
      if (out == nullptr)
        {
          g_propagate_error (error, err);
          return nullptr;
        }
      memcpy (out->data, bytes.data_ptr<guint8> (), (gsize) image->width * image->height);
      return out;
    }
  DERM_CATCH (error, nullptr)
}

DermImage *
derm_model_prepare_image (DermModel *model, const DermImage *image, int size, GError **error)
{
  try
    {
      return derm::prepare_image (model, image, size);
    }
  DERM_CATCH (error, nullptr)
}

void
derm_model_set_inference_bf16 (DermModel *model, gboolean enabled)
{
  model->inference_bf16 = enabled;
}

} // extern "C"
