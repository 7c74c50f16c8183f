/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli-models.c: dermalens-cli classify, segment, weights-info and
 * init-weights: the engine without the pipeline. */
#include "config.h"

#define G_LOG_DOMAIN "dermalens-cli"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-cli.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-metrics.h"
#include "derm-model-card.h"
#include "derm-safetensors.h"

static void
add_model_metadata (JsonBuilder *b, DermModel *model, const char *weights)
{
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, weights);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, derm_model_get_device (model));
  g_auto(GStrv) keys = derm_model_list_metadata (model);
  for (char **k = keys; *k != NULL; k++)
    {
      json_builder_set_member_name (b, *k);
      json_builder_add_string_value (b, derm_model_get_metadata (model, *k));
    }
  json_builder_end_object (b);
}

/* The class codes of @model's "classes" metadata, or 0..n-1. Returns:
 * (transfer full) a NULL-terminated list of num_classes strings. */
static char **
model_class_codes (DermModel *model)
{
  int n = derm_model_get_num_classes (model);
  const char *classes = derm_model_get_metadata (model, "classes");
  if (classes != NULL)
    {
      char **parts = g_strsplit (classes, ",", -1);
      if ((int) g_strv_length (parts) == n)
        return parts;
      g_strfreev (parts);
    }
  char **out = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    out[i] = g_strdup_printf ("%d", i);
  return out;
}

/* The decision rule of a classifier of the seven diagnoses with "decision"
 * metadata; says so on stderr when it cannot be read, and goes on with the
 * arg-max. */
static gboolean
model_decision (DermModel *model, DermDecision *decision)
{
  const char *json = derm_model_get_metadata (model, "decision");
  if (json == NULL || derm_model_get_num_classes (model) != DERM_N_CLASSES)
    return FALSE;
  g_autoptr(GError) error = NULL;
  if (derm_decision_from_json (json, decision, &error))
    return TRUE;
  derm_cli_error (_("%s: the decision rule is ignored, classes are decided by the highest "
                    "probability and no lesion is flagged; retrain the model to fit a new "
                    "rule"), error->message);
  return FALSE;
}

static DermModel *
load_model (const char *weights, const char *device, DermTask task)
{
  g_autoptr(GError) error = NULL;
  if (weights == NULL)
    {
      derm_cli_error (_("--weights FILE is required"));
      return NULL;
    }
  DermModel *model = derm_model_load (weights, device, &error);
  if (model == NULL)
    {
      derm_cli_error ("%s", error->message);
      return NULL;
    }
  if (derm_arch_task (derm_model_get_arch (model)) != task)
    {
      derm_cli_error (task == DERM_TASK_CLASSIFY
                        ? _("%s is a segmentation model; use “dermalens-cli segment”")
                        : _("%s is a classification model; use “dermalens-cli classify”"),
                      weights);
      derm_model_free (model);
      return NULL;
    }
  return model;
}

