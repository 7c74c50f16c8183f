/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-case-browser.c: the case browser. */
#include "config.h"

#define G_LOG_DOMAIN "derm-case-browser"

#include <glib/gi18n.h>

#include "derm-case.h"
#include "derm-case-browser.h"
#include "derm-case-browser-private.h"
#include "derm-error.h"

/* ---- One row: a GObject around a DermCase ---------------------------------------- */

#define DERM_TYPE_CASE_ITEM (derm_case_item_get_type ())
G_DECLARE_FINAL_TYPE (DermCaseItem, derm_case_item, DERM, CASE_ITEM, GObject)

struct _DermCaseItem
{
  GObject parent_instance;
  DermCase *c;          /* owned */
  char *search_text;    /* lower-case text the search matches */
};

G_DEFINE_FINAL_TYPE (DermCaseItem, derm_case_item, G_TYPE_OBJECT)

static void
derm_case_item_finalize (GObject *object)
{
  DermCaseItem *self = DERM_CASE_ITEM (object);
  derm_case_free (self->c);
  g_free (self->search_text);
  G_OBJECT_CLASS (derm_case_item_parent_class)->finalize (object);
}

static void
derm_case_item_class_init (DermCaseItemClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = derm_case_item_finalize;
}

static void
derm_case_item_init (DermCaseItem *self)
{
}

static DermCaseItem *
case_item_new (DermCase *c)
{
  DermCaseItem *item = g_object_new (DERM_TYPE_CASE_ITEM, NULL);
  item->c = c;
  g_autofree char *notes = NULL;
  if (c->analysis != NULL)
    {
      g_autoptr(DermAnalysisResult) r = derm_case_result_from_analysis (c->analysis, &notes, NULL);
    }
  g_autofree char *text = g_strjoin ("\n", c->patient->identifier, c->lesion->body_site,
                                     derm_body_site_label (c->lesion->body_site),
                                     c->lesion->label, c->image->original_name,
                                     notes != NULL ? notes : "",
                                     c->annotation != NULL ? c->annotation->notes : "", NULL);
  item->search_text = g_utf8_casefold (text, -1);
  return item;
}

/* ---- The window -------------------------------------------------------------------- */

struct _DermCaseBrowser
{
  AdwWindow parent_instance;

  GtkSearchEntry *search_entry;
  GtkDropDown *site_dropdown;
  GtkDropDown *class_dropdown;
  GtkDropDown *risk_dropdown;
  GtkDropDown *confirmed_dropdown;
  GtkColumnView *column_view;
  GtkStack *stack;
  GtkLabel *count_label;
  GtkLabel *error_label;
  GtkButton *open_button;
  GtkButton *compare_button;

  DermStoreWorker *store;
  GListStore *cases;
  GtkFilterListModel *filtered;
  GtkSortListModel *sorted;
  GtkSingleSelection *selection;
  GtkCustomFilter *search_filter;
  char *search;
  GCancellable *query_cancellable;
  gboolean loading;
};

G_DEFINE_FINAL_TYPE (DermCaseBrowser, derm_case_browser, ADW_TYPE_WINDOW)

enum { SIGNAL_OPEN_CASE, SIGNAL_COMPARE_LESION, SIGNAL_LOADED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const double risk_levels[] = { -1.0, 0.1, 0.3, 0.5, 0.7 };

static DermCaseItem *
item_at (DermCaseBrowser *self, guint position)
{
  return g_list_model_get_item (G_LIST_MODEL (self->selection), position);
}

static void
update_buttons (DermCaseBrowser *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  guint selected = gtk_single_selection_get_selected (self->selection);
  gboolean has = selected != GTK_INVALID_LIST_POSITION && selected < n;
  gtk_widget_set_sensitive (GTK_WIDGET (self->open_button), has);
  gtk_widget_set_sensitive (GTK_WIDGET (self->compare_button), has);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->open_button),
                               has ? _("Open the selected case with its stored analysis")
                                   : _("Select a case first."));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->compare_button),
                               has ? _("Compare the visits of the selected case’s lesion side by side")
                                   : _("Select a case first."));
  /* Translators: how many stored cases the browser lists */
  g_autofree char *count = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u case", "%u cases", n), n);
  gtk_label_set_text (self->count_label, count);
  if (!self->loading && gtk_widget_get_visible (GTK_WIDGET (self->error_label)) == FALSE)
    gtk_stack_set_visible_child_name (self->stack, n > 0 ? "list" : "empty");
}

