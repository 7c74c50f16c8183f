/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-preferences.c: the preferences window. */
#include "config.h"

#define G_LOG_DOMAIN "derm-preferences"

#include <glib/gi18n.h>

#include "derm-context.h"
#include "derm-preferences.h"

struct _DermPreferences
{
  AdwPreferencesWindow parent_instance;

  GSettings *settings;

  AdwEntryRow *classifier_row;
  GtkButton *classifier_choose_button;
  GtkButton *classifier_clear_button;
  AdwEntryRow *segmenter_row;
  GtkButton *segmenter_choose_button;
  GtkButton *segmenter_clear_button;
  AdwPreferencesGroup *compute_group;
  AdwComboRow *device_row;
  GtkSwitch *tta_switch;
  GtkSwitch *cpu_fp32_switch;
  GtkWidget *mask_color_button;
  GtkScale *mask_opacity_scale;
  GtkWidget *contour_color_button;
  GtkScale *heatmap_opacity_scale;
  GtkSwitch *override_risk_switch;
  AdwActionRow *risk_row;
  GtkSpinButton *risk_spin;
  GtkSpinButton *margin_spin;
  AdwComboRow *units_row;
  GtkSpinButton *ppmm_spin;
};

G_DEFINE_FINAL_TYPE (DermPreferences, derm_preferences, ADW_TYPE_PREFERENCES_WINDOW)

/* ---- Mappings between settings and widgets ------------------------------------------ */

static const char *const devices[] = { "auto", "cpu", "cuda", NULL };

static gboolean
device_get (GValue *value, GVariant *variant, gpointer user_data)
{
  const char *device = g_variant_get_string (variant, NULL);
  for (guint i = 0; devices[i] != NULL; i++)
    if (g_str_equal (device, devices[i]))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  g_value_set_uint (value, 0);
  return TRUE;
}

static GVariant *
device_set (const GValue *value, const GVariantType *type, gpointer user_data)
{
  guint i = g_value_get_uint (value);
  return g_variant_new_string (i < G_N_ELEMENTS (devices) - 1 ? devices[i] : "auto");
}

static gboolean
units_get (GValue *value, GVariant *variant, gpointer user_data)
{
  g_value_set_uint (value, g_str_equal (g_variant_get_string (variant, NULL), "millimetres") ? 1 : 0);
  return TRUE;
}

static GVariant *
units_set (const GValue *value, const GVariantType *type, gpointer user_data)
{
  return g_variant_new_string (g_value_get_uint (value) == 1 ? "millimetres" : "pixels");
}

static gboolean
color_get (GValue *value, GVariant *variant, gpointer user_data)
{
  GdkRGBA rgba;
  if (!gdk_rgba_parse (&rgba, g_variant_get_string (variant, NULL)))
    return FALSE;
  g_value_set_boxed (value, &rgba);
  return TRUE;
}

static GVariant *
color_set (const GValue *value, const GVariantType *type, gpointer user_data)
{
  const GdkRGBA *rgba = g_value_get_boxed (value);
  if (rgba == NULL)
    return NULL;
  g_autofree char *text = g_strdup_printf ("#%02x%02x%02x", (int) (rgba->red * 255 + 0.5),
                                           (int) (rgba->green * 255 + 0.5), (int) (rgba->blue * 255 + 0.5));
  return g_variant_new_string (text);
}

/* ---- Model files ------------------------------------------------------------------- */

/* A model row and its buttons store their path in one key. The rows
 * write it when the user applies a typed path (Enter or the apply
 * button), not at every keystroke: each write reloads the models. */
static const char *
model_key_for (DermPreferences *self, gpointer row_or_button)
{
  if (row_or_button == self->classifier_row || row_or_button == self->classifier_choose_button
      || row_or_button == self->classifier_clear_button)
    return "classifier-model";
  return "segmenter-model";
}

static AdwEntryRow *
model_row_for (DermPreferences *self, const char *key)
{
  return g_str_equal (key, "classifier-model") ? self->classifier_row : self->segmenter_row;
}

/* Shows the stored path in its row, dropping an edit not applied. */
static void
show_model_setting (DermPreferences *self, const char *key)
{
  AdwEntryRow *row = model_row_for (self, key);
  g_autofree char *path = g_settings_get_string (self->settings, key);
  gtk_editable_set_text (GTK_EDITABLE (row), path);
  /* Libadwaita 1.2 has no other way to hide the apply button. */
  adw_entry_row_set_show_apply_button (row, FALSE);
  adw_entry_row_set_show_apply_button (row, TRUE);
}

static void
settings_model_changed_cb (GSettings *settings, const char *key, DermPreferences *self)
{
  show_model_setting (self, key);
}

static void
model_applied_cb (AdwEntryRow *row, DermPreferences *self)
{
  g_settings_set_string (self->settings, model_key_for (self, row),
                         gtk_editable_get_text (GTK_EDITABLE (row)));
}

/* Stores the choice even when the window has closed meanwhile: the
 * dialog holds the settings and the key. */
