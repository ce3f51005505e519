/* gl_version: what every executable prints for --version: its name and
 * greenlight's version (with `git describe` of the tree it was built from),
 * and the versions of the C libraries it runs with, as loaded (not as
 * compiled against, where the library can tell). */
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "greenlight/gl_version.h"

#ifndef GL_VERSION
#define GL_VERSION "unknown"
#endif
#ifndef GL_GIT_DESCRIBE
#define GL_GIT_DESCRIBE "unknown"
#endif

void gl_version_print(FILE *out, const char *prog) {
  fprintf(out,
          "%s %s (git %s)\n"
          "librdkafka %s\n"
          "protobuf-c %s\n"
          "libuv %s\n"
          "jansson %s\n",
          prog ? prog : "greenlight", GL_VERSION, GL_GIT_DESCRIBE, rd_kafka_version_str(),
          protobuf_c_version(), uv_version_string(), JANSSON_VERSION);
}

const char *gl_version_string(void) { return GL_VERSION; }
