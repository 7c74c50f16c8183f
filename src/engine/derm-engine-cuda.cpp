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

void
cuda_configure (void)
{
#if LIBTORCH_HAS_CUDA
  at::globalContext ().setBenchmarkCuDNN (true);
#endif
}

} // namespace derm
