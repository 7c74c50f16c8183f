/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-viewer.c: the image viewer widget.
 *
 * Geometry: the image point (center_x, center_y) is shown at the middle of
 * the widget, at @zoom logical pixels per image pixel. In fit mode the zoom
 * follows the widget's size. Below 1.5x, layers are drawn as textures
 * (smooth, GPU); above, through cairo with nearest filtering so single
 * pixels stay crisp. Both draw at the device scale (HiDPI). */
#include "config.h"

#define G_LOG_DOMAIN "derm-viewer"

#include <math.h>

#include <glib/gi18n.h>

#include "derm-enum-types.h"
#include "derm-viewer.h"
#include "derm-viewer-layers.h"

#define ZOOM_STEP 1.25
/* From this zoom on, image pixels are drawn as crisp squares. */
#define CRISP_ZOOM 1.5

struct _DermViewer
{
  GtkWidget parent_instance;

  int image_width;
  int image_height;
  DermViewerLayer image;
  DermViewerLayer mask_fill;
  DermViewerLayer heatmap;
  DermImage *mask;
  DermImage *heatmap_values;
  /* Contour segments in image coordinates: x1, y1, x2, y2 each. */
  GArray *contour;

  gboolean fit;
  double zoom;
  double center_x;
  double center_y;

  gboolean show_mask;
  gboolean show_contour;
  gboolean show_heatmap;
  double mask_opacity;
  double heatmap_opacity;
  GdkRGBA mask_color;
  GdkRGBA contour_color;

  /* Input state. */
  double pointer_x;
  double pointer_y;
  double drag_center_x;
  double drag_center_y;
  double gesture_zoom;
  double drag_start_x;
  double drag_start_y;

  /* Mask correction. */
  DermViewerTool tool;
  int brush_size;
  GPtrArray *undo;   /* (element-type DermImage) masks before each stroke, oldest first */
  GPtrArray *redo;
  gboolean edited;
};

