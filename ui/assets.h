/* assets.h - the flame graph page's files, embedded in the binary at build
 * time: ui/embed.py writes the table from ui/ (the page) and ui/node_modules
 * (d3's modules and d3-flame-graph, installed by scripts/install-deps.sh),
 * gzip'd. extension/ui.c serves them under /ui/.
 *
 * A build configured with -Dui=disabled has an empty table (pc_ui_n_assets
 * 0), and the span_store refuses ui.enabled. The bytes are static and
 * immutable. */
#ifndef PC_UI_ASSETS_H
#define PC_UI_ASSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *path;         /* as requested: "/ui/", "/ui/app.js" */
  const char *content_type; /* with charset where it is text */
  const uint8_t *gz;        /* the file gzip'd (level 9, no name, mtime 0) */
  size_t gz_n;
  size_t n; /* the file's own size */
} pc_ui_asset_t;

extern const pc_ui_asset_t pc_ui_assets[]; /* ends with a {0} row */
extern const size_t pc_ui_n_assets;
extern const size_t pc_ui_bytes; /* gzip'd bytes embedded, every file */

#endif
