/* derm-train-panel.c: the training panel (see derm-train-panel.h). */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-panel"

#include <math.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-engine.h"
#include "derm-error.h"
#include "derm-model-card.h"
#include "derm-registry.h"
#include "derm-safetensors.h"
#include "derm-store.h"
#include "derm-train-charts.h"
#include "derm-train-panel-private.h"

struct _DermTrainPanel
{
  GtkWidget parent_instance;

  /* template */
  GtkWidget *content;
  GtkStack *stack;
  GtkWidget *setup_grid;
  GtkDropDown *data_drop, *task_drop, *arch_drop, *init_drop, *finetune_drop, *device_drop;
  GtkDropDown *balance_drop;
  GtkCheckButton *mix_check, *ema_check;
  GtkSpinButton *folds_spin;
  GtkEntry *folder_entry, *init_entry;
  GtkButton *folder_button, *init_button;
  GtkSpinButton *epochs_spin, *batch_spin, *size_spin, *lr_spin;
  GtkButton *estimate_button, *start_button, *cancel_button, *resume_button;
  GtkLabel *estimate_label, *stage_label;
  GtkProgressBar *progress_bar;
  DermCurve *curve;
  GtkGrid *recall_grid;
  GtkTextView *log_view;
  GtkWidget *result_box;
  GtkLabel *result_label;
  DermConfusion *confusion;
  GtkGrid *class_grid;
  GtkButton *compare_button, *activate_result_button;
  GtkListBox *versions_list;
  GtkLabel *compare_title, *versions_status;
  GtkGrid *compare_grid;
  GtkButton *import_button, *activate_button, *export_button, *delete_button, *card_button;
  char *card_text;            /* the last model card shown, for tests */

  DermTrainRunner *runner;
  GCancellable *estimate_cancellable;
  GtkLevelBar *recall_bars[DERM_N_CLASSES];
  GtkLabel *recall_values[DERM_N_CLASSES];
  char **device_names;
  GPtrArray *versions;          /* DermModelVersion, newest first */
  gint64 selected_version;
  gint64 new_version;            /* the last version the job registered */
  guint limit;                   /* lesions per job (0: all); only tests set it */
  gint64 new_versions[2];        /* by DermModelKind: what the job registered, 0: none */
  gint64 pending_select;
  GtkFileChooserNative *chooser;
  /* progress as last seen, for tests and the screenshot */
  guint n_step_events;
  int batch;
};

G_DEFINE_FINAL_TYPE (DermTrainPanel, derm_train_panel, GTK_TYPE_WIDGET)

enum { SIGNAL_VERSION_ACTIVATED, SIGNAL_VERSIONS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void refresh_compare (DermTrainPanel *self);

/* ---- Small helpers ----------------------------------------------------------------- */

static char *
format_duration (double seconds)
{
  if (!isfinite (seconds) || seconds < 0)
    return g_strdup ("–");
  gint64 s = (gint64) (seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", s / 3600, (int) (s / 60 % 60), (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

static void
log_line (DermTrainPanel *self, const char *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);
  GtkTextIter end;
  gtk_text_buffer_get_end_iter (buffer, &end);
  if (gtk_text_buffer_get_char_count (buffer) > 0)
    gtk_text_buffer_insert (buffer, &end, "\n", 1);
  gtk_text_buffer_insert (buffer, &end, text, -1);
  gtk_text_buffer_get_end_iter (buffer, &end);
  GtkTextMark *mark = gtk_text_buffer_get_insert (buffer);
  gtk_text_buffer_place_cursor (buffer, &end);
  gtk_text_view_scroll_mark_onscreen (self->log_view, mark);
}

static JsonObject *
parse_object (JsonParser *parser, const char *json)
{
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

static double
object_number (JsonObject *o, const char *name)
{
  if (o == NULL)
    return NAN;
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return NAN;
  return json_node_get_double (n);
}

static JsonObject *
class_object (JsonObject *metrics, int c)
{
  if (metrics == NULL || !json_object_has_member (metrics, "per_class"))
    return NULL;
  JsonObject *pc = json_object_get_object_member (metrics, "per_class");
  if (pc == NULL || !json_object_has_member (pc, derm_class_code (c)))
    return NULL;
  return json_object_get_object_member (pc, derm_class_code (c));
}

static char *
format_number (double v)
{
  return isfinite (v) ? g_strdup_printf ("%.3f", v) : g_strdup ("–");
}

static const char *
kind_label (DermModelKind kind)
{
  return kind == DERM_MODEL_KIND_CLASSIFIER ? _("Classifier") : _("Segmenter");
}

static char *
format_time (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (t);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M") : g_strdup ("");
}

static const DermModelVersion *
find_version (DermTrainPanel *self, gint64 id)
{
  for (guint i = 0; self->versions != NULL && i < self->versions->len; i++)
    {
      const DermModelVersion *v = self->versions->pdata[i];
      if (v->id == id)
        return v;
    }
  return NULL;
}

static const DermModelVersion *
find_active (DermTrainPanel *self, DermModelKind kind)
{
  for (guint i = 0; self->versions != NULL && i < self->versions->len; i++)
    {
      const DermModelVersion *v = self->versions->pdata[i];
      if (v->kind == kind && v->active)
        return v;
    }
  return NULL;
}

static void
show_error (DermTrainPanel *self, const char *primary, const char *secondary)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *dialog = gtk_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                              GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                              GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, "%s", primary);
  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", secondary);
  g_signal_connect (dialog, "response", G_CALLBACK (gtk_window_destroy), NULL);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- Settings from the widgets -------------------------------------------------------- */

static const DermArch archs[] = { DERM_ARCH_RESNET18, DERM_ARCH_RESNET34, DERM_ARCH_RESNET50 };
static const DermFinetune finetunes[] = { DERM_FINETUNE_ALL, DERM_FINETUNE_LAST, DERM_FINETUNE_HEAD };

static void
read_settings (DermTrainPanel *self, DermTrainSettings *s)
{
  derm_train_settings_init (s);
  s->data = gtk_drop_down_get_selected (self->data_drop);
  guint task = gtk_drop_down_get_selected (self->task_drop);
  s->classify = task == 0 || task == 2;
  s->segment = task == 1 || task == 2;
  s->arch = archs[MIN (gtk_drop_down_get_selected (self->arch_drop), 2)];
  s->init = gtk_drop_down_get_selected (self->init_drop);
  s->finetune = finetunes[MIN (gtk_drop_down_get_selected (self->finetune_drop), 2)];
  s->epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
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
  g_free (s->device);
  guint d = gtk_drop_down_get_selected (self->device_drop);
  s->device = g_strdup (self->device_names[MIN (d, g_strv_length (self->device_names) - 1)]);
  const char *folder = gtk_editable_get_text (GTK_EDITABLE (self->folder_entry));
  s->folder = *folder ? g_strdup (folder) : NULL;
  const char *init = gtk_editable_get_text (GTK_EDITABLE (self->init_entry));
  s->init_file = *init ? g_strdup (init) : NULL;
  s->limit = self->limit;
}

static void
write_settings (DermTrainPanel *self, const DermTrainSettings *s)
{
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
  gtk_spin_button_set_value (self->batch_spin, s->batch);
  gtk_spin_button_set_value (self->size_spin, s->image_size);
  gtk_spin_button_set_value (self->lr_spin, s->lr);
  gtk_drop_down_set_selected (self->balance_drop, s->balance == DERM_BALANCE_LOGIT_ADJUST ? 1 : 0);
  gtk_check_button_set_active (self->mix_check, s->mixup > 0 || s->cutmix > 0);
  gtk_check_button_set_active (self->ema_check, s->ema > 0);
  gtk_spin_button_set_value (self->folds_spin, MAX (s->folds, 1));
  gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), s->folder != NULL ? s->folder : "");
  gtk_editable_set_text (GTK_EDITABLE (self->init_entry), s->init_file != NULL ? s->init_file : "");
  for (guint i = 0; self->device_names[i] != NULL; i++)
    if (g_strcmp0 (self->device_names[i], s->device) == 0)
      gtk_drop_down_set_selected (self->device_drop, i);
}

