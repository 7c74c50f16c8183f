/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-setup.c: the training panel's job form (see derm-train-setup.h):
 * the settings read from and written to its widgets, which of them apply,
 * the folder and weights choosers, the device list and the time estimate. */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-setup"

#include <glib/gi18n.h>

#include "derm-engine.h"
#include "derm-train-setup-private.h"
#include "derm-train-util.h"
#include "derm-train-setup.h"

struct _DermTrainSetup
{
  GtkWidget parent_instance;

  /* template */
  GtkWidget *content;
  GtkWidget *setup_grid;
  GtkDropDown *data_drop, *task_drop, *arch_drop, *init_drop, *finetune_drop, *device_drop;
  GtkDropDown *balance_drop;
  GtkCheckButton *mix_check, *ema_check, *context_check;
  GtkSpinButton *folds_spin;
  GtkEntry *folder_entry, *init_entry;
  GtkButton *folder_button, *init_button;
  GtkSpinButton *epochs_spin, *seg_epochs_spin, *batch_spin, *size_spin, *lr_spin;
  GtkWidget *seg_epochs_label;
  GtkButton *estimate_button, *start_button;
  GtkLabel *estimate_label;

  gboolean running;              /* a job runs: the form is locked */
  GCancellable *estimate_cancellable;
  char **device_names;
  guint limit;                   /* lesions per job (0: all); only tests set it */
  GtkFileChooserNative *chooser;
};

G_DEFINE_FINAL_TYPE (DermTrainSetup, derm_train_setup, GTK_TYPE_WIDGET)

