/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-application.h: the AdwApplication (org.dermalens.Dermalens). */
#pragma once

#include <adwaita.h>

#include "derm-context.h"

G_BEGIN_DECLS

#define DERM_TYPE_APPLICATION (derm_application_get_type ())
G_DECLARE_FINAL_TYPE (DermApplication, derm_application, DERM, APPLICATION, AdwApplication)

/* Prepares the process before GTK starts: gettext, and when the binary runs
 * from the build tree, the compiled schema, translations and icons there.
 * Returns FALSE with @error set when the settings schema cannot be found. */
gboolean         derm_application_setup_environment (GError **error);

/* Returns: (transfer full) the application. */
DermApplication *derm_application_new (void);

/* Returns: (transfer none) the application's settings. */
GSettings       *derm_application_get_settings (DermApplication *self);

/* Returns: (transfer none) the settings and workers every window shares,
 * or NULL before startup. */
DermContext     *derm_application_get_context (DermApplication *self);

G_END_DECLS
