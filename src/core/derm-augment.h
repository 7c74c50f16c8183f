/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-augment.h: the training input pipeline. An in-memory uint8 cache of
 * every image (and mask) at the training size, augmentation with the same
 * geometry on image and mask, and a threaded batch loader that prepares
 * batches ahead of the trainer. */
#pragma once

#include <glib.h>

#include "derm-dataset.h"
#include "derm-image.h"

G_BEGIN_DECLS

/* ---- Cache ---------------------------------------------------------------- */

typedef struct DermCache DermCache;

typedef struct {
  int size;                /* square side of every cached image */
  gboolean masks;          /* also cache masks (0 / 255) */
  gboolean shades_of_gray; /* colour constancy (p = 6) before resizing */
  int threads;             /* decoding threads; 0 = the cores present */
} DermCacheConfig;

/* Called from the decoding threads, serialised, after each image. */
typedef void (*DermCacheProgressFunc) (guint done, guint total, gpointer user_data);

/* Decodes the samples @indices (n of them) of @dataset once: JPEGs are
 * DCT-scaled to the smallest size covering config->size, then resized to
 * size x size (the same resampling as inference). Masks larger than their
 * images are resized nearest-neighbour. @cancel, when not NULL and set, stops
 * with G_IO_ERROR_CANCELLED. A file that cannot be decoded is an error naming
 * it. Returns: (transfer full). */
DermCache  *derm_cache_new (const DermDataset *dataset, const guint *indices, guint n,
                            const DermCacheConfig *config, DermCacheProgressFunc progress,
                            gpointer progress_data, const volatile gint *cancel,
                            GError **error);
void        derm_cache_free (DermCache *cache);
guint       derm_cache_get_n (const DermCache *cache);
int         derm_cache_get_size (const DermCache *cache);
/* Borrowed: size*size*3 bytes (RGB) / size*size bytes (0 or 255); NULL masks
 * when the cache has none. Entries are contiguous: entry i starts i * size *
 * size * 3 (masks: i * size * size) bytes after entry 0. */
const guint8 *derm_cache_image (const DermCache *cache, guint i);
const guint8 *derm_cache_mask (const DermCache *cache, guint i);
int         derm_cache_label (const DermCache *cache, guint i);
/* Borrowed: the n labels, in entry order. */
const gint32 *derm_cache_labels (const DermCache *cache);
/* The dataset index of cache entry @i. */
guint       derm_cache_sample (const DermCache *cache, guint i);
/* A view of entry @i as a DermImage whose data is borrowed from the cache:
 * fill @view, never free its data. */
void        derm_cache_view (const DermCache *cache, guint i, DermImage *view, gboolean mask);

/* ---- Augmentation ------------------------------------------------------------ */

typedef struct {
  gboolean flips;          /* horizontal / vertical */
  gboolean rot90;          /* 0, 90, 180, 270 degrees */
  double rotate_degrees;   /* uniform in +-this */
  double scale_min, scale_max;      /* random resized crop: area share */
  double aspect_min, aspect_max;    /* random resized crop: aspect ratio */
  double brightness, contrast, saturation; /* jitter amplitudes, e.g. 0.2 */
} DermAugmentConfig;

/* Good defaults for dermoscopy (rotation invariant; mild colour jitter). */
void        derm_augment_config_default (DermAugmentConfig *config);

/* One sample's random augmentation, drawn from @rand: a map from output
 * to source in normalised coordinates ([-1, 1], pixel centres at
 * (2 u + 1) / size - 1: the convention of affine_grid with
 * align_corners = false), source = affine[0..2] . (x, y, 1) for x and
 * affine[3..5] . (x, y, 1) for y; then colour factors. */
typedef struct {
  double affine[6];
  double brightness, contrast, saturation;  /* 1 = unchanged */
} DermAugmentParams;

/* Draws the parameters derm_augment() uses, in the same order, so a device
 * implementation seeded alike makes the same geometry and colours. */
void        derm_augment_draw (const DermAugmentConfig *config, GRand *rand,
                               DermAugmentParams *params);

/* The seed of batch @batch of epoch @epoch: a GRand for derm_augment_draw ()
 * as the loader seeds it. Returns: (transfer full). */
GRand      *derm_augment_batch_rand (guint64 seed, int epoch, int batch);

/* Writes an augmented copy of @image (size x size x 3) to @out_image and of
 * @mask (size x size, may be NULL) to @out_mask, with the same geometry
 * (bilinear for the image, nearest for the mask, mirrored borders). */
void        derm_augment (const DermAugmentConfig *config, GRand *rand, int size,
                          const guint8 *image, const guint8 *mask,
                          guint8 *out_image, guint8 *out_mask);

/* ---- Loader ------------------------------------------------------------------ */

typedef enum {
  DERM_SAMPLING_SHUFFLE,   /* every image once per epoch, in random order */
  DERM_SAMPLING_BALANCED,  /* as many draws, each class equally likely */
  DERM_SAMPLING_SEQUENTIAL,/* cache order, no augmentation (evaluation) */
} DermSampling;

typedef struct {
  int batch;               /* images per batch */
  DermSampling sampling;
  gboolean augment;
  DermAugmentConfig augment_config;
  gboolean drop_last;      /* leave out a last, partial batch */
  guint64 seed;            /* with the epoch, fixes order and augmentation */
  int workers;             /* threads; 0 = the cores present */
  int queue;               /* batches prepared ahead; 0 = 2 * workers */
} DermLoaderConfig;

typedef struct DermLoader DermLoader;

/* The loader's per-epoch order of @entries (n cache entries): shuffled,
 * class-balanced draws (with replacement, n of them) or sequential, fixed by
 * @seed and @epoch. Writes n entries to @order. The loader uses it; a device
 * data path uses it to draw exactly the same batches. */
void        derm_epoch_order (const DermCache *cache, const guint *entries, guint n,
                              DermSampling sampling, guint64 seed, int epoch, guint *order);
/* Batches per epoch of n entries (a last, partial batch dropped with
 * @drop_last when there is at least one whole batch). */
int         derm_batches_per_epoch (guint n, int batch, gboolean drop_last);

/* Batches over the cache entries @entries (n; NULL = all). The cache must
 * outlive the loader. Returns: (transfer full). */
DermLoader *derm_loader_new (const DermCache *cache, const guint *entries, guint n,
                             const DermLoaderConfig *config, GError **error);
/* Stops and joins the workers. */
void        derm_loader_free (DermLoader *loader);
int         derm_loader_batches_per_epoch (const DermLoader *loader);
/* Starts an epoch (ends the previous one if unfinished). */
void        derm_loader_start_epoch (DermLoader *loader, int epoch);
/* The next batch of the epoch, in order, FALSE at its end. The buffers stay
 * valid until the next call (or start_epoch/free). @masks is NULL without
 * masks. */
gboolean    derm_loader_next (DermLoader *loader, const guint8 **images, const gint32 **labels,
                              const guint8 **masks, int *n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermLoader, derm_loader_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermCache, derm_cache_free)

G_END_DECLS
