/* SPDX-License-Identifier: GPL-3.0-or-later */
/* gen-model-seeds.c: writes the seeds of the model-load harness: small
 * U-Nets as the engine saves them, and variants of their metadata.
 *
 *   gen-model-seeds OUTDIR
 *
 * Separate from gen-corpus so that the other harnesses build without the
 * engine (libtorch). */
#include "config.h"

#include <stdio.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "derm-engine.h"

/* Small U-Nets as the engine writes them, and variants of their metadata. */
static void
gen_models (const char *dir)
{
  static const struct { const char *name; int base, size; const char *key, *value; } seeds[] = {
    { "unet-b1-16.safetensors", 1, 16, NULL, NULL },
    { "unet-b2-32.safetensors", 2, 32, NULL, NULL },
    { "unet-b1-claims-b2.safetensors", 1, 16, "unet_base", "2" },
    { "unet-b1-resnet18.safetensors", 1, 16, "architecture", "resnet18" },
    { "unet-b1-format2.safetensors", 1, 16, "format", "dermalens/2" },
    { "unet-b1-temperature.safetensors", 1, 16, "temperature", "-1e309" },
    { "unet-b1-mean.safetensors", 1, 16, "mean", "0.5,nan" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (seeds); i++)
    {
      g_autoptr(GError) error = NULL;
      DermModelConfig cfg = { DERM_ARCH_UNET, 1, seeds[i].base, seeds[i].size };
      DermModel *m = derm_model_new (&cfg, "cpu", &error);
      if (m == NULL)
        g_error ("%s", error->message);
      if (seeds[i].key != NULL)
        derm_model_set_metadata (m, seeds[i].key, seeds[i].value);
      g_autofree char *path = g_build_filename (dir, seeds[i].name, NULL);
      if (!derm_model_save (m, path, &error))
        g_error ("%s", error->message);
      derm_model_free (m);
    }
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  if (g_mkdir_with_parents (argv[1], 0755) != 0)
    g_error ("cannot create %s", argv[1]);
  derm_engine_set_threads (1);
  gen_models (argv[1]);
  return 0;
}
