/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-image.h: the one 8-bit image type used everywhere, and its I/O.
 *
 * A DermImage holds width * height * channels bytes, rows packed (stride is
 * width * channels), channels 3 (RGB) or 1 (gray: masks and heatmaps).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* No image over this many pixels is allocated: 100 megapixels, far above
 * any dermatoscope (a 600x450 HAM10000 image is 0.27 Mpx). */
#define DERM_IMAGE_MAX_PIXELS ((guint64) 100 * 1000 * 1000)
/* No file over this size is read into memory. */
#define DERM_IMAGE_MAX_FILE_BYTES ((gsize) 512 * 1024 * 1024)

typedef struct {
  int width;
  int height;
  int channels;   /* 1 or 3 */
  guint8 *data;   /* owned */
} DermImage;

typedef enum {
  DERM_IMAGE_FORMAT_UNKNOWN,
  DERM_IMAGE_FORMAT_JPEG,
  DERM_IMAGE_FORMAT_PNG,
} DermImageFormat;

/* Returns a new zero-filled image (free with derm_image_free), or NULL and an
 * error when the size is not positive or over DERM_IMAGE_MAX_PIXELS. */
DermImage *derm_image_new (int width, int height, int channels, GError **error);
/* Returns a new deep copy. */
DermImage *derm_image_copy (const DermImage *image);
void       derm_image_free (DermImage *image);

static inline guint8 *
derm_image_pixel (const DermImage *image, int x, int y)
{
  return image->data + ((gsize) y * image->width + x) * image->channels;
}

/* Sniffs the first bytes. */
DermImageFormat derm_image_detect_format (const guint8 *data, gsize len);

/* Decodes a JPEG or PNG file into a new image with @channels (1 or 3).
 * RGB is reduced to gray by Rec. 601 luma; gray is replicated to RGB;
 * palettes are expanded; 16-bit samples are scaled to 8 bits; alpha is
 * composited over white.
 *
 * When @min_width and @min_height are positive and the file is a JPEG far
 * larger than that, it is decoded DCT-scaled (1/2 .. 1/8) to the smallest
 * size that still covers min_width x min_height; the result may therefore be
 * smaller than the file. Pass 0, 0 for the full size.
 *
 * Images declaring more than DERM_IMAGE_MAX_PIXELS are refused before any
 * pixel buffer is allocated. A truncated or corrupt file is an error naming
 * the file; no partial image is ever returned.
 * Returns: (transfer full) a new image, or NULL with @error set. */
DermImage *derm_image_load (const char *path, int channels,
                            int min_width, int min_height, GError **error);

/* The same from memory; @name is used in error messages. */
DermImage *derm_image_load_from_memory (const guint8 *data, gsize len,
                                        const char *name, int channels,
                                        int min_width, int min_height,
                                        GError **error);

/* Reads only the size from the header: no pixels are decoded. */
gboolean derm_image_probe (const char *path, int *width, int *height,
                           DermImageFormat *format, GError **error);

/* Encodes as PNG (8-bit gray or RGB). Returns: (transfer full) g_free() it. */
guint8  *derm_image_encode_png (const DermImage *image, gsize *len, GError **error);
/* Encodes as baseline JPEG with 4:4:4 chroma. Returns: (transfer full). */
guint8  *derm_image_encode_jpeg (const DermImage *image, int quality,
                                 gsize *len, GError **error);

/* Writes atomically: a temporary file in the same folder, fsync, rename.
 * On error the previous file at @path, if any, is untouched. */
gboolean derm_image_save_png (const DermImage *image, const char *path, GError **error);
gboolean derm_image_save_jpeg (const DermImage *image, const char *path,
                               int quality, GError **error);

/* Resampling. Bilinear for photographs (area-averaged when shrinking by more
 * than 2x, so small images are not aliased), nearest for masks.
 * Returns: (transfer full) a new image, or NULL on a bad size. */
DermImage *derm_image_resize (const DermImage *image, int width, int height,
                              GError **error);
DermImage *derm_image_resize_nearest (const DermImage *image, int width, int height,
                                      GError **error);

/* Shades-of-Gray colour constancy (Finlayson & Trezzi 2004; used by ISIC
 * challenge winners), in place on an RGB image: each channel is scaled so
 * the Minkowski p-norm illuminant estimate becomes grey. p = 6 is usual. */
void derm_image_shades_of_gray (DermImage *image, double p);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermImage, derm_image_free)

G_END_DECLS
