/* SPDX-License-Identifier: GPL-3.0-or-later */
/* gen-corpus.c: writes the seed corpora of the fuzz harnesses.
 *
 *   gen-corpus OUTDIR
 *
 * creates OUTDIR/image, OUTDIR/safetensors, OUTDIR/dataset-csv and
 * OUTDIR/store-import, each holding small valid and slightly broken inputs
 * made here from scratch (no dataset file is ever copied). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>
#include <turbojpeg.h>

#include "derm-image.h"
#include "derm-safetensors.h"

static void
put (const char *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents (path, data, (gssize) len, &error))
    g_error ("%s", error->message);
}

static void
put_str (const char *dir, const char *name, const char *text)
{
  put (dir, name, text, strlen (text));
}

/* ---- Images ----------------------------------------------------------- */

static DermImage *
pattern (int w, int h, int channels)
{
  DermImage *img = derm_image_new (w, h, channels, NULL);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < channels; c++)
        derm_image_pixel (img, x, y)[c] = (guint8) ((x * 5 + y * 3 + c * 80) ^ ((x / 4 + y / 4) & 1 ? 0x40 : 0));
  return img;
}

static void
put_jpeg (const char *dir, const char *name, int w, int h, int channels, int subsamp,
          int flags, gsize truncate_to)
{
  g_autoptr(DermImage) img = pattern (w, h, channels);
  tjhandle tj = tjInitCompress ();
  unsigned char *buf = NULL;
  unsigned long len = 0;
  int pf = channels == 3 ? TJPF_RGB : TJPF_GRAY;
  if (channels == 1)
    subsamp = TJSAMP_GRAY;
  if (tjCompress2 (tj, img->data, w, w * channels, h, pf, &buf, &len, subsamp, 85, flags) != 0)
    g_error ("%s: %s", name, tjGetErrorStr2 (tj));
  put (dir, name, buf, truncate_to > 0 && truncate_to < len ? truncate_to : len);
  tjFree (buf);
  tjDestroy (tj);
}

typedef struct {
  GByteArray *out;
} PngSink;

static void
png_write_cb (png_structp png, png_bytep data, png_size_t n)
{
  PngSink *s = png_get_io_ptr (png);
  g_byte_array_append (s->out, data, (guint) n);
}

static void
png_flush_cb (png_structp png)
{
}

static void
put_png (const char *dir, const char *name, int w, int h, int color_type, int depth,
         gboolean interlaced, gboolean trns, gsize truncate_to)
{
  PngSink sink = { g_byte_array_new () };
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  if (setjmp (png_jmpbuf (png)))
    g_error ("libpng failed on %s", name);
  png_set_write_fn (png, &sink, png_write_cb, png_flush_cb);
  png_set_IHDR (png, info, w, h, depth, color_type,
                interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color_type == PNG_COLOR_TYPE_PALETTE)
    {
      png_color pal[16];
      for (int i = 0; i < 16; i++)
        pal[i] = (png_color) { (png_byte) (i * 16), (png_byte) (255 - i * 16), (png_byte) (i * 7) };
      png_set_PLTE (png, info, pal, 1 << MIN (depth, 4));
      if (trns)
        {
          png_byte alpha[2] = { 0, 128 };
          png_set_tRNS (png, info, alpha, 2, NULL);
        }
    }
  else if (trns && (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_RGB))
    {
      png_color_16 tc = { 0, 1, 1, 1, 1 };
      png_set_tRNS (png, info, NULL, 0, &tc);
    }
  png_set_gAMA (png, info, 0.45455);
  png_text text = { PNG_TEXT_COMPRESSION_NONE, (char *) "Comment", (char *) "seed", 4, 0, NULL, NULL };
  png_set_text (png, info, &text, 1);
  png_write_info (png, info);
  if (depth == 16)
    png_set_swap (png);

  int samples = color_type == PNG_COLOR_TYPE_GRAY ? 1
              : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
              : color_type == PNG_COLOR_TYPE_RGB ? 3
              : color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
  gsize rowbytes = ((gsize) w * samples * depth + 7) / 8;
  g_autofree png_bytep row = g_malloc0 (rowbytes);
  int passes = png_set_interlace_handling (png);
  for (int p = 0; p < passes; p++)
    for (int y = 0; y < h; y++)
      {
        memset (row, 0, rowbytes);
        for (int x = 0; x < w; x++)
          for (int c = 0; c < samples; c++)
            {
              guint max = (1u << depth) - 1;
              guint v = ((guint) (x * 7 + y * 13 + c * 29)) % (max + 1);
              if (color_type == PNG_COLOR_TYPE_PALETTE)
                v %= 1u << MIN (depth, 4);
              gsize bit = ((gsize) x * samples + c) * depth;
              if (depth == 16)
                {
                  row[bit / 8] = (png_byte) (v & 0xff);
                  row[bit / 8 + 1] = (png_byte) (v >> 8);
                }
              else if (depth == 8)
                row[bit / 8] = (png_byte) v;
              else
                row[bit / 8] |= (png_byte) (v << (8 - depth - bit % 8));
            }
        png_write_row (png, row);
      }
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  gsize len = sink.out->len;
  put (dir, name, sink.out->data, truncate_to > 0 && truncate_to < len ? truncate_to : len);
  g_byte_array_unref (sink.out);
}

