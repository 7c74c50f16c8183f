/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-image.c: the JPEG and PNG loaders (derm_image_load_from_memory),
 * both channel counts, full size and DCT-scaled.
 *
 * Inputs whose header declares more than FUZZ_MAX_PIXELS are left out: they
 * are legitimate images that only cost time (the pixel budget itself is
 * tested in tests/core and tests/hardening). */
#include "config.h"

#include <string.h>

#include <turbojpeg.h>

#include "derm-error.h"
#include "derm-image.h"
#include "fuzz-common.h"

#define FUZZ_MAX_PIXELS ((guint64) 2 * 1000 * 1000)

static gboolean
declares_too_many_pixels (const uint8_t *data, size_t size)
{
  guint64 w = 0, h = 0;
  switch (derm_image_detect_format (data, size))
    {
    case DERM_IMAGE_FORMAT_JPEG:
      {
        tjhandle tj = tjInitDecompress ();
        int iw = 0, ih = 0, ss = 0, cs = 0;
        if (tj != NULL && tjDecompressHeader3 (tj, data, (unsigned long) size,
                                               &iw, &ih, &ss, &cs) == 0)
          {
            w = (guint64) MAX (iw, 0);
            h = (guint64) MAX (ih, 0);
          }
        if (tj != NULL)
          tjDestroy (tj);
        break;
      }
    case DERM_IMAGE_FORMAT_PNG:
      if (size >= 24)
        {
          w = ((guint64) data[16] << 24) | (data[17] << 16) | (data[18] << 8) | data[19];
          h = ((guint64) data[20] << 24) | (data[21] << 16) | (data[22] << 8) | data[23];
        }
      break;
    case DERM_IMAGE_FORMAT_UNKNOWN:
    default:
      break;
    }
  return w * h > FUZZ_MAX_PIXELS;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_logging ();
  return 0;
}

static void
check_one (const uint8_t *data, size_t size, int channels, int min_w, int min_h)
{
  GError *error = NULL;
  DermImage *img = derm_image_load_from_memory (data, size, "fuzz input", channels,
                                                min_w, min_h, &error);
  if (img == NULL)
    {
      /* Every failure says why, in the Dermalens domain. */
      g_assert (error != NULL);
      g_assert (error->domain == DERM_ERROR);
      g_assert (error->message != NULL && error->message[0] != '\0');
      g_error_free (error);
      return;
    }
  g_assert (error == NULL);
  g_assert (img->channels == channels);
  g_assert (img->width > 0 && img->height > 0);
  g_assert ((guint64) img->width * img->height <= DERM_IMAGE_MAX_PIXELS);
  /* Touch the first and last byte: ASan checks the buffer's true size. */
  gsize n = (gsize) img->width * img->height * channels;
  volatile guint8 sink = img->data[0] ^ img->data[n - 1];
  (void) sink;
  derm_image_free (img);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (declares_too_many_pixels (data, size))
    return 0;
  check_one (data, size, 3, 0, 0);
  check_one (data, size, 1, 0, 0);
  /* Small targets make every DCT scaling factor reachable. */
  int target = size > 0 ? 8 + data[size - 1] % 120 : 16;
  check_one (data, size, 3, target, target);
  check_one (data, size, 1, target, target / 2 + 1);
  return 0;
}