static void
update_sensitivity (DermTrainPanel *self)
{
  gboolean running = derm_train_runner_is_running (self->runner);
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
  gtk_widget_set_sensitive (GTK_WIDGET (self->start_button), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->estimate_button),
                            !running && self->estimate_cancellable == NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->cancel_button), running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->resume_button),
                            !running && derm_train_runner_can_resume (self->runner));
}

static void
setting_changed_cb (GObject *object, GParamSpec *pspec, DermTrainPanel *self)
{
  update_sensitivity (self);
}

/* ---- File choosers ---------------------------------------------------------------- */

typedef void (*ChosenFunc) (DermTrainPanel *self, GFile *file);

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, DermTrainPanel *self)
{
  ChosenFunc func = g_object_get_data (G_OBJECT (dialog), "chosen-func");
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (file != NULL)
        func (self, file);
    }
  gtk_native_dialog_destroy (dialog);
  g_clear_object (&self->chooser);
}

static void
choose_file (DermTrainPanel *self, const char *title, GtkFileChooserAction action,
             const char *accept, const char *pattern, const char *current_name, ChosenFunc func)
{
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  self->chooser = gtk_file_chooser_native_new (title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                               action, accept, _("_Cancel"));
  if (pattern != NULL)
    {
      g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
      gtk_file_filter_set_name (filter, _("Model weights (safetensors)"));
      gtk_file_filter_add_pattern (filter, pattern);
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
    }
  if (current_name != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (self->chooser), current_name);
  g_object_set_data (G_OBJECT (self->chooser), "chosen-func", func);
  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
folder_chosen (DermTrainPanel *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), path);
}

static void
init_chosen (DermTrainPanel *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->init_entry), path);
}

static void
folder_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  choose_file (self, _("Choose a HAM10000 Folder"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
               _("_Choose"), NULL, NULL, folder_chosen);
}

static void
init_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  choose_file (self, _("Choose Starting Weights"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"),
               "*.safetensors", NULL, init_chosen);
}

/* ---- Estimate ---------------------------------------------------------------------- */

static void
estimated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(DermTrainPanel) self = g_weak_ref_get (ref);
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
      read_settings (self, &s);
      g_autofree char *msg = derm_train_describe_error (error, &s);
      derm_train_settings_clear (&s);
      gtk_label_set_text (self->estimate_label, msg);
    }
  else
    {
      g_autofree char *d = format_duration (seconds);
      DermTrainSettings s;
      read_settings (self, &s);
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

static void
estimate_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  DermTrainSettings s;
  read_settings (self, &s);
  self->estimate_cancellable = g_cancellable_new ();
  gtk_label_set_text (self->estimate_label, _("Measuring a few training steps…"));
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_train_estimate_async (&s, self->estimate_cancellable, estimated_cb, ref);
  derm_train_settings_clear (&s);
  update_sensitivity (self);
}

/* ---- Live progress ------------------------------------------------------------------ */

static void
clear_recall (DermTrainPanel *self)
{
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      gtk_level_bar_set_value (self->recall_bars[c], 0);
      gtk_label_set_text (self->recall_values[c], "–");
    }
}

static void
reset_live (DermTrainPanel *self)
{
  derm_curve_clear (self->curve);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  clear_recall (self);
  gtk_widget_set_visible (self->result_box, FALSE);
  derm_confusion_set (self->confusion, NULL);
  self->n_step_events = 0;
}

static const char *
task_label (const DermTrainRunnerEvent *e)
{
  return e->task == DERM_TASK_CLASSIFY ? _("Classifier") : _("Segmenter");
}

/* " (member 2 of 5)" while an ensemble's member trains, else "".
 * Returns: (transfer full). */
static char *
member_label (const DermTrainRunnerEvent *e)
{
  if (e->members > 1 && e->member >= 0)
    return g_strdup_printf (_(" (member %d of %d)"), e->member + 1, e->members);
  return g_strdup ("");
}

static void
set_bar (DermTrainPanel *self, const DermTrainRunnerEvent *e, const char *what, double fraction)
{
  g_autofree char *member = member_label (e);
  g_autofree char *prefix = e->n_tasks > 1
                              ? g_strdup_printf ("(%d/%d) %s%s · ", e->task_index + 1, e->n_tasks,
                                                 task_label (e), member)
                              : g_strdup_printf ("%s%s · ", task_label (e), member);
  g_autofree char *text = g_strconcat (prefix, what, NULL);
  gtk_progress_bar_set_text (self->progress_bar, text);
  gtk_progress_bar_set_fraction (self->progress_bar, CLAMP (fraction, 0, 1));
}

static void
show_recall (DermTrainPanel *self, const char *json)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *m = parse_object (p, json);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      double r = object_number (class_object (m, c), "recall");
      gtk_level_bar_set_value (self->recall_bars[c], isfinite (r) ? r : 0);
      g_autofree char *t = isfinite (r) ? g_strdup_printf ("%.2f", r) : g_strdup (_("no images"));
      gtk_label_set_text (self->recall_values[c], t);
    }
}

static void
grid_clear (GtkGrid *grid)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (grid))) != NULL)
    gtk_grid_remove (grid, child);
}

static GtkWidget *
cell (const char *text, gboolean heading, float xalign)
{
  GtkWidget *label = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (label), xalign);
  gtk_label_set_selectable (GTK_LABEL (label), FALSE);
  if (heading)
    gtk_widget_add_css_class (label, "heading");
  else
    gtk_widget_add_css_class (label, "numeric");
  return label;
}