static void
model_chosen_cb (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      if (path != NULL)
        g_settings_set_string (g_object_get_data (G_OBJECT (dialog), "derm-settings"),
                               g_object_get_data (G_OBJECT (dialog), "derm-key"), path);
    }
  g_object_unref (dialog);
}

static void
choose_model_clicked_cb (GtkButton *button, DermPreferences *self)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (_("Choose Model Weights"), GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_OPEN,
                                 _("_Choose"), _("_Cancel"));
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, _("Model weights (safetensors)"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  g_object_set_data (G_OBJECT (chooser), "derm-key", (gpointer) model_key_for (self, button));
  g_object_set_data_full (G_OBJECT (chooser), "derm-settings", g_object_ref (self->settings), g_object_unref);
  g_signal_connect (chooser, "response", G_CALLBACK (model_chosen_cb), NULL);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
clear_model_clicked_cb (GtkButton *button, DermPreferences *self)
{
  const char *key = model_key_for (self, button);
  g_settings_set_string (self->settings, key, "");
  /* Also when the key was empty already (no change signal) but the row
   * holds a typed path. */
  show_model_setting (self, key);
}

/* ---- GObject --------------------------------------------------------------------- */

/* The compute path now in use, after the setting's handler has applied it. */
static void
update_compute_description (DermPreferences *self)
{
  g_autofree char *text = derm_describe_compute ();
  adw_preferences_group_set_description (self->compute_group, text);
}

static void
settings_cpu_fp32_changed_cb (GSettings *settings, const char *key, DermPreferences *self)
{
  update_compute_description (self);
}

/* Every control of the template is bound to its key; the model rows
 * only show theirs, they write it when applied. */
static void
bind_settings (DermPreferences *self)
{
  GSettings *settings = self->settings;

  g_settings_bind_with_mapping (settings, "device", self->device_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, device_get, device_set, NULL, NULL);
  for (const char *const *key = (const char *const[]) { "classifier-model", "segmenter-model", NULL };
       *key != NULL; key++)
    {
      g_autofree char *signal = g_strconcat ("changed::", *key, NULL);
      g_settings_bind (settings, *key, model_row_for (self, *key), "text", G_SETTINGS_BIND_GET);
      /* After the binding: drops an edit the new value replaced. */
      g_signal_connect_object (settings, signal, G_CALLBACK (settings_model_changed_cb), self, 0);
    }
  g_settings_bind (settings, "test-time-augmentation", self->tta_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "cpu-fp32", self->cpu_fp32_switch, "active", G_SETTINGS_BIND_DEFAULT);
  /* After the application's own handler (connected first) has applied it. */
  g_signal_connect_object (settings, "changed::cpu-fp32", G_CALLBACK (settings_cpu_fp32_changed_cb), self,
                           G_CONNECT_AFTER);
  update_compute_description (self);
  g_settings_bind_with_mapping (settings, "mask-color", self->mask_color_button, "rgba",
                                G_SETTINGS_BIND_DEFAULT, color_get, color_set, NULL, NULL);
  g_settings_bind_with_mapping (settings, "contour-color", self->contour_color_button, "rgba",
                                G_SETTINGS_BIND_DEFAULT, color_get, color_set, NULL, NULL);
  g_settings_bind (settings, "mask-opacity", gtk_range_get_adjustment (GTK_RANGE (self->mask_opacity_scale)),
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "heatmap-opacity",
                   gtk_range_get_adjustment (GTK_RANGE (self->heatmap_opacity_scale)),
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "risk-threshold", self->risk_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "override-risk-threshold", self->override_risk_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_object_bind_property (self->override_risk_switch, "active", self->risk_row, "sensitive",
                          G_BINDING_SYNC_CREATE);
  g_settings_bind (settings, "low-confidence-margin", self->margin_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (settings, "units", self->units_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, units_get, units_set, NULL, NULL);
  g_settings_bind (settings, "pixels-per-mm", self->ppmm_spin, "value", G_SETTINGS_BIND_DEFAULT);
}

static void
derm_preferences_dispose (GObject *object)
{
  DermPreferences *self = DERM_PREFERENCES (object);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_PREFERENCES);
  G_OBJECT_CLASS (derm_preferences_parent_class)->dispose (object);
}

static void
derm_preferences_class_init (DermPreferencesClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = derm_preferences_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, classifier_row);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, classifier_choose_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, classifier_clear_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, segmenter_row);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, segmenter_choose_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, segmenter_clear_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, compute_group);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, device_row);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, tta_switch);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, cpu_fp32_switch);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, mask_color_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, mask_opacity_scale);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, contour_color_button);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, heatmap_opacity_scale);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, override_risk_switch);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, risk_row);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, risk_spin);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, margin_spin);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, units_row);
  gtk_widget_class_bind_template_child (widget_class, DermPreferences, ppmm_spin);
  gtk_widget_class_bind_template_callback (widget_class, choose_model_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, clear_model_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, model_applied_cb);
}

static void
derm_preferences_init (DermPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

DermPreferences *
derm_preferences_new (GtkWindow *parent, GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  DermPreferences *self = g_object_new (DERM_TYPE_PREFERENCES, "transient-for", parent, NULL);
  self->settings = g_object_ref (settings);
  bind_settings (self);
  return self;
}
