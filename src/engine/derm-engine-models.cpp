/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-models.cpp: ResNet-18/34/50 (torchvision's names and shapes),
// the U-Net, and a DermModel's life: creation, weight files, metadata, device.
#include "config.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "derm-classes.h"
#include "derm-engine-private.hpp"
#include "derm-safetensors.h"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace nn = torch::nn;

namespace derm {

// ---- ResNet (torchvision v1.5: stride on the 3x3 conv) -------------------

static nn::Conv2d
conv (int in, int out, int k, int stride, int pad)
{
  return nn::Conv2d (nn::Conv2dOptions (in, out, k).stride (stride).padding (pad).bias (false));
}

struct BasicBlockImpl : nn::Module
{
  nn::Conv2d conv1{ nullptr }, conv2{ nullptr };
  nn::BatchNorm2d bn1{ nullptr }, bn2{ nullptr };
  nn::Sequential downsample{ nullptr };

  BasicBlockImpl (int inplanes, int planes, int stride)
  {
    conv1 = register_module ("conv1", conv (inplanes, planes, 3, stride, 1));
    bn1 = register_module ("bn1", nn::BatchNorm2d (planes));
    conv2 = register_module ("conv2", conv (planes, planes, 3, 1, 1));
    bn2 = register_module ("bn2", nn::BatchNorm2d (planes));
    if (stride != 1 || inplanes != planes)
      downsample = register_module ("downsample",
                                    nn::Sequential (conv (inplanes, planes, 1, stride, 0),
                                                    nn::BatchNorm2d (planes)));
  }

  torch::Tensor
  forward (torch::Tensor x)
  {
    auto out = torch::relu (bn1 (conv1 (x)));
    out = bn2 (conv2 (out));
    auto identity = downsample ? downsample->forward (x) : x;
    return torch::relu (out + identity);
  }
};
TORCH_MODULE (BasicBlock);

struct BottleneckImpl : nn::Module
{
  nn::Conv2d conv1{ nullptr }, conv2{ nullptr }, conv3{ nullptr };
  nn::BatchNorm2d bn1{ nullptr }, bn2{ nullptr }, bn3{ nullptr };
  nn::Sequential downsample{ nullptr };

  BottleneckImpl (int inplanes, int planes, int stride)
  {
    conv1 = register_module ("conv1", conv (inplanes, planes, 1, 1, 0));
    bn1 = register_module ("bn1", nn::BatchNorm2d (planes));
    conv2 = register_module ("conv2", conv (planes, planes, 3, stride, 1));
    bn2 = register_module ("bn2", nn::BatchNorm2d (planes));
    conv3 = register_module ("conv3", conv (planes, planes * 4, 1, 1, 0));
    bn3 = register_module ("bn3", nn::BatchNorm2d (planes * 4));
    if (stride != 1 || inplanes != planes * 4)
      downsample = register_module ("downsample",
                                    nn::Sequential (conv (inplanes, planes * 4, 1, stride, 0),
                                                    nn::BatchNorm2d (planes * 4)));
  }

  torch::Tensor
  forward (torch::Tensor x)
  {
    auto out = torch::relu (bn1 (conv1 (x)));
    out = torch::relu (bn2 (conv2 (out)));
    out = bn3 (conv3 (out));
    auto identity = downsample ? downsample->forward (x) : x;
    return torch::relu (out + identity);
  }
};
TORCH_MODULE (Bottleneck);

struct ResNet : ResNetNet
{
  nn::Conv2d conv1{ nullptr };
  nn::BatchNorm2d bn1{ nullptr };
  nn::Sequential layer1{ nullptr }, layer2{ nullptr }, layer3{ nullptr }, layer4{ nullptr };
  nn::Linear fc{ nullptr };
  nn::Sequential context_net{ nullptr };   // patient context -> CONTEXT_WIDTH, or none
  torch::Tensor context_rows;              // see ResNetNet::set_context
  torch::Tensor unknown_row;               // 1 x DERM_PATIENT_DIM: every field unknown
  bool bottleneck;
  int inplanes = 64;

  ResNet (const int blocks[4], bool bottleneck_, int num_classes, bool context) : bottleneck (bottleneck_)
  {
    conv1 = register_module ("conv1", conv (3, 64, 7, 2, 3));
    bn1 = register_module ("bn1", nn::BatchNorm2d (64));
    layer1 = register_module ("layer1", make_layer (64, blocks[0], 1));
    layer2 = register_module ("layer2", make_layer (128, blocks[1], 2));
    layer3 = register_module ("layer3", make_layer (256, blocks[2], 2));
    layer4 = register_module ("layer4", make_layer (512, blocks[3], 2));
    const int width = 512 * (bottleneck ? 4 : 1);
    if (context)
      {
        context_net = register_module ("context", nn::Sequential (nn::Linear (DERM_PATIENT_DIM, CONTEXT_WIDTH),
                                                                  nn::ReLU (),
                                                                  nn::Linear (CONTEXT_WIDTH, CONTEXT_WIDTH),
                                                                  nn::ReLU ()));
        DermPatientContext unknown;
        derm_patient_context_init (&unknown);
        unknown_row = encode_patients (&unknown, 1, DERM_PATIENT_ALL);
      }
    fc = register_module ("fc", nn::Linear (width + (context ? CONTEXT_WIDTH : 0), num_classes));

    // torchvision's initialisation: Kaiming normal (fan_out) for convs,
    // BatchNorm weight 1 and bias 0; Linear keeps PyTorch's default.
    torch::NoGradGuard no_grad;
    for (auto &m : modules (false))
      {
        if (auto *c = m->as<nn::Conv2d> ())
          nn::init::kaiming_normal_ (c->weight, 0.0, torch::kFanOut, torch::kReLU);
        else if (auto *b = m->as<nn::BatchNorm2d> ())
          {
            nn::init::ones_ (b->weight);
            nn::init::zeros_ (b->bias);
          }
      }
  }

  nn::Sequential
  make_layer (int planes, int n, int stride)
  {
    nn::Sequential seq;
    for (int i = 0; i < n; i++)
      {
        if (bottleneck)
          {
            seq->push_back (Bottleneck (inplanes, planes, i == 0 ? stride : 1));
            inplanes = planes * 4;
          }
        else
          {
            seq->push_back (BasicBlock (inplanes, planes, i == 0 ? stride : 1));
            inplanes = planes;
          }
      }
    return seq;
  }

  torch::Tensor
  features (torch::Tensor x) override
  {
    x = yield_point (torch::relu (bn1 (conv1 (x))));
    x = torch::max_pool2d (x, 3, 2, 1);
    for (auto *layer : { &layer1, &layer2, &layer3, &layer4 })
      for (auto &block : **layer)
        x = yield_point (block.forward (x));
    return x;
  }

  torch::Tensor
  head (torch::Tensor f) override
  {
    auto pooled = torch::flatten (torch::adaptive_avg_pool2d (f, { 1, 1 }), 1);
    if (!context_net)
      return fc (pooled);
    const int64_t n = pooled.size (0);
    auto rows = context_rows.defined () ? context_rows : unknown_row;
    if (rows.size (0) == 1 && n != 1)
      rows = rows.expand ({ n, DERM_PATIENT_DIM });
    if (rows.size (0) != n)
      fail (DERM_ERROR_MISMATCH, _("%lld patient contexts were given for %lld images"),
            (long long) rows.size (0), (long long) n);
    auto e = context_net->forward (rows.to (pooled.device (), torch::kFloat));
    return fc (torch::cat ({ pooled, e.to (pooled.scalar_type ()) }, 1));
  }

  void
  set_context (const torch::Tensor &rows) override
  {
    context_rows = rows;
  }

  torch::Tensor
  forward (torch::Tensor x) override
  {
    return head (features (x));
  }
};

// ---- U-Net ----------------------------------------------------------------

static nn::Sequential
double_conv (int in, int out)
{
  return nn::Sequential (conv (in, out, 3, 1, 1), nn::BatchNorm2d (out), nn::ReLU (),
                         conv (out, out, 3, 1, 1), nn::BatchNorm2d (out), nn::ReLU ());
}

struct UNet : Net
{
  nn::Sequential inc{ nullptr }, down[4], upconv_block[4];
  nn::ConvTranspose2d up[4] = { nullptr, nullptr, nullptr, nullptr };
  nn::Conv2d outc{ nullptr };

  explicit UNet (int base)
  {
    int w[5] = { base, base * 2, base * 4, base * 8, base * 16 };
    inc = register_module ("inc", double_conv (3, w[0]));
    for (int i = 0; i < 4; i++)
      down[i] = register_module ("down" + std::to_string (i + 1), double_conv (w[i], w[i + 1]));
    for (int i = 0; i < 4; i++)
      {
        int from = w[4 - i], to = w[3 - i];
        up[i] = register_module ("up" + std::to_string (i + 1),
                                 nn::ConvTranspose2d (nn::ConvTranspose2dOptions (from, to, 2).stride (2)));
        upconv_block[i] = register_module ("dec" + std::to_string (i + 1), double_conv (to * 2, to));
      }
    outc = register_module ("outc", nn::Conv2d (nn::Conv2dOptions (w[0], 1, 1)));
  }

  torch::Tensor
  forward (torch::Tensor x) override
  {
    const int64_t h = x.size (2), w = x.size (3);
    const int64_t ph = (16 - h % 16) % 16, pw = (16 - w % 16) % 16;
    if (ph != 0 || pw != 0)
      x = torch::constant_pad_nd (x, { 0, pw, 0, ph }, 0.0);
    torch::Tensor skips[5];
    skips[0] = yield_point (inc->forward (x));
    for (int i = 0; i < 4; i++)
      skips[i + 1] = yield_point (down[i]->forward (torch::max_pool2d (skips[i], 2, 2)));
    auto y = skips[4];
    for (int i = 0; i < 4; i++)
      {
        y = up[i] (y);
        y = yield_point (upconv_block[i]->forward (torch::cat ({ skips[3 - i], y }, 1)));
      }
    y = outc (y);
    if (ph != 0 || pw != 0)
      y = y.narrow (2, 0, h).narrow (3, 0, w);
    return y;
  }
};

// ---- Ensemble ------------------------------------------------------------

// K ResNets. features () is the members' last-stage features side by side
// (channels), head () splits them again and gives log(mean_k softmax(
// logits_k / T_k)): the softmax of the result (temperature 1) is the mean of
// the members' calibrated probabilities, and Grad-CAM through features ()
// and head () is the ensemble's.
struct EnsembleNet : ResNetNet
{
  std::vector<std::shared_ptr<ResNetNet>> members;
  torch::Tensor member_temperature;

  EnsembleNet (DermArch arch, int num_classes, int k, bool context)
  {
    for (int i = 0; i < k; i++)
      {
        auto m = std::dynamic_pointer_cast<ResNetNet> (make_net (arch, num_classes, 0, 1, context));
        members.push_back (register_module ("member" + std::to_string (i), m));
      }
    member_temperature = register_buffer ("member_temperature", torch::ones ({ k }));
  }

  torch::Tensor
  features (torch::Tensor x) override
  {
    std::vector<torch::Tensor> f;
    for (auto &m : members)
      f.push_back (m->features (x));
    return torch::cat (f, 1);
  }

  torch::Tensor
  head (torch::Tensor f) override
  {
    auto parts = f.chunk ((int64_t) members.size (), 1);
    std::vector<torch::Tensor> lp;
    for (size_t i = 0; i < members.size (); i++)
      {
        auto logits = members[i]->head (parts[i]).to (torch::kFloat);
        lp.push_back (torch::log_softmax (logits / member_temperature[(int64_t) i], 1));
      }
    return torch::logsumexp (torch::stack (lp, 0), 0) - std::log ((double) members.size ());
  }

  void
  set_context (const torch::Tensor &rows) override
  {
    for (auto &m : members)
      m->set_context (rows);
  }

  torch::Tensor
  forward (torch::Tensor x) override
  {
    return head (features (x));
  }
};

std::shared_ptr<Net>
make_net (DermArch arch, int num_classes, int unet_base, int members, bool context)
{
  static const int r18[4] = { 2, 2, 2, 2 }, r34[4] = { 3, 4, 6, 3 };
  if (context && arch == DERM_ARCH_UNET)
    fail (DERM_ERROR_UNSUPPORTED, _("Patient context is an input of classifiers, not of the U-Net"));
  if (members >= 2)
    {
      if (arch == DERM_ARCH_UNET)
        fail (DERM_ERROR_UNSUPPORTED, _("An ensemble is made of classifiers, not U-Nets"));
      return std::make_shared<EnsembleNet> (arch, num_classes, members, context);
    }
  switch (arch)
    {
    case DERM_ARCH_RESNET18:
      return std::make_shared<ResNet> (r18, false, num_classes, context);
    case DERM_ARCH_RESNET34:
      return std::make_shared<ResNet> (r34, false, num_classes, context);
    case DERM_ARCH_RESNET50:
      return std::make_shared<ResNet> (r34, true, num_classes, context);
    case DERM_ARCH_UNET:
      return std::make_shared<UNet> (unet_base);
    }
  fail (DERM_ERROR_INVALID, _("Unknown architecture %d"), (int) arch);
}

// ---- Metadata -----------------------------------------------------------

static bool
parse_floats (const std::string &s, float out[3])
{
  g_auto (GStrv) parts = g_strsplit (s.c_str (), ",", -1);
  if (g_strv_length (parts) != 3)
    return false;
  for (int i = 0; i < 3; i++)
    {
      char *end = nullptr;
      double v = g_ascii_strtod (parts[i], &end);
      if (end == parts[i] || !std::isfinite (v))
        return false;
      out[i] = (float) v;
    }
  return true;
}

void
refresh_from_metadata (DermModel *model)
{
  auto &md = model->metadata;
  float v[3];
  if (md.count ("mean") && parse_floats (md["mean"], v))
    std::copy (v, v + 3, model->mean);
  if (md.count ("std") && parse_floats (md["std"], v) && v[0] > 0 && v[1] > 0 && v[2] > 0)
    std::copy (v, v + 3, model->std);
  model->mean_t = model->std_t = torch::Tensor ();
  if (md.count ("temperature"))
    {
      double t = g_ascii_strtod (md["temperature"].c_str (), nullptr);
      model->temperature = (std::isfinite (t) && t > 0) ? t : 1.0;
    }
  if (md.count ("input_size"))
    {
      gint64 n = g_ascii_strtoll (md["input_size"].c_str (), nullptr, 10);
      if (n >= 16 && n <= 4096)
        model->input_size = (int) n;
    }
  model->shades_of_gray = md.count ("color_constancy") && md["color_constancy"] == "shades_of_gray";
}

static std::string
default_classes (int n)
{
  std::string s;
  for (int i = 0; i < n; i++)
    {
      if (i)
        s += ",";
      s += n == DERM_N_CLASSES ? derm_class_code ((DermClass) i) : std::to_string (i);
    }
  return s;
}

std::vector<std::pair<std::string, torch::Tensor>>
named_state (DermModel *model)
{
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto &p : model->net->named_parameters (true))
    out.emplace_back (p.key (), p.value ());
  for (const auto &b : model->net->named_buffers (true))
    out.emplace_back (b.key (), b.value ());
  return out;
}

void
apply_memory_format (DermModel *model)
{
  const auto format = memory_format (model->device);
  torch::NoGradGuard no_grad;
  for (auto &p : model->net->parameters (true))
    if (p.dim () == 4)
      p.set_data (p.data ().contiguous (format));
}

static void
move_to (DermModel *model, const torch::Device &device)
{
  model->net->to (device);
  model->device = device;
  model->device_name = device_string (device);
  model->mean_t = model->std_t = torch::Tensor ();
  if (device.is_cuda ())
    cuda_configure ();
  apply_memory_format (model);
}

// The most members an ensemble may have.
static const int MAX_MEMBERS = 32;

torch::Tensor
encode_patients (const DermPatientContext *patients, int n, unsigned fields)
{
  if (patients == nullptr || n <= 0)
    return torch::Tensor ();
  auto rows = torch::empty ({ n, DERM_PATIENT_DIM }, torch::kFloat);
  float *out = rows.data_ptr<float> ();
  for (int i = 0; i < n; i++)
    {
      DermPatientContext p = patients[i];
      derm_patient_context_mask (&p, (DermPatientField) fields);
      derm_patient_context_encode (&p, out + (gsize) i * DERM_PATIENT_DIM);
    }
  return rows;
}

static DermModel *
create (DermArch arch, int num_classes, int unet_base, int input_size, int members,
        unsigned context, const char *device)
{
  if (members == 0)
    members = 1;
  if (members < 1 || members > MAX_MEMBERS)
    fail (DERM_ERROR_INVALID, _("An ensemble has between 2 and %d members, not %d"), MAX_MEMBERS,
          members);
  if ((int) arch < DERM_ARCH_RESNET18 || (int) arch > DERM_ARCH_UNET)
    fail (DERM_ERROR_INVALID, _("Unknown architecture %d"), (int) arch);
  if (arch == DERM_ARCH_UNET)
    num_classes = 1;
  if (num_classes < 1 || num_classes > 100000)
    fail (DERM_ERROR_INVALID, _("A classifier needs between 1 and 100000 classes, not %d"), num_classes);
  if (unet_base == 0)
    unet_base = 32;
  if (unet_base < 1 || unet_base > 512)
    fail (DERM_ERROR_INVALID, _("The U-Net base width must be between 1 and 512, not %d"), unet_base);
  if (input_size == 0)
    input_size = arch == DERM_ARCH_UNET ? 256 : 224;
  if (input_size < 16 || input_size > 4096)
    fail (DERM_ERROR_INVALID, _("The input size must be between 16 and 4096 pixels, not %d"), input_size);
  torch::Device dev = parse_device (device);

  auto model = std::make_unique<DermModel> ();
  model->arch = arch;
  model->num_classes = num_classes;
  model->unet_base = unet_base;
  model->input_size = input_size;
  if (context & ~(unsigned) DERM_PATIENT_ALL)
    fail (DERM_ERROR_INVALID, _("Unknown patient context fields %#x"), context);
  model->members = members;
  model->context = context;
  model->net = make_net (arch, num_classes, unet_base, members, context != 0);
  auto &md = model->metadata;
  md["format"] = "dermalens/1";
  md["architecture"] = derm_arch_name (arch);
  if (arch == DERM_ARCH_UNET)
    {
      md["classes"] = "lesion";
      md["unet_base"] = std::to_string (unet_base);
    }
  else
    md["classes"] = default_classes (num_classes);
  md["input_size"] = std::to_string (input_size);
  if (members >= 2)
    md["ensemble_members"] = std::to_string (members);
  if (context != 0)
    {
      g_autofree char *fields = derm_patient_fields_to_string ((DermPatientField) context);
      md["context"] = fields;
    }
  md["mean"] = "0.485,0.456,0.406";
  md["std"] = "0.229,0.224,0.225";
  md["temperature"] = "1";
  md["color_constancy"] = "none";
  refresh_from_metadata (model.get ());
  model->net->eval ();
  move_to (model.get (), dev);
  return model.release ();
}

static int
meta_int (GHashTable *md, const char *key, int fallback)
{
  const char *v = (const char *) g_hash_table_lookup (md, key);
  if (v == nullptr)
    return fallback;
  char *end = nullptr;
  gint64 n = g_ascii_strtoll (v, &end, 10);
  if (end == v || *end != '\0' || n < 0 || n > G_MAXINT)
    fail (DERM_ERROR_FORMAT, _("The metadata “%s” of this weight file is not a number: “%s”"), key, v);
  return (int) n;
}

static torch::ScalarType
torch_dtype (DermStDtype d)
{
  switch (d)
    {
    case DERM_ST_F32: return torch::kFloat;
    case DERM_ST_F16: return torch::kHalf;
    case DERM_ST_BF16: return torch::kBFloat16;
    case DERM_ST_F64: return torch::kDouble;
    case DERM_ST_I64: return torch::kLong;
    case DERM_ST_I32: return torch::kInt;
    case DERM_ST_I16: return torch::kShort;
    case DERM_ST_I8: return torch::kChar;
    case DERM_ST_U8: return torch::kByte;
    case DERM_ST_BOOL: return torch::kBool;
    }
  return torch::kFloat;
}

std::string
shape_string (const std::vector<int64_t> &shape)
{
  std::string s = "[";
  for (size_t i = 0; i < shape.size (); i++)
    s += (i ? ", " : "") + std::to_string (shape[i]);
  return s + "]";
}

torch::Tensor
st_to_tensor (const DermStTensor *t)
{
  std::vector<int64_t> shape (t->shape, t->shape + t->ndim);
  auto out = torch::empty (shape, torch::TensorOptions ().dtype (derm::torch_dtype (t->dtype)));
  if (t->nbytes)
    memcpy (out.data_ptr (), t->data, t->nbytes);
  return out;
}

// Copies tensors named PREFIX + name from @st into the model: every
// parameter and buffer must be present with its shape (fc.* may be skipped
// with @replace_head); a tensor the model lacks is an error too.
void
copy_weights (DermModel *model, DermSafetensors *st, const char *path, const std::string &prefix,
              bool replace_head)
{
  torch::NoGradGuard no_grad;
  auto state = named_state (model);
  std::map<std::string, torch::Tensor> wanted;
  for (auto &kv : state)
    wanted[kv.first] = kv.second;
  // Check everything before copying anything: a failed load leaves the model as it was.
  std::vector<std::pair<torch::Tensor, const DermStTensor *>> plan;
  for (auto &kv : state)
    {
      const std::string name = prefix + kv.first;
      const DermStTensor *t = derm_safetensors_lookup (st, name.c_str ());
      bool head = kv.first.rfind ("fc.", 0) == 0 || kv.first.rfind ("context.", 0) == 0;
      if (t == nullptr)
        {
          if (replace_head && head)
            continue;
          fail (DERM_ERROR_MISMATCH,
                _("%s has no tensor “%s”: it was not written for a %s model"), path, kv.first.c_str (),
                derm_arch_name (model->arch));
        }
      std::vector<int64_t> want = kv.second.sizes ().vec ();
      std::vector<int64_t> have (t->shape, t->shape + t->ndim);
      if (want != have)
        {
          if (replace_head && head)
            continue;
          fail (DERM_ERROR_MISMATCH, _("%s: tensor “%s” has shape %s, the %s model needs %s"), path,
                kv.first.c_str (), shape_string (have).c_str (), derm_arch_name (model->arch),
                shape_string (want).c_str ());
        }
      if (t->dtype == DERM_ST_BOOL)
        fail (DERM_ERROR_MISMATCH, _("%s: tensor “%s” is boolean, not numeric"), path, kv.first.c_str ());
      plan.emplace_back (kv.second, t);
    }
  for (guint i = 0; i < derm_safetensors_get_n_tensors (st); i++)
    {
      const DermStTensor *t = derm_safetensors_get_tensor (st, i);
      std::string name = t->name;
      if (name.rfind (prefix, 0) != 0)
        continue;
      name = name.substr (prefix.size ());
      if (!wanted.count (name)
          && !(replace_head && (name.rfind ("fc.", 0) == 0 || name.rfind ("context.", 0) == 0)))
        fail (DERM_ERROR_MISMATCH, _("%s has the tensor “%s”, which a %s model does not have"), path,
              name.c_str (), derm_arch_name (model->arch));
    }
  for (auto &p : plan)
    p.first.copy_ (st_to_tensor (p.second));
}

// Shared with the trainer's checkpoints: tensors (CPU copies kept alive in
// @keep) + metadata into one file.
gboolean
write_state (const char *path, const std::vector<std::pair<std::string, torch::Tensor>> &named,
                  const std::map<std::string, std::string> &metadata, GError **error)
{
  std::vector<torch::Tensor> keep;
  std::vector<DermStTensor> tensors;
  keep.reserve (named.size ());
  for (auto &kv : named)
    {
      torch::Tensor t = kv.second.detach ();
      DermStDtype dtype;
      if (t.scalar_type () == torch::kLong)
        dtype = DERM_ST_I64;
      else if (t.scalar_type () == torch::kByte)
        dtype = DERM_ST_U8;
      else
        {
          t = t.to (torch::kFloat);
          dtype = DERM_ST_F32;
        }
      t = t.to (torch::kCPU).contiguous ();
      if (t.dim () > DERM_ST_MAX_DIMS)
        fail (DERM_ERROR_INVALID, _("Tensor “%s” has too many dimensions"), kv.first.c_str ());
      keep.push_back (t);
      DermStTensor st = {};
      st.name = kv.first.c_str ();
      st.dtype = dtype;
      st.ndim = (int) t.dim ();
      for (int d = 0; d < st.ndim; d++)
        st.shape[d] = t.size (d);
      st.data = (const guint8 *) t.data_ptr ();
      st.nbytes = t.numel () * t.element_size ();
      tensors.push_back (st);
    }
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  for (auto &kv : metadata)
    g_hash_table_insert (md, (gpointer) kv.first.c_str (), (gpointer) kv.second.c_str ());
  return derm_safetensors_write (path, tensors.data (), tensors.size (), md, error);
}

// Copies @path's weights into @model: the whole file (@member -1; an
// ensemble's file only into an ensemble of as many) or one member of an
// ensemble's file. FALSE with @error when the file cannot be opened; throws
// on a mismatch.
static gboolean
load_weights_from (DermModel *model, const char *path, int member, bool replace_head,
                   GError **error)
{
  g_autoptr (DermSafetensors) st = derm_safetensors_open (path, error);
  if (st == nullptr)
    return FALSE;
  GHashTable *md = derm_safetensors_get_metadata (st);
  const char *members = md ? (const char *) g_hash_table_lookup (md, "ensemble_members") : nullptr;
  gint64 k = members != nullptr ? g_ascii_strtoll (members, nullptr, 10) : 0;
  std::string prefix;
  if (member >= 0)
    {
      if (member >= k)
        fail (DERM_ERROR_MISMATCH, _("%s has no ensemble member %d"), path, member + 1);
      prefix = "member" + std::to_string (member) + ".";
    }
  else if (members != nullptr && k != model->members)
    fail (DERM_ERROR_MISMATCH,
          _("%s is an ensemble of %s networks: it can start an ensemble of as many "
            "(--folds %s), each member from its own, not a single network"),
          path, members, members);
  copy_weights (model, st, path, prefix, replace_head);
  return TRUE;
}

} // namespace derm