static void
show_test_metrics (DermTrainPanel *self, const DermTrainRunnerEvent *e)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *m = parse_object (p, e->json);
  if (m == NULL)
    return;
  gtk_widget_set_visible (self->result_box, TRUE);
  if (e->task != DERM_TASK_CLASSIFY)
    {
      g_autofree char *t = g_strdup_printf (_("Segmenter on the test split: Dice %.3f, Jaccard %.3f "
                                              "(%d images)"),
                                            object_number (m, "dice"), object_number (m, "jaccard"),
                                            (int) object_number (m, "n"));
      log_line (self, t);
      if (!derm_confusion_has_data (self->confusion))
        gtk_label_set_text (self->result_label, t);
      return;
    }
  int counts[DERM_N_CLASSES][DERM_N_CLASSES] = { { 0 } };
  JsonArray *rows = json_object_has_member (m, "confusion") ? json_object_get_array_member (m, "confusion") : NULL;
  for (guint t = 0; rows != NULL && t < MIN (json_array_get_length (rows), DERM_N_CLASSES); t++)
    {
      JsonArray *row = json_array_get_array_element (rows, t);
      for (guint c = 0; row != NULL && c < MIN (json_array_get_length (row), DERM_N_CLASSES); c++)
        counts[t][c] = (int) json_array_get_int_element (row, c);
    }
  derm_confusion_set (self->confusion, counts);

  grid_clear (self->class_grid);
  const char *heads[] = { N_("Class"), N_("Precision"), N_("Recall"), N_("F1"), N_("Images") };
  for (int h = 0; h < 5; h++)
    gtk_grid_attach (self->class_grid, cell (_(heads[h]), TRUE, h == 0 ? 0 : 1), h, 0, 1, 1);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      JsonObject *co = class_object (m, c);
      g_autofree char *name = g_strdup_printf ("%s (%s)", derm_class_name (c), derm_class_code (c));
      g_autofree char *pr = format_number (object_number (co, "precision"));
      g_autofree char *re = format_number (object_number (co, "recall"));
      g_autofree char *f1 = format_number (object_number (co, "f1"));
      g_autofree char *n = g_strdup_printf ("%d", (int) object_number (co, "support"));
      gtk_grid_attach (self->class_grid, cell (name, FALSE, 0), 0, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, cell (pr, FALSE, 1), 1, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, cell (re, FALSE, 1), 2, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, cell (f1, FALSE, 1), 3, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, cell (n, FALSE, 1), 4, c + 1, 1, 1);
    }
  g_autofree char *t = g_strdup_printf (_("Classifier on the test split (%d images): balanced accuracy "
                                          "%.3f, accuracy %.3f, macro F1 %.3f"),
                                        (int) object_number (m, "n"),
                                        object_number (m, "balanced_accuracy"),
                                        object_number (m, "accuracy"), object_number (m, "macro_f1"));
  gtk_label_set_text (self->result_label, t);
  log_line (self, t);
}

static void
runner_event_cb (DermTrainRunner *runner, DermTrainRunnerEvent *e, DermTrainPanel *self)
{
  switch (e->type)
    {
    case DERM_TRAIN_EVENT_MESSAGE:
      log_line (self, e->message);
      break;
    case DERM_TRAIN_RUNNER_EVENT_PREPARE:
      {
        g_autofree char *t = g_strdup_printf (_("checking images %u/%u"), e->done, e->total);
        set_bar (self, e, t, e->total > 0 ? (double) e->done / e->total : 0);
        gtk_label_set_text (self->stage_label, _("Preparing the training data: every image is "
                                                 "checked; unreadable ones are skipped and counted."));
      }
      break;
    case DERM_TRAIN_EVENT_DATASET:
      /* Per-class recall is the classifier's: blank while the segmenter trains. */
      if (e->task != DERM_TASK_CLASSIFY)
        clear_recall (self);
      {
        g_autofree char *t = g_strdup_printf (_("%s: %u training, %u validation, %u test images"),
                                              task_label (e), e->n_train, e->n_val, e->n_test);
        log_line (self, t);
      }
      break;
    case DERM_TRAIN_EVENT_CACHE:
      {
        g_autofree char *t = g_strdup_printf (_("decoding images %u/%u"), e->done, e->total);
        set_bar (self, e, t, e->total > 0 ? (double) e->done / e->total : 0);
        gtk_label_set_text (self->stage_label, _("Decoding the images once at the training size."));
      }
      break;
    case DERM_TRAIN_EVENT_STEP:
      {
        self->n_step_events++;
        if (e->step == 1)
          derm_curve_truncate (self->curve, e->epoch);   /* a resumed epoch starts again */
        derm_curve_set_epochs (self->curve, e->epochs);
        derm_curve_set_metric_name (self->curve, e->task == DERM_TASK_CLASSIFY
                                                   ? _("Validation balanced accuracy")
                                                   : _("Validation Dice"));
        double x = e->epoch + (e->steps > 0 ? (double) e->step / e->steps : 0);
        derm_curve_add_loss (self->curve, x, e->loss);
        g_autofree char *elapsed = format_duration (e->elapsed_seconds);
        g_autofree char *eta = format_duration (e->eta_seconds);
        /* Translators: the training progress bar */
        g_autofree char *t = g_strdup_printf (_("epoch %d/%d · step %d/%d · %.1f images/s · %s elapsed · "
                                                "about %s left"),
                                              e->epoch + 1, e->epochs, e->step, e->steps,
                                              e->images_per_second, elapsed, eta);
        double fraction = e->steps > 0 && e->epochs > 0
                            ? (e->epoch + (double) e->step / e->steps) / e->epochs : 0;
        if (e->members > 1 && e->member >= 0)
          fraction = (e->member + fraction) / e->members;
        set_bar (self, e, t, fraction);
        g_autofree char *stage = g_strdup_printf (_("Training. Loss (running mean of the epoch): %.4f; "
                                                    "learning rate follows a cosine schedule."),
                                                  e->loss);
        gtk_label_set_text (self->stage_label, stage);
      }
      break;
    case DERM_TRAIN_EVENT_EPOCH:
      {
        derm_curve_add_metric (self->curve, e->epoch + 1, e->val_metric);
        if (e->json != NULL)
          show_recall (self, e->json);
        g_autofree char *member = member_label (e);
        g_autofree char *t = g_strdup_printf (_("%s%s epoch %d/%d: loss %.4f, validation %s %.3f%s"),
                                              task_label (e), member, e->epoch + 1, e->epochs, e->loss,
                                              e->task == DERM_TASK_CLASSIFY ? _("balanced accuracy")
                                                                            : _("Dice"),
                                              e->val_metric, e->is_best ? _(" (best so far, saved)") : "");
        log_line (self, t);
      }
      break;
    case DERM_TRAIN_EVENT_EARLY_STOP:
      {
        g_autofree char *t = g_strdup_printf (_("Stopped early after epoch %d: the validation metric "
                                                "no longer improved."), e->epoch + 1);
        log_line (self, t);
      }
      break;
    case DERM_TRAIN_EVENT_CALIBRATED:
      {
        g_autofree char *t = g_strdup_printf (_("Calibrated on the validation split: temperature %.2f"),
                                              e->temperature);
        log_line (self, t);
      }
      break;
    case DERM_TRAIN_EVENT_EVALUATING:
      {
        g_autofree char *t = g_strdup_printf (_("evaluating on the test split %u/%u"), e->done, e->total);
        set_bar (self, e, t, e->total > 0 ? (double) e->done / e->total : 0);
        gtk_label_set_text (self->stage_label, _("Evaluating the best epoch on the held-out test split."));
      }
      break;
    case DERM_TRAIN_EVENT_TEST:
      show_test_metrics (self, e);
      break;
    case DERM_TRAIN_RUNNER_EVENT_REGISTERED:
      {
        self->new_version = e->version_id;
        self->new_versions[e->task == DERM_TASK_CLASSIFY ? DERM_MODEL_KIND_CLASSIFIER
                                                         : DERM_MODEL_KIND_SEGMENTER] = e->version_id;
        g_autofree char *base = g_path_get_basename (e->message);
        g_autofree char *t = g_strdup_printf (_("Saved as version %lld (%s); it is not "
                                                "active yet."), (long long) e->version_id, base);
        log_line (self, t);
        gtk_widget_set_visible (self->result_box, TRUE);
        self->pending_select = e->version_id;
        derm_train_panel_refresh_versions (self);
      }
      break;
    default:
      break;
    }
}

