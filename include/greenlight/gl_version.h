/* gl_version: what --version prints, for every executable (gl_version.c). */
#ifndef GREENLIGHT_GL_VERSION_H
#define GREENLIGHT_GL_VERSION_H

#include <stdio.h>

/* Prints "<prog> <version> (git <describe>)" and the librdkafka,
 * protobuf-c, libuv and jansson versions, one per line. Any thread. */
void gl_version_print(FILE *out, const char *prog);
/* greenlight's version ("0.9.0"; for man pages and build_info) and `git
 * describe` of the tree it was built from ("unknown" outside a git tree):
 * static strings. Any thread. */
const char *gl_version_string(void);
const char *gl_version_git(void);

#endif
