/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-results.c: the results panel. */
#include "config.h"

#define G_LOG_DOMAIN "derm-results"

#include <math.h>

#include <glib/gi18n.h>

#include "derm-report.h"
#include "derm-results.h"

struct _DermResults
{
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkStack *stack;
  GtkSpinner *spinner;
  GtkLabel *no_model_label;
  GtkLabel *failed_label;
  GtkLabel *top_label;
  GtkLabel *risk_label;
  GtkLabel *low_confidence_label;
  GtkGrid *bars_grid;
  GtkGrid *measurements_grid;
  GtkLabel *models_label;
  GtkLabel *notice_label;
  GtkLabel *context_label;

  /* Rows of the chart, in display order. */
  GtkLabel *bar_names[DERM_N_CLASSES];
  GtkLevelBar *bars[DERM_N_CLASSES];
  GtkLabel *bar_values[DERM_N_CLASSES];
  int bar_classes[DERM_N_CLASSES];
};

G_DEFINE_FINAL_TYPE (DermResults, derm_results, GTK_TYPE_WIDGET)

static void
set_state (DermResults *self, const char *name)
{
  gtk_stack_set_visible_child_name (self->stack, name);
  gtk_spinner_set_spinning (self->spinner, g_str_equal (name, "analysing"));
}

void
derm_results_show_analysing (DermResults *self)
{
  g_return_if_fail (DERM_IS_RESULTS (self));
  set_state (self, "analysing");
}

void
derm_results_show_no_model (DermResults *self, const char *message)
{
  g_return_if_fail (DERM_IS_RESULTS (self));
  gtk_label_set_text (self->no_model_label, message);
  set_state (self, "no-model");
}

void
derm_results_show_failed (DermResults *self, const char *message)
{
  g_return_if_fail (DERM_IS_RESULTS (self));
  gtk_label_set_text (self->failed_label, message);
  set_state (self, "failed");
}

static int
compare_probs_desc (gconstpointer a, gconstpointer b, gpointer data)
{
  const float *probs = data;
  float pa = probs[*(const int *) a], pb = probs[*(const int *) b];
  return pa < pb ? 1 : pa > pb ? -1 : *(const int *) a - *(const int *) b;
}

static void
clear_grid (GtkGrid *grid)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (grid))) != NULL)
    gtk_grid_remove (grid, child);
}

static void
add_measurement (GtkGrid *grid, int row, const char *name, const char *value)
{
  GtkWidget *n = gtk_label_new (name);
  gtk_label_set_xalign (GTK_LABEL (n), 0);
  gtk_widget_add_css_class (n, "dim-label");
  GtkWidget *v = gtk_label_new (value);
  gtk_label_set_xalign (GTK_LABEL (v), 0);
  gtk_label_set_wrap (GTK_LABEL (v), TRUE);
  gtk_label_set_selectable (GTK_LABEL (v), TRUE);
  gtk_grid_attach (grid, n, 0, row, 1, 1);
  gtk_grid_attach (grid, v, 1, row, 1, 1);
}

typedef struct {
  GtkGrid *grid;
  int next;       /* the row the next measurement goes in */
} MeasurementRows;

static void
add_measurement_cb (const char *name, const char *value, gpointer data)
{
  MeasurementRows *rows = data;
  add_measurement (rows->grid, rows->next++, name, value);
}

static void
show_measurements (DermResults *self, const DermAnalysisResult *result, double ppmm)
{
  clear_grid (self->measurements_grid);
  if (!result->has_measurements)
    {
      add_measurement (self->measurements_grid, 0, "",
                       result->measurement_error != NULL ? result->measurement_error
                                                         : _("No measurements."));
      if (result->measurements_corrected)
        add_measurement (self->measurements_grid, 1, "", _("Measured on the corrected mask."));
      return;
    }
  MeasurementRows rows = { self->measurements_grid, 0 };
  derm_report_measurement_rows (&result->measurements, ppmm, add_measurement_cb, &rows);
  if (result->measurements_corrected)
    add_measurement (self->measurements_grid, rows.next, "", _("Measured on the corrected mask."));
}