static void
runner_finished_cb (DermTrainRunner *runner, const GError *error, DermTrainPanel *self)
{
  if (error == NULL)
    {
      gtk_progress_bar_set_fraction (self->progress_bar, 1);
      gtk_progress_bar_set_text (self->progress_bar, _("Finished"));
      g_autofree char *t = NULL;
      if (self->new_versions[DERM_MODEL_KIND_CLASSIFIER] > 0
          && self->new_versions[DERM_MODEL_KIND_SEGMENTER] > 0)
        t = g_strdup_printf (_("Finished: new versions %lld (classifier) and %lld (segmenter) are "
                               "registered. Compare each with its active version and activate "
                               "them if they are better."),
                             (long long) self->new_versions[DERM_MODEL_KIND_CLASSIFIER],
                             (long long) self->new_versions[DERM_MODEL_KIND_SEGMENTER]);
      else
        t = g_strdup_printf (_("Finished: new version %lld is registered. "
                               "Compare it with the active version and activate it "
                               "if it is better."), (long long) self->new_version);
      gtk_label_set_text (self->stage_label, t);
    }
  else if (g_error_matches (error, DERM_ERROR, DERM_ERROR_CANCELLED))
    {
      gtk_progress_bar_set_text (self->progress_bar, _("Stopped"));
      gtk_label_set_text (self->stage_label, _("Stopped. The best model so far and a checkpoint are "
                                               "kept: Resume continues the job."));
      gint64 after = derm_train_runner_get_steps_after_cancel (runner);
      g_autofree char *t = g_strdup_printf (_("Stopped %lld step(s) after the request; "
                                              "Resume continues from the checkpoint."), (long long) MAX (after, 0));
      log_line (self, t);
    }
  else
    {
      DermTrainSettings s;
      read_settings (self, &s);
      g_autofree char *msg = derm_train_describe_error (error, &s);
      derm_train_settings_clear (&s);
      gtk_progress_bar_set_text (self->progress_bar, _("Failed"));
      g_autofree char *t = g_strdup_printf (_("The job failed: %s"), msg);
      gtk_label_set_text (self->stage_label, t);
      log_line (self, t);
    }
  update_sensitivity (self);
}

/* ---- Start / stop / resume ------------------------------------------------------------ */

static void
start_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  DermTrainSettings s;
  read_settings (self, &s);
  g_autoptr(GError) error = NULL;
  reset_live (self);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->log_view), "", 0);
  self->new_version = 0;
  self->new_versions[0] = self->new_versions[1] = 0;
  self->batch = s.batch;
  if (!derm_train_runner_start (self->runner, &s, &error))
    gtk_label_set_text (self->stage_label, error->message);
  else
    gtk_label_set_text (self->stage_label, _("Starting…"));
  derm_train_settings_clear (&s);
  update_sensitivity (self);
}

static void
cancel_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  derm_train_runner_cancel (self->runner);
  gtk_label_set_text (self->stage_label, _("Stopping after the current step…"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->cancel_button), FALSE);
}

static void
resume_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  g_autofree char *json = derm_train_runner_get_resume_settings (self->runner);
  DermTrainSettings s;
  derm_train_settings_init (&s);
  if (json != NULL && derm_train_settings_from_json (&s, json, NULL))
    write_settings (self, &s);
  derm_train_settings_clear (&s);
  g_autoptr(GError) error = NULL;
  gtk_widget_set_visible (self->result_box, FALSE);
  if (!derm_train_runner_resume (self->runner, &error))
    gtk_label_set_text (self->stage_label, error->message);
  else
    gtk_label_set_text (self->stage_label, _("Resuming…"));
  update_sensitivity (self);
}

/* ---- Versions ------------------------------------------------------------------------- */

typedef enum { OP_LIST, OP_ACTIVATE, OP_DELETE, OP_IMPORT, OP_EXPORT } OpKind;

typedef struct {
  OpKind kind;
  gint64 id;
  char *path;
  GPtrArray *versions;
  int model_kind;
  GWeakRef panel;
} StoreOp;

static void
store_op_free (StoreOp *op)
{
  g_free (op->path);
  g_clear_pointer (&op->versions, g_ptr_array_unref);
  g_weak_ref_clear (&op->panel);
  g_free (op);
}

/* The registry operation @op, then the versions as they now are. */
static void
store_op_worker (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  StoreOp *op = data;
  GError *error = NULL;
  g_autoptr(DermStore) store = derm_store_open (NULL, &error);
  gboolean ok = store != NULL;
  DermModelKind kind = DERM_MODEL_KIND_CLASSIFIER;
  if (ok && op->kind == OP_IMPORT)
    ok = (op->id = derm_registry_import (store, op->path, NULL, &kind, &error)) > 0;
  else if (ok && op->kind == OP_ACTIVATE)
    ok = derm_registry_activate (store, op->id, &kind, &error);
  else if (ok && op->kind == OP_DELETE)
    ok = derm_registry_delete (store, op->id, &error);
  else if (ok && op->kind == OP_EXPORT)
    ok = derm_registry_export (store, op->id, op->path, &error);
  op->model_kind = kind;
  if (ok && op->kind != OP_EXPORT)
    ok = (op->versions = derm_store_list_models (store, -1, &error)) != NULL;
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
run_store_op (DermTrainPanel *self, StoreOp *op, GAsyncReadyCallback callback)
{
  g_weak_ref_init (&op->panel, self);
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, op);
  g_task_set_task_data (task, op, (GDestroyNotify) store_op_free);
  g_task_run_in_thread (task, store_op_worker);
}

