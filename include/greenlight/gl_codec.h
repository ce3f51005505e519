/* gl_codec: the input envelope on the wire, and the record headers.
 *
 * Every input record is a greenlight.v1.Envelope. gl_envelope_decode()
 * decodes and validates it, record key included; a record that fails gets
 * a stable reason code, used as the DLQ header `dlq.reason` and as a metric
 * label (so never renamed):
 *   decode_error     the bytes are not a protobuf Envelope (or the value is empty)
 *   too_large        the record value is above GL_RECORD_MAX, or a string
 *                    field is above its limit (GL_ID_MAX or GL_TEXT_MAX)
 *   invalid_utf8     a string field, at any depth, is not valid UTF-8
 *   invalid          a string field contains a NUL byte, or a required field
 *                    is missing or out of range (the payload's own fields:
 *                    gl_envelope_check_payload())
 *   unknown_payload  a valid Envelope whose payload case this build does not know
 *   unknown_enum     an enum field holds a value this build does not know
 *   key_mismatch     the record key is not the payload's order_id, byte for byte
 * Order of the checks: record size, unpack, every string field (length,
 * NUL, UTF-8, in wire order), payload case, enums, required fields, key.
 * The detail names the field (e.g. "OrderPlaced.buyer_name") with the byte
 * offset, or the length and the limit.
 *
 * Why: protobuf-c checks neither UTF-8 nor NUL bytes in strings (it hands
 * them over as C strings, so "A\0B" would silently become "A"), and nothing
 * bounds a record. A string greenlight re-publishes in OrderStatus that is
 * not UTF-8 makes every protobuf reader but protobuf-c refuse the status
 * record; an unbounded one makes it too large for the broker.
 *
 * Thread locality: every function here is pure (no global state, no I/O)
 * and may be called on any thread, on objects no other thread changes
 * meanwhile.
 *
 * Ownership: input buffers (buf, key, value) are read during the call only;
 * a decoded envelope holds copies of everything it needs. What a function
 * returns is the caller's to free where it says so (gl_envelope_free(),
 * free() for gl_message_pack()); reason codes and type names are static
 * strings, never freed; detail is the caller's buffer, written when a
 * check fails.
 *
 * Errors: a record that fails a check is data, not a failure of the
 * program: the decoders answer NULL with a reason code, the checks a
 * reason code or GL_EINVAL (gl_error.h); none of them is an exit code. */
#ifndef GREENLIGHT_GL_CODEC_H
#define GREENLIGHT_GL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "greenlight/gl_error.h"
#include "greenlight/v1/greenlight.pb-c.h"

typedef Greenlight__V1__Envelope gl_envelope_t;

#define GL_CONTENT_TYPE "application/x-protobuf"
#define GL_HDR_CONTENT_TYPE "content-type"
#define GL_HDR_MESSAGE_TYPE "message-type"

/* Limits of the input, in bytes (of UTF-8, not characters: a Chinese
 * name of 4 characters is 12 bytes).
 *
 * GL_ID_MAX: longest identifier: every string field named *_id (event_id,
 * order_id, buyer_id, approval_id, batch_id, shipment_id, clock_id,
 * correlation_id) and source. So the record key, which must equal the
 * order_id, is bounded too.
 *
 * GL_TEXT_MAX: longest other text (buyer_name, product, reason,
 * customs_office, and any string field added later). 1 KiB holds any real
 * name or free-text reason; an OrderStatus, which copies a few of these, so
 * stays a few KiB.
 *
 * GL_RECORD_MAX: longest record value. Unknown fields are kept for forward
 * compatibility, so the record itself must be bounded, not only its known
 * fields. An envelope with every known field at its limit is under 3 KiB;
 * the rest is room for fields of newer writers. 16 KiB because the order
 * daemon keeps early events' original bytes in its changelog record (at
 * most ORDER_PARKED_LIMIT = 48 of them: 768 KiB), which must stay under
 * the broker's default 1 MB message limit. */
#define GL_ID_MAX 128
#define GL_TEXT_MAX 1024
#define GL_RECORD_MAX (16 * 1024)

