/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli-train.c: dermalens-cli train, evaluate and analyze. */
#include "config.h"

#define G_LOG_DOMAIN "derm-cli"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-analysis.h"
#include "derm-classes.h"
#include "derm-cli.h"
#include "derm-dataset.h"
#include "derm-decision.h"
#include "derm-engine.h"
#include "derm-error.h"
#include "derm-evaluate.h"
#include "derm-lesion.h"
#include "derm-metrics.h"
#include "derm-train-job.h"

/* ---- train ------------------------------------------------------------------ */

static volatile gint cancel_flag;
static void (*previous_sigint) (int);

static void
sigint_handler (int signum)
{
  g_atomic_int_set (&cancel_flag, 1);
  /* A second Ctrl-C ends the process at once. */
  signal (signum, SIG_DFL);
}

const volatile gint *
derm_cli_cancel_begin (void)
{
  g_atomic_int_set (&cancel_flag, 0);
  previous_sigint = signal (SIGINT, sigint_handler);
  return &cancel_flag;
}

void
derm_cli_cancel_end (void)
{
  signal (SIGINT, previous_sigint);
}

typedef DermCliTrainUi TrainUi;

static char *
format_duration (double s)
{
  if (!isfinite (s) || s < 0)
    return g_strdup ("--:--");
  long t = (long) (s + 0.5);
  if (t >= 3600)
    return g_strdup_printf ("%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return g_strdup_printf ("%02ld:%02ld", t / 60, t % 60);
}

void
derm_cli_train_ui_end (DermCliTrainUi *ui)
{
  if (ui->bar_shown)
    {
      fputc ('\n', stderr);
      ui->bar_shown = FALSE;
    }
  if (ui->json_log != NULL)
    fclose (ui->json_log);
  ui->json_log = NULL;
}

static void
end_bar (TrainUi *ui)
{
  if (ui->bar_shown)
    {
      fputc ('\n', stderr);
      ui->bar_shown = FALSE;
    }
}

/* "member 2/5, " while an ensemble's member trains, else "". Returns:
 * (transfer full). */
static char *
member_prefix (const DermTrainEvent *e)
{
  if (e->members > 1 && e->member >= 0)
    return g_strdup_printf (_("member %d/%d, "), e->member + 1, e->members);
  return g_strdup ("");
}

void
derm_cli_train_event_cb (const DermTrainEvent *e, gpointer data)
{
  TrainUi *ui = data;
  if (ui->json_log != NULL)
    {
      g_autofree char *line = derm_train_event_to_json (e);
      fprintf (ui->json_log, "%s\n", line);
      fflush (ui->json_log);
    }
  switch (e->type)
    {
    case DERM_TRAIN_EVENT_STEP:
      {
        g_autofree char *eta = format_duration (e->eta_seconds);
        g_autofree char *who = member_prefix (e);
        if (ui->tty)
          {
            int width = 24, filled = e->steps > 0 ? e->step * width / e->steps : 0;
            char bar[32];
            for (int i = 0; i < width; i++)
              bar[i] = i < filled ? '#' : '.';
            bar[width] = '\0';
            fprintf (stderr, "\r" "%sepoch %d/%d [%s] %d/%d  loss %.4f  %.0f img/s  ETA %s   ",
                     who, e->epoch + 1, e->epochs, bar, e->step, e->steps, e->loss,
                     e->images_per_second, eta);
            ui->bar_shown = TRUE;
          }
        else
          {
            int every = MAX (e->steps / 10, 1);
            if (e->step % every == 0 || e->step == e->steps || e->step == 1)
              fprintf (stderr, _("%sepoch %d/%d step %d/%d loss %.4f %.1f img/s ETA %s\n"),
                       who, e->epoch + 1, e->epochs, e->step, e->steps, e->loss,
                       e->images_per_second, eta);
          }
      }
      break;
    case DERM_TRAIN_EVENT_CACHE:
      if (ui->tty)
        {
          fprintf (stderr, _("\rdecoding images %u/%u"), e->done, e->total);
          ui->bar_shown = TRUE;
          if (e->done == e->total)
            end_bar (ui);
        }
      break;
    case DERM_TRAIN_EVENT_EVALUATING:
      if (ui->tty)
        {
          fprintf (stderr, _("\rtest evaluation %u/%u"), e->done, e->total);
          ui->bar_shown = TRUE;
          if (e->done == e->total)
            end_bar (ui);
        }
      break;
    case DERM_TRAIN_EVENT_DATASET:
      end_bar (ui);
      fprintf (stderr, "%s", e->message);
      fprintf (stderr, _("split: %u train, %u validation, %u test images\n"),
               e->n_train, e->n_val, e->n_test);
      break;
    case DERM_TRAIN_EVENT_EPOCH:
      {
      g_autofree char *who = member_prefix (e);
      end_bar (ui);
      if (g_strcmp0 (e->val_metric_name, "projection_spread") == 0)
        fprintf (stderr, _("epoch %d/%d done: loss %.4f, projection spread %.4f\n"), e->epoch + 1,
                 e->epochs, e->loss, e->val_metric);
      else
        fprintf (stderr, _("%sepoch %d/%d done: loss %.4f, validation %s %.4f%s\n"),
                 who, e->epoch + 1, e->epochs, e->loss, e->val_metric_name, e->val_metric,
                 e->is_best ? _(" (best so far, saved)") : "");
      }
      break;
    case DERM_TRAIN_EVENT_EARLY_STOP:
      end_bar (ui);
      fprintf (stderr, _("no improvement for a while: stopping early after epoch %d\n"),
               e->epoch + 1);
      break;
    case DERM_TRAIN_EVENT_CALIBRATED:
      fprintf (stderr, _("calibration temperature %.3f (fitted on validation)\n"),
               e->temperature);
      break;
    case DERM_TRAIN_EVENT_TEST:
      end_bar (ui);
      fprintf (stderr, _("test metrics: %s\n"), e->json);
      break;
    case DERM_TRAIN_EVENT_DONE:
      end_bar (ui);
      fprintf (stderr, _("wrote %s in %.0f s\n"), e->message, e->elapsed_seconds);
      break;
    case DERM_TRAIN_EVENT_MESSAGE:
      end_bar (ui);
      fprintf (stderr, "%s\n", e->message);
      break;
    case DERM_TRAIN_EVENT_CHECKPOINT:
      break;
    }
}

int
derm_cli_train (int argc, char **argv)
{
  DermTrainJobConfig cfg;
  derm_train_job_config_init (&cfg);
  g_autofree char *task = NULL, *data = NULL, *out = NULL, *arch = NULL, *device = NULL;
  g_autofree char *init = NULL, *finetune = NULL, *resume = NULL, *json_log = NULL;
  g_autofree char *balance = NULL, *gpu_augment = NULL, *context = NULL;
  double checkpoint_every = cfg.checkpoint_every;
  int epochs = cfg.epochs, batch = cfg.batch, image_size = 0, limit = 0;
  int patience = cfg.patience, workers = 0;
  double lr = 0, val_fraction = cfg.val_fraction, test_fraction = cfg.test_fraction;
  double mixup = cfg.mixup, cutmix = cfg.cutmix, ema = cfg.ema;
  int folds = 0;
  gint64 seed = (gint64) cfg.seed, split_seed = 0;
  double train_fraction = 0;
  gboolean sog = FALSE, lenient = FALSE, tta = FALSE;
  GOptionEntry entries[] = {
    { "task", 0, 0, G_OPTION_ARG_STRING, &task, N_("classify (default) or segment"), "TASK" },
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data, N_("HAM10000 folder"), "DIR" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, N_("Model file to write"), "MODEL.safetensors" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch,
      N_("resnet18, resnet34, resnet50 (classify default) or unet (segment default)"), "ARCH" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, N_("Epochs (default 30)"), "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, N_("Images per batch (default 32)"), "N" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &image_size,
      N_("Training size in pixels (default 224, U-Net 256)"), "PX" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, N_("Peak learning rate (default 0.001)"), "LR" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N"), "DEVICE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, N_("Seed of split, order and weights"), "N" },
    { "split-seed", 0, 0, G_OPTION_ARG_INT64, &split_seed,
      N_("Seed of the split alone (default: --seed); with it fixed, --seed varies the weights, "
         "order and augmentation over one split"), "N" },
    { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &train_fraction,
      N_("Train on about this share of the training lesions, class by class (e.g. 0.1; "
         "validation and test stay whole; default all)"), "F" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit,
      N_("Use about N lesions (a stratified choice), for quick runs"), "N" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &val_fraction,
      N_("Validation share of lesions (default 0.15)"), "F" },
    { "test-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &test_fraction,
      N_("Test share of lesions (default 0.15)"), "F" },
    { "init", 0, 0, G_OPTION_ARG_FILENAME, &init,
      N_("Start from these weights (e.g. an ImageNet ResNet-50 export)"), "WEIGHTS" },
    { "finetune", 0, 0, G_OPTION_ARG_STRING, &finetune,
      N_("Layers to train: head, last or all (default)"), "WHAT" },
    { "resume", 0, 0, G_OPTION_ARG_FILENAME, &resume,
      N_("Continue from a checkpoint (OUT.ckpt)"), "CHECKPOINT" },
    { "json-log", 0, 0, G_OPTION_ARG_FILENAME, &json_log,
      N_("Write one JSON object per event line to FILE"), "FILE" },
    { "balance", 0, 0, G_OPTION_ARG_STRING, &balance,
      N_("Class balance: sampling (default), loss, logit-adjust or none"), "HOW" },
    { "mixup", 0, 0, G_OPTION_ARG_DOUBLE, &mixup,
      N_("Mixup of image pairs, Beta(ALPHA, ALPHA) weights (e.g. 0.2; 0 = off)"), "ALPHA" },
    { "cutmix", 0, 0, G_OPTION_ARG_DOUBLE, &cutmix,
      N_("Cutmix of image pairs, Beta(ALPHA, ALPHA) areas (e.g. 1.0; 0 = off)"), "ALPHA" },
    { "ema", 0, 0, G_OPTION_ARG_DOUBLE, &ema,
      N_("Keep a moving average of the weights with this decay per step (e.g. 0.998; 0 = off)"),
      "DECAY" },
    { "folds", 0, 0, G_OPTION_ARG_INT, &folds,
      N_("An ensemble of K networks, each trained on the training split less one of K "
         "lesion-grouped folds and calibrated on that fold, in one model file (default: one "
         "network)"), "K" },
    { "context", 0, 0, G_OPTION_ARG_STRING, &context,
      N_("Classifier: also take the patient context from the metadata CSV, some of age, sex "
         "and site (comma-separated) or all; each field is dropped at random in training, so "
         "the model works with any of them missing (default: the image alone)"), "FIELDS" },
    { "shades-of-gray", 0, 0, G_OPTION_ARG_NONE, &sog,
      N_("Shades-of-Gray colour constancy (kept in the model for inference)"), NULL },
    { "patience", 0, 0, G_OPTION_ARG_INT, &patience,
      N_("Stop after N epochs without improvement (default 8, 0 = never)"), "N" },
    { "workers", 0, 0, G_OPTION_ARG_INT, &workers, N_("Data threads (default: cores)"), "N" },
    { "lenient", 0, 0, G_OPTION_ARG_NONE, &lenient,
      N_("Go on without the dataset's unusable rows"), NULL },
    { "tta", 0, 0, G_OPTION_ARG_NONE, &tta, N_("Test-time augmentation for the test metrics"), NULL },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_DOUBLE, &checkpoint_every,
      N_("Write the resumable checkpoint at most every SECONDS (default 60, 0 = every epoch)"),
      "SECONDS" },
    { "gpu-augment", 0, 0, G_OPTION_ARG_STRING, &gpu_augment,
      N_("Keep the images on the device and augment there: auto (default: on CUDA), on or off"),
      "MODE" },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL,
                               _("Train a classifier or segmenter on a HAM10000 folder: "
                                 "lesion-grouped split, per-epoch validation, best "
                                 "checkpoint, calibration and test metrics in the model."),
                               &argc, &argv))
    return DERM_CLI_EXIT_USAGE;

  const char *usage = NULL;
  if (argc > 1)
    usage = _("train takes no arguments besides its options");
  else if (data == NULL || out == NULL)
    usage = _("train needs --data DIR and --out MODEL.safetensors");
  else if (task != NULL && strcmp (task, "classify") != 0 && strcmp (task, "segment") != 0)
    usage = _("--task must be classify or segment");
  if (usage == NULL)
    {
      cfg.task = task != NULL && strcmp (task, "segment") == 0 ? DERM_TASK_SEGMENT : DERM_TASK_CLASSIFY;
      cfg.arch = cfg.task == DERM_TASK_SEGMENT ? DERM_ARCH_UNET : DERM_ARCH_RESNET50;
      if (arch != NULL && !derm_arch_from_name (arch, &cfg.arch))
        usage = _("unknown --arch (resnet18, resnet34, resnet50, unet)");
      else if (finetune != NULL && !derm_finetune_from_name (finetune, &cfg.finetune))
        usage = _("--finetune must be head, last or all");
      else if (balance != NULL && !derm_balance_from_name (balance, &cfg.balance))
        usage = _("--balance must be sampling, loss, logit-adjust or none");
      else if (limit < 0 || seed < 0 || split_seed < 0 || patience < 0 || workers < 0)
        usage = _("--limit, --seed, --split-seed, --patience and --workers cannot be negative");
      else if (!(train_fraction >= 0 && train_fraction <= 1))
        usage = _("--train-fraction must be between 0 and 1");
      else if (!(checkpoint_every >= 0))
        usage = _("--checkpoint-every cannot be negative");
      else if (gpu_augment != NULL && !derm_gpu_augment_from_name (gpu_augment, &cfg.gpu_augment))
        usage = _("--gpu-augment must be auto, on or off");
      else if (context != NULL && !derm_cli_context_fields (context, &cfg.context))
        usage = _("--context takes age, sex and site (comma-separated) or all");
      else if (context != NULL && cfg.task == DERM_TASK_SEGMENT)
        usage = _("--context applies to classifiers");
    }
  if (usage != NULL)
    {
      derm_cli_error ("%s", usage);
      return DERM_CLI_EXIT_USAGE;
    }
  cfg.data_dir = data;
  cfg.out_path = out;
  cfg.epochs = epochs;
  cfg.batch = batch;
  cfg.image_size = image_size;
  cfg.lr = lr;
  cfg.device = device;
  cfg.seed = (guint64) seed;
  cfg.split_seed = (guint64) split_seed;
  cfg.train_fraction = train_fraction;
  cfg.limit = (guint) limit;
  cfg.val_fraction = val_fraction;
  cfg.test_fraction = test_fraction;
  cfg.init_weights = init;
  cfg.resume = resume;
  cfg.shades_of_gray = sog;
  cfg.patience = patience;
  cfg.workers = workers;
  cfg.lenient = lenient;
  cfg.tta = tta;
  cfg.checkpoint_every = checkpoint_every;
  cfg.mixup = mixup;
  cfg.cutmix = cutmix;
  cfg.ema = ema;
  cfg.folds = folds;

  TrainUi ui = { isatty (STDERR_FILENO) };
  if (json_log != NULL)
    {
      ui.json_log = fopen (json_log, "w");
      if (ui.json_log == NULL)
        {
          derm_cli_error (_("cannot write %s: %s"), json_log, g_strerror (errno));
          return DERM_CLI_EXIT_FAILURE;
        }
    }
  const volatile gint *cancel = derm_cli_cancel_begin ();
  g_autoptr(GError) error = NULL;
  gboolean ok = derm_train_job_run (&cfg, derm_cli_train_event_cb, &ui, cancel, &error);
  derm_cli_cancel_end ();
  derm_cli_train_ui_end (&ui);
  if (!ok)
    {
      derm_cli_error ("%s", error->message);
      return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? 130 : DERM_CLI_EXIT_FAILURE;
    }
  return DERM_CLI_EXIT_OK;
}

