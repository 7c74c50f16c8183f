#include "derm-error.h"

G_DEFINE_QUARK (derm-error-quark, derm_error)
