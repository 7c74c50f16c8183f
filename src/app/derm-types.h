/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * derm-types.h: the window's types, declared once so that a header can name
 * a type in a prototype without including that type's header (the
 * gnome-calendar gcal-types.h habit): headers then never include each
 * other in a circle, and a .c file includes what it uses. G_DECLARE_*_TYPE
 * in each type's own header repeats the typedef, which C11 allows. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _DermApplication  DermApplication;
typedef struct _DermCaseBrowser  DermCaseBrowser;
typedef struct _DermCompare      DermCompare;
typedef struct _DermContext      DermContext;
typedef struct _DermPage         DermPage;
typedef struct _DermPreferences  DermPreferences;
typedef struct _DermResults      DermResults;
typedef struct _DermSaveDialog   DermSaveDialog;
typedef struct _DermTrainPanel   DermTrainPanel;
typedef struct _DermViewer       DermViewer;
typedef struct _DermWindow       DermWindow;

G_END_DECLS
