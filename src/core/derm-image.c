/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-image.c: JPEG (TurboJPEG) and PNG (libpng) decoding and encoding,
 * with a pixel budget checked before any allocation. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <png.h>
#include <turbojpeg.h>

#include "derm-error.h"
#include "derm-image.h"

static gboolean
check_size (int width, int height, const char *name, GError **error)
{
  if (width <= 0 || height <= 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s: the image declares an invalid size %d x %d"),
                   name, width, height);
      return FALSE;
    }
  if ((guint64) width * (guint64) height > DERM_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE,
                   _("%s: the image is %d x %d pixels, more than the %d megapixels "
                     "Dermalens accepts; downscale it first"),
                   name, width, height, (int) (DERM_IMAGE_MAX_PIXELS / 1000000));
      return FALSE;
    }
  return TRUE;
}

DermImage *
derm_image_new (int width, int height, int channels, GError **error)
{
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  if (!check_size (width, height, _("New image"), error))
    return NULL;
  gsize bytes = (gsize) width * height * channels;
  guint8 *data = g_try_malloc0 (bytes);
  if (data == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
                   _("Not enough memory for a %d x %d image"), width, height);
      return NULL;
    }
  DermImage *image = g_new0 (DermImage, 1);
  image->width = width;
  image->height = height;
  image->channels = channels;
  image->data = data;
  return image;
}

DermImage *
derm_image_copy (const DermImage *image)
{
  g_return_val_if_fail (image != NULL, NULL);
  DermImage *copy = g_new0 (DermImage, 1);
  *copy = *image;
  copy->data = g_memdup2 (image->data, (gsize) image->width * image->height * image->channels);
  return copy;
}

void
derm_image_free (DermImage *image)
{
  if (image == NULL)
    return;
  g_free (image->data);
  g_free (image);
}

DermImageFormat
derm_image_detect_format (const guint8 *data, gsize len)
{
  static const guint8 png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return DERM_IMAGE_FORMAT_JPEG;
  if (len >= 8 && memcmp (data, png_sig, 8) == 0)
    return DERM_IMAGE_FORMAT_PNG;
  return DERM_IMAGE_FORMAT_UNKNOWN;
}

/* ---- JPEG ------------------------------------------------------------- */

/* @header: whether the header could not be read at all (not a JPEG one can
 * open) or the image data failed (corrupt or truncated). */
static void
set_tj_error (tjhandle tj, const char *name, gboolean header, GError **error)
{
  const char *detail = tj ? tjGetErrorStr2 (tj) : "";
  if (header)
    g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                 _("%s: the JPEG header cannot be read (%s)"), name, detail);
  else
    g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                 _("%s: the JPEG is corrupt or truncated (%s)"), name, detail);
}

static void
choose_jpeg_scale (int width, int height, int min_width, int min_height,
                   int *out_width, int *out_height)
{
  *out_width = width;
  *out_height = height;
  if (min_width <= 0 || min_height <= 0)
    return;

  int n = 0;
  tjscalingfactor *factors = tjGetScalingFactors (&n);
  for (int i = 0; factors != NULL && i < n; i++)
    {
      /* Only reductions: 1/2, 1/4, 1/8 and the 3/8 .. 7/8 steps. */
      if (factors[i].num >= factors[i].denom)
        continue;
      int w = TJSCALED (width, factors[i]);
      int h = TJSCALED (height, factors[i]);
      if (w >= min_width && h >= min_height && (guint64) w * h < (guint64) *out_width * *out_height)
        {
          *out_width = w;
          *out_height = h;
        }
    }
}

static DermImage *
decode_jpeg (const guint8 *data, gsize len, const char *name, int channels,
             int min_width, int min_height, GError **error)
{
  if (len > G_MAXULONG)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE, _("%s: file too large"), name);
      return NULL;
    }

  tjhandle tj = tjInitDecompress ();
  if (tj == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED,
                   _("%s: cannot start the JPEG decoder"), name);
      return NULL;
    }

  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3 (tj, data, (unsigned long) len, &width, &height,
                           &subsamp, &colorspace) != 0)
    {
      set_tj_error (tj, name, TRUE, error);
      tjDestroy (tj);
      return NULL;
    }
  if (!check_size (width, height, name, error))
    {
      tjDestroy (tj);
      return NULL;
    }

  int out_w, out_h;
  choose_jpeg_scale (width, height, min_width, min_height, &out_w, &out_h);

  g_autoptr(DermImage) image = derm_image_new (out_w, out_h, channels, error);
  if (image == NULL)
    {
      tjDestroy (tj);
      return NULL;
    }

  /* STOPONWARNING: a truncated file ("premature end of data") is an error,
   * not a grey-filled image reported as success. */
  int flags = TJFLAG_STOPONWARNING | TJFLAG_ACCURATEDCT;
  int pf = channels == 3 ? TJPF_RGB : TJPF_GRAY;
  if (tjDecompress2 (tj, data, (unsigned long) len, image->data, out_w,
                     out_w * channels, out_h, pf, flags) != 0)
    {
      set_tj_error (tj, name, FALSE, error);
      tjDestroy (tj);
      return NULL;
    }
  tjDestroy (tj);
  return g_steal_pointer (&image);
}

