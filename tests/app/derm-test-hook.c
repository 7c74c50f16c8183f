/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-test-hook.c: screenshot, state dump and scripted steps for the GUI
 * tests, linked into tests/app/dermalens-test (never into the shipped
 * application). */
#include "config.h"

#define G_LOG_DOMAIN "derm-test-hook"

#include <glib/gi18n.h>

#include "derm-application.h"
#include "derm-case-browser-private.h"
#include "derm-compare-private.h"
#include "derm-error.h"
#include "derm-preferences.h"
#include "derm-store.h"
#include "derm-page-private.h"
#include "derm-test-hook.h"
#include "derm-window-private.h"
#include "derm-train-panel-private.h"

#include <signal.h>
#include <string.h>

gboolean
derm_test_hook_enabled (void)
{
  return g_getenv ("DERMALENS_TEST_SCREENSHOT") != NULL || g_getenv ("DERMALENS_TEST_STATE") != NULL;
}

gboolean
derm_test_hook_save_screenshot (GtkWidget *widget, const char *path, GError **error)
{
  GtkNative *native = gtk_widget_get_native (widget);
  GskRenderer *renderer = native != NULL ? gtk_native_get_renderer (native) : NULL;
  if (renderer == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED,
                   "Cannot save a screenshot: the window is not shown");
      return FALSE;
    }

  /* A toplevel has no parent to snapshot it as a child: run its own
   * snapshot vfunc, which draws its background and every child. */
  graphene_rect_t bounds = GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget),
                                               gtk_widget_get_height (widget));
  GdkRGBA background = { 1, 1, 1, 1 };
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_lookup_color (gtk_widget_get_style_context (widget), "theme_bg_color", &background);
  G_GNUC_END_IGNORE_DEPRECATIONS
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gtk_snapshot_append_color (snapshot, &background, &bounds);
  GTK_WIDGET_GET_CLASS (widget)->snapshot (widget, snapshot);
  g_autoptr(GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_FAILED,
                   "Cannot save a screenshot: the window drew nothing");
      return FALSE;
    }

  g_autoptr(GdkTexture) texture = gsk_renderer_render_texture (renderer, node, &bounds);
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_IO,
                   "Cannot write the screenshot “%s”", path);
      return FALSE;
    }
  return TRUE;
}

static void
write_state (DermWindow *window, DermPage *page, const char *path)
{
  g_autoptr(GString) out = g_string_new (NULL);
  static const char *const names[] = { "loading", "error", "ready" };
  DermPageState state = derm_page_get_state (page);

  g_string_append_printf (out, "title=%s\n", gtk_window_get_title (GTK_WINDOW (window)));
  g_string_append_printf (out, "state=%s\n", names[state]);
  if (state == DERM_PAGE_ERROR)
    g_string_append_printf (out, "error=%s\n", derm_page_get_error_message (page));
  const DermImage *image = derm_page_get_image (page);
  if (image != NULL)
    g_string_append_printf (out, "image_width=%d\nimage_height=%d\n", image->width, image->height);
  derm_page_describe (page, out);
  g_string_append_printf (out, "window_width=%d\nwindow_height=%d\n",
                          gtk_widget_get_width (GTK_WIDGET (window)),
                          gtk_widget_get_height (GTK_WIDGET (window)));

  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents (path, out->str, (gssize) out->len, &error))
    g_printerr ("dermalens: test hook: %s\n", error->message);
}

typedef struct {
  GWeakRef window;
  GWeakRef page;
} Pending;

static void
pending_free (Pending *pending)
{
  g_weak_ref_clear (&pending->window);
  g_weak_ref_clear (&pending->page);
  g_free (pending);
}

/* Runs once the settled page has been laid out and drawn. */
static gboolean
dump_and_quit_cb (gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr(DermWindow) window = g_weak_ref_get (&pending->window);
  g_autoptr(DermPage) page = g_weak_ref_get (&pending->page);
  if (window == NULL)
    return G_SOURCE_REMOVE;
  /* A script may have closed the first page: describe the one shown now. */
  if (page == NULL && derm_window_get_current_page (window) != NULL)
    page = g_object_ref (derm_window_get_current_page (window));

  int status = 0;
  const char *state_path = g_getenv ("DERMALENS_TEST_STATE");
  if (state_path != NULL && page != NULL)
    write_state (window, page, state_path);

  const char *shot_path = g_getenv ("DERMALENS_TEST_SCREENSHOT");
  if (shot_path != NULL)
    {
      g_autoptr(GError) error = NULL;
      if (!derm_test_hook_save_screenshot (GTK_WIDGET (window), shot_path, &error))
        {
          g_printerr ("dermalens: test hook: %s\n", error->message);
          status = 1;
        }
    }

  GApplication *app = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (window)));
  if (status != 0)
    g_object_set_data (G_OBJECT (app), "derm-test-failed", GINT_TO_POINTER (1));
  gtk_window_destroy (GTK_WINDOW (window));
  return G_SOURCE_REMOVE;
}

