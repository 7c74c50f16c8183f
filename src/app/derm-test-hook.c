/* derm-test-hook.c: screenshot and state dump for the GUI tests. */
#include "config.h"

#define G_LOG_DOMAIN "derm-test-hook"

#include <glib/gi18n.h>

#include "derm-error.h"
#include "derm-test-hook.h"

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
  if (window == NULL || page == NULL)
    return G_SOURCE_REMOVE;

  int status = 0;
  const char *state_path = g_getenv ("DERMALENS_TEST_STATE");
  if (state_path != NULL)
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

static void
after_paint_cb (GdkFrameClock *clock, Pending *pending)
{
  g_signal_handlers_disconnect_by_func (clock, after_paint_cb, pending);
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

void
derm_test_hook_watch_window (DermWindow *window)
{
  if (!derm_test_hook_enabled ())
    return;

  /* Deterministic pictures: no cross-fades caught half way. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  GtkNotebook *notebook = NULL;
  GtkWidget *stack = gtk_window_get_child (GTK_WINDOW (window));
  GtkWidget *pages = gtk_stack_get_child_by_name (GTK_STACK (stack), "pages");
  notebook = GTK_NOTEBOOK (pages);
  g_signal_connect_object (notebook, "page-added", G_CALLBACK (page_added_cb), window, 0);
}