/* ---- PNG -------------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
} PngReader;

typedef struct {
  const char *name;
  char message[256];
} PngErrorState;

static void
png_error_cb (png_structp png, png_const_charp msg)
{
  PngErrorState *state = png_get_error_ptr (png);
  g_strlcpy (state->message, msg, sizeof state->message);
  png_longjmp (png, 1);
}

static void
png_warning_cb (png_structp png, png_const_charp msg)
{
  /* Warnings (an unknown ancillary chunk, a bad gamma) do not stop decoding. */
}

static void
png_read_cb (png_structp png, png_bytep out, png_size_t n)
{
  PngReader *r = png_get_io_ptr (png);
  if (n > r->len - r->pos)
    png_error (png, "unexpected end of file (truncated)");
  memcpy (out, r->data + r->pos, n);
  r->pos += n;
}

static DermImage *
decode_png (const guint8 *data, gsize len, const char *name, int channels, GError **error)
{
  PngReader reader = { data, len, 0 };
  PngErrorState state = { name, "" };
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &state,
                                            png_error_cb, png_warning_cb);
  if (png == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("%s: cannot start the PNG decoder"), name);
      return NULL;
    }
  png_infop info = png_create_info_struct (png);
  /* Volatile: they change between setjmp and a possible longjmp. */
  DermImage *volatile image = NULL;
  guint8 *volatile rgba = NULL;
  png_bytep *volatile rows = NULL;

  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      if (!state.message[0])
        g_strlcpy (state.message, "out of memory", sizeof state.message);
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   _("%s: corrupt or truncated PNG: %s"), name, state.message);
      png_destroy_read_struct (&png, info ? &info : NULL, NULL);
      derm_image_free (image);
      g_free (rgba);
      g_free (rows);
      return NULL;
    }

  png_set_read_fn (png, &reader, png_read_cb);
  png_set_user_limits (png, 1000000, 1000000);
  png_set_chunk_malloc_max (png, 64 * 1024 * 1024);
  /* Text, ICC and other ancillary chunks are never used: skip them unread.
   * libpng 1.6 otherwise allocates whatever length such a chunk declares
   * (1.6 GB for a corrupt 200-byte file, found by tests/fuzz). */
  static const png_byte unused_chunks[] =
    "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0pCAL\0sCAL\0hIST\0tIME\0pHYs\0oFFs\0sTER\0";
  png_set_keep_unknown_chunks (png, PNG_HANDLE_CHUNK_NEVER, unused_chunks,
                               (int) (sizeof unused_chunks / 5));
  png_read_info (png, info);

  png_uint_32 w = png_get_image_width (png, info);
  png_uint_32 h = png_get_image_height (png, info);
  if (w > G_MAXINT || h > G_MAXINT || !check_size ((int) w, (int) h, name, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE, _("%s: image too large"), name);
      png_destroy_read_struct (&png, &info, NULL);
      return NULL;
    }

  /* Normalise every colour type and depth to 8-bit RGBA. */
  png_set_expand (png);          /* palette -> RGB, gray < 8 bit -> 8, tRNS -> alpha */
  png_set_scale_16 (png);        /* 16-bit -> 8-bit, rounded */
  png_set_gray_to_rgb (png);
  png_set_add_alpha (png, 0xff, PNG_FILLER_AFTER);
  png_set_interlace_handling (png);
  png_read_update_info (png, info);
  if (png_get_rowbytes (png, info) != (gsize) w * 4)
    png_error (png, "unexpected row layout");

  rgba = g_try_malloc ((gsize) w * h * 4);
  rows = g_try_new (png_bytep, h);
  if (rgba == NULL || rows == NULL)
    png_error (png, "not enough memory for the image");
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = rgba + (gsize) y * w * 4;
  png_read_image (png, rows);
  png_read_end (png, NULL);

  image = derm_image_new ((int) w, (int) h, channels, NULL);
  if (image == NULL)
    png_error (png, "not enough memory for the image");

  gsize n = (gsize) w * h;
  for (gsize i = 0; i < n; i++)
    {
      const guint8 *s = rgba + i * 4;
      guint a = s[3];
      /* Composite over white. */
      guint r = (s[0] * a + 255 * (255 - a) + 127) / 255;
      guint g = (s[1] * a + 255 * (255 - a) + 127) / 255;
      guint b = (s[2] * a + 255 * (255 - a) + 127) / 255;
      if (channels == 3)
        {
          image->data[i * 3] = r;
          image->data[i * 3 + 1] = g;
          image->data[i * 3 + 2] = b;
        }
      else
        image->data[i] = (guint8) ((299 * r + 587 * g + 114 * b + 500) / 1000);
    }

  png_destroy_read_struct (&png, &info, NULL);
  g_free (rgba);
  g_free (rows);
  return image;
}