static void
gen_images (const char *dir)
{
  static const struct { const char *tag; int samp; } samps[] = {
    { "444", TJSAMP_444 }, { "422", TJSAMP_422 }, { "420", TJSAMP_420 },
    { "440", TJSAMP_440 }, { "411", TJSAMP_411 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (samps); i++)
    {
      g_autofree char *name = g_strdup_printf ("jpeg-rgb-%s-37x29.jpg", samps[i].tag);
      put_jpeg (dir, name, 37, 29, 3, samps[i].samp, 0, 0);
    }
  put_jpeg (dir, "jpeg-gray-40x30.jpg", 40, 30, 1, TJSAMP_GRAY, 0, 0);
  put_jpeg (dir, "jpeg-1x1.jpg", 1, 1, 3, TJSAMP_444, 0, 0);
  /* Large enough that the DCT-scaled path picks 1/2 .. 1/8. */
  put_jpeg (dir, "jpeg-rgb-420-256x192.jpg", 256, 192, 3, TJSAMP_420, 0, 0);
#ifdef TJFLAG_PROGRESSIVE
  put_jpeg (dir, "jpeg-progressive-64x48.jpg", 64, 48, 3, TJSAMP_420, TJFLAG_PROGRESSIVE, 0);
#endif
  put_jpeg (dir, "jpeg-truncated.jpg", 64, 48, 3, TJSAMP_420, 0, 300);
  put_jpeg (dir, "jpeg-header-only.jpg", 64, 48, 3, TJSAMP_420, 0, 160);

  static const struct { const char *tag; int type; int depth; } modes[] = {
    { "gray1", PNG_COLOR_TYPE_GRAY, 1 }, { "gray2", PNG_COLOR_TYPE_GRAY, 2 },
    { "gray4", PNG_COLOR_TYPE_GRAY, 4 }, { "gray8", PNG_COLOR_TYPE_GRAY, 8 },
    { "gray16", PNG_COLOR_TYPE_GRAY, 16 }, { "ga8", PNG_COLOR_TYPE_GRAY_ALPHA, 8 },
    { "ga16", PNG_COLOR_TYPE_GRAY_ALPHA, 16 }, { "rgb8", PNG_COLOR_TYPE_RGB, 8 },
    { "rgb16", PNG_COLOR_TYPE_RGB, 16 }, { "rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8 },
    { "rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16 }, { "pal1", PNG_COLOR_TYPE_PALETTE, 1 },
    { "pal2", PNG_COLOR_TYPE_PALETTE, 2 }, { "pal4", PNG_COLOR_TYPE_PALETTE, 4 },
    { "pal8", PNG_COLOR_TYPE_PALETTE, 8 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autofree char *name = g_strdup_printf ("png-%s-13x7.png", modes[i].tag);
      put_png (dir, name, 13, 7, modes[i].type, modes[i].depth, FALSE, FALSE, 0);
    }
  put_png (dir, "png-rgb8-interlaced-17x11.png", 17, 11, PNG_COLOR_TYPE_RGB, 8, TRUE, FALSE, 0);
  put_png (dir, "png-pal4-trns-interlaced-9x9.png", 9, 9, PNG_COLOR_TYPE_PALETTE, 4, TRUE, TRUE, 0);
  put_png (dir, "png-rgb8-trns-5x5.png", 5, 5, PNG_COLOR_TYPE_RGB, 8, FALSE, TRUE, 0);
  put_png (dir, "png-gray8-trns-5x5.png", 5, 5, PNG_COLOR_TYPE_GRAY, 8, FALSE, TRUE, 0);
  put_png (dir, "png-truncated.png", 40, 40, PNG_COLOR_TYPE_RGB, 8, FALSE, FALSE, 90);
  put_str (dir, "not-an-image.txt", "lesion_id,image_id\n");
}

/* ---- safetensors ------------------------------------------------------ */

static void
gen_safetensors (const char *dir)
{
  float w[6] = { 1, -2, 3.5f, 0, 1e-3f, 7 };
  gint64 steps = 1000;
  guint8 flags[3] = { 1, 0, 1 };
  guint16 half[4] = { 0x3c00, 0xc000, 0x7bff, 0 };
  DermStTensor t[] = {
    { "conv1.weight", DERM_ST_F32, 2, { 2, 3 }, (const guint8 *) w, sizeof w },
    { "bn1.num_batches_tracked", DERM_ST_I64, 0, { 0 }, (const guint8 *) &steps, sizeof steps },
    { "mask", DERM_ST_BOOL, 1, { 3 }, flags, sizeof flags },
    { "fc.bias", DERM_ST_F16, 1, { 4 }, (const guint8 *) half, sizeof half },
    { "empty", DERM_ST_F32, 2, { 0, 5 }, NULL, 0 },
  };
  g_autoptr(GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "architecture", "resnet50");
  g_hash_table_insert (meta, "classes", "MEL,NV,BCC,AKIEC,BKL,DF,VASC");
  g_hash_table_insert (meta, "input_size", "224");
  static const struct { const char *name; guint first, n; gboolean meta; } files[] = {
    { "st-full.safetensors", 0, 5, TRUE },
    { "st-one.safetensors", 0, 1, FALSE },
    { "st-scalar.safetensors", 1, 1, TRUE },
    { "st-none.safetensors", 0, 0, TRUE },
    { "st-empty-tensor.safetensors", 4, 1, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = g_build_filename (dir, files[i].name, NULL);
      if (!derm_safetensors_write (path, t + files[i].first, files[i].n,
                                   files[i].meta ? meta : NULL, &error))
        g_error ("%s", error->message);
    }
  /* Hand-made headers: unpadded, every dtype, bad offsets. */
  static const char *const headers[] = {
    "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
    "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
    "\"b\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[1,3]},"
    "\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[3,7]},"
    "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[7,15]},"
    "\"e\":{\"dtype\":\"BF16\",\"shape\":[1,1,1],\"data_offsets\":[15,17]}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}",
    "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      gsize hlen = strlen (headers[i]);
      g_autoptr(GByteArray) b = g_byte_array_new ();
      guint8 lenbuf[8];
      for (int k = 0; k < 8; k++)
        lenbuf[k] = (guint8) ((guint64) hlen >> (8 * k));
      g_byte_array_append (b, lenbuf, 8);
      g_byte_array_append (b, (const guint8 *) headers[i], (guint) hlen);
      for (guint k = 0; k < 17; k++)
        g_byte_array_append (b, (const guint8 *) "\x11", 1);
      g_autofree char *name = g_strdup_printf ("st-hand-%u.safetensors", i);
      put (dir, name, b->data, b->len);
    }
}

/* ---- HAM10000 metadata CSV ------------------------------------------- */

static const char *const csv_seeds[] = {
  "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
  "HAM_0000001,ISIC_0000001,bkl,histo,80.0,male,scalp\n"
  "HAM_0000001,ISIC_0000002,bkl,histo,80.0,male,scalp\n"
  "HAM_0000002,ISIC_0000003,mel,consensus,55.0,female,back\n"
  "HAM_0000003,ISIC_0000004,nv,follow_up,,unknown,lower extremity\n",

  "\xEF\xBB\xBFlesion_id,image_id,dx,dx_type,age,sex,localization\r\n"
  "HAM_0000001,ISIC_0000001,vasc,histo,5,female,face\r\n"
  "\"HAM_0000002\",\"ISIC_0000002\",\"df\",\"histo\",\"45\",\"male\",\"upper extremity\"\r\n",

  "image_id,dx,lesion_id\n"
  "ISIC_0000001,akiec,L1\n"
  "ISIC_0000002,bcc,L1\n"
  "ISIC_0000003,BCC,L2\n",

  "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
  "HAM_0000001,ISIC_0000001,xyz,histo,80.0,male,scalp\n"
  "HAM_0000001,ISIC_0000001,nv,histo,80.0,male,scalp\n"
  "HAM_0000001,ISIC_0000001,nv,histo,80.0,male,scalp\n"
  "HAM_0000002,../etc/passwd,nv,histo,abc,male,scalp\n"
  "HAM_0000003,ISIC_0000099,nv,histo,-4,male,scalp\n"
  ",ISIC_0000002,nv,histo,30,male,scalp\n"
  "HAM_0000004,ISIC_0000003,nv,histo,30,male\n"
  "HAM_0000005,ISIC_0000004,nv,histo,30,male,\"open quote\n",

  "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
  "\"HAM \"\"quoted\"\" id\",ISIC_0000001,mel,histo,1e2,male,\"a,b\nc\"\n"
  "HAM_0000002,ISIC_0000002,mel,his\"to,20,male,back\n",

  "lesion_id,image_id,dx\n",
  "",
  "\n\n\n",
};

static void
gen_csv (const char *dir)
{
  for (guint i = 0; i < G_N_ELEMENTS (csv_seeds); i++)
    {
      g_autofree char *name = g_strdup_printf ("csv-%u.csv", i);
      put_str (dir, name, csv_seeds[i]);
    }
  /* A record and a field over the limits. */
  GString *s = g_string_new ("lesion_id,image_id,dx\nHAM_1,ISIC_0000001,");
  for (int i = 0; i < 5000; i++)
    g_string_append_c (s, 'n');
  g_string_append (s, "\nHAM_2,ISIC_0000002,nv\n");
  put (dir, "csv-long.csv", s->str, s->len);
  g_string_free (s, TRUE);
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  const char *subdirs[] = { "image", "safetensors", "dataset-csv", "store-import" };
  for (guint i = 0; i < G_N_ELEMENTS (subdirs); i++)
    {
      g_autofree char *d = g_build_filename (argv[1], subdirs[i], NULL);
      if (g_mkdir_with_parents (d, 0755) != 0)
        g_error ("cannot create %s", d);
    }
  g_autofree char *image = g_build_filename (argv[1], "image", NULL);
  g_autofree char *st = g_build_filename (argv[1], "safetensors", NULL);
  g_autofree char *csv = g_build_filename (argv[1], "dataset-csv", NULL);
  g_autofree char *store = g_build_filename (argv[1], "store-import", NULL);
  gen_images (image);
  gen_safetensors (st);
  gen_csv (csv);
  gen_csv (store);
  return 0;
}