G_DEFINE_FINAL_TYPE (DermViewer, derm_viewer, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_ZOOM,
  PROP_FIT,
  PROP_SHOW_MASK,
  PROP_SHOW_CONTOUR,
  PROP_SHOW_HEATMAP,
  PROP_MASK_OPACITY,
  PROP_HEATMAP_OPACITY,
  PROP_MASK_COLOR,
  PROP_CONTOUR_COLOR,
  PROP_HAS_MASK,
  PROP_HAS_HEATMAP,
  PROP_TOOL,
  PROP_BRUSH_SIZE,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  PROP_EDITED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  MASK_EDITED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* ---- Layers ------------------------------------------------------------------- */

static void
rebuild_mask_fill (DermViewer *self)
{
  derm_viewer_layer_set_mask (&self->mask_fill, self->mask, &self->mask_color);
}

static void
rebuild_heatmap (DermViewer *self)
{
  derm_viewer_layer_set_heatmap (&self->heatmap, self->heatmap_values);
}

static void
rebuild_contour (DermViewer *self)
{
  g_clear_pointer (&self->contour, g_array_unref);
  if (self->mask != NULL && self->image_width > 0)
    self->contour = derm_viewer_contour_new (self->mask, self->image_width, self->image_height);
}

/* ---- Geometry -------------------------------------------------------------------- */

static double
fit_zoom (DermViewer *self)
{
  int w = gtk_widget_get_width (GTK_WIDGET (self));
  int h = gtk_widget_get_height (GTK_WIDGET (self));
  if (self->image_width == 0 || w <= 0 || h <= 0)
    return 1.0;
  return CLAMP (MIN ((double) w / self->image_width, (double) h / self->image_height),
                DERM_VIEWER_MIN_ZOOM, DERM_VIEWER_MAX_ZOOM);
}

static double
effective_zoom (DermViewer *self)
{
  return self->fit ? fit_zoom (self) : self->zoom;
}

/* Keeps the image on screen: centred on an axis where it is smaller than
 * the widget, otherwise no empty margin beyond its edges. */
static void
clamp_center (DermViewer *self)
{
  double z = effective_zoom (self);
  double half_w = gtk_widget_get_width (GTK_WIDGET (self)) / 2.0 / z;
  double half_h = gtk_widget_get_height (GTK_WIDGET (self)) / 2.0 / z;

  if (self->fit || 2 * half_w >= self->image_width)
    self->center_x = self->image_width / 2.0;
  else
    self->center_x = CLAMP (self->center_x, half_w, self->image_width - half_w);
  if (self->fit || 2 * half_h >= self->image_height)
    self->center_y = self->image_height / 2.0;
  else
    self->center_y = CLAMP (self->center_y, half_h, self->image_height - half_h);
}

/* Zooms so that the image point under widget point (wx, wy) stays there. */
static void
zoom_at (DermViewer *self, double zoom, double wx, double wy)
{
  if (self->image_width == 0)
    return;
  double z = effective_zoom (self);
  double w2 = gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
  double h2 = gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;
  double ix = self->center_x + (wx - w2) / z;
  double iy = self->center_y + (wy - h2) / z;

  zoom = CLAMP (zoom, DERM_VIEWER_MIN_ZOOM, DERM_VIEWER_MAX_ZOOM);
  gboolean was_fit = self->fit;
  self->fit = FALSE;
  self->zoom = zoom;
  self->center_x = ix - (wx - w2) / zoom;
  self->center_y = iy - (wy - h2) / zoom;
  clamp_center (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
  if (was_fit)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FIT]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- Drawing ------------------------------------------------------------------- */

static void
derm_viewer_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  DermViewer *self = DERM_VIEWER (widget);
  int w = gtk_widget_get_width (widget);
  int h = gtk_widget_get_height (widget);

  if (self->image.texture == NULL || w <= 0 || h <= 0)
    return;

  clamp_center (self);
  double z = effective_zoom (self);
  double x0 = w / 2.0 - self->center_x * z;
  double y0 = h / 2.0 - self->center_y * z;
  graphene_rect_t visible = GRAPHENE_RECT_INIT (0, 0, w, h);
  graphene_rect_t dest = GRAPHENE_RECT_INIT (x0, y0, self->image_width * z, self->image_height * z);

  gtk_snapshot_push_clip (snapshot, &visible);
  gboolean crisp = z >= CRISP_ZOOM;
  derm_viewer_layer_draw (&self->image, snapshot, &dest, &visible, crisp);
  if (self->show_heatmap && self->heatmap.texture != NULL)
    {
      gtk_snapshot_push_opacity (snapshot, self->heatmap_opacity);
      derm_viewer_layer_draw (&self->heatmap, snapshot, &dest, &visible, crisp);
      gtk_snapshot_pop (snapshot);
    }
  if (self->show_mask && self->mask_fill.texture != NULL)
    {
      gtk_snapshot_push_opacity (snapshot, self->mask_opacity);
      derm_viewer_layer_draw (&self->mask_fill, snapshot, &dest, &visible, crisp);
      gtk_snapshot_pop (snapshot);
    }
  if (self->show_contour)
    derm_viewer_contour_draw (self->contour, snapshot, x0, y0, z, &visible, &self->contour_color);
  gtk_snapshot_pop (snapshot);
}

static void
derm_viewer_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                     int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  DermViewer *self = DERM_VIEWER (widget);
  *minimum = 64;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? MAX (64, self->image_width)
                                                       : MAX (64, self->image_height);
  *natural = MIN (*natural, 800);
}

/* ---- Input ------------------------------------------------------------------------- */

static void
motion_cb (GtkEventControllerMotion *motion, double x, double y, DermViewer *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
}

static gboolean
scroll_cb (GtkEventControllerScroll *scroll, double dx, double dy, DermViewer *self)
{
  if (dy == 0)
    return FALSE;
  double factor = pow (ZOOM_STEP, -dy);
  zoom_at (self, effective_zoom (self) * factor, self->pointer_x, self->pointer_y);
  return TRUE;
}

static void
zoom_begin_cb (GtkGesture *gesture, GdkEventSequence *sequence, DermViewer *self)
{
  self->gesture_zoom = effective_zoom (self);
}

static void
zoom_scale_changed_cb (GtkGestureZoom *gesture, double scale, DermViewer *self)
{
  double x, y;
  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &x, &y))
    {
      x = gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
      y = gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;
    }
  zoom_at (self, self->gesture_zoom * scale, x, y);
}

