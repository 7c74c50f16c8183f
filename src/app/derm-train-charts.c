/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-train-charts.c: loss / metric curves and the confusion heat map. */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-charts"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "derm-train-charts.h"

/* ---- Curves ------------------------------------------------------------------ */

typedef struct {
  double x, y;
} Point;

struct _DermCurve
{
  GtkWidget parent_instance;

  GArray *loss;     /* Point */
  GArray *metric;   /* Point */
  int epochs;
  char *metric_name;
};

G_DEFINE_FINAL_TYPE (DermCurve, derm_curve, GTK_TYPE_WIDGET)

static void
foreground (GtkWidget *widget, GdkRGBA *rgba)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), rgba);
  G_GNUC_END_IGNORE_DEPRECATIONS
}

/* A layout for the charts' labels, in their small font. Returns: (transfer full). */
static PangoLayout *
small_layout (GtkWidget *widget)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, NULL);
  PangoFontDescription *font = pango_font_description_from_string ("Sans 8");
  pango_layout_set_font_description (layout, font);
  pango_font_description_free (font);
  return layout;
}

static void
draw_series (cairo_t *cr, GArray *pts, double x0, double y0, double w, double h,
             double xmax, double ymin, double ymax)
{
  if (pts->len == 0)
    return;
  for (guint i = 0; i < pts->len; i++)
    {
      Point p = g_array_index (pts, Point, i);
      double x = x0 + w * (p.x / xmax);
      double y = y0 + h - h * ((p.y - ymin) / MAX (ymax - ymin, 1e-9));
      if (i == 0)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
    }
  cairo_stroke (cr);
}

static void
draw_dots (cairo_t *cr, GArray *pts, double x0, double y0, double w, double h, double xmax)
{
  for (guint i = 0; i < pts->len; i++)
    {
      Point p = g_array_index (pts, Point, i);
      cairo_arc (cr, x0 + w * (p.x / xmax), y0 + h - h * p.y, 3, 0, 2 * G_PI);
      cairo_fill (cr);
    }
}

static void
curve_draw (DermCurve *self, cairo_t *cr, int width, int height)
{
  GdkRGBA fg;
  foreground (GTK_WIDGET (self), &fg);
  const double left = 48, right = 48, top = 22, bottom = 26;
  double w = width - left - right, h = height - top - bottom;
  if (w < 20 || h < 20)
    return;
  double xmax = MAX (self->epochs, 1);
  double lmax = 0;
  for (guint i = 0; i < self->loss->len; i++)
    lmax = MAX (lmax, g_array_index (self->loss, Point, i).y);
  lmax = lmax > 0 ? lmax * 1.1 : 1;

  PangoLayout *layout = small_layout (GTK_WIDGET (self));

  /* Frame and grid */
  cairo_set_line_width (cr, 1);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.15);
  for (int i = 0; i <= 4; i++)
    {
      double y = top + h * i / 4.0;
      cairo_move_to (cr, left, y);
      cairo_line_to (cr, left + w, y);
    }
  cairo_stroke (cr);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.7);
  cairo_rectangle (cr, left, top, w, h);
  cairo_stroke (cr);

  char buf[64];
  /* Axis labels: loss on the left, metric on the right, epochs below. */
  for (int i = 0; i <= 4; i++)
    {
      double y = top + h - h * i / 4.0;
      g_snprintf (buf, sizeof buf, "%.2f", lmax * i / 4.0);
      pango_layout_set_text (layout, buf, -1);
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_set_source_rgba (cr, 0.85, 0.35, 0.1, 1);
      cairo_move_to (cr, left - tw - 4, y - th / 2.0);
      pango_cairo_show_layout (cr, layout);
      g_snprintf (buf, sizeof buf, "%.2f", i / 4.0);
      pango_layout_set_text (layout, buf, -1);
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_set_source_rgba (cr, 0.1, 0.45, 0.85, 1);
      cairo_move_to (cr, left + w + 4, y - th / 2.0);
      pango_cairo_show_layout (cr, layout);
    }
  int step = MAX (1, self->epochs / 10);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.8);
  for (int e = 0; e <= self->epochs; e += step)
    {
      g_snprintf (buf, sizeof buf, "%d", e);
      pango_layout_set_text (layout, buf, -1);
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_move_to (cr, left + w * e / xmax - tw / 2.0, top + h + 4);
      pango_cairo_show_layout (cr, layout);
    }

  /* Legend */
  g_autofree char *legend = g_strdup_printf ("<span foreground=\"#d9591a\">━ %s</span>   "
                                             "<span foreground=\"#1a73d9\">● %s</span>   %s",
                                             _("Training loss"),
                                             self->metric_name != NULL ? self->metric_name
                                                                       : _("Validation"),
                                             _("(x: epochs)"));
  pango_layout_set_markup (layout, legend, -1);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 1);
  cairo_move_to (cr, left, 2);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);

  cairo_save (cr);
  cairo_rectangle (cr, left, top, w, h);
  cairo_clip (cr);
  cairo_set_line_width (cr, 2);
  cairo_set_source_rgba (cr, 0.85, 0.35, 0.1, 1);
  draw_series (cr, self->loss, left, top, w, h, xmax, 0, lmax);
  cairo_set_source_rgba (cr, 0.1, 0.45, 0.85, 1);
  draw_series (cr, self->metric, left, top, w, h, xmax, 0, 1);
  draw_dots (cr, self->metric, left, top, w, h, xmax);
  cairo_restore (cr);
}

