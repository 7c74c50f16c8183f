/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-progress.c: the training panel's view of the running job (see
 * derm-train-progress.h): the runner's events turned into the progress bar,
 * the stage, the curves, the per-class recall, the report and the test
 * results. */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-progress"

#include <math.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-error.h"
#include "derm-store.h"
#include "derm-train-charts.h"
#include "derm-train-progress-private.h"
#include "derm-train-util.h"
#include "derm-train-progress.h"

struct _DermTrainProgressView
{
  GtkWidget parent_instance;

  /* template */
  GtkWidget *content;
  GtkButton *cancel_button, *resume_button;
  GtkLabel *stage_label;
  GtkProgressBar *progress_bar;
  DermCurve *curve;
  GtkGrid *recall_grid;
  GtkTextView *log_view;
  GtkWidget *result_box;
  GtkLabel *result_label;
  DermConfusion *confusion;
  GtkGrid *class_grid;
  GtkButton *compare_button, *activate_result_button;

  GtkLevelBar *recall_bars[DERM_N_CLASSES];
  GtkLabel *recall_values[DERM_N_CLASSES];
  gint64 new_version;            /* the last version the job registered */
  gint64 new_versions[2];        /* by DermModelKind: what the job registered, 0: none */
};

G_DEFINE_FINAL_TYPE (DermTrainProgressView, derm_train_progress_view, GTK_TYPE_WIDGET)

enum { SIGNAL_STOP, SIGNAL_RESUME, SIGNAL_COMPARE, SIGNAL_ACTIVATE_RESULT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
log_line (DermTrainProgressView *self, const char *text)
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

/* ---- Live progress ------------------------------------------------------------------ */

/* One class's recall: the bar, its number, and both for screen readers (a
 * bar says no value to them while it is at its minimum, so it says the text:
 * "not measured yet" before the first validation). */
static void
set_recall (DermTrainProgressView *self, int c, double value, const char *text)
{
  gtk_level_bar_set_value (self->recall_bars[c], value);
  gtk_label_set_text (self->recall_values[c], text != NULL ? text : "–");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->recall_bars[c]),
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_NOW, value,
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT,
                                  text != NULL ? text : _("not measured yet"), -1);
}

static void
clear_recall (DermTrainProgressView *self)
{
  for (int c = 0; c < DERM_N_CLASSES; c++)
    set_recall (self, c, 0, NULL);
}

static void
reset_live (DermTrainProgressView *self)
{
  derm_curve_clear (self->curve);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  clear_recall (self);
  gtk_widget_set_visible (self->result_box, FALSE);
  derm_confusion_set (self->confusion, NULL);
}

void
derm_train_progress_view_reset (DermTrainProgressView *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
  reset_live (self);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->log_view), "", 0);
  self->new_version = 0;
  self->new_versions[0] = self->new_versions[1] = 0;
}

void
derm_train_progress_view_set_stage (DermTrainProgressView *self, const char *text)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
  gtk_label_set_text (self->stage_label, text);
}

void
derm_train_progress_view_set_job_state (DermTrainProgressView *self, gboolean running, gboolean can_resume)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
  gtk_widget_set_sensitive (GTK_WIDGET (self->cancel_button), running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->resume_button), !running && can_resume);
}

void
derm_train_progress_view_hide_result (DermTrainProgressView *self)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
  gtk_widget_set_visible (self->result_box, FALSE);
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
set_bar (DermTrainProgressView *self, const DermTrainRunnerEvent *e, const char *what, double fraction)
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
show_recall (DermTrainProgressView *self, const char *json)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *m = _derm_train_parse_object (p, json);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      double r = _derm_train_object_number (_derm_train_class_object (m, c), "recall");
      g_autofree char *t = isfinite (r) ? g_strdup_printf ("%.2f", r) : g_strdup (_("no images"));
      set_recall (self, c, isfinite (r) ? r : 0, t);
    }
}

