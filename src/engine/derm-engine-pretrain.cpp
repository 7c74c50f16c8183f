/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-pretrain.cpp: self-supervised pretraining of a classifier's
// ResNet backbone with SimSiam (Chen & He, CVPR 2021): two augmented views of
// each image, a projector and a predictor, the negative cosine between one
// view's prediction and the other's projection (stop-gradient), symmetrised.
// No labels, no negative pairs, no momentum encoder: it trains with the
// batches a CPU or one GPU allows.
#include "config.h"

#include <cmath>
#include <cstring>

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace nn = torch::nn;

namespace derm {

// The projector (3 layers, the last BatchNorm without affine parameters)
// and the predictor (a bottleneck of a quarter of the width).
struct SimSiamHeads : nn::Module
{
  nn::Sequential projector{ nullptr }, predictor{ nullptr };

  SimSiamHeads (int in, int dim)
  {
    projector = register_module (
      "proj", nn::Sequential (nn::Linear (nn::LinearOptions (in, dim).bias (false)), nn::BatchNorm1d (dim),
                              nn::ReLU (), nn::Linear (nn::LinearOptions (dim, dim).bias (false)),
                              nn::BatchNorm1d (dim), nn::ReLU (),
                              nn::Linear (nn::LinearOptions (dim, dim).bias (false)),
                              nn::BatchNorm1d (nn::BatchNormOptions (dim).affine (false))));
    const int hidden = std::max (dim / 4, 16);
    predictor = register_module (
      "pred", nn::Sequential (nn::Linear (nn::LinearOptions (dim, hidden).bias (false)),
                              nn::BatchNorm1d (hidden), nn::ReLU (), nn::Linear (hidden, dim)));
  }
};

} // namespace derm

struct DermPretrainer
{
  DermModel *model = nullptr;
  std::shared_ptr<derm::ResNetNet> net;
  std::shared_ptr<derm::SimSiamHeads> heads;
  DermPretrainConfig config = {};
  std::unique_ptr<torch::optim::SGD> optimizer;
  gint64 global_step = 0;
  int epochs_done = 0;
};

namespace derm {

// Group 0 (backbone and projector) follows the cosine schedule after a
// linear warm-up; group 1 (the predictor) keeps the peak rate, as SimSiam's
// authors found best.
static double
pretrain_lr (const DermPretrainConfig &c, gint64 step)
{
  if (c.warmup_steps > 0 && step < c.warmup_steps)
    return c.lr * (0.01 + 0.99 * (double) step / c.warmup_steps);
  if (c.total_steps <= c.warmup_steps)
    return c.lr;
  double t = (double) (step - c.warmup_steps) / (double) (c.total_steps - c.warmup_steps);
  t = std::min (1.0, std::max (0.0, t));
  return c.lr * 0.5 * (1.0 + std::cos (M_PI * t));
}

static torch::Tensor
negative_cosine (const torch::Tensor &p, const torch::Tensor &z)
{
  return -torch::cosine_similarity (p, z.detach (), 1).mean ();
}

// The spread of the projections: the standard deviation over the batch of
// the l2-normalised z, averaged over its dimensions. A collapsed
// representation gives 0; a healthy one about 1 / sqrt(dim).
static double
projection_spread (const torch::Tensor &z)
{
  torch::NoGradGuard no_grad;
  auto zn = torch::nn::functional::normalize (z.to (torch::kFloat),
                                              torch::nn::functional::NormalizeFuncOptions ().dim (1));
  return zn.std (0).mean ().item<double> ();
}

static std::vector<std::pair<std::string, torch::Tensor>>
heads_state (DermPretrainer *p)
{
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto &kv : p->heads->named_parameters (true))
    out.emplace_back (kv.key (), kv.value ());
  for (const auto &kv : p->heads->named_buffers (true))
    out.emplace_back (kv.key (), kv.value ());
  return out;
}

} // namespace derm

