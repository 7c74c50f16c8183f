/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Lesion measurements on shapes whose answers are known. */
#include "config.h"

#include <math.h>

#include "derm-error.h"
#include "derm-lesion.h"

typedef gboolean (*ShapeFunc) (double x, double y);

static DermImage *
draw (int w, int h, ShapeFunc shape, int scale)
{
  DermImage *m = derm_image_new (w * scale, h * scale, 1, NULL);
  for (int y = 0; y < h * scale; y++)
    for (int x = 0; x < w * scale; x++)
      *derm_image_pixel (m, x, y) = shape ((x + 0.5) / scale - 0.5, (y + 0.5) / scale - 0.5) ? 255 : 0;
  return m;
}

static DermImage *
plain_image (int w, int h, guint8 r, guint8 g, guint8 b)
{
  DermImage *img = derm_image_new (w, h, 3, NULL);
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      img->data[i * 3] = r;
      img->data[i * 3 + 1] = g;
      img->data[i * 3 + 2] = b;
    }
  return img;
}

static gboolean disc (double x, double y) { return hypot (x - 100, y - 80) <= 40; }
static gboolean ellipse (double x, double y)
{
  /* 120 x 40, rotated 30 degrees */
  double c = cos (G_PI / 6), s = sin (G_PI / 6);
  double a = (x - 100) * c + (y - 80) * s, b = -(x - 100) * s + (y - 80) * c;
  return a * a / (60.0 * 60) + b * b / (20.0 * 20) <= 1;
}
static gboolean triangle (double x, double y)
{
  /* apex (100, 20), base from (60, 140) to (140, 140): symmetric about x = 100 */
  if (y < 20 || y > 140)
    return FALSE;
  double half = 40 * (y - 20) / 120;
  return fabs (x - 100) <= half;
}
static gboolean star (double x, double y)
{
  double r = hypot (x - 100, y - 80), t = atan2 (y - 80, x - 100);
  return r <= 25 + 20 * cos (8 * t);
}
static gboolean disc_and_speck (double x, double y)
{
  return disc (x, y) || (x >= 5 && x < 8 && y >= 5 && y < 8);
}

static void
measure_ok (const DermImage *img, const DermImage *mask, DermLesionMeasurements *m)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_lesion_measure (img, mask, m, &error));
  g_assert_no_error (error);
}

static void
test_disc (void)
{
  g_autoptr(DermImage) img = plain_image (200, 160, 135, 44, 5);
  g_autoptr(DermImage) mask = draw (200, 160, disc, 1);
  DermLesionMeasurements m;
  measure_ok (img, mask, &m);
  g_assert_cmpfloat (fabs (m.area_px - G_PI * 1600), <, 60);
  g_assert_cmpfloat_with_epsilon (m.area_fraction, m.area_px / 32000.0, 1e-9);
  g_assert_cmpfloat (m.asymmetry[0], <, 0.03);
  g_assert_cmpfloat (m.asymmetry[1], <, 0.03);
  g_assert_cmpfloat (m.compactness, >, 0.9);
  g_assert_cmpfloat (m.compactness, <, 1.15);
  g_assert_cmpfloat (fabs (m.diameter_px - 81), <=, 2);
  g_assert_cmpfloat_with_epsilon (m.centroid[0], 100, 0.5);
  g_assert_cmpfloat_with_epsilon (m.centroid[1], 80, 0.5);
  /* one colour: dark brown everywhere */
  g_assert_cmpint (m.n_colors, ==, 1);
  g_assert_cmpfloat (m.color_fraction[DERM_COLOR_DARK_BROWN], ==, 1.0);

  /* A mask at 3x the image's size measures the same (nearest resize). */
  g_autoptr(DermImage) big = draw (200, 160, disc, 3);
  DermLesionMeasurements m3;
  measure_ok (img, big, &m3);
  g_assert_cmpint (labs (m3.area_px - m.area_px), <=, (gint64) (m.area_px * 0.02));
  g_assert_cmpfloat (fabs (m3.diameter_px - m.diameter_px), <=, 2);

  /* A speck far away is not part of the lesion. */
  g_autoptr(DermImage) speck = draw (200, 160, disc_and_speck, 1);
  DermLesionMeasurements ms;
  measure_ok (img, speck, &ms);
  g_assert_cmpint (ms.area_px, ==, m.area_px);
  g_assert_cmpfloat (ms.diameter_px, ==, m.diameter_px);
}

