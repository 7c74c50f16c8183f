/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-lesion.c: area, asymmetry, border, colours and diameter of a lesion. */
#include "config.h"

#define G_LOG_DOMAIN "derm-lesion"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "derm-error.h"
#include "derm-lesion.h"

/* RGB distance beyond which a pixel counts as none of the colours. */
#define DERM_LESION_COLOR_MAX_DISTANCE 80.0

/* Reference colours of dermoscopy (Seidenari et al.; as used by colour
 * detection work on dermoscopy images), sRGB. */
static const struct {
  const char *key;
  const char *name;
  guint8 rgb[3];
} colors[DERM_N_COLORS] = {
  { "white", N_("white"), { 197, 188, 217 } },
  { "red", N_("red"), { 118, 21, 17 } },
  { "light_brown", N_("light brown"), { 163, 82, 16 } },
  { "dark_brown", N_("dark brown"), { 135, 44, 5 } },
  { "blue_gray", N_("blue-gray"), { 113, 108, 139 } },
  { "black", N_("black"), { 41, 31, 30 } },
};

const char *
derm_color_key (DermColor color)
{
  g_return_val_if_fail (color < DERM_N_COLORS, NULL);
  return colors[color].key;
}

const char *
derm_color_name (DermColor color)
{
  g_return_val_if_fail (color < DERM_N_COLORS, NULL);
  return g_dgettext (GETTEXT_PACKAGE, colors[color].name);
}

/* Labels the largest 8-connected region of @bin in place: its pixels become
 * 2, others 0. Returns its size. */
static gint64
keep_largest_region (guint8 *bin, int w, int h)
{
  gsize n = (gsize) w * h;
  gint32 *label = g_new0 (gint32, n);
  gint32 *stack = g_new (gint32, n);
  gint32 next = 0, best = 0;
  gint64 best_size = 0;
  for (gsize s = 0; s < n; s++)
    {
      if (!bin[s] || label[s])
        continue;
      next++;
      gint64 size = 0;
      gsize top = 0;
      stack[top++] = (gint32) s;
      label[s] = next;
      while (top > 0)
        {
          gint32 p = stack[--top];
          size++;
          int x = p % w, y = p / w;
          for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
              {
                int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                  continue;
                gsize q = (gsize) ny * w + nx;
                if (bin[q] && !label[q])
                  {
                    label[q] = next;
                    stack[top++] = (gint32) q;
                  }
              }
        }
      if (size > best_size)
        {
          best_size = size;
          best = next;
        }
    }
  for (gsize i = 0; i < n; i++)
    bin[i] = best > 0 && label[i] == best ? 2 : 0;
  g_free (label);
  g_free (stack);
  return best_size;
}

static inline gboolean
inside (const guint8 *bin, int w, int h, int x, int y)
{
  return x >= 0 && y >= 0 && x < w && y < h && bin[(gsize) y * w + x];
}

/* Outline length: marching squares with linear interpolation on the mask
 * smoothed by a 3 x 3 box (a binary staircase would overstate every slope
 * that is not a multiple of 45 degrees by up to 8%). */
static double
perimeter (const guint8 *bin, int w, int h)
{
  int W = w + 2, H = h + 2;   /* one pixel of background around */
  float *f = g_new0 (float, (gsize) W * H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int k = 0;
        for (int dy = -1; dy <= 1; dy++)
          for (int dx = -1; dx <= 1; dx++)
            k += inside (bin, w, h, x - 1 + dx, y - 1 + dy);
        f[(gsize) y * W + x] = k / 9.0f;
      }
  double len = 0;
  for (int y = 0; y + 1 < H; y++)
    for (int x = 0; x + 1 < W; x++)
      {
        /* corners: a (x,y) b (x+1,y) c (x+1,y+1) d (x,y+1) */
        double v[4] = { f[(gsize) y * W + x], f[(gsize) y * W + x + 1],
                        f[(gsize) (y + 1) * W + x + 1], f[(gsize) (y + 1) * W + x] };
        double px[4] = { 0, 1, 1, 0 }, py[4] = { 0, 0, 1, 1 };
        double cx[4], cy[4];
        int n = 0;
        for (int e = 0; e < 4; e++)
          {
            int a = e, b = (e + 1) % 4;
            if ((v[a] >= 0.5) != (v[b] >= 0.5))
              {
                double t = (0.5 - v[a]) / (v[b] - v[a]);
                cx[n] = px[a] + t * (px[b] - px[a]);
                cy[n] = py[a] + t * (py[b] - py[a]);
                n++;
              }
          }
        if (n == 2)
          len += hypot (cx[0] - cx[1], cy[0] - cy[1]);
        else if (n == 4)
          len += hypot (cx[0] - cx[1], cy[0] - cy[1]) + hypot (cx[2] - cx[3], cy[2] - cy[3]);
      }
  g_free (f);
  return len;
}

typedef struct {
  double x, y;
} Point;

static int
compare_points (const void *pa, const void *pb)
{
  const Point *a = pa, *b = pb;
  if (a->x != b->x)
    return a->x < b->x ? -1 : 1;
  return (a->y > b->y) - (a->y < b->y);
}