static void start_script (Pending *pending);

static void
after_paint_cb (GdkFrameClock *clock, Pending *pending)
{
  g_signal_handlers_disconnect_by_func (clock, after_paint_cb, pending);
  if (g_getenv ("DERMALENS_TEST_SCRIPT") != NULL)
    start_script (pending);
  else
    g_idle_add_full (G_PRIORITY_LOW, dump_and_quit_cb, pending, (GDestroyNotify) pending_free);
}

static gboolean
window_tick_cb (GtkWidget *window, GdkFrameClock *clock, gpointer user_data)
{
  g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), user_data);
  gtk_widget_queue_draw (window);
  return G_SOURCE_REMOVE;
}

static void
page_state_cb (DermPage *page, GParamSpec *pspec, DermWindow *window)
{
  if (derm_page_get_state (page) == DERM_PAGE_LOADING
      || (derm_page_get_state (page) == DERM_PAGE_READY
          && derm_page_get_analysis_state (page) <= DERM_ANALYSIS_RUNNING))
    return;
  g_signal_handlers_disconnect_by_func (page, page_state_cb, window);

  Pending *pending = g_new0 (Pending, 1);
  g_weak_ref_init (&pending->window, window);
  g_weak_ref_init (&pending->page, page);

  /* Wait for a frame that shows the new state: tick callbacks only run
   * once the window is mapped, and after-paint follows that frame's layout. */
  gtk_widget_add_tick_callback (GTK_WIDGET (window), window_tick_cb, pending, NULL);
}

static void
page_added_cb (GtkNotebook *notebook, GtkWidget *child, guint index, DermWindow *window)
{
  static gboolean watching = FALSE;
  if (watching)
    return;
  watching = TRUE;

  DermPage *page = DERM_PAGE (child);
  g_signal_connect_object (page, "notify::state", G_CALLBACK (page_state_cb), window, 0);
  g_signal_connect_object (page, "notify::analysis-state", G_CALLBACK (page_state_cb), window, 0);
  if (derm_page_get_state (page) != DERM_PAGE_LOADING)
    page_state_cb (page, NULL, window);
}

/* At the window's first frame: launched without an image, the script (or
 * the dump) starts from the welcome page. */
static gboolean
first_frame_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  DermWindow *window = DERM_WINDOW (widget);
  if (gtk_notebook_get_n_pages (derm_window_get_notebook (window)) == 0)
    {
      Pending *pending = g_new0 (Pending, 1);
      g_weak_ref_init (&pending->window, window);
      g_weak_ref_init (&pending->page, NULL);
      g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), pending);
      gtk_widget_queue_draw (widget);
    }
  return G_SOURCE_REMOVE;
}

void
derm_test_hook_watch_window (DermWindow *window)
{
  if (!derm_test_hook_enabled ())
    return;
  gtk_widget_add_tick_callback (GTK_WIDGET (window), first_frame_cb, NULL, NULL);

  /* Deterministic pictures: no cross-fades caught half way. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  GtkNotebook *notebook = derm_window_get_notebook (window);
  g_signal_connect_object (notebook, "page-added", G_CALLBACK (page_added_cb), window, 0);
}

/* ---- Scripted steps ------------------------------------------------------------- */

typedef struct {
  GWeakRef window;
  char **steps;
  guint next;
  char **fields;            /* of the running step */
  gint64 expect_case;       /* browse-open: the case id the page must show */
  guint expect_pages;       /* open-file: pages after opening */
  DermCaseBrowser *browser; /* weak */
  DermCompare *compare;     /* weak */
  DermSaveDialog *dialog;   /* weak */
  GtkWindow *preferences;   /* weak */
  GtkWindow *about;         /* weak */
  Pending *final;           /* the dump once the script ends */
} Script;

static Script *script;

static void run_next_step (Script *s);
static AdwMessageDialog *find_stop_dialog (DermWindow *window);
static const char *field (Script *s, guint i);

static void
script_fail (Script *s, const char *message)
{
  g_printerr ("dermalens: test step “%s” failed: %s\n", s->steps[s->next - 1], message);
  GApplication *app = g_application_get_default ();
  if (app != NULL)
    g_object_set_data (G_OBJECT (app), "derm-test-failed", GINT_TO_POINTER (1));
}

static DermPage *
current_page (Script *s)
{
  g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
  return window != NULL ? derm_window_get_current_page (window) : NULL;
}

static void
write_all_state (Script *s, const char *path)
{
  g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
  DermPage *page = window != NULL ? derm_window_get_current_page (window) : NULL;
  if (page != NULL)
    write_state (window, page, path);
  g_autoptr(GString) extra = g_string_new (NULL);
  if (window != NULL)
    {
      g_string_append_printf (extra, "pages=%d\n", derm_window_get_n_pages (window));
      g_string_append_printf (extra, "view=%s\n", derm_window_get_view (window));
      const char *status = derm_window_get_training_status (window);
      g_string_append_printf (extra, "training_button=%s\n", status != NULL ? status : "");
      g_string_append_printf (extra, "stop_dialog=%d\n", find_stop_dialog (window) != NULL);
      g_string_append_printf (extra, "welcome_first_run=%d\n", derm_window_get_offers_first_run (window));
      /* toast=TITLE, one line for each toast shown so far. */
      g_auto(GStrv) toasts = g_strsplit (derm_window_get_toasts (window) != NULL
                                           ? derm_window_get_toasts (window) : "", "\n", -1);
      for (guint i = 0; toasts[i] != NULL; i++)
        if (*toasts[i] != '\0')
          g_string_append_printf (extra, "toast=%s\n", toasts[i]);
      DermTrainPanel *panel = derm_window_get_training_panel (window);
      if (panel != NULL)
        {
          g_autoptr(GString) train = g_string_new (NULL);
          _derm_train_panel_describe (panel, train);
          g_auto(GStrv) lines = g_strsplit (train->str, "\n", -1);
          for (guint i = 0; lines[i] != NULL; i++)
            if (*lines[i] != '\0')
              g_string_append_printf (extra, "training_%s\n", lines[i]);
        }
    }
  if (s->browser != NULL)
    derm_case_browser_describe (s->browser, extra);
  if (s->compare != NULL)
    derm_compare_describe (s->compare, extra);
  g_autofree char *before = NULL;
  g_file_get_contents (path, &before, NULL, NULL);
  g_autofree char *all = g_strconcat (before != NULL ? before : "", extra->str, NULL);
  g_file_set_contents (path, all, -1, NULL);
}

/* The question "A training job is running. Stop it?" over @window, or NULL. */
static AdwMessageDialog *
find_stop_dialog (DermWindow *window)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) w = g_list_model_get_item (toplevels, i);
      if (ADW_IS_MESSAGE_DIALOG (w) && gtk_widget_get_visible (GTK_WIDGET (w))
          && gtk_window_get_transient_for (GTK_WINDOW (w)) == GTK_WINDOW (window)
          && g_strcmp0 (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (w)),
                        _("A training job is running. Stop it?")) == 0)
        return ADW_MESSAGE_DIALOG (w);
    }
  return NULL;
}


