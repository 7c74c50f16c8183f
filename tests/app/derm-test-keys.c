/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-test-keys.c: the keyboard walk of the GUI tests. Every action of the
 * application, the window, the page and the viewer must be reachable from
 * the keyboard: a shortcut (an application accelerator or a shortcut
 * controller on a widget), a control that Tab reaches (a button or another
 * actionable bound to it), or an item of a menu that a key opens. Every
 * shortcut must be listed in the shortcuts window (Ctrl+?). */
#include "config.h"

#define G_LOG_DOMAIN "derm-test-hook"

#include <adwaita.h>

#include "derm-page.h"
#include "derm-test-hook.h"
#include "derm-viewer.h"

typedef struct
{
  GHashTable *paths;      /* action name -> "how" (first one found) */
  GHashTable *shortcuts;  /* action name -> GPtrArray of GtkShortcutTrigger */
} Walk;

static void
add_path (Walk *w, const char *action, const char *how)
{
  if (!g_hash_table_contains (w->paths, action))
    g_hash_table_insert (w->paths, g_strdup (action), g_strdup (how));
}

static void
add_trigger (Walk *w, const char *action, GtkShortcutTrigger *trigger)
{
  GPtrArray *list = g_hash_table_lookup (w->shortcuts, action);
  if (list == NULL)
    {
      list = g_ptr_array_new_with_free_func (g_object_unref);
      g_hash_table_insert (w->shortcuts, g_strdup (action), list);
    }
  g_ptr_array_add (list, g_object_ref (trigger));
  g_autofree char *how = gtk_shortcut_trigger_to_string (trigger);
  g_autofree char *text = g_strconcat ("shortcut ", how, NULL);
  add_path (w, action, text);
}

/* The actions a menu model's items (and its sections and submenus) name. */
static void
walk_menu (Walk *w, GMenuModel *menu)
{
  for (int i = 0; i < g_menu_model_get_n_items (menu); i++)
    {
      g_autofree char *action = NULL;
      if (g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_ACTION, "s", &action))
        add_path (w, action, "menu item");
      g_autoptr(GMenuLinkIter) links = g_menu_model_iterate_item_links (menu, i);
      GMenuModel *linked;
      while (g_menu_link_iter_get_next (links, NULL, &linked))
        {
          walk_menu (w, linked);
          g_object_unref (linked);
        }
    }
}

static void
walk_widget (Walk *w, GtkWidget *widget)
{
  /* Shortcut controllers: the widget class's key bindings are one too. */
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);
  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GObject) c = g_list_model_get_item (controllers, i);
      if (!GTK_IS_SHORTCUT_CONTROLLER (c))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (c)); j++)
        {
          g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (c), j);
          GtkShortcutAction *action = gtk_shortcut_get_action (shortcut);
          if (GTK_IS_NAMED_ACTION (action))
            add_trigger (w, gtk_named_action_get_action_name (GTK_NAMED_ACTION (action)),
                         gtk_shortcut_get_trigger (shortcut));
        }
    }
  /* A control Tab reaches (hidden ones too: the folded toolbar shows them). */
  if (GTK_IS_ACTIONABLE (widget) && gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)) != NULL
      && gtk_widget_get_focusable (widget))
    add_path (w, gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)), "button");
  if (GTK_IS_MENU_BUTTON (widget) && gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (widget)) != NULL)
    walk_menu (w, gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (widget)));
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    walk_widget (w, c);
}

/* The actions a widget class installs under @prefix. */
static void
class_actions (GType type, const char *prefix, GPtrArray *out)
{
  GtkWidgetClass *klass = g_type_class_ref (type);
  /* GTK 4.8 fills every out argument: none may be NULL. */
  GType owner;
  const char *name, *property;
  const GVariantType *param;
  for (guint i = 0; gtk_widget_class_query_action (klass, i, &owner, &name, &param, &property); i++)
    if (g_str_has_prefix (name, prefix))
      g_ptr_array_add (out, g_strdup (name));
  g_type_class_unref (klass);
}

/* The parameter type of the action @name that @type installs (NULL: none). */
static const GVariantType *
class_action_parameter (GType type, const char *name)
{
  GtkWidgetClass *klass = g_type_class_ref (type);
  GType owner;
  const char *n, *property;
  const GVariantType *param, *found = NULL;
  for (guint i = 0; gtk_widget_class_query_action (klass, i, &owner, &n, &param, &property); i++)
    if (g_str_equal (n, name))
      {
        found = param;
        break;
      }
  g_type_class_unref (klass);
  return found;
}

/* Whether @accel (as GtkShortcutsShortcut writes it: one or more
 * accelerators separated by spaces) names the key and modifiers of @trigger. */