/* ---- evaluate ---------------------------------------------------------------- */

static void
print_number (double v)
{
  if (isfinite (v))
    printf (" %9.4f", v);
  else
    printf (" %9s", "-");
}

static void
print_class_table (const DermClassMetrics *m)
{
  printf (_("images              %d\n"), m->n);
  printf (_("accuracy            %.4f\n"), m->accuracy);
  printf (_("balanced accuracy   %.4f\n"), m->balanced_accuracy);
  printf (_("macro F1            %.4f\n"), m->macro_f1);
  printf (_("macro ROC AUC       %.4f\n"), m->macro_auc);
  printf (_("ECE (15 bins)       %.4f\n"), m->ece);
  printf (_("\n%-6s %9s %9s %9s %9s %9s\n"), _("class"), _("precision"), _("recall"), "F1",
          _("support"), "AUC");
  for (int c = 0; c < m->num_classes; c++)
    {
      printf ("%-6s", derm_class_code (c));
      print_number (m->precision[c]);
      print_number (m->recall[c]);
      print_number (m->f1[c]);
      printf (" %9d", m->support[c]);
      print_number (m->auc[c]);
      printf ("\n");
    }
  printf (_("\nconfusion (rows true, columns predicted)\n%-6s"), "");
  for (int c = 0; c < m->num_classes; c++)
    printf (" %6s", derm_class_code (c));
  printf ("\n");
  for (int t = 0; t < m->num_classes; t++)
    {
      printf ("%-6s", derm_class_code (t));
      for (int p = 0; p < m->num_classes; p++)
        printf (" %6d", m->confusion[t][p]);
      printf ("\n");
    }
}