/* ---- Loading ---------------------------------------------------------- */

DermImage *
derm_image_load_from_memory (const guint8 *data, gsize len, const char *name,
                             int channels, int min_width, int min_height,
                             GError **error)
{
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  if (name == NULL)
    name = _("Image");

  switch (derm_image_detect_format (data, len))
    {
    case DERM_IMAGE_FORMAT_JPEG:
      return decode_jpeg (data, len, name, channels, min_width, min_height, error);
    case DERM_IMAGE_FORMAT_PNG:
      return decode_png (data, len, name, channels, error);
    case DERM_IMAGE_FORMAT_UNKNOWN:
    default:
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT,
                   len == 0 ? _("%s: the file is empty")
                            : _("%s: not a JPEG or PNG image"), name);
      return NULL;
    }
}

static guint8 *
read_file (const char *path, gsize *len, GError **error)
{
  g_autofree char *display = g_filename_display_name (path);
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int e = errno;
      g_set_error (error, DERM_ERROR, e == ENOENT ? DERM_ERROR_NOT_FOUND : DERM_ERROR_IO,
                   _("%s: %s"), display, g_strerror (e));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, _("%s: not a regular file"), display);
      return NULL;
    }
  if ((guint64) st.st_size > DERM_IMAGE_MAX_FILE_BYTES)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE,
                   _("%s: the file is larger than %d MB"), display,
                   (int) (DERM_IMAGE_MAX_FILE_BYTES >> 20));
      return NULL;
    }
  char *contents = NULL;
  GError *local = NULL;
  if (!g_file_get_contents (path, &contents, len, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
      g_error_free (local);
      return NULL;
    }
  return (guint8 *) contents;
}

DermImage *
derm_image_load (const char *path, int channels, int min_width, int min_height, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  gsize len = 0;
  g_autofree guint8 *data = read_file (path, &len, error);
  if (data == NULL)
    return NULL;
  g_autofree char *display = g_filename_display_name (path);
  return derm_image_load_from_memory (data, len, display, channels, min_width, min_height, error);
}

gboolean
derm_image_probe (const char *path, int *width, int *height, DermImageFormat *format,
                  GError **error)
{
  gsize len = 0;
  g_autofree guint8 *data = read_file (path, &len, error);
  if (data == NULL)
    return FALSE;
  g_autofree char *display = g_filename_display_name (path);
  DermImageFormat f = derm_image_detect_format (data, len);
  int w = 0, h = 0;
  if (f == DERM_IMAGE_FORMAT_JPEG)
    {
      tjhandle tj = tjInitDecompress ();
      int ss, cs;
      int rc = tj ? tjDecompressHeader3 (tj, data, (unsigned long) len, &w, &h, &ss, &cs) : -1;
      if (rc != 0)
        {
          set_tj_error (tj, display, TRUE, error);
          if (tj)
            tjDestroy (tj);
          return FALSE;
        }
      tjDestroy (tj);
    }
  else if (f == DERM_IMAGE_FORMAT_PNG)
    {
      /* IHDR: signature (8), length (4), "IHDR" (4), width (4), height (4). */
      if (len < 24 || memcmp (data + 12, "IHDR", 4) != 0)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s: corrupt PNG header"), display);
          return FALSE;
        }
      guint32 bw = GUINT32_FROM_BE (*(guint32 *) (data + 16));
      guint32 bh = GUINT32_FROM_BE (*(guint32 *) (data + 20));
      if (bw > G_MAXINT || bh > G_MAXINT)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s: corrupt PNG header"), display);
          return FALSE;
        }
      w = (int) bw;
      h = (int) bh;
    }
  else
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FORMAT, _("%s: not a JPEG or PNG image"), display);
      return FALSE;
    }
  if (width)
    *width = w;
  if (height)
    *height = h;
  if (format)
    *format = f;
  return TRUE;
}