static gboolean
accel_matches (const char *accel, GtkShortcutTrigger *trigger)
{
  if (!GTK_IS_KEYVAL_TRIGGER (trigger))
    return FALSE;
  guint key = gdk_keyval_to_lower (gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger)));
  GdkModifierType mods = gtk_keyval_trigger_get_modifiers (GTK_KEYVAL_TRIGGER (trigger));
  g_auto(GStrv) parts = g_strsplit (accel, " ", -1);
  for (char **p = parts; *p != NULL; p++)
    {
      guint k;
      GdkModifierType m;
      if (gtk_accelerator_parse (*p, &k, &m) && gdk_keyval_to_lower (k) == key && m == mods)
        return TRUE;
    }
  return FALSE;
}

static void
shortcuts_listed (GtkWidget *widget, GPtrArray *accels)
{
  if (GTK_IS_SHORTCUTS_SHORTCUT (widget))
    {
      char *accel = NULL;
      g_object_get (widget, "accelerator", &accel, NULL);
      if (accel != NULL)
        g_ptr_array_add (accels, accel);
    }
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    shortcuts_listed (c, accels);
}

void
derm_test_keys_write (GtkApplicationWindow *window, const char *path)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (window));
  Walk w = {
    .paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
    .shortcuts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref),
  };

  /* Every action of ours: the application's, the window's, the page's, the viewer's. */
  g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) app_actions = g_action_group_list_actions (G_ACTION_GROUP (app));
  for (char **a = app_actions; *a != NULL; a++)
    g_ptr_array_add (actions, g_strconcat ("app.", *a, NULL));
  class_actions (G_OBJECT_TYPE (window), "win.", actions);
  class_actions (DERM_TYPE_PAGE, "page.", actions);
  class_actions (DERM_TYPE_VIEWER, "viewer.", actions);

  /* What reaches them: the application's accelerators, then every window's widgets. */
  for (guint i = 0; i < actions->len; i++)
    {
      const char *name = actions->pdata[i];
      g_auto(GStrv) accels = gtk_application_get_accels_for_action (app, name);
      for (char **a = accels; *a != NULL; a++)
        {
          guint key;
          GdkModifierType mods;
          if (gtk_accelerator_parse (*a, &key, &mods))
            {
              g_autoptr(GtkShortcutTrigger) t = gtk_keyval_trigger_new (key, mods);
              add_trigger (&w, name, t);
            }
        }
    }
  walk_widget (&w, GTK_WIDGET (window));

  g_autoptr(GPtrArray) listed = g_ptr_array_new_with_free_func (g_free);
  GtkShortcutsWindow *overlay = gtk_application_window_get_help_overlay (window);
  if (overlay != NULL)
    shortcuts_listed (GTK_WIDGET (overlay), listed);

  g_autoptr(GString) out = g_string_new (NULL);
  g_string_append_printf (out, "keys_checked=%u\nkeys_listed=%u\n", actions->len, listed->len);
  for (guint i = 0; i < actions->len; i++)
    {
      const char *name = actions->pdata[i];
      const GVariantType *param = g_str_has_prefix (name, "app.")
        ? g_action_group_get_action_parameter_type (G_ACTION_GROUP (app), name + 4)
        : class_action_parameter (g_str_has_prefix (name, "page.") ? DERM_TYPE_PAGE
                                  : g_str_has_prefix (name, "viewer.") ? DERM_TYPE_VIEWER
                                                                       : G_OBJECT_TYPE (window), name);
      const char *how = g_hash_table_lookup (w.paths, name);
      if (how == NULL && param != NULL)
        {
          /* An action with a parameter is a toast's or a row's button, which
           * carries the value: Tab reaches it where it is shown. */
          g_string_append_printf (out, "keys_path=%s|button with a value\n", name);
          continue;
        }
      if (how == NULL)
        {
          g_string_append_printf (out, "keys_none=%s\n", name);
          continue;
        }
      g_string_append_printf (out, "keys_path=%s|%s\n", name, how);
      GPtrArray *triggers = g_hash_table_lookup (w.shortcuts, name);
      if (triggers == NULL)
        continue;
      gboolean found = FALSE;
      for (guint t = 0; t < triggers->len && !found; t++)
        for (guint l = 0; l < listed->len && !found; l++)
          found = accel_matches (listed->pdata[l], triggers->pdata[t]);
      if (!found)
        {
          g_autofree char *first = gtk_shortcut_trigger_to_string (triggers->pdata[0]);
          g_string_append_printf (out, "keys_unlisted=%s|%s\n", name, first);
        }
    }
  g_file_set_contents (path, out->str, (gssize) out->len, NULL);
  g_hash_table_unref (w.paths);
  g_hash_table_unref (w.shortcuts);
}
