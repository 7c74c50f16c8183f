/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-dataset.h: HAM10000 as distributed (metadata CSV, images, masks),
 * with a validation report.
 *
 * Layouts read (DESIGN.md, "Data formats read"):
 *   DIR/HAM10000_metadata.csv   lesion_id,image_id,dx,dx_type,age,sex,localization
 *   DIR/images/<id>.jpg, or DIR/HAM10000_images_part_1/ and _part_2/, or DIR/<id>.jpg
 *   DIR/masks/<id>_segmentation.png, or DIR/HAM10000_segmentations_lesion_tschandl/
 */
#pragma once

#include <glib.h>

#include "derm-classes.h"
#include "derm-patient-context.h"

G_BEGIN_DECLS

/* Bounds on what the CSV parser accepts; longer input is reported, not read. */
#define DERM_DATASET_MAX_CSV_BYTES ((gsize) 64 * 1024 * 1024)
#define DERM_DATASET_MAX_FIELD 256
#define DERM_DATASET_MAX_RECORD 4096

typedef struct {
  char *lesion_id;    /* owned */
  char *image_id;     /* owned */
  DermClass label;
  char *dx_type;      /* owned, may be "" */
  double age;         /* NAN when blank */
  char *sex;          /* owned, may be "" */
  char *localization; /* owned, may be "" */
  char *image_path;   /* owned */
  char *mask_path;    /* owned, NULL when the image has no mask */
  int line;           /* 1-based line of the CSV record */
} DermSample;

typedef enum {
  DERM_DATASET_ISSUE_MALFORMED,     /* wrong field count, bad quoting, too long */
  DERM_DATASET_ISSUE_UNKNOWN_DX,
  DERM_DATASET_ISSUE_DUPLICATE_ID,
  DERM_DATASET_ISSUE_MISSING_IMAGE,
  DERM_DATASET_ISSUE_MISSING_MASK,
  DERM_DATASET_ISSUE_BAD_VALUE,     /* e.g. an age that is not a number: row kept */
} DermDatasetIssueKind;

typedef struct {
  int line;                   /* 1-based CSV line, 0 when not tied to a line */
  DermDatasetIssueKind kind;
  gboolean skipped;           /* TRUE when the row was left out */
  char *message;              /* owned, translated, names the line and the reason */
} DermDatasetIssue;

typedef enum {
  DERM_DATASET_NONE = 0,
  /* Rows without a mask are issues that skip the row (segmentation). */
  DERM_DATASET_REQUIRE_MASKS = 1 << 0,
  /* Go on with the valid rows; otherwise any skipped row is an error. */
  DERM_DATASET_LENIENT = 1 << 1,
} DermDatasetFlags;

typedef struct {
  char *root;                 /* owned */
  char *csv_path;             /* owned */
  GPtrArray *samples;         /* (element-type DermSample) owned; CSV order */
  GPtrArray *issues;          /* (element-type DermDatasetIssue) owned */
  guint n_rows;               /* data rows read from the CSV */
  guint n_skipped;            /* rows left out */
  guint n_lesions;            /* distinct lesion_id among samples */
  guint n_masks;              /* samples with a mask */
  guint class_counts[DERM_N_CLASSES];
} DermDataset;

/* Reads the dataset at @dir. In strict mode (no DERM_DATASET_LENIENT) a row
 * that would be skipped is an error whose message holds the first few issues.
 * Returns: (transfer full) a new dataset, or NULL with @error set. */
DermDataset *derm_dataset_load (const char *dir, DermDatasetFlags flags, GError **error);
void         derm_dataset_free (DermDataset *dataset);

/* A readable validation report (counts, then one line per issue, at most
 * @max_issues of them; 0 for all). Returns: (transfer full). */
char        *derm_dataset_report (const DermDataset *dataset, guint max_issues);

/* SHA-256 (hex) of the sorted "image_id dx" lines of every sample: names the
 * dataset a model was trained on. Returns: (transfer full). */
char        *derm_dataset_hash (const DermDataset *dataset);

/* The patient context of @sample (age, sex, localization). A value outside
 * the vocabulary (or an implausible age) is unknown: returns FALSE then,
 * with the rest filled. dx_type is never part of it. */
gboolean     derm_sample_patient_context (const DermSample *sample, DermPatientContext *context);

/* Finds the sample with @image_id; -1 when absent. Linear. */
int          derm_dataset_find (const DermDataset *dataset, const char *image_id);

/* Keeps only the samples of a class-stratified, seeded choice of @n_lesions
 * lesions (for quick runs); every class keeps at least one lesion where it has
 * one. No-op when @n_lesions >= n_lesions. */
void         derm_dataset_limit_lesions (DermDataset *dataset, guint n_lesions, guint64 seed);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermDataset, derm_dataset_free)

G_END_DECLS