int
derm_cli_classify (int argc, char **argv)
{
  g_autofree char *weights = NULL;
  g_autofree char *device = NULL;
  g_autofree char *sex = NULL, *site = NULL;
  double age = NAN;
  gboolean tta = FALSE, json = FALSE;
  GOptionEntry entries[] = {
    { "weights", 'w', 0, G_OPTION_ARG_FILENAME, &weights, N_("Model weight file (safetensors)"), N_("FILE") },
    DERM_CLI_PATIENT_OPTIONS (age, sex, site),
    { "tta", 0, 0, G_OPTION_ARG_NONE, &tta, N_("Average the 8 flips and rotations"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N (default auto)"), N_("DEVICE") },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, _("IMAGE..."),
                               _("Classify lesion images into the model's classes."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc < 2 || weights == NULL)
    {
      derm_cli_error (_("classify needs --weights FILE and at least one image"));
      return DERM_CLI_EXIT_USAGE;
    }
  DermPatientContext patient;
  {
    g_autoptr(GError) perror = NULL;
    if (!derm_patient_context_set (&patient, age, sex, site, &perror))
      {
        derm_cli_error ("%s", perror->message);
        return DERM_CLI_EXIT_USAGE;
      }
  }
  DermModel *model = load_model (weights, device, DERM_TASK_CLASSIFY);
  if (model == NULL)
    return DERM_CLI_EXIT_FAILURE;
  /* The same context for every image given. */
  if (derm_model_get_context (model) != 0)
    derm_model_set_patients (model, &patient, 1);
  else if (derm_patient_context_known (&patient) != 0)
    derm_cli_error (_("%s takes the image alone: --age, --sex and --site are ignored"), weights);
  g_autofree char *context_fields
    = derm_patient_fields_to_string (derm_model_get_context (model) & derm_patient_context_known (&patient));

  const int n = derm_model_get_num_classes (model);
  const int size = derm_model_get_input_size (model);
  g_auto(GStrv) codes = model_class_codes (model);
  g_autofree float *probs = g_new (float, n);
  DermDecision decision;
  gboolean has_decision = model_decision (model, &decision);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  const int n_images = argc - 1;
  if (n_images > 1)
    json_builder_begin_array (b);
  int status = DERM_CLI_EXIT_OK;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DermImage) image = derm_image_load (argv[i], 3, size, size, &error);
      if (image == NULL || !derm_model_classify (model, image, tta, probs, &error))
        {
          derm_cli_error ("%s: %s", argv[i], error->message);
          status = DERM_CLI_EXIT_FAILURE;
          continue;
        }
      int best = derm_decision_predict (probs, n, has_decision ? decision.class_offsets : NULL);
      if (json)
        {
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "image");
          json_builder_add_string_value (b, argv[i]);
          json_builder_set_member_name (b, "probabilities");
          json_builder_begin_object (b);
          for (int c = 0; c < n; c++)
            {
              json_builder_set_member_name (b, codes[c]);
              json_builder_add_double_value (b, probs[c]);
            }
          json_builder_end_object (b);
          json_builder_set_member_name (b, "predicted");
          json_builder_add_string_value (b, codes[best]);
          if (n == DERM_N_CLASSES)
            {
              json_builder_set_member_name (b, "malignant_risk");
              json_builder_add_double_value (b, derm_class_malignant_risk (probs));
            }
          if (has_decision)
            {
              json_builder_set_member_name (b, "decision_rule");
              json_builder_add_string_value (b, "class_offsets");
              derm_json_add_number (b, "risk_threshold", decision.risk_threshold);
              json_builder_set_member_name (b, "malignant_flag");
              if (isnan (decision.risk_threshold))
                json_builder_add_null_value (b);
              else
                json_builder_add_boolean_value (b, derm_decision_is_malignant (&decision, probs));
            }
          json_builder_set_member_name (b, "tta");
          json_builder_add_boolean_value (b, tta);
          if (derm_model_get_context (model) != 0)
            {
              json_builder_set_member_name (b, "context");
              json_builder_add_string_value (b, context_fields);
            }
          add_model_metadata (b, model, weights);
          json_builder_end_object (b);
        }
      else
        {
          printf ("%s: %s %.3f (", argv[i], codes[best], probs[best]);
          for (int c = 0; c < n && c < 50; c++)
            printf ("%s%s %.3f", c ? ", " : "", codes[c], probs[c]);
          printf ("%s)", n > 50 ? ", ..." : "");
          if (has_decision && !isnan (decision.risk_threshold))
            {
              if (derm_decision_is_malignant (&decision, probs))
                printf (_("; FLAGGED: malignant risk %.3f >= %.3f"),
                        derm_class_malignant_risk (probs), decision.risk_threshold);
              else
                printf (_("; not flagged: malignant risk %.3f < %.3f"),
                        derm_class_malignant_risk (probs), decision.risk_threshold);
            }
          printf ("\n");
        }
    }
  if (n_images > 1)
    json_builder_end_array (b);
  if (json)
    derm_cli_print_json (b);
  derm_model_free (model);
  return status;
}

