/* derm-engine.h: the C face of the libtorch shim (C++ behind it).
 *
 * Conventions: opaque handles; every function that can fail returns FALSE or
 * NULL and sets a GError (DERM_ERROR domain); no C++ exception ever crosses
 * this header. Each function says who owns what it returns.
 */
#pragma once

#include <glib.h>

#include "derm-error.h"
#include "derm-image.h"

G_BEGIN_DECLS

/* ---- Runtime ---------------------------------------------------------- */

/* The libtorch version string, e.g. "1.13.1". Borrowed, static. */
const char *derm_engine_torch_version (void);
/* TRUE when this build links libtorch_cuda and a CUDA device is usable. */
gboolean    derm_engine_cuda_available (void);
int         derm_engine_cuda_device_count (void);
/* A new string naming device @index ("NVIDIA H100 80GB HBM3, 79.1 GiB"). */
char       *derm_engine_cuda_device_name (int index);
/* Sets the intra-op thread count; 0 means the cores present. Returns the
 * count in use. Debian's libtorch starts with one thread: call this once at
 * start-up. */
int         derm_engine_set_threads (int threads);
int         derm_engine_get_threads (void);

G_END_DECLS
