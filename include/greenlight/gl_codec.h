/* gl_codec: the input envelope on the wire, and the record headers.
 *
 * Every input record is a greenlight.v1.Envelope. gl_envelope_decode()
 * decodes and validates it; a record that fails gets a stable reason code
 * for the dead-letter topic:
 *   decode_error     the bytes are not a protobuf Envelope
 *   unknown_payload  a valid Envelope whose payload case this build does not know
 *   unknown_enum     an enum field holds a value this build does not know
 *   invalid          a required field is missing or out of range */
#ifndef GREENLIGHT_GL_CODEC_H
#define GREENLIGHT_GL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "greenlight/v1/greenlight.pb-c.h"
#include "greenlight/v1/state.pb-c.h"

typedef Greenlight__V1__Envelope gl_envelope_t;

#define GL_CONTENT_TYPE "application/x-protobuf"
#define GL_HDR_CONTENT_TYPE "content-type"
#define GL_HDR_MESSAGE_TYPE "message-type"

/* Longest id (event_id, order_id, batch_id, ...) accepted, in bytes. */
#define GL_ID_MAX 128

/* Decodes and validates an envelope. On failure returns NULL, points
 * *reason at one of the codes above and writes a human detail. The result
 * is freed with gl_envelope_free(). */
gl_envelope_t *gl_envelope_decode(const void *buf, size_t len, const char **reason, char *detail,
                                  size_t detail_len);
void gl_envelope_free(gl_envelope_t *env);

/* The payload's message name without package, e.g. "OrderPlaced"; "" if unset. */
const char *gl_envelope_type(const gl_envelope_t *env);
/* The payload's order_id; NULL for a Tick or an unset payload. */
const char *gl_envelope_order_id(const gl_envelope_t *env);

/* Walks a message and its sub-messages; returns -1 and writes detail if an
 * enum field holds a value its descriptor does not list, else 0. */
int gl_message_check_enums(const ProtobufCMessage *msg, char *detail, size_t detail_len);

/* The key of the repartition topic that feeds the batch daemon: the order's
 * batch_id when it is in a batch; GL_BATCH_KEY_WAITING for an order that is
 * ACCEPTED and waits for a later batch; NULL for any other order (it
 * belongs to no batch view). An order whose key changes is written under
 * both keys; under the old one its own key differs, which means "left". */
#define GL_BATCH_KEY_WAITING "~waiting"
const char *gl_order_batch_key(int state, const char *batch_id);

/* Packs any message into a malloc'd buffer; returns its length. */
size_t gl_message_pack(const ProtobufCMessage *msg, uint8_t **out);

#endif
