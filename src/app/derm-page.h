/* derm-page.h: one opened image (a tab of the window): loading, error or
 * the image with its analysis. */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"

G_BEGIN_DECLS

typedef enum {
  DERM_PAGE_LOADING,
  DERM_PAGE_ERROR,
  DERM_PAGE_READY,
} DermPageState;

#define DERM_TYPE_PAGE (derm_page_get_type ())
G_DECLARE_FINAL_TYPE (DermPage, derm_page, DERM, PAGE, GtkWidget)

/* Starts decoding @file on a worker thread. Returns: (transfer floating). */
DermPage      *derm_page_new (GFile *file);

/* Returns: (transfer none). */
GFile         *derm_page_get_file (DermPage *self);
/* The file's display name. Returns: (transfer none). */
const char    *derm_page_get_title (DermPage *self);
DermPageState  derm_page_get_state (DermPage *self);
/* The reason the image could not be opened, or NULL. (transfer none) */
const char    *derm_page_get_error_message (DermPage *self);
/* The decoded image, or NULL until ready. (transfer none) */
const DermImage *derm_page_get_image (DermPage *self);

G_END_DECLS