static GtkWidget *
version_row (const DermModelVersion *v)
{
  g_autofree char *when = format_time (v->created);
  g_autofree char *summary = derm_registry_version_summary (v);
  g_autofree char *head = g_markup_printf_escaped ("<b>%s %" G_GINT64_FORMAT "</b> · %s · %s",
                                                   _("Version"), v->id, kind_label (v->kind),
                                                   v->architecture);
  g_autofree char *active = g_markup_printf_escaped (" · <b>%s</b>", _("active"));
  g_autofree char *title = g_strconcat (head, v->active ? active : "", NULL);
  g_autofree char *sub = g_markup_printf_escaped ("%s · %s", when, summary);
  g_autofree char *markup = g_strdup_printf ("%s\n<small>%s</small>", title, sub);
  GtkWidget *label = gtk_label_new (NULL);
  gtk_label_set_markup (GTK_LABEL (label), markup);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_widget_set_margin_start (label, 8);
  gtk_widget_set_margin_end (label, 8);
  gtk_widget_set_margin_top (label, 6);
  gtk_widget_set_margin_bottom (label, 6);
  GtkWidget *row = gtk_list_box_row_new ();
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  g_object_set_data (G_OBJECT (row), "version-id", GINT_TO_POINTER ((int) v->id));
  g_autofree char *name = g_strdup_printf ("version-%" G_GINT64_FORMAT, v->id);
  gtk_widget_set_name (row, name);
  return row;
}

static void
fill_versions (DermTrainPanel *self, GPtrArray *versions)
{
  g_clear_pointer (&self->versions, g_ptr_array_unref);
  self->versions = g_ptr_array_ref (versions);
  gint64 keep = self->pending_select > 0 ? self->pending_select : self->selected_version;
  self->pending_select = 0;
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->versions_list))) != NULL)
    gtk_list_box_remove (self->versions_list, child);
  if (versions->len == 0)
    {
      GtkWidget *empty = gtk_label_new (_("No model versions yet: train one, or import a "
                                          "safetensors file."));
      gtk_label_set_wrap (GTK_LABEL (empty), TRUE);
      gtk_widget_set_margin_top (empty, 12);
      gtk_widget_set_margin_bottom (empty, 12);
      gtk_list_box_set_placeholder (self->versions_list, empty);
    }
  GtkListBoxRow *select = NULL;
  for (guint i = 0; i < versions->len; i++)
    {
      const DermModelVersion *v = versions->pdata[i];
      GtkWidget *row = version_row (v);
      gtk_list_box_append (self->versions_list, row);
      if (v->id == keep)
        select = GTK_LIST_BOX_ROW (row);
    }
  self->selected_version = 0;
  if (select != NULL)
    gtk_list_box_select_row (self->versions_list, select);
  refresh_compare (self);
  g_signal_emit (self, signals[SIGNAL_VERSIONS_CHANGED], 0);
}

static void
store_op_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StoreOp *op = user_data;   /* owned by the task */
  g_autoptr(DermTrainPanel) self = g_weak_ref_get (&op->panel);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);
  if (self == NULL)
    return;
  if (!ok)
    {
      const char *what = op->kind == OP_ACTIVATE ? _("The version could not be activated")
                         : op->kind == OP_DELETE ? _("The version could not be deleted")
                         : op->kind == OP_IMPORT ? _("The model could not be imported")
                         : op->kind == OP_EXPORT ? _("The version could not be exported")
                                                 : _("The model versions could not be read");
      g_autofree char *t = g_strdup_printf ("%s: %s", what, error->message);
      gtk_label_set_text (self->versions_status, t);
      if (op->kind != OP_LIST)
        show_error (self, what, error->message);
      return;
    }
  switch (op->kind)
    {
    case OP_IMPORT:
      {
        g_autofree char *t = g_strdup_printf (_("Imported as version %lld."), (long long) op->id);
        gtk_label_set_text (self->versions_status, t);
        self->pending_select = op->id;
        derm_train_panel_refresh_versions (self);
      }
      return;
    case OP_ACTIVATE:
      {
        g_autofree char *t = g_strdup_printf (_("Version %lld is now the active %s; "
                                                "new analyses use it."), (long long) op->id,
                                              op->model_kind == DERM_MODEL_KIND_CLASSIFIER
                                                ? _("classifier") : _("segmenter"));
        gtk_label_set_text (self->versions_status, t);
        self->pending_select = op->id;
        fill_versions (self, op->versions);
        g_signal_emit (self, signals[SIGNAL_VERSION_ACTIVATED], 0, op->model_kind);
      }
      return;
    case OP_DELETE:
      {
        g_autofree char *t = g_strdup_printf (_("Version %lld was deleted."), (long long) op->id);
        gtk_label_set_text (self->versions_status, t);
      }
      break;
    case OP_EXPORT:
      gtk_label_set_text (self->versions_status, _("Exported."));
      return;
    case OP_LIST:
      break;
    }
  fill_versions (self, op->versions);
}

void
derm_train_panel_refresh_versions (DermTrainPanel *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_LIST;
  run_store_op (self, op, store_op_done_cb);
}

static void
activate_version (DermTrainPanel *self, gint64 id)
{
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_ACTIVATE;
  op->id = id;
  run_store_op (self, op, store_op_done_cb);
}

static void
activate_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  if (self->selected_version > 0)
    activate_version (self, self->selected_version);
}

static void
activate_result_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  /* Both models of a "both" job, one after the other. */
  for (int k = 0; k < 2; k++)
    if (self->new_versions[k] > 0)
      activate_version (self, self->new_versions[k]);
}

static void
compare_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  gtk_stack_set_visible_child_name (self->stack, "versions");
  if (self->new_version > 0)
    {
      GtkListBoxRow *row = _derm_train_panel_get_version_row (self, self->new_version);
      if (row != NULL)
        gtk_list_box_select_row (self->versions_list, row);
    }
}

static void
delete_response_cb (GtkDialog *dialog, int response, DermTrainPanel *self)
{
  gint64 id = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "version-id"));
  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response != GTK_RESPONSE_ACCEPT)
    return;
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_DELETE;
  op->id = id;
  run_store_op (self, op, store_op_done_cb);
}