/* The model's decision rule, when it has a readable one; says so on stderr
 * when it has one that cannot be read, and goes on with the arg-max. */
static gboolean
model_decision (DermModel *model, DermDecision *decision)
{
  g_autoptr(GError) error = NULL;
  if (derm_evaluate_get_decision (model, decision, &error))
    return TRUE;
  if (error != NULL)
    derm_cli_error (_("%s: the decision rule is ignored, classes are decided by the highest "
                      "probability and no lesion is flagged; retrain the model to fit a new "
                      "rule"), error->message);
  return FALSE;
}

static void
print_operating_point (const DermDecision *d, const float *probs, const int *labels, int n)
{
  if (isnan (d->risk_threshold))
    {
      printf (_("operating point     none (the validation split had no malignant lesion)\n"));
      return;
    }
  double sensitivity, specificity;
  derm_decision_risk_rates (probs, labels, n, d->risk_threshold, &sensitivity, &specificity);
  printf (_("operating point     malignant risk >= %.3f (chosen for sensitivity %.2f on "
            "validation)\n"), d->risk_threshold, d->target_sensitivity);
  printf (_("  sensitivity       %.4f (malignant lesions flagged)\n"), sensitivity);
  printf (_("  specificity       %.4f (benign lesions not flagged)\n"), specificity);
}

