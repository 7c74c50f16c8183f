/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-viewer-layers.h: what the viewer draws, built from pixels: the image,
 * the mask's fill, the heatmap and the mask's contour. No widget state; the
 * viewer (derm-viewer.c) owns one of each and decides when to rebuild. */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"

G_BEGIN_DECLS

/* One drawable layer: premultiplied ARGB32 pixels shared by a cairo surface
 * (crisp, nearest-neighbour drawing when zoomed in) and a texture (smooth). */
typedef struct {
  cairo_surface_t *surface;
  GdkTexture *texture;
  int width;
  int height;
} DermViewerLayer;

void derm_viewer_layer_clear (DermViewerLayer *layer);

/* Each replaces @layer's pixels; NULL input clears it. */
void derm_viewer_layer_set_image (DermViewerLayer *layer, const DermImage *image);
/* The lesion (mask value >= 128) in @color, the rest transparent. */
void derm_viewer_layer_set_mask (DermViewerLayer *layer, const DermImage *mask,
                                 const GdkRGBA *color);
/* A perceptual ramp, more transparent where the heatmap is cold. */
void derm_viewer_layer_set_heatmap (DermViewerLayer *layer, const DermImage *values);

/* Draws @layer scaled onto @dest, clipped to @visible: as a texture, or
 * through cairo with nearest filtering when @crisp. */
void derm_viewer_layer_draw (const DermViewerLayer *layer, GtkSnapshot *snapshot,
                             const graphene_rect_t *dest, const graphene_rect_t *visible,
                             gboolean crisp);

/* The contour of @mask as segments in the coordinates of an image of
 * @image_width x @image_height: every edge between a lesion and a
 * non-lesion pixel, x1, y1, x2, y2 each (floats).
 * Returns: (transfer full). */
GArray *derm_viewer_contour_new (const DermImage *mask, int image_width, int image_height);

/* Strokes @contour (may be NULL) with the image's top left at (@x0, @y0)
 * and @zoom logical pixels per image pixel. */
void derm_viewer_contour_draw (const GArray *contour, GtkSnapshot *snapshot, double x0,
                               double y0, double zoom, const graphene_rect_t *visible,
                               const GdkRGBA *color);

G_END_DECLS
