/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-train-versions.c: the training panel's model versions (see
 * derm-train-versions.h): the list and its registry operations, run on a
 * GTask thread, the comparison with the active version and the model card. */
#include "config.h"

#define G_LOG_DOMAIN "derm-train-versions"

#include <math.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "derm-classes.h"
#include "derm-feedback.h"
#include "derm-model-card.h"
#include "derm-registry.h"
#include "derm-safetensors.h"
#include "derm-store.h"
#include "derm-train-versions-private.h"
#include "derm-train-util.h"
#include "derm-train-versions.h"

struct _DermTrainVersions
{
  GtkWidget parent_instance;

  /* template */
  GtkWidget *content;
  GtkListBox *versions_list;
  GtkLabel *compare_title, *versions_status;
  GtkGrid *compare_grid;
  GtkButton *import_button, *activate_button, *export_button, *delete_button, *card_button;

  char *card_text;               /* the last model card shown, for tests */
  GPtrArray *versions;           /* DermModelVersion, newest first */
  gint64 selected_version;
  gint64 pending_select;
  GtkFileChooserNative *chooser;
  DermStoreWorker *store;        /* the window's store thread, or one of its own */
};

G_DEFINE_FINAL_TYPE (DermTrainVersions, derm_train_versions, GTK_TYPE_WIDGET)