static void
print_interval (const char *name, DermInterval v)
{
  if (isfinite (v.lo) && isfinite (v.hi))
    printf ("  %-22s %.3f .. %.3f\n", name, v.lo, v.hi);
}

static void
print_intervals (const DermClassBootstrap *bs)
{
  printf (_("\n95%% intervals (%d bootstrap resamples of the %d lesions)\n"), bs->resamples,
          bs->n_groups);
  print_interval (_("balanced accuracy"), bs->balanced_accuracy);
  print_interval (_("accuracy"), bs->accuracy);
  print_interval (_("macro ROC AUC"), bs->macro_auc);
  print_interval (_("ECE"), bs->ece);
  print_interval (_("MEL recall"), bs->recall[DERM_CLASS_MEL]);
  print_interval (_("flag sensitivity"), bs->sensitivity);
  print_interval (_("flag specificity"), bs->specificity);
}

int
derm_cli_evaluate (int argc, char **argv)
{
  g_autofree char *weights = NULL, *data = NULL, *split = NULL, *device = NULL;
  g_autofree char *predictions = NULL, *masks_out = NULL;
  g_autofree char *context = NULL;
  gboolean tta = FALSE, json = FALSE, argmax = FALSE;
  int batch = 32;
  GOptionEntry entries[] = {
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, N_("Model file"), "MODEL" },
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data, N_("HAM10000 folder"), "DIR" },
    { "split", 0, 0, G_OPTION_ARG_STRING, &split,
      N_("test (default), val, train, or all (every valid image of DIR)"), "PART" },
    { "context", 0, 0, G_OPTION_ARG_STRING, &context,
      N_("A model with patient context: give it only these fields of the metadata (some of "
         "age, sex, site; none: every field missing; default all)"), "FIELDS" },
    { "tta", 0, 0, G_OPTION_ARG_NONE, &tta, N_("Average the 8 flips and rotations"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N"), "DEVICE" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, N_("Images per batch (default 32)"), "N" },
    { "predictions", 0, 0, G_OPTION_ARG_FILENAME, &predictions,
      N_("Classifier: write each image's probabilities to FILE (CSV)"), "FILE" },
    { "masks-out", 0, 0, G_OPTION_ARG_FILENAME, &masks_out,
      N_("Segmenter: write each predicted mask to DIR as IMAGE_ID.png"), "DIR" },
    { "argmax", 0, 0, G_OPTION_ARG_NONE, &argmax,
      N_("Classifier: decide by the highest probability, not by the model's decision rule "
         "(for comparison)"), NULL },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL,
                               _("Evaluate a model on a split of a HAM10000 folder (the "
                                 "split is rebuilt from the model's metadata)."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc > 1 || weights == NULL || data == NULL || batch < 1)
    {
      derm_cli_error (_("evaluate needs --weights MODEL and --data DIR (and no other arguments)"));
      return DERM_CLI_EXIT_USAGE;
    }
  unsigned context_fields = DERM_PATIENT_ALL;
  if (context != NULL && strcmp (context, "none") != 0
      && !derm_cli_context_fields (context, &context_fields))
    {
      derm_cli_error (_("--context takes age, sex and site (comma-separated), all or none"));
      return DERM_CLI_EXIT_USAGE;
    }
  if (context != NULL && strcmp (context, "none") == 0)
    context_fields = 0;
  const char *part = split != NULL ? split : "test";
  DermSplitPart dummy;
  if (strcmp (part, "all") != 0 && !derm_split_part_from_name (part, &dummy))
    {
      derm_cli_error (_("--split must be test, val, train or all"));
      return DERM_CLI_EXIT_USAGE;
    }

  g_autoptr(GError) error = NULL;
  DermModel *model = derm_model_load (weights, device, &error);
  if (model == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  gboolean classify = derm_arch_task (derm_model_get_arch (model)) == DERM_TASK_CLASSIFY;
  int rc = DERM_CLI_EXIT_FAILURE;
  if (context != NULL && derm_model_get_context (model) == 0)
    {
      derm_cli_error (_("--context applies to a model trained with patient context; %s takes "
                        "the image alone"), weights);
      derm_model_free (model);
      return DERM_CLI_EXIT_USAGE;
    }
  derm_model_set_context_mask (model, (DermPatientField) context_fields);
  if ((classify && masks_out != NULL) || (!classify && (predictions != NULL || argmax)))
    {
      derm_cli_error (classify ? _("--masks-out applies to segmentation models")
                               : _("--predictions and --argmax apply to classification models"));
      derm_model_free (model);
      return DERM_CLI_EXIT_USAGE;
    }
  if (masks_out != NULL && g_mkdir_with_parents (masks_out, 0755) != 0)
    {
      derm_cli_error (_("Could not create the folder “%s”: %s"), masks_out, g_strerror (errno));
      derm_model_free (model);
      return DERM_CLI_EXIT_FAILURE;
    }
  g_autoptr(DermDataset) ds = derm_dataset_load (data, (classify ? 0 : DERM_DATASET_REQUIRE_MASKS)
                                                 | DERM_DATASET_LENIENT, &error);
  g_autoptr(GArray) idx = ds ? derm_evaluate_select (model, ds, part, &error) : NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  if (idx == NULL)
    goto out;
  if (ds->n_skipped > 0 && !json)
    fprintf (stderr, _("%u rows of the dataset were skipped as unusable\n"), ds->n_skipped);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, weights);
  json_builder_set_member_name (b, "split");
  json_builder_add_string_value (b, part);
  json_builder_set_member_name (b, "tta");
  json_builder_add_boolean_value (b, tta);
  json_builder_set_member_name (b, "temperature");
  json_builder_add_double_value (b, derm_model_get_temperature (model));
  if (derm_model_get_context (model) != 0)
    {
      g_autofree char *given = derm_patient_fields_to_string (derm_model_get_context (model)
                                                              & context_fields);
      json_builder_set_member_name (b, "context");
      json_builder_add_string_value (b, given);
      if (!json)
        printf (_("patient context     %s\n"), *given != '\0' ? given : _("none (every field missing)"));
    }
  if (classify)
    {
      DermClassMetrics m, ruled;
      g_autofree float *probs = NULL;
      DermDecision decision;
      gboolean has_decision = model_decision (model, &decision);
      gboolean use_rule = has_decision && !argmax;
      if (!derm_evaluate_classifier (model, ds, (guint *) idx->data, idx->len, tta, batch, NULL,
                                     NULL, NULL, &m, &probs, &error))
        goto out;
      if (predictions != NULL
          && !derm_evaluate_write_predictions (predictions, ds, (guint *) idx->data, idx->len, probs,
                                               &error))
        goto out;
      g_autofree int *labels = g_new (int, MAX (idx->len, 1));
      for (guint i = 0; i < idx->len; i++)
        labels[i] = ((DermSample *) ds->samples->pdata[g_array_index (idx, guint, i)])->label;
      if (use_rule)
        derm_class_metrics_compute_with_offsets (probs, labels, idx->len, DERM_N_CLASSES,
                                                 decision.class_offsets, &ruled);
      const DermClassMetrics *shown = use_rule ? &ruled : &m;
      /* Intervals by resampling lesions, for the decisions shown. */
      DermClassBootstrap bs;
      g_autoptr(JsonBuilder) ci = json_builder_new ();
      json_builder_begin_object (ci);
      derm_evaluate_add_bootstrap_json (ci, ds, (guint *) idx->data, idx->len, probs,
                                        use_rule ? decision.class_offsets : NULL,
                                        has_decision ? decision.risk_threshold : NAN, &bs);
      json_builder_end_object (ci);
      if (!json)
        {
          printf (_("%s on the %s split of %s\n\n"), weights, part, data);
          if (use_rule)
            printf (_("decision rule       the model's class offsets, fitted on validation "
                      "(--argmax: the highest probability)\n"));
          else if (has_decision)
            printf (_("decision rule       the highest probability (--argmax; the model's "
                      "class offsets are ignored)\n"));
          if (use_rule && strcmp (part, "val") == 0)
            printf (_("                    (fitted on this split: its metrics here are "
                      "optimistic)\n"));
          print_class_table (shown);
          if (use_rule)
            printf (_("\nwith the highest probability: balanced accuracy %.4f, accuracy %.4f, "
                      "MEL recall %.4f\n"), m.balanced_accuracy, m.accuracy,
                    m.recall[DERM_CLASS_MEL]);
          if (has_decision)
            {
              printf ("\n");
              print_operating_point (&decision, probs, labels, idx->len);
            }
          print_intervals (&bs);
        }
      derm_class_metrics_add_json (shown, b);
      {
        g_autoptr(JsonNode) ci_root = json_builder_get_root (ci);
        JsonNode *member = json_object_get_member (json_node_get_object (ci_root), "ci95");
        json_builder_set_member_name (b, "ci95");
        json_builder_add_value (b, json_node_copy (member));
      }
      if (has_decision)
        {
          json_builder_set_member_name (b, "decision_rule");
          json_builder_add_string_value (b, use_rule ? "class_offsets" : "argmax");
          if (use_rule)
            derm_decision_add_argmax_json (&m, b);
          json_builder_set_member_name (b, "operating_point");
          json_builder_begin_object (b);
          derm_decision_add_operating_point_json (&decision, probs, labels, idx->len, b);
          json_builder_end_object (b);
        }
    }
  else
    {
      DermSegMetrics m;
      if (!derm_evaluate_segmenter (model, ds, (guint *) idx->data, idx->len, tta, batch, NULL,
                                    NULL, NULL, &m, masks_out, &error))
        goto out;
      if (!json)
        {
          printf (_("%s on the %s split of %s\n\n"), weights, part, data);
          printf (_("images                   %d\n"), m.n);
          printf (_("mean Dice                %.4f\n"), m.dice);
          printf (_("mean Jaccard             %.4f\n"), m.jaccard);
          printf (_("thresholded Jaccard      %.4f\n"), m.thresholded_jaccard);
          printf (_("images under 0.65        %d\n"), m.failures);
        }
      derm_seg_metrics_add_json (&m, b);
    }
  json_builder_end_object (b);
  if (json)
    derm_cli_print_json (b);
  rc = DERM_CLI_EXIT_OK;

out:
  if (error != NULL)
    derm_cli_error ("%s", error->message);
  derm_model_free (model);
  return rc;
}

/* ---- refit-decision ------------------------------------------------------------ */

/* The labels of the samples @idx. Returns: (transfer full). */
static int *
sample_labels (const DermDataset *ds, GArray *idx)
{
  int *labels = g_new (int, MAX (idx->len, 1));
  for (guint i = 0; i < idx->len; i++)
    labels[i] = ((DermSample *) ds->samples->pdata[g_array_index (idx, guint, i)])->label;
  return labels;
}

int
derm_cli_refit_decision (int argc, char **argv)
{
  g_autofree char *weights = NULL, *data = NULL, *out = NULL, *device = NULL;
  double target = DERM_DECISION_TARGET_SENSITIVITY;
  int batch = 32;
  GOptionEntry entries[] = {
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, N_("Classifier file"), "MODEL" },
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data, N_("The HAM10000 folder it was trained on"), "DIR" },
    { "target-sensitivity", 0, 0, G_OPTION_ARG_DOUBLE, &target,
      N_("Sensitivity the malignant flag's threshold is chosen for on validation (default 0.90)"),
      "S" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, N_("Write the model here (default: in place)"),
      "MODEL" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N"), "DEVICE" },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL,
                               _("Fit a classifier's decision rule again on its validation "
                                 "split (class offsets, cross-fitted and shrunk, and the "
                                 "malignant-risk operating point for a sensitivity), measure "
                                 "it on the test split and store both in the model."),
                               &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc > 1 || weights == NULL || data == NULL || !(target > 0 && target <= 1))
    {
      derm_cli_error (_("refit-decision needs --weights MODEL and --data DIR, and a "
                        "--target-sensitivity in (0, 1]"));
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(GError) error = NULL;
  DermModel *model = derm_model_load (weights, device, &error);
  if (model == NULL)
    {
      derm_cli_error ("%s", error->message);
      return DERM_CLI_EXIT_FAILURE;
    }
  int rc = DERM_CLI_EXIT_FAILURE;
  /* One copy of the dataset per split: selecting applies the model's
   * recorded --limit to the dataset in place. */
  g_autoptr(DermDataset) ds = NULL, tds = NULL;
  g_autoptr(GArray) val = NULL, test = NULL;
  if (derm_arch_task (derm_model_get_arch (model)) != DERM_TASK_CLASSIFY
      || derm_model_get_num_classes (model) != DERM_N_CLASSES)
    {
      g_set_error (&error, DERM_ERROR, DERM_ERROR_MISMATCH,
                   _("%s is not a classifier of the seven diagnoses"), weights);
      goto out;
    }
  ds = derm_dataset_load (data, DERM_DATASET_LENIENT, &error);
  if (ds == NULL || (val = derm_evaluate_select (model, ds, "val", &error)) == NULL)
    goto out;
  tds = derm_dataset_load (data, DERM_DATASET_LENIENT, &error);
  if (tds == NULL || (test = derm_evaluate_select (model, tds, "test", &error)) == NULL)
    goto out;
  if (val->len == 0)
    {
      g_set_error (&error, DERM_ERROR, DERM_ERROR_INVALID,
                   _("%s was trained without a validation split: there is nothing to fit the "
                     "rule on"), weights);
      goto out;
    }
  {
    DermDecision d;
    DermClassMetrics vm, tm;
    g_autofree float *vprobs = NULL, *tprobs = NULL;
    if (!derm_evaluate_classifier (model, ds, (guint *) val->data, val->len, FALSE, batch, NULL,
                                   NULL, NULL, &vm, &vprobs, &error))
      goto out;
    g_autofree int *vlabels = sample_labels (ds, val);
    derm_decision_fit (vprobs, vlabels, val->len, target, &d);
    g_autoptr(JsonBuilder) vb = json_builder_new ();
    json_builder_begin_object (vb);
    derm_evaluate_add_decided_metrics (vb, vprobs, vlabels, val->len, &d, &vm);
    json_builder_end_object (vb);
    g_autoptr(JsonNode) vroot = json_builder_get_root (vb);
    g_autofree char *vjson = json_to_string (vroot, FALSE);
    derm_model_set_metadata (model, "val_metrics", vjson);
    if (test->len > 0)
      {
        if (!derm_evaluate_classifier (model, tds, (guint *) test->data, test->len, FALSE, batch,
                                       NULL, NULL, NULL, &tm, &tprobs, &error))
          goto out;
        g_autofree int *tlabels = sample_labels (tds, test);
        derm_decision_set_test (&d, tprobs, tlabels, test->len);
        g_autoptr(JsonBuilder) tb = json_builder_new ();
        json_builder_begin_object (tb);
        json_builder_set_member_name (tb, "split");
        json_builder_add_string_value (tb, "test");
        json_builder_set_member_name (tb, "tta");
        json_builder_add_boolean_value (tb, FALSE);
        derm_evaluate_add_decided_metrics (tb, tprobs, tlabels, test->len, &d, &tm);
        derm_evaluate_add_bootstrap_json (tb, tds, (guint *) test->data, test->len, tprobs,
                                          d.class_offsets, d.risk_threshold, NULL);
        json_builder_end_object (tb);
        g_autoptr(JsonNode) troot = json_builder_get_root (tb);
        g_autofree char *tjson = json_to_string (troot, FALSE);
        derm_model_set_metadata (model, "metrics", tjson);
      }
    g_autofree char *djson = derm_decision_to_json (&d);
    derm_model_set_metadata (model, "decision", djson);
    if (!derm_model_save (model, out != NULL ? out : weights, &error))
      goto out;
    printf (_("validation: balanced accuracy %.4f with the rule (offsets shrunk by %.2f), %.4f "
              "with the highest probability\n"), d.val_balanced_accuracy, d.offset_shrink,
            d.val_argmax_balanced_accuracy);
    if (isnan (d.risk_threshold))
      printf (_("operating point: none (no malignant lesion in the validation split)\n"));
    else
      printf (_("operating point: malignant risk >= %.3f for sensitivity %.2f (validation: "
                "sensitivity %.3f, specificity %.3f; test: sensitivity %.3f, specificity "
                "%.3f)\n"), d.risk_threshold, target, d.val_sensitivity, d.val_specificity,
              d.test_sensitivity, d.test_specificity);
    printf (_("wrote %s\n"), out != NULL ? out : weights);
    rc = DERM_CLI_EXIT_OK;
  }

out:
  if (error != NULL)
    derm_cli_error ("%s", error->message);
  derm_model_free (model);
  return rc;
}

/* ---- analyze ------------------------------------------------------------------ */

static void
print_flag (const DermDecision *d, const float *probs)
{
  if (isnan (d->risk_threshold))
    printf (_("  malignant flag: none (the model has no operating point)\n"));
  else if (derm_decision_is_malignant (d, probs))
    printf (_("  FLAGGED as possibly malignant: risk at or over the model's threshold %.3f "
              "(sensitivity %.2f on validation)\n"), d->risk_threshold, d->val_sensitivity);
  else
    printf (_("  not flagged: risk under the model's threshold %.3f\n"), d->risk_threshold);
}

static char *
mask_path_for (const char *mask_out, const char *image, gboolean many)
{
  if (!many)
    return g_strdup (mask_out);
  g_autofree char *base = g_path_get_basename (image);
  char *dot = strrchr (base, '.');
  if (dot != NULL)
    *dot = '\0';
  g_autofree char *name = g_strdup_printf ("%s_mask.png", base);
  return g_build_filename (mask_out, name, NULL);
}

static void
print_measurements (const DermAnalysisResult *r)
{
  if (!r->has_measurements)
    {
      printf (_("  no measurements: %s\n"), r->measurement_error);
      return;
    }
  const DermLesionMeasurements *m = &r->measurements;
  printf (_("  lesion area        %.1f%% of the image (%lld px)\n"),
          100 * m->area_fraction, (long long) m->area_px);
  printf (_("  asymmetry          %.3f (major axis), %.3f (minor axis)\n"),
          m->asymmetry[0], m->asymmetry[1]);
  printf (_("  border compactness %.3f (1 = disc)\n"), m->compactness);
  printf (_("  colours            %d:"), m->n_colors);
  for (int c = 0; c < DERM_N_COLORS; c++)
    if (m->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION)
      printf (" %s (%.0f%%)", derm_color_name (c), 100 * m->color_fraction[c]);
  printf ("\n");
  printf (_("  diameter           %.1f px\n"), m->diameter_px);
}

/* The analysis is the window's (derm_analysis_run ()), without Grad-CAM. */
static gboolean
analyze_one (const char *path, const DermAnalysisSetup *setup, const char *mask_out, gboolean many,
             gboolean json, JsonBuilder *b, GError **error)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "image");
  json_builder_add_string_value (b, path);
  g_autoptr(DermImage) image = derm_image_load (path, 3, 0, 0, error);
  if (image == NULL)
    return FALSE;
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, image->width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, image->height);
  if (!json)
    printf ("%s (%d x %d)\n", path, image->width, image->height);

  g_autoptr(DermAnalysisResult) r = derm_analysis_run (setup, image, error);
  if (r == NULL)
    return FALSE;
  if (setup->segmenter != NULL && r->mask == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED, "%s", r->measurement_error);
      return FALSE;
    }
  if (r->notice != NULL)
    derm_cli_error ("%s", r->notice);
  derm_analysis_result_add_json (b, r);
  if (r->classified && !json)
    {
      int best = r->top_class;
      printf (_("  predicted: %s (%s), p = %.3f; malignant risk %.3f\n"),
              derm_class_code (best), derm_class_name (best), r->probs[best],
              derm_class_malignant_risk (r->probs));
      if (setup->decision != NULL)
        print_flag (setup->decision, r->probs);
      if (r->has_probs_without_context)
        {
          printf (_("  patient context: %s; without it:\n"), r->context_text);
          for (int c = 0; c < DERM_N_CLASSES; c++)
            printf ("    %-6s %.4f  (%.4f without context)  %s\n", derm_class_code (c), r->probs[c],
                    r->probs_without_context[c], derm_class_name (c));
        }
      else
        {
          g_autofree char *takes = derm_patient_fields_to_string (r->context_taken);
          if (r->context_taken != 0)
            printf (_("  patient context: none given (the model takes %s)\n"), takes);
          for (int c = 0; c < DERM_N_CLASSES; c++)
            printf ("    %-6s %.4f  %s\n", derm_class_code (c), r->probs[c], derm_class_name (c));
        }
    }
  if (r->mask != NULL && mask_out != NULL)
    {
      g_autoptr(DermImage) mask = derm_image_copy (r->mask);
      gsize px = (gsize) mask->width * mask->height;
      for (gsize i = 0; i < px; i++)
        mask->data[i] = mask->data[i] >= 128 ? 255 : 0;
      g_autofree char *mp = mask_path_for (mask_out, path, many);
      if (!derm_image_save_png (mask, mp, error))
        return FALSE;
      json_builder_set_member_name (b, "mask");
      json_builder_add_string_value (b, mp);
      if (!json)
        printf (_("  mask written to %s\n"), mp);
    }
  if (setup->segmenter != NULL && !json)
    print_measurements (r);
  json_builder_end_object (b);
  return TRUE;
}