static void
test_shapes (void)
{
  g_autoptr(DermImage) img = plain_image (200, 160, 163, 82, 16);
  DermLesionMeasurements m;

  g_autoptr(DermImage) e = draw (200, 160, ellipse, 1);
  measure_ok (img, e, &m);
  g_assert_cmpfloat (fabs (m.diameter_px - 121), <=, 3);
  g_assert_cmpfloat (fabs (m.orientation - G_PI / 6), <, 0.02);
  g_assert_cmpfloat (m.asymmetry[0], <, 0.05);
  g_assert_cmpfloat (m.asymmetry[1], <, 0.05);
  g_assert_cmpfloat (m.compactness, >, 1.2);   /* an ellipse of 3:1 is less compact */
  g_assert_cmpfloat (m.compactness, <, 1.6);

  /* The triangle is symmetric about its own axis only. */
  g_autoptr(DermImage) t = draw (200, 160, triangle, 1);
  measure_ok (img, t, &m);
  double sym = MIN (m.asymmetry[0], m.asymmetry[1]);
  double asym = MAX (m.asymmetry[0], m.asymmetry[1]);
  g_assert_cmpfloat (sym, <, 0.05);
  g_assert_cmpfloat (asym, >, 0.25);

  /* An irregular border: far from compact. */
  g_autoptr(DermImage) s = draw (200, 160, star, 1);
  measure_ok (img, s, &m);
  g_assert_cmpfloat (m.compactness, >, 2.0);
}

static void
test_colors (void)
{
  g_autoptr(DermImage) img = plain_image (200, 160, 0, 0, 0);
  g_autoptr(DermImage) mask = draw (200, 160, disc, 1);
  /* left half black, right half light brown, a 3% strip of red at the top */
  for (int y = 0; y < 160; y++)
    for (int x = 0; x < 200; x++)
      {
        guint8 *p = derm_image_pixel (img, x, y);
        const guint8 black[3] = { 41, 31, 30 }, lb[3] = { 160, 85, 20 }, red[3] = { 120, 20, 20 };
        memcpy (p, y < 43 ? red : x < 100 ? black : lb, 3);
      }
  DermLesionMeasurements m;
  measure_ok (img, mask, &m);
  g_assert_cmpfloat (m.color_fraction[DERM_COLOR_RED], >, 0.0);
  g_assert_cmpfloat (m.color_fraction[DERM_COLOR_RED], <, DERM_LESION_COLOR_MIN_FRACTION);
  g_assert_cmpfloat (m.color_fraction[DERM_COLOR_BLACK], >, 0.4);
  g_assert_cmpfloat (m.color_fraction[DERM_COLOR_LIGHT_BROWN], >, 0.4);
  g_assert_cmpint (m.n_colors, ==, 2);

  /* Pink (erythema) is none of the six colours. */
  g_autoptr(DermImage) pale = plain_image (200, 160, 200, 120, 120);
  measure_ok (pale, mask, &m);
  g_assert_cmpint (m.n_colors, ==, 0);
  g_assert_cmpstr (derm_color_name (DERM_COLOR_BLUE_GRAY), ==, "blue-gray");
  /* Files and JSON use stable keys, whatever the language. */
  const char *keys[DERM_N_COLORS] = { "white", "red", "light_brown", "dark_brown", "blue_gray",
                                      "black" };
  for (int c = 0; c < DERM_N_COLORS; c++)
    g_assert_cmpstr (derm_color_key (c), ==, keys[c]);
}

static void
test_errors (void)
{
  g_autoptr(DermImage) img = plain_image (20, 20, 0, 0, 0);
  g_autoptr(DermImage) empty = derm_image_new (20, 20, 1, NULL);
  DermLesionMeasurements m;
  g_autoptr(GError) error = NULL;
  g_assert_false (derm_lesion_measure (img, empty, &m, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (derm_lesion_measure (img, img, &m, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lesion/disc", test_disc);
  g_test_add_func ("/lesion/shapes", test_shapes);
  g_test_add_func ("/lesion/colors", test_colors);
  g_test_add_func ("/lesion/errors", test_errors);
  return g_test_run ();
}
