/* greenlight-pipe: a raw transactional pass-through on the engine. Every
 * input record is decoded as an Envelope (as the order daemon does) and its
 * original bytes are written unchanged to the first output topic, in the
 * same exactly-once cycle. It has no state and no rules, so it measures
 * what the engine itself costs: the baseline for the order daemon's
 * throughput. */
#include <stdlib.h>

#include "greenlight/gl_codec.h"
#include "greenlight/gl_engine.h"

static const char *const pipe_headers[] = {GL_HDR_CONTENT_TYPE, GL_CONTENT_TYPE,
                                           GL_HDR_MESSAGE_TYPE, "greenlight.v1.Envelope", NULL};
static const char *const pipe_outputs[] = {"out", NULL};

static int pipe_open(void *opaque, gl_engine_t *e, char *errstr, size_t errlen) {
  (void)errstr;
  (void)errlen;
  *(gl_output_t **)opaque = gl_engine_output(e, "out");
  gl_engine_dlq_reasons(e, gl_envelope_reasons); /* Its decode hook's. */
  return GL_OK;
}

static void pipe_process(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  gl_output_t *out = *(gl_output_t **)opaque;
  gl_ctx_emit(ctx, out, 0, rec->key, rec->key_len, rec->value, rec->value_len, pipe_headers);
}

int main(int argc, char **argv) {
  gl_output_t *out = NULL;
  gl_processor_t proc = {.name = "pipe",
                         .summary = "a transactional pass-through of envelopes: the engine's baseline",
                         .outputs = pipe_outputs,
                         .opaque = &out,
                         .decode = gl_envelope_decode_hook,
                         .decoded_free = gl_envelope_free_hook,
                         .open = pipe_open,
                         .process = pipe_process};
  static const char *const defaults[] = {"app.id", "greenlight-pipe", "input.topics",
                                         "greenlight.orders", "output.topics",
                                         "greenlight.pipe-out", "http.port", "-1", NULL};
  return gl_engine_main(argc, argv, &proc, defaults, NULL, NULL, NULL);
}