int
derm_cli_analyze (int argc, char **argv)
{
  g_autofree char *cls_path = NULL, *seg_path = NULL, *mask_out = NULL, *device = NULL;
  g_autofree char *sex = NULL, *site = NULL;
  double age = NAN;
  gboolean json = FALSE, tta = FALSE;
  GOptionEntry entries[] = {
    { "classifier", 0, 0, G_OPTION_ARG_FILENAME, &cls_path, N_("Classifier model"), "MODEL" },
    { "segmenter", 0, 0, G_OPTION_ARG_FILENAME, &seg_path, N_("Segmentation model"), "MODEL" },
    DERM_CLI_PATIENT_OPTIONS (age, sex, site),
    { "mask-out", 0, 0, G_OPTION_ARG_FILENAME, &mask_out,
      N_("Write the mask (PNG) here; with several images, a folder"), "PATH" },
    { "tta", 0, 0, G_OPTION_ARG_NONE, &tta, N_("Average the 8 flips and rotations"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N"), "DEVICE" },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, _("IMAGE..."),
                               _("Classify and segment dermoscopy images and measure "
                                 "the lesion (area, asymmetry, border, colours, "
                                 "diameter)."), &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  if (argc < 2 || (cls_path == NULL && seg_path == NULL))
    {
      derm_cli_error (_("analyze needs at least one IMAGE and --classifier and/or --segmenter"));
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
  if (mask_out != NULL && seg_path == NULL)
    {
      derm_cli_error (_("--mask-out needs --segmenter"));
      return DERM_CLI_EXIT_USAGE;
    }
  gboolean many = argc > 2;
  if (many && mask_out != NULL && g_mkdir_with_parents (mask_out, 0700) != 0)
    {
      derm_cli_error (_("cannot create the folder %s: %s"), mask_out, g_strerror (errno));
      return DERM_CLI_EXIT_FAILURE;
    }

  g_autoptr(GError) error = NULL;
  DermModel *classifier = NULL, *segmenter = NULL;
  int rc = DERM_CLI_EXIT_OK;
  if (cls_path != NULL && (classifier = derm_model_load (cls_path, device, &error)) == NULL)
    rc = DERM_CLI_EXIT_FAILURE;
  else if (classifier != NULL && derm_arch_task (derm_model_get_arch (classifier)) != DERM_TASK_CLASSIFY)
    {
      g_set_error (&error, DERM_ERROR, DERM_ERROR_MISMATCH, _("%s is not a classifier"), cls_path);
      rc = DERM_CLI_EXIT_FAILURE;
    }
  if (rc == DERM_CLI_EXIT_OK && seg_path != NULL
      && (segmenter = derm_model_load (seg_path, device, &error)) == NULL)
    rc = DERM_CLI_EXIT_FAILURE;
  else if (segmenter != NULL && derm_arch_task (derm_model_get_arch (segmenter)) != DERM_TASK_SEGMENT)
    {
      g_set_error (&error, DERM_ERROR, DERM_ERROR_MISMATCH, _("%s is not a segmenter"), seg_path);
      rc = DERM_CLI_EXIT_FAILURE;
    }
  if (rc != DERM_CLI_EXIT_OK)
    {
      derm_cli_error ("%s", error->message);
      derm_model_free (classifier);
      derm_model_free (segmenter);
      return rc;
    }

  DermDecision decision;
  gboolean has_decision = classifier != NULL && model_decision (classifier, &decision);
  DermAnalysisSetup setup = { .classifier = classifier, .decision = has_decision ? &decision : NULL,
                              .segmenter = segmenter, .tta = tta, .patient = &patient };
  if (classifier != NULL && derm_model_get_context (classifier) == 0
      && derm_patient_context_known (&patient) != 0)
    derm_cli_error (_("%s takes the image alone: --age, --sex and --site are ignored"), cls_path);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(GError) local = NULL;
      if (!analyze_one (argv[i], &setup, mask_out, many, json, b, &local))
        {
          derm_cli_error ("%s", local->message);
          rc = DERM_CLI_EXIT_FAILURE;
          /* Close a half-written object so the JSON stays valid. */
          json_builder_end_object (b);
        }
    }
  json_builder_end_array (b);
  if (json)
    derm_cli_print_json (b);
  derm_model_free (classifier);
  derm_model_free (segmenter);
  return rc;
}
