// derm-engine-runtime.cpp: versions, devices, threads, seeds, and the one
// place where C++ exceptions become GErrors.
#include "config.h"

#include <cstdarg>
#include <cstring>
#include <new>
#include <string>

#include <torch/torch.h>
#include <torch/version.h>

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace derm {

void
fail (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  std::string s (msg);
  g_free (msg);
  throw Error (code, s);
}

static bool
is_out_of_memory (const char *msg)
{
  return strstr (msg, "out of memory") != nullptr || strstr (msg, "Out of memory") != nullptr
         || strstr (msg, "OutOfMemory") != nullptr;
}

static void
set_oom (GError **error, const char *detail)
{
  g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
               _("The device ran out of memory (%s). Use a smaller batch size or image size, "
                 "or run on the CPU."), detail);
}

void
set_error_from_exception (GError **error)
{
  try
    {
      throw;
    }
  catch (const Error &e)
    {
      g_set_error_literal (error, DERM_ERROR, e.code, e.what ());
    }
  catch (const c10::Error &e)
    {
      // The first line of the message: enough to act on, without C++ frames.
      std::string msg = e.what_without_backtrace ();
      if (is_out_of_memory (msg.c_str ()))
        {
          std::string first = msg.substr (0, msg.find ('.'));
          set_oom (error, first.c_str ());
        }
      else
        g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("libtorch error: %s"), msg.c_str ());
    }
  catch (const std::bad_alloc &)
    {
      set_oom (error, _("host memory"));
    }
  catch (const std::exception &e)
    {
      if (is_out_of_memory (e.what ()))
        set_oom (error, e.what ());
      else
        g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("Engine error: %s"), e.what ());
    }
  catch (...)
    {
      g_set_error_literal (error, DERM_ERROR, DERM_ERROR_FAILED, _("Unknown engine error"));
    }
}

torch::Device
parse_device (const char *name)
{
  if (name == nullptr || strcmp (name, "auto") == 0 || name[0] == '\0')
    return torch::cuda::is_available () ? torch::Device (torch::kCUDA, 0) : torch::Device (torch::kCPU);
  if (strcmp (name, "cpu") == 0)
    return torch::Device (torch::kCPU);
  if (strncmp (name, "cuda", 4) == 0)
    {
      int index = 0;
      if (name[4] == ':')
        {
          char *end = nullptr;
          gint64 v = g_ascii_strtoll (name + 5, &end, 10);
          if (end == name + 5 || *end != '\0' || v < 0 || v > 64)
            fail (DERM_ERROR_INVALID, _("Unknown device “%s”: use auto, cpu, cuda or cuda:N"), name);
          index = (int) v;
        }
      else if (name[4] != '\0')
        fail (DERM_ERROR_INVALID, _("Unknown device “%s”: use auto, cpu, cuda or cuda:N"), name);
      if (!LIBTORCH_HAS_CUDA)
        fail (DERM_ERROR_UNSUPPORTED,
              _("This build's libtorch has no CUDA support; use the device “cpu”"));
      if (!torch::cuda::is_available ())
        fail (DERM_ERROR_UNSUPPORTED, _("No usable CUDA device was found; use the device “cpu”"));
      if (index >= (int) torch::cuda::device_count ())
        fail (DERM_ERROR_NOT_FOUND, _("There is no CUDA device %d (this machine has %d)"), index,
              (int) torch::cuda::device_count ());
      return torch::Device (torch::kCUDA, (c10::DeviceIndex) index);
    }
  fail (DERM_ERROR_INVALID, _("Unknown device “%s”: use auto, cpu, cuda or cuda:N"), name);
}

std::string
device_string (const torch::Device &device)
{
  if (device.is_cuda ())
    return "cuda:" + std::to_string (device.has_index () ? device.index () : 0);
  return "cpu";
}

} // namespace derm

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

void
derm_engine_empty_cache (void)
{
  derm::cuda_empty_cache ();
}

void
derm_engine_manual_seed (guint64 seed)
{
  try {
    torch::manual_seed (seed);
  } catch (...) {
  }
}

} // extern "C"
