/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-image.c: JPEG and PNG input/output on images the test generates,
 * exact for PNG, within a tolerance for JPEG, and every bad input. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>
#include <zlib.h>

#include "derm-error.h"
#include "derm-image.h"

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* A deterministic RGB test pattern with gradients and sharp edges. */
static DermImage *
make_pattern (int w, int h)
{
  DermImage *img = derm_image_new (w, h, 3, NULL);
  g_assert_nonnull (img);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = derm_image_pixel (img, x, y);
        p[0] = (guint8) (x * 255 / MAX (w - 1, 1));
        p[1] = (guint8) (y * 255 / MAX (h - 1, 1));
        p[2] = (guint8) (((x / 8 + y / 8) % 2) ? 200 : 40);
      }
  return img;
}

/* ---- PNG writer for every colour type and depth ------------------------- */

typedef struct {
  int color_type;
  int bit_depth;
  gboolean interlaced;
  gboolean trns;         /* palette: index 0 fully transparent */
} PngMode;

/* The sample value of channel @c at (x, y) for a given depth. */
static guint
sample (int x, int y, int c, int depth)
{
  guint max = (1u << depth) - 1;
  return ((guint) (x * 7 + y * 13 + c * 29)) % (max + 1);
}

/* Writes a w x h PNG in @mode and fills @expect (RGB) with what a correct
 * decoder must return. */
static char *
write_png_mode (const char *name, const PngMode *mode, int w, int h, DermImage *expect)
{
  char *path = tmp_path (name);
  FILE *f = g_fopen (path, "wb");
  g_assert_nonnull (f);
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  g_assert_true (setjmp (png_jmpbuf (png)) == 0);
  png_init_io (png, f);
  png_set_IHDR (png, info, w, h, mode->bit_depth, mode->color_type,
                mode->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);

  png_color palette[16];
  int d = mode->bit_depth;
  if (mode->color_type == PNG_COLOR_TYPE_PALETTE)
    {
      for (int i = 0; i < 16; i++)
        palette[i] = (png_color) { (png_byte) (i * 16), (png_byte) (255 - i * 8), (png_byte) (i * 5) };
      png_set_PLTE (png, info, palette, MIN (16, 1 << d));
      if (mode->trns)
        {
          png_byte alpha[1] = { 0 };
          png_set_tRNS (png, info, alpha, 1, NULL);
        }
    }
  png_write_info (png, info);

  int channels = png_get_channels (png, info);
  gsize rowbytes = png_get_rowbytes (png, info);
  g_autofree png_bytep buf = g_malloc0 (rowbytes * h);
  g_autofree png_bytep *rows = g_new (png_bytep, h);
  for (int y = 0; y < h; y++)
    {
      rows[y] = buf + y * rowbytes;
      for (int x = 0; x < w; x++)
        {
          guint v[4] = { 0, 0, 0, 0 };
          for (int c = 0; c < channels; c++)
            v[c] = sample (x, y, c, d);
          if (mode->color_type == PNG_COLOR_TYPE_PALETTE)
            v[0] %= MIN (16, 1 << d);
          /* Pack. */
          for (int c = 0; c < channels; c++)
            {
              if (d == 16)
                {
                  rows[y][(x * channels + c) * 2] = v[c] >> 8;
                  rows[y][(x * channels + c) * 2 + 1] = v[c] & 0xff;
                }
              else if (d == 8)
                rows[y][x * channels + c] = v[c];
              else
                {
                  int bit = (x * channels + c) * d;
                  rows[y][bit / 8] |= v[c] << (8 - d - bit % 8);
                }
            }

          /* What the decoder must give (RGB, 8-bit, alpha over white). */
          guint r, g, b, a = 255;
          guint max = (1u << d) - 1;
#define TO8(s) (d == 16 ? (((s) * 255u + 32895u) >> 16) : ((s) * 255u / max))
          switch (mode->color_type)
            {
            case PNG_COLOR_TYPE_GRAY:
              r = g = b = TO8 (v[0]);
              break;
            case PNG_COLOR_TYPE_GRAY_ALPHA:
              r = g = b = TO8 (v[0]);
              a = TO8 (v[1]);
              break;
            case PNG_COLOR_TYPE_RGB:
              r = TO8 (v[0]);
              g = TO8 (v[1]);
              b = TO8 (v[2]);
              break;
            case PNG_COLOR_TYPE_RGB_ALPHA:
              r = TO8 (v[0]);
              g = TO8 (v[1]);
              b = TO8 (v[2]);
              a = TO8 (v[3]);
              break;
            case PNG_COLOR_TYPE_PALETTE:
            default:
              r = palette[v[0]].red;
              g = palette[v[0]].green;
              b = palette[v[0]].blue;
              a = (mode->trns && v[0] == 0) ? 0 : 255;
              break;
            }
#undef TO8
          guint8 *e = derm_image_pixel (expect, x, y);
          e[0] = (r * a + 255 * (255 - a) + 127) / 255;
          e[1] = (g * a + 255 * (255 - a) + 127) / 255;
          e[2] = (b * a + 255 * (255 - a) + 127) / 255;
        }
    }
  png_write_image (png, rows);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (f);
  return path;
}

