/* SPDX-License-Identifier: GPL-3.0-or-later */
// derm-engine-precision.cpp: the CPU precision policy (bf16 autocast where
// the CPU has bfloat16 units, fp32 elsewhere), the autocast scopes, and the
// gate that lets a foreground analysis go before background CPU work.
#include "config.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DERM_X86 1
#endif

#include "derm-engine-private.hpp"

// After the libtorch headers: its templates use the name _.
#include <glib/gi18n-lib.h>

namespace {

// What the CPU itself says about its bfloat16 units.
struct CpuUnits
{
  bool amx_bf16 = false;      // AMX tiles with bf16 (Sapphire Rapids and later)
  bool avx512_bf16 = false;   // AVX512-BF16 (Cooper Lake, Zen 4 and later)
  bool avx512_os = false;     // the OS saves the AVX-512 registers
  bool amx_os = false;        // the OS saves the AMX tile registers
};

#ifdef DERM_X86
static unsigned long long
read_xcr0 (void)
{
  unsigned int eax = 0, edx = 0;
  __asm__ volatile ("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long) edx << 32) | eax;
}
#endif

CpuUnits
probe_cpu (void)
{
  CpuUnits u;
#ifdef DERM_X86
  unsigned int a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid (1, &a, &b, &c, &d) || !(c & (1u << 27)))   // OSXSAVE
    return u;
  unsigned long long xcr0 = read_xcr0 ();
  // XCR0 bits 5-7: opmask, ZMM_Hi256, Hi16_ZMM; 1-2: SSE, AVX.
  u.avx512_os = (xcr0 & 0xe6) == 0xe6;
  // XCR0 bits 17-18: XTILECFG, XTILEDATA (Linux grants them on request,
  // which oneDNN makes).
  u.amx_os = (xcr0 & (3ull << 17)) == (3ull << 17);
  if (__get_cpuid_max (0, nullptr) < 7)
    return u;
  __cpuid_count (7, 0, a, b, c, d);
  const bool avx512f = (b & (1u << 16)) != 0;
  const bool amx_tile = (d & (1u << 24)) != 0;
  const bool amx_bf16 = (d & (1u << 22)) != 0;
  const unsigned int subleaves = a;
  bool avx512_bf16 = false;
  if (subleaves >= 1)
    {
      __cpuid_count (7, 1, a, b, c, d);
      avx512_bf16 = (a & (1u << 5)) != 0;
    }
  u.amx_bf16 = amx_tile && amx_bf16 && u.amx_os;
  u.avx512_bf16 = avx512f && avx512_bf16 && u.avx512_os;
#endif
  return u;
}

struct PolicyState
{
  std::mutex lock;          // serialises the setting's rewrites
  std::once_flag once;      // the decision from the CPU and the environment
  bool user_fp32 = false;   // the setting
  CpuUnits units;
  DermCpuPrecision env = DERM_CPU_PRECISION_FP32;
  bool env_set = false;     // $DERMALENS_CPU_PRECISION is fp32 or bf16
  bool env_invalid = false;
  // Two copies, so that a pointer handed out stays valid while the other
  // is rewritten (the setting changes rarely, from the main thread).
  DermCpuPolicy policy[2] = {};
  std::atomic<int> current { 0 };
};

PolicyState &
state (void)
{
  static PolicyState s;
  return s;
}

const char *
units_name (const CpuUnits &u)
{
  return u.amx_bf16 ? "AMX-BF16" : u.avx512_bf16 ? "AVX512-BF16" : "none";
}

// Fills @p from the CPU, the environment and the setting. Called with the
// lock held.
void
decide (PolicyState &s, DermCpuPolicy *p)
{
  const bool has = s.units.amx_bf16 || s.units.avx512_bf16;
  const bool onednn = at::hasMKLDNN ();
  p->cpu_has_bf16 = has ? TRUE : FALSE;
  p->units = units_name (s.units);
  p->forced = FALSE;
  if (s.user_fp32)
    {
      p->precision = DERM_CPU_PRECISION_FP32;
      p->forced = TRUE;
      p->reason = _("fp32: the “Always compute in fp32” setting is on");
    }
  else if (s.env_set)
    {
      p->precision = s.env;
      p->forced = TRUE;
      if (s.env == DERM_CPU_PRECISION_FP32)
        p->reason = _("fp32: DERMALENS_CPU_PRECISION=fp32 is set");
      else if (has)
        p->reason = _("bf16: DERMALENS_CPU_PRECISION=bf16 is set (the CPU has bfloat16 units)");
      else
        p->reason = _("bf16: DERMALENS_CPU_PRECISION=bf16 is set, but this CPU has no bfloat16 "
                      "units: bf16 is emulated and slower than fp32");
    }
  else if (!onednn)
    {
      p->precision = DERM_CPU_PRECISION_FP32;
      p->reason = _("fp32: this libtorch was built without oneDNN, whose kernels use bfloat16 units");
    }
  else if (s.units.amx_bf16)
    {
      p->precision = DERM_CPU_PRECISION_BF16;
      p->reason = _("bf16 autocast + channels_last: the CPU has AMX bfloat16 tiles");
    }
  else if (s.units.avx512_bf16)
    {
      p->precision = DERM_CPU_PRECISION_BF16;
      p->reason = _("bf16 autocast + channels_last: the CPU has AVX512-BF16");
    }
  else
    {
      p->precision = DERM_CPU_PRECISION_FP32;
      p->reason = _("fp32: the CPU has no bfloat16 units (neither AMX nor AVX512-BF16)");
    }
  // Measured (bench/README.md): oneDNN's bf16 kernels want NHWC; in fp32,
  // channels_last was no faster than NCHW on the CPUs measured.
  p->channels_last = p->precision == DERM_CPU_PRECISION_BF16 ? TRUE : FALSE;
}

// The policy in use. Read on every forward pass: after the one-time
// decision it is an atomic load, no lock.
const DermCpuPolicy *
current_policy (void)
{
  PolicyState &s = state ();
  std::call_once (s.once, [&s] {
    s.units = probe_cpu ();
    const char *env = g_getenv ("DERMALENS_CPU_PRECISION");
    if (env != nullptr && g_ascii_strcasecmp (env, "fp32") == 0)
      s.env_set = true, s.env = DERM_CPU_PRECISION_FP32;
    else if (env != nullptr && g_ascii_strcasecmp (env, "bf16") == 0)
      s.env_set = true, s.env = DERM_CPU_PRECISION_BF16;
    else if (env != nullptr && *env != '\0' && g_ascii_strcasecmp (env, "auto") != 0)
      g_warning ("DERMALENS_CPU_PRECISION=%s is not fp32, bf16 or auto; the CPU decides", env);
    decide (s, &s.policy[0]);
    s.current.store (0);
  });
  return &s.policy[s.current.load ()];
}

// ---- The foreground gate ----------------------------------------------

struct Gate
{
  GMutex lock;
  GCond cond;
  int pending = 0;
  gint64 waited_us = 0;
};

Gate &
gate (void)
{
  static Gate g;   // GMutex and GCond need no init when static
  return g;
}

thread_local bool background_thread = false;
// The cancel flag of the training epoch running on this thread, so that a
// wait at a yield point inside a step ends on cancel too.
thread_local const volatile gint *thread_cancel = nullptr;

} // namespace

