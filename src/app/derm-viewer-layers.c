/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-viewer-layers.c: the viewer's layers, built from pixels. */
#include "config.h"

#include <math.h>

#include "derm-viewer-layers.h"

void
derm_viewer_layer_clear (DermViewerLayer *layer)
{
  g_clear_pointer (&layer->surface, cairo_surface_destroy);
  g_clear_object (&layer->texture);
  layer->width = layer->height = 0;
}

/* Takes a filled ARGB32 surface; the texture copies its pixels. */
static void
layer_set_surface (DermViewerLayer *layer, cairo_surface_t *surface)
{
  derm_viewer_layer_clear (layer);
  cairo_surface_mark_dirty (surface);
  cairo_surface_flush (surface);
  layer->surface = surface;
  layer->width = cairo_image_surface_get_width (surface);
  layer->height = cairo_image_surface_get_height (surface);
  int stride = cairo_image_surface_get_stride (surface);
  g_autoptr(GBytes) bytes = g_bytes_new (cairo_image_surface_get_data (surface),
                                         (gsize) stride * layer->height);
  /* GDK_MEMORY_DEFAULT is cairo's ARGB32 layout. */
  layer->texture = gdk_memory_texture_new (layer->width, layer->height, GDK_MEMORY_DEFAULT,
                                           bytes, stride);
}

static cairo_surface_t *
new_surface (int width, int height, guint32 **pixels, int *stride_px)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  *pixels = (guint32 *) cairo_image_surface_get_data (surface);
  *stride_px = cairo_image_surface_get_stride (surface) / 4;
  return surface;
}

static guint32
premultiplied (double r, double g, double b, double a)
{
  guint32 A = (guint32) lround (a * 255);
  return (A << 24) | ((guint32) lround (r * a * 255) << 16)
         | ((guint32) lround (g * a * 255) << 8) | (guint32) lround (b * a * 255);
}

void
derm_viewer_layer_set_image (DermViewerLayer *layer, const DermImage *image)
{
  derm_viewer_layer_clear (layer);
  if (image == NULL)
    return;
  guint32 *px;
  int stride;
  cairo_surface_t *surface = new_surface (image->width, image->height, &px, &stride);
  for (int y = 0; y < image->height; y++)
    for (int x = 0; x < image->width; x++)
      {
        const guint8 *p = derm_image_pixel (image, x, y);
        px[y * stride + x] = image->channels == 3
                               ? 0xff000000u | (p[0] << 16) | (p[1] << 8) | p[2]
                               : 0xff000000u | (p[0] << 16) | (p[0] << 8) | p[0];
      }
  layer_set_surface (layer, surface);
}

void
derm_viewer_layer_set_mask (DermViewerLayer *layer, const DermImage *mask, const GdkRGBA *color)
{
  derm_viewer_layer_clear (layer);
  if (mask == NULL)
    return;
  guint32 *px;
  int stride;
  cairo_surface_t *surface = new_surface (mask->width, mask->height, &px, &stride);
  guint32 on = premultiplied (color->red, color->green, color->blue, 1.0);
  for (int y = 0; y < mask->height; y++)
    for (int x = 0; x < mask->width; x++)
      px[y * stride + x] = mask->data[(gsize) y * mask->width + x] >= 128 ? on : 0;
  layer_set_surface (layer, surface);
}

/* A perceptually ordered ramp (dark blue, magenta, orange, yellow). */
static void
heat_colour (double t, double *r, double *g, double *b)
{
  static const double stops[5][3] = {
    { 0.05, 0.03, 0.53 }, { 0.49, 0.01, 0.66 }, { 0.80, 0.28, 0.47 },
    { 0.97, 0.59, 0.25 }, { 0.94, 0.98, 0.13 },
  };
  double p = CLAMP (t, 0.0, 1.0) * 4;
  int i = MIN ((int) p, 3);
  double f = p - i;
  *r = stops[i][0] + f * (stops[i + 1][0] - stops[i][0]);
  *g = stops[i][1] + f * (stops[i + 1][1] - stops[i][1]);
  *b = stops[i][2] + f * (stops[i + 1][2] - stops[i][2]);
}

void
derm_viewer_layer_set_heatmap (DermViewerLayer *layer, const DermImage *values)
{
  derm_viewer_layer_clear (layer);
  if (values == NULL)
    return;
  guint32 *px;
  int stride;
  cairo_surface_t *surface = new_surface (values->width, values->height, &px, &stride);
  guint32 lut[256];
  for (int v = 0; v < 256; v++)
    {
      double r, g, b, t = v / 255.0;
      heat_colour (t, &r, &g, &b);
      lut[v] = premultiplied (r, g, b, 0.25 + 0.75 * t);
    }
  for (int y = 0; y < values->height; y++)
    for (int x = 0; x < values->width; x++)
      px[y * stride + x] = lut[values->data[(gsize) y * values->width + x]];
  layer_set_surface (layer, surface);
}

void
derm_viewer_layer_draw (const DermViewerLayer *layer, GtkSnapshot *snapshot,
                        const graphene_rect_t *dest, const graphene_rect_t *visible,
                        gboolean crisp)
{
  if (layer->texture == NULL)
    return;
  if (!crisp)
    {
      gtk_snapshot_append_texture (snapshot, layer->texture, dest);
      return;
    }
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, visible);
  cairo_translate (cr, dest->origin.x, dest->origin.y);
  cairo_scale (cr, dest->size.width / layer->width, dest->size.height / layer->height);
  cairo_set_source_surface (cr, layer->surface, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
  cairo_paint (cr);
  cairo_destroy (cr);
}

GArray *
derm_viewer_contour_new (const DermImage *m, int image_width, int image_height)
{
  double sx = (double) image_width / m->width;
  double sy = (double) image_height / m->height;
  GArray *contour = g_array_new (FALSE, FALSE, sizeof (float));

#define INSIDE(xx, yy) ((xx) >= 0 && (yy) >= 0 && (xx) < m->width && (yy) < m->height \
                        && m->data[(gsize) (yy) * m->width + (xx)] >= 128)
  for (int y = 0; y <= m->height; y++)
    for (int x = 0; x <= m->width; x++)
      {
        gboolean here = INSIDE (x, y);
        if (here != INSIDE (x, y - 1) && x < m->width)
          {
            float seg[4] = { x * sx, y * sy, (x + 1) * sx, y * sy };
            g_array_append_vals (contour, seg, 4);
          }
        if (here != INSIDE (x - 1, y) && y < m->height)
          {
            float seg[4] = { x * sx, y * sy, x * sx, (y + 1) * sy };
            g_array_append_vals (contour, seg, 4);
          }
      }
#undef INSIDE
  return contour;
}

void
derm_viewer_contour_draw (const GArray *contour, GtkSnapshot *snapshot, double x0, double y0,
                          double zoom, const graphene_rect_t *visible, const GdkRGBA *color)
{
  if (contour == NULL || contour->len == 0)
    return;
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, visible);
  const float *s = (const float *) contour->data;
  for (guint i = 0; i + 3 < contour->len; i += 4)
    {
      cairo_move_to (cr, x0 + s[i] * zoom, y0 + s[i + 1] * zoom);
      cairo_line_to (cr, x0 + s[i + 2] * zoom, y0 + s[i + 3] * zoom);
    }
  gdk_cairo_set_source_rgba (cr, color);
  cairo_set_line_width (cr, 2.0);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_SQUARE);
  cairo_stroke (cr);
  cairo_destroy (cr);
}
