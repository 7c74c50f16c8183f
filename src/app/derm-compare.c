/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-compare.c: follow-up comparison of a lesion's visits. */
#include "config.h"

#define G_LOG_DOMAIN "derm-compare"

#include <glib/gi18n.h>

#include "derm-case.h"
#include "derm-compare.h"
#include "derm-compare-private.h"
#include "derm-viewer.h"

/* One side: a visit with its decoded image and what was stored. */
typedef struct {
  DermCase *c;
  DermImage *image;
  DermImage *mask;              /* the annotation's, else the analysis's; may be NULL */
  DermAnalysisResult *result;   /* may be NULL (never analysed) */
} Visit;

typedef struct {
  guint n_visits;
  Visit sides[2];               /* first and latest visit */
} Timeline;

static void
visit_clear (Visit *v)
{
  derm_case_free (v->c);
  derm_image_free (v->image);
  derm_image_free (v->mask);
  derm_analysis_result_free (v->result);
}

static void
timeline_free (Timeline *t)
{
  visit_clear (&t->sides[0]);
  visit_clear (&t->sides[1]);
  g_free (t);
}

static gboolean
load_visit (Visit *v, DermCase *c, GError **error)
{
  v->c = c;
  v->image = derm_image_load (c->image->path, 3, 0, 0, error);
  if (v->image == NULL)
    return FALSE;
  if (c->analysis != NULL)
    {
      v->result = derm_case_result_from_analysis (c->analysis, NULL, error);
      if (v->result == NULL)
        return FALSE;
    }
  if (c->annotation != NULL && c->annotation->mask_png != NULL)
    v->mask = derm_case_decode_mask (c->annotation->mask_png, _("the corrected mask"), NULL);
  if (v->mask == NULL && v->result != NULL && v->result->mask != NULL)
    v->mask = derm_image_copy (v->result->mask);
  /* Measure the mask that is shown: a clinician's correction replaces the
   * segmentation's outline, and the change must follow it. */
  if (v->mask != NULL && v->result != NULL)
    {
      DermLesionMeasurements m;
      if (derm_lesion_measure (v->image, v->mask, &m, NULL))
        {
          v->result->measurements = m;
          v->result->has_measurements = TRUE;
        }
    }
  return TRUE;
}

/* Store thread: the lesion's visits, the first and latest decoded (decoding
 * here keeps it off the UI thread). */
static gpointer
timeline_job (DermStore *store, gpointer data, GError **error)
{
  g_autoptr(GPtrArray) cases = derm_store_lesion_timeline (store, *(gint64 *) data, error);
  if (cases == NULL)
    return NULL;
  Timeline *t = g_new0 (Timeline, 1);
  t->n_visits = cases->len;
  if (cases->len >= 1)
    {
      DermCase *first = g_ptr_array_steal_index (cases, 0);
      if (!load_visit (&t->sides[0], first, error))
        {
          timeline_free (t);
          return NULL;
        }
    }
  if (cases->len >= 1)
    {
      DermCase *last = g_ptr_array_steal_index (cases, cases->len - 1);
      if (!load_visit (&t->sides[1], last, error))
        {
          timeline_free (t);
          return NULL;
        }
    }
  return t;
}

struct _DermCompare
{
  AdwWindow parent_instance;

  GtkStack *stack;
  GtkLabel *message_label;
  DermViewer *viewers[2];
  GtkLabel *titles[2];
  GtkLabel *details[2];
  GtkLabel *change_label;

  GSettings *settings;
  Timeline *timeline;
  gboolean loading;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (DermCompare, derm_compare, ADW_TYPE_WINDOW)

enum { SIGNAL_LOADED, N_SIGNALS };
static guint signals[N_SIGNALS];

static double
pixels_per_mm (DermCompare *self)
{
  if (self->settings == NULL || g_settings_get_enum (self->settings, "units") != 1)
    return 0.0;
  return g_settings_get_double (self->settings, "pixels-per-mm");
}

static char *
format_area (double area_px, double ppmm)
{
  if (ppmm > 0)
    return g_strdup_printf (_("%.1f mm²"), area_px / (ppmm * ppmm));
  return g_strdup_printf (_("%.0f px²"), area_px);
}

static char *
colour_list (const DermLesionMeasurements *m)
{
  g_autoptr(GString) out = g_string_new (NULL);
  for (int c = 0; c < DERM_N_COLORS; c++)
    if (m->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION)
      g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "", derm_color_name (c));
  return out->len > 0 ? g_string_free (g_steal_pointer (&out), FALSE) : g_strdup (_("none"));
}