/* ---- Accessibility ------------------------------------------------------------ */

/* The text of the first non-empty label inside @w (a button's content). */
static const char *
inner_label_text (GtkWidget *w)
{
  if (GTK_IS_LABEL (w) && *gtk_label_get_text (GTK_LABEL (w)) != '\0')
    return gtk_label_get_text (GTK_LABEL (w));
  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      const char *t = inner_label_text (c);
      if (t != NULL)
        return t;
    }
  return NULL;
}

/* Whether assistive technology gets a name for @w: an accessible label, a
 * labelled-by relation (a mnemonic label), visible text inside a button,
 * or the title of the preferences row whose control it is. */
static gboolean
has_accessible_name (GtkWidget *w)
{
  GtkAccessible *a = GTK_ACCESSIBLE (w);
  if (gtk_test_accessible_has_property (a, GTK_ACCESSIBLE_PROPERTY_LABEL)
      || gtk_test_accessible_has_relation (a, GTK_ACCESSIBLE_RELATION_LABELLED_BY))
    return TRUE;
  if ((GTK_IS_BUTTON (w) || GTK_IS_MENU_BUTTON (w)) && inner_label_text (w) != NULL)
    return TRUE;
  if (GTK_IS_CHECK_BUTTON (w) && gtk_check_button_get_label (GTK_CHECK_BUTTON (w)) != NULL)
    return TRUE;
  if (ADW_IS_PREFERENCES_ROW (w))
    return *adw_preferences_row_get_title (ADW_PREFERENCES_ROW (w)) != '\0';
  GtkWidget *row = gtk_widget_get_ancestor (w, ADW_TYPE_ACTION_ROW);
  return row != NULL && adw_action_row_get_activatable_widget (ADW_ACTION_ROW (row)) == w
         && *adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)) != '\0';
}

/* A control a user reaches: named, and a bar says its value. Composite
 * controls are checked as one (their inner buttons belong to them). */
