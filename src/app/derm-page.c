/* derm-page.c: one opened image: decoded on a worker thread, then shown. */
#include "config.h"

#define G_LOG_DOMAIN "derm-page"

#include <glib/gi18n.h>

#include "derm-page.h"
#include "derm-texture.h"

struct _DermPage
{
  GtkWidget parent_instance;

  GtkStack *state_stack;
  GtkSpinner *loading_spinner;
  GtkLabel *error_label;
  GtkPicture *picture;

  GFile *file;
  char *title;
  DermPageState state;
  char *error_message;
  DermImage *image;
  GCancellable *load_cancellable;
};

G_DEFINE_FINAL_TYPE (DermPage, derm_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_FILE,
  PROP_TITLE,
  PROP_STATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- Loading on a worker thread ------------------------------------------ */

/* What the worker needs; owned by the GTask. */
typedef struct {
  char *path;
} LoadRequest;

static void
load_request_free (LoadRequest *request)
{
  g_free (request->path);
  g_free (request);
}

static void
load_image_worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LoadRequest *request = task_data;
  GError *error = NULL;

  DermImage *image = derm_image_load (request->path, 3, 0, 0, &error);
  if (image == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, image, (GDestroyNotify) derm_image_free);
}

static void
set_state (DermPage *self, DermPageState state)
{
  if (self->state == state)
    return;
  self->state = state;
  gtk_spinner_set_spinning (self->loading_spinner, state == DERM_PAGE_LOADING);
  switch (state)
    {
    case DERM_PAGE_LOADING:
      gtk_stack_set_visible_child_name (self->state_stack, "loading");
      break;
    case DERM_PAGE_ERROR:
      gtk_stack_set_visible_child_name (self->state_stack, "error");
      break;
    case DERM_PAGE_READY:
      gtk_stack_set_visible_child_name (self->state_stack, "image");
      break;
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
show_error (DermPage *self, const char *message)
{
  g_free (self->error_message);
  self->error_message = g_strdup (message);
  gtk_label_set_text (self->error_label, message);
  set_state (self, DERM_PAGE_ERROR);
}

/* Runs on the main thread. @user_data is a GWeakRef to the page: a page
 * closed while its image decoded is gone, and the result is dropped. */
static void
image_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *page_ref = user_data;
  g_autoptr(DermPage) self = g_weak_ref_get (page_ref);
  g_weak_ref_clear (page_ref);
  g_free (page_ref);

  GTask *task = G_TASK (result);
  g_autoptr(GError) error = NULL;
  g_autoptr(DermImage) image = g_task_propagate_pointer (task, &error);

  if (self == NULL || g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    return;
  g_clear_object (&self->load_cancellable);

  if (image == NULL)
    {
      show_error (self, error->message);
      return;
    }

  g_autoptr(GdkTexture) texture = derm_texture_new_from_image (image);
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (texture));
  self->image = g_steal_pointer (&image);
  set_state (self, DERM_PAGE_READY);
}

static void
start_loading (DermPage *self)
{
  g_autofree char *path = g_file_get_path (self->file);
  if (path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (self->file);
      /* Translators: %s is a URI such as sftp://host/image.jpg */
      g_autofree char *msg = g_strdup_printf (_("“%s” is not a local file. Copy it to this computer first."), uri);
      show_error (self, msg);
      return;
    }

  LoadRequest *request = g_new0 (LoadRequest, 1);
  request->path = g_steal_pointer (&path);

  GWeakRef *page_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (page_ref, self);

  self->load_cancellable = g_cancellable_new ();
  g_autoptr(GTask) task = g_task_new (NULL, self->load_cancellable, image_loaded_cb, page_ref);
  g_task_set_source_tag (task, start_loading);
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  g_task_run_in_thread (task, load_image_worker);
}

/* ---- GObject ----------------------------------------------------------------- */

static void
derm_page_constructed (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  G_OBJECT_CLASS (derm_page_parent_class)->constructed (object);

  g_autoptr(GFileInfo) info = g_file_query_info (self->file, G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME,
                                                 G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info != NULL)
    self->title = g_strdup (g_file_info_get_display_name (info));
  else
    self->title = g_file_get_basename (self->file);

  gtk_spinner_set_spinning (self->loading_spinner, TRUE);
  start_loading (self);
}

static void
derm_page_dispose (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_PAGE);

  G_OBJECT_CLASS (derm_page_parent_class)->dispose (object);
}

static void
derm_page_finalize (GObject *object)
{
  DermPage *self = DERM_PAGE (object);

  g_clear_object (&self->file);
  g_free (self->title);
  g_free (self->error_message);
  derm_image_free (self->image);

  G_OBJECT_CLASS (derm_page_parent_class)->finalize (object);
}

static void
derm_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  DermPage *self = DERM_PAGE (object);

  switch (prop_id)
    {
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
derm_page_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  DermPage *self = DERM_PAGE (object);

  switch (prop_id)
    {
    case PROP_FILE:
      self->file = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
derm_page_class_init (DermPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = derm_page_constructed;
  object_class->dispose = derm_page_dispose;
  object_class->finalize = derm_page_finalize;
  object_class->get_property = derm_page_get_property;
  object_class->set_property = derm_page_set_property;

  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, DERM_PAGE_LOADING, DERM_PAGE_READY, DERM_PAGE_LOADING,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-page.ui");
  gtk_widget_class_bind_template_child (widget_class, DermPage, state_stack);
  gtk_widget_class_bind_template_child (widget_class, DermPage, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, DermPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, DermPage, picture);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
derm_page_init (DermPage *self)
{
  self->state = DERM_PAGE_LOADING;
  gtk_widget_init_template (GTK_WIDGET (self));
}

DermPage *
derm_page_new (GFile *file)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  return g_object_new (DERM_TYPE_PAGE, "file", file, NULL);
}

GFile *
derm_page_get_file (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->file;
}

const char *
derm_page_get_title (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->title;
}

DermPageState
derm_page_get_state (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), DERM_PAGE_ERROR);
  return self->state;
}

const char *
derm_page_get_error_message (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->error_message;
}

const DermImage *
derm_page_get_image (DermPage *self)
{
  g_return_val_if_fail (DERM_IS_PAGE (self), NULL);
  return self->image;
}
