/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-model-card.h: a classifier's model card (Mitchell et al., "Model
 * Cards for Model Reporting", 2019), assembled from what a Dermalens model
 * file carries in its metadata: "model_card" (the facts of the data and the
 * intended use, written by the training job), "training" (the recipe),
 * "split", "metrics" (test, with lesion-bootstrap intervals), "decision"
 * and "temperature". The CLI's weights-info and the app show the same text. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The "model_card" metadata of a job: the data (@class_counts: train, val,
 * test x DERM_N_CLASSES images), the software, the date, the intended use,
 * what is out of scope and the known limits, as JSON.
 * Returns: (transfer full). */
char *derm_model_card_facts_json (const char *dataset_sha256, guint n_images, guint n_lesions,
                                  const guint class_counts[3][7], const char *device);

/* The model card of the model whose metadata is @metadata (key -> value
 * strings), as Markdown; @file_name heads it. A model file without
 * "model_card" (trained before it, or not by Dermalens) gets a card of what
 * it has, saying what is missing. Returns: (transfer full). */
char *derm_model_card_render (GHashTable *metadata, const char *file_name);

G_END_DECLS