static void
test_png_modes (void)
{
  const PngMode modes[] = {
    { PNG_COLOR_TYPE_GRAY, 1, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY, 2, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY, 4, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY, 8, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY, 16, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY_ALPHA, 8, FALSE, FALSE },
    { PNG_COLOR_TYPE_GRAY_ALPHA, 16, FALSE, FALSE },
    { PNG_COLOR_TYPE_RGB, 8, FALSE, FALSE },
    { PNG_COLOR_TYPE_RGB, 8, TRUE, FALSE },
    { PNG_COLOR_TYPE_RGB, 16, FALSE, FALSE },
    { PNG_COLOR_TYPE_RGB_ALPHA, 8, FALSE, FALSE },
    { PNG_COLOR_TYPE_RGB_ALPHA, 16, FALSE, FALSE },
    { PNG_COLOR_TYPE_PALETTE, 1, FALSE, FALSE },
    { PNG_COLOR_TYPE_PALETTE, 4, FALSE, FALSE },
    { PNG_COLOR_TYPE_PALETTE, 8, FALSE, FALSE },
    { PNG_COLOR_TYPE_PALETTE, 8, FALSE, TRUE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      const int w = 37, h = 23;  /* odd sizes exercise sub-byte row padding */
      g_autoptr(DermImage) expect = derm_image_new (w, h, 3, NULL);
      g_autofree char *name = g_strdup_printf ("mode-%zu.png", i);
      g_autofree char *path = write_png_mode (name, &modes[i], w, h, expect);
      g_autoptr(GError) error = NULL;
      g_autoptr(DermImage) img = derm_image_load (path, 3, 0, 0, &error);
      g_assert_no_error (error);
      g_assert_cmpint (img->width, ==, w);
      g_assert_cmpint (img->height, ==, h);
      g_assert_cmpint (img->channels, ==, 3);
      for (int k = 0; k < w * h * 3; k++)
        if (img->data[k] != expect->data[k])
          g_error ("PNG mode %zu (type %d, depth %d): byte %d is %d, expected %d", i,
                   modes[i].color_type, modes[i].bit_depth, k, img->data[k], expect->data[k]);

      /* The same file as gray: Rec. 601 luma of the expected RGB. */
      g_autoptr(DermImage) gray = derm_image_load (path, 1, 0, 0, &error);
      g_assert_no_error (error);
      g_assert_cmpint (gray->channels, ==, 1);
      for (int k = 0; k < w * h; k++)
        {
          const guint8 *e = expect->data + k * 3;
          guint lum = (299 * e[0] + 587 * e[1] + 114 * e[2] + 500) / 1000;
          g_assert_cmpuint (gray->data[k], ==, lum);
        }
    }
}

static void
test_png_roundtrip (void)
{
  g_autoptr(DermImage) rgb = make_pattern (64, 48);
  g_autofree char *path = tmp_path ("roundtrip.png");
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_image_save_png (rgb, path, &error));
  g_assert_no_error (error);
  g_autoptr(DermImage) back = derm_image_load (path, 3, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back->data, 64 * 48 * 3, rgb->data, 64 * 48 * 3);

  /* A gray mask round-trips exactly too. */
  g_autoptr(DermImage) mask = derm_image_new (31, 17, 1, NULL);
  for (int i = 0; i < 31 * 17; i++)
    mask->data[i] = (i % 3) ? 255 : 0;
  gsize len = 0;
  g_autofree guint8 *bytes = derm_image_encode_png (mask, &len, &error);
  g_assert_no_error (error);
  g_autoptr(DermImage) mback = derm_image_load_from_memory (bytes, len, "mask", 1, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (mback->data, 31 * 17, mask->data, 31 * 17);

  int w = 0, h = 0;
  DermImageFormat fmt;
  g_assert_true (derm_image_probe (path, &w, &h, &fmt, &error));
  g_assert_cmpint (w, ==, 64);
  g_assert_cmpint (h, ==, 48);
  g_assert_cmpint (fmt, ==, DERM_IMAGE_FORMAT_PNG);
}

static double
mean_abs_diff (const DermImage *a, const DermImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->channels, ==, b->channels);
  double sum = 0;
  gsize n = (gsize) a->width * a->height * a->channels;
  for (gsize i = 0; i < n; i++)
    sum += ABS ((int) a->data[i] - (int) b->data[i]);
  return sum / n;
}

