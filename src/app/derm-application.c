/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-application.c: the AdwApplication: settings, the shared context,
 * app actions (About, Preferences, Quit), the command line. */
#include "config.h"

#define G_LOG_DOMAIN "derm-application"

#include <locale.h>

#include <glib/gi18n.h>

#include "derm-application.h"
#include "derm-paths.h"
#include "derm-resources.h"
#include "derm-engine.h"
#include "derm-error.h"
#include "derm-preferences.h"
#include "derm-window.h"

struct _DermApplication
{
  AdwApplication parent_instance;

  GSettings *settings;
  DermContext *context;        /* created at startup, handed to each window */
  /* Command-line overrides, not stored in settings. */
  char *classifier_override;
  char *segmenter_override;
  char *device_override;
};

G_DEFINE_FINAL_TYPE (DermApplication, derm_application, ADW_TYPE_APPLICATION)

/* ---- Running from the build tree ------------------------------------------------ */

gboolean
derm_application_setup_environment (GError **error)
{
  /* Not installed: schemas and translations come from the build tree. */
  if (derm_running_uninstalled ())
    {
      g_autofree char *compiled = g_build_filename (DERM_SCHEMA_BUILD_DIR, "gschemas.compiled", NULL);
      if (g_getenv ("GSETTINGS_SCHEMA_DIR") == NULL && g_file_test (compiled, G_FILE_TEST_EXISTS))
        g_setenv ("GSETTINGS_SCHEMA_DIR", DERM_SCHEMA_BUILD_DIR, TRUE);
    }
  derm_setup_translations ();

  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
  if (schema == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                   _("The settings schema “%s” is not installed. Run “meson install”, or start "
                     "Dermalens from its build folder, or set GSETTINGS_SCHEMA_DIR to the folder "
                     "holding gschemas.compiled."),
                   APP_ID);
      return FALSE;
    }
  return TRUE;
}

/* ---- Actions ----------------------------------------------------------------- */

static DermWindow *
get_or_create_window (DermApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window != NULL)
    return DERM_WINDOW (window);

  return derm_window_new (GTK_APPLICATION (self), self->context);
}

static void
quit_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GApplication *app = G_APPLICATION (user_data);
  /* Windows save their state in close-request. */
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (app)));
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));
  g_list_free (windows);
  g_application_quit (app);
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  DermApplication *self = DERM_APPLICATION (user_data);
  static const char *const developers[] = { "The Dermalens developers", NULL };
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autofree char *compute = derm_describe_compute ();
  g_autofree char *comments = g_strdup_printf ("%s\n\n%s",
                                               _("Decision support for dermoscopy: the probabilities of "
                                                 "seven diagnoses, the lesion's outline and what the model "
                                                 "looked at. It does not make a diagnosis."),
                                               compute);
  AdwAboutWindow *about = ADW_ABOUT_WINDOW (adw_about_window_new ());
  gtk_window_set_transient_for (GTK_WINDOW (about), parent);
  gtk_window_set_modal (GTK_WINDOW (about), TRUE);
  adw_about_window_set_application_name (about, _("Dermalens"));
  adw_about_window_set_application_icon (about, APP_ID);
  adw_about_window_set_version (about, PACKAGE_VERSION);
  adw_about_window_set_developer_name (about, _("The Dermalens developers"));
  adw_about_window_set_comments (about, comments);
  adw_about_window_set_license_type (about, GTK_LICENSE_GPL_3_0);
  adw_about_window_set_copyright (about, "© 2025–2026 The Dermalens developers");
  adw_about_window_set_website (about, "https://github.com/dermalens/dermalens");
  adw_about_window_set_issue_url (about, "https://github.com/dermalens/dermalens/issues");
  adw_about_window_set_developers (about, (const char **) developers);
  /* Translators: put your names here, one per line */
  adw_about_window_set_translator_credits (about, _("translator-credits"));
  /* The data every model is trained on, and what its licence allows. */
  adw_about_window_add_legal_section (
    about, _("HAM10000 Dataset"),
    "Tschandl P., Rosendahl C., Kittler H. The HAM10000 dataset, a large collection of "
    "multi-source dermatoscopic images of common pigmented skin lesions. "
    "Sci. Data 5, 180161 (2018). doi:10.1038/sdata.2018.161",
    GTK_LICENSE_CUSTOM,
    _("The images are published at <a href=\"https://doi.org/10.7910/DVN/DBW86T\">"
      "doi:10.7910/DVN/DBW86T</a> under the Creative Commons Attribution-NonCommercial 4.0 "
      "licence (CC BY-NC 4.0): models trained on them may not be used commercially."));
  adw_about_window_add_legal_section (about, "libtorch", "© PyTorch contributors",
                                      GTK_LICENSE_BSD_3, NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
preferences_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  DermApplication *self = DERM_APPLICATION (user_data);
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  DermPreferences *preferences = derm_preferences_new (parent, self->settings);
  gtk_window_present (GTK_WINDOW (preferences));
}