static void
widget_to_image (DermViewer *self, double wx, double wy, double *ix, double *iy)
{
  double z = effective_zoom (self);
  *ix = self->center_x + (wx - gtk_widget_get_width (GTK_WIDGET (self)) / 2.0) / z;
  *iy = self->center_y + (wy - gtk_widget_get_height (GTK_WIDGET (self)) / 2.0) / z;
}

static void
drag_begin_cb (GtkGestureDrag *drag, double x, double y, DermViewer *self)
{
  self->drag_center_x = self->center_x;
  self->drag_center_y = self->center_y;
  self->drag_start_x = x;
  self->drag_start_y = y;
  gtk_widget_grab_focus (GTK_WIDGET (self));
  if (self->tool != DERM_VIEWER_TOOL_NONE && self->image_width > 0)
    {
      double ix, iy;
      widget_to_image (self, x, y, &ix, &iy);
      derm_viewer_begin_stroke (self);
      derm_viewer_paint (self, ix, iy);
    }
}

static void
drag_update_cb (GtkGestureDrag *drag, double dx, double dy, DermViewer *self)
{
  if (self->tool != DERM_VIEWER_TOOL_NONE && self->image_width > 0)
    {
      double ix, iy;
      clamp_center (self);
      widget_to_image (self, self->drag_start_x + dx, self->drag_start_y + dy, &ix, &iy);
      derm_viewer_paint (self, ix, iy);
      return;
    }
  if (self->fit)
    return;
  double z = effective_zoom (self);
  self->center_x = self->drag_center_x - dx / z;
  self->center_y = self->drag_center_y - dy / z;
  clamp_center (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
drag_end_cb (GtkGestureDrag *drag, double dx, double dy, DermViewer *self)
{
  if (self->tool != DERM_VIEWER_TOOL_NONE && self->image_width > 0)
    derm_viewer_end_stroke (self);
}

static void
zoom_in_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_viewer_zoom_in (DERM_VIEWER (widget));
}

static void
zoom_out_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_viewer_zoom_out (DERM_VIEWER (widget));
}

static void
fit_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_viewer_fit (DERM_VIEWER (widget));
}

static void
actual_size_action (GtkWidget *widget, const char *name, GVariant *param)
{
  derm_viewer_set_zoom (DERM_VIEWER (widget), 1.0);
}

/* ---- GObject ----------------------------------------------------------------------- */

static void
set_color (GdkRGBA *color, const char *spec, const char *fallback)
{
  if (spec == NULL || !gdk_rgba_parse (color, spec))
    gdk_rgba_parse (color, fallback);
}

static char *
color_to_string (const GdkRGBA *color)
{
  return g_strdup_printf ("#%02x%02x%02x", (int) lround (color->red * 255),
                          (int) lround (color->green * 255), (int) lround (color->blue * 255));
}

