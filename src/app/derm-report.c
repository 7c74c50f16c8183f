/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-report.c: the case report as a PDF. Layout in points on an A4 page. */
#include "config.h"

#define G_LOG_DOMAIN "derm-report"

#include <math.h>

#include <cairo-pdf.h>
#include <glib/gi18n.h>
#include <pango/pangocairo.h>

#include "derm-error.h"
#include "derm-case.h"
#include "derm-report.h"

#define PAGE_W 595.28
#define PAGE_H 841.89
#define MARGIN 48.0

double
derm_report_flag_threshold (const DermAnalysisResult *result, gboolean override, double setting,
                            gboolean *from_model)
{
  gboolean model = !override && isfinite (result->model_risk_threshold);
  if (from_model != NULL)
    *from_model = model;
  return model ? result->model_risk_threshold : setting;
}

static int compare_probs_desc (gconstpointer a, gconstpointer b, gpointer data);

char *
derm_report_context_text (const DermAnalysisResult *result)
{
  if (result->context_taken == 0)
    return NULL;
  g_autofree char *fields = derm_patient_context_fields_label (result->context_taken);
  if (!result->has_probs_without_context)
    return g_strdup_printf (_("This model also weighs the patient’s %s; none is known for this "
                              "image. Save it to a case with them to use them."), fields);
  /* Without the context, class by class in the order of these probabilities. */
  int order[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    order[c] = c;
  g_qsort_with_data (order, DERM_N_CLASSES, sizeof (int), compare_probs_desc, (gpointer) result->probs);
  g_autoptr(GString) without = g_string_new (NULL);
  for (int i = 0; i < DERM_N_CLASSES; i++)
    g_string_append_printf (without, "%s%s %.0f %%", i > 0 ? ", " : "", derm_class_code (order[i]),
                            100.0 * result->probs_without_context[order[i]]);
  return g_strdup_printf (_("Patient context used: %s. Without it: %s."), result->context_text,
                          without->str);
}

char *
derm_report_flag_text (const DermAnalysisResult *result, gboolean override, double setting)
{
  gboolean from_model;
  double t = derm_report_flag_threshold (result, override, setting, &from_model);
  double risk = derm_class_malignant_risk (result->probs);
  if (!(risk >= t))
    return NULL;
  if (!from_model)
    return g_strdup_printf (_("Malignant risk: melanoma, basal cell carcinoma and actinic keratosis "
                              "together reach %.0f %% (threshold %.0f %%)."), 100 * risk, 100 * t);
  return g_strdup_printf (_("Malignant risk: melanoma, basal cell carcinoma and actinic keratosis "
                            "together reach %.0f %%, at or above the model’s operating point "
                            "(%.0f %%). %s"), 100 * risk, 100 * t,
                          result->operating_point_text != NULL ? result->operating_point_text : "");
}

void
derm_report_free (DermReport *report)
{
  if (report == NULL)
    return;
  derm_image_free (report->image);
  derm_image_free (report->mask);
  derm_analysis_result_free (report->result);
  g_free (report->title);
  g_free (report->patient);
  g_free (report->body_site);
  g_free (report->lesion_label);
  g_free (report->notes);
  g_free (report->annotation_notes);
  g_free (report);
}

/* Draws @text at (x, y) in @width points; returns its height. */
static double
draw_text (cairo_t *cr, double x, double y, double width, const char *text, const char *font,
           gboolean markup)
{
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *desc = pango_font_description_from_string (font);
  pango_layout_set_font_description (layout, desc);
  pango_font_description_free (desc);
  pango_layout_set_width (layout, (int) (width * PANGO_SCALE));
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
  /* Chart labels ("Sans 8.5") stay on their one line above the bar. */
  if (g_str_equal (font, "Sans 8.5"))
    pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_MIDDLE);
  if (markup)
    pango_layout_set_markup (layout, text, -1);
  else
    pango_layout_set_text (layout, text, -1);
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, layout);
  int w, h;
  pango_layout_get_size (layout, &w, &h);
  g_object_unref (layout);
  return (double) h / PANGO_SCALE;
}

static cairo_surface_t *
image_surface (const DermImage *image)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, image->width, image->height);
  guint32 *px = (guint32 *) cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface) / 4;
  for (int y = 0; y < image->height; y++)
    for (int x = 0; x < image->width; x++)
      {
        const guint8 *p = derm_image_pixel (image, x, y);
        px[y * stride + x] = 0xff000000u | (p[0] << 16) | (p[1] << 8) | p[2];
      }
  cairo_surface_mark_dirty (surface);
  return surface;
}

/* The image fitted into (x, y, w, h), with the mask's contour; returns the
 * height used. */
