/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-compare.h: follow-up comparison: the first and the latest visit of a
 * lesion side by side, each with its stored mask and prediction, and the
 * change in lesion area and colours between them. */
#pragma once

#include <adwaita.h>

#include "derm-store-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_COMPARE (derm_compare_get_type ())
G_DECLARE_FINAL_TYPE (DermCompare, derm_compare, DERM, COMPARE, AdwWindow)

/* Loads @lesion_id's visits on the store thread ("loaded" signal when
 * shown). Returns: (transfer none) a new window over @parent. */
DermCompare *derm_compare_new (GtkWindow *parent, DermStoreWorker *store, GSettings *settings,
                               gint64 lesion_id);

G_END_DECLS
