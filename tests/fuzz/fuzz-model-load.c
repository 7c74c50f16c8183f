/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-model-load.c: model files through the engine: derm_model_load (the
 * metadata that decides what is built, then every tensor copied in) and
 * derm_model_load_weights into an existing U-Net, which must be left as it
 * was when the load fails. Seeds: small U-Nets written by gen-corpus. */
#include "config.h"

#include <string.h>

#include "derm-engine.h"
#include "derm-error.h"
#include "fuzz-common.h"

static char *scratch;
static char *path;
static char *original;         /* the target's own weights, to undo a load */
static DermModel *target;      /* U-Net base 1, input 16 */
static DermImage *probe;       /* what the target segments to show its weights */
static DermImage *baseline;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup_logging ();
  derm_engine_set_threads (1);
  scratch = fuzz_make_scratch ("derm-fuzz-model");
  path = g_build_filename (scratch, "model.safetensors", NULL);
  DermModelConfig cfg = { DERM_ARCH_UNET, 1, 1, 16 };
  g_autoptr(GError) error = NULL;
  target = derm_model_new (&cfg, "cpu", &error);
  g_assert (target != NULL);
  probe = derm_image_new (16, 16, 3, &error);
  for (gsize i = 0; i < 16 * 16 * 3; i++)
    probe->data[i] = (guint8) (i * 29);
  baseline = derm_model_segment (target, probe, FALSE, &error);
  g_assert (baseline != NULL);
  original = g_build_filename (scratch, "original.safetensors", NULL);
  g_assert (derm_model_save (target, original, &error));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_write_file (path, data, size);

  GError *error = NULL;
  DermModel *m = derm_model_load (path, "cpu", &error);
  if (m == NULL)
    {
      g_assert (error != NULL && error->domain == DERM_ERROR && error->message[0]);
      g_clear_error (&error);
    }
  else
    {
      g_assert (error == NULL);
      int n = derm_model_get_num_classes (m);
      g_assert (n >= 1);
      g_assert (derm_model_get_input_size (m) >= 16);
      /* What loads, runs: a tiny image through it (small inputs only). */
      if (derm_model_get_arch (m) == DERM_ARCH_UNET && derm_model_get_input_size (m) <= 64)
        {
          DermImage *mask = derm_model_segment (m, probe, FALSE, &error);
          g_assert (mask != NULL && mask->width == 16 && mask->height == 16);
          derm_image_free (mask);
        }
      derm_model_free (m);
    }

  gboolean ok = derm_model_load_weights (target, path, FALSE, &error);
  if (!ok)
    {
      g_assert (error != NULL && error->domain == DERM_ERROR);
      g_clear_error (&error);
      /* A failed load left the model as it was. */
      DermImage *mask = derm_model_segment (target, probe, FALSE, &error);
      g_assert (mask != NULL);
      g_assert (memcmp (mask->data, baseline->data, 16 * 16) == 0);
      derm_image_free (mask);
    }
  else
    {
      /* New weights loaded: put the original ones back, so each input
       * starts from the same model. */
      g_assert (derm_model_load_weights (target, original, FALSE, &error));
    }
  return 0;
}