enum { SIGNAL_VERSION_ACTIVATED, SIGNAL_VERSIONS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void refresh_compare (DermTrainVersions *self);

/* ---- Small helpers ----------------------------------------------------------------- */

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
find_version (DermTrainVersions *self, gint64 id)
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
find_active (DermTrainVersions *self, DermModelKind kind)
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
show_error (DermTrainVersions *self, const char *primary, const char *secondary)
{
  derm_show_error (GTK_WIDGET (self), primary, secondary);
}

/* ---- Versions ------------------------------------------------------------------------- */

typedef enum { OP_LIST, OP_ACTIVATE, OP_DELETE, OP_IMPORT, OP_EXPORT } OpKind;

typedef struct {
  OpKind kind;
  gint64 id;
  char *path;
  GPtrArray *versions;
  int model_kind;
  gint64 previous;   /* OP_ACTIVATE: the version of that kind active before, 0: none */
  GWeakRef owner;
} StoreOp;

static void
store_op_free (StoreOp *op)
{
  g_free (op->path);
  g_clear_pointer (&op->versions, g_ptr_array_unref);
  g_weak_ref_clear (&op->owner);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StoreOp, store_op_free)

/* A store-thread job: the registry operation @data (a StoreOp), then the
 * versions as they now are. Returns @data, or NULL with @error. */
static gpointer
store_op_job (DermStore *store, gpointer data, GError **error)
{
  StoreOp *op = data;
  gboolean ok = TRUE;
  DermModelKind kind = DERM_MODEL_KIND_CLASSIFIER;
  if (ok && op->kind == OP_IMPORT)
    ok = (op->id = derm_registry_import (store, op->path, NULL, &kind, error)) > 0;
  else if (ok && op->kind == OP_ACTIVATE)
    {
      g_autoptr(DermModelVersion) target = derm_store_get_model (store, op->id, error);
      g_autoptr(DermModelVersion) before = target != NULL
        ? derm_store_get_active_model (store, target->kind, NULL) : NULL;
      op->previous = before != NULL && before->id != op->id ? before->id : 0;
      ok = target != NULL && derm_registry_activate (store, op->id, &kind, error);
    }
  else if (ok && op->kind == OP_DELETE)
    ok = derm_registry_delete (store, op->id, error);
  else if (ok && op->kind == OP_EXPORT)
    ok = derm_registry_export (store, op->id, op->path, error);
  op->model_kind = kind;
  if (ok && op->kind != OP_EXPORT)
    ok = (op->versions = derm_store_list_models (store, -1, error)) != NULL;
  return ok ? op : NULL;
}

static DermStoreWorker *
versions_store (DermTrainVersions *self)
{
  /* Standalone (the panel's own tests): a store thread of its own. */
  if (self->store == NULL)
    self->store = derm_store_worker_new (NULL);
  return self->store;
}

/* Queues @op on the store thread; @callback owns it. */
static void
run_store_op (DermTrainVersions *self, StoreOp *op, GAsyncReadyCallback callback)
{
  g_weak_ref_init (&op->owner, self);
  derm_store_worker_run_async (versions_store (self), store_op_job, op, NULL, NULL, NULL,
                               callback, op);
}

void
derm_train_versions_set_store_worker (DermTrainVersions *self, DermStoreWorker *store)
{
  g_return_if_fail (DERM_IS_TRAIN_VERSIONS (self));
  g_set_object (&self->store, store);
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
fill_versions (DermTrainVersions *self, GPtrArray *versions)
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
  g_autoptr(StoreOp) op = user_data;
  g_autoptr(DermTrainVersions) self = g_weak_ref_get (&op->owner);
  g_autoptr(GError) error = NULL;
  gboolean ok = derm_store_worker_run_finish (DERM_STORE_WORKER (source), result, &error) != NULL;
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
        derm_train_versions_refresh (self);
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
        /* Undo activates the version that was active before (the window's
         * action: a toast lives in the window's overlay, above this view). */
        g_autofree char *toast = g_strdup_printf (op->model_kind == DERM_MODEL_KIND_CLASSIFIER
                                                    ? _("Classifier version %lld is active.")
                                                    : _("Segmenter version %lld is active."),
                                                  (long long) op->id);
        derm_toast_show (GTK_WIDGET (self), toast, op->previous > 0 ? _("_Undo") : NULL,
                         op->previous > 0 ? "win.activate-version" : NULL,
                         op->previous > 0 ? g_variant_new_int64 (op->previous) : NULL);
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
derm_train_versions_refresh (DermTrainVersions *self)
{
  g_return_if_fail (DERM_IS_TRAIN_VERSIONS (self));
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_LIST;
  run_store_op (self, op, store_op_done_cb);
}

void
derm_train_versions_refresh_and_select (DermTrainVersions *self, gint64 id)
{
  g_return_if_fail (DERM_IS_TRAIN_VERSIONS (self));
  self->pending_select = id;
  derm_train_versions_refresh (self);
}

void
derm_train_versions_select (DermTrainVersions *self, gint64 id)
{
  g_return_if_fail (DERM_IS_TRAIN_VERSIONS (self));
  GtkListBoxRow *row = _derm_train_versions_get_row (self, id);
  if (row != NULL)
    gtk_list_box_select_row (self->versions_list, row);
}

void
derm_train_versions_activate (DermTrainVersions *self, gint64 id)
{
  g_return_if_fail (DERM_IS_TRAIN_VERSIONS (self));
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_ACTIVATE;
  op->id = id;
  run_store_op (self, op, store_op_done_cb);
}

static void
activate_button_clicked_cb (GtkButton *button, DermTrainVersions *self)
{
  if (self->selected_version > 0)
    derm_train_versions_activate (self, self->selected_version);
}

static void
delete_response_cb (AdwMessageDialog *dialog, const char *response, DermTrainVersions *self)
{
  gint64 id = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "version-id"));
  if (g_strcmp0 (response, "accept") != 0)
    return;
  StoreOp *op = g_new0 (StoreOp, 1);
  op->kind = OP_DELETE;
  op->id = id;
  run_store_op (self, op, store_op_done_cb);
}

static void
delete_button_clicked_cb (GtkButton *button, DermTrainVersions *self)
{
  const DermModelVersion *v = find_version (self, self->selected_version);
  if (v == NULL || v->active)
    return;
  g_autofree char *heading = g_strdup_printf (_("Delete version %lld?"), (long long) v->id);
  AdwMessageDialog *dialog = derm_ask (GTK_WIDGET (self), heading,
                                       _("Its weights file is removed. Analyses that used it "
                                         "keep its name."),
                                       _("_Delete"), TRUE);
  g_object_set_data (G_OBJECT (dialog), "version-id", GINT_TO_POINTER ((int) v->id));
  g_signal_connect_object (dialog, "response", G_CALLBACK (delete_response_cb), self, 0);
}

static void
export_chosen (GtkWidget *owner, GFile *dest)
{
  DermTrainVersions *self = DERM_TRAIN_VERSIONS (owner);
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
export_button_clicked_cb (GtkButton *button, DermTrainVersions *self)
{
  const DermModelVersion *v = find_version (self, self->selected_version);
  if (v == NULL)
    return;
  g_autofree char *name = g_strdup_printf ("dermalens-%s-v%" G_GINT64_FORMAT ".safetensors",
                                           derm_model_kind_to_string (v->kind), v->id);
  _derm_train_choose_file (GTK_WIDGET (self), &self->chooser, _("Export Model Version"),
                           GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), "*.safetensors", name,
                           export_chosen);
}