static void
items_changed_cb (GListModel *model, guint position, guint removed, guint added, DermCaseBrowser *self)
{
  update_buttons (self);
}

static void
selection_changed_cb (GtkSingleSelection *selection, GParamSpec *pspec, DermCaseBrowser *self)
{
  update_buttons (self);
}

static gboolean
search_match (gpointer item, gpointer user_data)
{
  DermCaseBrowser *self = user_data;
  if (self->search == NULL || *self->search == '\0')
    return TRUE;
  return strstr (DERM_CASE_ITEM (item)->search_text, self->search) != NULL;
}

static void
search_changed_cb (GtkSearchEntry *entry, DermCaseBrowser *self)
{
  g_free (self->search);
  self->search = g_utf8_casefold (gtk_editable_get_text (GTK_EDITABLE (entry)), -1);
  gtk_filter_changed (GTK_FILTER (self->search_filter), GTK_FILTER_CHANGE_DIFFERENT);
}

static void
cases_loaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(DermCaseBrowser) self = g_weak_ref_get (ref);
  g_weak_ref_clear (ref);
  g_free (ref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) cases = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL || g_task_get_cancellable (G_TASK (res)) != self->query_cancellable)
    return;

  self->loading = FALSE;
  if (cases == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The cases could not be listed: %s"), error->message);
      gtk_label_set_text (self->error_label, message);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
      gtk_stack_set_visible_child_name (self->stack, "error");
    }
  else
    {
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < cases->len; i++)
        g_ptr_array_add (items, case_item_new (g_ptr_array_index (cases, i)));
      /* The items own the cases now. */
      g_ptr_array_set_free_func (cases, NULL);
      g_list_store_splice (self->cases, 0, g_list_model_get_n_items (G_LIST_MODEL (self->cases)),
                           items->pdata, items->len);
    }
  update_buttons (self);
  g_signal_emit (self, signals[SIGNAL_LOADED], 0);
}

void
derm_case_browser_reload (DermCaseBrowser *self)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  if (self->query_cancellable != NULL)
    g_cancellable_cancel (self->query_cancellable);
  g_clear_object (&self->query_cancellable);
  self->query_cancellable = g_cancellable_new ();

  DermCaseListRequest *request = g_new0 (DermCaseListRequest, 1);
  guint site = gtk_drop_down_get_selected (self->site_dropdown);
  const char *const *sites = derm_body_sites ();
  if (site > 0 && site <= g_strv_length ((char **) sites))
    request->body_site = g_strdup (sites[site - 1]);
  guint cls = gtk_drop_down_get_selected (self->class_dropdown);
  request->predicted = cls > 0 && cls <= DERM_N_CLASSES ? (int) cls - 1 : -1;
  guint risk = gtk_drop_down_get_selected (self->risk_dropdown);
  request->min_risk = risk < G_N_ELEMENTS (risk_levels) ? risk_levels[risk] : -1.0;
  guint confirmed = gtk_drop_down_get_selected (self->confirmed_dropdown);
  request->confirmed = confirmed == 1 ? DERM_CONFIRMED_YES : confirmed == 2 ? DERM_CONFIRMED_NO
                                                                          : DERM_CONFIRMED_ANY;

  self->loading = TRUE;
  if (g_list_model_get_n_items (G_LIST_MODEL (self->cases)) == 0)
    gtk_stack_set_visible_child_name (self->stack, "loading");
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_store_worker_run_async (self->store, derm_case_list_job, request,
                               (GDestroyNotify) derm_case_list_request_free,
                               (GDestroyNotify) g_ptr_array_unref, self->query_cancellable,
                               cases_loaded_cb, ref);
}

static void
filter_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, DermCaseBrowser *self)
{
  derm_case_browser_reload (self);
}

void
derm_case_browser_activate_row (DermCaseBrowser *self, guint position)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  g_autoptr(DermCaseItem) item = item_at (self, position);
  if (item != NULL)
    g_signal_emit (self, signals[SIGNAL_OPEN_CASE], 0, item->c->image->id);
}

void
derm_case_browser_compare_row (DermCaseBrowser *self, guint position)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  g_autoptr(DermCaseItem) item = item_at (self, position);
  if (item != NULL)
    g_signal_emit (self, signals[SIGNAL_COMPARE_LESION], 0, item->c->lesion->id);
}