static void
test_jpeg_roundtrip (void)
{
  g_autoptr(DermImage) rgb = make_pattern (120, 90);
  g_autofree char *path = tmp_path ("photo.jpg");
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_image_save_jpeg (rgb, path, 95, &error));
  g_autoptr(DermImage) back = derm_image_load (path, 3, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (mean_abs_diff (rgb, back), <, 3.0);

  /* Gray JPEG, read as RGB (replicated) and as gray. */
  g_autoptr(DermImage) gray = derm_image_new (80, 60, 1, NULL);
  for (int i = 0; i < 80 * 60; i++)
    gray->data[i] = (guint8) ((i % 80) * 3);
  g_autofree char *gpath = tmp_path ("gray.jpg");
  g_assert_true (derm_image_save_jpeg (gray, gpath, 95, &error));
  g_autoptr(DermImage) g1 = derm_image_load (gpath, 1, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (mean_abs_diff (gray, g1), <, 3.0);
  g_autoptr(DermImage) g3 = derm_image_load (gpath, 3, 0, 0, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 80 * 60; i++)
    g_assert_true (g3->data[i * 3] == g3->data[i * 3 + 1] && g3->data[i * 3] == g3->data[i * 3 + 2]);
}

static void
test_jpeg_dct_scaled (void)
{
  g_autoptr(DermImage) big = make_pattern (1600, 1200);
  g_autofree char *path = tmp_path ("big.jpg");
  g_autoptr(GError) error = NULL;
  g_assert_true (derm_image_save_jpeg (big, path, 90, &error));

  /* 224 x 168 is covered by 1/4 (400 x 300) but not by 1/8 (200 x 150). */
  g_autoptr(DermImage) small = derm_image_load (path, 3, 224, 168, &error);
  g_assert_no_error (error);
  g_assert_cmpint (small->width, ==, 400);
  g_assert_cmpint (small->height, ==, 300);

  /* The scaled decode looks like a plain downscale of the full decode. */
  g_autoptr(DermImage) full = derm_image_load (path, 3, 0, 0, &error);
  g_assert_cmpint (full->width, ==, 1600);
  g_autoptr(DermImage) ref = derm_image_resize (full, 400, 300, &error);
  g_assert_cmpfloat (mean_abs_diff (ref, small), <, 4.0);

  /* Nothing smaller than asked, and no scaling for a near-size request. */
  g_autoptr(DermImage) near = derm_image_load (path, 3, 1500, 1000, &error);
  g_assert_cmpint (near->width, ==, 1600);
}

/* ---- Bad input --------------------------------------------------------- */

static void
assert_load_fails (const char *path, int code)
{
  g_autoptr(GError) error = NULL;
  DermImage *img = derm_image_load (path, 3, 0, 0, &error);
  g_assert_null (img);
  g_assert_error (error, DERM_ERROR, code);
  /* The message names the file. */
  g_autofree char *base = g_path_get_basename (path);
  if (strstr (error->message, base) == NULL)
    g_error ("error message '%s' does not name '%s'", error->message, base);
}

static char *
write_bytes (const char *name, const guint8 *data, gsize len)
{
  char *path = tmp_path (name);
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) len, NULL));
  return path;
}