extern "C" {

const char *
derm_arch_name (DermArch arch)
{
  switch (arch)
    {
    case DERM_ARCH_RESNET18: return "resnet18";
    case DERM_ARCH_RESNET34: return "resnet34";
    case DERM_ARCH_RESNET50: return "resnet50";
    case DERM_ARCH_UNET: return "unet";
    }
  return "unknown";
}

gboolean
derm_arch_from_name (const char *name, DermArch *arch)
{
  for (int a = DERM_ARCH_RESNET18; a <= DERM_ARCH_UNET; a++)
    if (g_strcmp0 (name, derm_arch_name ((DermArch) a)) == 0)
      {
        if (arch)
          *arch = (DermArch) a;
        return TRUE;
      }
  return FALSE;
}

DermTask
derm_arch_task (DermArch arch)
{
  return arch == DERM_ARCH_UNET ? DERM_TASK_SEGMENT : DERM_TASK_CLASSIFY;
}

DermModel *
derm_model_new (const DermModelConfig *config, const char *device, GError **error)
{
  try
    {
      g_return_val_if_fail (config != NULL, NULL);
      return derm::create (config->arch, config->num_classes, config->unet_base, config->input_size,
                           config->members, config->context, device);
    }
  DERM_CATCH (error, nullptr)
}

DermModel *
derm_model_load (const char *path, const char *device, GError **error)
{
  DermModel *model = nullptr;
  try
    {
      g_autoptr (DermSafetensors) st = derm_safetensors_open (path, error);
      if (st == nullptr)
        return nullptr;
      GHashTable *md = derm_safetensors_get_metadata (st);
      const char *format = (const char *) g_hash_table_lookup (md, "format");
      const char *arch_name = (const char *) g_hash_table_lookup (md, "architecture");
      if (format != nullptr && strcmp (format, "dermalens/1") != 0)
        derm::fail (DERM_ERROR_UNSUPPORTED,
                    _("%s has the format “%s”, which this version does not know (it reads dermalens/1)"),
                    path, format);
      DermArch arch;
      if (arch_name == nullptr)
        derm::fail (DERM_ERROR_FORMAT,
                    _("%s has no “architecture” metadata: it is not a Dermalens model. To use a "
                      "torchvision export, create a model and load its weights into it "
                      "(dermalens-cli init-weights, then train)"), path);
      if (!derm_arch_from_name (arch_name, &arch))
        derm::fail (DERM_ERROR_UNSUPPORTED, _("%s has the unknown architecture “%s”"), path, arch_name);
      int members = derm::meta_int (md, "ensemble_members", 1);
      if (members < 1 || members > derm::MAX_MEMBERS || (members > 1 && arch == DERM_ARCH_UNET))
        derm::fail (DERM_ERROR_FORMAT, _("%s claims an ensemble of %d %s models, which this version "
                                         "cannot read (2 to %d classifiers)"),
                    path, members, arch_name, derm::MAX_MEMBERS);
      // A member's tensors carry this prefix; their shapes are checked on the first.
      const std::string first = members > 1 ? "member0." : "";
      int num_classes = 1;
      if (arch != DERM_ARCH_UNET)
        {
          const DermStTensor *fc = derm_safetensors_lookup (st, (first + "fc.weight").c_str ());
          if (fc == nullptr || fc->ndim != 2)
            derm::fail (DERM_ERROR_FORMAT, _("%s has no classifier head “%s”"), path,
                        (first + "fc.weight").c_str ());
          num_classes = (int) fc->shape[0];
          const char *classes = (const char *) g_hash_table_lookup (md, "classes");
          if (classes != nullptr)
            {
              g_auto (GStrv) parts = g_strsplit (classes, ",", -1);
              if ((int) g_strv_length (parts) != num_classes)
                derm::fail (DERM_ERROR_MISMATCH,
                            _("%s lists %u classes in its metadata but its head has %d outputs"), path,
                            g_strv_length (parts), num_classes);
            }
        }
      int unet_base = derm::meta_int (md, "unet_base", 32);
      int input_size = derm::meta_int (md, "input_size", 0);
      DermPatientField context = (DermPatientField) 0;
      {
        GError *ctx_error = nullptr;
        const char *fields = (const char *) g_hash_table_lookup (md, "context");
        if (!derm_patient_fields_from_string (fields, &context, &ctx_error))
          {
            std::string msg = ctx_error->message;
            g_error_free (ctx_error);
            derm::fail (DERM_ERROR_UNSUPPORTED, _("%s: %s"), path, msg.c_str ());
          }
        if (context != 0 && arch == DERM_ARCH_UNET)
          derm::fail (DERM_ERROR_FORMAT, _("%s is a U-Net with patient context, which does not exist"), path);
      }
      // Nothing is built before the file shows it holds the model's largest
      // tensor with its shape, so the model is at most a few times the file's
      // size (a 2 KB file claiming unet_base 512 made a 3.6 GB model first;
      // found by tests/hardening).
      const std::string largest_name = first + (arch == DERM_ARCH_UNET ? "down4.3.weight" : "fc.weight");
      const char *largest = largest_name.c_str ();
      std::vector<int64_t> need;
      if (arch == DERM_ARCH_UNET)
        need = { 16LL * (unet_base ? unet_base : 32), 16LL * (unet_base ? unet_base : 32), 3, 3 };
      else
        need = { num_classes, (arch == DERM_ARCH_RESNET50 ? 2048 : 512)
                                + (context != 0 ? derm::CONTEXT_WIDTH : 0) };
      const DermStTensor *big = derm_safetensors_lookup (st, largest);
      if (big == nullptr)
        derm::fail (DERM_ERROR_MISMATCH, _("%s has no tensor “%s”: it was not written for a %s model"),
                    path, largest, arch_name);
      std::vector<int64_t> have (big->shape, big->shape + big->ndim);
      if (have != need)
        derm::fail (DERM_ERROR_MISMATCH, _("%s: tensor “%s” has shape %s, the %s model needs %s"), path,
                    largest, derm::shape_string (have).c_str (), arch_name,
                    derm::shape_string (need).c_str ());
      // Each member of an ensemble must be in the file too (its largest
      // last-stage convolution, 2.4 to 9.4 MB), so the ensemble built is a
      // bounded multiple of the file's size.
      for (int k = 1; k < members; k++)
        {
          std::string name = "member" + std::to_string (k) + "."
                             + (arch == DERM_ARCH_RESNET18   ? "layer4.1.conv2.weight"
                                : arch == DERM_ARCH_RESNET34 ? "layer4.2.conv2.weight"
                                                             : "layer4.2.conv3.weight");
          std::vector<int64_t> want = arch == DERM_ARCH_RESNET50 ? std::vector<int64_t>{ 2048, 512, 1, 1 }
                                                                 : std::vector<int64_t>{ 512, 512, 3, 3 };
          const DermStTensor *t = derm_safetensors_lookup (st, name.c_str ());
          if (t == nullptr || std::vector<int64_t> (t->shape, t->shape + t->ndim) != want)
            derm::fail (DERM_ERROR_MISMATCH,
                        _("%s claims an ensemble of %d members but has no tensor “%s” of shape %s"),
                        path, members, name.c_str (), derm::shape_string (want).c_str ());
        }
      model = derm::create (arch, num_classes, unet_base, input_size, members, context, "cpu");
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, md);
      while (g_hash_table_iter_next (&it, &k, &v))
        model->metadata[(const char *) k] = (const char *) v;
      model->metadata["format"] = "dermalens/1";
      derm::refresh_from_metadata (model);
      derm::copy_weights (model, st, path, "", false);
      derm::move_to (model, derm::parse_device (device));
      return model;
    }
  catch (...)
    {
      delete model;
      derm::set_error_from_exception (error);
      return nullptr;
    }
}

