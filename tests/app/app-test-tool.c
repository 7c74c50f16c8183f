/* SPDX-License-Identifier: GPL-3.0-or-later */
/* app-test-tool.c: helpers for the GUI tests, linked with core only.
 *
 *   app-test-tool make-lesion OUT.{png,jpg} WIDTH HEIGHT
 *       a synthetic dermoscopy-like image: skin background, a dark brown
 *       lesion in the middle
 *   app-test-tool count-colour PNG R G B TOLERANCE
 *       prints how many pixels are within TOLERANCE of (R, G, B) per channel
 *   app-test-tool make-models CLASSIFIER.safetensors SEGMENTER.safetensors [--context]
 *       small fresh models (ResNet-18 and U-Net at 64 px), seeded; with
 *       --context the classifier takes the patient context
 *   app-test-tool classify MODEL IMAGE
 *       prints the 7 probabilities, one "CODE value" per line
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derm-classes.h"
#include "derm-decision.h"
#include "derm-engine.h"
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

static int
fail (GError *error)
{
  fprintf (stderr, "%s\n", error->message);
  g_error_free (error);
  return 1;
}

static int
make_models (const char *classifier_path, const char *segmenter_path, gboolean context)
{
  GError *error = NULL;
  derm_engine_manual_seed (7);
  DermModelConfig cls = { .arch = DERM_ARCH_RESNET18, .num_classes = DERM_N_CLASSES, .input_size = 64,
                          .context = context ? DERM_PATIENT_ALL : 0 };
  DermModel *model = derm_model_new (&cls, "cpu", &error);
  if (model == NULL || !derm_model_save (model, classifier_path, &error))
    return fail (error);
  derm_model_free (model);

  DermModelConfig seg = { .arch = DERM_ARCH_UNET, .num_classes = 1, .unet_base = 8, .input_size = 64 };
  model = derm_model_new (&seg, "cpu", &error);
  if (model == NULL || !derm_model_save (model, segmenter_path, &error))
    return fail (error);
  derm_model_free (model);
  return 0;
}

static int
classify (const char *model_path, const char *image_path)
{
  GError *error = NULL;
  DermModel *model = derm_model_load (model_path, "cpu", &error);
  if (model == NULL)
    return fail (error);
  g_autoptr(DermImage) image = derm_image_load (image_path, 3, 0, 0, &error);
  if (image == NULL)
    return fail (error);
  float probs[DERM_N_CLASSES];
  if (!derm_model_classify (model, image, FALSE, probs, &error))
    return fail (error);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    printf ("%s %.6f\n", derm_class_code (c), probs[c]);
  derm_model_free (model);
  return 0;
}

/* A copy of the classifier @in with a decision rule that favours @code
 * (offset +8, the others 0, shifted to mean 0) and an operating point at
 * @threshold measured as sensitivity 0.92, specificity 0.71 on test. */
static int
with_rule (const char *in, const char *out, const char *code, double threshold)
{
  GError *error = NULL;
  int favoured = derm_class_from_code (code);
  if (favoured < 0)
    {
      fprintf (stderr, "unknown class %s\n", code);
      return 2;
    }
  DermModel *model = derm_model_load (in, "cpu", &error);
  if (model == NULL)
    return fail (error);
  DermDecision d;
  memset (&d, 0, sizeof d);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    d.class_offsets[c] = (c == favoured ? 8.0 : 0.0) - 8.0 / DERM_N_CLASSES;
  d.risk_threshold = threshold;
  d.target_sensitivity = 0.9;
  d.val_sensitivity = 0.91;
  d.val_specificity = 0.68;
  d.test_sensitivity = 0.92;
  d.test_specificity = 0.71;
  d.val_argmax_balanced_accuracy = d.val_balanced_accuracy = NAN;
  g_autofree char *json = derm_decision_to_json (&d);
  derm_model_set_metadata (model, "decision", json);
  gboolean ok = derm_model_save (model, out, &error);
  derm_model_free (model);
  return ok ? 0 : fail (error);
}

/* A copy of the model @in whose decision rule cannot be read. */
static int
with_bad_rule (const char *in, const char *out)
{
  GError *error = NULL;
  DermModel *model = derm_model_load (in, "cpu", &error);
  if (model == NULL)
    return fail (error);
  derm_model_set_metadata (model, "decision", "{\"class_offsets\": [1, 2");
  gboolean ok = derm_model_save (model, out, &error);
  derm_model_free (model);
  return ok ? 0 : fail (error);
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "make-models") == 0)
    return make_models (argv[2], argv[3], FALSE);
  if (argc == 5 && strcmp (argv[1], "make-models") == 0 && strcmp (argv[4], "--context") == 0)
    return make_models (argv[2], argv[3], TRUE);
  if (argc == 6 && strcmp (argv[1], "with-rule") == 0)
    return with_rule (argv[2], argv[3], argv[4], g_ascii_strtod (argv[5], NULL));
  if (argc == 4 && strcmp (argv[1], "with-bad-rule") == 0)
    return with_bad_rule (argv[2], argv[3]);
  if (argc == 4 && strcmp (argv[1], "classify") == 0)
    return classify (argv[2], argv[3]);
  if (argc == 5 && strcmp (argv[1], "make-lesion") == 0)
    return make_lesion (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc == 7 && strcmp (argv[1], "count-colour") == 0)
    return count_colour (argv[2], atoi (argv[3]), atoi (argv[4]), atoi (argv[5]), atoi (argv[6]));
  fprintf (stderr, "usage: app-test-tool make-lesion OUT W H | count-colour PNG R G B TOL\n");
  return 2;
}
