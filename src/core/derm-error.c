/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "derm-error.h"

G_DEFINE_QUARK (derm-error-quark, derm_error)
