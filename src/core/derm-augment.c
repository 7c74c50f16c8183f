/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-augment.c: uint8 training cache, augmentation, threaded batches. */
#include "config.h"

#define G_LOG_DOMAIN "derm-augment"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "derm-augment.h"
#include "derm-error.h"

/* ---- Cache ---------------------------------------------------------------- */

struct DermCache {
  int size;
  guint n;
  guint8 *images;
  guint8 *masks;
  gint32 *labels;
  guint *samples;
};

typedef struct {
  const DermDataset *dataset;
  const guint *indices;
  guint n;
  const DermCacheConfig *config;
  DermCache *cache;
  DermCacheProgressFunc progress;
  gpointer progress_data;
  const volatile gint *cancel;
  gint next;
  guint done;
  GMutex lock;
  GError *error;
} CacheJob;

static gboolean
cache_one (CacheJob *job, guint i, GError **error)
{
  const DermSample *s = job->dataset->samples->pdata[job->indices[i]];
  int size = job->config->size;
  g_autoptr(DermImage) img = derm_image_load (s->image_path, 3, size, size, error);
  if (img == NULL)
    return FALSE;
  if (job->config->shades_of_gray)
    derm_image_shades_of_gray (img, 6.0);
  g_autoptr(DermImage) small = derm_image_resize (img, size, size, error);
  if (small == NULL)
    return FALSE;
  memcpy (job->cache->images + (gsize) i * size * size * 3, small->data, (gsize) size * size * 3);
  job->cache->labels[i] = s->label;
  job->cache->samples[i] = job->indices[i];
  if (job->cache->masks != NULL)
    {
      if (s->mask_path == NULL)
        {
          g_set_error (error, DERM_ERROR, DERM_ERROR_NOT_FOUND,
                       _("%s has no mask; segmentation needs one for every image"), s->image_id);
          return FALSE;
        }
      g_autoptr(DermImage) m = derm_image_load (s->mask_path, 1, 0, 0, error);
      if (m == NULL)
        return FALSE;
      g_autoptr(DermImage) ms = derm_image_resize_nearest (m, size, size, error);
      if (ms == NULL)
        return FALSE;
      guint8 *dst = job->cache->masks + (gsize) i * size * size;
      for (gsize p = 0; p < (gsize) size * size; p++)
        dst[p] = ms->data[p] ? 255 : 0;
    }
  return TRUE;
}

static gpointer
cache_worker (gpointer data)
{
  CacheJob *job = data;
  for (;;)
    {
      if (job->cancel != NULL && g_atomic_int_get (job->cancel))
        break;
      guint i = (guint) g_atomic_int_add (&job->next, 1);
      if (i >= job->n)
        break;
      GError *error = NULL;
      gboolean ok = cache_one (job, i, &error);
      g_mutex_lock (&job->lock);
      if (!ok)
        {
          if (job->error == NULL)
            job->error = error;
          else
            g_error_free (error);
          g_atomic_int_set (&job->next, (gint) job->n);
        }
      else
        {
          job->done++;
          if (job->progress != NULL)
            job->progress (job->done, job->n, job->progress_data);
        }
      g_mutex_unlock (&job->lock);
    }
  return NULL;
}

DermCache *
derm_cache_new (const DermDataset *dataset, const guint *indices, guint n,
                const DermCacheConfig *config, DermCacheProgressFunc progress,
                gpointer progress_data, const volatile gint *cancel, GError **error)
{
  g_return_val_if_fail (config->size > 0 && config->size <= 4096, NULL);
  gsize px = (gsize) config->size * config->size;
  DermCache *cache = g_new0 (DermCache, 1);
  cache->size = config->size;
  cache->n = n;
  cache->images = g_try_malloc (MAX (px * 3 * n, 1));
  cache->masks = config->masks ? g_try_malloc (MAX (px * n, 1)) : NULL;
  cache->labels = g_new0 (gint32, MAX (n, 1));
  cache->samples = g_new0 (guint, MAX (n, 1));
  if (cache->images == NULL || (config->masks && cache->masks == NULL))
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_OUT_OF_MEMORY,
                   _("Not enough memory to cache %u images at %d x %d (%" G_GSIZE_FORMAT
                     " MiB); use a smaller image size or --limit"),
                   n, config->size, config->size, (px * (config->masks ? 4 : 3) * n) >> 20);
      derm_cache_free (cache);
      return NULL;
    }

  CacheJob job = { dataset, indices, n, config, cache, progress, progress_data, cancel };
  g_mutex_init (&job.lock);
  int threads = config->threads > 0 ? config->threads : (int) g_get_num_processors ();
  threads = CLAMP (threads, 1, 64);
  GThread *t[64];
  for (int k = 0; k < threads; k++)
    t[k] = g_thread_new ("derm-cache", cache_worker, &job);
  for (int k = 0; k < threads; k++)
    g_thread_join (t[k]);
  g_mutex_clear (&job.lock);

  if (job.error != NULL)
    {
      g_propagate_error (error, job.error);
      derm_cache_free (cache);
      return NULL;
    }
  if (cancel != NULL && g_atomic_int_get (cancel) && job.done < n)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled while decoding images"));
      derm_cache_free (cache);
      return NULL;
    }
  return cache;
}