static void
show_test_metrics (DermTrainProgressView *self, const DermTrainRunnerEvent *e)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *m = _derm_train_parse_object (p, e->json);
  if (m == NULL)
    return;
  gtk_widget_set_visible (self->result_box, TRUE);
  if (e->task != DERM_TASK_CLASSIFY)
    {
      g_autofree char *t = g_strdup_printf (_("Segmenter on the test split: Dice %.3f, Jaccard %.3f "
                                              "(%d images)"),
                                            _derm_train_object_number (m, "dice"),
                                            _derm_train_object_number (m, "jaccard"),
                                            (int) _derm_train_object_number (m, "n"));
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

  _derm_train_grid_clear (self->class_grid);
  const char *heads[] = { N_("Class"), N_("Precision"), N_("Recall"), N_("F1"), N_("Images") };
  for (int h = 0; h < 5; h++)
    gtk_grid_attach (self->class_grid, _derm_train_cell (_(heads[h]), TRUE, h == 0 ? 0 : 1), h, 0, 1, 1);
  for (int c = 0; c < DERM_N_CLASSES; c++)
    {
      JsonObject *co = _derm_train_class_object (m, c);
      g_autofree char *name = g_strdup_printf ("%s (%s)", derm_class_name (c), derm_class_code (c));
      g_autofree char *pr = _derm_train_format_number (_derm_train_object_number (co, "precision"));
      g_autofree char *re = _derm_train_format_number (_derm_train_object_number (co, "recall"));
      g_autofree char *f1 = _derm_train_format_number (_derm_train_object_number (co, "f1"));
      g_autofree char *n = g_strdup_printf ("%d", (int) _derm_train_object_number (co, "support"));
      gtk_grid_attach (self->class_grid, _derm_train_cell (name, FALSE, 0), 0, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, _derm_train_cell (pr, FALSE, 1), 1, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, _derm_train_cell (re, FALSE, 1), 2, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, _derm_train_cell (f1, FALSE, 1), 3, c + 1, 1, 1);
      gtk_grid_attach (self->class_grid, _derm_train_cell (n, FALSE, 1), 4, c + 1, 1, 1);
    }
  g_autofree char *t = g_strdup_printf (_("Classifier on the test split (%d images): balanced accuracy "
                                          "%.3f, accuracy %.3f, macro F1 %.3f"),
                                        (int) _derm_train_object_number (m, "n"),
                                        _derm_train_object_number (m, "balanced_accuracy"),
                                        _derm_train_object_number (m, "accuracy"),
                                        _derm_train_object_number (m, "macro_f1"));
  gtk_label_set_text (self->result_label, t);
  log_line (self, t);
}

void
derm_train_progress_view_show_event (DermTrainProgressView *self, const DermTrainRunnerEvent *e)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
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
        if (e->step == 1)
          derm_curve_truncate (self->curve, e->epoch);   /* a resumed epoch starts again */
        derm_curve_set_epochs (self->curve, e->epochs);
        derm_curve_set_metric_name (self->curve, e->task == DERM_TASK_CLASSIFY
                                                   ? _("Validation balanced accuracy")
                                                   : _("Validation Dice"));
        double x = e->epoch + (e->steps > 0 ? (double) e->step / e->steps : 0);
        derm_curve_add_loss (self->curve, x, e->loss);
        g_autofree char *elapsed = _derm_train_format_duration (e->elapsed_seconds);
        g_autofree char *eta = _derm_train_format_duration (e->eta_seconds);
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
      }
      break;
    default:
      break;
    }
}

void
derm_train_progress_view_show_finished (DermTrainProgressView *self, const GError *error,
                                        const char *message, gint64 steps_after_cancel)
{
  g_return_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self));
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
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      gtk_progress_bar_set_text (self->progress_bar, _("Stopped"));
      gtk_label_set_text (self->stage_label, _("Stopped. The best model so far and a checkpoint are "
                                               "kept: Resume continues the job."));
      g_autofree char *t = g_strdup_printf (_("Stopped %lld step(s) after the request; "
                                              "Resume continues from the checkpoint."),
                                            (long long) MAX (steps_after_cancel, 0));
      log_line (self, t);
    }
  else
    {
      gtk_progress_bar_set_text (self->progress_bar, _("Failed"));
      g_autofree char *t = g_strdup_printf (_("The job failed: %s"), message);
      gtk_label_set_text (self->stage_label, t);
      log_line (self, t);
    }
}