static void
delete_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  const DermModelVersion *v = find_version (self, self->selected_version);
  if (v == NULL || v->active)
    return;
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *dialog = gtk_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                              GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                              GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                              _("Delete version %lld?"), (long long) v->id);
  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s",
                                            _("Its weights file is removed. Analyses that used it "
                                              "keep its name."));
  gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Cancel"), GTK_RESPONSE_CANCEL);
  GtkWidget *del = gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Delete"), GTK_RESPONSE_ACCEPT);
  gtk_widget_add_css_class (del, "destructive-action");
  g_object_set_data (G_OBJECT (dialog), "version-id", GINT_TO_POINTER ((int) v->id));
  g_signal_connect_object (dialog, "response", G_CALLBACK (delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
export_chosen (DermTrainPanel *self, GFile *dest)
{
  if (find_version (self, self->selected_version) == NULL)
    return;
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_EXPORT;
  op->id = self->selected_version;
  op->path = g_file_get_path (dest);
  if (op->path == NULL)
    {
      g_free (op);
      return;
    }
  run_store_op (self, op, store_op_done_cb);
}

static void
export_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  const DermModelVersion *v = find_version (self, self->selected_version);
  if (v == NULL)
    return;
  g_autofree char *name = g_strdup_printf ("dermalens-%s-v%" G_GINT64_FORMAT ".safetensors",
                                           derm_model_kind_to_string (v->kind), v->id);
  choose_file (self, _("Export Model Version"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"),
               "*.safetensors", name, export_chosen);
}

/* The model card of the selected version, in a window of its own. */
static void
card_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  const DermModelVersion *v = find_version (self, self->selected_version);
  if (v == NULL)
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(DermSafetensors) st = derm_safetensors_open (v->file_path, &error);
  g_free (self->card_text);
  self->card_text = st != NULL
    ? derm_model_card_render (derm_safetensors_get_metadata (st), v->file_path)
    : g_strdup_printf (_("The model file of this version cannot be read: %s"), error->message);

  GtkWidget *window = gtk_window_new ();
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, v->id);
  /* Translators: "Model Card — classifier version 3" */
  g_autofree char *title = g_strdup_printf (_("Model Card — %s version %s"),
                                            derm_model_kind_to_string (v->kind), id);
  gtk_window_set_title (GTK_WINDOW (window), title);
  gtk_window_set_default_size (GTK_WINDOW (window), 760, 640);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  if (GTK_IS_WINDOW (root))
    gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (root));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (window), TRUE);
  GtkWidget *view = gtk_text_view_new ();
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (view), TRUE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_right_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (view)), self->card_text, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (view), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), view);
  gtk_window_set_child (GTK_WINDOW (window), scrolled);
  gtk_window_present (GTK_WINDOW (window));
}

static void
import_chosen (DermTrainPanel *self, GFile *file)
{
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_IMPORT;
  op->path = g_file_get_path (file);
  if (op->path == NULL)
    {
      g_free (op);
      return;
    }
  gtk_label_set_text (self->versions_status, _("Importing…"));
  run_store_op (self, op, store_op_done_cb);
}

static void
import_button_clicked_cb (GtkButton *button, DermTrainPanel *self)
{
  choose_file (self, _("Import a Model"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Import"),
               "*.safetensors", NULL, import_chosen);
}

/* ---- Comparison ------------------------------------------------------------------------ */

static void
compare_row (DermTrainPanel *self, int row, const char *name, const char *a, const char *b)
{
  gtk_grid_attach (self->compare_grid, cell (name, FALSE, 0), 0, row, 1, 1);
  GtkWidget *la = cell (a, FALSE, 0), *lb = cell (b, FALSE, 0);
  gtk_label_set_wrap (GTK_LABEL (la), TRUE);
  gtk_label_set_wrap (GTK_LABEL (lb), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (la), 32);
  gtk_label_set_max_width_chars (GTK_LABEL (lb), 32);
  gtk_label_set_selectable (GTK_LABEL (la), TRUE);
  gtk_grid_attach (self->compare_grid, la, 1, row, 1, 1);
  gtk_grid_attach (self->compare_grid, lb, 2, row, 1, 1);
}

static void
compare_metric (DermTrainPanel *self, int *row, const char *name, double a, double b)
{
  g_autofree char *sa = NULL;
  if (isfinite (a) && isfinite (b))
    sa = g_strdup_printf ("%.3f (%+.3f)", a, a - b);
  else
    sa = format_number (a);
  g_autofree char *sb = format_number (b);
  compare_row (self, (*row)++, name, sa, sb);
}

static void
refresh_compare (DermTrainPanel *self)
{
  grid_clear (self->compare_grid);
  const DermModelVersion *s = find_version (self, self->selected_version);
  gtk_widget_set_sensitive (GTK_WIDGET (self->activate_button), s != NULL && !s->active);
  gtk_widget_set_sensitive (GTK_WIDGET (self->export_button), s != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->card_button), s != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->delete_button), s != NULL && !s->active);
  if (s == NULL)
    {
      gtk_label_set_text (self->compare_title, _("Choose a version to compare it with the active one."));
      return;
    }
  const DermModelVersion *a = find_active (self, s->kind);
  if (a == s && s->parent_id > 0)
    a = find_version (self, s->parent_id);   /* the active one: against the version it came from */
  g_autofree char *title = a == NULL
    ? g_strdup_printf (_("Version %lld (no other %s to compare with)"), (long long) s->id,
                       kind_label (s->kind))
    : g_strdup_printf (_("Version %lld beside version %lld%s"),
                       (long long) s->id, (long long) a->id, a->active ? _(" (active)") : _(" (its parent)"));
  gtk_label_set_text (self->compare_title, title);

  g_autofree char *ha = g_strdup_printf (_("Version %lld%s"), (long long) s->id,
                                         s->active ? _(" (active)") : "");
  g_autofree char *hb = a != NULL ? g_strdup_printf (_("Version %lld%s"), (long long) a->id,
                                                     a->active ? _(" (active)") : "")
                                  : g_strdup ("–");
  gtk_grid_attach (self->compare_grid, cell ("", TRUE, 0), 0, 0, 1, 1);
  gtk_grid_attach (self->compare_grid, cell (ha, TRUE, 0), 1, 0, 1, 1);
  gtk_grid_attach (self->compare_grid, cell (hb, TRUE, 0), 2, 0, 1, 1);
  int row = 1;
  compare_row (self, row++, _("Architecture"), s->architecture, a ? a->architecture : "–");
  g_autofree char *ts = format_time (s->created);
  g_autofree char *ta = a ? format_time (a->created) : g_strdup ("–");
  compare_row (self, row++, _("Created"), ts, ta);
  g_autofree char *ps = s->parent_id > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, s->parent_id) : g_strdup (_("none"));
  g_autofree char *pa = a && a->parent_id > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, a->parent_id) : g_strdup (a ? _("none") : "–");
  compare_row (self, row++, _("Started from version"), ps, pa);

  g_autoptr(JsonParser) p1 = json_parser_new ();
  g_autoptr(JsonParser) p2 = json_parser_new ();
  JsonObject *ms = parse_object (p1, s->metrics_json);
  JsonObject *ma = a ? parse_object (p2, a->metrics_json) : NULL;
  {
    double ns = object_number (ms, "n"), na = object_number (ma, "n");
    g_autofree char *a1 = isfinite (ns) ? g_strdup_printf ("%.0f", ns) : g_strdup ("–");
    g_autofree char *b1 = isfinite (na) ? g_strdup_printf ("%.0f", na) : g_strdup ("–");
    compare_row (self, row++, _("Test images"), a1, b1);
  }
  if (s->kind == DERM_MODEL_KIND_CLASSIFIER)
    {
      compare_metric (self, &row, _("Balanced accuracy"), object_number (ms, "balanced_accuracy"),
                      object_number (ma, "balanced_accuracy"));
      compare_metric (self, &row, _("Accuracy"), object_number (ms, "accuracy"), object_number (ma, "accuracy"));
      compare_metric (self, &row, _("Macro F1"), object_number (ms, "macro_f1"), object_number (ma, "macro_f1"));
      compare_metric (self, &row, _("Macro ROC AUC"), object_number (ms, "macro_auc"), object_number (ma, "macro_auc"));
      compare_metric (self, &row, _("Calibration error (ECE)"), object_number (ms, "ece"), object_number (ma, "ece"));
      for (int c = 0; c < DERM_N_CLASSES; c++)
        {
          g_autofree char *name = g_strdup_printf (_("Recall %s"), derm_class_code (c));
          compare_metric (self, &row, name, object_number (class_object (ms, c), "recall"),
                          object_number (class_object (ma, c), "recall"));
        }
    }
  else
    {
      compare_metric (self, &row, _("Dice"), object_number (ms, "dice"), object_number (ma, "dice"));
      compare_metric (self, &row, _("Jaccard"), object_number (ms, "jaccard"), object_number (ma, "jaccard"));
      compare_metric (self, &row, _("Thresholded Jaccard"), object_number (ms, "thresholded_jaccard"),
                      object_number (ma, "thresholded_jaccard"));
    }
  compare_row (self, row++, _("Data"), s->provenance ? s->provenance : "–",
               a && a->provenance ? a->provenance : "–");
  g_autofree char *fs = g_path_get_basename (s->file_path);
  g_autofree char *fa = a ? g_path_get_basename (a->file_path) : g_strdup ("–");
  compare_row (self, row++, _("File"), fs, fa);
  if (ms == NULL || (a != NULL && ma == NULL))
    {
      GtkWidget *note = cell (_("A version without test metrics was imported or trained without a "
                                "test split: compare it on your own cases before relying on it."),
                              FALSE, 0);
      gtk_label_set_wrap (GTK_LABEL (note), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (note), 60);
      gtk_grid_attach (self->compare_grid, note, 0, row++, 3, 1);
    }
}