void
derm_results_show (DermResults *self, const DermAnalysisResult *result, double risk_threshold,
                   gboolean override_risk_threshold,
                   double low_confidence_margin, double pixels_per_mm)
{
  g_return_if_fail (DERM_IS_RESULTS (self));
  g_return_if_fail (result != NULL);

  int order[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    order[c] = c;
  g_qsort_with_data (order, DERM_N_CLASSES, sizeof (int), compare_probs_desc, (gpointer) result->probs);

  for (int i = 0; i < DERM_N_CLASSES; i++)
    {
      int c = order[i];
      self->bar_classes[i] = c;
      g_autofree char *name = g_strdup_printf ("%s (%s)", derm_class_name (c), derm_class_code (c));
      gtk_label_set_text (self->bar_names[i], name);
      gtk_level_bar_set_value (self->bars[i], result->probs[c]);
      g_autofree char *pct = g_strdup_printf ("%.1f %%", 100.0 * result->probs[c]);
      gtk_label_set_text (self->bar_values[i], pct);
      g_autofree char *accessible = g_strdup_printf (_("%s: %.1f percent"), derm_class_name (c),
                                                     100.0 * result->probs[c]);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->bars[i]), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      accessible, -1);
    }

  /* The model's decision: with its decision rule it may be a rarer class
   * than the most probable one. */
  int top = result->top_class >= 0 && result->top_class < DERM_N_CLASSES ? result->top_class
                                                                          : order[0];
  g_autofree char *top_text = top != order[0]
    ? g_strdup_printf (_("%s — %.0f %% (the model’s decision rule favours it over %s)"),
                       derm_class_name (top), 100.0 * result->probs[top], derm_class_name (order[0]))
    : g_strdup_printf (_("%s — %.0f %%"), derm_class_name (top), 100.0 * result->probs[top]);
  gtk_label_set_text (self->top_label, top_text);

  g_autofree char *flag = derm_report_flag_text (result, override_risk_threshold, risk_threshold);
  gtk_widget_set_visible (GTK_WIDGET (self->risk_label), flag != NULL);
  if (flag != NULL)
    gtk_label_set_text (self->risk_label, flag);

  double margin = result->probs[order[0]] - result->probs[order[1]];
  gboolean low = margin < low_confidence_margin;
  gtk_widget_set_visible (GTK_WIDGET (self->low_confidence_label), low);
  if (low)
    {
      g_autofree char *text = g_strdup_printf (_("Low confidence: %s and %s are only %.0f points apart."),
                                               derm_class_name (order[0]), derm_class_name (order[1]),
                                               100 * margin);
      gtk_label_set_text (self->low_confidence_label, text);
    }

  g_autofree char *context = derm_report_context_text (result);
  gtk_widget_set_visible (GTK_WIDGET (self->context_label), context != NULL);
  gtk_label_set_text (self->context_label, context != NULL ? context : "");

  show_measurements (self, result, pixels_per_mm);

  g_autofree char *models = g_strdup_printf (_("Classifier: %s\nSegmentation: %s"),
                                             result->classifier_info,
                                             result->segmenter_info != NULL ? result->segmenter_info
                                                                            : _("none"));
  gtk_label_set_text (self->models_label, models);

  gtk_widget_set_visible (GTK_WIDGET (self->notice_label), result->notice != NULL);
  gtk_label_set_text (self->notice_label, result->notice != NULL ? result->notice : "");

  set_state (self, "results");
}

