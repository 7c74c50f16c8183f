// derm-engine-cuda.cpp: CUDA specifics, compiled only against a CUDA libtorch
// (LIBTORCH_HAS_CUDA); the CPU build answers without them.
#include "config.h"

#include <torch/torch.h>

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

} // namespace derm