extern "C" {

DermPretrainer *
derm_pretrainer_new (DermModel *model, const DermPretrainConfig *config, GError **error)
{
  try
    {
      if (model == nullptr || config == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No model or configuration was given"));
      auto net = std::dynamic_pointer_cast<derm::ResNetNet> (model->net);
      if (!net || model->members > 1)
        derm::fail (DERM_ERROR_INVALID, _("Self-supervised pretraining takes one ResNet classifier"));
      if (!(config->lr > 0) || !std::isfinite (config->lr) || config->weight_decay < 0
          || config->total_steps < 0 || config->warmup_steps < 0)
        derm::fail (DERM_ERROR_INVALID, _("The pretraining's learning rate, weight decay and steps "
                                          "must be positive"));
      auto p = std::make_unique<DermPretrainer> ();
      p->model = model;
      p->net = net;
      p->config = *config;
      torch::manual_seed (config->seed);
      const int features = model->arch == DERM_ARCH_RESNET50 ? 2048 : 512;
      const int dim = config->dim > 0 ? config->dim : features;
      if (dim < 16 || dim > 8192)
        derm::fail (DERM_ERROR_INVALID, _("The projection width must be between 16 and 8192, not %d"), dim);
      p->heads = std::make_shared<derm::SimSiamHeads> (features, dim);
      p->heads->to (model->device);
      std::vector<torch::Tensor> main, pred;
      for (auto &t : model->net->parameters (true))
        main.push_back (t);
      for (auto &t : p->heads->projector->parameters (true))
        main.push_back (t);
      for (auto &t : p->heads->predictor->parameters (true))
        pred.push_back (t);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back (main);
      groups.emplace_back (pred);
      p->optimizer = std::make_unique<torch::optim::SGD> (
        groups, torch::optim::SGDOptions (config->lr).momentum (0.9).weight_decay (config->weight_decay));
      return p.release ();
    }
  DERM_CATCH (error, nullptr)
}

void
derm_pretrainer_free (DermPretrainer *pretrainer)
{
  try
    {
      delete pretrainer;
    }
  catch (...)
    {
    }
}

int
derm_pretrainer_get_epoch (DermPretrainer *pretrainer)
{
  return pretrainer->epochs_done;
}

gboolean
derm_pretrainer_run_epoch (DermPretrainer *p, int epoch, DermDeviceCache *cache, const guint *order,
                           guint n, int batch, guint64 seed, const DermAugmentConfig *augment,
                           DermProgressFunc progress, gpointer progress_data,
                           const volatile gint *cancel, double *mean_loss, double *spread,
                           GError **error)
{
  try
    {
      if (p == nullptr || cache == nullptr || order == nullptr || n == 0 || n > G_MAXINT || batch < 2
          || augment == nullptr)
        derm::fail (DERM_ERROR_INVALID, _("No pretrainer, image cache, batch order or augmentation was given"));
      DermModel *m = p->model;
      derm::check_model_device (m, cache);
      derm::CancelScope cancel_scope (cancel);
      const int steps = derm_batches_per_epoch (n, batch, TRUE);
      auto order_dev = derm::device_indices (cache, order, (int) n);
      m->net->train ();
      p->heads->train ();
      torch::Tensor loss_sum = torch::zeros ({}, torch::TensorOptions ().device (m->device));
      double last_spread = NAN;
      gint64 start = g_get_monotonic_time ();
      for (int b = 0; b < steps; b++)
        {
          derm::wait_for_foreground (m->device, cancel);
          if (cancel != nullptr && g_atomic_int_get (cancel))
            {
              m->net->eval ();
              derm::fail_cancelled (_("Pretraining was cancelled"));
            }
          const double lr = derm::pretrain_lr (p->config, p->global_step);
          p->optimizer->param_groups ()[0].options ().set_lr (lr);
          p->optimizer->param_groups ()[1].options ().set_lr (p->config.lr);
          auto idx = order_dev.narrow (0, (int64_t) b * batch, batch);
          // Two views of each image: two independent draws of the augmentation.
          torch::Tensor x1, x2;
          {
            torch::NoGradGuard no_grad;
            derm::device_batch (cache, idx, augment, seed, epoch, 2 * b, &x1, nullptr);
            derm::device_batch (cache, idx, augment, seed, epoch, 2 * b + 1, &x2, nullptr);
          }
          auto x = torch::cat ({ derm::normalize_unit (m, x1), derm::normalize_unit (m, x2) }, 0);
          torch::Tensor f;
          {
            derm::Autocast autocast (m->device, p->config.mixed_precision);
            f = p->net->features (autocast.kind == 2 ? x.contiguous (derm::memory_format (m->device)) : x);
          }
          f = torch::flatten (torch::adaptive_avg_pool2d (f.to (torch::kFloat), { 1, 1 }), 1);
          // The views go through the heads separately: BatchNorm sees one view per batch.
          auto fv = f.chunk (2, 0);
          auto z1 = p->heads->projector->forward (fv[0]);
          auto z2 = p->heads->projector->forward (fv[1]);
          auto p1 = p->heads->predictor->forward (z1);
          auto p2 = p->heads->predictor->forward (z2);
          auto loss = 0.5 * derm::negative_cosine (p1, z2) + 0.5 * derm::negative_cosine (p2, z1);
          p->optimizer->zero_grad ();
          loss.backward ();
          p->optimizer->step ();
          p->global_step++;
          loss_sum += loss.detach ();
          if (b == steps - 1 || b % 20 == 0)
            last_spread = derm::projection_spread (z1);
          if (progress != nullptr)
            {
              DermTrainProgress pr = {};
              pr.epoch = epoch;
              pr.step = b + 1;
              pr.steps_in_epoch = steps;
              pr.global_step = p->global_step;
              pr.loss = loss_sum.item<double> () / (b + 1);
              double secs = (g_get_monotonic_time () - start) / 1e6;
              pr.images_per_second = secs > 0 ? (double) (b + 1) * batch / secs : 0.0;
              pr.lr = lr;
              progress (&pr, progress_data);
            }
        }
      m->net->eval ();
      p->heads->eval ();
      double mean = steps > 0 ? loss_sum.item<double> () / steps : 0.0;
      if (!std::isfinite (mean))
        derm::fail (DERM_ERROR_FAILED, _("The pretraining loss is no longer a number (it diverged); lower "
                                         "the learning rate"));
      if (mean_loss)
        *mean_loss = mean;
      if (spread)
        *spread = last_spread;
      p->epochs_done = epoch + 1;
      return TRUE;
    }
  catch (...)
    {
      if (p)
        p->model->net->eval ();
      derm::set_error_from_exception (error);
      return FALSE;
    }
}

gboolean
derm_pretrainer_save_checkpoint (DermPretrainer *p, const char *path, GError **error)
{
  try
    {
      std::vector<std::pair<std::string, torch::Tensor>> named;
      for (auto &kv : derm::named_state (p->model))
        named.emplace_back ("model." + kv.first, kv.second);
      for (auto &kv : derm::heads_state (p))
        named.emplace_back ("heads." + kv.first, kv.second);
      named.emplace_back ("optimizer", derm::optimizer_to_blob (*p->optimizer));
      std::map<std::string, std::string> md = p->model->metadata;
      md["checkpoint.kind"] = "pretrain";
      md["checkpoint.global_step"] = std::to_string (p->global_step);
      md["checkpoint.epoch"] = std::to_string (p->epochs_done);
      return derm::write_state (path, named, md, error);
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_pretrainer_load_checkpoint (DermPretrainer *p, const char *path, GError **error)
{
  try
    {
      g_autoptr (DermSafetensors) st = derm_safetensors_open (path, error);
      if (st == nullptr)
        return FALSE;
      GHashTable *md = derm_safetensors_get_metadata (st);
      const char *kind = (const char *) g_hash_table_lookup (md, "checkpoint.kind");
      const char *step = (const char *) g_hash_table_lookup (md, "checkpoint.global_step");
      const char *epoch = (const char *) g_hash_table_lookup (md, "checkpoint.epoch");
      const DermStTensor *blob = derm_safetensors_lookup (st, "optimizer");
      if (g_strcmp0 (kind, "pretrain") != 0 || step == nullptr || epoch == nullptr || blob == nullptr
          || blob->dtype != DERM_ST_U8)
        derm::fail (DERM_ERROR_FORMAT, _("%s is not a Dermalens pretraining checkpoint"), path);
      const char *arch = (const char *) g_hash_table_lookup (md, "architecture");
      if (g_strcmp0 (arch, derm_arch_name (p->model->arch)) != 0)
        derm::fail (DERM_ERROR_MISMATCH, _("%s holds a %s model, this job pretrains %s"), path,
                    arch ? arch : "?", derm_arch_name (p->model->arch));
      const gint64 gs = derm::checkpoint_count (step, G_MAXINT64, path, "step");
      const gint64 ep = derm::checkpoint_count (epoch, G_MAXINT, path, "epoch");
      // The heads: checked whole before anything is copied.
      torch::NoGradGuard no_grad;
      std::vector<std::pair<torch::Tensor, const DermStTensor *>> plan;
      for (auto &kv : derm::heads_state (p))
        {
          const std::string name = "heads." + kv.first;
          const DermStTensor *t = derm_safetensors_lookup (st, name.c_str ());
          std::vector<int64_t> want = kv.second.sizes ().vec ();
          if (t == nullptr || std::vector<int64_t> (t->shape, t->shape + t->ndim) != want)
            derm::fail (DERM_ERROR_MISMATCH, _("%s has no tensor “%s” of shape %s (another projection width?)"),
                        path, name.c_str (), derm::shape_string (want).c_str ());
          plan.emplace_back (kv.second, t);
        }
      torch::serialize::InputArchive archive;
      derm::optimizer_archive_from_blob (blob, p->model->device, archive);
      derm::copy_weights (p->model, st, path, "model.", false);
      for (auto &pl : plan)
        pl.first.copy_ (derm::st_to_tensor (pl.second).to (pl.first.device ()));
      p->optimizer->load (archive);
      p->global_step = gs;
      p->epochs_done = (int) ep;
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

} // extern "C"