/* ---- Encoding --------------------------------------------------------- */

static void
png_write_cb (png_structp png, png_bytep data, png_size_t n)
{
  g_byte_array_append (png_get_io_ptr (png), data, n);
}

static void
png_flush_cb (png_structp png)
{
}

guint8 *
derm_image_encode_png (const DermImage *image, gsize *len, GError **error)
{
  g_return_val_if_fail (image != NULL && len != NULL, NULL);
  g_return_val_if_fail (image->channels == 1 || image->channels == 3, NULL);

  PngErrorState state = { "PNG", "" };
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &state,
                                             png_error_cb, png_warning_cb);
  if (png == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("Cannot start the PNG encoder"));
      return NULL;
    }
  png_infop info = png_create_info_struct (png);
  GByteArray *volatile out = g_byte_array_new ();
  png_bytep *volatile rows = NULL;

  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED,
                   _("Cannot encode PNG: %s"), state.message);
      png_destroy_write_struct (&png, info ? &info : NULL);
      g_byte_array_unref (out);
      g_free (rows);
      return NULL;
    }

  png_set_write_fn (png, out, png_write_cb, png_flush_cb);
  png_set_IHDR (png, info, image->width, image->height, 8,
                image->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level (png, 6);
  png_write_info (png, info);
  rows = g_new (png_bytep, image->height);
  for (int y = 0; y < image->height; y++)
    rows[y] = (png_bytep) derm_image_pixel (image, 0, y);
  png_write_image (png, rows);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  g_free (rows);

  *len = out->len;
  return g_byte_array_free (out, FALSE);
}

guint8 *
derm_image_encode_jpeg (const DermImage *image, int quality, gsize *len, GError **error)
{
  g_return_val_if_fail (image != NULL && len != NULL, NULL);
  tjhandle tj = tjInitCompress ();
  if (tj == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("Cannot start the JPEG encoder"));
      return NULL;
    }
  unsigned char *buf = NULL;
  unsigned long size = 0;
  int pf = image->channels == 3 ? TJPF_RGB : TJPF_GRAY;
  int ss = image->channels == 3 ? TJSAMP_444 : TJSAMP_GRAY;
  if (tjCompress2 (tj, image->data, image->width, image->width * image->channels,
                   image->height, pf, &buf, &size, ss, CLAMP (quality, 1, 100),
                   TJFLAG_ACCURATEDCT) != 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, _("Cannot encode JPEG: %s"),
                   tjGetErrorStr2 (tj));
      tjFree (buf);
      tjDestroy (tj);
      return NULL;
    }
  tjDestroy (tj);
  guint8 *copy = g_memdup2 (buf, size);
  tjFree (buf);
  *len = size;
  return copy;
}