enum { SIGNAL_START, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- Settings from the widgets -------------------------------------------------------- */

static const DermArch archs[] = { DERM_ARCH_RESNET18, DERM_ARCH_RESNET34, DERM_ARCH_RESNET50 };
static const DermFinetune finetunes[] = { DERM_FINETUNE_ALL, DERM_FINETUNE_LAST, DERM_FINETUNE_HEAD };

void
derm_train_setup_read_settings (DermTrainSetup *self, DermTrainSettings *s)
{
  g_return_if_fail (DERM_IS_TRAIN_SETUP (self));
  derm_train_settings_init (s);
  s->data = gtk_drop_down_get_selected (self->data_drop);
  guint task = gtk_drop_down_get_selected (self->task_drop);
  s->classify = task == 0 || task == 2;
  s->segment = task == 1 || task == 2;
  s->arch = archs[MIN (gtk_drop_down_get_selected (self->arch_drop), 2)];
  s->init = gtk_drop_down_get_selected (self->init_drop);
  s->finetune = finetunes[MIN (gtk_drop_down_get_selected (self->finetune_drop), 2)];
  s->epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
  s->seg_epochs = task == 2 ? gtk_spin_button_get_value_as_int (self->seg_epochs_spin) : 0;
  s->batch = gtk_spin_button_get_value_as_int (self->batch_spin);
  s->image_size = gtk_spin_button_get_value_as_int (self->size_spin);
  s->lr = gtk_spin_button_get_value (self->lr_spin);
  s->balance = gtk_drop_down_get_selected (self->balance_drop) == 1 ? DERM_BALANCE_LOGIT_ADJUST
                                                                     : DERM_BALANCE_SAMPLING;
  gboolean mix = gtk_check_button_get_active (self->mix_check);
  s->mixup = mix ? DERM_TRAIN_MIXUP_ALPHA : 0;
  s->cutmix = mix ? DERM_TRAIN_CUTMIX_ALPHA : 0;
  s->ema = gtk_check_button_get_active (self->ema_check) ? DERM_TRAIN_EMA_DECAY : 0;
  s->folds = gtk_spin_button_get_value_as_int (self->folds_spin);
  s->context = gtk_check_button_get_active (self->context_check) ? DERM_PATIENT_ALL : 0;
  g_free (s->device);
  guint d = gtk_drop_down_get_selected (self->device_drop);
  s->device = g_strdup (self->device_names[MIN (d, g_strv_length (self->device_names) - 1)]);
  const char *folder = gtk_editable_get_text (GTK_EDITABLE (self->folder_entry));
  s->folder = *folder ? g_strdup (folder) : NULL;
  const char *init = gtk_editable_get_text (GTK_EDITABLE (self->init_entry));
  s->init_file = *init ? g_strdup (init) : NULL;
  s->limit = self->limit;
}

void
derm_train_setup_write_settings (DermTrainSetup *self, const DermTrainSettings *s)
{
  g_return_if_fail (DERM_IS_TRAIN_SETUP (self));
  gtk_drop_down_set_selected (self->data_drop, s->data);
  gtk_drop_down_set_selected (self->task_drop, s->classify && s->segment ? 2 : s->segment ? 1 : 0);
  for (guint i = 0; i < G_N_ELEMENTS (archs); i++)
    if (archs[i] == s->arch)
      gtk_drop_down_set_selected (self->arch_drop, i);
  gtk_drop_down_set_selected (self->init_drop, s->init);
  for (guint i = 0; i < G_N_ELEMENTS (finetunes); i++)
    if (finetunes[i] == s->finetune)
      gtk_drop_down_set_selected (self->finetune_drop, i);
  gtk_spin_button_set_value (self->epochs_spin, s->epochs);
  gtk_spin_button_set_value (self->seg_epochs_spin, s->seg_epochs > 0 ? s->seg_epochs : s->epochs);
  gtk_spin_button_set_value (self->batch_spin, s->batch);
  gtk_spin_button_set_value (self->size_spin, s->image_size);
  gtk_spin_button_set_value (self->lr_spin, s->lr);
  gtk_drop_down_set_selected (self->balance_drop, s->balance == DERM_BALANCE_LOGIT_ADJUST ? 1 : 0);
  gtk_check_button_set_active (self->mix_check, s->mixup > 0 || s->cutmix > 0);
  gtk_check_button_set_active (self->ema_check, s->ema > 0);
  gtk_spin_button_set_value (self->folds_spin, MAX (s->folds, 1));
  gtk_check_button_set_active (self->context_check, s->context != 0);
  gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), s->folder != NULL ? s->folder : "");
  gtk_editable_set_text (GTK_EDITABLE (self->init_entry), s->init_file != NULL ? s->init_file : "");
  for (guint i = 0; self->device_names[i] != NULL; i++)
    if (g_strcmp0 (self->device_names[i], s->device) == 0)
      gtk_drop_down_set_selected (self->device_drop, i);
}

static void
update_sensitivity (DermTrainSetup *self)
{
  gboolean running = self->running;
  gboolean folder = gtk_drop_down_get_selected (self->data_drop) != DERM_TRAIN_DATA_CASES;
  gboolean file = gtk_drop_down_get_selected (self->init_drop) == DERM_TRAIN_INIT_FILE;
  gboolean classify = gtk_drop_down_get_selected (self->task_drop) != 1;
  gtk_widget_set_sensitive (self->setup_grid, !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->folder_entry), folder);
  gtk_widget_set_sensitive (GTK_WIDGET (self->folder_button), folder);
  gtk_widget_set_sensitive (GTK_WIDGET (self->init_entry), file);
  gtk_widget_set_sensitive (GTK_WIDGET (self->init_button), file);
  gtk_widget_set_sensitive (GTK_WIDGET (self->arch_drop), classify);
  gtk_widget_set_sensitive (GTK_WIDGET (self->finetune_drop), classify);
  gboolean both = gtk_drop_down_get_selected (self->task_drop) == 2;
  gtk_widget_set_sensitive (GTK_WIDGET (self->seg_epochs_spin), both);
  gtk_widget_set_sensitive (self->seg_epochs_label, both);
  gtk_widget_set_sensitive (GTK_WIDGET (self->start_button), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->estimate_button),
                            !running && self->estimate_cancellable == NULL);
}

