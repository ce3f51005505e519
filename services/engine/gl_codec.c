/* gl_codec: envelope decoding and validation. See include/greenlight/gl_codec.h. */
#include "greenlight/gl_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gl_message_check_enums(const ProtobufCMessage *msg, char *detail, size_t detail_len) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)msg;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t qcase = *(const uint32_t *)(base + f->quantifier_offset);
      if (qcase != f->id) continue;
    }
    size_t n = 1;
    const char *vals = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)(base + f->quantifier_offset);
      vals = *(const char *const *)(base + f->offset);
    }
    for (size_t k = 0; k < n; k++) {
      if (f->type == PROTOBUF_C_TYPE_ENUM) {
        int v = ((const int *)vals)[k];
        if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
          snprintf(detail, detail_len, "%s.%s: unknown enum value %d", d->short_name, f->name, v);
          return -1;
        }
      } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)vals)[k];
        if (sub && gl_message_check_enums(sub, detail, detail_len) < 0) return -1;
      }
    }
  }
  return 0;
}

const char *gl_order_batch_key(int state, const char *batch_id) {
  if (batch_id && *batch_id) return batch_id;
  if (state == GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_ACCEPTED) return GL_BATCH_KEY_WAITING;
  return NULL;
}

size_t gl_message_pack(const ProtobufCMessage *msg, uint8_t **out) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  *out = malloc(n ? n : 1);
  if (!*out) abort();
  return protobuf_c_message_pack(msg, *out);
}

const char *gl_envelope_type(const gl_envelope_t *env) {
  switch (env->payload_case) {
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED: return "OrderPlaced";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: return "OrderCancelled";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED: return "ApprovalGranted";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED: return "ApprovalDenied";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED: return "BatchQueued";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED: return "ShipmentCleared";
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK: return "Tick";
    default: return "";
  }
}

const char *gl_envelope_order_id(const gl_envelope_t *env) {
  switch (env->payload_case) {
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_PLACED: return env->order_placed->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: return env->order_cancelled->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_GRANTED: return env->approval_granted->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_APPROVAL_DENIED: return env->approval_denied->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_BATCH_QUEUED: return env->batch_queued->order_id;
    case GREENLIGHT__V1__ENVELOPE__PAYLOAD_SHIPMENT_CLEARED: return env->shipment_cleared->order_id;
    default: return NULL;
  }
}

static int gl_id_ok(const char *id) {
  size_t n = id ? strlen(id) : 0;
  return n > 0 && n <= GL_ID_MAX;
}

gl_envelope_t *gl_envelope_decode(const void *buf, size_t len, const char **reason, char *detail,
                                  size_t detail_len) {
  gl_envelope_t *env = NULL;
  if (!buf || len == 0) {
    *reason = "decode_error";
    snprintf(detail, detail_len, "empty record value");
    return NULL;
  }
  env = greenlight__v1__envelope__unpack(NULL, len, buf);
  if (!env) {
    *reason = "decode_error";
    snprintf(detail, detail_len, "not a greenlight.v1.Envelope (%zu bytes)", len);
    return NULL;
  }
  if (env->payload_case == GREENLIGHT__V1__ENVELOPE__PAYLOAD__NOT_SET) {
    *reason = "unknown_payload";
    snprintf(detail, detail_len, "envelope %s has no payload known to greenlight.v1 (%u unknown fields)",
             env->event_id, (unsigned)env->base.n_unknown_fields);
    goto fail;
  }
  if (gl_message_check_enums(&env->base, detail, detail_len) < 0) {
    *reason = "unknown_enum";
    goto fail;
  }
  *reason = "invalid";
  if (!gl_id_ok(env->event_id)) {
    snprintf(detail, detail_len, "event_id must be 1..%d bytes", GL_ID_MAX);
    goto fail;
  }
  if (env->occurred_at_ms <= 0) {
    snprintf(detail, detail_len, "occurred_at_ms must be > 0, got %lld",
             (long long)env->occurred_at_ms);
    goto fail;
  }
  if (env->payload_case != GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK &&
      !gl_id_ok(gl_envelope_order_id(env))) {
    snprintf(detail, detail_len, "%s.order_id must be 1..%d bytes", gl_envelope_type(env), GL_ID_MAX);
    goto fail;
  }
  *reason = NULL;
  return env;
fail:
  greenlight__v1__envelope__free_unpacked(env, NULL);
  return NULL;
}

void gl_envelope_free(gl_envelope_t *env) {
  if (env) greenlight__v1__envelope__free_unpacked(env, NULL);
}
