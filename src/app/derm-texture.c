/* derm-texture.c: DermImage <-> GdkTexture. */
#include "config.h"

#define G_LOG_DOMAIN "derm-texture"

#include "derm-texture.h"

/* GDK 4.8 has no 8-bit gray memory format: gray is expanded to RGB. */
static GBytes *
gray_to_rgb_bytes (const DermImage *image)
{
  gsize n = (gsize) image->width * image->height;
  guint8 *rgb = g_malloc (n * 3);
  for (gsize i = 0; i < n; i++)
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = image->data[i];
  return g_bytes_new_take (rgb, n * 3);
}

static GdkTexture *
texture_from_rgb_bytes (int width, int height, GBytes *bytes)
{
  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8, bytes, (gsize) width * 3);
}

GdkTexture *
derm_texture_new_from_image (const DermImage *image)
{
  g_return_val_if_fail (image != NULL && image->data != NULL, NULL);

  g_autoptr(GBytes) bytes = NULL;
  if (image->channels == 1)
    bytes = gray_to_rgb_bytes (image);
  else
    bytes = g_bytes_new (image->data, (gsize) image->width * image->height * 3);
  return texture_from_rgb_bytes (image->width, image->height, bytes);
}

GdkTexture *
derm_texture_new_take_image (DermImage *image)
{
  g_return_val_if_fail (image != NULL && image->data != NULL, NULL);

  if (image->channels == 1)
    {
      GdkTexture *texture = derm_texture_new_from_image (image);
      derm_image_free (image);
      return texture;
    }

  int width = image->width, height = image->height;
  g_autoptr(GBytes) bytes = g_bytes_new_take (image->data, (gsize) width * height * 3);
  image->data = NULL;
  derm_image_free (image);
  return texture_from_rgb_bytes (width, height, bytes);
}