static void
activate_cb (GtkColumnView *view, guint position, DermCaseBrowser *self)
{
  derm_case_browser_activate_row (self, position);
}

static void
open_clicked_cb (GtkButton *button, DermCaseBrowser *self)
{
  derm_case_browser_activate_row (self, gtk_single_selection_get_selected (self->selection));
}

static void
compare_clicked_cb (GtkButton *button, DermCaseBrowser *self)
{
  derm_case_browser_compare_row (self, gtk_single_selection_get_selected (self->selection));
}

/* ---- Columns ------------------------------------------------------------------------ */

typedef enum {
  COLUMN_PATIENT,
  COLUMN_SITE,
  COLUMN_LESION,
  COLUMN_DATE,
  COLUMN_PREDICTED,
  COLUMN_RISK,
  COLUMN_CONFIRMED,
  N_COLUMNS
} Column;

static char *
cell_text (const DermCase *c, Column column)
{
  switch (column)
    {
    case COLUMN_PATIENT:
      return g_strdup (c->patient->identifier);
    case COLUMN_SITE:
      return g_strdup (derm_body_site_label (c->lesion->body_site));
    case COLUMN_LESION:
      return g_strdup (c->lesion->label);
    case COLUMN_DATE:
      {
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (c->image->captured);
        return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d") : g_strdup ("");
      }
    case COLUMN_PREDICTED:
      return c->analysis != NULL ? g_strdup_printf ("%s (%.0f %%)", derm_class_code (c->analysis->predicted),
                                                    100.0 * c->analysis->probs[c->analysis->predicted])
                                 : g_strdup (_("not analysed"));
    case COLUMN_RISK:
      return c->analysis != NULL ? g_strdup_printf ("%.0f %%", 100 * c->analysis->malignant_risk)
                                 : g_strdup ("");
    case COLUMN_CONFIRMED:
      return c->annotation != NULL
               ? g_strdup_printf ("%s, %s", derm_class_code (c->annotation->diagnosis),
                                  derm_dx_type_to_string (c->annotation->dx_type))
               : g_strdup (_("no"));
    default:
      return g_strdup ("");
    }
}

static void
setup_cell_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_item_set_child (list_item, label);
}

static void
bind_cell_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  Column column = GPOINTER_TO_INT (user_data);
  DermCaseItem *item = gtk_list_item_get_item (list_item);
  g_autofree char *text = cell_text (item->c, column);
  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (list_item)), text);
}

static int
compare_rows (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const DermCase *x = DERM_CASE_ITEM ((gpointer) a)->c, *y = DERM_CASE_ITEM ((gpointer) b)->c;
  Column column = GPOINTER_TO_INT (user_data);
  switch (column)
    {
    case COLUMN_DATE:
      return x->image->captured < y->image->captured ? -1 : x->image->captured > y->image->captured;
    case COLUMN_RISK:
      {
        double rx = x->analysis != NULL ? x->analysis->malignant_risk : -1;
        double ry = y->analysis != NULL ? y->analysis->malignant_risk : -1;
        return rx < ry ? -1 : rx > ry;
      }
    case COLUMN_PREDICTED:
      {
        int px = x->analysis != NULL ? (int) x->analysis->predicted : DERM_N_CLASSES;
        int py = y->analysis != NULL ? (int) y->analysis->predicted : DERM_N_CLASSES;
        return px - py;
      }
    default:
      {
        g_autofree char *tx = cell_text (x, column);
        g_autofree char *ty = cell_text (y, column);
        return g_utf8_collate (tx, ty);
      }
    }
}