static double
draw_image (cairo_t *cr, const DermReport *report, double x, double y, double w, double h)
{
  const DermImage *image = report->image;
  double scale = MIN (w / image->width, h / image->height);
  double dw = image->width * scale, dh = image->height * scale;

  cairo_save (cr);
  cairo_translate (cr, x, y);
  cairo_scale (cr, scale, scale);
  cairo_surface_t *surface = image_surface (image);
  cairo_set_source_surface (cr, surface, 0, 0);
  cairo_paint (cr);
  cairo_surface_destroy (surface);
  cairo_restore (cr);

  const DermImage *m = report->mask;
  if (m != NULL)
    {
      double sx = dw / m->width, sy = dh / m->height;
#define INSIDE(xx, yy) ((xx) >= 0 && (yy) >= 0 && (xx) < m->width && (yy) < m->height \
                        && m->data[(gsize) (yy) * m->width + (xx)] >= 128)
      for (int py = 0; py <= m->height; py++)
        for (int px = 0; px <= m->width; px++)
          {
            gboolean here = INSIDE (px, py);
            if (here != INSIDE (px, py - 1) && px < m->width)
              {
                cairo_move_to (cr, x + px * sx, y + py * sy);
                cairo_line_to (cr, x + (px + 1) * sx, y + py * sy);
              }
            if (here != INSIDE (px - 1, py) && py < m->height)
              {
                cairo_move_to (cr, x + px * sx, y + py * sy);
                cairo_line_to (cr, x + px * sx, y + (py + 1) * sy);
              }
          }
#undef INSIDE
      cairo_set_source_rgb (cr, 0.2, 0.82, 0.48);
      cairo_set_line_width (cr, 1.5);
      cairo_set_line_cap (cr, CAIRO_LINE_CAP_SQUARE);
      cairo_stroke (cr);
    }
  cairo_set_source_rgb (cr, 0, 0, 0);
  return dh;
}

static int
compare_probs_desc (gconstpointer a, gconstpointer b, gpointer data)
{
  const float *probs = data;
  float pa = probs[*(const int *) a], pb = probs[*(const int *) b];
  return pa < pb ? 1 : pa > pb ? -1 : *(const int *) a - *(const int *) b;
}

/* The sorted probabilities as labelled bars; returns the height used. */
static double
draw_chart (cairo_t *cr, const DermAnalysisResult *result, double x, double y, double w)
{
  int order[DERM_N_CLASSES];
  for (int c = 0; c < DERM_N_CLASSES; c++)
    order[c] = c;
  g_qsort_with_data (order, DERM_N_CLASSES, sizeof (int), compare_probs_desc, (gpointer) result->probs);

  const double row = 26, bar_h = 7;
  for (int i = 0; i < DERM_N_CLASSES; i++)
    {
      int c = order[i];
      double top = y + i * row;
      g_autofree char *name = g_strdup_printf ("%s (%s)", derm_class_name (c), derm_class_code (c));
      g_autofree char *pct = g_strdup_printf ("%.1f %%", 100.0 * result->probs[c]);
      cairo_set_source_rgb (cr, 0, 0, 0);
      draw_text (cr, x, top, w - 50, name, "Sans 8.5", FALSE);
      draw_text (cr, x + w - 45, top, 45, pct, "Sans 8.5", FALSE);
      cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
      cairo_rectangle (cr, x, top + 13, w, bar_h);
      cairo_fill (cr);
      if (derm_class_is_malignant (c))
        cairo_set_source_rgb (cr, 0.75, 0.11, 0.16);
      else
        cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
      cairo_rectangle (cr, x, top + 13, w * CLAMP (result->probs[c], 0.0f, 1.0f), bar_h);
      cairo_fill (cr);
    }
  cairo_set_source_rgb (cr, 0, 0, 0);
  return DERM_N_CLASSES * row;
}

static char *
format_date (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (t);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d") : g_strdup ("?");
}