static void
test_truncated (void)
{
  g_autoptr(DermImage) rgb = make_pattern (160, 120);
  gsize len = 0;
  g_autofree guint8 *jpeg = derm_image_encode_jpeg (rgb, 90, &len, NULL);
  g_autofree guint8 *png = NULL;
  gsize plen = 0;
  png = derm_image_encode_png (rgb, &plen, NULL);

  /* Cut at many points: each is an error, never a partial image. */
  for (gsize cut = 2; cut < len; cut += len / 13)
    {
      g_autofree char *p = write_bytes ("cut.jpg", jpeg, cut);
      assert_load_fails (p, DERM_ERROR_FORMAT);
    }
  for (gsize cut = 9; cut < plen; cut += plen / 13)
    {
      g_autofree char *p = write_bytes ("cut.png", png, cut);
      assert_load_fails (p, DERM_ERROR_FORMAT);
    }
}

static void
test_corrupt (void)
{
  g_autoptr(DermImage) rgb = make_pattern (160, 120);
  gsize plen = 0;
  g_autofree guint8 *png = derm_image_encode_png (rgb, &plen, NULL);
  /* Flip bytes inside the IDAT data: the CRC or zlib check must catch it. */
  for (gsize i = plen / 2; i < plen / 2 + 16; i++)
    png[i] ^= 0x5a;
  g_autofree char *p = write_bytes ("corrupt.png", png, plen);
  assert_load_fails (p, DERM_ERROR_FORMAT);

  gsize jlen = 0;
  g_autofree guint8 *jpeg = derm_image_encode_jpeg (rgb, 90, &jlen, NULL);
  /* Destroy the Huffman tables' markers. */
  for (gsize i = 20; i < 400 && i < jlen; i++)
    jpeg[i] = 0xff;
  g_autofree char *j = write_bytes ("corrupt.jpg", jpeg, jlen);
  assert_load_fails (j, DERM_ERROR_FORMAT);
}

static void
test_not_an_image (void)
{
  const char *text = "lesion_id,image_id,dx\nHAM_1,ISIC_1,mel\n";
  g_autofree char *p = write_bytes ("metadata.jpg", (const guint8 *) text, strlen (text));
  assert_load_fails (p, DERM_ERROR_FORMAT);

  g_autofree char *empty = write_bytes ("empty.png", (const guint8 *) "", 0);
  assert_load_fails (empty, DERM_ERROR_FORMAT);

  g_autofree char *missing = tmp_path ("no-such-file.jpg");
  assert_load_fails (missing, DERM_ERROR_NOT_FOUND);

  g_autofree char *dir = tmp_path ("a-folder.png");
  g_mkdir (dir, 0700);
  assert_load_fails (dir, DERM_ERROR_IO);
}

