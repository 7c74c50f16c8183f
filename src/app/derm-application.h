/* derm-application.h: the GtkApplication (org.dermalens.Dermalens). */
#pragma once

#include <gtk/gtk.h>

#include "derm-store-worker.h"
#include "derm-worker.h"

G_BEGIN_DECLS

#define DERM_TYPE_APPLICATION (derm_application_get_type ())
G_DECLARE_FINAL_TYPE (DermApplication, derm_application, DERM, APPLICATION, GtkApplication)

/* Prepares the process before GTK starts: gettext, and when the binary runs
 * from the build tree, the compiled schema, translations and icons there.
 * Returns FALSE with @error set when the settings schema cannot be found. */
gboolean         derm_application_setup_environment (GError **error);

/* Returns: (transfer full) the application. */
DermApplication *derm_application_new (void);

/* Returns: (transfer none) the application's settings. */
GSettings       *derm_application_get_settings (DermApplication *self);

/* Returns: (transfer none) the model worker, or NULL before startup. */
DermWorker      *derm_application_get_worker (DermApplication *self);

/* Returns: (transfer none) the case store's thread, or NULL before startup. */
DermStoreWorker *derm_application_get_store_worker (DermApplication *self);

/* Returns: (transfer full) one or two sentences on how the engine computes
 * here (the CPU precision policy and why; the GPU when there is one). */
char            *derm_application_describe_compute (void);

/* Points the worker at the configured models (command-line overrides
 * first, then settings) and analyses every open page again. */
void             derm_application_reload_models (DermApplication *self);

G_END_DECLS
