/* greenlight-orderd: the order daemon. Thin: configuration, the store
 * glue and the rule table (order_table.c) on the engine (gl_engine.c).
 * Each input event is applied to its order; every applied event publishes
 * one OrderStatus; refused events go to the dead-letter topic. */
#include <stdlib.h>
#include <string.h>

#include "greenlight/gl_engine.h"
#include "../batchd/batch_repartition.h"
#include "greenlight/gl_json.h"
#include "order_deadlines.h"
#include "order_table.h"

typedef struct orderd_conf {
  char *policy_file;
} orderd_conf_t;

typedef struct orderd {
  orderd_conf_t conf;
  order_policy_t policy;
  gl_series_t *m_transitions[16]; /* By OrderState, created by the open hook. */
  gl_series_t *m_duplicates;
  gl_output_t *status, *repartition;
} orderd_t;

static const char *const orderd_outputs[] = {"status", "repartition", NULL};
/* greenlight-batchd.repartition: written here, read by batchd only. */
static const char *const orderd_internal_outputs[] = {"repartition", NULL};
static const char *const orderd_status_headers[] = {
    GL_HDR_CONTENT_TYPE, GL_CONTENT_TYPE, GL_HDR_MESSAGE_TYPE, "greenlight.v1.OrderStatus", NULL};

static gl_series_t *orderd_transitions_series(gl_metrics_t *m, orderd_t *d, int state);

/* Takes the outputs, and creates every series of a known label set at 0
 * (DLQ by reason, transitions by state, duplicates), so that rates and
 * alerts over them work from the start. */
static int orderd_open(void *opaque, gl_engine_t *e, char *errstr, size_t errlen) {
  (void)errstr;
  (void)errlen;
  orderd_t *d = opaque;
  d->status = gl_engine_output(e, "status");
  d->repartition = gl_engine_output(e, "repartition");
  gl_metrics_t *m = gl_engine_metrics(e);
  gl_engine_dlq_reasons(e, gl_envelope_reasons);
  gl_engine_dlq_reasons(e, order_refusal_reasons);
  const ProtobufCEnumDescriptor *states = &greenlight__v1__order_state__descriptor;
  for (unsigned i = 0; i < states->n_values; i++)
    if (states->values[i].value != 0) orderd_transitions_series(m, d, states->values[i].value);
  d->m_duplicates = gl_metrics_counter(m, "greenlight_duplicate_events_total",
                                       "Input events ignored as a repeated event_id.", NULL);
  return GL_OK;
}

