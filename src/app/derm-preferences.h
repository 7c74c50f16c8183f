/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-preferences.h: the preferences window: model files, compute device
 * and precision, overlay colours and opacities, risk threshold and
 * low-confidence margin, measurement units and scale; every row is bound to
 * GSettings. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define DERM_TYPE_PREFERENCES (derm_preferences_get_type ())
G_DECLARE_FINAL_TYPE (DermPreferences, derm_preferences, DERM, PREFERENCES, AdwPreferencesWindow)

/* Returns: (transfer none) a new window over @parent bound to @settings. */
DermPreferences *derm_preferences_new (GtkWindow *parent, GSettings *settings);

G_END_DECLS