int
derm_cli_segment (int argc, char **argv)
{
  g_autofree char *weights = NULL;
  g_autofree char *device = NULL;
  g_autofree char *out = NULL;
  gboolean tta = FALSE, json = FALSE;
  GOptionEntry entries[] = {
    { "weights", 'w', 0, G_OPTION_ARG_FILENAME, &weights, N_("U-Net weight file (safetensors)"), N_("FILE") },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Where to write the mask (PNG)"), N_("MASK.png") },
    { "tta", 0, 0, G_OPTION_ARG_NONE, &tta, N_("Average the 8 flips and rotations"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N (default auto)"), N_("DEVICE") },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, _("IMAGE"),
                               _("Segment the lesion of an image; writes a binary mask "
                                 "(255 = lesion) at the image's size."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc != 2 || weights == NULL || out == NULL)
    {
      derm_cli_error (_("segment needs --weights FILE, --out MASK.png and one image"));
      return DERM_CLI_EXIT_USAGE;
    }
  DermModel *model = load_model (weights, device, DERM_TASK_SEGMENT);
  if (model == NULL)
    return DERM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) image = derm_image_load (argv[1], 3, 0, 0, &error);
  g_autoptr(DermImage) prob = image ? derm_model_segment (model, image, tta, &error) : NULL;
  if (prob == NULL)
    {
      derm_cli_error ("%s: %s", argv[1], error->message);
      derm_model_free (model);
      return DERM_CLI_EXIT_FAILURE;
    }
  gsize npx = (gsize) prob->width * prob->height, lesion = 0;
  for (gsize i = 0; i < npx; i++)
    {
      prob->data[i] = prob->data[i] >= 128 ? 255 : 0;
      lesion += prob->data[i] != 0;
    }
  if (!derm_image_save_png (prob, out, &error))
    {
      derm_cli_error ("%s", error->message);
      derm_model_free (model);
      return DERM_CLI_EXIT_FAILURE;
    }
  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "image");
      json_builder_add_string_value (b, argv[1]);
      json_builder_set_member_name (b, "mask");
      json_builder_add_string_value (b, out);
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, prob->width);
      json_builder_set_member_name (b, "height");
      json_builder_add_int_value (b, prob->height);
      json_builder_set_member_name (b, "lesion_fraction");
      json_builder_add_double_value (b, (double) lesion / npx);
      add_model_metadata (b, model, weights);
      json_builder_end_object (b);
      derm_cli_print_json (b);
    }
  else
    printf (_("%s: mask written to %s (%.1f%% lesion)\n"), argv[1], out, 100.0 * lesion / npx);
  derm_model_free (model);
  return DERM_CLI_EXIT_OK;
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
print_rates (const char *split, double sensitivity, double specificity)
{
  if (isnan (sensitivity) && isnan (specificity))
    return;
  printf (_("    %-12s sensitivity %.3f, specificity %.3f\n"), split, sensitivity, specificity);
}

/* The "decision" metadata, readably. */
static void
print_decision (const char *json)
{
  DermDecision d;
  g_autoptr(GError) error = NULL;
  printf (_("Decision rule: "));
  if (!derm_decision_from_json (json, &d, &error))
    {
      printf (_("unreadable (%s); classify and analyze use the highest probability\n"),
              error->message);
      return;
    }
  printf (_("argmax of log p + class offset, fitted on validation\n"));
  printf (_("  class offsets"));
  for (int c = 0; c < DERM_N_CLASSES; c++)
    printf ("  %s %+.2f", derm_class_code (c), d.class_offsets[c]);
  printf ("\n");
  if (!isnan (d.val_balanced_accuracy))
    printf (_("  balanced accuracy on validation %.3f (highest probability: %.3f)\n"),
            d.val_balanced_accuracy, d.val_argmax_balanced_accuracy);
  if (isnan (d.risk_threshold))
    {
      printf (_("  operating point: none (no malignant lesion in the validation split)\n"));
      return;
    }
  printf (_("  operating point: malignant when MEL + BCC + AKIEC >= %.3f (for sensitivity "
            "%.2f)\n"), d.risk_threshold, d.target_sensitivity);
  print_rates (_("validation:"), d.val_sensitivity, d.val_specificity);
  print_rates (_("test:"), d.test_sensitivity, d.test_specificity);
}

