/* app-test-tool.c: helpers for the GUI tests, linked with core only.
 *
 *   app-test-tool make-lesion OUT.{png,jpg} WIDTH HEIGHT
 *       a synthetic dermoscopy-like image: skin background, a dark brown
 *       lesion in the middle
 *   app-test-tool count-colour PNG R G B TOLERANCE
 *       prints how many pixels are within TOLERANCE of (R, G, B) per channel
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derm-image.h"

/* The colours the screenshot check looks for; far from any theme colour. */
#define SKIN_R 224
#define SKIN_G 172
#define SKIN_B 150
#define LESION_R 96
#define LESION_G 52
#define LESION_B 30

static int
make_lesion (const char *path, int width, int height)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) image = derm_image_new (width, height, 3, &error);
  if (image == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  double cx = width / 2.0, cy = height / 2.0;
  double rx = width * 0.22, ry = height * 0.25;
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = derm_image_pixel (image, x, y);
        double dx = (x - cx) / rx, dy = (y - cy) / ry;
        gboolean inside = dx * dx + dy * dy <= 1.0;
        p[0] = inside ? LESION_R : SKIN_R;
        p[1] = inside ? LESION_G : SKIN_G;
        p[2] = inside ? LESION_B : SKIN_B;
      }
  gboolean ok = g_str_has_suffix (path, ".png")
                  ? derm_image_save_png (image, path, &error)
                  : derm_image_save_jpeg (image, path, 95, &error);
  if (!ok)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  return 0;
}

static int
count_colour (const char *path, int r, int g, int b, int tolerance)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) image = derm_image_load (path, 3, 0, 0, &error);
  if (image == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  gsize count = 0, n = (gsize) image->width * image->height;
  for (gsize i = 0; i < n; i++)
    {
      const guint8 *p = image->data + 3 * i;
      if (abs (p[0] - r) <= tolerance && abs (p[1] - g) <= tolerance && abs (p[2] - b) <= tolerance)
        count++;
    }
  printf ("%" G_GSIZE_FORMAT "\n", count);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 5 && strcmp (argv[1], "make-lesion") == 0)
    return make_lesion (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc == 7 && strcmp (argv[1], "count-colour") == 0)
    return count_colour (argv[2], atoi (argv[3]), atoi (argv[4]), atoi (argv[5]), atoi (argv[6]));
  fprintf (stderr, "usage: app-test-tool make-lesion OUT W H | count-colour PNG R G B TOL\n");
  return 2;
}
