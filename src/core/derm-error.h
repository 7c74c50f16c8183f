/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-error.h: the error domain shared by every Dermalens layer. A stop the
 * user asked for is G_IO_ERROR_CANCELLED everywhere (what GCancellable and
 * GTask report), so one test tells a cancellation from a failure. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

G_BEGIN_DECLS

#define DERM_ERROR (derm_error_quark ())

typedef enum {
  DERM_ERROR_FAILED,        /* anything without a better code */
  DERM_ERROR_IO,            /* a file could not be read or written */
  DERM_ERROR_FORMAT,        /* the content is not what it claims to be */
  DERM_ERROR_TOO_LARGE,     /* over a size or pixel budget */
  DERM_ERROR_INVALID,       /* an argument or a value out of range */
  DERM_ERROR_NOT_FOUND,     /* a named thing does not exist */
  DERM_ERROR_MISMATCH,      /* names or shapes do not agree */
  DERM_ERROR_OUT_OF_MEMORY, /* host or device memory ran out */
  /* 8 was a cancellation code: every layer uses G_IO_ERROR_CANCELLED. */
  DERM_ERROR_UNSUPPORTED = 9, /* a version or feature this build does not know */
  DERM_ERROR_DATABASE,      /* SQLite reported an error */
} DermErrorCode;

GQuark derm_error_quark (void);

G_END_DECLS