static void
derm_curve_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  graphene_rect_t bounds = GRAPHENE_RECT_INIT (0, 0, width, height);
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &bounds);
  curve_draw (DERM_CURVE (widget), cr, width, height);
  cairo_destroy (cr);
}

static void
derm_curve_finalize (GObject *object)
{
  DermCurve *self = DERM_CURVE (object);
  g_array_unref (self->loss);
  g_array_unref (self->metric);
  g_free (self->metric_name);
  G_OBJECT_CLASS (derm_curve_parent_class)->finalize (object);
}

static void
derm_curve_class_init (DermCurveClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = derm_curve_finalize;
  GTK_WIDGET_CLASS (klass)->snapshot = derm_curve_snapshot;
  gtk_widget_class_set_accessible_role (GTK_WIDGET_CLASS (klass), GTK_ACCESSIBLE_ROLE_IMG);
  gtk_widget_class_set_css_name (GTK_WIDGET_CLASS (klass), "dermcurve");
}

static void
derm_curve_init (DermCurve *self)
{
  self->loss = g_array_new (FALSE, FALSE, sizeof (Point));
  self->metric = g_array_new (FALSE, FALSE, sizeof (Point));
  self->epochs = 1;
  gtk_widget_set_size_request (GTK_WIDGET (self), 320, 180);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Training loss and validation metric by epoch"), -1);
}

GtkWidget *
derm_curve_new (void)
{
  return g_object_new (DERM_TYPE_CURVE, NULL);
}