static void
derm_viewer_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  DermViewer *self = DERM_VIEWER (object);

  switch (prop_id)
    {
    case PROP_ZOOM: g_value_set_double (value, effective_zoom (self)); break;
    case PROP_FIT: g_value_set_boolean (value, self->fit); break;
    case PROP_SHOW_MASK: g_value_set_boolean (value, self->show_mask); break;
    case PROP_SHOW_CONTOUR: g_value_set_boolean (value, self->show_contour); break;
    case PROP_SHOW_HEATMAP: g_value_set_boolean (value, self->show_heatmap); break;
    case PROP_MASK_OPACITY: g_value_set_double (value, self->mask_opacity); break;
    case PROP_HEATMAP_OPACITY: g_value_set_double (value, self->heatmap_opacity); break;
    case PROP_MASK_COLOR: g_value_take_string (value, color_to_string (&self->mask_color)); break;
    case PROP_CONTOUR_COLOR: g_value_take_string (value, color_to_string (&self->contour_color)); break;
    case PROP_HAS_MASK: g_value_set_boolean (value, self->mask != NULL); break;
    case PROP_HAS_HEATMAP: g_value_set_boolean (value, self->heatmap_values != NULL); break;
    case PROP_TOOL: g_value_set_enum (value, self->tool); break;
    case PROP_BRUSH_SIZE: g_value_set_int (value, self->brush_size); break;
    case PROP_CAN_UNDO: g_value_set_boolean (value, self->undo->len > 0); break;
    case PROP_CAN_REDO: g_value_set_boolean (value, self->redo->len > 0); break;
    case PROP_EDITED: g_value_set_boolean (value, self->edited); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
derm_viewer_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  DermViewer *self = DERM_VIEWER (object);

  switch (prop_id)
    {
    case PROP_ZOOM:
      derm_viewer_set_zoom (self, g_value_get_double (value));
      return;
    case PROP_SHOW_MASK: self->show_mask = g_value_get_boolean (value); break;
    case PROP_SHOW_CONTOUR: self->show_contour = g_value_get_boolean (value); break;
    case PROP_SHOW_HEATMAP: self->show_heatmap = g_value_get_boolean (value); break;
    case PROP_MASK_OPACITY: self->mask_opacity = g_value_get_double (value); break;
    case PROP_HEATMAP_OPACITY: self->heatmap_opacity = g_value_get_double (value); break;
    case PROP_MASK_COLOR:
      set_color (&self->mask_color, g_value_get_string (value), "#3584e4");
      rebuild_mask_fill (self);
      break;
    case PROP_CONTOUR_COLOR:
      set_color (&self->contour_color, g_value_get_string (value), "#33d17a");
      break;
    case PROP_TOOL:
      self->tool = g_value_get_enum (value);
      gtk_widget_set_cursor_from_name (GTK_WIDGET (self),
                                       self->tool != DERM_VIEWER_TOOL_NONE ? "crosshair" : NULL);
      break;
    case PROP_BRUSH_SIZE: self->brush_size = g_value_get_int (value); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
derm_viewer_finalize (GObject *object)
{
  DermViewer *self = DERM_VIEWER (object);

  derm_viewer_layer_clear (&self->image);
  derm_viewer_layer_clear (&self->mask_fill);
  derm_viewer_layer_clear (&self->heatmap);
  derm_image_free (self->mask);
  derm_image_free (self->heatmap_values);
  g_clear_pointer (&self->contour, g_array_unref);
  g_clear_pointer (&self->undo, g_ptr_array_unref);
  g_clear_pointer (&self->redo, g_ptr_array_unref);

  G_OBJECT_CLASS (derm_viewer_parent_class)->finalize (object);
}

static void
derm_viewer_class_init (DermViewerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = derm_viewer_finalize;
  object_class->get_property = derm_viewer_get_property;
  object_class->set_property = derm_viewer_set_property;
  widget_class->snapshot = derm_viewer_snapshot;
  widget_class->measure = derm_viewer_measure;

  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL, DERM_VIEWER_MIN_ZOOM, DERM_VIEWER_MAX_ZOOM, 1.0,
                         rw | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_FIT] =
    g_param_spec_boolean ("fit", NULL, NULL, TRUE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_MASK] = g_param_spec_boolean ("show-mask", NULL, NULL, TRUE, rw);
  properties[PROP_SHOW_CONTOUR] = g_param_spec_boolean ("show-contour", NULL, NULL, TRUE, rw);
  properties[PROP_SHOW_HEATMAP] = g_param_spec_boolean ("show-heatmap", NULL, NULL, FALSE, rw);
  properties[PROP_MASK_OPACITY] = g_param_spec_double ("mask-opacity", NULL, NULL, 0, 1, 0.35, rw);
  properties[PROP_HEATMAP_OPACITY] = g_param_spec_double ("heatmap-opacity", NULL, NULL, 0, 1, 0.5, rw);
  properties[PROP_MASK_COLOR] = g_param_spec_string ("mask-color", NULL, NULL, "#3584e4", rw);
  properties[PROP_CONTOUR_COLOR] = g_param_spec_string ("contour-color", NULL, NULL, "#33d17a", rw);
  properties[PROP_HAS_MASK] =
    g_param_spec_boolean ("has-mask", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_HAS_HEATMAP] =
    g_param_spec_boolean ("has-heatmap", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOOL] =
    g_param_spec_enum ("tool", NULL, NULL, DERM_TYPE_VIEWER_TOOL, DERM_VIEWER_TOOL_NONE, rw);
  properties[PROP_BRUSH_SIZE] = g_param_spec_int ("brush-size", NULL, NULL, 1, 200, 16, rw);
  properties[PROP_CAN_UNDO] =
    g_param_spec_boolean ("can-undo", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] =
    g_param_spec_boolean ("can-redo", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_EDITED] =
    g_param_spec_boolean ("edited", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* A correction is complete: a stroke ended, or undo or redo changed the
   * mask. Not emitted while a stroke is painted. */
  signals[MASK_EDITED] =
    g_signal_new ("mask-edited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_install_action (widget_class, "viewer.zoom-in", NULL, zoom_in_action);
  gtk_widget_class_install_action (widget_class, "viewer.zoom-out", NULL, zoom_out_action);
  gtk_widget_class_install_action (widget_class, "viewer.fit", NULL, fit_action);
  gtk_widget_class_install_action (widget_class, "viewer.actual-size", NULL, actual_size_action);
  static const guint in_keys[] = { GDK_KEY_plus, GDK_KEY_KP_Add, GDK_KEY_equal };
  for (gsize i = 0; i < G_N_ELEMENTS (in_keys); i++)
    {
      gtk_widget_class_add_binding_action (widget_class, in_keys[i], 0, "viewer.zoom-in", NULL);
      gtk_widget_class_add_binding_action (widget_class, in_keys[i], GDK_CONTROL_MASK, "viewer.zoom-in", NULL);
    }
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_minus, 0, "viewer.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Subtract, 0, "viewer.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_minus, GDK_CONTROL_MASK, "viewer.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_0, 0, "viewer.fit", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_0, 0, "viewer.fit", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, 0, "viewer.actual-size", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_1, 0, "viewer.actual-size", NULL);

  gtk_widget_class_set_css_name (widget_class, "dermviewer");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
derm_viewer_init (DermViewer *self)
{
  self->fit = TRUE;
  self->zoom = 1.0;
  self->show_mask = TRUE;
  self->show_contour = TRUE;
  self->mask_opacity = 0.35;
  self->heatmap_opacity = 0.5;
  self->brush_size = 16;
  self->undo = g_ptr_array_new_with_free_func ((GDestroyNotify) derm_image_free);
  self->redo = g_ptr_array_new_with_free_func ((GDestroyNotify) derm_image_free);
  gdk_rgba_parse (&self->mask_color, "#3584e4");
  gdk_rgba_parse (&self->contour_color, "#33d17a");

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_add_css_class (GTK_WIDGET (self), "viewer");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Dermoscopy image"), -1);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  g_signal_connect (scroll, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  GtkGesture *zoom = gtk_gesture_zoom_new ();
  g_signal_connect (zoom, "begin", G_CALLBACK (zoom_begin_cb), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (zoom_scale_changed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (zoom));

  GtkGesture *drag = gtk_gesture_drag_new ();
  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (drag_end_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));
}

/* ---- Correction ------------------------------------------------------------------ */

static void
notify_history (DermViewer *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EDITED]);
}

static void
mask_changed (DermViewer *self)
{
  rebuild_mask_fill (self);
  rebuild_contour (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MASK]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* The mask the brush paints on: at the image's size (an empty one when
 * there is none yet). */
static gboolean
ensure_paint_mask (DermViewer *self)
{
  if (self->image_width == 0)
    return FALSE;
  if (self->mask != NULL && self->mask->width == self->image_width
      && self->mask->height == self->image_height)
    return TRUE;
  DermImage *mask = self->mask != NULL
                      ? derm_image_resize_nearest (self->mask, self->image_width, self->image_height, NULL)
                      : derm_image_new (self->image_width, self->image_height, 1, NULL);
  if (mask == NULL)
    return FALSE;
  derm_image_free (self->mask);
  self->mask = mask;
  return TRUE;
}

#define MAX_UNDO 50

void
derm_viewer_begin_stroke (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  if (!ensure_paint_mask (self))
    return;
  g_ptr_array_add (self->undo, derm_image_copy (self->mask));
  if (self->undo->len > MAX_UNDO)
    g_ptr_array_remove_index (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  self->edited = TRUE;
  notify_history (self);
}

void
derm_viewer_paint (DermViewer *self, double x, double y)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  if (self->tool == DERM_VIEWER_TOOL_NONE || !ensure_paint_mask (self))
    return;
  guint8 value = self->tool == DERM_VIEWER_TOOL_BRUSH ? 255 : 0;
  double r = MAX (0.5, self->brush_size / 2.0);
  int x0 = MAX (0, (int) floor (x - r)), x1 = MIN (self->mask->width - 1, (int) ceil (x + r));
  int y0 = MAX (0, (int) floor (y - r)), y1 = MIN (self->mask->height - 1, (int) ceil (y + r));
  for (int py = y0; py <= y1; py++)
    for (int px = x0; px <= x1; px++)
      {
        double dx = px + 0.5 - x, dy = py + 0.5 - y;
        if (dx * dx + dy * dy <= r * r)
          self->mask->data[(gsize) py * self->mask->width + px] = value;
      }
  mask_changed (self);
}

void
derm_viewer_end_stroke (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  if (self->mask != NULL)
    g_signal_emit (self, signals[MASK_EDITED], 0);
}

static void
swap_history (DermViewer *self, GPtrArray *from, GPtrArray *to)
{
  if (from->len == 0 || !ensure_paint_mask (self))
    return;
  DermImage *previous = g_ptr_array_steal_index (from, from->len - 1);
  g_ptr_array_add (to, self->mask);
  self->mask = previous;
  self->edited = TRUE;
  notify_history (self);
  mask_changed (self);
  g_signal_emit (self, signals[MASK_EDITED], 0);
}

void
derm_viewer_undo (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  swap_history (self, self->undo, self->redo);
}

void
derm_viewer_redo (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  swap_history (self, self->redo, self->undo);
}

void
derm_viewer_mark_saved (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  self->edited = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EDITED]);
}

