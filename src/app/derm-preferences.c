/* derm-preferences.c: the preferences window. */
#include "config.h"

#define G_LOG_DOMAIN "derm-preferences"

#include <glib/gi18n.h>

#include "derm-preferences.h"

struct _DermPreferences
{
  GtkWindow parent_instance;

  GSettings *settings;
  GtkGrid *grid;
  int row;
};

G_DEFINE_FINAL_TYPE (DermPreferences, derm_preferences, GTK_TYPE_WINDOW)

static void
add_heading (DermPreferences *self, const char *text)
{
  GtkWidget *label = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "heading");
  gtk_widget_set_margin_top (label, self->row > 0 ? 12 : 0);
  gtk_grid_attach (self->grid, label, 0, self->row++, 2, 1);
}

/* A labelled row; the label names @control for screen readers too. */
static void
add_row (DermPreferences *self, const char *text, const char *tooltip, GtkWidget *control)
{
  GtkWidget *label = gtk_label_new_with_mnemonic (text);
  gtk_label_set_xalign (GTK_LABEL (label), 1);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), control);
  gtk_widget_set_hexpand (control, TRUE);
  if (tooltip != NULL)
    gtk_widget_set_tooltip_text (control, tooltip);
  gtk_accessible_update_relation (GTK_ACCESSIBLE (control), GTK_ACCESSIBLE_RELATION_LABELLED_BY,
                                  label, NULL, -1);
  gtk_grid_attach (self->grid, label, 0, self->row, 1, 1);
  gtk_grid_attach (self->grid, control, 1, self->row++, 1, 1);
}

static GtkWidget *
spin (GSettings *settings, const char *key, double lower, double upper, double step, int digits)
{
  GtkWidget *button = gtk_spin_button_new_with_range (lower, upper, step);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (button), digits);
  g_settings_bind (settings, key, button, "value", G_SETTINGS_BIND_DEFAULT);
  return button;
}

static GtkWidget *
scale (GSettings *settings, const char *key)
{
  GtkWidget *s = gtk_scale_new_with_range (GTK_ORIENTATION_HORIZONTAL, 0, 1, 0.05);
  gtk_scale_set_draw_value (GTK_SCALE (s), TRUE);
  gtk_scale_set_digits (GTK_SCALE (s), 2);
  g_settings_bind (settings, key, gtk_range_get_adjustment (GTK_RANGE (s)), "value", G_SETTINGS_BIND_DEFAULT);
  return s;
}

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

static GtkWidget *
color_button (GSettings *settings, const char *key)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GtkWidget *button = gtk_color_button_new ();
  gtk_color_chooser_set_use_alpha (GTK_COLOR_CHOOSER (button), FALSE);
  G_GNUC_END_IGNORE_DEPRECATIONS
  gtk_widget_set_halign (button, GTK_ALIGN_START);
  g_settings_bind_with_mapping (settings, key, button, "rgba", G_SETTINGS_BIND_DEFAULT,
                                color_get, color_set, NULL, NULL);
  return button;
}

/* ---- Model files ------------------------------------------------------------------- */

static void
model_chosen_cb (GtkNativeDialog *dialog, int response, GtkEntry *entry)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      if (path != NULL)
        gtk_editable_set_text (GTK_EDITABLE (entry), path);
    }
  g_object_unref (dialog);
}