static const gl_conf_prop_t orderd_props[] = {
    {"policy.file", GL_CONF_STR, "", 0, 0, NULL, offsetof(orderd_conf_t, policy_file),
     "Policy file (barred end uses, unit bounds, domestic floor, TTLs); empty = built-in defaults."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

static void *orderd_decode(void *opaque, const void *buf, size_t len, char *errstr, size_t errlen) {
  (void)opaque;
  return order_decode(buf, len, errstr, errlen);
}
static size_t orderd_encode(void *opaque, const void *obj, uint8_t **out) {
  (void)opaque;
  return order_encode(obj, out);
}
static void orderd_free(void *opaque, void *obj) {
  (void)opaque;
  order_free(obj);
}

/* An order's index number is its next deadline, which the deadline index
 * is rebuilt from after a restore without decoding the orders. */
static int64_t orderd_index(void *opaque, const void *obj) {
  return order_next_deadline(&((orderd_t *)opaque)->policy, obj);
}

/* What order_next_deadline reads besides the order: the policy's TTLs, and
 * the formula itself (ORDERD_DEADLINE_REVISION: bump it when the formula
 * changes). A deadline written under other ones is computed again. */
enum { ORDERD_DEADLINE_REVISION = 1 };
static uint64_t orderd_index_version(void *opaque) {
  const order_policy_t *pol = &((orderd_t *)opaque)->policy;
  uint64_t parts[] = {ORDERD_DEADLINE_REVISION, (uint64_t)pol->park_ttl_ms,
                      (uint64_t)pol->closed_retention_ms};
  uint64_t h = 1469598103934665603ULL; /* FNV-1a over the parts' bytes. */
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    for (int b = 0; b < 8; b++) {
      h ^= (parts[i] >> (8 * b)) & 0xff;
      h *= 1099511628211ULL;
    }
  return h;
}

static const gl_store_ops_t orderd_store = {"orders", orderd_decode, orderd_encode, orderd_free,
                                            orderd_index, orderd_index_version};

/* Per partition group: the deadline index. */
typedef struct orderd_task {
  order_deadlines_t deadlines;
} orderd_task_t;

static void *orderd_task_open(void *opaque, int32_t partition) {
  (void)opaque;
  (void)partition;
  orderd_task_t *t = calloc(1, sizeof(*t));
  if (!t) abort();
  order_deadlines_init(&t->deadlines);
  return t;
}

static void orderd_task_close(void *opaque, void *task) {
  (void)opaque;
  if (!task) return;
  order_deadlines_free(&((orderd_task_t *)task)->deadlines);
  free(task);
}

/* The store's key is the order id. */
static void orderd_reindex_one(void *arg, const void *key, size_t klen, int64_t deadline) {
  order_deadlines_push_n(arg, deadline, key, klen);
}

/* After a restore the index is rebuilt from the store's index numbers (the
 * orders' deadlines): no order is decoded unless its changelog record
 * came without its deadline. */
static void orderd_restored(gl_ctx_t *ctx, void *opaque) {
  (void)opaque;
  orderd_task_t *t = gl_ctx_task_data(ctx);
  order_deadlines_clear(&t->deadlines);
  gl_store_foreach_index(gl_ctx_store(ctx), orderd_reindex_one, &t->deadlines);
}

/* Writes a status to the repartition topic under key (batch daemon input). */
static void orderd_repartition(gl_ctx_t *ctx, orderd_t *d, const char *key,
                               const order_status_rec_t *st) {
  if (key)
    gl_ctx_emit(ctx, d->repartition, st->timestamp_ms, key, strlen(key), st->buf, st->len,
                orderd_status_headers);
}

/* The transitions counter of a state. */
static gl_series_t *orderd_transitions_series(gl_metrics_t *m, orderd_t *d, int state) {
  int i = state >= 0 && state < 16 ? state : 0;
  if (!d->m_transitions[i]) {
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(&greenlight__v1__order_state__descriptor, state);
    char labels[96];
    snprintf(labels, sizeof(labels), "state=\"%s\"", ev ? ev->name : "unknown");
    d->m_transitions[i] = gl_metrics_counter(m, "greenlight_order_transitions_total",
                                             "Order status records published, by resulting state.",
                                             labels);
  }
  return d->m_transitions[i];
}

/* Publishes what one call of the table produced: each status record, stamped
 * with the event time of its cause, to the status topic and, under its batch key, to the repartition topic (twice
 * when the key changed, so the old batch learns the order left it). */
static void orderd_emit(gl_ctx_t *ctx, orderd_t *d, const order_t *o, const char *key_before,
                        order_out_t *out) {
  const char *id = order_id(o);
  const char *prev = key_before ? key_before : "";
  for (size_t i = 0; i < out->nstatus; i++) {
    order_status_rec_t *st = &out->status[i];
    gl_ctx_emit(ctx, d->status, st->timestamp_ms, id, strlen(id), st->buf, st->len,
                orderd_status_headers);
    if (st->batch_key[0]) orderd_repartition(ctx, d, st->batch_key, st);
    if (prev[0] && strcmp(prev, st->batch_key) != 0) orderd_repartition(ctx, d, prev, st);
    prev = st->batch_key;
    gl_series_add(orderd_transitions_series(gl_ctx_metrics(ctx), d, st->state), 1);
  }
  for (size_t i = 0; i < out->nrefusal; i++) {
    order_refusal_t *r = &out->refusal[i];
    if (!r->raw)
      gl_ctx_dlq(ctx, r->reason, r->detail);
    else
      gl_ctx_dlq_raw(ctx, r->reason, r->detail, id, strlen(id), r->raw, r->raw_len, r->topic,
                     r->partition, r->offset);
  }
  if (out->duplicates) gl_series_add(d->m_duplicates, out->duplicates);
}

/* Runs fn (order_apply or order_advance) on the order under id and keeps
 * the store and the deadline index in step with what it did. */
static void orderd_step(gl_ctx_t *ctx, orderd_t *d, const char *id, const order_event_t *ev,
                        bool advance) {
  gl_store_t *s = gl_ctx_store(ctx);
  orderd_task_t *t = gl_ctx_task_data(ctx);
  size_t idlen = strlen(id);
  int64_t now = gl_ctx_stream_time(ctx);
  order_t *o = gl_store_get_mut(s, id, idlen);
  bool fresh = o == NULL;
  if (fresh && advance) return;
  if (fresh) o = order_new(id);
  int64_t deadline_before = fresh ? INT64_MAX : order_next_deadline(&d->policy, o);
  const char *kb = fresh ? NULL : gl_order_batch_key(order_state(o), order_batch_id(o));
  char key_before[GL_ID_MAX + 1];
  if (kb) snprintf(key_before, sizeof(key_before), "%s", kb);
  order_out_t out;
  order_out_init(&out);
  if (advance)
    order_advance(&d->policy, o, now, ev, &out);
  else
    order_apply(&d->policy, o, ev, now, &out);
  orderd_emit(ctx, d, o, kb ? key_before : NULL, &out);
  if (out.remove) {
    fresh ? order_free(o) : gl_store_delete(s, id, idlen);
  } else {
    int64_t deadline = order_next_deadline(&d->policy, o);
    if (fresh && !out.changed) {
      order_free(o);
    } else {
      if (fresh) gl_store_put(s, id, idlen, o);
      else if (out.changed) gl_store_touch(s, id, idlen);
      if (deadline != deadline_before) order_deadlines_push(&t->deadlines, deadline, id);
    }
  }
  order_out_release(&out);
}

/* Event time moved: every order whose deadline passed acts on it, earliest
 * first, with the current record as the cause. */
static void orderd_fire_deadlines(gl_ctx_t *ctx, orderd_t *d, const order_event_t *cause) {
  orderd_task_t *t = gl_ctx_task_data(ctx);
  int64_t now = gl_ctx_stream_time(ctx);
  order_deadline_t due;
  while (order_deadlines_pop_due(&t->deadlines, now, &due)) {
    order_t *o = gl_store_get(gl_ctx_store(ctx), due.id, strlen(due.id));
    if (o && order_next_deadline(&d->policy, o) <= now) orderd_step(ctx, d, due.id, cause, true);
    free(due.id);
  }
}

static void orderd_process(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  orderd_t *d = opaque;
  const gl_envelope_t *env = rec->decoded;
  order_event_t ev = {.env = env, .raw = rec->value, .raw_len = rec->value_len,
                      .topic = rec->topic, .partition = rec->partition, .offset = rec->offset};
  /* Time moves first (SPEC §5): deadlines up to this record's event time fire. */
  orderd_fire_deadlines(ctx, d, &ev);
  if (env->payload_case != GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK)
    orderd_step(ctx, d, gl_envelope_order_id(env), &ev, false);
}

/* GET /orders/{id}: the order's current status as JSON, answered by the
 * instance that owns the order's partition; any other instance says so. */
static void orderd_http(gl_engine_t *e, const char *path, gl_http_response_t *r, void *opaque) {
  (void)opaque;
  const char *prefix = "/orders/";
  if (strncmp(path, prefix, strlen(prefix)) != 0) return;
  /* A query string is ignored and %-escapes decoded, as clients send them. */
  char id[GL_ID_MAX + 1];
  if (gl_http_path_key(path + strlen(prefix), id, sizeof id) != 0) {
    gl_http_reply_json(r, 404, json_pack("{s:s}", "error",
                                         "no such order: expected GET /orders/{order_id} "
                                         "(1..128 bytes, %-escapes decoded)"));
    return;
  }
  int32_t p = gl_engine_key_partition(e, id, strlen(id));
  gl_ownership_t own = gl_engine_ownership(e, p);
  /* Committed state only: what the open transaction changed is not
   * published yet, and an abort would take it back. */
  void *copy = NULL;
  const order_t *o =
      own == GL_OWNED ? gl_store_get_committed(gl_engine_store(e, p), id, strlen(id), &copy) : NULL;
  if (o && order_state(o) != GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_UNSPECIFIED) {
    uint8_t *buf = NULL;
    size_t len = order_status_pack(o, &buf);
    order_free(copy);
    Greenlight__V1__OrderStatus *st = greenlight__v1__order_status__unpack(NULL, len, buf);
    free(buf);
    json_t *j = st ? gl_json_from_message(&st->base, GL_JSON_EMIT_DEFAULTS) : NULL;
    if (st) greenlight__v1__order_status__free_unpacked(st, NULL);
    gl_http_reply_json(r, 200, j);
    return;
  }
  order_free(copy);
  static const char *const why[] = {
      "not owned here: the order's partition belongs to another instance of the group",
      "partition still restoring its state; retry shortly", "no such order"};
  json_t *j = json_pack("{s:s, s:s, s:i, s:b}", "error", why[own], "order_id", id, "partition",
                        (int)p, "owned_here", own != GL_NOT_OWNED);
  if (own == GL_NOT_OWNED) gl_engine_owner_to_json(e, p, path, j);
  gl_http_reply_json(r, own == GL_NOT_OWNED ? 421 : own == GL_RESTORING ? 503 : 404, j);
}

static int orderd_on_config(void *conf, gl_processor_t *proc, char *errstr, size_t errlen) {
  orderd_t *d = proc->opaque;
  (void)conf;
  order_policy_default(&d->policy);
  if (!d->conf.policy_file || !*d->conf.policy_file) return 0;
  char why[768];
  if (order_policy_load(&d->policy, d->conf.policy_file, why, sizeof why) == 0) return 0;
  snprintf(errstr, errlen, "config: policy.file = '%s': %s", d->conf.policy_file, why);
  return -1;
}

int main(int argc, char **argv) {
  orderd_t d;
  memset(&d, 0, sizeof(d));
  gl_processor_t proc = {.name = "orderd",
                         .summary = "the order daemon: applies order events to each order and publishes its status",
                         .outputs = orderd_outputs,
                         .internal_outputs = orderd_internal_outputs,
                         .decode = gl_envelope_decode_hook,
                         .decoded_free = gl_envelope_free_hook,
                         .open = orderd_open,
                         .store = &orderd_store,
                         .opaque = &d,
                         .process = orderd_process,
                         .restored = orderd_restored,
                         .task_open = orderd_task_open,
                         .task_close = orderd_task_close,
                         .http = orderd_http};
  static const char *const defaults[] = {
      "app.id", "greenlight-orderd",
      "input.topics", "greenlight.orders,greenlight.approvals,greenlight.batches,greenlight.shipments,greenlight.clock",
      "output.topics", "greenlight.order-status,greenlight-batchd.repartition",
      "http.port", "8081",
      NULL};
  return gl_engine_main(argc, argv, &proc, defaults, orderd_props, &d.conf, orderd_on_config);
}
