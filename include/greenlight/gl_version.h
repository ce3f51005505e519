/* gl_version: what --version prints, for every executable (gl_version.c). */
#ifndef GREENLIGHT_GL_VERSION_H
#define GREENLIGHT_GL_VERSION_H

#include <stdio.h>

/* Prints "<prog> <version> (git <describe>)" and the librdkafka,
 * protobuf-c, libuv and jansson versions, one per line. Any thread. */
void gl_version_print(FILE *out, const char *prog);
/* greenlight's version alone, e.g. "0.9.0" (for man pages). Any thread. */
const char *gl_version_string(void);

#endif