static const GActionEntry app_entries[] = {
  { .name = "quit", .activate = quit_activated },
  { .name = "about", .activate = about_activated },
  { .name = "preferences", .activate = preferences_activated },
};

/* ---- The context --------------------------------------------------------------- */

DermContext *
derm_application_get_context (DermApplication *self)
{
  g_return_val_if_fail (DERM_IS_APPLICATION (self), NULL);
  return self->context;
}

/* ---- GApplication ------------------------------------------------------------ */

static void
derm_application_startup (GApplication *app)
{
  DermApplication *self = DERM_APPLICATION (app);

  G_APPLICATION_CLASS (derm_application_parent_class)->startup (app);

  g_set_application_name (_("Dermalens"));
  gtk_window_set_default_icon_name (APP_ID);
  /* Light or dark as the system prefers (AdwStyleManager's default). */
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_DEFAULT);

  self->settings = g_settings_new (APP_ID);
  /* The settings, the workers and the models they use: what every window shares. */
  self->context = derm_context_new (self->settings, NULL);
  derm_context_set_overrides (self->context, self->classifier_override, self->segmenter_override,
                              self->device_override);
  derm_context_reload_models (self->context);

  /* AdwApplication loads style.css (and dark.css) from the resource base
   * path, GtkApplication the icons and help-overlay.ui. */
  g_action_map_add_action_entries (G_ACTION_MAP (app), app_entries, G_N_ELEMENTS (app_entries), app);
  static const char *const quit_accels[] = { "<Primary>q", NULL };
  static const char *const help_accels[] = { "<Primary>question", NULL };
  static const char *const preferences_accels[] = { "<Primary>comma", NULL };
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.preferences", preferences_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "win.show-help-overlay", help_accels);
}

static void
derm_application_activate (GApplication *app)
{
  DermWindow *window = get_or_create_window (DERM_APPLICATION (app));
  gtk_window_present (GTK_WINDOW (window));
}

static void
derm_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  DermWindow *window = get_or_create_window (DERM_APPLICATION (app));
  for (int i = 0; i < n_files; i++)
    derm_window_open_file (window, files[i]);
  gtk_window_present (GTK_WINDOW (window));
}

static int
derm_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  DermApplication *self = DERM_APPLICATION (app);
  g_variant_dict_lookup (options, "classifier", "^ay", &self->classifier_override);
  g_variant_dict_lookup (options, "segmenter", "^ay", &self->segmenter_override);
  g_variant_dict_lookup (options, "device", "s", &self->device_override);
  return -1;
}

/* The worker joins here, on the main thread, before GTK goes away. */
static void
derm_application_shutdown (GApplication *app)
{
  DermApplication *self = DERM_APPLICATION (app);
  if (self->context != NULL)
    derm_context_shutdown (self->context);
  G_APPLICATION_CLASS (derm_application_parent_class)->shutdown (app);
}

static void
derm_application_finalize (GObject *object)
{
  DermApplication *self = DERM_APPLICATION (object);

  g_clear_object (&self->context);
  g_clear_object (&self->settings);
  g_free (self->classifier_override);
  g_free (self->segmenter_override);
  g_free (self->device_override);

  G_OBJECT_CLASS (derm_application_parent_class)->finalize (object);
}

static void
derm_application_class_init (DermApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  /* Pulls the bundle's object file out of the static library; its
   * constructor registers the resources. */
  (void) derm_get_resource ();

  object_class->finalize = derm_application_finalize;
  app_class->startup = derm_application_startup;
  app_class->activate = derm_application_activate;
  app_class->open = derm_application_open;
  app_class->shutdown = derm_application_shutdown;
  app_class->handle_local_options = derm_application_handle_local_options;
}

static void
derm_application_init (DermApplication *self)
{
  static const GOptionEntry entries[] = {
    { "classifier", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Classification model file to use (instead of the configured one)"), N_("FILE") },
    { "segmenter", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Segmentation model file to use (instead of the configured one)"), N_("FILE") },
    { "device", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Where the models run: auto, cpu, cuda or cuda:N"), N_("DEVICE") },
    { NULL }
  };
  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[IMAGE…]"));
}

DermApplication *
derm_application_new (void)
{
  return g_object_new (DERM_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/org/dermalens/Dermalens",
                       NULL);
}

GSettings *
derm_application_get_settings (DermApplication *self)
{
  g_return_val_if_fail (DERM_IS_APPLICATION (self), NULL);
  return self->settings;
}