namespace derm {

bool
cpu_bf16 (void)
{
  return current_policy ()->precision == DERM_CPU_PRECISION_BF16;
}

bool
cpu_channels_last (void)
{
  return current_policy ()->channels_last != FALSE;
}

at::MemoryFormat
memory_format (const torch::Device &device)
{
  if (device.is_cuda () || cpu_channels_last ())
    return at::MemoryFormat::ChannelsLast;
  return at::MemoryFormat::Contiguous;
}

static void
cpu_set_autocast (bool enabled)
{
  // Autocast state is thread-local: this affects the calling thread only.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype (at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_enabled (at::kCPU, enabled);
#else
  at::autocast::set_autocast_cpu_dtype (at::kBFloat16);
  at::autocast::set_cpu_enabled (enabled);
#endif
  if (!enabled)
    at::autocast::clear_cache ();
}

Autocast::Autocast (const torch::Device &device, bool enabled)
{
  if (!enabled)
    return;
  if (device.is_cuda ())
    {
      cuda_set_autocast (true);
      kind = 1;
    }
  else if (cpu_bf16 ())
    {
      cpu_set_autocast (true);
      kind = 2;
    }
}

Autocast::~Autocast ()
{
  if (kind == 1)
    cuda_set_autocast (false);
  else if (kind == 2)
    cpu_set_autocast (false);
}

void
wait_for_foreground (const torch::Device &device, const volatile gint *cancel)
{
  if (!background_thread || device.is_cuda ())
    return;
  if (cancel == nullptr)
    cancel = thread_cancel;
  Gate &g = gate ();
  g_mutex_lock (&g.lock);
  if (g.pending > 0)
    {
      gint64 start = g_get_monotonic_time ();
      // Woken by the last end (); the timeout re-reads @cancel.
      while (g.pending > 0 && (cancel == nullptr || !g_atomic_int_get (cancel)))
        g_cond_wait_until (&g.cond, &g.lock, g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND);
      g.waited_us += g_get_monotonic_time () - start;
    }
  g_mutex_unlock (&g.lock);
}

CancelScope::CancelScope (const volatile gint *cancel) : previous (thread_cancel)
{
  thread_cancel = cancel;
}

CancelScope::~CancelScope ()
{
  thread_cancel = previous;
}

torch::Tensor
yield_point (const torch::Tensor &x)
{
  if (!background_thread || x.is_cuda ())
    return x;
  wait_for_foreground (x.device (), nullptr);
  // The same point on the way back: CPU autograd runs the hooks on this
  // thread, between the stages' gradients.
  if (x.requires_grad ())
    x.register_hook ([] (const torch::Tensor &) { wait_for_foreground (torch::Device (torch::kCPU), nullptr); });
  return x;
}

} // namespace derm