static gboolean
save_atomically (const char *path, const guint8 *data, gsize len, GError **error)
{
  GError *local = NULL;
  if (!g_file_set_contents_full (path, (const char *) data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, &local))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO, "%s", local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

gboolean
derm_image_save_png (const DermImage *image, const char *path, GError **error)
{
  gsize len = 0;
  g_autofree guint8 *data = derm_image_encode_png (image, &len, error);
  return data != NULL && save_atomically (path, data, len, error);
}

gboolean
derm_image_save_jpeg (const DermImage *image, const char *path, int quality, GError **error)
{
  gsize len = 0;
  g_autofree guint8 *data = derm_image_encode_jpeg (image, quality, &len, error);
  return data != NULL && save_atomically (path, data, len, error);
}

/* ---- Resampling ------------------------------------------------------- */

DermImage *
derm_image_resize_nearest (const DermImage *image, int width, int height, GError **error)
{
  g_return_val_if_fail (image != NULL, NULL);
  DermImage *out = derm_image_new (width, height, image->channels, error);
  if (out == NULL)
    return NULL;
  int c = image->channels;
  for (int y = 0; y < height; y++)
    {
      int sy = (int) (((gint64) y * 2 + 1) * image->height / (2 * (gint64) height));
      for (int x = 0; x < width; x++)
        {
          int sx = (int) (((gint64) x * 2 + 1) * image->width / (2 * (gint64) width));
          memcpy (derm_image_pixel (out, x, y), derm_image_pixel (image, sx, sy), c);
        }
    }
  return out;
}

/* Area average: each output pixel is the mean of the source pixels its
 * footprint covers, with fractional weights at the edges. */
static void
resize_area (const DermImage *src, DermImage *dst)
{
  int c = src->channels;
  double sx = (double) src->width / dst->width;
  double sy = (double) src->height / dst->height;
  g_autofree double *acc = g_new0 (double, (gsize) dst->width * c);

  for (int y = 0; y < dst->height; y++)
    {
      double y0 = y * sy, y1 = (y + 1) * sy;
      memset (acc, 0, sizeof (double) * dst->width * c);
      for (int iy = (int) y0; iy < (int) ceil (y1) && iy < src->height; iy++)
        {
          double wy = MIN (y1, iy + 1.0) - MAX (y0, (double) iy);
          if (wy <= 0)
            continue;
          for (int x = 0; x < dst->width; x++)
            {
              double x0 = x * sx, x1 = (x + 1) * sx;
              for (int ix = (int) x0; ix < (int) ceil (x1) && ix < src->width; ix++)
                {
                  double w = wy * (MIN (x1, ix + 1.0) - MAX (x0, (double) ix));
                  if (w <= 0)
                    continue;
                  const guint8 *p = derm_image_pixel (src, ix, iy);
                  for (int k = 0; k < c; k++)
                    acc[x * c + k] += w * p[k];
                }
            }
        }
      double norm = 1.0 / (sx * sy);
      guint8 *row = derm_image_pixel (dst, 0, y);
      for (int i = 0; i < dst->width * c; i++)
        row[i] = (guint8) CLAMP (acc[i] * norm + 0.5, 0, 255);
    }
}

static void
resize_bilinear (const DermImage *src, DermImage *dst)
{
  int c = src->channels;
  double sx = (double) src->width / dst->width;
  double sy = (double) src->height / dst->height;
  for (int y = 0; y < dst->height; y++)
    {
      double fy = CLAMP ((y + 0.5) * sy - 0.5, 0, src->height - 1);
      int y0 = (int) fy, y1 = MIN (y0 + 1, src->height - 1);
      double ty = fy - y0;
      for (int x = 0; x < dst->width; x++)
        {
          double fx = CLAMP ((x + 0.5) * sx - 0.5, 0, src->width - 1);
          int x0 = (int) fx, x1 = MIN (x0 + 1, src->width - 1);
          double tx = fx - x0;
          const guint8 *a = derm_image_pixel (src, x0, y0), *b = derm_image_pixel (src, x1, y0);
          const guint8 *d = derm_image_pixel (src, x0, y1), *e = derm_image_pixel (src, x1, y1);
          guint8 *o = derm_image_pixel (dst, x, y);
          for (int k = 0; k < c; k++)
            {
              double v = (a[k] * (1 - tx) + b[k] * tx) * (1 - ty) + (d[k] * (1 - tx) + e[k] * tx) * ty;
              o[k] = (guint8) CLAMP (v + 0.5, 0, 255);
            }
        }
    }
}

DermImage *
derm_image_resize (const DermImage *image, int width, int height, GError **error)
{
  g_return_val_if_fail (image != NULL, NULL);
  DermImage *out = derm_image_new (width, height, image->channels, error);
  if (out == NULL)
    return NULL;
  if (width == image->width && height == image->height)
    memcpy (out->data, image->data, (gsize) width * height * image->channels);
  else if (image->width >= 2 * width && image->height >= 2 * height)
    resize_area (image, out);
  else
    resize_bilinear (image, out);
  return out;
}

/* ---- Colour constancy ------------------------------------------------- */

void
derm_image_shades_of_gray (DermImage *image, double p)
{
  g_return_if_fail (image != NULL && image->channels == 3 && p >= 1);
  gsize n = (gsize) image->width * image->height;
  double lut[256];
  for (int v = 0; v < 256; v++)
    lut[v] = pow (v / 255.0, p);

  double sum[3] = { 0, 0, 0 };
  for (gsize i = 0; i < n; i++)
    for (int k = 0; k < 3; k++)
      sum[k] += lut[image->data[i * 3 + k]];

  double e[3], norm = 0;
  for (int k = 0; k < 3; k++)
    {
      e[k] = pow (sum[k] / n, 1.0 / p);
      norm += e[k] * e[k];
    }
  norm = sqrt (norm);
  if (norm <= 0)
    return;

  /* Gains map the illuminant (e / |e|) onto the grey axis (1, 1, 1) / sqrt 3. */
  guint8 map[3][256];
  for (int k = 0; k < 3; k++)
    {
      double ek = e[k] / norm;
      double gain = ek > 1e-6 ? 1.0 / (sqrt (3.0) * ek) : 1.0;
      for (int v = 0; v < 256; v++)
        map[k][v] = (guint8) CLAMP (v * gain + 0.5, 0, 255);
    }
  for (gsize i = 0; i < n; i++)
    for (int k = 0; k < 3; k++)
      image->data[i * 3 + k] = map[k][image->data[i * 3 + k]];
}
