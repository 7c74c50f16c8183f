/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-cuda.cpp: CUDA specifics, compiled only against a CUDA libtorch
// (LIBTORCH_HAS_CUDA); the CPU build answers without them.
#include "config.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#if LIBTORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif
#if LIBTORCH_HAS_CUDA && defined(DERM_CUDA_GRAPHS)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "derm-engine-private.hpp"

namespace derm {

char *
cuda_device_name (int index)
{
#if LIBTORCH_HAS_CUDA
  try {
    if (!torch::cuda::is_available () || index < 0 || index >= (int) torch::cuda::device_count ())
      return nullptr;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties (&prop, index) != cudaSuccess)
      return nullptr;
    return g_strdup_printf ("%s, %.1f GiB", prop.name,
                            prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  } catch (...) {
    return nullptr;
  }
#else
  (void) index;
  return nullptr;
#endif
}

void
cuda_empty_cache (void)
{
#if LIBTORCH_HAS_CUDA
  try {
    if (torch::cuda::is_available ())
      c10::cuda::CUDACachingAllocator::emptyCache ();
  } catch (...) {
  }
#endif
}

void
cuda_set_autocast (bool enabled)
{
  // Autocast state is thread-local: this affects the calling thread only.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype (at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled (at::kCUDA, enabled);
#else
  at::autocast::set_autocast_gpu_dtype (at::kBFloat16);
  at::autocast::set_enabled (enabled);
#endif
  if (!enabled)
    at::autocast::clear_cache ();
}

#if LIBTORCH_HAS_CUDA && defined(DERM_CUDA_GRAPHS)
struct GraphState
{
  at::cuda::CUDAGraph graph;
  torch::Tensor input, output;
  void *params = nullptr;   // the first parameter's memory when captured
  bool failed = false;
};
#endif

torch::Tensor
cuda_graph_forward (DermModel *model, const torch::Tensor &x)
{
#if LIBTORCH_HAS_CUDA && defined(DERM_CUDA_GRAPHS)
  if (!model->device.is_cuda () || model->inference_bf16 || model->net->is_training ()
      || g_getenv ("DERM_NO_CUDA_GRAPHS") != nullptr)
    return {};
  auto st = std::static_pointer_cast<GraphState> (model->cuda_graph);
  void *params = model->net->parameters ().front ().data_ptr ();
  if (st && st->failed)
    return {};
  try
    {
      if (!st || st->params != params || !st->input.sizes ().equals (x.sizes ()))
        {
          model->cuda_graph.reset ();
          st = std::make_shared<GraphState> ();
          model->cuda_graph = st;
          st->params = params;
          // One layout for every call (TTA's rotations give other strides):
          // copy_ below converts.
          st->input = x.contiguous (at::MemoryFormat::ChannelsLast).clone (at::MemoryFormat::ChannelsLast);
          torch::NoGradGuard no_grad;
          auto stream = c10::cuda::getStreamFromPool ();
          stream.synchronize ();
          c10::cuda::getCurrentCUDAStream ().synchronize ();
          {
            c10::cuda::CUDAStreamGuard guard (stream);
            // Warm-up on the capture stream: cuDNN's algorithm choice and the
            // allocator's pools happen outside the capture.
            for (int i = 0; i < 3; i++)
              st->output = model->net->forward (st->input);
            stream.synchronize ();
            st->graph.capture_begin ();
            st->output = model->net->forward (st->input);
            st->graph.capture_end ();
            stream.synchronize ();
          }
        }
      st->input.copy_ (x);
      st->graph.replay ();
      return st->output;
    }
  catch (...)
    {
      // Eager from now on for this model: the graph is not worth an error.
      if (!st)
        st = std::make_shared<GraphState> ();
      st->failed = true;
      model->cuda_graph = st;
      return {};
    }
#else
  (void) model;
  (void) x;
  return {};
#endif
}

bool
cuda_memory_info (int index, guint64 *free_bytes, guint64 *total_bytes)
{
#if LIBTORCH_HAS_CUDA
  try {
    if (!torch::cuda::is_available () || index < 0 || index >= (int) torch::cuda::device_count ())
      return false;
    int previous = 0;
    if (cudaGetDevice (&previous) != cudaSuccess)
      return false;
    size_t f = 0, t = 0;
    bool ok = cudaSetDevice (index) == cudaSuccess && cudaMemGetInfo (&f, &t) == cudaSuccess;
    cudaSetDevice (previous);
    // Memory libtorch's caching allocator holds counts as used here.
    *free_bytes = f;
    *total_bytes = t;
    return ok;
  } catch (...) {
    return false;
  }
#else
  (void) index;
  (void) free_bytes;
  (void) total_bytes;
  return false;
#endif
}

void
cuda_configure (void)
{
#if LIBTORCH_HAS_CUDA
  at::globalContext ().setBenchmarkCuDNN (true);
#endif
}

} // namespace derm
