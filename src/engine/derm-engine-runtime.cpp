/* SPDX-License-Identifier: GPL-3.0-or-later */
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

void
fail_cancelled (const char *message)
{
  throw Error (G_IO_ERROR, G_IO_ERROR_CANCELLED, std::string (message));
}

static bool
is_out_of_memory (const char *msg)
{
  // CUDA's caching allocator says "out of memory"; the CPU allocator says
  // "can't allocate memory" (libtorch 1.x) or "not enough memory" (2.x).
  return strstr (msg, "out of memory") != nullptr || strstr (msg, "Out of memory") != nullptr
         || strstr (msg, "OutOfMemory") != nullptr || strstr (msg, "can't allocate memory") != nullptr
         || strstr (msg, "not enough memory") != nullptr;
}

// What ran out and how much was asked for, from allocator messages such as
// "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; ...)" or
// "DefaultCPUAllocator: can't allocate memory: you tried to allocate
// 1073741824 bytes. Error code 12 ...".
static void
set_oom (GError **error, const char *msg)
{
  bool gpu = msg != nullptr && (strstr (msg, "CUDA") != nullptr || strstr (msg, "GPU") != nullptr);
  std::string amount;
  const char *p = msg != nullptr ? strstr (msg, "ried to allocate ") : nullptr;
  if (p != nullptr)
    {
      p += strlen ("ried to allocate ");
      char *end = nullptr;
      double n = g_ascii_strtod (p, &end);
      if (end != p && n > 0)
        {
          while (*end == ' ')
            end++;
          if (g_str_has_prefix (end, "bytes"))
            {
              g_autofree char *size = g_format_size_full ((guint64) n, G_FORMAT_SIZE_IEC_UNITS);
              amount = size;
            }
          else
            {
              const char *unit_end = end;
              while (g_ascii_isalpha (*unit_end))
                unit_end++;
              g_autofree char *text = g_strdup_printf ("%.*s %.*s", (int) (end - p), p,
                                                       (int) (unit_end - end), end);
              amount = g_strstrip (text);
            }
        }
    }
  g_autofree char *detail = NULL;
  if (gpu)
    detail = amount.empty () ? g_strdup (_("GPU memory is exhausted"))
                             : g_strdup_printf (_("the GPU could not allocate %s more"), amount.c_str ());
  else
    detail = amount.empty () ? g_strdup (_("host memory is exhausted"))
                             : g_strdup_printf (_("%s of host memory could not be allocated"),
                                                amount.c_str ());
  if (gpu)
    g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
                 _("Out of memory: %s. Use a smaller batch size or image size, or run on the CPU."),
                 detail);
  else
    g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
                 _("Out of memory: %s. Use a smaller batch size or image size, or close other "
                   "programs."), detail);
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
      g_set_error_literal (error, e.domain, e.code, e.what ());
    }
  catch (const c10::Error &e)
    {
      // The first line of the message: enough to act on, without C++ frames.
      std::string msg = e.what_without_backtrace ();
      if (is_out_of_memory (msg.c_str ()))
        set_oom (error, msg.c_str ());
      else
        g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("libtorch error: %s"), msg.c_str ());
    }
  catch (const std::bad_alloc &)
    {
      set_oom (error, nullptr);
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