void
derm_cache_free (DermCache *cache)
{
  if (cache == NULL)
    return;
  g_free (cache->images);
  g_free (cache->masks);
  g_free (cache->labels);
  g_free (cache->samples);
  g_free (cache);
}

guint derm_cache_get_n (const DermCache *cache) { return cache->n; }
int derm_cache_get_size (const DermCache *cache) { return cache->size; }

const guint8 *
derm_cache_image (const DermCache *cache, guint i)
{
  g_return_val_if_fail (i < cache->n, NULL);
  return cache->images + (gsize) i * cache->size * cache->size * 3;
}

const guint8 *
derm_cache_mask (const DermCache *cache, guint i)
{
  g_return_val_if_fail (i < cache->n, NULL);
  return cache->masks ? cache->masks + (gsize) i * cache->size * cache->size : NULL;
}

int
derm_cache_label (const DermCache *cache, guint i)
{
  g_return_val_if_fail (i < cache->n, -1);
  return cache->labels[i];
}

guint
derm_cache_sample (const DermCache *cache, guint i)
{
  g_return_val_if_fail (i < cache->n, 0);
  return cache->samples[i];
}

const gint32 *
derm_cache_labels (const DermCache *cache)
{
  return cache->labels;
}

void
derm_cache_view (const DermCache *cache, guint i, DermImage *view, gboolean mask)
{
  view->width = view->height = cache->size;
  view->channels = mask ? 1 : 3;
  view->data = (guint8 *) (mask ? derm_cache_mask (cache, i) : derm_cache_image (cache, i));
}

/* ---- Augmentation ------------------------------------------------------------ */

void
derm_augment_config_default (DermAugmentConfig *c)
{
  c->flips = TRUE;
  c->rot90 = TRUE;
  c->rotate_degrees = 20;
  c->scale_min = 0.6;
  c->scale_max = 1.0;
  c->aspect_min = 3.0 / 4.0;
  c->aspect_max = 4.0 / 3.0;
  c->brightness = 0.2;
  c->contrast = 0.2;
  c->saturation = 0.2;
}

static inline int
mirror_index (int i, int n)
{
  int period = 2 * n;
  i %= period;
  if (i < 0)
    i += period;
  return i < n ? i : period - 1 - i;
}

static double
uniform (GRand *r, double lo, double hi)
{
  return lo >= hi ? lo : g_rand_double_range (r, lo, hi);
}

void
derm_augment_draw (const DermAugmentConfig *c, GRand *r, DermAugmentParams *p)
{
  /* A map from output to source in normalised coordinates [-1, 1]:
   * source = centre + diag(cw, ch) R(theta) R90^k F q. */
  double fx = c->flips && g_rand_boolean (r) ? -1 : 1;
  double fy = c->flips && g_rand_boolean (r) ? -1 : 1;
  int k = c->rot90 ? g_rand_int_range (r, 0, 4) : 0;
  double theta = uniform (r, -c->rotate_degrees, c->rotate_degrees) * G_PI / 180 + k * G_PI / 2;
  double area = uniform (r, c->scale_min > 0 ? c->scale_min : 1, c->scale_max > 0 ? c->scale_max : 1);
  double aspect = exp (uniform (r, log (c->aspect_min > 0 ? c->aspect_min : 1),
                                log (c->aspect_max > 0 ? c->aspect_max : 1)));
  double cw = MIN (sqrt (area * aspect), 1.0), ch = MIN (sqrt (area / aspect), 1.0);
  double ox = uniform (r, -(1 - cw), 1 - cw), oy = uniform (r, -(1 - ch), 1 - ch);
  double ct = cos (theta), st = sin (theta);
  p->affine[0] = cw * ct * fx;
  p->affine[1] = -cw * st * fy;
  p->affine[2] = ox;
  p->affine[3] = ch * st * fx;
  p->affine[4] = ch * ct * fy;
  p->affine[5] = oy;
  p->brightness = 1 + uniform (r, -c->brightness, c->brightness);
  p->contrast = 1 + uniform (r, -c->contrast, c->contrast);
  p->saturation = 1 + uniform (r, -c->saturation, c->saturation);
}