/* Decodes and validates the value buf[0..len) of a record whose key is
 * key[0..key_len) (key NULL: the record has no key). For every payload
 * with an order_id the key must equal it byte for byte; a Tick may carry
 * any key. On failure returns NULL, points *reason at one of the codes
 * above and writes a human detail (printable: the key's bytes are escaped,
 * and no string field is quoted before it passed its checks). The result
 * is the caller's, freed with gl_envelope_free(). Any thread. */
gl_envelope_t *gl_envelope_decode(const void *buf, size_t len, const void *key, size_t key_len,
                                  const char **reason, char *detail, size_t detail_len);
/* Every reason code above, NULL-terminated (a daemon declares them as
 * its DLQ metric's label values at start). */
extern const char *const gl_envelope_reasons[];
/* Frees an envelope of gl_envelope_decode(), and only those: it lives in
 * one arena with everything it points to, freed at once (an envelope built
 * otherwise, e.g. by gl_json_to_message(), is freed with
 * protobuf_c_message_free_unpacked()). NULL is ignored. Any thread. */
void gl_envelope_free(gl_envelope_t *env);

/* The envelope as a processor's decode hook (it has the signature of
 * gl_decode_fn in gl_engine.h, which the codec does not include): decodes
 * and validates the record with gl_envelope_decode() and gives the
 * envelope's occurred_at_ms as its event time. opaque is unused. The
 * result is the caller's (the engine's), freed with
 * gl_envelope_free_hook(). Called on the engine's loop thread; any thread
 * would do. */
void *gl_envelope_decode_hook(void *opaque, const void *key, size_t klen, const void *value,
                              size_t vlen, int64_t *event_time_ms, const char **reason,
                              char *detail, size_t detail_len);
void gl_envelope_free_hook(void *opaque, void *env);

/* The payload checks that need nothing but the record (reason "invalid"):
 *   OrderPlaced      buyer_id is set; units and domestic_units_committed >= 0
 *                    (units 0 is the policy's to refuse, not invalid)
 *   ApprovalGranted  authority is US_EXPORT_LICENSE or CN_IMPORT_APPROVAL;
 *                    units_approved, required_domestic_ratio_bp and
 *                    valid_until_ms >= 0; an import approval has a batch_id
 *   ApprovalDenied   authority as above
 *   BatchQueued      batch_id is set, batch_seq >= 1, position and
 *                    batch_unit_cap >= 0
 *   ShipmentCleared  units > 0
 * Returns NULL if env passes, else "invalid" with a detail that names the
 * payload and its event_id ("OrderPlaced E-1: buyer_id is required").
 *
 * Separate from gl_envelope_decode() because a daemon may have to decide
 * other things first (orderd drops a repeated event_id as a no-op before it
 * judges the payload, D1 of order_table.c); a writer calls both, or
 * gl_envelope_validate(). Pure; any thread. */
const char *gl_envelope_check_payload(const gl_envelope_t *env, char *detail, size_t detail_len);

/* Everything a daemon will check in one record that needs no state:
 * gl_envelope_decode() then gl_envelope_check_payload(). Returns NULL if
 * the record passes, else its reason code with detail written. For writers
 * (the CLI) that must refuse what a daemon would refuse. Any thread. */
const char *gl_envelope_validate(const void *buf, size_t len, const void *key, size_t key_len,
                                 char *detail, size_t detail_len);

/* The payload's message name without package, e.g. "OrderPlaced"; "" if
 * unset. A static string. */
const char *gl_envelope_type(const gl_envelope_t *env);
/* The payload's order_id, borrowed from env (valid while env is); NULL for
 * a Tick or an unset payload. */
const char *gl_envelope_order_id(const gl_envelope_t *env);

/* Walks a message and its sub-messages. Returns GL_OK, or GL_EINVAL with
 * detail written if an enum field holds a value its descriptor does not
 * list (a record from a newer writer, or a corrupt one: data the caller
 * routes, e.g. to its DLQ as "unknown_enum"). Pure; any thread. */
int gl_message_check_enums(const ProtobufCMessage *msg, char *detail, size_t detail_len);

/* Packs any message into a new buffer *out, which the caller frees with
 * free(); returns its length (the answer, not an error code: it cannot
 * fail, and aborts if memory runs out). Pure; any thread. */
size_t gl_message_pack(const ProtobufCMessage *msg, uint8_t **out);

#endif