void
derm_curve_clear (DermCurve *self)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  g_array_set_size (self->loss, 0);
  g_array_set_size (self->metric, 0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_curve_set_epochs (DermCurve *self, int epochs)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  /* Called on every training step: redraw only when it changes. */
  if (self->epochs == MAX (epochs, 1))
    return;
  self->epochs = MAX (epochs, 1);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_curve_add_loss (DermCurve *self, double epoch, double loss)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  if (!isfinite (loss))
    return;
  Point p = { epoch, loss };
  g_array_append_val (self->loss, p);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_curve_add_metric (DermCurve *self, double epoch, double metric)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  if (!isfinite (metric))
    return;
  Point p = { epoch, CLAMP (metric, 0, 1) };
  g_array_append_val (self->metric, p);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_curve_set_metric_name (DermCurve *self, const char *name)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  /* Called on every training step: redraw only when it changes. */
  if (g_strcmp0 (self->metric_name, name) == 0)
    return;
  g_free (self->metric_name);
  self->metric_name = g_strdup (name);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
truncate_series (GArray *pts, double x)
{
  guint keep = 0;
  while (keep < pts->len && g_array_index (pts, Point, keep).x <= x)
    keep++;
  g_array_set_size (pts, keep);
}

void
derm_curve_truncate (DermCurve *self, double epoch)
{
  g_return_if_fail (DERM_IS_CURVE (self));
  truncate_series (self->loss, epoch);
  truncate_series (self->metric, epoch);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
derm_curve_get_n_loss (DermCurve *self)
{
  return self->loss->len;
}

guint
derm_curve_get_n_metric (DermCurve *self)
{
  return self->metric->len;
}

/* ---- Confusion matrix ---------------------------------------------------------- */

struct _DermConfusion
{
  GtkWidget parent_instance;

  gboolean has_data;
  int counts[DERM_N_CLASSES][DERM_N_CLASSES];
};

G_DEFINE_FINAL_TYPE (DermConfusion, derm_confusion, GTK_TYPE_WIDGET)

static void
confusion_draw (DermConfusion *self, cairo_t *cr, int width, int height)
{
  GdkRGBA fg;
  foreground (GTK_WIDGET (self), &fg);
  const double left = 56, top = 40;
  double cell = MIN ((width - left - 8) / (double) DERM_N_CLASSES,
                     (height - top - 8) / (double) DERM_N_CLASSES);
  if (cell < 8)
    return;
  PangoLayout *layout = small_layout (GTK_WIDGET (self));
  int tw, th;

  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 1);
  pango_layout_set_text (layout, _("rows: true class · columns: predicted"), -1);
  cairo_move_to (cr, 2, 2);
  pango_cairo_show_layout (cr, layout);

  for (int t = 0; t < DERM_N_CLASSES; t++)
    {
      int row = 0;
      for (int p = 0; p < DERM_N_CLASSES; p++)
        row += self->counts[t][p];
      for (int p = 0; p < DERM_N_CLASSES; p++)
        {
          double share = row > 0 ? (double) self->counts[t][p] / row : 0;
          double x = left + p * cell, y = top + t * cell;
          /* white -> deep blue; the diagonal in green hues */
          if (t == p)
            cairo_set_source_rgb (cr, 1 - 0.8 * share, 1 - 0.35 * share, 1 - 0.75 * share);
          else
            cairo_set_source_rgb (cr, 1 - 0.85 * share, 1 - 0.7 * share, 1 - 0.2 * share);
          cairo_rectangle (cr, x, y, cell - 1, cell - 1);
          cairo_fill (cr);
          char buf[16];
          g_snprintf (buf, sizeof buf, "%d", self->counts[t][p]);
          pango_layout_set_text (layout, buf, -1);
          pango_layout_get_pixel_size (layout, &tw, &th);
          if (share > 0.55)
            cairo_set_source_rgb (cr, 1, 1, 1);
          else
            cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
          cairo_move_to (cr, x + (cell - tw) / 2, y + (cell - th) / 2);
          pango_cairo_show_layout (cr, layout);
        }
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 1);
      pango_layout_set_text (layout, derm_class_code (t), -1);
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_move_to (cr, left - tw - 6, top + t * cell + (cell - th) / 2);
      pango_cairo_show_layout (cr, layout);
      cairo_move_to (cr, left + t * cell + (cell - tw) / 2, top - th - 2);
      pango_cairo_show_layout (cr, layout);
    }
  g_object_unref (layout);
}

static void
derm_confusion_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  graphene_rect_t bounds = GRAPHENE_RECT_INIT (0, 0, width, height);
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &bounds);
  confusion_draw (DERM_CONFUSION (widget), cr, width, height);
  cairo_destroy (cr);
}

static void
derm_confusion_class_init (DermConfusionClass *klass)
{
  GTK_WIDGET_CLASS (klass)->snapshot = derm_confusion_snapshot;
  gtk_widget_class_set_accessible_role (GTK_WIDGET_CLASS (klass), GTK_ACCESSIBLE_ROLE_IMG);
  gtk_widget_class_set_css_name (GTK_WIDGET_CLASS (klass), "dermconfusion");
}

static void
derm_confusion_init (DermConfusion *self)
{
  gtk_widget_set_size_request (GTK_WIDGET (self), 300, 290);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Confusion matrix of the test split"), -1);
}

GtkWidget *
derm_confusion_new (void)
{
  return g_object_new (DERM_TYPE_CONFUSION, NULL);
}

void
derm_confusion_set (DermConfusion *self, const int counts[DERM_N_CLASSES][DERM_N_CLASSES])
{
  g_return_if_fail (DERM_IS_CONFUSION (self));
  self->has_data = counts != NULL;
  if (counts != NULL)
    memcpy (self->counts, counts, sizeof self->counts);
  else
    memset (self->counts, 0, sizeof self->counts);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
derm_confusion_has_data (DermConfusion *self)
{
  g_return_val_if_fail (DERM_IS_CONFUSION (self), FALSE);
  return self->has_data;
}
