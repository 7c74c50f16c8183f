/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-train.cpp: the training loop (optimizers, schedule, losses,
// fine-tuning modes, progress, cancel) and checkpoints.
#include "config.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace F = torch::nn::functional;

struct DermTrainer
{
  DermModel *model = nullptr;
  DermTrainConfig config = {};
  std::vector<float> class_weights;
  torch::Tensor class_weights_t;   // on the model's device, or undefined
  torch::Tensor loss_offsets_t;    // 1 x num_classes on the device, or undefined
  // The moving average: (the model's tensor, its average), every parameter
  // and buffer, in named_state () order; empty without ema_decay.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> ema;
  bool ema_swapped = false;        // the averages are in the model now
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::nn::Module *> frozen_bn;
  gint64 global_step = 0;
  int epochs_done = 0;
};

namespace derm {

static const char *
optimizer_name (DermOptimizer o)
{
  return o == DERM_OPTIMIZER_SGD ? "sgd" : "adamw";
}

static double
lr_at (const DermTrainConfig &c, gint64 step)
{
  if (c.warmup_steps > 0 && step < c.warmup_steps)
    return c.lr * (0.01 + 0.99 * (double) step / c.warmup_steps);
  if (c.total_steps <= c.warmup_steps)
    return c.lr;
  double t = (double) (step - c.warmup_steps) / (double) (c.total_steps - c.warmup_steps);
  t = std::min (1.0, std::max (0.0, t));
  return c.lr * 0.5 * (1.0 + std::cos (M_PI * t));
}

static void
set_lr (DermTrainer *tr, double lr)
{
  for (auto &group : tr->optimizer->param_groups ())
    group.options ().set_lr (lr);
}

// Trainable parameters per fine-tuning mode; BatchNorm layers of the frozen
// part stay in eval mode so their running statistics are kept.
static std::vector<torch::Tensor>
apply_finetune (DermTrainer *tr)
{
  DermModel *m = tr->model;
  const DermFinetune mode = tr->config.finetune;
  if (m->arch == DERM_ARCH_UNET && mode != DERM_FINETUNE_ALL)
    fail (DERM_ERROR_INVALID, _("Fine-tuning only the head or the last stage applies to ResNet classifiers; "
                                "train a U-Net with all layers"));
  auto trainable = [mode] (const std::string &name) {
    if (mode == DERM_FINETUNE_ALL)
      return true;
    // The head: fc and, for a model with patient context, the branch that feeds it.
    if (name.rfind ("fc.", 0) == 0 || name.rfind ("context.", 0) == 0)
      return true;
    return mode == DERM_FINETUNE_LAST && name.rfind ("layer4.", 0) == 0;
  };
  std::vector<torch::Tensor> params;
  for (auto &p : m->net->named_parameters (true))
    {
      bool on = trainable (p.key ());
      p.value ().set_requires_grad (on);
      if (on)
        params.push_back (p.value ());
    }
  tr->frozen_bn.clear ();
  for (auto &nm : m->net->named_modules ("", false))
    if (nm.value ()->as<torch::nn::BatchNorm2d> () && !trainable (nm.key () + ".weight"))
      tr->frozen_bn.push_back (nm.value ().get ());
  return params;
}

static void
set_train_mode (DermTrainer *tr)
{
  tr->model->net->train ();
  for (auto *bn : tr->frozen_bn)
    bn->eval ();
}

static void
validate_config (DermModel *m, const DermTrainConfig &c)
{
  if (!(c.lr > 0) || !std::isfinite (c.lr))
    fail (DERM_ERROR_INVALID, _("The learning rate must be positive"));
  if (c.weight_decay < 0 || !std::isfinite (c.weight_decay))
    fail (DERM_ERROR_INVALID, _("The weight decay must not be negative"));
  if (c.momentum < 0 || c.momentum >= 1)
    fail (DERM_ERROR_INVALID, _("The momentum must be in [0, 1)"));
  if (c.label_smoothing < 0 || c.label_smoothing >= 1)
    fail (DERM_ERROR_INVALID, _("Label smoothing must be in [0, 1)"));
  if (c.grad_clip < 0)
    fail (DERM_ERROR_INVALID, _("The gradient clipping norm must not be negative"));
  if (c.total_steps < 0 || c.warmup_steps < 0)
    fail (DERM_ERROR_INVALID, _("Step counts must not be negative"));
  bool seg = m->arch == DERM_ARCH_UNET;
  if (seg != (c.loss == DERM_LOSS_BCE_DICE))
    fail (DERM_ERROR_INVALID, seg ? _("A U-Net trains with the BCE + Dice loss")
                                  : _("A classifier trains with cross-entropy or focal loss"));
  if (c.optimizer != DERM_OPTIMIZER_ADAMW && c.optimizer != DERM_OPTIMIZER_SGD)
    fail (DERM_ERROR_INVALID, _("Unknown optimizer"));
  if (!(c.mixup_alpha >= 0) || !(c.cutmix_alpha >= 0) || !std::isfinite (c.mixup_alpha)
      || !std::isfinite (c.cutmix_alpha))
    fail (DERM_ERROR_INVALID, _("The mixup and cutmix strengths must not be negative"));
  if (seg && (c.mixup_alpha > 0 || c.cutmix_alpha > 0 || c.loss_logit_offsets != nullptr))
    fail (DERM_ERROR_INVALID, _("Mixup, cutmix and the logit-adjusted loss apply to classifiers, "
                                "not to a U-Net"));
  if (!(c.ema_decay >= 0 && c.ema_decay < 1))
    fail (DERM_ERROR_INVALID, _("The weight average's decay must be in [0, 1)"));
  if (!(c.context_dropout >= 0 && c.context_dropout <= 1))
    fail (DERM_ERROR_INVALID, _("The context dropout must be in [0, 1]"));
}

static torch::Tensor
compute_loss (DermTrainer *tr, const torch::Tensor &logits, const torch::Tensor &target)
{
  const DermTrainConfig &c = tr->config;
  const torch::Tensor out = tr->loss_offsets_t.defined () ? logits + tr->loss_offsets_t : logits;
  switch (c.loss)
    {
    case DERM_LOSS_CROSS_ENTROPY:
      {
        auto opts = F::CrossEntropyFuncOptions ().label_smoothing (c.label_smoothing);
        if (tr->class_weights_t.defined ())
          opts.weight (tr->class_weights_t);
        return F::cross_entropy (out, target, opts);
      }
    case DERM_LOSS_FOCAL:
      {
        const double gamma = c.focal_gamma > 0 ? c.focal_gamma : 2.0;
        auto logp = torch::log_softmax (out, 1);
        auto ce = -logp.gather (1, target.unsqueeze (1)).squeeze (1);
        auto pt = torch::exp (-ce);
        auto focal = torch::pow (1.0 - pt, gamma) * ce;
        if (tr->class_weights_t.defined ())
          {
            auto w = tr->class_weights_t.index_select (0, target);
            return (w * focal).sum () / w.sum ().clamp_min (1e-12);
          }
        return focal.mean ();
      }
    case DERM_LOSS_BCE_DICE:
      {
        auto bce = F::binary_cross_entropy_with_logits (out, target);
        auto p = torch::sigmoid (out);
        auto inter = (p * target).sum ({ 1, 2, 3 });
        auto denom = p.sum ({ 1, 2, 3 }) + target.sum ({ 1, 2, 3 });
        auto dice = (2.0 * inter + 1.0) / (denom + 1.0);
        return bce + (1.0 - dice).mean ();
      }
    }
  fail (DERM_ERROR_INVALID, _("Unknown loss"));
}

static void
check_batch (DermTrainer *tr, const DermBatch &b)
{
  if (b.n <= 0 || b.height <= 0 || b.width <= 0 || b.images == nullptr)
    fail (DERM_ERROR_INVALID, _("The batch is empty or has no images"));
  if ((guint64) b.height * b.width > DERM_IMAGE_MAX_PIXELS)
    fail (DERM_ERROR_INVALID, _("The batch images are too large"));
  if (tr->model->arch == DERM_ARCH_UNET)
    {
      if (b.masks == nullptr)
        fail (DERM_ERROR_INVALID, _("A segmentation batch needs masks"));
    }
  else
    {
      if (b.labels == nullptr)
        fail (DERM_ERROR_INVALID, _("A classification batch needs labels"));
      // Checked here: an out-of-range label on CUDA would be a device assert
      // that poisons the whole CUDA context.
      for (int i = 0; i < b.n; i++)
        if (b.labels[i] < 0 || b.labels[i] >= tr->model->num_classes)
          fail (DERM_ERROR_INVALID, _("Label %d of the batch is %d; the model has %d classes"), i,
                (int) b.labels[i], tr->model->num_classes);
    }
}

// clip_grad_norm_ with libtorch's arithmetic, without reading the norm back
// (libtorch's returns it as a double: a host synchronisation every step).
static void
clip_gradients (const std::vector<torch::Tensor> &params, double max_norm)
{
  std::vector<torch::Tensor> grads, norms;
  for (const auto &p : params)
    if (p.grad ().defined ())
      {
        grads.push_back (p.grad ());
        norms.push_back (p.grad ().norm (2));
      }
  if (grads.empty ())
    return;
  auto total = torch::stack (norms).norm (2);
  auto coef = (max_norm / (total + 1e-6)).clamp_max (1.0);
  for (auto &g : grads)
    g.mul_ (coef);
}

// Mixup or cutmix of a classification batch with a random permutation of
// itself: replaces @x, sets *@target_b to the partners' labels and returns
// the weight of the original labels (1: the batch is left as it was).
static double
mix_batch (DermTrainer *tr, torch::Tensor &x, const torch::Tensor &target, torch::Tensor *target_b,
           torch::Tensor *perm_out)
{
  const DermTrainConfig &c = tr->config;
  const bool mix = c.mixup_alpha > 0, cut = c.cutmix_alpha > 0;
  const int64_t n = x.size (0);
  if ((!mix && !cut) || n < 2)
    return 1.0;
  torch::NoGradGuard no_grad;
  // Seeded by (seed, step): a resumed run draws what an uninterrupted one would.
  std::mt19937_64 rng (c.seed * 0x9E3779B97F4A7C15ULL + 17
                       + (guint64) tr->global_step * 0xBF58476D1CE4E5B9ULL);
  std::uniform_real_distribution<double> uniform (0.0, 1.0);
  const bool use_cut = cut && (!mix || uniform (rng) < 0.5);
  const double alpha = use_cut ? c.cutmix_alpha : c.mixup_alpha;
  std::gamma_distribution<double> gamma (alpha, 1.0);
  const double ga = gamma (rng), gb = gamma (rng);
  double lam = ga + gb > 0 ? ga / (ga + gb) : 1.0;
  std::vector<int64_t> perm (n);
  std::iota (perm.begin (), perm.end (), 0);
  std::shuffle (perm.begin (), perm.end (), rng);
  auto perm_t = torch::tensor (perm).to (x.device ());
  auto partner = x.index_select (0, perm_t);
  *target_b = target.index_select (0, perm_t);
  *perm_out = perm_t;
  if (!use_cut)
    {
      x = x * lam + partner * (1.0 - lam);
      return lam;
    }
  // A box of area (1 - lam) around a uniform centre, clipped to the image;
  // lam is then the share of the original left.
  const int64_t h = x.size (2), w = x.size (3);
  const double r = std::sqrt (1.0 - lam);
  const int64_t bh = (int64_t) (h * r), bw = (int64_t) (w * r);
  std::uniform_int_distribution<int64_t> cy_d (0, h - 1), cx_d (0, w - 1);
  const int64_t cy = cy_d (rng), cx = cx_d (rng);
  const int64_t y0 = std::max<int64_t> (0, cy - bh / 2), y1 = std::min<int64_t> (h, cy + bh / 2);
  const int64_t x0 = std::max<int64_t> (0, cx - bw / 2), x1 = std::min<int64_t> (w, cx + bw / 2);
  if (y1 <= y0 || x1 <= x0)
    return 1.0;
  x = x.clone ();
  x.narrow (2, y0, y1 - y0).narrow (3, x0, x1 - x0)
    .copy_ (partner.narrow (2, y0, y1 - y0).narrow (3, x0, x1 - x0));
  return 1.0 - (double) ((y1 - y0) * (x1 - x0)) / (double) (h * w);
}

// After each step: average += (1 - decay) * (weight - average), with the
// decay warmed up so the first steps' random weights fade fast.
static void
ema_update (DermTrainer *tr)
{
  if (tr->ema.empty ())
    return;
  torch::NoGradGuard no_grad;
  const double t = (double) tr->global_step;
  const double decay = std::min (tr->config.ema_decay, (1.0 + t) / (10.0 + t));
  for (auto &e : tr->ema)
    {
      if (e.second.is_floating_point ())
        e.second.lerp_ (e.first, 1.0 - decay);
      else
        e.second.copy_ (e.first);
    }
}

// Context dropout: each field of each row made unknown with probability
// p, all of a row's fields with p / 2. Seeded by (seed, step), as mixing is.
static torch::Tensor
drop_context (DermTrainer *tr, torch::Tensor rows)
{
  const double p = tr->config.context_dropout;
  if (!rows.defined () || p <= 0)
    return rows;
  const int64_t n = rows.size (0);
  std::mt19937_64 rng (tr->config.seed * 0xD1B54A32D192ED03ULL + 29
                       + (guint64) tr->global_step * 0x94D049BB133111EBULL);
  std::uniform_real_distribution<double> uniform (0.0, 1.0);
  std::vector<char> all (n);
  for (int64_t i = 0; i < n; i++)
    all[i] = uniform (rng) < p / 2;
  for (DermPatientField f : { DERM_PATIENT_AGE, DERM_PATIENT_SEX, DERM_PATIENT_SITE })
    {
      auto which = torch::empty ({ n }, torch::kBool);
      bool *w = which.data_ptr<bool> ();
      for (int64_t i = 0; i < n; i++)
        w[i] = all[i] || uniform (rng) < p;
      rows = with_unknown (rows, f, which.to (rows.device ()));
    }
  return rows;
}

// One optimisation step on a normalised batch (with the batch's encoded
// patient context @ctx for a model that takes it, or undefined); returns
// the loss (a 0-dim tensor on the device, not read back).
static torch::Tensor
train_step_tensors (DermTrainer *tr, const torch::Tensor &x_in, const torch::Tensor &target,
                    const torch::Tensor &ctx = torch::Tensor ())
{
  DermModel *m = tr->model;
  if (tr->ema_swapped)
    fail (DERM_ERROR_INVALID, _("The weight average is swapped in: swap it back before training"));
  set_lr (tr, lr_at (tr->config, tr->global_step));
  torch::Tensor x = x_in, target_b, perm;
  const double lam = m->arch == DERM_ARCH_UNET ? 1.0 : mix_batch (tr, x, target, &target_b, &perm);
  if (m->context != 0)
    {
      torch::NoGradGuard no_grad;
      auto rows = drop_context (tr, ctx);
      // A mixed image's context is mixed in the same proportion.
      if (rows.defined () && lam < 1.0)
        rows = rows * lam + rows.index_select (0, perm) * (1.0 - lam);
      std::dynamic_pointer_cast<ResNetNet> (m->net)->set_context (rows);
    }
  torch::Tensor out;
  {
    Autocast autocast (m->device, tr->config.mixed_precision);
    out = m->net->forward (autocast.kind == 2 ? x.contiguous (memory_format (m->device)) : x);
  }

  out = out.to (torch::kFloat);
  auto loss = compute_loss (tr, out, target);
  if (lam < 1.0)
    loss = loss * lam + compute_loss (tr, out, target_b) * (1.0 - lam);
  tr->optimizer->zero_grad ();
  loss.backward ();
  if (tr->config.grad_clip > 0)
    clip_gradients (tr->optimizer->param_groups ()[0].params (), tr->config.grad_clip);
  tr->optimizer->step ();
  tr->global_step++;
  ema_update (tr);
  return loss.detach ();
}

// One optimisation step on a batch from C.
static torch::Tensor
train_step (DermTrainer *tr, const DermBatch &b)
{
  DermModel *m = tr->model;
  check_batch (tr, b);

  auto images = torch::from_blob ((void *) b.images, { b.n, b.height, b.width, 3 }, torch::kByte);
  auto x = normalize_batch (m, images);
  torch::Tensor target;
  if (m->arch == DERM_ARCH_UNET)
    target = torch::from_blob ((void *) b.masks, { b.n, 1, b.height, b.width }, torch::kByte)
               .to (m->device)
               .gt (0)
               .to (torch::kFloat);
  else
    target = torch::from_blob ((void *) b.labels, { b.n }, torch::kInt).to (m->device).to (torch::kLong);
  auto ctx = encode_patients (b.patients, b.n, m->context);
  return train_step_tensors (tr, x, target, ctx.defined () ? ctx.to (m->device) : ctx);
}

// The epoch loop shared by both data paths. @next (n, &loss) runs the next
// step and returns false at the end of the epoch; it may throw.
template <typename Next>
static double
run_epoch_loop (DermTrainer *tr, int epoch, int steps_in_epoch, Next next, DermProgressFunc progress,
                gpointer progress_data, const volatile gint *cancel, double *mean_loss)
{
  // On CUDA the loss is read back every few steps only: each read waits for
  // the GPU to finish.
  const int sync_every = tr->model->device.is_cuda () ? 10 : 1;
  CancelScope cancel_scope (cancel);
  double loss_mean = 0.0;
  set_train_mode (tr);
  torch::Tensor loss_sum = torch::zeros ({}, torch::TensorOptions ().device (tr->model->device));
  gint64 start = g_get_monotonic_time ();
  gint64 images = 0;
  int step = 0;
  while (true)
    {
      wait_for_foreground (tr->model->device, cancel);
      if (cancel != nullptr && g_atomic_int_get (cancel))
        {
          if (step > 0)
            loss_mean = loss_sum.item<double> () / step;
          if (mean_loss)
            *mean_loss = loss_mean;
          fail_cancelled (_("Training was cancelled"));
        }
      int n = 0;
      torch::Tensor loss;
      if (!next (&n, &loss))
        break;
      loss_sum += loss;
      step++;
      images += n;
      if (step % sync_every == 0)
        loss_mean = loss_sum.item<double> () / step;
      if (progress != nullptr)
        {
          DermTrainProgress p = {};
          p.epoch = epoch;
          p.step = step;
          p.steps_in_epoch = steps_in_epoch;
          p.global_step = tr->global_step;
          p.loss = loss_mean;
          double secs = (g_get_monotonic_time () - start) / 1e6;
          p.images_per_second = secs > 0 ? images / secs : 0.0;
          p.lr = lr_at (tr->config, tr->global_step - 1);
          progress (&p, progress_data);
        }
    }
  if (step > 0)
    loss_mean = loss_sum.item<double> () / step;
  if (mean_loss)
    *mean_loss = loss_mean;
  if (!std::isfinite (loss_mean))
    fail (DERM_ERROR_FAILED, _("The training loss is no longer a number (it diverged); lower the learning rate"));
  tr->epochs_done = epoch + 1;
  tr->model->net->eval ();
  return loss_mean;
}

torch::Tensor
optimizer_to_blob (torch::optim::Optimizer &optimizer)
{
  torch::serialize::OutputArchive archive;
  optimizer.save (archive);
  std::ostringstream os;
  archive.save_to (os);
  std::string bytes = os.str ();
  auto blob = torch::empty ({ (int64_t) bytes.size () }, torch::kByte);
  memcpy (blob.data_ptr (), bytes.data (), bytes.size ());
  return blob;
}

void
optimizer_archive_from_blob (const DermStTensor *blob, const torch::Device &device,
                             torch::serialize::InputArchive &archive)
{
  std::string bytes ((const char *) blob->data, blob->nbytes);
  std::istringstream is (bytes);
  archive.load_from (is, device);
}

gint64
checkpoint_count (const char *value, gint64 max, const char *path, const char *what)
{
  char *end = nullptr;
  gint64 n = g_ascii_strtoll (value, &end, 10);
  if (end == value || *end != '\0' || n < 0 || n > max)
    fail (DERM_ERROR_FORMAT, g_str_equal (what, "step") ? _("%s has an invalid step count")
                                                        : _("%s has an invalid epoch count"), path);
  return n;
}

} // namespace derm

extern "C" {

DermTrainer *
derm_trainer_new (DermModel *model, const DermTrainConfig *config, GError **error)
{
  try
    {
      if (model == nullptr || config == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No model or configuration was given"));
      if (model->members > 1)
        derm::fail (DERM_ERROR_UNSUPPORTED,
                    _("An ensemble is not trained as a whole: train its members, then assemble "
                      "them (train --folds)"));
      derm::validate_config (model, *config);
      auto tr = std::make_unique<DermTrainer> ();
      tr->model = model;
      tr->config = *config;
      if (config->class_weights != nullptr && model->arch != DERM_ARCH_UNET)
        {
          tr->class_weights.assign (config->class_weights, config->class_weights + model->num_classes);
          for (float w : tr->class_weights)
            if (!(w >= 0) || !std::isfinite (w))
              derm::fail (DERM_ERROR_INVALID, _("Class weights must be finite and not negative"));
          tr->class_weights_t = torch::tensor (tr->class_weights).to (model->device);
        }
      tr->config.class_weights = nullptr;   // not owned; the copy above is
      if (config->loss_logit_offsets != nullptr)
        {
          std::vector<float> off (config->loss_logit_offsets,
                                  config->loss_logit_offsets + model->num_classes);
          for (float o : off)
            if (!std::isfinite (o))
              derm::fail (DERM_ERROR_INVALID, _("The loss's logit offsets must be finite"));
          tr->loss_offsets_t = torch::tensor (off).view ({ 1, model->num_classes }).to (model->device);
        }
      tr->config.loss_logit_offsets = nullptr;
      torch::manual_seed (config->seed);
      if (config->ema_decay > 0)
        {
          torch::NoGradGuard no_grad;
          for (auto &kv : derm::named_state (model))
            tr->ema.emplace_back (kv.second, kv.second.detach ().clone ());
        }
      auto params = derm::apply_finetune (tr.get ());
      if (params.empty ())
        derm::fail (DERM_ERROR_INVALID, _("No layer is left to train"));
      if (config->optimizer == DERM_OPTIMIZER_SGD)
        tr->optimizer = std::make_unique<torch::optim::SGD> (
          params, torch::optim::SGDOptions (config->lr)
                    .momentum (config->momentum > 0 ? config->momentum : 0.9)
                    .nesterov (true)
                    .weight_decay (config->weight_decay));
      else
        tr->optimizer = std::make_unique<torch::optim::AdamW> (
          params, torch::optim::AdamWOptions (config->lr).weight_decay (config->weight_decay));
      if (model->device.is_cuda ())
        derm::cuda_configure ();
      return tr.release ();
    }
  DERM_CATCH (error, nullptr)
}

void
derm_trainer_free (DermTrainer *trainer)
{
  try
    {
      delete trainer;
    }
  catch (...)
    {
    }
}

gboolean
derm_trainer_run_epoch (DermTrainer *tr, int epoch, int steps_in_epoch, DermBatchFunc next,
                        gpointer batch_data, DermProgressFunc progress, gpointer progress_data,
                        const volatile gint *cancel, double *mean_loss, GError **error)
{
  GError *berr = nullptr;
  try
    {
      if (tr == nullptr || next == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No trainer or batch source was given"));
      auto step = [&] (int *n, torch::Tensor *loss) {
        DermBatch batch = {};
        if (!next (batch_data, &batch, &berr))
          {
            if (berr != nullptr)
              throw std::runtime_error ("batch source failed");
            return false;
          }
        *loss = derm::train_step (tr, batch);
        *n = batch.n;
        return true;
      };
      derm::run_epoch_loop (tr, epoch, steps_in_epoch, step, progress, progress_data, cancel, mean_loss);
      return TRUE;
    }
  catch (...)
    {
      if (tr)
        tr->model->net->eval ();
      if (berr != nullptr)
        g_propagate_error (error, berr);
      else
        derm::set_error_from_exception (error);
      return FALSE;
    }
}

gboolean
derm_trainer_run_epoch_cached (DermTrainer *tr, int epoch, DermDeviceCache *cache, const guint *order,
                               guint n, int batch, gboolean drop_last, guint64 seed,
                               const DermAugmentConfig *augment, DermProgressFunc progress,
                               gpointer progress_data, const volatile gint *cancel, double *mean_loss,
                               GError **error)
{
  try
    {
      if (tr == nullptr || cache == nullptr || order == nullptr || n == 0 || n > G_MAXINT || batch < 1)
        derm::fail (DERM_ERROR_INVALID, _("No trainer, image cache or batch order was given"));
      DermModel *m = tr->model;
      derm::check_model_device (m, cache);
      const bool seg = m->arch == DERM_ARCH_UNET;
      if (seg ? !cache->masks.defined () : !cache->labels.defined ())
        derm::fail (DERM_ERROR_INVALID, seg ? _("A segmentation batch needs masks")
                                            : _("A classification batch needs labels"));
      const int steps = derm_batches_per_epoch (n, batch, drop_last);
      // The whole epoch's order goes to the device at once.
      auto order_dev = derm::device_indices (cache, order, (int) n);
      int b = 0;
      auto step = [&] (int *count, torch::Tensor *loss) {
        if (b >= steps)
          return false;
        const int64_t first = (int64_t) b * batch;
        const int64_t nb = std::min<int64_t> (batch, (int64_t) n - first);
        auto idx = order_dev.narrow (0, first, nb);
        torch::Tensor x01, mask;
        {
          torch::NoGradGuard no_grad;
          derm::device_batch (cache, idx, augment, seed, epoch, b, &x01, seg ? &mask : nullptr);
        }
        auto target = seg ? mask : cache->labels.index_select (0, idx);
        *loss = derm::train_step_tensors (tr, derm::normalize_unit (m, x01), target,
                                          derm::context_for (m, cache, idx));
        *count = (int) nb;
        b++;
        return true;
      };
      derm::run_epoch_loop (tr, epoch, steps, step, progress, progress_data, cancel, mean_loss);
      return TRUE;
    }
  catch (...)
    {
      if (tr)
        tr->model->net->eval ();
      derm::set_error_from_exception (error);
      return FALSE;
    }
}

gint64
derm_trainer_get_global_step (DermTrainer *trainer)
{
  return trainer->global_step;
}

gboolean
derm_trainer_swap_ema (DermTrainer *tr)
{
  if (tr == nullptr || tr->ema.empty ())
    return FALSE;
  torch::NoGradGuard no_grad;
  for (auto &e : tr->ema)
    {
      auto held = e.first.clone ();
      e.first.copy_ (e.second);
      e.second.copy_ (held);
    }
  tr->ema_swapped = !tr->ema_swapped;
  return TRUE;
}

int
derm_trainer_get_epoch (DermTrainer *trainer)
{
  return trainer->epochs_done;
}

gboolean
derm_trainer_save_checkpoint (DermTrainer *tr, const char *path, GError **error)
{
  try
    {
      std::vector<std::pair<std::string, torch::Tensor>> named;
      auto state = derm::named_state (tr->model);
      for (size_t i = 0; i < state.size (); i++)
        {
          // The training weights under model., their average under ema.,
          // whichever of the two the model holds now.
          const bool swapped = tr->ema_swapped;
          named.emplace_back ("model." + state[i].first, swapped ? tr->ema[i].second : state[i].second);
          if (!tr->ema.empty ())
            named.emplace_back ("ema." + state[i].first, swapped ? state[i].second : tr->ema[i].second);
        }
      // The optimizer's state in libtorch's own archive format, as bytes.
      named.emplace_back ("optimizer", derm::optimizer_to_blob (*tr->optimizer));

      std::map<std::string, std::string> md = tr->model->metadata;
      md["checkpoint.global_step"] = std::to_string (tr->global_step);
      md["checkpoint.epoch"] = std::to_string (tr->epochs_done);
      md["checkpoint.optimizer"] = derm::optimizer_name (tr->config.optimizer);
      md["checkpoint.finetune"] = std::to_string ((int) tr->config.finetune);
      return derm::write_state (path, named, md, error);
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_trainer_load_checkpoint (DermTrainer *tr, const char *path, GError **error)
{
  try
    {
      g_autoptr (DermSafetensors) st = derm_safetensors_open (path, error);
      if (st == nullptr)
        return FALSE;
      GHashTable *md = derm_safetensors_get_metadata (st);
      const char *opt = (const char *) g_hash_table_lookup (md, "checkpoint.optimizer");
      const char *step = (const char *) g_hash_table_lookup (md, "checkpoint.global_step");
      const char *epoch = (const char *) g_hash_table_lookup (md, "checkpoint.epoch");
      const DermStTensor *blob = derm_safetensors_lookup (st, "optimizer");
      if (opt == nullptr || step == nullptr || epoch == nullptr || blob == nullptr || blob->dtype != DERM_ST_U8)
        derm::fail (DERM_ERROR_FORMAT, _("%s is not a Dermalens training checkpoint"), path);
      if (strcmp (opt, derm::optimizer_name (tr->config.optimizer)) != 0)
        derm::fail (DERM_ERROR_MISMATCH, _("%s was written by the %s optimizer, this job uses %s"), path, opt,
                    derm::optimizer_name (tr->config.optimizer));
      const char *arch = (const char *) g_hash_table_lookup (md, "architecture");
      if (g_strcmp0 (arch, derm_arch_name (tr->model->arch)) != 0)
        derm::fail (DERM_ERROR_MISMATCH, _("%s holds a %s model, this job trains %s"), path,
                    arch ? arch : "?", derm_arch_name (tr->model->arch));
      const gint64 gs = derm::checkpoint_count (step, G_MAXINT64, path, "step");
      const gint64 ep = derm::checkpoint_count (epoch, G_MAXINT, path, "epoch");

      // Read the optimizer state first: a bad archive then leaves the model untouched.
      torch::serialize::InputArchive archive;
      derm::optimizer_archive_from_blob (blob, tr->model->device, archive);
      if (tr->ema_swapped)
        derm_trainer_swap_ema (tr);
      derm::copy_weights (tr->model, st, path, "model.", false);
      tr->optimizer->load (archive);
      if (!tr->ema.empty ())
        {
          // A checkpoint without averages (written without --ema) starts
          // them from its weights.
          const std::string first = "ema." + derm::named_state (tr->model).front ().first;
          torch::NoGradGuard no_grad;
          for (auto &e : tr->ema)
            e.second.copy_ (e.first);
          if (derm_safetensors_lookup (st, first.c_str ()) != nullptr)
            {
              // copy_weights writes into the model: borrow it, then swap.
              derm_trainer_swap_ema (tr);
              derm::copy_weights (tr->model, st, path, "ema.", false);
              derm_trainer_swap_ema (tr);
            }
        }

      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, md);
      while (g_hash_table_iter_next (&it, &k, &v))
        if (!g_str_has_prefix ((const char *) k, "checkpoint."))
          tr->model->metadata[(const char *) k] = (const char *) v;
      derm::refresh_from_metadata (tr->model);
      tr->global_step = gs;
      tr->epochs_done = (int) ep;
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

} // extern "C"