/* The model card of the selected version, in a window of its own. */
static void
card_button_clicked_cb (GtkButton *button, DermTrainVersions *self)
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

  GtkWidget *window = adw_window_new ();
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
  gtk_widget_set_vexpand (scrolled, TRUE);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append (GTK_BOX (box), adw_header_bar_new ());
  gtk_box_append (GTK_BOX (box), scrolled);
  adw_window_set_content (ADW_WINDOW (window), box);
  gtk_window_present (GTK_WINDOW (window));
}

static void
import_chosen (GtkWidget *owner, GFile *file)
{
  DermTrainVersions *self = DERM_TRAIN_VERSIONS (owner);
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
import_button_clicked_cb (GtkButton *button, DermTrainVersions *self)
{
  _derm_train_choose_file (GTK_WIDGET (self), &self->chooser, _("Import a Model"),
                           GTK_FILE_CHOOSER_ACTION_OPEN, _("_Import"), "*.safetensors", NULL,
                           import_chosen);
}

/* ---- Comparison ------------------------------------------------------------------------ */

static void
compare_row (DermTrainVersions *self, int row, const char *name, const char *a, const char *b)
{
  gtk_grid_attach (self->compare_grid, _derm_train_cell (name, FALSE, 0), 0, row, 1, 1);
  GtkWidget *la = _derm_train_cell (a, FALSE, 0), *lb = _derm_train_cell (b, FALSE, 0);
  gtk_label_set_wrap (GTK_LABEL (la), TRUE);
  gtk_label_set_wrap (GTK_LABEL (lb), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (la), 32);
  gtk_label_set_max_width_chars (GTK_LABEL (lb), 32);
  gtk_label_set_selectable (GTK_LABEL (la), TRUE);
  gtk_grid_attach (self->compare_grid, la, 1, row, 1, 1);
  gtk_grid_attach (self->compare_grid, lb, 2, row, 1, 1);
}

static void
compare_metric (DermTrainVersions *self, int *row, const char *name, double a, double b)
{
  g_autofree char *sa = NULL;
  if (isfinite (a) && isfinite (b))
    sa = g_strdup_printf ("%.3f (%+.3f)", a, a - b);
  else
    sa = _derm_train_format_number (a);
  g_autofree char *sb = _derm_train_format_number (b);
  compare_row (self, (*row)++, name, sa, sb);
}

/* The metric @key of the two versions' metrics @ms and @ma. */
static void
compare_key (DermTrainVersions *self, int *row, const char *name, JsonObject *ms, JsonObject *ma,
             const char *key)
{
  compare_metric (self, row, name, _derm_train_object_number (ms, key),
                  _derm_train_object_number (ma, key));
}

static void
refresh_compare (DermTrainVersions *self)
{
  _derm_train_grid_clear (self->compare_grid);
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
  gtk_grid_attach (self->compare_grid, _derm_train_cell ("", TRUE, 0), 0, 0, 1, 1);
  gtk_grid_attach (self->compare_grid, _derm_train_cell (ha, TRUE, 0), 1, 0, 1, 1);
  gtk_grid_attach (self->compare_grid, _derm_train_cell (hb, TRUE, 0), 2, 0, 1, 1);
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
  JsonObject *ms = _derm_train_parse_object (p1, s->metrics_json);
  JsonObject *ma = a ? _derm_train_parse_object (p2, a->metrics_json) : NULL;
  {
    double ns = _derm_train_object_number (ms, "n");
    double na = _derm_train_object_number (ma, "n");
    g_autofree char *a1 = isfinite (ns) ? g_strdup_printf ("%.0f", ns) : g_strdup ("–");
    g_autofree char *b1 = isfinite (na) ? g_strdup_printf ("%.0f", na) : g_strdup ("–");
    compare_row (self, row++, _("Test images"), a1, b1);
  }
  if (s->kind == DERM_MODEL_KIND_CLASSIFIER)
    {
      compare_key (self, &row, _("Balanced accuracy"), ms, ma, "balanced_accuracy");
      compare_key (self, &row, _("Accuracy"), ms, ma, "accuracy");
      compare_key (self, &row, _("Macro F1"), ms, ma, "macro_f1");
      compare_key (self, &row, _("Macro ROC AUC"), ms, ma, "macro_auc");
      compare_key (self, &row, _("Calibration error (ECE)"), ms, ma, "ece");
      for (int c = 0; c < DERM_N_CLASSES; c++)
        {
          g_autofree char *name = g_strdup_printf (_("Recall %s"), derm_class_code (c));
          compare_key (self, &row, name, _derm_train_class_object (ms, c),
                       _derm_train_class_object (ma, c), "recall");
        }
    }
  else
    {
      compare_key (self, &row, _("Dice"), ms, ma, "dice");
      compare_key (self, &row, _("Jaccard"), ms, ma, "jaccard");
      compare_key (self, &row, _("Thresholded Jaccard"), ms, ma, "thresholded_jaccard");
    }
  compare_row (self, row++, _("Data"), s->provenance ? s->provenance : "–",
               a && a->provenance ? a->provenance : "–");
  g_autofree char *fs = g_path_get_basename (s->file_path);
  g_autofree char *fa = a ? g_path_get_basename (a->file_path) : g_strdup ("–");
  compare_row (self, row++, _("File"), fs, fa);
  if (ms == NULL || (a != NULL && ma == NULL))
    {
      GtkWidget *note = _derm_train_cell (_("A version without test metrics was imported or trained "
                                            "without a test split: compare it on your own cases "
                                            "before relying on it."),
                                          FALSE, 0);
      gtk_label_set_wrap (GTK_LABEL (note), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (note), 60);
      gtk_grid_attach (self->compare_grid, note, 0, row++, 3, 1);
    }
}

static void
version_selected_cb (GtkListBox *list, GtkListBoxRow *row, DermTrainVersions *self)
{
  self->selected_version = row != NULL ? GPOINTER_TO_INT (g_object_get_data (G_OBJECT (row), "version-id")) : 0;
  refresh_compare (self);
}

/* ---- Private (the panel, tests) ------------------------------------------------------------ */

GtkNativeDialog *
_derm_train_versions_get_file_chooser (DermTrainVersions *self)
{
  return self->chooser != NULL ? GTK_NATIVE_DIALOG (self->chooser) : NULL;
}

gint64
_derm_train_versions_get_selected (DermTrainVersions *self)
{
  return self->selected_version;
}

GtkListBoxRow *
_derm_train_versions_get_row (DermTrainVersions *self, gint64 id)
{
  for (GtkWidget *w = gtk_widget_get_first_child (GTK_WIDGET (self->versions_list)); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_LIST_BOX_ROW (w) && GPOINTER_TO_INT (g_object_get_data (G_OBJECT (w), "version-id")) == id)
      return GTK_LIST_BOX_ROW (w);
  return NULL;
}

void
_derm_train_versions_describe (DermTrainVersions *self, GString *out)
{
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
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
derm_train_versions_dispose (GObject *object)
{
  DermTrainVersions *self = DERM_TRAIN_VERSIONS (object);
  /* Removing the rows selects none: nothing left to refresh. */
  if (self->versions_list != NULL)
    g_signal_handlers_disconnect_by_data (self->versions_list, self);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_pointer (&self->versions, g_ptr_array_unref);
  g_clear_pointer (&self->card_text, g_free);
  g_clear_object (&self->store);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_TRAIN_VERSIONS);
  G_OBJECT_CLASS (derm_train_versions_parent_class)->dispose (object);
}

static void
derm_train_versions_class_init (DermTrainVersionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_train_versions_dispose;

  signals[SIGNAL_VERSION_ACTIVATED] =
    g_signal_new ("version-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_VERSIONS_CHANGED] =
    g_signal_new ("versions-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-train-versions.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, DermTrainVersions, name)
  BIND (content); BIND (versions_list); BIND (compare_title); BIND (versions_status);
  BIND (compare_grid);
  BIND (import_button); BIND (activate_button); BIND (export_button); BIND (delete_button);
  BIND (card_button);
#undef BIND
}

static void
derm_train_versions_init (DermTrainVersions *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
#define CLICK(name) g_signal_connect (self->name, "clicked", G_CALLBACK (name##_clicked_cb), self)
  CLICK (import_button); CLICK (activate_button); CLICK (export_button); CLICK (delete_button);
  CLICK (card_button);
#undef CLICK
  g_signal_connect (self->versions_list, "row-selected", G_CALLBACK (version_selected_cb), self);
}
