/* greenlight-pipe: a raw transactional pass-through on the engine. Every
 * input record is decoded as an Envelope (as the order daemon does) and its
 * original bytes are written unchanged to the first output topic, in the
 * same exactly-once cycle. It has no state and no rules, so it measures
 * what the engine itself costs: the baseline for the order daemon's
 * throughput. */
#include <stdlib.h>

#include "greenlight/gl_engine.h"

static void pipe_process(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  (void)opaque;
  gl_ctx_emit(ctx, 0, 0, rec->key, rec->key_len, rec->value, rec->value_len,
              "greenlight.v1.Envelope");
}

int main(int argc, char **argv) {
  gl_processor_t proc = {.name = "pipe", .decode_envelope = true, .process = pipe_process};
  static const char *const defaults[] = {"app.id", "greenlight-pipe", "input.topics",
                                         "greenlight.orders", "output.topics",
                                         "greenlight.pipe-out", "http.port", "-1", NULL};
  return gl_engine_main(argc, argv, &proc, defaults, NULL, NULL, NULL);
}