GRand *
derm_augment_batch_rand (guint64 seed, int epoch, int batch)
{
  guint32 s[4] = { (guint32) seed, (guint32) (seed >> 32), (guint32) epoch, (guint32) batch };
  return g_rand_new_with_seed_array (s, 4);
}

void
derm_augment (const DermAugmentConfig *c, GRand *r, int size, const guint8 *image,
              const guint8 *mask, guint8 *out_image, guint8 *out_mask)
{
  DermAugmentParams p;
  derm_augment_draw (c, r, &p);
  /* Pixel-space affine: src = A (u, v) + t */
  double a00 = p.affine[0], a01 = p.affine[1], ox = p.affine[2];
  double a10 = p.affine[3], a11 = p.affine[4], oy = p.affine[5];
  double half = size / 2.0;
  double bright = p.brightness, contrast = p.contrast, sat = p.saturation;

  /* Colour: out = (g + (c - g) * sat) * bright, in 8.8 fixed point. */
  int k_sat = (int) lrint (sat * 256), k_bright = (int) lrint (bright * 256);
  /* The map is affine in (u, v): step along a row by (a00, a10). */
  float dsx = (float) a00, dsy = (float) a10;
  gint64 grey_sum = 0;
  for (int v = 0; v < size; v++)
    {
      double qy = (v + 0.5) / half - 1, qx0 = 0.5 / half - 1;
      float sx = (float) ((a00 * qx0 + a01 * qy + ox + 1) * half - 0.5);
      float sy = (float) ((a10 * qx0 + a11 * qy + oy + 1) * half - 0.5);
      guint8 *o = out_image + (gsize) v * size * 3;
      guint8 *om = out_mask != NULL ? out_mask + (gsize) v * size : NULL;
      for (int u = 0; u < size; u++, sx += dsx, sy += dsy, o += 3)
        {
          int x0 = (int) floorf (sx), y0 = (int) floorf (sy);
          int wx = (int) ((sx - x0) * 256), wy = (int) ((sy - y0) * 256);
          int xa, xb, ya, yb;
          if (x0 >= 0 && x0 < size - 1 && y0 >= 0 && y0 < size - 1)
            {
              xa = x0, xb = x0 + 1, ya = y0, yb = y0 + 1;
            }
          else
            {
              xa = mirror_index (x0, size), xb = mirror_index (x0 + 1, size);
              ya = mirror_index (y0, size), yb = mirror_index (y0 + 1, size);
            }
          const guint8 *p00 = image + ((gsize) ya * size + xa) * 3;
          const guint8 *p01 = image + ((gsize) ya * size + xb) * 3;
          const guint8 *p10 = image + ((gsize) yb * size + xa) * 3;
          const guint8 *p11 = image + ((gsize) yb * size + xb) * 3;
          int rgb[3];
          for (int c_ = 0; c_ < 3; c_++)
            {
              int top = p00[c_] * (256 - wx) + p01[c_] * wx;
              int bottom = p10[c_] * (256 - wx) + p11[c_] * wx;
              rgb[c_] = (top * (256 - wy) + bottom * wy + (1 << 15)) >> 16;
            }
          int g = (77 * rgb[0] + 150 * rgb[1] + 29 * rgb[2]) >> 8;
          int grey_out = 0;
          for (int c_ = 0; c_ < 3; c_++)
            {
              int val = ((g << 8) + (rgb[c_] - g) * k_sat) * k_bright;
              val = (val + (1 << 15)) >> 16;
              o[c_] = (guint8) CLAMP (val, 0, 255);
              grey_out += (c_ == 0 ? 77 : c_ == 1 ? 150 : 29) * o[c_];
            }
          grey_sum += grey_out >> 8;
          if (mask != NULL && om != NULL)
            {
              int mx = (int) floorf (sx + 0.5f), my = (int) floorf (sy + 0.5f);
              if (mx < 0 || mx >= size || my < 0 || my >= size)
                {
                  mx = mirror_index (mx, size);
                  my = mirror_index (my, size);
                }
              om[u] = mask[(gsize) my * size + mx];
            }
        }
    }
  /* contrast around the mean grey, through a table */
  if (contrast != 1.0)
    {
      double mean = (double) grey_sum / ((double) size * size);
      guint8 lut[256];
      for (int i = 0; i < 256; i++)
        lut[i] = (guint8) CLAMP (mean + (i - mean) * contrast + 0.5, 0, 255);
      gsize n = (gsize) size * size * 3;
      for (gsize i = 0; i < n; i++)
        out_image[i] = lut[out_image[i]];
    }
}