static void
show_visit (DermCompare *self, int side)
{
  const Visit *v = &self->timeline->sides[side];
  derm_viewer_set_image (self->viewers[side], v->image);
  derm_viewer_set_mask (self->viewers[side], v->mask);

  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (v->c->image->captured);
  g_autofree char *date = dt != NULL ? g_date_time_format (dt, "%Y-%m-%d") : g_strdup ("?");
  /* Translators: the heading of one side of the comparison: which visit, and its date */
  g_autofree char *title = g_strdup_printf (side == 0 ? _("First visit, %s") : _("Latest visit, %s"), date);
  gtk_label_set_text (self->titles[side], title);

  g_autoptr(GString) details = g_string_new (NULL);
  if (v->result != NULL)
    {
      int top = v->result->top_class;
      g_string_append_printf (details, _("%s — %.0f %%"), derm_class_name (top), 100.0 * v->result->probs[top]);
      g_string_append_c (details, '\n');
      if (v->result->has_measurements)
        {
          g_autofree char *area = format_area (v->result->measurements.area_px, pixels_per_mm (self));
          g_autofree char *colours = colour_list (&v->result->measurements);
          g_string_append_printf (details, _("Area: %s"), area);
          g_string_append_c (details, '\n');
          g_string_append_printf (details, _("Colours: %s"), colours);
        }
      else
        g_string_append (details, _("No measurements."));
    }
  else
    g_string_append (details, _("Not analysed."));
  if (v->c->annotation != NULL)
    {
      g_string_append_c (details, '\n');
      g_string_append_printf (details, _("Confirmed: %s (%s)"), derm_class_name (v->c->annotation->diagnosis),
                              derm_dx_type_label (v->c->annotation->dx_type));
    }
  gtk_label_set_text (self->details[side], details->str);
}

static char *
describe_change (DermCompare *self)
{
  const DermAnalysisResult *a = self->timeline->sides[0].result, *b = self->timeline->sides[1].result;
  if (a == NULL || b == NULL || !a->has_measurements || !b->has_measurements)
    return g_strdup (_("The change cannot be measured: a visit has no lesion measurements."));
  const DermLesionMeasurements *ma = &a->measurements, *mb = &b->measurements;
  double ppmm = pixels_per_mm (self);
  g_autofree char *from = format_area (ma->area_px, ppmm);
  g_autofree char *to = format_area (mb->area_px, ppmm);
  double change = ma->area_px > 0 ? 100.0 * (mb->area_px - ma->area_px) / ma->area_px : 0.0;

  g_autoptr(GString) added = g_string_new (NULL), removed = g_string_new (NULL);
  for (int c = 0; c < DERM_N_COLORS; c++)
    {
      gboolean in_a = ma->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION;
      gboolean in_b = mb->color_fraction[c] >= DERM_LESION_COLOR_MIN_FRACTION;
      if (in_b && !in_a)
        g_string_append_printf (added, "%s%s", added->len > 0 ? ", " : "", derm_color_name (c));
      if (in_a && !in_b)
        g_string_append_printf (removed, "%s%s", removed->len > 0 ? ", " : "", derm_color_name (c));
    }
  /* Translators: the change between two visits: area before and after, the relative change */
  g_autofree char *area = g_strdup_printf (_("Lesion area: %s → %s (%+.1f %%)"), from, to, change);
  g_autofree char *colours = g_strdup_printf (_("Colours: %d → %d; new: %s; gone: %s"), ma->n_colors,
                                              mb->n_colors, added->len > 0 ? added->str : _("none"),
                                              removed->len > 0 ? removed->str : _("none"));
  g_autofree char *prediction = g_strdup_printf (_("Prediction: %s → %s"), derm_class_code (a->top_class),
                                                 derm_class_code (b->top_class));
  return g_strjoin ("\n", area, colours, prediction, NULL);
}

static void
timeline_loaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(DermCompare) self = g_weak_ref_get (ref);
  g_weak_ref_clear (ref);
  g_free (ref);
  g_autoptr(GError) error = NULL;
  Timeline *t = derm_store_worker_run_finish (DERM_STORE_WORKER (source), res, &error);
  if (self == NULL)
    {
      if (t != NULL)
        timeline_free (t);
      return;
    }
  self->loading = FALSE;
  if (t == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("The visits could not be loaded: %s"), error->message);
      gtk_label_set_text (self->message_label, message);
      gtk_stack_set_visible_child_name (self->stack, "message");
    }
  else
    {
      self->timeline = t;
      if (t->n_visits < 2)
        {
          gtk_label_set_text (self->message_label,
                              _("This lesion has one visit. Save a later image of it with the same "
                                "patient, body site and lesion name to follow it up."));
          gtk_stack_set_visible_child_name (self->stack, "message");
        }
      else
        {
          show_visit (self, 0);
          show_visit (self, 1);
          g_autofree char *change = describe_change (self);
          gtk_label_set_text (self->change_label, change);
          gtk_stack_set_visible_child_name (self->stack, "compare");
        }
    }
  g_signal_emit (self, signals[SIGNAL_LOADED], 0);
}

