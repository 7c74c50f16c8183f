// derm-engine-private.hpp: shared by the engine's C++ files only.
#pragma once

#include <glib.h>

#include "derm-engine.h"

namespace derm {

// A new g_malloc'd string, or NULL when the device does not exist.
char *cuda_device_name (int index);

} // namespace derm