static void
check_accessible (GtkWidget *w, GString *out, guint *checked)
{
  /* Scrollbars are not controls one names. */
  if (!gtk_widget_get_mapped (w) || GTK_IS_SCROLLBAR (w))
    return;
  gboolean composite = GTK_IS_SPIN_BUTTON (w) || GTK_IS_DROP_DOWN (w) || GTK_IS_MENU_BUTTON (w)
                       || GTK_IS_COLOR_BUTTON (w) || GTK_IS_ENTRY (w) || ADW_IS_COMBO_ROW (w)
                       || ADW_IS_ENTRY_ROW (w);
  gboolean control = composite || GTK_IS_BUTTON (w) || GTK_IS_RANGE (w) || GTK_IS_SWITCH (w)
                     || GTK_IS_CHECK_BUTTON (w) || GTK_IS_LEVEL_BAR (w) || DERM_IS_VIEWER (w);
  if (control)
    {
      (*checked)++;
      const char *id = gtk_buildable_get_buildable_id (GTK_BUILDABLE (w));
      if (!has_accessible_name (w))
        g_string_append_printf (out, "a11y_unnamed=%s#%s\n", G_OBJECT_TYPE_NAME (w), id != NULL ? id : "");
      if (GTK_IS_LEVEL_BAR (w)
          && !gtk_test_accessible_has_property (GTK_ACCESSIBLE (w), GTK_ACCESSIBLE_PROPERTY_VALUE_NOW)
          && !gtk_test_accessible_has_property (GTK_ACCESSIBLE (w), GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT))
        g_string_append_printf (out, "a11y_no_value=%s#%s\n", G_OBJECT_TYPE_NAME (w), id != NULL ? id : "");
    }
  if (composite)
    return;
  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    check_accessible (c, out, checked);
}

/* Every control of every window now shown, as "a11y_unnamed=" lines. */
static void
write_accessibility (const char *path)
{
  g_autoptr(GString) out = g_string_new (NULL);
  guint checked = 0;
  GListModel *toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) w = g_list_model_get_item (toplevels, i);
      if (gtk_widget_get_mapped (w))
        check_accessible (w, out, &checked);
    }
  g_string_append_printf (out, "a11y_checked=%u\n", checked);
  g_file_set_contents (path, out->str, (gssize) out->len, NULL);
}

/* TRUE when the step has its outcome. */
static gboolean
step_done (Script *s)
{
  const char *name = s->fields[0];
  DermPage *page = current_page (s);
  if (g_str_equal (name, "save-case") || g_str_equal (name, "store-correction")
      || g_str_equal (name, "export"))
    return page == NULL || !derm_page_get_busy (page);
  /* A correction is measured, a reopened case's heatmap computed, in the background. */
  if (g_str_equal (name, "paint") || g_str_equal (name, "erase") || g_str_equal (name, "strokes")
      || g_str_equal (name, "undo")
      || g_str_equal (name, "redo") || g_str_equal (name, "toggle"))
    return page == NULL || !derm_page_get_computing (page);
  if (g_str_equal (name, "import-model"))
    {
      g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
      /* Until the import is done and the open image analysed again. */
      return window == NULL
             || (!derm_window_get_importing (window)
                 && (page == NULL || derm_page_get_analysis_state (page) != DERM_ANALYSIS_RUNNING));
    }
  if (g_str_equal (name, "browse") || g_str_equal (name, "browse-site"))
    return s->browser == NULL || !derm_case_browser_get_loading (s->browser);
  if (g_str_equal (name, "compare"))
    return s->compare == NULL || !derm_compare_get_loading (s->compare);
  if (g_str_equal (name, "train-activate"))
    {
      /* Until the store's active versions are the job's new ones. */
      g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
      DermTrainPanel *panel = window != NULL ? derm_window_get_training_panel (window) : NULL;
      g_autoptr(DermStore) store = panel != NULL ? derm_store_open (NULL, NULL) : NULL;
      if (store == NULL)
        return TRUE;
      for (int kind = 0; kind < 2; kind++)
        {
          gint64 id = _derm_train_panel_get_new_version_of_kind (panel, kind);
          g_autoptr(DermModelVersion) v = id > 0 ? derm_store_get_active_model (store, kind, NULL) : NULL;
          if (id > 0 && (v == NULL || v->id != id))
            return FALSE;
        }
      return TRUE;
    }
  if (g_str_equal (name, "resize"))
    {
      /* Until the window has the width (the shadow aside) and the page its
       * fold policy for it. */
      g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
      int want = (int) g_ascii_strtoll (field (s, 1), NULL, 10);
      int width = window != NULL ? gtk_widget_get_width (GTK_WIDGET (window)) : want;
      return width <= MAX (want, 400) + 20 && (page == NULL || page->fold_idle == 0);
    }
  if (g_str_equal (name, "first-run"))
    {
      /* Until the form's time estimate is shown. */
      g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
      DermTrainPanel *panel = window != NULL ? derm_window_get_training_panel (window) : NULL;
      return panel == NULL || !_derm_train_panel_get_estimating (panel);
    }
  if (g_str_equal (name, "wait-analysis"))
    return page != NULL && derm_page_get_analysis_state (page) == DERM_ANALYSIS_DONE;
  if (g_str_equal (name, "train") || g_str_equal (name, "train-resume") || g_str_equal (name, "train-start")
      || g_str_equal (name, "wait-train") || g_str_equal (name, "train-stop"))
    {
      /* train: until steps are under way; wait-train: until the job ends. */
      g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
      DermTrainPanel *panel = window != NULL ? derm_window_get_training_panel (window) : NULL;
      if (panel == NULL || !derm_train_panel_is_running (panel))
        return TRUE;
      GtkProgressBar *bar = GTK_PROGRESS_BAR (_derm_train_panel_get_child (panel, "progress_bar"));
      const char *text = gtk_progress_bar_get_text (bar);
      if (g_str_equal (name, "train-stop"))
        return FALSE;
      if (g_str_equal (name, "wait-train"))
        {
          /* wait-train|TASK|EPOCH: until that task's epoch runs (1-based). */
          if (*field (s, 1) == '\0')
            return FALSE;
          const char *task = strstr (text != NULL ? text : "", field (s, 1));
          const char *epoch = task != NULL ? strstr (task, "epoch ") : NULL;
          return epoch != NULL && g_ascii_strtoll (epoch + 6, NULL, 10) >= g_ascii_strtoll (field (s, 2), NULL, 10);
        }
      return text != NULL && strstr (text, " · step ") != NULL;
    }
  if (g_str_equal (name, "browse-open") || g_str_equal (name, "open-file"))
    {
      if (page == NULL)
        return FALSE;
      if (g_str_equal (name, "browse-open")
          && (derm_page_get_case (page) == NULL || derm_page_get_case (page)->image->id != s->expect_case))
        return FALSE;
      return derm_page_get_state (page) == DERM_PAGE_ERROR
             || (derm_page_get_state (page) == DERM_PAGE_READY
                 && derm_page_get_analysis_state (page) > DERM_ANALYSIS_RUNNING
                 && !derm_page_get_computing (page));
    }
  return TRUE;
}

