/* SPDX-License-Identifier: GPL-3.0-or-later */
/* derm-case.h: stored cases for the window: the jobs the store thread runs
 * (save a visit with its analysis, list, open, timeline, annotate) and the
 * conversions between an analysis as the app shows it and as it is stored.
 *
 * Stored form of an analysis: probabilities and predicted class; the mask as
 * PNG bytes; measurements_json is an object with the lesion measurements
 * ("area_px", "area_fraction", "asymmetry": [major, minor], "perimeter_px",
 * "compactness", "diameter_px", "centroid": [x, y], "colors": {name: fraction},
 * "n_colors"), the visit's "notes" and, when there are no measurements, the
 * reason as "measurement_error". */
#pragma once

#include <glib.h>

#include "derm-store.h"
#include "derm-worker.h"

G_BEGIN_DECLS

/* Returns: (transfer full) the measurements JSON (see above). @result may
 * have no measurements; @notes may be NULL. */
char *derm_case_measurements_to_json (const DermAnalysisResult *result, const char *notes);

/* Decodes a stored mask PNG (an analysis's or a correction's) as a gray
 * image; @name says which in an error. Returns: (transfer full) or NULL
 * with @error. */
DermImage *derm_case_decode_mask (GBytes *png, const char *name, GError **error);

/* Rebuilds what the window shows from a stored analysis: probabilities,
 * mask (decoded from PNG), measurements and notes from the JSON, model
 * versions. No heatmap (it is not stored). @notes receives the visit's notes
 * (transfer full, may be NULL).
 * Returns: (transfer full) or NULL with @error (a corrupt mask PNG). */
DermAnalysisResult *derm_case_result_from_analysis (const DermAnalysis *analysis, char **notes,
                                                    GError **error);

/* What "Save to case" stores. Every field is owned. */
typedef struct {
  char *patient;        /* pseudonymous identifier */
  int birth_year;       /* 0: not known; a new patient only (an existing one keeps its own) */
  DermSex sex;          /* likewise */
  char *body_site;      /* one of derm_body_sites () */
  char *lesion_label;   /* may be "": with the site, names the lesion across visits */
  gint64 captured;      /* Unix time of the visit */
  char *notes;
  char *image_path;     /* the file to copy into the store */
  float probs[DERM_N_CLASSES];
  int predicted;
  DermImage *mask;      /* may be NULL */
  char *measurements_json;
  char *model_info;
} DermCaseSaveRequest;

void derm_case_save_request_free (DermCaseSaveRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DermCaseSaveRequest, derm_case_save_request_free)

/* The patient context of a case: age at capture (from the patient's birth
 * year), sex and the lesion's body site; what is not stored is unknown. */
void derm_case_patient_context (const DermCase *c, DermPatientContext *out);

/* Store-thread jobs (DermStoreJobFunc). */

/* @data: DermCaseSaveRequest. Adds the visit to the patient's lesion with the
 * same body site and label (creating patient and lesion when absent) and its
 * analysis, in that order. Returns: (transfer full) the stored DermCase. */
gpointer derm_case_save_job (DermStore *store, gpointer data, GError **error);

/* What the case browser asks for. */
typedef struct {
  char *body_site;      /* NULL: any */
  int predicted;        /* -1: any */
  double min_risk;      /* < 0: any */
  DermConfirmedFilter confirmed;
} DermCaseListRequest;

void derm_case_list_request_free (DermCaseListRequest *request);
/* @data: DermCaseListRequest. Returns: (transfer full) (element-type DermCase). */
gpointer derm_case_list_job (DermStore *store, gpointer data, GError **error);

/* @data: a gint64 * image id (g_free). Returns: (transfer full) DermCase. */
gpointer derm_case_get_job (DermStore *store, gpointer data, GError **error);
/* @data: a gint64 * lesion id. Returns: (transfer full) (element-type DermCase)
 * the lesion's visits, oldest first. */
gpointer derm_case_timeline_job (DermStore *store, gpointer data, GError **error);

/* A clinician's correction. Every field is owned. */
typedef struct {
  gint64 image_id;
  int diagnosis;        /* DermClass */
  DermDxType dx_type;
  DermImage *mask;      /* the corrected mask, or NULL */
  char *notes;
} DermCaseAnnotateRequest;

void derm_case_annotate_request_free (DermCaseAnnotateRequest *request);
/* @data: DermCaseAnnotateRequest. Stores it as the image's annotation (the
 * mask as PNG). Returns: (transfer full) the stored DermCase, with it. */
gpointer derm_case_annotate_job (DermStore *store, gpointer data, GError **error);

G_END_DECLS
