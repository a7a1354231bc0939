/* version.c - what `profcol --version` says: profcol's version, the git
 * commit it was built from (meson's vcs_tag at build time; "unknown" from a
 * tree without git), and the versions of the libraries it runs on, read
 * from the libraries themselves where they can say (so a distribution's
 * newer shared library shows), else the headers it was built with. */
#include <curl/curl.h>
#include <jansson.h>
#include <libdeflate.h>
#include <llhttp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <uv.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

#include "../component/curl_dl.h"
#include "../httpd/openssl_dl.h"
#include "cli.h"
#include "version.h"

#ifndef PROFCOL_VERSION
#define PROFCOL_VERSION "unknown"
#endif

void pc__print_version(FILE *f) {
  fprintf(f, "profcol %s (commit %s)\n", PROFCOL_VERSION, PROFCOL_COMMIT);
  fprintf(f, "  libuv %s\n", uv_version_string());
  fprintf(f, "  nghttp2 %s\n", nghttp2_version(0)->version_str);
  char why[512];
  if (pc_curl_load(why, sizeof why) == 0)
    fprintf(f, "  libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
  else
    fprintf(f, "  libcurl: %s\n", why);
  if (pc_openssl_load(why, sizeof why) == 0)
    fprintf(f, "  %s\n", OpenSSL_version(OPENSSL_VERSION));
  else
    fprintf(f, "  OpenSSL: %s\n", why);
  fprintf(f, "  zstd %s\n", ZSTD_versionString());
  fprintf(f, "  zlib %s\n", zlibVersion());
  fprintf(f, "  libdeflate %s (built with)\n", LIBDEFLATE_VERSION_STRING);
  fprintf(f, "  libyaml %s\n", yaml_get_version_string());
  fprintf(f, "  jansson %s (built with)\n", JANSSON_VERSION);
  fprintf(f, "  llhttp %d.%d.%d (built in)\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
          LLHTTP_VERSION_PATCH);
}