gboolean
derm_model_load_weights (DermModel *model, const char *path, gboolean replace_head, GError **error)
{
  try
    {
      return derm::load_weights_from (model, path, -1, replace_head, error);
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_model_load_member_weights (DermModel *model, const char *path, int member,
                                gboolean replace_head, GError **error)
{
  try
    {
      if (model->members != 1)
        derm::fail (DERM_ERROR_INVALID, _("Only a single network takes one member's weights"));
      return derm::load_weights_from (model, path, member, replace_head, error);
    }
  DERM_CATCH (error, FALSE)
}

gboolean
derm_model_save (DermModel *model, const char *path, GError **error)
{
  try
    {
      return derm::write_state (path, derm::named_state (model), model->metadata, error);
    }
  DERM_CATCH (error, FALSE)
}

void
derm_model_free (DermModel *model)
{
  try
    {
      delete model;
    }
  catch (...)
    {
    }
}

DermModel *
derm_model_new_ensemble (DermModel *const *members, int n, const char *device, GError **error)
{
  DermModel *model = nullptr;
  try
    {
      if (members == nullptr || n < 2)
        derm::fail (DERM_ERROR_INVALID, _("An ensemble needs at least two models"));
      DermModel *first = members[0];
      for (int i = 0; i < n; i++)
        {
          DermModel *m = members[i];
          if (m->members != 1)
            derm::fail (DERM_ERROR_INVALID, _("Member %d is itself an ensemble"), i + 1);
          if (m->arch != first->arch || m->num_classes != first->num_classes
              || m->input_size != first->input_size || m->arch == DERM_ARCH_UNET
              || m->shades_of_gray != first->shades_of_gray || m->context != first->context
              || memcmp (m->mean, first->mean, sizeof m->mean) != 0
              || memcmp (m->std, first->std, sizeof m->std) != 0)
            derm::fail (DERM_ERROR_MISMATCH,
                        _("Member %d is not the same kind of classifier as the first (an ensemble's "
                          "members share architecture, classes, input size, preprocessing and "
                          "patient context)"),
                        i + 1);
        }
      model = derm::create (first->arch, first->num_classes, 0, first->input_size, n, first->context,
                            "cpu");
      for (const char *key : { "classes", "mean", "std", "color_constancy" })
        if (first->metadata.count (key))
          model->metadata[key] = first->metadata[key];
      derm::refresh_from_metadata (model);
      auto net = std::dynamic_pointer_cast<derm::EnsembleNet> (model->net);
      torch::NoGradGuard no_grad;
      for (int i = 0; i < n; i++)
        {
          auto src = derm::named_state (members[i]);
          std::map<std::string, torch::Tensor> dst;
          for (const auto &p : net->members[i]->named_parameters (true))
            dst[p.key ()] = p.value ();
          for (const auto &b : net->members[i]->named_buffers (true))
            dst[b.key ()] = b.value ();
          for (auto &kv : src)
            dst.at (kv.first).copy_ (kv.second.to (torch::kCPU));
          net->member_temperature[i] = members[i]->temperature;
        }
      derm::move_to (model, derm::parse_device (device));
      return model;
    }
  catch (...)
    {
      delete model;
      derm::set_error_from_exception (error);
      return nullptr;
    }
}

int
derm_model_get_members (DermModel *model)
{
  return model->members;
}

DermPatientField
derm_model_get_context (DermModel *model)
{
  return (DermPatientField) model->context;
}

void
derm_model_set_patients (DermModel *model, const DermPatientContext *patients, int n)
{
  try
    {
      model->patients = model->context != 0
                          ? derm::encode_patients (patients, n, model->context & model->context_mask)
                          : torch::Tensor ();
    }
  catch (...)
    {
      model->patients = torch::Tensor ();
    }
}

void
derm_model_set_context_mask (DermModel *model, DermPatientField fields)
{
  model->context_mask = fields & DERM_PATIENT_ALL;
}

DermArch
derm_model_get_arch (DermModel *model)
{
  return model->arch;
}

int
derm_model_get_num_classes (DermModel *model)
{
  return model->num_classes;
}

int
derm_model_get_input_size (DermModel *model)
{
  return model->input_size;
}

const char *
derm_model_get_device (DermModel *model)
{
  return model->device_name.c_str ();
}

gboolean
derm_model_to_device (DermModel *model, const char *device, GError **error)
{
  try
    {
      derm::move_to (model, derm::parse_device (device));
      return TRUE;
    }
  DERM_CATCH (error, FALSE)
}

double
derm_model_get_temperature (DermModel *model)
{
  return model->temperature;
}

void
derm_model_set_temperature (DermModel *model, double temperature)
{
  g_return_if_fail (temperature > 0 && std::isfinite (temperature));
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  model->metadata["temperature"] = g_ascii_dtostr (buf, sizeof buf, temperature);
  model->temperature = temperature;
}

gint64
derm_model_count_parameters (DermModel *model)
{
  gint64 n = 0;
  for (auto &p : model->net->parameters (true))
    n += p.numel ();
  return n;
}

const char *
derm_model_get_metadata (DermModel *model, const char *key)
{
  auto it = model->metadata.find (key);
  return it == model->metadata.end () ? nullptr : it->second.c_str ();
}

void
derm_model_set_metadata (DermModel *model, const char *key, const char *value)
{
  g_return_if_fail (key != NULL);
  try
    {
      if (value == nullptr)
        model->metadata.erase (key);
      else
        model->metadata[key] = value;
      derm::refresh_from_metadata (model);
    }
  catch (...)
    {
    }
}

char **
derm_model_list_metadata (DermModel *model)
{
  GStrvBuilder *b = g_strv_builder_new ();
  for (auto &kv : model->metadata)
    g_strv_builder_add (b, kv.first.c_str ());
  char **out = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return out;
}

} // extern "C"