static void
choose_model_clicked_cb (GtkButton *button, GtkEntry *entry)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (button));
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (_("Choose Model Weights"), GTK_WINDOW (root), GTK_FILE_CHOOSER_ACTION_OPEN,
                                 _("_Choose"), _("_Cancel"));
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, _("Model weights (safetensors)"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  g_signal_connect (chooser, "response", G_CALLBACK (model_chosen_cb), entry);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void clear_clicked_cb (GtkButton *button, GtkEditable *entry);

static GtkWidget *
model_row (GSettings *settings, const char *key, const char *accessible)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *entry = gtk_entry_new ();
  gtk_widget_set_hexpand (entry, TRUE);
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), _("The active version in the model registry"));
  g_settings_bind (settings, key, entry, "text", G_SETTINGS_BIND_DEFAULT);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);
  gtk_box_append (GTK_BOX (box), entry);
  GtkWidget *choose = gtk_button_new_from_icon_name ("document-open-symbolic");
  gtk_widget_set_tooltip_text (choose, _("Choose a model file"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (choose), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Choose a model file"), -1);
  g_signal_connect (choose, "clicked", G_CALLBACK (choose_model_clicked_cb), entry);
  gtk_box_append (GTK_BOX (box), choose);
  GtkWidget *clear = gtk_button_new_from_icon_name ("edit-clear-symbolic");
  gtk_widget_set_tooltip_text (clear, _("Use the registry’s active version"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (clear), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Use the registry’s active version"), -1);
  g_signal_connect (clear, "clicked", G_CALLBACK (clear_clicked_cb), entry);
  gtk_box_append (GTK_BOX (box), clear);
  return box;
}

static void
clear_clicked_cb (GtkButton *button, GtkEditable *entry)
{
  gtk_editable_set_text (entry, "");
}

/* ---- GObject --------------------------------------------------------------------- */

static void
build (DermPreferences *self)
{
  GSettings *settings = self->settings;

  add_heading (self, _("Models"));
  const char *device_names[] = { _("Automatic (GPU when available)"), _("CPU"), _("GPU (CUDA)"), NULL };
  GtkWidget *device = gtk_drop_down_new_from_strings (device_names);
  g_settings_bind_with_mapping (settings, "device", device, "selected", G_SETTINGS_BIND_DEFAULT,
                                device_get, device_set, NULL, NULL);
  add_row (self, _("_Device"), _("Where the models run; a GPU that fails falls back to the CPU"), device);
  add_row (self, _("_Classifier"), NULL, model_row (settings, "classifier-model", _("Classifier model file")));
  add_row (self, _("_Segmentation"), NULL, model_row (settings, "segmenter-model", _("Segmentation model file")));
  GtkWidget *tta = gtk_switch_new ();
  gtk_widget_set_halign (tta, GTK_ALIGN_START);
  g_settings_bind (settings, "test-time-augmentation", tta, "active", G_SETTINGS_BIND_DEFAULT);
  add_row (self, _("_Test-time augmentation"),
           _("Average over the eight flips and rotations (slower, slightly more accurate)"), tta);

  add_heading (self, _("Overlays"));
  add_row (self, _("_Mask colour"), NULL, color_button (settings, "mask-color"));
  add_row (self, _("Mask _opacity"), NULL, scale (settings, "mask-opacity"));
  add_row (self, _("C_ontour colour"), NULL, color_button (settings, "contour-color"));
  add_row (self, _("_Heatmap opacity"), NULL, scale (settings, "heatmap-opacity"));

  add_heading (self, _("Results"));
  add_row (self, _("_Risk threshold"),
           _("The malignant-risk flag shows when melanoma, basal cell carcinoma and actinic keratosis together reach this"),
           spin (settings, "risk-threshold", 0.01, 0.99, 0.01, 2));
  add_row (self, _("_Low-confidence margin"),
           _("A note shows when the two most probable diagnoses are closer than this"),
           spin (settings, "low-confidence-margin", 0.0, 0.5, 0.01, 2));
  const char *unit_names[] = { _("Pixels"), _("Millimetres"), NULL };
  GtkWidget *units = gtk_drop_down_new_from_strings (unit_names);
  g_settings_bind_with_mapping (settings, "units", units, "selected", G_SETTINGS_BIND_DEFAULT,
                                units_get, units_set, NULL, NULL);
  add_row (self, _("_Units"), NULL, units);
  add_row (self, _("_Pixels per millimetre"), _("The dermatoscope’s scale; 0 when unknown"),
           spin (settings, "pixels-per-mm", 0.0, 10000.0, 0.5, 1));
}

static void
derm_preferences_dispose (GObject *object)
{
  g_clear_object (&DERM_PREFERENCES (object)->settings);
  G_OBJECT_CLASS (derm_preferences_parent_class)->dispose (object);
}

static void
derm_preferences_class_init (DermPreferencesClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = derm_preferences_dispose;
  gtk_widget_class_add_binding_action (GTK_WIDGET_CLASS (klass), GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
derm_preferences_init (DermPreferences *self)
{
  gtk_window_set_title (GTK_WINDOW (self), _("Preferences"));
  gtk_window_set_default_size (GTK_WINDOW (self), 560, -1);
  self->grid = GTK_GRID (gtk_grid_new ());
  gtk_grid_set_row_spacing (self->grid, 8);
  gtk_grid_set_column_spacing (self->grid, 12);
  gtk_widget_set_margin_start (GTK_WIDGET (self->grid), 18);
  gtk_widget_set_margin_end (GTK_WIDGET (self->grid), 18);
  gtk_widget_set_margin_top (GTK_WIDGET (self->grid), 18);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->grid), 18);
  GtkWidget *scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scroller), TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), GTK_WIDGET (self->grid));
  gtk_window_set_child (GTK_WINDOW (self), scroller);
}

DermPreferences *
derm_preferences_new (GtkWindow *parent, GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  DermPreferences *self = g_object_new (DERM_TYPE_PREFERENCES, "transient-for", parent, NULL);
  self->settings = g_object_ref (settings);
  build (self);
  return self;
}