/* ---- Loader ------------------------------------------------------------------ */

int
derm_batches_per_epoch (guint n, int batch, gboolean drop_last)
{
  g_return_val_if_fail (batch > 0, 0);
  return drop_last && n >= (guint) batch ? (int) (n / batch) : (int) ((n + batch - 1) / batch);
}

void
derm_epoch_order (const DermCache *cache, const guint *entries, guint n, DermSampling sampling,
                  guint64 seed, int epoch, guint *order)
{
  guint32 s[3] = { (guint32) seed, (guint32) (seed >> 32), (guint32) epoch };
  g_autoptr(GRand) rand = g_rand_new_with_seed_array (s, 3);
  switch (sampling)
    {
    case DERM_SAMPLING_SEQUENTIAL:
      memcpy (order, entries, n * sizeof (guint));
      break;
    case DERM_SAMPLING_SHUFFLE:
      memcpy (order, entries, n * sizeof (guint));
      for (guint i = n; i > 1; i--)
        {
          guint j = g_rand_int_range (rand, 0, i);
          guint t = order[i - 1];
          order[i - 1] = order[j];
          order[j] = t;
        }
      break;
    case DERM_SAMPLING_BALANCED:
      {
        GArray *by_class[DERM_N_CLASSES];
        for (int c = 0; c < DERM_N_CLASSES; c++)
          by_class[c] = g_array_new (FALSE, FALSE, sizeof (guint));
        for (guint i = 0; i < n; i++)
          {
            int c = derm_cache_label (cache, entries[i]);
            if (c >= 0 && c < DERM_N_CLASSES)
              g_array_append_val (by_class[c], entries[i]);
          }
        int present[DERM_N_CLASSES], np = 0;
        for (int c = 0; c < DERM_N_CLASSES; c++)
          if (by_class[c]->len > 0)
            present[np++] = c;
        for (guint i = 0; i < n; i++)
          {
            if (np == 0)
              {
                order[i] = entries[i];
                continue;
              }
            GArray *a = by_class[present[g_rand_int_range (rand, 0, np)]];
            order[i] = g_array_index (a, guint, g_rand_int_range (rand, 0, a->len));
          }
        for (int c = 0; c < DERM_N_CLASSES; c++)
          g_array_unref (by_class[c]);
      }
      break;
    }
}

typedef struct {
  guint8 *images;
  gint32 *labels;
  guint8 *masks;
  int n;
  int batch_index;
  gboolean ready;
} Slot;

struct DermLoader {
  const DermCache *cache;
  guint *entries;
  guint n;
  DermLoaderConfig config;
  int n_batches;

  guint *order;
  int epoch;
  Slot *slots;
  int q;

  GMutex lock;
  GCond cond;
  int next_fill;
  int released;
  gboolean holding;
  int busy;
  gboolean quit;
  gboolean started;
  GThread **threads;
  int n_threads;
};

static void
fill_slot (DermLoader *l, Slot *slot, int b)
{
  int size = l->cache->size;
  gsize img_bytes = (gsize) size * size * 3, mask_bytes = (gsize) size * size;
  int start = b * l->config.batch;
  int n = MIN (l->config.batch, (int) l->n - start);
  g_autoptr(GRand) rand = derm_augment_batch_rand (l->config.seed, l->epoch, b);
  for (int i = 0; i < n; i++)
    {
      guint e = l->order[start + i];
      const guint8 *img = derm_cache_image (l->cache, e);
      const guint8 *mask = derm_cache_mask (l->cache, e);
      guint8 *oi = slot->images + i * img_bytes;
      guint8 *om = slot->masks ? slot->masks + i * mask_bytes : NULL;
      if (l->config.augment)
        derm_augment (&l->config.augment_config, rand, size, img, mask, oi, om);
      else
        {
          memcpy (oi, img, img_bytes);
          if (om != NULL)
            memcpy (om, mask, mask_bytes);
        }
      slot->labels[i] = derm_cache_label (l->cache, e);
    }
  slot->n = n;
}

static gpointer
loader_worker (gpointer data)
{
  DermLoader *l = data;
  g_mutex_lock (&l->lock);
  while (!l->quit)
    {
      if (l->next_fill < l->n_batches && l->next_fill < l->released + l->q)
        {
          int b = l->next_fill++;
          Slot *slot = &l->slots[b % l->q];
          slot->ready = FALSE;
          slot->batch_index = b;
          l->busy++;
          g_mutex_unlock (&l->lock);
          fill_slot (l, slot, b);
          g_mutex_lock (&l->lock);
          l->busy--;
          slot->ready = TRUE;
          g_cond_broadcast (&l->cond);
          continue;
        }
      g_cond_wait (&l->cond, &l->lock);
    }
  g_mutex_unlock (&l->lock);
  return NULL;
}