void
derm_report_measurement_rows (const DermLesionMeasurements *m, double ppmm,
                              DermMeasurementRowFunc row, gpointer user_data)
{
  g_autofree char *area = NULL, *diameter = NULL;
  if (ppmm > 0)
    {
      area = g_strdup_printf (_("%.1f mm² (%.1f %% of the image)"),
                              m->area_px / (ppmm * ppmm), 100 * m->area_fraction);
      diameter = g_strdup_printf (_("%.1f mm"), m->diameter_px / ppmm);
    }
  else
    {
      /* G_GINT64_FORMAT inside a msgid would hide it from xgettext. */
      g_autofree char *count = g_strdup_printf ("%" G_GINT64_FORMAT, m->area_px);
      area = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s pixel (%.1f %% of the image)",
                                           "%s pixels (%.1f %% of the image)",
                                           (gulong) m->area_px),
                              count, 100 * m->area_fraction);
      diameter = g_strdup_printf (_("%.0f pixels"), m->diameter_px);
    }
  row (_("Area"), area, user_data);
  row (_("Diameter"), diameter, user_data);
  g_autofree char *asym = g_strdup_printf (_("%.2f and %.2f (0 = symmetric)"),
                                           m->asymmetry[0], m->asymmetry[1]);
  row (_("Asymmetry"), asym, user_data);
  g_autofree char *border = g_strdup_printf (_("%.2f (1 = smooth circle)"), m->compactness);
  row (_("Border irregularity"), border, user_data);
  g_autoptr(GString) colours = g_string_new (NULL);
  for (int c = 0; c < DERM_N_COLORS; c++)
    if (m->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION)
      g_string_append_printf (colours, "%s%s %.0f %%", colours->len > 0 ? ", " : "",
                              derm_color_name (c), 100 * m->color_fraction[c]);
  g_autofree char *colour_count = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d colour: %s",
                                                                "%d colours: %s", m->n_colors),
                                                   m->n_colors, colours->str);
  row (_("Colours"), colour_count, user_data);
}

static void
append_row (GString *out, const char *name, const char *value)
{
  g_autofree char *n = g_markup_escape_text (name, -1);
  g_autofree char *v = g_markup_escape_text (value, -1);
  g_string_append_printf (out, "<b>%s:</b> %s\n", n, v);
}

static void
append_measurement_cb (const char *name, const char *value, gpointer out)
{
  append_row (out, name, value);
}