gboolean
derm_compare_get_loading (DermCompare *self)
{
  g_return_val_if_fail (DERM_IS_COMPARE (self), FALSE);
  return self->loading;
}

void
derm_compare_describe (DermCompare *self, GString *out)
{
  g_return_if_fail (DERM_IS_COMPARE (self));
  g_string_append_printf (out, "compare_visits=%u\n", self->timeline != NULL ? self->timeline->n_visits : 0);
  g_string_append_printf (out, "compare_view=%s\n", gtk_stack_get_visible_child_name (self->stack));
  if (self->timeline == NULL || self->timeline->n_visits < 2)
    {
      g_string_append_printf (out, "compare_message=%s\n", gtk_label_get_text (self->message_label));
      return;
    }
  for (int side = 0; side < 2; side++)
    {
      g_autofree char *details = g_strdup (gtk_label_get_text (self->details[side]));
      g_strdelimit (details, "\n", ';');
      g_string_append_printf (out, "compare_side%d=%s|%s|has_mask=%d\n", side,
                              gtk_label_get_text (self->titles[side]), details,
                              derm_viewer_get_mask (self->viewers[side]) != NULL);
    }
  g_autofree char *change = g_strdup (gtk_label_get_text (self->change_label));
  g_strdelimit (change, "\n", ';');
  g_string_append_printf (out, "compare_change=%s\n", change);
}

static void
derm_compare_dispose (GObject *object)
{
  DermCompare *self = DERM_COMPARE (object);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->timeline, timeline_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), DERM_TYPE_COMPARE);
  G_OBJECT_CLASS (derm_compare_parent_class)->dispose (object);
}

static void
derm_compare_class_init (DermCompareClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = derm_compare_dispose;
  signals[SIGNAL_LOADED] = g_signal_new ("loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);

  g_type_ensure (DERM_TYPE_VIEWER);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/dermalens/Dermalens/ui/derm-compare.ui");
  gtk_widget_class_bind_template_child (widget_class, DermCompare, stack);
  gtk_widget_class_bind_template_child (widget_class, DermCompare, message_label);
  gtk_widget_class_bind_template_child (widget_class, DermCompare, change_label);
  /* The two sides, first and latest visit, fill the arrays. */
  static const char *const names[][3] = { { "title0", "viewer0", "details0" },
                                          { "title1", "viewer1", "details1" } };
  for (int side = 0; side < 2; side++)
    {
      gtk_widget_class_bind_template_child_full (widget_class, names[side][0], FALSE,
                                                 G_STRUCT_OFFSET (DermCompare, titles) + side * sizeof (gpointer));
      gtk_widget_class_bind_template_child_full (widget_class, names[side][1], FALSE,
                                                 G_STRUCT_OFFSET (DermCompare, viewers) + side * sizeof (gpointer));
      gtk_widget_class_bind_template_child_full (widget_class, names[side][2], FALSE,
                                                 G_STRUCT_OFFSET (DermCompare, details) + side * sizeof (gpointer));
    }
}

static void
derm_compare_init (DermCompare *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_stack_set_visible_child_name (self->stack, "loading");
}

DermCompare *
derm_compare_new (GtkWindow *parent, DermStoreWorker *store, GSettings *settings, gint64 lesion_id)
{
  g_return_val_if_fail (DERM_IS_STORE_WORKER (store), NULL);
  DermCompare *self = g_object_new (DERM_TYPE_COMPARE, "transient-for", parent, NULL);
  if (settings != NULL)
    {
      self->settings = g_object_ref (settings);
      for (int side = 0; side < 2; side++)
        {
          static const char *const keys[] = { "show-mask", "show-contour", "mask-opacity", "mask-color",
                                              "contour-color" };
          for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
            g_settings_bind (settings, keys[k], self->viewers[side], keys[k], G_SETTINGS_BIND_GET);
        }
    }
  self->loading = TRUE;
  self->cancellable = g_cancellable_new ();
  gint64 *id = g_new (gint64, 1);
  *id = lesion_id;
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  derm_store_worker_run_async (store, timeline_job, id, g_free, (GDestroyNotify) timeline_free,
                               self->cancellable, timeline_loaded_cb, ref);
  return self;
}
