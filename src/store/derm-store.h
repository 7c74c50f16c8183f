/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-store.h: the case database (patients, lesions, images, analyses,
 * annotations) and the model registry, in SQLite.
 *
 * Files: a data directory holds `cases.db` and `images/`, where every stored
 * image is a content-addressed copy named by its SHA-256 (the same file added
 * twice is stored once). Both are created with user-only permissions (0700
 * directories, 0600 files). The default data directory is
 * $XDG_DATA_HOME/dermalens (g_get_user_data_dir ()).
 *
 * Threads: a DermStore is one SQLite connection and must be used by one
 * thread at a time; open one store per thread (the UI thread never queries).
 * Concurrent stores on the same file work (WAL; writers wait up to
 * DERM_STORE_BUSY_TIMEOUT_MS for each other).
 *
 * Errors: every function that can fail takes a GError: DERM_ERROR_DATABASE
 * (SQLite's message), DERM_ERROR_IO (files), DERM_ERROR_INVALID (an argument),
 * DERM_ERROR_NOT_FOUND (no such row), DERM_ERROR_UNSUPPORTED (a database from
 * a newer Dermalens), DERM_ERROR_FORMAT (a corrupt database or a file that is
 * not an image).
 *
 * Times are Unix seconds (UTC). Row ids are > 0; 0 means "none". The words
 * stored as keys (sexes, dx types, body sites, model kinds) are in
 * derm-vocab.h.
 */
#pragma once

#include <glib.h>

#include "derm-classes.h"
#include "derm-vocab.h"

G_BEGIN_DECLS

#define DERM_STORE_DB_NAME "cases.db"
#define DERM_STORE_IMAGES_DIR "images"
#define DERM_STORE_BUSY_TIMEOUT_MS 10000

typedef struct _DermStore DermStore;

/* ---- Records. Every string and blob in a record is owned by the record; free
 * the record with its _free function (NULL is accepted). ------------------ */

typedef struct {
  gint64 id;
  char *identifier;      /* pseudonymous, unique */
  int birth_year;        /* 0 when unknown */
  DermSex sex;
  gint64 created;
} DermPatient;

typedef struct {
  gint64 id;
  gint64 patient_id;
  char *body_site;       /* one of derm_body_sites () */
  char *label;           /* free text, may be "" */
  gint64 created;
} DermLesion;

/* One visit: a stored image of a lesion. */
typedef struct {
  gint64 id;
  gint64 lesion_id;
  gint64 captured;       /* capture time */
  char *sha256;          /* 64 lower-case hex digits of the file's bytes */
  int width;
  int height;
  char *original_name;   /* base name of the file that was added */
  char *path;            /* absolute path of the stored copy */
} DermStoredImage;

typedef struct {
  gint64 id;
  gint64 image_id;
  gint64 classifier_id;  /* models registry id, 0 when not registered */
  gint64 segmenter_id;   /* models registry id, 0 when none */
  char *model_info;      /* free text naming the model versions, may be "" */
  float probs[DERM_N_CLASSES];
  DermClass predicted;
  double malignant_risk; /* derm_class_malignant_risk (probs) */
  GBytes *mask_png;      /* PNG file bytes, NULL when none (or not loaded) */
  char *measurements_json; /* JSON object text, may be NULL */
  gint64 created;
} DermAnalysis;

typedef struct {
  gint64 id;
  gint64 image_id;
  DermClass diagnosis;
  DermDxType dx_type;
  GBytes *mask_png;      /* corrected mask, PNG bytes, NULL when none (or not loaded) */
  char *notes;           /* may be "" */
  gint64 created;
} DermAnnotation;

/* A case is one stored image with its lesion, patient, latest analysis and
 * latest annotation. A case is "confirmed" when it has an annotation. */
typedef struct {
  DermPatient *patient;
  DermLesion *lesion;
  DermStoredImage *image;
  DermAnalysis *analysis;     /* latest, NULL when never analysed */
  DermAnnotation *annotation; /* latest, NULL when not confirmed */
  GPtrArray *analyses;        /* every DermAnalysis of the image, oldest first;
                                 filled by get_case and the timeline, NULL in lists */
} DermCase;

typedef struct {
  gint64 id;
  DermModelKind kind;
  char *architecture;    /* "resnet50", "unet" ... */
  char *file_path;
  char *sha256;
  char *metrics_json;    /* may be NULL */
  char *settings_json;   /* may be NULL */
  char *provenance;      /* free text: data, split, who/what trained it; may be NULL */
  gint64 parent_id;      /* the version it was fine-tuned from, 0 when none */
  gint64 created;
  gboolean active;
} DermModelVersion;

void derm_patient_free (DermPatient *p);
void derm_lesion_free (DermLesion *l);
void derm_stored_image_free (DermStoredImage *i);
void derm_analysis_free (DermAnalysis *a);
void derm_annotation_free (DermAnnotation *a);
void derm_case_free (DermCase *c);
void derm_model_version_free (DermModelVersion *m);

/* ---- Opening ------------------------------------------------------------ */

/* Opens (creating when absent) the case database and migrates it to the
 * current schema.
 *
 * @location: NULL for the default data directory; an existing directory
 * (cases.db and images/ inside it); or any other path, taken as the database
 * file (images/ is created beside it).
 *
 * A database written by a newer Dermalens (user_version above
 * derm_store_schema_version ()) is refused with DERM_ERROR_UNSUPPORTED and
 * not modified. A file that is not an SQLite database, or is corrupt, is
 * refused with DERM_ERROR_FORMAT and never overwritten.
 * Returns: (transfer full) a new store, close it with derm_store_close (). */
DermStore  *derm_store_open (const char *location, GError **error);
void        derm_store_close (DermStore *store);

/* The schema version this build writes. */
int         derm_store_schema_version (void);
/* Returns: (transfer none) the database file's absolute path. */
const char *derm_store_get_db_path (DermStore *store);
/* Returns: (transfer none) the images directory's absolute path. */
const char *derm_store_get_images_dir (DermStore *store);
/* Runs PRAGMA integrity_check; FALSE with DERM_ERROR_FORMAT naming the first
 * problem when the file is damaged. */
gboolean    derm_store_check_integrity (DermStore *store, GError **error);

/* ---- Patients, lesions, visits ----------------------------------------- */

/* Returns the id of the patient with @identifier, creating it when absent
 * (then @birth_year and @sex are stored; an existing patient is unchanged).
 * @identifier must be non-empty and must not be a name: it is a pseudonym. */
gint64 derm_store_ensure_patient (DermStore *store, const char *identifier,
                                  int birth_year, DermSex sex, GError **error);
/* Returns: (transfer full) the patient, or NULL and DERM_ERROR_NOT_FOUND. */
DermPatient *derm_store_get_patient (DermStore *store, gint64 id, GError **error);
/* Returns: (transfer full) or NULL with DERM_ERROR_NOT_FOUND. */
DermPatient *derm_store_find_patient (DermStore *store, const char *identifier,
                                      GError **error);

/* Creates a lesion; @body_site must be in derm_body_sites (); @label may be NULL.
 * Returns its id, or 0 with @error. */
gint64 derm_store_add_lesion (DermStore *store, gint64 patient_id,
                              const char *body_site, const char *label,
                              GError **error);
/* Returns: (transfer full) or NULL with DERM_ERROR_NOT_FOUND. */
DermLesion *derm_store_get_lesion (DermStore *store, gint64 id, GError **error);
/* Returns: (transfer full) (element-type DermLesion) the patient's lesions, by id. */
GPtrArray *derm_store_list_lesions (DermStore *store, gint64 patient_id, GError **error);

/* Adds a visit: copies the JPEG or PNG at @file_path into the images
 * directory (by SHA-256; fsync'ed before the row is committed) and records it
 * for @lesion_id, captured at @captured (0: now). A file that is not a
 * readable image is refused (DERM_ERROR_FORMAT) and nothing is stored.
 * Returns the new image id, or 0 with @error. */
gint64 derm_store_add_image (DermStore *store, gint64 lesion_id,
                             const char *file_path, gint64 captured,
                             GError **error);
/* Returns: (transfer full) or NULL with DERM_ERROR_NOT_FOUND. */
DermStoredImage *derm_store_get_image (DermStore *store, gint64 id, GError **error);

/* ---- Analyses and annotations ------------------------------------------ */

/* Stores @analysis for analysis->image_id (its id and created are set by
 * the store: created = now when 0; malignant_risk is recomputed from probs;
 * predicted must be a valid class). mask_png, when set, must be a PNG.
 * Returns the new id, or 0 with @error. */
gint64 derm_store_add_analysis (DermStore *store, const DermAnalysis *analysis,
                                GError **error);
/* Stores a clinician's annotation for annotation->image_id; the latest
 * annotation of an image is the one that counts. Returns the new id or 0. */
gint64 derm_store_add_annotation (DermStore *store, const DermAnnotation *annotation,
                                  GError **error);

/* ---- Cases -------------------------------------------------------------- */

typedef enum {
  DERM_CONFIRMED_ANY = 0,
  DERM_CONFIRMED_YES,     /* has an annotation */
  DERM_CONFIRMED_NO,
} DermConfirmedFilter;

typedef enum {
  DERM_CASE_SORT_CAPTURED_DESC = 0,  /* newest first (default) */
  DERM_CASE_SORT_CAPTURED_ASC,
  DERM_CASE_SORT_RISK_DESC,          /* highest malignant risk first; unanalysed last */
  DERM_CASE_SORT_PATIENT,            /* patient identifier, then newest first */
} DermCaseSort;

/* A selection of cases. Initialise with derm_case_query_init (): every field
 * then means "any". Strings are borrowed for the duration of the call. */
typedef struct {
  gint64 patient_id;            /* 0: any */
  const char *patient_identifier; /* NULL: any (exact match) */
  gint64 lesion_id;             /* 0: any */
  const char *body_site;        /* NULL: any */
  int predicted;                /* DermClass of the latest analysis, -1: any */
  int diagnosis;                /* DermClass of the latest annotation, -1: any */
  double min_risk;              /* latest analysis's malignant risk >= this; < 0: any */
  DermConfirmedFilter confirmed;
  gint64 captured_from;         /* captured >= this; 0: open */
  gint64 captured_to;           /* captured < this; 0: open */
  const char *text;             /* substring of the annotation notes or the lesion
                                   label, case-insensitive for ASCII; NULL: any */
  DermCaseSort sort;
  guint offset;
  guint limit;                  /* 0: no limit */
} DermCaseQuery;

void derm_case_query_init (DermCaseQuery *query);

/* Lists the cases matching @query, sorted and paged. Masks are not loaded
 * (mask_png is NULL) and analyses is NULL. When @total is not NULL it
 * receives the exact number of matching cases ignoring offset and limit,
 * from the same snapshot as the page.
 *
 * Speed (100,000 cases, bench/store): a page of 50 walks one index in its
 * sort order and stops, for every sort but DERM_CASE_SORT_PATIENT; the
 * total is counted from one covering index for the site, class, diagnosis,
 * risk, confirmed and date filters (about 1 ms), while a text filter first
 * matches every note and label, then counts their cases by index (about
 * 15 ms).
 * Returns: (transfer full) (element-type DermCase), or NULL with @error. */
GPtrArray *derm_store_list_cases (DermStore *store, const DermCaseQuery *query,
                                  gint64 *total, GError **error);
/* One case with masks and every analysis of the image.
 * Returns: (transfer full) or NULL with DERM_ERROR_NOT_FOUND. */
DermCase  *derm_store_get_case (DermStore *store, gint64 image_id, GError **error);
/* A lesion's timeline: all its images in capture order (oldest first), each
 * with its analyses and masks.
 * Returns: (transfer full) (element-type DermCase), or NULL with @error. */
GPtrArray *derm_store_lesion_timeline (DermStore *store, gint64 lesion_id,
                                       GError **error);

/* Deletes a visit (with its analyses and annotations), a lesion (with its
 * visits) or a patient (with everything), in one transaction; then removes
 * the stored image files no other visit references. */
gboolean derm_store_delete_image (DermStore *store, gint64 image_id, GError **error);
gboolean derm_store_delete_lesion (DermStore *store, gint64 lesion_id, GError **error);
gboolean derm_store_delete_patient (DermStore *store, gint64 patient_id, GError **error);
/* Removes files in images/ that no visit references (left by a crash between
 * a delete's commit and the file removal), and temporary copies older than an
 * hour (left by a crash while adding an image). Returns the number removed,
 * -1 on error. */
int      derm_store_remove_orphan_images (DermStore *store, GError **error);

/* ---- Export and import ------------------------------------------------- */

/* Writes the cases matching @query (offset and limit apply) as CSV with a
 * header row (RFC 4180 quoting, UTF-8), atomically. Returns the row count or -1. */
gint64 derm_store_export_csv (DermStore *store, const DermCaseQuery *query,
                              const char *csv_path, GError **error);

/* Writes the CONFIRMED cases among @query's matches as a HAM10000 folder in
 * @dir (created; must be empty or absent): HAM10000_metadata.csv
 * (lesion_id,image_id,dx,dx_type,age,sex,localization), images/<image_id>.jpg
 * and masks/<image_id>_segmentation.png (the annotation's corrected mask, else
 * the latest analysis's mask; no file when neither). dx is the annotation's
 * diagnosis. Returns the number of cases written, or -1. */
gint64 derm_store_export_ham10000 (DermStore *store, const DermCaseQuery *query,
                                   const char *dir, GError **error);

/* Called after each row (@committed: rows durably committed so far). Return
 * FALSE to stop: the import then ends with G_IO_ERROR_CANCELLED after rolling
 * back the open batch. */
typedef gboolean (*DermStoreImportProgress) (guint64 done, guint64 committed,
                                             guint64 total, gpointer user_data);

/* Imports a HAM10000 folder: HAM10000_metadata.csv plus the images in
 * images/, HAM10000_images_part_1/ and _part_2/, or the folder itself; masks
 * (optional) from masks/ or HAM10000_segmentations_lesion_tschandl/.
 * Each HAM lesion becomes a patient "HAM10000:<lesion_id>" (birth year from
 * the age) with one lesion labelled <lesion_id>; each row a visit with an
 * annotation (dx, dx_type, the mask when present). Rows are committed in
 * transactions of @batch_size (0: 100), so a crash leaves a prefix of whole
 * batches; running the import again skips the rows already present.
 * Returns the number of rows imported (not counting skipped), or -1. */
gint64 derm_store_import_ham10000 (DermStore *store, const char *dir,
                                   guint batch_size,
                                   DermStoreImportProgress progress,
                                   gpointer user_data, GError **error);

/* ---- Model registry ---------------------------------------------------- */

/* Registers a model version (@model's id, created and active are ignored;
 * it starts inactive). kind, architecture, file_path and sha256 are required;
 * parent_id, when not 0, must exist. Returns the new id, or 0 with @error. */
gint64 derm_store_register_model (DermStore *store, const DermModelVersion *model,
                                  GError **error);
/* Returns: (transfer full) (element-type DermModelVersion) every version of
 * @kind (-1: all kinds), newest first. */
GPtrArray *derm_store_list_models (DermStore *store, int kind, GError **error);
/* Returns: (transfer full) or NULL with DERM_ERROR_NOT_FOUND. */
DermModelVersion *derm_store_get_model (DermStore *store, gint64 id, GError **error);
/* Returns: (transfer full) the active version of @kind, or NULL: with
 * DERM_ERROR_NOT_FOUND when none is active. */
DermModelVersion *derm_store_get_active_model (DermStore *store, DermModelKind kind,
                                               GError **error);
/* Makes @id the only active version of its kind (one transaction). */
gboolean derm_store_activate_model (DermStore *store, gint64 id, GError **error);
/* Deletes a version that is not active (DERM_ERROR_INVALID otherwise);
 * analyses that named it keep their model_info text; children lose their parent. */
gboolean derm_store_delete_model (DermStore *store, gint64 id, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermStore, derm_store_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermPatient, derm_patient_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermLesion, derm_lesion_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermStoredImage, derm_stored_image_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermAnalysis, derm_analysis_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermAnnotation, derm_annotation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermCase, derm_case_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermModelVersion, derm_model_version_free)

G_END_DECLS