gint64
derm_train_progress_view_get_new_version (DermTrainProgressView *self)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self), 0);
  return self->new_version;
}

gint64
derm_train_progress_view_get_new_version_of_kind (DermTrainProgressView *self, int kind)
{
  g_return_val_if_fail (DERM_IS_TRAIN_PROGRESS_VIEW (self), 0);
  return kind == DERM_MODEL_KIND_CLASSIFIER || kind == DERM_MODEL_KIND_SEGMENTER
           ? self->new_versions[kind] : 0;
}

/* ---- Buttons ----------------------------------------------------------------------------- */

static void
cancel_button_clicked_cb (GtkButton *button, DermTrainProgressView *self)
{
  g_signal_emit (self, signals[SIGNAL_STOP], 0);
  gtk_label_set_text (self->stage_label, _("Stopping after the current step…"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->cancel_button), FALSE);
}

static void
resume_button_clicked_cb (GtkButton *button, DermTrainProgressView *self)
{
  g_signal_emit (self, signals[SIGNAL_RESUME], 0);
}

static void
compare_button_clicked_cb (GtkButton *button, DermTrainProgressView *self)
{
  g_signal_emit (self, signals[SIGNAL_COMPARE], 0);
}

static void
activate_result_button_clicked_cb (GtkButton *button, DermTrainProgressView *self)
{
  g_signal_emit (self, signals[SIGNAL_ACTIVATE_RESULT], 0);
}

/* ---- Private (tests) ------------------------------------------------------------------ */

void
_derm_train_progress_view_describe (DermTrainProgressView *self, GString *out)
{
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
}

void
_derm_train_progress_view_describe_log (DermTrainProgressView *self, GString *out)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);
  GtkTextIter s, e;
  gtk_text_buffer_get_bounds (buffer, &s, &e);
  g_autofree char *log = gtk_text_buffer_get_text (buffer, &s, &e, FALSE);
  g_auto(GStrv) lines = g_strsplit (log, "\n", -1);
  for (int i = 0; lines[i] != NULL; i++)
    g_string_append_printf (out, "log=%s\n", lines[i]);
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
setup_recall (DermTrainProgressView *self)
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
      set_recall (self, c, 0, NULL);
    }
}

static void
derm_train_progress_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), DERM_TYPE_TRAIN_PROGRESS_VIEW);
  G_OBJECT_CLASS (derm_train_progress_view_parent_class)->dispose (object);
}

static void
derm_train_progress_view_class_init (DermTrainProgressViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_train_progress_view_dispose;

  signals[SIGNAL_STOP] =
    g_signal_new ("stop", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_RESUME] =
    g_signal_new ("resume", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_COMPARE] =
    g_signal_new ("compare", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_ACTIVATE_RESULT] =
    g_signal_new ("activate-result", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  g_type_ensure (DERM_TYPE_CURVE);
  g_type_ensure (DERM_TYPE_CONFUSION);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-train-progress.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, DermTrainProgressView, name)
  BIND (content); BIND (cancel_button); BIND (resume_button);
  BIND (stage_label); BIND (progress_bar); BIND (curve); BIND (recall_grid);
  BIND (log_view); BIND (result_box); BIND (result_label); BIND (confusion); BIND (class_grid);
  BIND (compare_button); BIND (activate_result_button);
#undef BIND
}

static void
derm_train_progress_view_init (DermTrainProgressView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  setup_recall (self);
#define CLICK(name) g_signal_connect (self->name, "clicked", G_CALLBACK (name##_clicked_cb), self)
  CLICK (cancel_button); CLICK (resume_button); CLICK (compare_button); CLICK (activate_result_button);
#undef CLICK
}
