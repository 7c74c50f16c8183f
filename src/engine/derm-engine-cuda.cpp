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
