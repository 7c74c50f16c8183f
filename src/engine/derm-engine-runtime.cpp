// derm-engine-runtime.cpp: versions, devices and threads.
#include <string>
#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

#include "derm-engine-private.hpp"

extern "C" {

const char *
derm_engine_torch_version (void)
{
  return TORCH_VERSION;
}

gboolean
derm_engine_cuda_available (void)
{
  try {
    return torch::cuda::is_available () ? TRUE : FALSE;
  } catch (...) {
    return FALSE;
  }
}

int
derm_engine_cuda_device_count (void)
{
  try {
    return torch::cuda::is_available () ? (int) torch::cuda::device_count () : 0;
  } catch (...) {
    return 0;
  }
}

char *
derm_engine_cuda_device_name (int index)
{
  return derm::cuda_device_name (index);
}

int
derm_engine_set_threads (int threads)
{
  try {
    if (threads <= 0)
      threads = (int) g_get_num_processors ();
    at::set_num_threads (threads);
    return at::get_num_threads ();
  } catch (...) {
    return 1;
  }
}

int
derm_engine_get_threads (void)
{
  try {
    return at::get_num_threads ();
  } catch (...) {
    return 1;
  }
}

} // extern "C"