static void
add_columns (DermCaseBrowser *self)
{
  static const char *const titles[N_COLUMNS] = {
    N_("Patient"), N_("Body Site"), N_("Lesion"), N_("Date"), N_("Predicted"),
    N_("Malignant Risk"), N_("Confirmed"),
  };
  GtkColumnViewColumn *date_column = NULL;
  for (int i = 0; i < N_COLUMNS; i++)
    {
      GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
      g_signal_connect (factory, "setup", G_CALLBACK (setup_cell_cb), NULL);
      g_signal_connect (factory, "bind", G_CALLBACK (bind_cell_cb), GINT_TO_POINTER (i));
      GtkColumnViewColumn *column = gtk_column_view_column_new (_(titles[i]), factory);
      gtk_column_view_column_set_resizable (column, TRUE);
      gtk_column_view_column_set_expand (column, i == COLUMN_LESION);
      GtkSorter *sorter = GTK_SORTER (gtk_custom_sorter_new (compare_rows, GINT_TO_POINTER (i), NULL));
      gtk_column_view_column_set_sorter (column, sorter);
      g_object_unref (sorter);
      gtk_column_view_append_column (self->column_view, column);
      if (i == COLUMN_DATE)
        date_column = column;
      g_object_unref (column);
    }
  /* Newest first, as the store lists them. */
  gtk_column_view_sort_by_column (self->column_view, date_column, GTK_SORT_DESCENDING);
}

/* ---- Public ------------------------------------------------------------------------- */

gboolean
derm_case_browser_get_loading (DermCaseBrowser *self)
{
  g_return_val_if_fail (DERM_IS_CASE_BROWSER (self), FALSE);
  return self->loading;
}

guint
derm_case_browser_get_n_shown (DermCaseBrowser *self)
{
  g_return_val_if_fail (DERM_IS_CASE_BROWSER (self), 0);
  return g_list_model_get_n_items (G_LIST_MODEL (self->selection));
}

void
derm_case_browser_set_search (DermCaseBrowser *self, const char *text)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), text != NULL ? text : "");
  /* The entry's own signal is delayed: apply it now. */
  search_changed_cb (self->search_entry, self);
}

void
derm_case_browser_set_site (DermCaseBrowser *self, const char *site)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  guint position = 0;
  const char *const *sites = derm_body_sites ();
  for (guint i = 0; site != NULL && sites[i] != NULL; i++)
    if (g_ascii_strcasecmp (sites[i], site) == 0)
      position = i + 1;
  gtk_drop_down_set_selected (self->site_dropdown, position);
}

gint64
derm_case_browser_row_case_id (DermCaseBrowser *self, guint position)
{
  g_return_val_if_fail (DERM_IS_CASE_BROWSER (self), 0);
  g_autoptr(DermCaseItem) item = item_at (self, position);
  return item != NULL ? item->c->image->id : 0;
}

gint64
derm_case_browser_row_lesion_id (DermCaseBrowser *self, guint position)
{
  g_return_val_if_fail (DERM_IS_CASE_BROWSER (self), 0);
  g_autoptr(DermCaseItem) item = item_at (self, position);
  return item != NULL ? item->c->lesion->id : 0;
}

void
derm_case_browser_describe (DermCaseBrowser *self, GString *out)
{
  g_return_if_fail (DERM_IS_CASE_BROWSER (self));
  guint n = derm_case_browser_get_n_shown (self);
  g_string_append_printf (out, "browser_rows=%u\n", n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(DermCaseItem) item = item_at (self, i);
      g_string_append_printf (out, "row%u=", i);
      for (int c = 0; c < N_COLUMNS; c++)
        {
          g_autofree char *text = cell_text (item->c, c);
          g_string_append_printf (out, "%s%s", c > 0 ? "|" : "", text);
        }
      g_string_append_c (out, '\n');
    }
}

static void
derm_case_browser_dispose (GObject *object)
{
  DermCaseBrowser *self = DERM_CASE_BROWSER (object);
  if (self->query_cancellable != NULL)
    g_cancellable_cancel (self->query_cancellable);
  g_clear_object (&self->query_cancellable);
  if (self->column_view != NULL)
    gtk_column_view_set_model (self->column_view, NULL);
  g_clear_object (&self->selection);
  g_clear_object (&self->store);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_CASE_BROWSER);
  G_OBJECT_CLASS (derm_case_browser_parent_class)->dispose (object);
}

static void
derm_case_browser_finalize (GObject *object)
{
  DermCaseBrowser *self = DERM_CASE_BROWSER (object);
  g_free (self->search);
  G_OBJECT_CLASS (derm_case_browser_parent_class)->finalize (object);
}

