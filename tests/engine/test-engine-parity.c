/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-engine-parity.c: torchvision ResNets exported to safetensors load
 * into the engine and give the same logits (fp32, eval mode). */
#include "config.h"

#include "derm-safetensors.h"
#include "engine-test-util.h"

static char *export_dir;

static gboolean
export_torchvision (void)
{
  const char *python = g_getenv ("DERM_TEST_PYTHON");
  if (python == NULL || *python == '\0')
    python = "/usr/bin/python3";
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "export-torchvision.py", NULL);
  export_dir = test_tmpdir ();
  const char *argv[] = { python, script, export_dir, NULL };
  int status = 0;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, &error))
    {
      g_printerr ("cannot run %s: %s\n", python, error->message);
      return FALSE;
    }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    {
      g_printerr ("%s cannot import torchvision: %s\n", python, err);
      return FALSE;
    }
  g_assert_cmpint (status, ==, 0);
  return TRUE;
}

static void
check_parity (gconstpointer data)
{
  const char *arch_name = data;
  DermArch arch;
  g_assert_true (derm_arch_from_name (arch_name, &arch));
  g_autofree char *weights = g_strdup_printf ("%s/%s.safetensors", export_dir, arch_name);
  g_autofree char *io_path = g_strdup_printf ("%s/%s-io.safetensors", export_dir, arch_name);
  g_autoptr(GError) error = NULL;

  g_autoptr(DermSafetensors) io = derm_safetensors_open (io_path, &error);
  g_assert_no_error (error);
  const DermStTensor *img = derm_safetensors_lookup (io, "image");
  const DermStTensor *ref = derm_safetensors_lookup (io, "logits");
  g_assert_nonnull (img);
  g_assert_nonnull (ref);
  g_assert_cmpint (ref->nbytes, ==, 1000 * sizeof (float));

  /* A torchvision export has no metadata: create the architecture with
   * ImageNet's 1000 classes and load the state dict into it. */
  DermModelConfig cfg = { arch, 1000, 0, 224 };
  DermModel *model = derm_model_new (&cfg, "cpu", &error);
  g_assert_no_error (error);
  g_assert_true (derm_model_load_weights (model, weights, FALSE, &error));
  g_assert_no_error (error);

  g_autoptr(DermImage) image = derm_image_new (224, 224, 3, &error);
  g_assert_no_error (error);
  memcpy (image->data, img->data, 224 * 224 * 3);
  float *logits = g_new (float, 1000);
  const DermImage *images[] = { image };
  g_assert_true (derm_model_logits_batch (model, images, 1, FALSE, logits, &error));
  g_assert_no_error (error);

  float expected[1000];
  memcpy (expected, ref->data, sizeof expected);
  double max_diff = 0, max_abs = 0;
  for (int i = 0; i < 1000; i++)
    {
      max_diff = MAX (max_diff, fabs (logits[i] - expected[i]));
      max_abs = MAX (max_abs, fabs (expected[i]));
    }
  g_test_message ("%s: max |logit| %.4f, max abs difference to torchvision %.3g", arch_name, max_abs, max_diff);
  g_printerr ("# %s parity: max abs logit difference %.3g (max |logit| %.3f)\n", arch_name, max_diff, max_abs);
  g_assert_cmpfloat (max_abs, >, 0.1);  /* the comparison means something */
  g_assert_cmpfloat (max_diff, <, 1e-4);

  /* On a CUDA test device: the same model there agrees within TF32/cuDNN
   * rounding. */
  if (test_on_cuda ())
    {
      g_assert_true (derm_model_to_device (model, test_device (), &error));
      g_assert_no_error (error);
      float *cuda_logits = g_new (float, 1000);
      g_assert_true (derm_model_logits_batch (model, images, 1, FALSE, cuda_logits, &error));
      g_assert_no_error (error);
      double d = 0;
      for (int i = 0; i < 1000; i++)
        d = MAX (d, fabs (cuda_logits[i] - expected[i]));
      g_printerr ("# %s on %s: max abs logit difference %.3g\n", arch_name, test_device (), d);
      g_assert_cmpfloat (d, <, 0.05 * MAX (1.0, max_abs));
      g_free (cuda_logits);
    }

  /* replace_head: the ImageNet file fine-tunes into a 7-class model. */
  DermModelConfig cfg7 = { arch, 7, 0, 224 };
  DermModel *m7 = derm_model_new (&cfg7, "cpu", &error);
  g_assert_no_error (error);
  g_assert_false (derm_model_load_weights (m7, weights, FALSE, &error));
  g_assert_error (error, DERM_ERROR, DERM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "fc."));
  g_clear_error (&error);
  g_assert_true (derm_model_load_weights (m7, weights, TRUE, &error));
  g_assert_no_error (error);
  float probs[7];
  g_assert_true (derm_model_classify (m7, image, FALSE, probs, &error));
  g_assert_no_error (error);
  double sum = 0;
  for (int i = 0; i < 7; i++)
    sum += probs[i];
  g_assert_cmpfloat (fabs (sum - 1.0), <, 1e-4);

  g_free (logits);
  derm_model_free (m7);
  derm_model_free (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  derm_engine_set_threads (0);
  if (!export_torchvision ())
    {
      if (export_dir)
        test_rmdir (export_dir);
      return 77;
    }
  g_test_add_data_func ("/engine/parity/resnet18", "resnet18", check_parity);
  g_test_add_data_func ("/engine/parity/resnet50", "resnet50", check_parity);
  int rc = g_test_run ();
  test_rmdir (export_dir);
  return rc;
}
