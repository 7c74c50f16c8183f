/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-lesion.h: lesion measurements from an image and its mask (the ABCD
 * rule's quantities, in pixels). */
#pragma once

#include <glib.h>

#include "derm-image.h"

G_BEGIN_DECLS

/* The six dermoscopic colours, counted when they cover at least
 * DERM_LESION_COLOR_MIN_FRACTION of the lesion. */
typedef enum {
  DERM_COLOR_WHITE,
  DERM_COLOR_RED,
  DERM_COLOR_LIGHT_BROWN,
  DERM_COLOR_DARK_BROWN,
  DERM_COLOR_BLUE_GRAY,
  DERM_COLOR_BLACK,
  DERM_N_COLORS
} DermColor;

#define DERM_LESION_COLOR_MIN_FRACTION 0.05

typedef struct {
  gint64 area_px;          /* pixels of the largest 8-connected lesion region */
  double area_fraction;    /* area_px / image pixels */
  double asymmetry[2];     /* along the major and the minor principal axis:
                            * the share of the lesion whose mirror image across
                            * that axis falls outside it; 0 = symmetric */
  double orientation;      /* major axis angle in radians, x to the right, y down */
  double perimeter_px;     /* outline length (interpolated marching squares) */
  double compactness;      /* perimeter^2 / (4 pi area): about 1 for a disc */
  double diameter_px;      /* maximum Feret diameter */
  double centroid[2];      /* x, y */
  double color_fraction[DERM_N_COLORS]; /* share of lesion pixels nearest each colour
                                         * (within RGB distance 80; farther pixels,
                                         * e.g. pale skin, count as none) */
  int n_colors;            /* colours over the minimum fraction */
} DermLesionMeasurements;

/* "white", "red", "light brown", "dark brown", "blue-gray", "black"
 * (translated, for people). Borrowed, static. */
const char *derm_color_name (DermColor color);
/* "white", "red", "light_brown", "dark_brown", "blue_gray", "black": the
 * stable, untranslated key of files and JSON. Borrowed, static. */
const char *derm_color_key (DermColor color);

/* Measures the lesion of @mask (1 channel, >= 128 = lesion; resized
 * nearest-neighbour to @image's size when it differs) on @image (RGB).
 * Only the largest connected region is measured, so specks of a
 * segmentation do not count. Returns FALSE with @error when the mask holds no
 * lesion or the images are unusable. */
gboolean derm_lesion_measure (const DermImage *image, const DermImage *mask,
                              DermLesionMeasurements *out, GError **error);

G_END_DECLS