static void
derm_case_browser_class_init (DermCaseBrowserClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = derm_case_browser_dispose;
  object_class->finalize = derm_case_browser_finalize;

  signals[SIGNAL_OPEN_CASE] = g_signal_new ("open-case", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  signals[SIGNAL_COMPARE_LESION] = g_signal_new ("compare-lesion", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 1, G_TYPE_INT64);
  signals[SIGNAL_LOADED] = g_signal_new ("loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-case-browser.ui");
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, search_entry);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, site_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, class_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, risk_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, confirmed_dropdown);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, column_view);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, stack);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, count_label);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, error_label);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, open_button);
  gtk_widget_class_bind_template_child (widget_class, DermCaseBrowser, compare_button);
  gtk_widget_class_bind_template_callback (widget_class, search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, open_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, compare_clicked_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
}

static void
set_dropdown_strings (GtkDropDown *dropdown, GPtrArray *strings)
{
  g_ptr_array_add (strings, NULL);
  g_autoptr(GtkStringList) model = gtk_string_list_new ((const char *const *) strings->pdata);
  gtk_drop_down_set_model (dropdown, G_LIST_MODEL (model));
  gtk_drop_down_set_selected (dropdown, 0);
}

static void
derm_case_browser_init (DermCaseBrowser *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  g_autoptr(GPtrArray) sites = g_ptr_array_new ();
  g_ptr_array_add (sites, (gpointer) _("Any body site"));
  for (const char *const *s = derm_body_sites (); *s != NULL; s++)
    g_ptr_array_add (sites, (gpointer) derm_body_site_label (*s));
  set_dropdown_strings (self->site_dropdown, sites);

  g_autoptr(GPtrArray) classes = g_ptr_array_new ();
  g_ptr_array_add (classes, (gpointer) _("Any prediction"));
  for (int c = 0; c < DERM_N_CLASSES; c++)
    g_ptr_array_add (classes, (gpointer) derm_class_name (c));
  set_dropdown_strings (self->class_dropdown, classes);

  g_autoptr(GPtrArray) risks = g_ptr_array_new ();
  g_ptr_array_add (risks, (gpointer) _("Any risk"));
  g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);
  for (gsize i = 1; i < G_N_ELEMENTS (risk_levels); i++)
    {
      /* Translators: a filter on the malignant risk, e.g. "Risk ≥ 30 %" */
      char *text = g_strdup_printf (_("Risk ≥ %.0f %%"), 100 * risk_levels[i]);
      g_ptr_array_add (owned, text);
      g_ptr_array_add (risks, text);
    }
  set_dropdown_strings (self->risk_dropdown, risks);

  g_autoptr(GPtrArray) confirmed = g_ptr_array_new ();
  g_ptr_array_add (confirmed, (gpointer) _("Confirmed or not"));
  g_ptr_array_add (confirmed, (gpointer) _("Confirmed"));
  g_ptr_array_add (confirmed, (gpointer) _("Not confirmed"));
  set_dropdown_strings (self->confirmed_dropdown, confirmed);

  self->cases = g_list_store_new (DERM_TYPE_CASE_ITEM);
  self->search_filter = gtk_custom_filter_new (search_match, self, NULL);
  self->filtered = gtk_filter_list_model_new (G_LIST_MODEL (self->cases), GTK_FILTER (self->search_filter));
  GtkSorter *sorter = gtk_column_view_get_sorter (self->column_view);
  self->sorted = gtk_sort_list_model_new (G_LIST_MODEL (self->filtered), g_object_ref (sorter));
  self->selection = gtk_single_selection_new (G_LIST_MODEL (self->sorted));
  gtk_single_selection_set_autoselect (self->selection, TRUE);
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (self->selection));
  add_columns (self);

  g_signal_connect (self->selection, "items-changed", G_CALLBACK (items_changed_cb), self);
  g_signal_connect (self->selection, "notify::selected", G_CALLBACK (selection_changed_cb), self);
  GtkDropDown *filters[] = { self->site_dropdown, self->class_dropdown, self->risk_dropdown,
                             self->confirmed_dropdown };
  for (gsize i = 0; i < G_N_ELEMENTS (filters); i++)
    g_signal_connect (filters[i], "notify::selected", G_CALLBACK (filter_changed_cb), self);
  update_buttons (self);
}

DermCaseBrowser *
derm_case_browser_new (GtkWindow *parent, DermStoreWorker *store)
{
  g_return_val_if_fail (DERM_IS_STORE_WORKER (store), NULL);
  DermCaseBrowser *self = g_object_new (DERM_TYPE_CASE_BROWSER, "transient-for", parent, NULL);
  self->store = g_object_ref (store);
  derm_case_browser_reload (self);
  return self;
}