static void
version_selected_cb (GtkListBox *list, GtkListBoxRow *row, DermTrainPanel *self)
{
  self->selected_version = row != NULL ? GPOINTER_TO_INT (g_object_get_data (G_OBJECT (row), "version-id")) : 0;
  refresh_compare (self);
}

/* ---- Private (tests) ------------------------------------------------------------------ */

GtkWidget *
_derm_train_panel_get_child (DermTrainPanel *self, const char *name)
{
  GObject *o = gtk_widget_get_template_child (GTK_WIDGET (self), DERM_TYPE_TRAIN_PANEL, name);
  return GTK_IS_WIDGET (o) ? GTK_WIDGET (o) : NULL;
}

gint64
_derm_train_panel_get_new_version (DermTrainPanel *self)
{
  return self->new_version;
}

gint64
_derm_train_panel_get_new_version_of_kind (DermTrainPanel *self, int kind)
{
  return kind == DERM_MODEL_KIND_CLASSIFIER || kind == DERM_MODEL_KIND_SEGMENTER
           ? self->new_versions[kind] : 0;
}

GtkNativeDialog *
_derm_train_panel_get_file_chooser (DermTrainPanel *self)
{
  return self->chooser != NULL ? GTK_NATIVE_DIALOG (self->chooser) : NULL;
}

gint64
_derm_train_panel_get_selected_version (DermTrainPanel *self)
{
  return self->selected_version;
}

GtkListBoxRow *
_derm_train_panel_get_version_row (DermTrainPanel *self, gint64 id)
{
  for (GtkWidget *w = gtk_widget_get_first_child (GTK_WIDGET (self->versions_list)); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_LIST_BOX_ROW (w) && GPOINTER_TO_INT (g_object_get_data (G_OBJECT (w), "version-id")) == id)
      return GTK_LIST_BOX_ROW (w);
  return NULL;
}

void
_derm_train_panel_set_limit (DermTrainPanel *self, guint lesions)
{
  self->limit = lesions;
}

void
_derm_train_panel_describe (DermTrainPanel *self, GString *out)
{
  g_string_append_printf (out, "running=%d\n", derm_train_runner_is_running (self->runner));
  g_string_append_printf (out, "can_resume=%d\n", derm_train_runner_can_resume (self->runner));
  g_string_append_printf (out, "progress_text=%s\n", gtk_progress_bar_get_text (self->progress_bar));
  g_string_append_printf (out, "progress_fraction=%.4f\n", gtk_progress_bar_get_fraction (self->progress_bar));
  g_string_append_printf (out, "stage=%s\n", gtk_label_get_text (self->stage_label));
  g_string_append_printf (out, "loss_points=%u\nmetric_points=%u\n", derm_curve_get_n_loss (self->curve),
                          derm_curve_get_n_metric (self->curve));
  g_string_append_printf (out, "confusion=%d\n", derm_confusion_has_data (self->confusion));
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_string_append_printf (out, "recall_%s=%s\n", derm_class_code (c),
                            gtk_label_get_text (self->recall_values[c]));
  g_string_append_printf (out, "new_version=%" G_GINT64_FORMAT "\n", self->new_version);
  if (self->card_text != NULL)
    {
      g_auto(GStrv) card = g_strsplit (self->card_text, "\n", -1);
      for (int i = 0; card[i] != NULL; i++)
        g_string_append_printf (out, "card=%s\n", card[i]);
    }
  for (guint i = 0; self->versions != NULL && i < self->versions->len; i++)
    {
      const DermModelVersion *v = self->versions->pdata[i];
      g_autofree char *summary = derm_registry_version_summary (v);
      g_string_append_printf (out, "version=%" G_GINT64_FORMAT "|%s|%s|%s|%s|parent %" G_GINT64_FORMAT "\n",
                              v->id, derm_model_kind_to_string (v->kind), v->architecture, summary,
                              v->active ? "active" : "inactive", v->parent_id);
    }
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);
  GtkTextIter s, e;
  gtk_text_buffer_get_bounds (buffer, &s, &e);
  g_autofree char *log = gtk_text_buffer_get_text (buffer, &s, &e, FALSE);
  g_auto(GStrv) lines = g_strsplit (log, "\n", -1);
  for (int i = 0; lines[i] != NULL; i++)
    g_string_append_printf (out, "log=%s\n", lines[i]);
}

/* ---- GObject ----------------------------------------------------------------------------- */

gboolean
derm_train_panel_is_running (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), FALSE);
  return derm_train_runner_is_running (self->runner);
}

void
derm_train_panel_cancel (DermTrainPanel *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  derm_train_runner_cancel (self->runner);
}

