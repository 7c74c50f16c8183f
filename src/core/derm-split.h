/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-split.h: lesion-grouped, class-stratified, seeded train/val/test
 * splits. No lesion_id ever appears on two sides. */
#pragma once

#include <glib.h>

#include "derm-dataset.h"

G_BEGIN_DECLS

typedef enum {
  DERM_SPLIT_TRAIN = 0,
  DERM_SPLIT_VAL,
  DERM_SPLIT_TEST,
  DERM_SPLIT_N_PARTS
} DermSplitPart;

typedef struct {
  guint64 seed;
  double val_fraction;   /* of each class's lesions; default 0.15 */
  double test_fraction;  /* default 0.15 */
} DermSplitConfig;

/* "train", "val", "test". Borrowed, static. */
const char *derm_split_part_name (DermSplitPart part);
/* Accepts the names above; returns FALSE otherwise. */
gboolean    derm_split_part_from_name (const char *name, DermSplitPart *part);

/* Assigns every sample of @dataset a part. Lesions of each class (a lesion's
 * class is its most frequent dx) are sorted by id, shuffled with a GRand
 * seeded from @config->seed, and cut by the fractions (rounded; a class with
 * at least three lesions gets at least one on each side whose fraction is
 * positive). The result depends only on the dataset's content and @config.
 * Returns: (transfer full) n_samples DermSplitPart values (guint8), g_free()
 * it; NULL with @error when the fractions are out of range. */
guint8     *derm_split_assign (const DermDataset *dataset, const DermSplitConfig *config,
                               GError **error);

/* K lesion-grouped, class-stratified folds of the samples @indices (@n of
 * them, e.g. the training split), for an ensemble's members: each class's
 * lesions, sorted by id and shuffled with @seed, are dealt round the folds,
 * so every fold has about 1/k of each class and no lesion is in two folds.
 * Returns: (transfer full) @n fold numbers 0..k-1 (guint8), g_free() it. */
guint8     *derm_split_folds (const DermDataset *dataset, const guint *indices, guint n,
                              guint k, guint64 seed);

/* The indices of the samples in @part. Returns: (transfer full) a GArray of
 * guint. */
GArray     *derm_split_indices (const guint8 *assignment, guint n, DermSplitPart part);

/* The samples @indices of @dataset keep about @fraction of their lesions,
 * class by class (a lesion's class is its first image's), chosen with
 * @seed; every class present keeps at least one lesion, and a lesion keeps
 * all its images. For measuring with 10 % or 25 % of the labels: the
 * validation and test splits are not touched. @fraction >= 1: all.
 * Returns: (transfer full) the kept indices, in their order. */
GArray     *derm_split_subsample_lesions (const DermDataset *dataset, const GArray *indices,
                                          double fraction, guint64 seed);

/* The split as the JSON stored in a model's "split" metadata:
 * {"seed":..,"val_fraction":..,"test_fraction":..,"limit":..,
 *  "dataset_sha256":"..","n_train":..,"n_val":..,"n_test":..}.
 * Returns: (transfer full). */
char       *derm_split_to_json (const DermSplitConfig *config, guint limit,
                                const char *dataset_sha256, const guint8 *assignment,
                                guint n);
/* Reads what derm_split_to_json wrote. @dataset_sha256 (transfer full,
 * may be NULL). Returns FALSE with @error on anything malformed. */
gboolean    derm_split_from_json (const char *json, DermSplitConfig *config, guint *limit,
                                  char **dataset_sha256, GError **error);

G_END_DECLS