/* A JPEG of 1 KB or less that declares 60000 x 60000 pixels. */
static void
test_jpeg_pixel_bomb (void)
{
  g_autoptr(DermImage) tiny = make_pattern (16, 16);
  gsize len = 0;
  g_autofree guint8 *jpeg = derm_image_encode_jpeg (tiny, 50, &len, NULL);
  g_assert_cmpuint (len, <=, 1024);
  gboolean patched = FALSE;
  for (gsize i = 2; i + 8 < len; i++)
    if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2))
      {
        /* SOF: FF C0, length (2), precision (1), height (2), width (2). */
        jpeg[i + 5] = 60000 >> 8;
        jpeg[i + 6] = 60000 & 0xff;
        jpeg[i + 7] = 60000 >> 8;
        jpeg[i + 8] = 60000 & 0xff;
        patched = TRUE;
        break;
      }
  g_assert_true (patched);
  g_autofree char *p = write_bytes ("bomb.jpg", jpeg, len);
  assert_load_fails (p, DERM_ERROR_TOO_LARGE);
}

static void
test_png_pixel_bomb (void)
{
  /* A hand-made PNG: signature + IHDR 60000 x 60000 RGB + empty IDAT + IEND. */
  guint8 buf[8 + 25 + 12 + 12];
  const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  memcpy (buf, sig, 8);
  guint8 *ihdr = buf + 8;
  const guint8 ihdr_data[] = { 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60, 8, 2, 0, 0, 0 };
  memcpy (ihdr, ihdr_data, sizeof ihdr_data);
  guint32 crc = crc32 (0, ihdr + 4, 17);
  ihdr[21] = crc >> 24;
  ihdr[22] = crc >> 16;
  ihdr[23] = crc >> 8;
  ihdr[24] = crc;
  guint8 *idat = ihdr + 25;
  const guint8 idat_hdr[] = { 0, 0, 0, 0, 'I', 'D', 'A', 'T' };
  memcpy (idat, idat_hdr, 8);
  crc = crc32 (0, idat + 4, 4);
  idat[8] = crc >> 24; idat[9] = crc >> 16; idat[10] = crc >> 8; idat[11] = crc;
  guint8 *iend = idat + 12;
  const guint8 iend_hdr[] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D' };
  memcpy (iend, iend_hdr, 8);
  crc = crc32 (0, iend + 4, 4);
  iend[8] = crc >> 24; iend[9] = crc >> 16; iend[10] = crc >> 8; iend[11] = crc;

  g_autofree char *p = write_bytes ("bomb.png", buf, sizeof buf);
  assert_load_fails (p, DERM_ERROR_TOO_LARGE);
}

static void
test_save_errors (void)
{
  g_autoptr(DermImage) a = make_pattern (20, 10);
  g_autoptr(GError) error = NULL;
  g_autofree char *nodir = g_build_filename (tmpdir, "no", "such", "dir", "x.png", NULL);
  g_assert_false (derm_image_save_png (a, nodir, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_IO);
}

/* The child of test_save_full_disk: the disk "fills" (a file-size limit)
 * half-way through a save over the parent's kept.png. */
static void
test_save_full_disk_child (void)
{
  g_autofree char *path = tmp_path ("kept.png");
  g_autoptr(GError) error = NULL;
  struct rlimit lim = { 200, 200 };
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &lim), ==, 0);
  g_autoptr(DermImage) b = make_pattern (300, 300);
  gboolean ok = derm_image_save_png (b, path, &error);
  g_assert_false (ok);
  g_assert_error (error, DERM_ERROR, DERM_ERROR_IO);
  g_printerr ("save failed as expected: %s\n", error->message);
}

/* A save that fails half-way leaves the earlier file as it was, and no
 * temporary file. */