static gboolean
frame_done_cb (gpointer user_data)
{
  run_next_step (user_data);
  return G_SOURCE_REMOVE;
}

static void
step_after_paint_cb (GdkFrameClock *clock, Script *s)
{
  g_signal_handlers_disconnect_by_func (clock, step_after_paint_cb, s);
  g_idle_add_full (G_PRIORITY_LOW, frame_done_cb, s, NULL);
}

static gboolean
step_tick_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  g_signal_connect (clock, "after-paint", G_CALLBACK (step_after_paint_cb), user_data);
  gtk_widget_queue_draw (widget);
  return G_SOURCE_REMOVE;
}

/* Polls the outcome (no timing is asserted: the test's own timeout
 * bounds a step that never finishes), then waits for a drawn frame of every
 * window so screenshots show the new state. */
static gboolean
poll_cb (gpointer user_data)
{
  Script *s = user_data;
  if (!step_done (s))
    return G_SOURCE_CONTINUE;
  DermPage *page = current_page (s);
  const char *error = page != NULL ? derm_page_get_last_error (page) : NULL;
  if (error != NULL && !g_str_equal (s->fields[0], "state") && !g_str_equal (s->fields[0], "shot"))
    script_fail (s, error);
  GtkWidget *target = NULL;
  g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
  if (s->preferences != NULL && gtk_widget_get_mapped (GTK_WIDGET (s->preferences)))
    target = GTK_WIDGET (s->preferences);
  else if (s->dialog != NULL && gtk_widget_get_mapped (GTK_WIDGET (s->dialog)))
    target = GTK_WIDGET (s->dialog);
  else if (s->compare != NULL && gtk_widget_get_mapped (GTK_WIDGET (s->compare)))
    target = GTK_WIDGET (s->compare);
  else if (s->browser != NULL && gtk_widget_get_mapped (GTK_WIDGET (s->browser)))
    target = GTK_WIDGET (s->browser);
  else if (window != NULL)
    target = GTK_WIDGET (window);
  if (target != NULL && gtk_widget_get_mapped (target))
    gtk_widget_add_tick_callback (target, step_tick_cb, s, NULL);
  else
    g_idle_add (frame_done_cb, s);
  return G_SOURCE_REMOVE;
}

static guint
field_count (Script *s)
{
  return g_strv_length (s->fields);
}

static const char *
field (Script *s, guint i)
{
  return i < field_count (s) ? s->fields[i] : "";
}