/* ---- Public ------------------------------------------------------------------------ */

GtkWidget *
derm_viewer_new (void)
{
  return g_object_new (DERM_TYPE_VIEWER, NULL);
}

void
derm_viewer_set_image (DermViewer *self, const DermImage *image)
{
  g_return_if_fail (DERM_IS_VIEWER (self));

  derm_viewer_layer_clear (&self->image);
  self->image_width = self->image_height = 0;
  if (image != NULL)
    {
      derm_viewer_layer_set_image (&self->image, image);
      self->image_width = image->width;
      self->image_height = image->height;
    }
  rebuild_contour (self);
  derm_viewer_fit (self);
}

void
derm_viewer_set_mask (DermViewer *self, const DermImage *mask)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  g_return_if_fail (mask == NULL || mask->channels == 1);

  g_clear_pointer (&self->mask, derm_image_free);
  if (mask != NULL)
    self->mask = derm_image_copy (mask);
  /* A new analysis or stored case: the correction history belongs to the old mask. */
  g_ptr_array_set_size (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  self->edited = FALSE;
  notify_history (self);
  rebuild_mask_fill (self);
  rebuild_contour (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MASK]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_viewer_set_heatmap (DermViewer *self, const DermImage *heatmap)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  g_return_if_fail (heatmap == NULL || heatmap->channels == 1);

  g_clear_pointer (&self->heatmap_values, derm_image_free);
  if (heatmap != NULL)
    self->heatmap_values = derm_image_copy (heatmap);
  rebuild_heatmap (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_HEATMAP]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
derm_viewer_get_zoom (DermViewer *self)
{
  g_return_val_if_fail (DERM_IS_VIEWER (self), 1.0);
  return effective_zoom (self);
}

void
derm_viewer_set_zoom (DermViewer *self, double zoom)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  zoom_at (self, zoom, gtk_widget_get_width (GTK_WIDGET (self)) / 2.0,
           gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

gboolean
derm_viewer_get_fit (DermViewer *self)
{
  g_return_val_if_fail (DERM_IS_VIEWER (self), TRUE);
  return self->fit;
}

void
derm_viewer_fit (DermViewer *self)
{
  g_return_if_fail (DERM_IS_VIEWER (self));
  self->fit = TRUE;
  self->center_x = self->image_width / 2.0;
  self->center_y = self->image_height / 2.0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FIT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
derm_viewer_zoom_in (DermViewer *self)
{
  derm_viewer_set_zoom (self, effective_zoom (self) * ZOOM_STEP);
}

void
derm_viewer_zoom_out (DermViewer *self)
{
  derm_viewer_set_zoom (self, effective_zoom (self) / ZOOM_STEP);
}

const DermImage *
derm_viewer_get_mask (DermViewer *self)
{
  g_return_val_if_fail (DERM_IS_VIEWER (self), NULL);
  return self->mask;
}