DermLoader *
derm_loader_new (const DermCache *cache, const guint *entries, guint n,
                 const DermLoaderConfig *config, GError **error)
{
  if (config->batch < 1)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("The batch size must be at least 1"));
      return NULL;
    }
  if (entries == NULL)
    n = cache->n;
  if (n == 0)
    {
      g_set_error (error, DERM_ERROR, DERM_ERROR_INVALID, _("There are no images to load"));
      return NULL;
    }
  DermLoader *l = g_new0 (DermLoader, 1);
  l->cache = cache;
  l->config = *config;
  l->n = n;
  l->entries = g_new (guint, n);
  for (guint i = 0; i < n; i++)
    {
      l->entries[i] = entries ? entries[i] : i;
      g_return_val_if_fail (l->entries[i] < cache->n, NULL);
    }
  l->n_batches = derm_batches_per_epoch (n, config->batch, config->drop_last);
  l->order = g_new (guint, n);
  memcpy (l->order, l->entries, n * sizeof (guint));

  l->n_threads = config->workers > 0 ? config->workers : (int) g_get_num_processors ();
  l->n_threads = CLAMP (l->n_threads, 1, 32);
  l->q = config->queue > 0 ? config->queue : 2 * l->n_threads;
  l->q = MAX (l->q, 2);
  int size = cache->size;
  l->slots = g_new0 (Slot, l->q);
  for (int s = 0; s < l->q; s++)
    {
      l->slots[s].images = g_malloc ((gsize) config->batch * size * size * 3);
      l->slots[s].labels = g_new0 (gint32, config->batch);
      if (cache->masks != NULL)
        l->slots[s].masks = g_malloc ((gsize) config->batch * size * size);
    }
  g_mutex_init (&l->lock);
  g_cond_init (&l->cond);
  l->next_fill = l->n_batches;   /* idle until the first epoch */
  l->threads = g_new (GThread *, l->n_threads);
  for (int t = 0; t < l->n_threads; t++)
    l->threads[t] = g_thread_new ("derm-loader", loader_worker, l);
  return l;
}

void
derm_loader_free (DermLoader *l)
{
  if (l == NULL)
    return;
  g_mutex_lock (&l->lock);
  l->quit = TRUE;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
  for (int t = 0; t < l->n_threads; t++)
    g_thread_join (l->threads[t]);
  g_free (l->threads);
  for (int s = 0; s < l->q; s++)
    {
      g_free (l->slots[s].images);
      g_free (l->slots[s].labels);
      g_free (l->slots[s].masks);
    }
  g_free (l->slots);
  g_free (l->order);
  g_free (l->entries);
  g_mutex_clear (&l->lock);
  g_cond_clear (&l->cond);
  g_free (l);
}

int
derm_loader_batches_per_epoch (const DermLoader *l)
{
  return l->n_batches;
}

void
derm_loader_start_epoch (DermLoader *l, int epoch)
{
  g_mutex_lock (&l->lock);
  /* Stop handing out batches and let the workers finish theirs. */
  l->next_fill = l->n_batches;
  while (l->busy > 0)
    g_cond_wait (&l->cond, &l->lock);

  l->epoch = epoch;
  derm_epoch_order (l->cache, l->entries, l->n, l->config.sampling, l->config.seed, epoch, l->order);
  for (int s = 0; s < l->q; s++)
    l->slots[s].ready = FALSE;
  l->released = 0;
  l->holding = FALSE;
  l->next_fill = 0;
  l->started = TRUE;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
}

gboolean
derm_loader_next (DermLoader *l, const guint8 **images, const gint32 **labels,
                  const guint8 **masks, int *n)
{
  g_mutex_lock (&l->lock);
  if (l->holding)
    {
      l->released++;
      l->holding = FALSE;
      g_cond_broadcast (&l->cond);
    }
  int b = l->released;
  if (!l->started || b >= l->n_batches)
    {
      g_mutex_unlock (&l->lock);
      return FALSE;
    }
  Slot *slot = &l->slots[b % l->q];
  while (!(slot->ready && slot->batch_index == b))
    g_cond_wait (&l->cond, &l->lock);
  l->holding = TRUE;
  g_mutex_unlock (&l->lock);
  *images = slot->images;
  *labels = slot->labels;
  if (masks != NULL)
    *masks = slot->masks;
  *n = slot->n;
  return TRUE;
}