DermTrainRunner *
derm_train_panel_get_runner (DermTrainPanel *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PANEL (self), NULL);
  return self->runner;
}

void
derm_train_panel_set_folder (DermTrainPanel *self, const char *folder)
{
  g_return_if_fail (DERM_IS_TRAIN_PANEL (self));
  gtk_editable_set_text (GTK_EDITABLE (self->folder_entry), folder != NULL ? folder : "");
}

static void
setup_devices (DermTrainPanel *self)
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
setup_recall (DermTrainPanel *self)
{
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      GtkWidget *code = gtk_label_new (derm_class_code (c));
      gtk_label_set_xalign (GTK_LABEL (code), 0);
      gtk_widget_set_tooltip_text (code, derm_class_name (c));
      GtkWidget *bar = gtk_level_bar_new_for_interval (0, 1);
      gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (bar), GTK_LEVEL_BAR_OFFSET_LOW);
      gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (bar), GTK_LEVEL_BAR_OFFSET_HIGH);
      gtk_level_bar_remove_offset_value (GTK_LEVEL_BAR (bar), GTK_LEVEL_BAR_OFFSET_FULL);
      gtk_widget_set_size_request (bar, 120, -1);
      gtk_widget_set_valign (bar, GTK_ALIGN_CENTER);
      g_autofree char *acc = g_strdup_printf (_("Validation recall of %s"), derm_class_name (c));
      gtk_accessible_update_property (GTK_ACCESSIBLE (bar), GTK_ACCESSIBLE_PROPERTY_LABEL, acc, -1);
      GtkWidget *value = gtk_label_new ("–");
      gtk_label_set_xalign (GTK_LABEL (value), 1);
      gtk_label_set_width_chars (GTK_LABEL (value), 8);
      gtk_widget_add_css_class (value, "numeric");
      gtk_grid_attach (self->recall_grid, code, 0, c, 1, 1);
      gtk_grid_attach (self->recall_grid, bar, 1, c, 1, 1);
      gtk_grid_attach (self->recall_grid, value, 2, c, 1, 1);
      self->recall_bars[c] = GTK_LEVEL_BAR (bar);
      self->recall_values[c] = GTK_LABEL (value);
    }
}

static void
derm_train_panel_dispose (GObject *object)
{
  DermTrainPanel *self = DERM_TRAIN_PANEL (object);
  /* Removing the rows selects none: nothing left to refresh. */
  if (self->versions_list != NULL)
    g_signal_handlers_disconnect_by_data (self->versions_list, self);
  if (self->runner != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->runner, self);
      /* Stops the job within one step and joins its thread. */
      derm_train_runner_shutdown (self->runner);
      g_clear_object (&self->runner);
    }
  if (self->estimate_cancellable != NULL)
    g_cancellable_cancel (self->estimate_cancellable);
  g_clear_object (&self->estimate_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_pointer (&self->versions, g_ptr_array_unref);
  g_clear_pointer (&self->device_names, g_strfreev);
  g_clear_pointer (&self->card_text, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_TRAIN_PANEL);
  G_OBJECT_CLASS (derm_train_panel_parent_class)->dispose (object);
}

static void
derm_train_panel_class_init (DermTrainPanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_train_panel_dispose;

  signals[SIGNAL_VERSION_ACTIVATED] =
    g_signal_new ("version-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_VERSIONS_CHANGED] =
    g_signal_new ("versions-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  g_type_ensure (DERM_TYPE_CURVE);
  g_type_ensure (DERM_TYPE_CONFUSION);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-train-panel.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, DermTrainPanel, name)
  BIND (content); BIND (stack); BIND (setup_grid);
  BIND (data_drop); BIND (task_drop); BIND (arch_drop); BIND (init_drop); BIND (finetune_drop);
  BIND (device_drop); BIND (balance_drop); BIND (mix_check); BIND (ema_check); BIND (folds_spin); BIND (folder_entry); BIND (init_entry); BIND (folder_button); BIND (init_button);
  BIND (epochs_spin); BIND (batch_spin); BIND (size_spin); BIND (lr_spin);
  BIND (estimate_button); BIND (start_button); BIND (cancel_button); BIND (resume_button);
  BIND (estimate_label); BIND (stage_label); BIND (progress_bar); BIND (curve); BIND (recall_grid);
  BIND (log_view); BIND (result_box); BIND (result_label); BIND (confusion); BIND (class_grid);
  BIND (compare_button); BIND (activate_result_button); BIND (versions_list); BIND (compare_title);
  BIND (versions_status); BIND (compare_grid); BIND (import_button); BIND (activate_button);
  BIND (export_button); BIND (delete_button); BIND (card_button);
#undef BIND
}

static void
derm_train_panel_init (DermTrainPanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->runner = derm_train_runner_new ();
  setup_devices (self);
  setup_recall (self);

  DermTrainSettings s;
  gboolean cpu_first = derm_train_settings_init_for_machine (&s);
  write_settings (self, &s);
  derm_train_settings_clear (&s);
  if (cpu_first)
    gtk_label_set_text (self->stage_label,
                        _("No GPU and no model yet: proposed a first classifier a CPU trains in "
                          "minutes (ResNet-18, 96 px, 4 epochs; about 8 minutes on 2 cores, "
                          "balanced accuracy about 0.59 on held-out lesions)."));

  g_signal_connect (self->runner, "event", G_CALLBACK (runner_event_cb), self);
  g_signal_connect (self->runner, "finished", G_CALLBACK (runner_finished_cb), self);
#define CLICK(name) g_signal_connect (self->name, "clicked", G_CALLBACK (name##_clicked_cb), self)
  CLICK (folder_button); CLICK (init_button); CLICK (estimate_button); CLICK (start_button);
  CLICK (cancel_button); CLICK (resume_button); CLICK (compare_button); CLICK (activate_result_button);
  CLICK (import_button); CLICK (activate_button); CLICK (export_button); CLICK (delete_button);
  CLICK (card_button);
#undef CLICK
  g_signal_connect (self->data_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  g_signal_connect (self->init_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  g_signal_connect (self->task_drop, "notify::selected", G_CALLBACK (setting_changed_cb), self);
  g_signal_connect (self->versions_list, "row-selected", G_CALLBACK (version_selected_cb), self);

  if (derm_train_runner_can_resume (self->runner))
    {
      g_autofree char *json = derm_train_runner_get_resume_settings (self->runner);
      DermTrainSettings rs;
      derm_train_settings_init (&rs);
      if (json != NULL && derm_train_settings_from_json (&rs, json, NULL))
        write_settings (self, &rs);
      derm_train_settings_clear (&rs);
      gtk_label_set_text (self->stage_label, _("A stopped job can be resumed from its checkpoint."));
    }
  update_sensitivity (self);
  derm_train_panel_refresh_versions (self);
}

GtkWidget *
derm_train_panel_new (void)
{
  return g_object_new (DERM_TYPE_TRAIN_PANEL, NULL);
}
