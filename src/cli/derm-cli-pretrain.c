/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-cli-pretrain.c: dermalens-cli pretrain, self-supervised pretraining
 * of a classifier's backbone (SimSiam) for train --init. */
#include "config.h"

#define G_LOG_DOMAIN "derm-cli"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "derm-cli.h"
#include "derm-pretrain-job.h"
#include "derm-store.h"

/* The stored images of every case of the case database (labelled or not).
 * Returns: (transfer full) a NULL-terminated list, or NULL with @error. */
static char **
case_images (GError **error)
{
  g_autoptr(DermStore) store = derm_store_open (NULL, error);
  if (store == NULL)
    return NULL;
  DermCaseQuery query;
  derm_case_query_init (&query);
  g_autoptr(GPtrArray) cases = derm_store_list_cases (store, &query, NULL, error);
  if (cases == NULL)
    return NULL;
  GPtrArray *paths = g_ptr_array_new ();
  for (guint i = 0; i < cases->len; i++)
    {
      const DermCase *c = cases->pdata[i];
      if (c->image != NULL && c->image->path != NULL)
        g_ptr_array_add (paths, g_strdup (c->image->path));
    }
  g_ptr_array_add (paths, NULL);
  return (char **) g_ptr_array_free (paths, FALSE);
}

int
derm_cli_pretrain (int argc, char **argv)
{
  DermPretrainJobConfig cfg;
  derm_pretrain_job_config_init (&cfg);
  g_autofree char *data = NULL, *out = NULL, *arch = NULL, *device = NULL, *resume = NULL;
  g_autofree char *json_log = NULL;
  int epochs = cfg.epochs, batch = cfg.batch, image_size = 0, limit = 0, dim = 0, workers = 0;
  double lr = 0, weight_decay = cfg.weight_decay, checkpoint_every = cfg.checkpoint_every;
  double val_fraction = cfg.val_fraction, test_fraction = cfg.test_fraction;
  gint64 seed = (gint64) cfg.seed;
  gboolean cases = FALSE;
  GOptionEntry entries[] = {
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data, N_("HAM10000 folder"), "DIR" },
    { "cases", 0, 0, G_OPTION_ARG_NONE, &cases,
      N_("Also the images of every case of the case database (no labels needed)"), NULL },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out,
      N_("Start file to write (a classifier with a fresh head, for train --init)"),
      "START.safetensors" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, N_("resnet18, resnet34 or resnet50 (default)"), "ARCH" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, N_("Epochs (default 100)"), "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, N_("Images per batch, two views each (default 64)"), "N" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &image_size, N_("Size in pixels (default 224)"), "PX" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, N_("Peak learning rate (default 0.05 x batch / 256)"), "LR" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &weight_decay, N_("Weight decay (default 1e-4)"), "WD" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &dim,
      N_("Projection width (default: the backbone's features, 512 or 2048)"), "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, N_("auto, cpu, cuda or cuda:N"), "DEVICE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed,
      N_("The split seed of the training that follows: only its training images are used "
         "(default 1)"), "N" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &val_fraction,
      N_("Validation share of lesions, as train (default 0.15)"), "F" },
    { "test-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &test_fraction,
      N_("Test share of lesions, as train (default 0.15)"), "F" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, N_("Use about N lesions, as train --limit"), "N" },
    { "resume", 0, 0, G_OPTION_ARG_FILENAME, &resume, N_("Continue from a checkpoint (OUT.ckpt)"),
      "CHECKPOINT" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_DOUBLE, &checkpoint_every,
      N_("Write the resumable checkpoint at most every SECONDS (default 60, 0 = every epoch)"),
      "SECONDS" },
    { "json-log", 0, 0, G_OPTION_ARG_FILENAME, &json_log,
      N_("Write one JSON object per event line to FILE"), "FILE" },
    { "workers", 0, 0, G_OPTION_ARG_INT, &workers, N_("Decoding threads (default: cores)"), "N" },
    { NULL }
  };
  if (!derm_cli_parse_options (entries, NULL,
                               _("Pretrain a classifier's ResNet backbone without labels "
                                 "(SimSiam: two augmented views of each image agree) on the "
                                 "training split of a HAM10000 folder, never its validation or "
                                 "test images, and optionally the case database's images. "
                                 "The start file goes to train --init."),
                               &argc, &argv))
    return DERM_CLI_EXIT_USAGE;
  const char *usage = NULL;
  if (argc > 1)
    usage = _("pretrain takes no arguments besides its options");
  else if (data == NULL || out == NULL)
    usage = _("pretrain needs --data DIR and --out START.safetensors");
  else if (arch != NULL && (!derm_arch_from_name (arch, &cfg.arch) || cfg.arch == DERM_ARCH_UNET))
    usage = _("--arch must be resnet18, resnet34 or resnet50");
  else if (epochs < 1 || batch < 2 || image_size < 0 || limit < 0 || seed < 0 || dim < 0
           || workers < 0 || !(lr >= 0) || !(weight_decay >= 0) || !(checkpoint_every >= 0))
    usage = _("--epochs must be at least 1, --batch at least 2, and no option negative");
  if (usage != NULL)
    {
      derm_cli_error ("%s", usage);
      return DERM_CLI_EXIT_USAGE;
    }
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) extra = NULL;
  if (cases)
    {
      extra = case_images (&error);
      if (extra == NULL)
        {
          derm_cli_error (_("The case database cannot be read: %s"), error->message);
          return DERM_CLI_EXIT_FAILURE;
        }
    }
  cfg.data_dir = data;
  cfg.out_path = out;
  cfg.epochs = epochs;
  cfg.batch = batch;
  cfg.image_size = image_size;
  cfg.lr = lr;
  cfg.weight_decay = weight_decay;
  cfg.dim = dim;
  cfg.device = device;
  cfg.seed = (guint64) seed;
  cfg.val_fraction = val_fraction;
  cfg.test_fraction = test_fraction;
  cfg.limit = (guint) limit;
  cfg.extra_images = (const char *const *) extra;
  cfg.extra_source = _("the case database");
  cfg.resume = resume;
  cfg.checkpoint_every = checkpoint_every;
  cfg.workers = workers;

  DermCliTrainUi ui = { isatty (STDERR_FILENO) };
  if (json_log != NULL && (ui.json_log = fopen (json_log, "w")) == NULL)
    {
      derm_cli_error (_("cannot write %s: %s"), json_log, g_strerror (errno));
      return DERM_CLI_EXIT_FAILURE;
    }
  const volatile gint *cancel = derm_cli_cancel_begin ();
  gboolean ok = derm_pretrain_job_run (&cfg, derm_cli_train_event_cb, &ui, cancel, &error);
  derm_cli_cancel_end ();
  derm_cli_train_ui_end (&ui);
  if (!ok)
    {
      derm_cli_error ("%s", error->message);
      return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? 130 : DERM_CLI_EXIT_FAILURE;
    }
  return DERM_CLI_EXIT_OK;
}