int
derm_cli_weights_info (int argc, char **argv)
{
  gboolean json = FALSE, card = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "card", 0, 0, G_OPTION_ARG_NONE, &card,
      N_("Print the model card (data, recipe, test metrics with intervals, operating point, "
         "intended use and limits) as Markdown"), NULL },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, _("FILE"),
                               _("Show a weight file's architecture, classes, tensors and metadata."),
                               &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc != 2)
    {
      derm_cli_error (_("weights-info takes one file"));
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (argv[1], &error);
  if (st == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  GHashTable *md = derm_safetensors_get_metadata (st);
  guint n = derm_safetensors_get_n_tensors (st);
  gint64 elements = 0;
  gsize bytes = 0;
  for (guint i = 0; i < n; i++)
    {
      const DermStTensor *t = derm_safetensors_get_tensor (st, i);
      gint64 e = 1;
      for (int d = 0; d < t->ndim; d++)
        e *= t->shape[d];
      elements += e;
      bytes += t->nbytes;
    }
  if (card)
    {
      g_autofree char *text = derm_model_card_render (md, argv[1]);
      fputs (text, stdout);
      return DERM_CLI_EXIT_OK;
    }
  const char *arch = g_hash_table_lookup (md, "architecture");
  const char *classes = g_hash_table_lookup (md, "classes");
  const char *decision_json = g_hash_table_lookup (md, "decision");
  g_autofree gpointer *keys = g_hash_table_get_keys_as_array (md, NULL);
  guint nk = g_hash_table_size (md);
  qsort (keys, nk, sizeof *keys, compare_strings);   /* sorted for stable output */
  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "file");
      json_builder_add_string_value (b, argv[1]);
      json_builder_set_member_name (b, "architecture");
      if (arch)
        json_builder_add_string_value (b, arch);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "classes");
      json_builder_begin_array (b);
      if (classes)
        {
          g_auto(GStrv) parts = g_strsplit (classes, ",", -1);
          for (char **p = parts; *p; p++)
            json_builder_add_string_value (b, *p);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "tensors");
      json_builder_add_int_value (b, n);
      json_builder_set_member_name (b, "elements");
      json_builder_add_int_value (b, elements);
      json_builder_set_member_name (b, "data_bytes");
      json_builder_add_int_value (b, (gint64) bytes);
      json_builder_set_member_name (b, "metadata");
      json_builder_begin_object (b);
      for (guint i = 0; i < nk; i++)
        {
          json_builder_set_member_name (b, keys[i]);
          json_builder_add_string_value (b, g_hash_table_lookup (md, keys[i]));
        }
      json_builder_end_object (b);
      DermDecision decision;
      if (decision_json != NULL && derm_decision_from_json (decision_json, &decision, NULL))
        {
          /* The rule as an object, read back through the same parser. */
          g_autofree char *clean = derm_decision_to_json (&decision);
          g_autoptr(JsonParser) parser = json_parser_new ();
          if (json_parser_load_from_data (parser, clean, -1, NULL))
            {
              json_builder_set_member_name (b, "decision");
              json_builder_add_value (b, json_node_copy (json_parser_get_root (parser)));
            }
        }
      json_builder_end_object (b);
      derm_cli_print_json (b);
      return DERM_CLI_EXIT_OK;
    }
  printf (_("File:          %s\n"), argv[1]);
  printf (_("Architecture:  %s\n"), arch ? arch : _("(none: not a Dermalens model file)"));
  printf (_("Classes:       %s\n"), classes ? classes : "-");
  if (g_hash_table_contains (md, "ensemble_members"))
    printf (_("Ensemble:      %s members\n"),
            (const char *) g_hash_table_lookup (md, "ensemble_members"));
  if (g_hash_table_contains (md, "context"))
    printf (_("Context:       %s (patient context besides the image)\n"),
            (const char *) g_hash_table_lookup (md, "context"));
  printf (_("Tensors:       %u (%lld values, %.1f MiB)\n"), n, (long long) elements,
          bytes / (1024.0 * 1024.0));
  for (guint i = 0; i < nk; i++)
    printf ("  %-22s %s\n", (const char *) keys[i], (const char *) g_hash_table_lookup (md, keys[i]));
  if (decision_json != NULL)
    print_decision (decision_json);
  if (g_hash_table_contains (md, "model_card"))
    printf (_("The model card: dermalens-cli weights-info --card %s\n"), argv[1]);
  return DERM_CLI_EXIT_OK;
}

