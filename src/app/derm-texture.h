/* derm-texture.h: DermImage <-> GdkTexture. */
#pragma once

#include <gtk/gtk.h>

#include "derm-image.h"

G_BEGIN_DECLS

/* A texture showing @image (RGB, or gray shown as gray). The pixels are
 * copied; @image stays the caller's. Returns: (transfer full). */
GdkTexture *derm_texture_new_from_image (const DermImage *image);

/* The same, but takes @image's pixel buffer (no copy) and frees @image.
 * Returns: (transfer full). */
GdkTexture *derm_texture_new_take_image (DermImage *image);

G_END_DECLS