static void
setting_changed_cb (GObject *object, GParamSpec *pspec, DermTrainSetup *self)
{
  update_sensitivity (self);
}

void
derm_train_setup_set_running (DermTrainSetup *self, gboolean running)
{
  g_return_if_fail (DERM_IS_TRAIN_SETUP (self));
  self->running = running;
  update_sensitivity (self);
}

void
derm_train_setup_set_folder (DermTrainSetup *self, const char *folder)
{
  g_return_if_fail (DERM_IS_TRAIN_SETUP (self));
  gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), folder != NULL ? folder : "");
}

/* ---- File choosers ---------------------------------------------------------------- */

static void
folder_chosen (GtkWidget *owner, GFile *file)
{
  DermTrainSetup *self = DERM_TRAIN_SETUP (owner);
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), path);
}

static void
init_chosen (GtkWidget *owner, GFile *file)
{
  DermTrainSetup *self = DERM_TRAIN_SETUP (owner);
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->init_entry), path);
}

static void
folder_button_clicked_cb (GtkButton *button, DermTrainSetup *self)
{
  _derm_train_choose_file (GTK_WIDGET (self), &self->chooser, _("Choose a HAM10000 Folder"),
                           GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Choose"), NULL, NULL,
                           folder_chosen);
}

static void
init_button_clicked_cb (GtkButton *button, DermTrainSetup *self)
{
  _derm_train_choose_file (GTK_WIDGET (self), &self->chooser, _("Choose Starting Weights"),
                           GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"), "*.safetensors", NULL,
                           init_chosen);
}

/* ---- Estimate ---------------------------------------------------------------------- */

static void
estimated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(DermTrainSetup) self = g_weak_ref_get (ref);
  g_weak_ref_clear (ref);
  g_free (ref);
  g_autoptr(GError) error = NULL;
  guint n = 0;
  double seconds = 0;
  double ips = derm_train_estimate_finish (result, &n, &seconds, &error);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->estimate_cancellable);
  if (ips <= 0)
    {
      DermTrainSettings s;
      derm_train_setup_read_settings (self, &s);
      g_autofree char *msg = derm_train_describe_error (error, &s);
      derm_train_settings_clear (&s);
      gtk_label_set_text (self->estimate_label, msg);
    }
  else
    {
      g_autofree char *d = _derm_train_format_duration (seconds);
      DermTrainSettings s;
      derm_train_setup_read_settings (self, &s);
      g_autofree char *path = derm_train_describe_path (&s);
      derm_train_settings_clear (&s);
      /* Translators: an estimate before training; %s a duration, %u images, %.1f speed, %s
       * the compute path ("the CPU in fp32") */
      g_autofree char *msg = g_strdup_printf (_("Estimate: about %s for the training epochs on %u images "
                                                "(measured %.1f images/s over a few steps on %s; "
                                                "decoding and test evaluation come on top)."),
                                              d, n, ips, path);
      gtk_label_set_text (self->estimate_label, msg);
    }
  update_sensitivity (self);
}

void
derm_train_setup_estimate (DermTrainSetup *self)
{
  g_return_if_fail (DERM_IS_TRAIN_SETUP (self));
  if (self->running || self->estimate_cancellable != NULL)
    return;
  DermTrainSettings s;
  derm_train_setup_read_settings (self, &s);
  self->estimate_cancellable = g_cancellable_new ();
  gtk_label_set_text (self->estimate_label, _("Measuring a few training steps…"));
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_train_estimate_async (&s, self->estimate_cancellable, estimated_cb, ref);
  derm_train_settings_clear (&s);
  update_sensitivity (self);
}

static void
estimate_button_clicked_cb (GtkButton *button, DermTrainSetup *self)
{
  derm_train_setup_estimate (self);
}

/* ---- Start ------------------------------------------------------------------------------ */

static void
start_button_clicked_cb (GtkButton *button, DermTrainSetup *self)
{
  g_signal_emit (self, signals[SIGNAL_START], 0);
}

/* ---- Private (the panel, tests) ---------------------------------------------------------- */

