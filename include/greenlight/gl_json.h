/* gl_json: protobuf <-> JSON, driven by protobuf-c descriptors (reflection),
 * so one converter serves every message of the wire contract.
 *
 * Mapping (proto3 JSON, field names as in the .proto, snake_case):
 *   - int64/uint64 are written as JSON numbers (values here stay below 2^53)
 *     and read from numbers or decimal strings;
 *   - enums are written by name ("ORDER_STATE_APPROVED") and read from the
 *     full name, the name without its type prefix ("APPROVED") or a number;
 *   - bytes as base64; a oneof as the one member that is set;
 *   - proto3 zero values are omitted on output unless GL_JSON_EMIT_DEFAULTS.
 *
 * Thread locality: pure (no global state, no I/O); any thread, on messages
 * and JSON values no other thread changes meanwhile.
 *
 * Ownership: arguments are read during the call only and never kept; each
 * result is new and the caller's to free, as each function says. No
 * function here returns an error code: a result or NULL, with errstr where
 * a human needs the detail. */
#ifndef GREENLIGHT_GL_JSON_H
#define GREENLIGHT_GL_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#define GL_JSON_EMIT_DEFAULTS 0x1

/* Returns a new JSON object for msg (the caller owns the reference and
 * drops it with json_decref()), or NULL if msg is NULL or memory runs out. */
json_t *gl_json_from_message(const ProtobufCMessage *msg, int flags);

/* Builds a message of type desc from a JSON object. Unknown keys are an
 * error (a typo must not be silently dropped). Returns NULL and writes errstr
 * ("field 'units': expected an integer") on failure. The result is the
 * caller's, freed with protobuf_c_message_free_unpacked(msg, NULL); it
 * copies every string and byte string out of obj. */
ProtobufCMessage *gl_json_to_message(const ProtobufCMessageDescriptor *desc, const json_t *obj,
                                     char *errstr, size_t errlen);

/* Finds a message descriptor of the wire contract by its full name, e.g.
 * "greenlight.v1.OrderStatus". NULL if unknown. The descriptor is static
 * (protoc-c's), never freed. */
const ProtobufCMessageDescriptor *gl_json_descriptor(const char *full_name);

#endif