static void
start_step (Script *s)
{
  const char *name = s->fields[0];
  g_autoptr(DermWindow) window = g_weak_ref_get (&s->window);
  DermPage *page = current_page (s);
  g_autoptr(GError) error = NULL;

  if (window == NULL)
    return;
  if (g_str_equal (name, "save-case") || g_str_equal (name, "save-dialog"))
    {
      if (page == NULL)
        return script_fail (s, "no page");
      /* The dialog the button opens, filled and confirmed as a user would. */
      DermSaveDialog *dialog = derm_page_show_save_dialog (page);
      s->dialog = dialog;
      g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *) &s->dialog);
      derm_save_dialog_set_fields (dialog, field (s, 1), field (s, 2), field (s, 3), field (s, 4), field (s, 5));
      /* save-case|...|BIRTH_YEAR|SEX (male, female; optional) */
      if (*field (s, 6) != '\0' || *field (s, 7) != '\0')
        {
          int sex = derm_sex_from_string (field (s, 7));
          derm_save_dialog_set_patient_facts (dialog, (int) g_ascii_strtoll (field (s, 6), NULL, 10),
                                              sex > 0 ? (DermSex) sex : DERM_SEX_UNKNOWN);
        }
      if (g_str_equal (name, "save-case"))
        derm_save_dialog_confirm (dialog);
    }
  else if (g_str_equal (name, "open-file"))
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (field (s, 1));
      derm_window_open_file (window, file);
    }
  else if (g_str_equal (name, "import-model"))
    {
      /* import-model|FILE: as the main menu's Import Model File. */
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (field (s, 1));
      derm_window_import_model (window, file);
    }
  else if (g_str_equal (name, "close-page"))
    gtk_widget_activate_action (GTK_WIDGET (window), "win.close-page", NULL);
  else if (g_str_equal (name, "browse"))
    {
      s->browser = derm_window_show_cases (window);
      g_object_add_weak_pointer (G_OBJECT (s->browser), (gpointer *) &s->browser);
    }
  else if (g_str_equal (name, "browse-search") && s->browser != NULL)
    derm_case_browser_set_search (s->browser, field (s, 1));
  else if (g_str_equal (name, "browse-site") && s->browser != NULL)
    derm_case_browser_set_site (s->browser, *field (s, 1) != '\0' ? field (s, 1) : NULL);
  else if (g_str_equal (name, "browse-open") && s->browser != NULL)
    {
      guint row = (guint) g_ascii_strtoull (field (s, 1), NULL, 10);
      s->expect_case = derm_case_browser_row_case_id (s->browser, row);
      if (s->expect_case == 0)
        return script_fail (s, "no such row");
      derm_case_browser_activate_row (s->browser, row);
      /* The browser would cover the window in the screenshots. */
      gtk_window_destroy (GTK_WINDOW (s->browser));
    }
  else if (g_str_equal (name, "compare") && s->browser != NULL)
    {
      guint row = (guint) g_ascii_strtoull (field (s, 1), NULL, 10);
      gint64 lesion = derm_case_browser_row_lesion_id (s->browser, row);
      if (lesion == 0)
        return script_fail (s, "no such row");
      s->compare = derm_window_show_compare (window, lesion);
      g_object_add_weak_pointer (G_OBJECT (s->compare), (gpointer *) &s->compare);
    }
  else if (g_str_equal (name, "close-windows"))
    {
      if (s->compare != NULL)
        gtk_window_destroy (GTK_WINDOW (s->compare));
      if (s->browser != NULL)
        gtk_window_destroy (GTK_WINDOW (s->browser));
      if (s->dialog != NULL)
        gtk_window_destroy (GTK_WINDOW (s->dialog));
      if (s->preferences != NULL)
        gtk_window_destroy (s->preferences);
      if (s->about != NULL)
        gtk_window_destroy (s->about);
    }
  else if (g_str_equal (name, "about"))
    {
      /* As the main menu's About Dermalens. */
      gtk_widget_activate_action (GTK_WIDGET (window), "app.about", NULL);
      GListModel *toplevels = gtk_window_get_toplevels ();
      for (guint i = 0; i < g_list_model_get_n_items (toplevels) && s->about == NULL; i++)
        {
          g_autoptr(GObject) w = g_list_model_get_item (toplevels, i);
          if (ADW_IS_ABOUT_WINDOW (w))
            {
              s->about = GTK_WINDOW (w);
              g_object_add_weak_pointer (w, (gpointer *) &s->about);
            }
        }
      if (s->about == NULL)
        return script_fail (s, "no About window is shown");
    }
  else if (g_str_equal (name, "preferences"))
    {
      GApplication *app = g_application_get_default ();
      s->preferences = GTK_WINDOW (derm_preferences_new (GTK_WINDOW (window),
                                                         derm_application_get_settings (DERM_APPLICATION (app))));
      g_object_add_weak_pointer (G_OBJECT (s->preferences), (gpointer *) &s->preferences);
      gtk_window_present (s->preferences);
    }
  else if (g_str_equal (name, "brush-size"))
    {
      GApplication *app = g_application_get_default ();
      g_settings_set_int (derm_application_get_settings (DERM_APPLICATION (app)), "brush-size",
                          (int) g_ascii_strtoll (field (s, 1), NULL, 10));
    }
  else if (g_str_equal (name, "toggle") && page != NULL)
    {
      g_autofree char *action = g_strdup_printf ("page.toggle-%s", field (s, 1));
      gtk_widget_activate_action (GTK_WIDGET (page), action, NULL);
    }
  else if (g_str_equal (name, "strokes") && page != NULL)
    {
      /* strokes|N|x|y|x2|y2: N brush strokes at once, as a quick hand would. */
      guint n = (guint) g_ascii_strtoull (field (s, 1), NULL, 10);
      for (guint i = 0; i < n; i++)
        derm_page_paint (page, FALSE, g_ascii_strtod (field (s, 2), NULL), g_ascii_strtod (field (s, 3), NULL),
                         g_ascii_strtod (field (s, 4), NULL), g_ascii_strtod (field (s, 5), NULL));
    }
  else if ((g_str_equal (name, "paint") || g_str_equal (name, "erase")) && page != NULL)
    derm_page_paint (page, g_str_equal (name, "erase"), g_ascii_strtod (field (s, 1), NULL),
                     g_ascii_strtod (field (s, 2), NULL), g_ascii_strtod (field (s, 3), NULL),
                     g_ascii_strtod (field (s, 4), NULL));
  else if ((g_str_equal (name, "undo") || g_str_equal (name, "redo")) && page != NULL)
    {
      g_autofree char *action = g_strdup_printf ("page.%s", name);
      gtk_widget_activate_action (GTK_WIDGET (page), action, NULL);
    }
  else if (g_str_equal (name, "diagnose") && page != NULL)
    {
      int dx = derm_class_from_code (field (s, 1));
      int type = derm_dx_type_from_string (field (s, 2));
      if (dx < 0 || type < 0)
        return script_fail (s, "unknown diagnosis or dx_type");
      derm_page_set_diagnosis (page, dx, type);
    }
  else if (g_str_equal (name, "store-correction") && page != NULL)
    {
      if (!derm_page_save_correction (page, &error))
        script_fail (s, error->message);
    }
  else if (g_str_equal (name, "export") && page != NULL)
    {
      if (!derm_page_export_report (page, field (s, 1), &error))
        script_fail (s, error->message);
    }
  else if (g_str_equal (name, "train"))
    {
      /* train|FOLDER|EPOCHS|BATCH|SIZE[|classifier|segmenter|both]: a job
       * from the folder on the CPU, set up and started in the training view
       * as a user would. */
      DermTrainPanel *panel = derm_window_show_training (window);
      const char *limit = g_getenv ("DERMALENS_TRAIN_LIMIT");
      if (limit != NULL)
        _derm_train_panel_set_limit (panel, (guint) g_ascii_strtoull (limit, NULL, 10));
      const char *task = field (s, 5);
      guint task_index = g_str_equal (task, "segmenter") ? 1 : g_str_equal (task, "both") ? 2 : 0;
      gtk_editable_set_text (GTK_EDITABLE (_derm_train_panel_get_child (panel, "folder_entry")), field (s, 1));
      gtk_drop_down_set_selected (GTK_DROP_DOWN (_derm_train_panel_get_child (panel, "data_drop")), 0);
      gtk_drop_down_set_selected (GTK_DROP_DOWN (_derm_train_panel_get_child (panel, "task_drop")), task_index);
      gtk_drop_down_set_selected (GTK_DROP_DOWN (_derm_train_panel_get_child (panel, "arch_drop")), 0);
      gtk_drop_down_set_selected (GTK_DROP_DOWN (_derm_train_panel_get_child (panel, "device_drop")), 1);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (_derm_train_panel_get_child (panel, "epochs_spin")),
                                 g_ascii_strtod (field (s, 2), NULL));
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (_derm_train_panel_get_child (panel, "batch_spin")),
                                 g_ascii_strtod (field (s, 3), NULL));
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (_derm_train_panel_get_child (panel, "size_spin")),
                                 g_ascii_strtod (field (s, 4), NULL));
      g_signal_emit_by_name (_derm_train_panel_get_child (panel, "start_button"), "clicked");
      if (!derm_train_panel_is_running (panel))
        script_fail (s, "the job did not start");
    }
  else if (g_str_equal (name, "wait-train") || g_str_equal (name, "wait-analysis"))
    ;
  else if (g_str_equal (name, "first-run"))
    {
      /* first-run|FOLDER: the no-model page's Train on HAM10000, with the
       * folder chosen. */
      derm_window_train_first_run (window, field (s, 1));
      const char *limit = g_getenv ("DERMALENS_TRAIN_LIMIT");
      if (limit != NULL)
        _derm_train_panel_set_limit (derm_window_get_training_panel (window),
                                     (guint) g_ascii_strtoull (limit, NULL, 10));
    }
  else if (g_str_equal (name, "train-start"))
    {
      /* The Start button of the form as it is. */
      DermTrainPanel *panel = derm_window_show_training (window);
      g_signal_emit_by_name (_derm_train_panel_get_child (panel, "start_button"), "clicked");
      if (!derm_train_panel_is_running (panel))
        script_fail (s, "the job did not start");
    }
  else if (g_str_equal (name, "train-resume"))
    {
      /* The Resume button of the training view, after a stop or a crash. */
      DermTrainPanel *panel = derm_window_show_training (window);
      GtkWidget *button = _derm_train_panel_get_child (panel, "resume_button");
      if (!gtk_widget_is_sensitive (button))
        return script_fail (s, "there is no job to resume");
      g_signal_emit_by_name (button, "clicked");
      if (!derm_train_panel_is_running (panel))
        script_fail (s, "the job did not resume");
    }
  else if (g_str_equal (name, "train-stop"))
    {
      DermTrainPanel *panel = derm_window_get_training_panel (window);
      if (panel == NULL || !derm_train_panel_is_running (panel))
        return script_fail (s, "no job is running");
      g_signal_emit_by_name (_derm_train_panel_get_child (panel, "cancel_button"), "clicked");
    }
  else if (g_str_equal (name, "crash"))
    {
      /* A crash in the middle of whatever runs: no cleanup at all. */
      raise (SIGKILL);
    }
  else if (g_str_equal (name, "train-compare") || g_str_equal (name, "train-activate"))
    {
      /* The buttons under the finished job's result. */
      DermTrainPanel *panel = derm_window_get_training_panel (window);
      if (panel == NULL)
        return script_fail (s, "no training panel");
      GtkWidget *button = _derm_train_panel_get_child (panel, g_str_equal (name, "train-compare")
                                                                ? "compare_button"
                                                                : "activate_result_button");
      if (!gtk_widget_is_sensitive (button))
        return script_fail (s, "the button is disabled");
      g_signal_emit_by_name (button, "clicked");
    }
  else if (g_str_equal (name, "view"))
    {
      if (g_str_equal (field (s, 1), "training"))
        derm_window_show_training (window);
      else
        derm_window_show_analysis (window);
    }
  else if (g_str_equal (name, "close-window"))
    {
      /* As the title bar's close button does. */
      gtk_window_close (GTK_WINDOW (window));
    }
  else if (g_str_equal (name, "stop-dialog"))
    {
      /* stop-dialog|keep or stop-dialog|stop */
      AdwMessageDialog *dialog = find_stop_dialog (window);
      if (dialog == NULL)
        return script_fail (s, "no stop question is shown");
      /* As a click on its button: the response, then the dialog closes. */
      adw_message_dialog_response (dialog, g_str_equal (field (s, 1), "stop") ? "accept" : "cancel");
      gtk_window_close (GTK_WINDOW (dialog));
    }
  else if (g_str_equal (name, "state"))
    write_all_state (s, field (s, 1));
  else if (g_str_equal (name, "a11y"))
    write_accessibility (field (s, 1));
  else if (g_str_equal (name, "keys"))
    derm_test_keys_write (GTK_APPLICATION_WINDOW (window), field (s, 1));
  else if (g_str_equal (name, "resize"))
    {
      /* resize|WIDTH|HEIGHT: as a user drags the window's edge. */
      gtk_window_unmaximize (GTK_WINDOW (window));
      gtk_window_set_default_size (GTK_WINDOW (window), (int) g_ascii_strtoll (field (s, 1), NULL, 10),
                                   (int) g_ascii_strtoll (field (s, 2), NULL, 10));
    }
  else if (g_str_equal (name, "action"))
    {
      /* action|NAME: a window or page action, as its shortcut activates it. */
      GtkWidget *target = page != NULL ? GTK_WIDGET (page) : GTK_WIDGET (window);
      if (!gtk_widget_activate_action (target, field (s, 1), NULL))
        script_fail (s, "no such action");
    }
  else if (g_str_equal (name, "shot"))
    {
      GtkWidget *target = GTK_WIDGET (window);
      if (g_str_equal (field (s, 1), "browser"))
        target = s->browser != NULL ? GTK_WIDGET (s->browser) : NULL;
      else if (g_str_equal (field (s, 1), "compare"))
        target = s->compare != NULL ? GTK_WIDGET (s->compare) : NULL;
      else if (g_str_equal (field (s, 1), "preferences"))
        target = s->preferences != NULL ? GTK_WIDGET (s->preferences) : NULL;
      else if (g_str_equal (field (s, 1), "save-dialog"))
        target = s->dialog != NULL ? GTK_WIDGET (s->dialog) : NULL;
      if (target == NULL)
        return script_fail (s, "that window is not open");
      if (!derm_test_hook_save_screenshot (target, field (s, 2), &error))
        script_fail (s, error->message);
    }
  else
    script_fail (s, "unknown step, or no page or browser for it");
}

static void
run_next_step (Script *s)
{
  g_clear_pointer (&s->fields, g_strfreev);
  while (s->steps[s->next] != NULL && *g_strstrip (s->steps[s->next]) == '\0')
    s->next++;
  if (s->steps[s->next] == NULL)
    {
      Pending *final = g_steal_pointer (&s->final);
      g_idle_add_full (G_PRIORITY_LOW, dump_and_quit_cb, final, (GDestroyNotify) pending_free);
      return;
    }
  s->fields = g_strsplit (s->steps[s->next], "|", -1);
  s->next++;
  start_step (s);
  g_timeout_add (20, poll_cb, s);
}

static void
start_script (Pending *pending)
{
  if (script != NULL)
    return;
  script = g_new0 (Script, 1);
  g_autoptr(DermWindow) window = g_weak_ref_get (&pending->window);
  g_weak_ref_init (&script->window, window);
  script->steps = g_strsplit (g_getenv ("DERMALENS_TEST_SCRIPT"), ";", -1);
  script->final = pending;
  run_next_step (script);
}