int
derm_cli_init_weights (int argc, char **argv)
{
  g_autofree char *arch_name = NULL;
  g_autofree char *out = NULL;
  g_autofree char *from = NULL;
  int size = 0, classes = DERM_N_CLASSES, base = 0;
  gint64 seed = 0;
  GOptionEntry entries[] = {
    { "arch", 'a', 0, G_OPTION_ARG_STRING, &arch_name, N_("resnet18, resnet34, resnet50 or unet"), N_("ARCH") },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Where to write the model"), N_("FILE") },
    { "image-size", 's', 0, G_OPTION_ARG_INT, &size, N_("Input size in pixels (default 224, U-Net 256)"), N_("N") },
    { "classes", 0, 0, G_OPTION_ARG_INT, &classes, N_("Number of classes (default 7)"), N_("N") },
    { "unet-base", 0, 0, G_OPTION_ARG_INT, &base, N_("U-Net first-level width (default 32)"), N_("N") },
    { "from", 0, 0, G_OPTION_ARG_FILENAME, &from,
      N_("Start from a torchvision ResNet state dict in safetensors: a head with --classes "
         "outputs is kept, another (ImageNet's 1000) is replaced by a fresh one"), N_("FILE") },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, N_("Random seed for the fresh weights"), N_("N") },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL, _("Write a freshly initialised model file."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  DermArch arch;
  if (argc != 1 || arch_name == NULL || out == NULL)
    {
      derm_cli_error (_("init-weights needs --arch and --out"));
      return DERM_CLI_EXIT_USAGE;
    }
  if (!derm_arch_from_name (arch_name, &arch))
    {
      derm_cli_error (_("unknown architecture “%s”: use resnet18, resnet34, resnet50 or unet"), arch_name);
      return DERM_CLI_EXIT_USAGE;
    }
  if (from != NULL && arch == DERM_ARCH_UNET)
    {
      derm_cli_error (_("--from takes a torchvision ResNet export"));
      return DERM_CLI_EXIT_USAGE;
    }
  derm_engine_manual_seed ((guint64) seed);
  g_autoptr(GError) error = NULL;
  DermModelConfig cfg = { arch, classes, base, size };
  DermModel *model = derm_model_new (&cfg, "cpu", &error);
  if (model != NULL && from != NULL)
    {
      if (derm_model_load_weights (model, from, TRUE, &error))
        {
          g_autofree char *base_name = g_path_get_basename (from);
          derm_model_set_metadata (model, "pretrained", base_name);
        }
    }
  if (model == NULL || error != NULL || !derm_model_save (model, out, &error))
    {
      derm_cli_error ("%s", error->message);
      derm_model_free (model);
      return DERM_CLI_EXIT_FAILURE;
    }
  printf (_("%s: %s, %d classes, %d px, %lld parameters\n"), out, arch_name,
          derm_model_get_num_classes (model), derm_model_get_input_size (model),
          (long long) derm_model_count_parameters (model));
  derm_model_free (model);
  return DERM_CLI_EXIT_OK;
}