void
derm_results_describe (DermResults *self, GString *out)
{
  g_return_if_fail (DERM_IS_RESULTS (self));
  const char *state = gtk_stack_get_visible_child_name (self->stack);
  g_string_append_printf (out, "analysis=%s\n", state);
  if (g_str_equal (state, "no-model"))
    g_string_append_printf (out, "no_model=%s\n", gtk_label_get_text (self->no_model_label));
  if (g_str_equal (state, "failed"))
    g_string_append_printf (out, "analysis_error=%s\n", gtk_label_get_text (self->failed_label));
  if (!g_str_equal (state, "results"))
    return;
  g_string_append_printf (out, "top=%s\n", gtk_label_get_text (self->top_label));
  for (int i = 0; i < DERM_N_CLASSES; i++)
    g_string_append_printf (out, "bar%d=%s|%s|%s\n", i, derm_class_code (self->bar_classes[i]),
                            gtk_label_get_text (self->bar_names[i]),
                            gtk_label_get_text (self->bar_values[i]));
  g_string_append_printf (out, "risk_flag=%s\n",
                          gtk_widget_get_visible (GTK_WIDGET (self->risk_label))
                            ? gtk_label_get_text (self->risk_label) : "");
  g_string_append_printf (out, "low_confidence=%s\n",
                          gtk_widget_get_visible (GTK_WIDGET (self->low_confidence_label))
                            ? gtk_label_get_text (self->low_confidence_label) : "");
  g_autofree char *models = g_strdup (gtk_label_get_text (self->models_label));
  g_strdelimit (models, "\n", ';');
  g_string_append_printf (out, "models=%s\n", models);
  g_string_append_printf (out, "context=%s\n",
                          gtk_widget_get_visible (GTK_WIDGET (self->context_label))
                            ? gtk_label_get_text (self->context_label) : "");
  g_string_append_printf (out, "notice=%s\n",
                          gtk_widget_get_visible (GTK_WIDGET (self->notice_label))
                            ? gtk_label_get_text (self->notice_label) : "");
  int row = 0;
  for (GtkWidget *w = gtk_widget_get_first_child (GTK_WIDGET (self->measurements_grid)); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    g_string_append_printf (out, "measurement%d=%s\n", row++, gtk_label_get_text (GTK_LABEL (w)));
}

static void
derm_results_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), DERM_TYPE_RESULTS);
  G_OBJECT_CLASS (derm_results_parent_class)->dispose (object);
}

static void
derm_results_class_init (DermResultsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = derm_results_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-results.ui");
  gtk_widget_class_bind_template_child (widget_class, DermResults, scroller);
  gtk_widget_class_bind_template_child (widget_class, DermResults, stack);
  gtk_widget_class_bind_template_child (widget_class, DermResults, spinner);
  gtk_widget_class_bind_template_child (widget_class, DermResults, no_model_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, failed_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, top_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, risk_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, low_confidence_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, bars_grid);
  gtk_widget_class_bind_template_child (widget_class, DermResults, measurements_grid);
  gtk_widget_class_bind_template_child (widget_class, DermResults, models_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, notice_label);
  gtk_widget_class_bind_template_child (widget_class, DermResults, context_label);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "dermresults");
}

static void
derm_results_init (DermResults *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_widget_add_css_class (GTK_WIDGET (self), "results-panel");

  for (int i = 0; i < DERM_N_CLASSES; i++)
    {
      self->bar_names[i] = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_xalign (self->bar_names[i], 0);
      gtk_label_set_wrap (self->bar_names[i], TRUE);
      gtk_widget_set_hexpand (GTK_WIDGET (self->bar_names[i]), TRUE);
      gtk_grid_attach (self->bars_grid, GTK_WIDGET (self->bar_names[i]), 0, 2 * i, 1, 1);

      self->bar_values[i] = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_xalign (self->bar_values[i], 1);
      gtk_widget_add_css_class (GTK_WIDGET (self->bar_values[i]), "numeric");
      gtk_grid_attach (self->bars_grid, GTK_WIDGET (self->bar_values[i]), 1, 2 * i, 1, 1);

      self->bars[i] = GTK_LEVEL_BAR (gtk_level_bar_new_for_interval (0, 1));
      gtk_level_bar_remove_offset_value (self->bars[i], GTK_LEVEL_BAR_OFFSET_LOW);
      gtk_level_bar_remove_offset_value (self->bars[i], GTK_LEVEL_BAR_OFFSET_HIGH);
      gtk_level_bar_remove_offset_value (self->bars[i], GTK_LEVEL_BAR_OFFSET_FULL);
      gtk_widget_add_css_class (GTK_WIDGET (self->bars[i]), "probability-bar");
      gtk_grid_attach (self->bars_grid, GTK_WIDGET (self->bars[i]), 0, 2 * i + 1, 2, 1);
    }
}

GtkWidget *
derm_results_new (void)
{
  return g_object_new (DERM_TYPE_RESULTS, NULL);
}