static void
test_save_full_disk (void)
{
  g_autofree char *path = tmp_path ("kept.png");
  g_autoptr(DermImage) a = make_pattern (20, 10);
  g_assert_true (derm_image_save_png (a, path, NULL));
  g_test_trap_subprocess ("/image/bad/save-keeps-previous/subprocess", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*save failed as expected*");
  g_autoptr(DermImage) back = derm_image_load (path, 3, 0, 0, NULL);
  g_assert_nonnull (back);
  g_assert_cmpint (back->width, ==, 20);
  /* No temporary file is left behind. */
  g_autoptr(GDir) dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_false (g_str_has_prefix (name, "kept.png."));
}

static void
test_resize (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) mask = derm_image_new (600, 450, 1, NULL);
  for (int y = 0; y < 450; y++)
    for (int x = 0; x < 600; x++)
      mask->data[y * 600 + x] = (x >= 300) ? 255 : 0;
  g_autoptr(DermImage) small = derm_image_resize_nearest (mask, 200, 150, &error);
  g_assert_no_error (error);
  for (int y = 0; y < 150; y++)
    for (int x = 0; x < 200; x++)
      g_assert_cmpuint (small->data[y * 200 + x], ==, x >= 100 ? 255 : 0);

  /* Area averaging: a 2x2 checkerboard shrinks to its mean. */
  g_autoptr(DermImage) check = derm_image_new (64, 64, 1, NULL);
  for (int i = 0; i < 64 * 64; i++)
    check->data[i] = ((i % 64 + i / 64) % 2) ? 200 : 100;
  g_autoptr(DermImage) flat = derm_image_resize (check, 8, 8, &error);
  for (int i = 0; i < 64; i++)
    g_assert_cmpint (ABS ((int) flat->data[i] - 150), <=, 1);

  g_assert_null (derm_image_resize (check, 0, 8, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_FORMAT);
}

static void
test_shades_of_gray (void)
{
  /* A textured image under a reddish illuminant becomes neutral. */
  g_autoptr(DermImage) img = derm_image_new (50, 50, 3, NULL);
  for (int i = 0; i < 2500; i++)
    {
      double t = 0.5 + 0.4 * ((i * 37) % 100) / 100.0;
      img->data[i * 3] = (guint8) (220 * t);
      img->data[i * 3 + 1] = (guint8) (140 * t);
      img->data[i * 3 + 2] = (guint8) (120 * t);
    }
  derm_image_shades_of_gray (img, 6);
  double m[3] = { 0 };
  for (int i = 0; i < 2500; i++)
    for (int k = 0; k < 3; k++)
      m[k] += img->data[i * 3 + k] / 2500.0;
  g_assert_cmpfloat (ABS (m[0] - m[1]), <, 4);
  g_assert_cmpfloat (ABS (m[1] - m[2]), <, 4);
}

static void
test_new_refuses_budget (void)
{
  g_autoptr(GError) error = NULL;
  g_assert_null (derm_image_new (60000, 60000, 3, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_TOO_LARGE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* A subprocess works in its parent's folder (it inherits the variable). */
  if (g_test_subprocess ())
    tmpdir = g_strdup (g_getenv ("DERM_TEST_IMAGE_TMPDIR"));
  else
    tmpdir = g_dir_make_tmp ("derm-image-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_setenv ("DERM_TEST_IMAGE_TMPDIR", tmpdir, TRUE);

  g_test_add_func ("/image/png/modes", test_png_modes);
  g_test_add_func ("/image/png/roundtrip", test_png_roundtrip);
  g_test_add_func ("/image/jpeg/roundtrip", test_jpeg_roundtrip);
  g_test_add_func ("/image/jpeg/dct-scaled", test_jpeg_dct_scaled);
  g_test_add_func ("/image/bad/truncated", test_truncated);
  g_test_add_func ("/image/bad/corrupt", test_corrupt);
  g_test_add_func ("/image/bad/not-an-image", test_not_an_image);
  g_test_add_func ("/image/bad/jpeg-pixel-bomb", test_jpeg_pixel_bomb);
  g_test_add_func ("/image/bad/png-pixel-bomb", test_png_pixel_bomb);
  g_test_add_func ("/image/bad/save-errors", test_save_errors);
  g_test_add_func ("/image/bad/save-keeps-previous", test_save_full_disk);
  g_test_add_func ("/image/bad/save-keeps-previous/subprocess", test_save_full_disk_child);
  g_test_add_func ("/image/resize", test_resize);
  g_test_add_func ("/image/shades-of-gray", test_shades_of_gray);
  g_test_add_func ("/image/budget", test_new_refuses_budget);

  int rc = g_test_run ();
  if (!g_test_subprocess ())
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmpdir);
      (void) system (cmd);
    }
  return rc;
}
