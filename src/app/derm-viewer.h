/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-viewer.h: the image viewer: fit, zoom, pan, and the analysis
 * overlays (mask fill, contour, Grad-CAM heatmap). */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"

G_BEGIN_DECLS

typedef enum {
  DERM_VIEWER_TOOL_NONE = 0,   /* dragging pans */
  DERM_VIEWER_TOOL_BRUSH,      /* dragging adds to the mask */
  DERM_VIEWER_TOOL_ERASER,     /* dragging removes from the mask */
} DermViewerTool;

#define DERM_TYPE_VIEWER (derm_viewer_get_type ())
G_DECLARE_FINAL_TYPE (DermViewer, derm_viewer, DERM, VIEWER, GtkWidget)

#define DERM_VIEWER_MIN_ZOOM 0.02
#define DERM_VIEWER_MAX_ZOOM 32.0

/* Returns: (transfer floating). */
GtkWidget *derm_viewer_new (void);

/* Shows @image (RGB; copied). NULL clears. Fits it to the widget. */
void       derm_viewer_set_image (DermViewer *self, const DermImage *image);
/* @mask: 1 channel, >= 128 = lesion, any size (scaled to the image);
 * copied. NULL removes the mask and its contour. */
void       derm_viewer_set_mask (DermViewer *self, const DermImage *mask);
/* @heatmap: 1 channel 0..255, any size; copied. NULL removes it. */
void       derm_viewer_set_heatmap (DermViewer *self, const DermImage *heatmap);

/* Zoom: image pixels to logical widget pixels. Setting it leaves fit mode. */
double     derm_viewer_get_zoom (DermViewer *self);
void       derm_viewer_set_zoom (DermViewer *self, double zoom);
gboolean   derm_viewer_get_fit (DermViewer *self);
void       derm_viewer_fit (DermViewer *self);
void       derm_viewer_zoom_in (DermViewer *self);
void       derm_viewer_zoom_out (DermViewer *self);

/* The mask as currently shown (corrections included), or NULL. (transfer none) */
const DermImage *derm_viewer_get_mask (DermViewer *self);

/* Mask correction ("tool", "brush-size" in image pixels; "can-undo",
 * "can-redo", "edited" properties). A stroke is one undo step: begin it,
 * then paint at image coordinates with the current tool. Painting without
 * a mask starts an empty one at the image's size. The "mask-edited"
 * signal says a correction is complete (a stroke ended, undo, redo). */
void       derm_viewer_begin_stroke (DermViewer *self);
void       derm_viewer_paint (DermViewer *self, double x, double y);
/* Ends the stroke: emits "mask-edited" (so does undo or redo). */
void       derm_viewer_end_stroke (DermViewer *self);
void       derm_viewer_undo (DermViewer *self);
void       derm_viewer_redo (DermViewer *self);
/* The corrections were stored: "edited" goes back to FALSE. */
void       derm_viewer_mark_saved (DermViewer *self);

G_END_DECLS