static char *
measurements_markup (const DermReport *report)
{
  const DermAnalysisResult *result = report->result;
  if (!result->has_measurements)
    return g_markup_escape_text (result->measurement_error != NULL ? result->measurement_error
                                                                   : _("No measurements."), -1);
  g_autoptr(GString) out = g_string_new (NULL);
  derm_report_measurement_rows (&result->measurements, report->pixels_per_mm,
                                append_measurement_cb, out);
  g_string_truncate (out, out->len - 1);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static cairo_status_t
write_to_bytes_cb (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

static void
draw_page (cairo_t *cr, const DermReport *report)
{
  const DermAnalysisResult *result = report->result;
  double x = MARGIN, y = MARGIN, width = PAGE_W - 2 * MARGIN;

  cairo_set_source_rgb (cr, 0, 0, 0);
  y += draw_text (cr, x, y, width, _("Dermoscopy Report"), "Sans Bold 18", FALSE) + 4;
  if (report->title != NULL)
    y += draw_text (cr, x, y, width, report->title, "Sans 11", FALSE);
  y += 10;

  g_autoptr(GString) facts = g_string_new (NULL);
  if (report->patient != NULL)
    append_row (facts, _("Patient"), report->patient);
  if (report->body_site != NULL)
    append_row (facts, _("Body site"), report->body_site);
  if (report->lesion_label != NULL && *report->lesion_label != '\0')
    append_row (facts, _("Lesion"), report->lesion_label);
  g_autofree char *captured = report->captured > 0 ? format_date (report->captured) : NULL;
  if (captured != NULL)
    append_row (facts, _("Visit date"), captured);
  g_autofree char *today = format_date (g_get_real_time () / G_USEC_PER_SEC);
  append_row (facts, _("Report date"), today);
  g_string_truncate (facts, facts->len - 1);
  y += draw_text (cr, x, y, width, facts->str, "Sans 9.5", TRUE) + 12;

  /* Image on the left, chart on the right. */
  double col = (width - 20) / 2;
  double image_h = draw_image (cr, report, x, y, col, 250);
  /* The model's decision (its decision rule's class where it has one). */
  int top = result->top_class;
  if (top < 0 || top >= DERM_N_CLASSES)
    {
      top = 0;
      for (int c = 1; c < DERM_N_CLASSES; c++)
        if (result->probs[c] > result->probs[top])
          top = c;
    }
  g_autofree char *top_text = g_strdup_printf (_("%s — %.0f %%"), derm_class_name (top),
                                               100.0 * result->probs[top]);
  double chart_y = y;
  chart_y += draw_text (cr, x + col + 20, chart_y, col, _("Probabilities"), "Sans Bold 10", FALSE) + 2;
  chart_y += draw_text (cr, x + col + 20, chart_y, col, top_text, "Sans 9.5", FALSE) + 6;
  chart_y += draw_chart (cr, result, x + col + 20, chart_y, col);
  y = MAX (y + image_h, chart_y) + 12;

  g_autofree char *flag = derm_report_flag_text (result, report->override_risk_threshold,
                                                  report->risk_threshold);
  if (flag != NULL)
    {
      cairo_set_source_rgb (cr, 0.75, 0.11, 0.16);
      y += draw_text (cr, x, y, width, flag, "Sans Bold 9.5", FALSE) + 8;
      cairo_set_source_rgb (cr, 0, 0, 0);
    }

  /* What the patient context did, for a model that takes it. */
  g_autofree char *context = derm_report_context_text (result);
  if (context != NULL)
    y += draw_text (cr, x, y, width, context, "Sans 9", FALSE) + 8;

  y += draw_text (cr, x, y, width, _("Measurements"), "Sans Bold 10", FALSE) + 2;
  g_autofree char *measurements = measurements_markup (report);
  y += draw_text (cr, x, y, width, measurements, "Sans 9", TRUE) + 10;

  if (report->diagnosis >= 0 && report->diagnosis < DERM_N_CLASSES)
    {
      y += draw_text (cr, x, y, width, _("Clinician’s diagnosis"), "Sans Bold 10", FALSE) + 2;
      /* Translators: a diagnosis and how it was confirmed, e.g. "Melanoma (MEL), confirmed by Histopathology" */
      g_autofree char *dx = g_strdup_printf (_("%s (%s), confirmed by %s"), derm_class_name (report->diagnosis),
                                             derm_class_code (report->diagnosis),
                                             derm_dx_type_label (report->dx_type));
      y += draw_text (cr, x, y, width, dx, "Sans 9", FALSE) + 2;
      if (report->annotation_notes != NULL && *report->annotation_notes != '\0')
        y += draw_text (cr, x, y, width, report->annotation_notes, "Sans 9", FALSE) + 2;
      y += 8;
    }

  y += draw_text (cr, x, y, width, _("Notes"), "Sans Bold 10", FALSE) + 2;
  y += draw_text (cr, x, y, width,
                  report->notes != NULL && *report->notes != '\0' ? report->notes : _("None."),
                  "Sans 9", FALSE) + 10;

  y += draw_text (cr, x, y, width, _("Model versions"), "Sans Bold 10", FALSE) + 2;
  g_autofree char *models = g_strdup_printf (_("Classifier: %s\nSegmentation: %s"),
                                             result->classifier_info != NULL ? result->classifier_info : "",
                                             result->segmenter_info != NULL ? result->segmenter_info
                                                                            : _("none"));
  y += draw_text (cr, x, y, width, models, "Sans 9", FALSE) + 2;
  {
    gboolean from_model;
    double t = derm_report_flag_threshold (result, report->override_risk_threshold,
                                           report->risk_threshold, &from_model);
    g_autofree char *op = from_model
      ? g_strdup_printf (_("Malignant-risk flag at %.0f %%: the model’s operating point. %s"), 100 * t,
                         result->operating_point_text != NULL ? result->operating_point_text : "")
      : g_strdup_printf (_("Malignant-risk flag at %.0f %%: the user’s threshold, not a "
                           "model’s operating point."), 100 * t);
    y += draw_text (cr, x, y, width, op, "Sans 9", FALSE) + 2;
    if (result->decided_by_rule)
      y += draw_text (cr, x, y, width,
                      _("The diagnosis shown is the model’s decision rule: class offsets fitted "
                        "for balanced accuracy on validation, not simply the highest probability."),
                      "Sans 9", FALSE) + 2;
    y += 8;
  }

  /* The disclaimer sits at the foot of the page whatever came before. */
  const char *disclaimer = _("Decision support only: these results come from a statistical model and "
                             "are not a diagnosis. The examining clinician decides.");
  double foot = MAX (y, PAGE_H - MARGIN - 40);
  cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
  cairo_move_to (cr, x, foot - 6);
  cairo_line_to (cr, x + width, foot - 6);
  cairo_set_line_width (cr, 0.5);
  cairo_stroke (cr);
  draw_text (cr, x, foot, width, disclaimer, "Sans Italic 9", FALSE);
}

gboolean
derm_report_write_pdf (const DermReport *report, const char *path, GError **error)
{
  g_return_val_if_fail (report != NULL && report->image != NULL && report->result != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  cairo_surface_t *surface = cairo_pdf_surface_create_for_stream (write_to_bytes_cb, bytes, PAGE_W, PAGE_H);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_TITLE, _("Dermoscopy Report"));
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR, "Dermalens " PACKAGE_VERSION);
  cairo_t *cr = cairo_create (surface);
  draw_page (cr, report);
  cairo_show_page (cr);
  cairo_status_t status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("The report could not be drawn: %s"),
                   cairo_status_to_string (status));
      return FALSE;
    }

  GError *local = NULL;
  if (!g_file_set_contents_full (path, (const char *) bytes->data, bytes->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("The report could not be saved: %s"),
                   local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}