extern "C" {

const DermCpuPolicy *
derm_engine_cpu_policy (void)
{
  return current_policy ();
}

void
derm_engine_set_cpu_fp32 (gboolean force)
{
  current_policy ();   // decided first, so the CPU and environment are read once
  PolicyState &s = state ();
  std::lock_guard<std::mutex> guard (s.lock);
  s.user_fp32 = force != FALSE;
  int next = 1 - s.current.load ();
  decide (s, &s.policy[next]);
  s.current.store (next);
}

const char *
derm_cpu_precision_name (DermCpuPrecision precision)
{
  return precision == DERM_CPU_PRECISION_BF16 ? "bf16" : "fp32";
}

void
derm_engine_foreground_begin (void)
{
  Gate &g = gate ();
  g_mutex_lock (&g.lock);
  g.pending++;
  g_mutex_unlock (&g.lock);
}

void
derm_engine_foreground_end (void)
{
  Gate &g = gate ();
  g_mutex_lock (&g.lock);
  if (g.pending > 0 && --g.pending == 0)
    g_cond_broadcast (&g.cond);
  g_mutex_unlock (&g.lock);
}

void
derm_engine_set_background_thread (gboolean background)
{
  background_thread = background != FALSE;
}

gint64
derm_engine_foreground_waited_us (void)
{
  Gate &g = gate ();
  g_mutex_lock (&g.lock);
  gint64 us = g.waited_us;
  g_mutex_unlock (&g.lock);
  return us;
}

} // extern "C"