void
_derm_train_setup_set_limit (DermTrainSetup *self, guint lesions)
{
  self->limit = lesions;
}

void
_derm_train_setup_describe (DermTrainSetup *self, GString *out)
{
  DermTrainSettings s;
  derm_train_setup_read_settings (self, &s);
  g_string_append_printf (out, "setup_folder=%s\n", s.folder != NULL ? s.folder : "");
  g_string_append_printf (out, "setup_task=%s\n", s.classify && s.segment ? "both"
                                                   : s.segment ? "segmenter" : "classifier");
  g_string_append_printf (out, "setup_arch=%s\n", derm_arch_name (s.arch));
  g_string_append_printf (out, "setup_epochs=%d\nsetup_seg_epochs=%d\nsetup_size=%d\n", s.epochs,
                          s.seg_epochs, s.image_size);
  g_string_append_printf (out, "setup_estimate=%s\n", gtk_label_get_text (self->estimate_label));
  derm_train_settings_clear (&s);
}

gboolean
_derm_train_setup_get_estimating (DermTrainSetup *self)
{
  return self->estimate_cancellable != NULL;
}

GtkNativeDialog *
_derm_train_setup_get_file_chooser (DermTrainSetup *self)
{
  return self->chooser != NULL ? GTK_NATIVE_DIALOG (self->chooser) : NULL;
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
setup_devices (DermTrainSetup *self)
{
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr(GtkStringList) labels = gtk_string_list_new (NULL);
  g_strv_builder_add (names, "auto");
  gtk_string_list_append (labels, _("Automatic (GPU when present)"));
  g_strv_builder_add (names, "cpu");
  gtk_string_list_append (labels, _("CPU"));
  int n = derm_engine_cuda_available () ? derm_engine_cuda_device_count () : 0;
  for (int i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("cuda:%d", i);
      g_autofree char *name = derm_engine_cuda_device_name (i);
      g_strv_builder_add (names, id);
      gtk_string_list_append (labels, name != NULL ? name : id);
    }
  self->device_names = g_strv_builder_end (names);
  gtk_drop_down_set_model (self->device_drop, G_LIST_MODEL (labels));
}

static void
derm_train_setup_dispose (GObject *object)
{
  DermTrainSetup *self = DERM_TRAIN_SETUP (object);
  if (self->estimate_cancellable != NULL)
    g_cancellable_cancel (self->estimate_cancellable);
  g_clear_object (&self->estimate_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_pointer (&self->device_names, g_strfreev);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_TRAIN_SETUP);
  G_OBJECT_CLASS (derm_train_setup_parent_class)->dispose (object);
}

static void
derm_train_setup_class_init (DermTrainSetupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_train_setup_dispose;

  signals[SIGNAL_START] =
    g_signal_new ("start", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-train-setup.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, DermTrainSetup, name)
  BIND (content); BIND (setup_grid);
  BIND (data_drop); BIND (task_drop); BIND (arch_drop); BIND (init_drop); BIND (finetune_drop);
  BIND (device_drop); BIND (balance_drop); BIND (mix_check); BIND (ema_check); BIND (context_check);
  BIND (folds_spin);
  BIND (folder_entry); BIND (init_entry); BIND (folder_button); BIND (init_button);
  BIND (epochs_spin); BIND (seg_epochs_spin); BIND (seg_epochs_label); BIND (batch_spin); BIND (size_spin); BIND (lr_spin);
  BIND (estimate_button); BIND (start_button); BIND (estimate_label);
#undef BIND
}

static void
derm_train_setup_init (DermTrainSetup *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  setup_devices (self);

#define CLICK(name) g_signal_connect (self->name, "clicked", G_CALLBACK (name##_clicked_cb), self)
  CLICK (folder_button); CLICK (init_button); CLICK (estimate_button); CLICK (start_button);
#undef CLICK
  g_signal_connect (self->data_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  g_signal_connect (self->init_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  g_signal_connect (self->task_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  update_sensitivity (self);
}