static double
cross (Point o, Point a, Point b)
{
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

/* Maximum Feret diameter: the largest distance between two pixels of the
 * region's outline (through the convex hull), plus one pixel for their
 * extent. */
static double
feret_diameter (const guint8 *bin, int w, int h)
{
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (Point));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (inside (bin, w, h, x, y)
          && (!inside (bin, w, h, x - 1, y) || !inside (bin, w, h, x + 1, y)
              || !inside (bin, w, h, x, y - 1) || !inside (bin, w, h, x, y + 1)))
        {
          Point p = { x, y };
          g_array_append_val (pts, p);
        }
  int n = pts->len;
  Point *p = (Point *) pts->data;
  qsort (p, n, sizeof *p, compare_points);
  Point *hull = g_new (Point, 2 * n + 1);
  int k = 0;
  for (int i = 0; i < n; i++)
    {
      while (k >= 2 && cross (hull[k - 2], hull[k - 1], p[i]) <= 0)
        k--;
      hull[k++] = p[i];
    }
  for (int i = n - 2, t = k + 1; i >= 0; i--)
    {
      while (k >= t && cross (hull[k - 2], hull[k - 1], p[i]) <= 0)
        k--;
      hull[k++] = p[i];
    }
  double best = 0;
  for (int i = 0; i < k; i++)
    for (int j = i + 1; j < k; j++)
      best = MAX (best, hypot (hull[i].x - hull[j].x, hull[i].y - hull[j].y));
  g_free (hull);
  g_array_unref (pts);
  return n > 0 ? best + 1 : 0;
}

gboolean
derm_lesion_measure (const DermImage *image, const DermImage *mask,
                     DermLesionMeasurements *out, GError **error)
{
  g_return_val_if_fail (image != NULL && mask != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  if (image->channels != 3 || mask->channels != 1)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("Lesion measurements need an RGB image and a one-channel mask"));
      return FALSE;
    }
  g_autoptr(DermImage) resized = NULL;
  if (mask->width != image->width || mask->height != image->height)
    {
      resized = derm_image_resize_nearest (mask, image->width, image->height, error);
      if (resized == NULL)
        return FALSE;
      mask = resized;
    }
  int w = image->width, h = image->height;
  gsize n = (gsize) w * h;
  g_autofree guint8 *bin = g_new (guint8, n);
  for (gsize i = 0; i < n; i++)
    bin[i] = mask->data[i] >= 128;
  gint64 area = keep_largest_region (bin, w, h);
  if (area == 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("The mask marks no lesion, so nothing can be measured"));
      return FALSE;
    }
  out->area_px = area;
  out->area_fraction = (double) area / n;

  double sx = 0, sy = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (bin[(gsize) y * w + x])
        {
          sx += x;
          sy += y;
        }
  double cx = sx / area, cy = sy / area;
  double mxx = 0, myy = 0, mxy = 0;
  gint64 color_count[DERM_N_COLORS] = { 0 };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (bin[(gsize) y * w + x])
        {
          mxx += (x - cx) * (x - cx);
          myy += (y - cy) * (y - cy);
          mxy += (x - cx) * (y - cy);
          const guint8 *px = derm_image_pixel (image, x, y);
          int best = 0;
          double best_d = G_MAXDOUBLE;
          for (int c = 0; c < DERM_N_COLORS; c++)
            {
              double dr = px[0] - colors[c].rgb[0], dg = px[1] - colors[c].rgb[1],
                     db = px[2] - colors[c].rgb[2];
              double d = dr * dr + dg * dg + db * db;
              if (d < best_d)
                {
                  best_d = d;
                  best = c;
                }
            }
          /* A pixel far from every reference (skin showing through, glare)
           * has none of the six colours. */
          if (best_d <= DERM_LESION_COLOR_MAX_DISTANCE * DERM_LESION_COLOR_MAX_DISTANCE)
            color_count[best]++;
        }
  out->centroid[0] = cx;
  out->centroid[1] = cy;
  double theta = 0.5 * atan2 (2 * mxy, mxx - myy);
  out->orientation = theta;
  double ct = cos (theta), st = sin (theta);

  /* Mirror every pixel across the major axis (flip the minor coordinate) and
   * across the minor axis (flip the major coordinate). */
  gint64 miss[2] = { 0, 0 };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (bin[(gsize) y * w + x])
        {
          double dx = x - cx, dy = y - cy;
          double a = dx * ct + dy * st, b = -dx * st + dy * ct;
          /* (a, -b) and (-a, b) back to image coordinates */
          double x0 = cx + a * ct + b * st, y0 = cy + a * st - b * ct;
          double x1 = cx - a * ct - b * st, y1 = cy - a * st + b * ct;
          if (!inside (bin, w, h, (int) floor (x0 + 0.5), (int) floor (y0 + 0.5)))
            miss[0]++;
          if (!inside (bin, w, h, (int) floor (x1 + 0.5), (int) floor (y1 + 0.5)))
            miss[1]++;
        }
  out->asymmetry[0] = (double) miss[0] / area;
  out->asymmetry[1] = (double) miss[1] / area;

  out->perimeter_px = perimeter (bin, w, h);
  out->compactness = out->perimeter_px * out->perimeter_px / (4 * G_PI * area);
  out->diameter_px = feret_diameter (bin, w, h);

  for (int c = 0; c < DERM_N_COLORS; c++)
    {
      out->color_fraction[c] = (double) color_count[c] / area;
      if (out->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION)
        out->n_colors++;
    }
  return TRUE;
}
