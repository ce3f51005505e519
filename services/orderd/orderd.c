/* greenlight-orderd: the order daemon. Thin: configuration, the store
 * glue and the rule table (order_table.c) on the engine (gl_engine.c).
 * Each input event is applied to its order; every applied event publishes
 * one OrderStatus; refused events go to the dead-letter topic. */
#include <stdlib.h>
#include <string.h>

#include "greenlight/gl_engine.h"
#include "greenlight/gl_json.h"
#include "order_table.h"

typedef struct orderd_conf {
  char *policy_file;
} orderd_conf_t;

typedef struct orderd {
  orderd_conf_t conf;
  order_policy_t policy;
} orderd_t;

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

static const gl_store_ops_t orderd_store = {"orders", orderd_decode, orderd_encode, orderd_free};

/* Publishes what one call of the table produced. */
static void orderd_emit(gl_ctx_t *ctx, const order_t *o, order_out_t *out) {
  gl_metrics_t *m = gl_ctx_metrics(ctx);
  const char *id = order_id(o);
  for (size_t i = 0; i < out->nstatus; i++) {
    gl_ctx_emit(ctx, 0, id, strlen(id), out->status[i].buf, out->status[i].len,
                "greenlight.v1.OrderStatus");
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&greenlight__v1__order_state__descriptor, out->status[i].state);
    char labels[96];
    snprintf(labels, sizeof(labels), "state=\"%s\"", v ? v->name : "unknown");
    gl_series_add(gl_metrics_counter(m, "greenlight_order_transitions_total",
                                     "Order status records published, by resulting state.", labels),
                  1);
  }
  for (size_t i = 0; i < out->nrefusal; i++) {
    order_refusal_t *r = &out->refusal[i];
    if (!r->raw)
      gl_ctx_dlq(ctx, r->reason, r->detail);
    else
      gl_ctx_dlq_raw(ctx, r->reason, r->detail, id, strlen(id), r->raw, r->raw_len, r->topic,
                     r->partition, r->offset);
  }
  if (out->duplicates)
    gl_series_add(gl_metrics_counter(m, "greenlight_duplicate_events_total",
                                     "Input events ignored as a repeated event_id.", NULL),
                  out->duplicates);
}

typedef struct orderd_tick {
  gl_ctx_t *ctx;
  orderd_t *d;
  const order_event_t *cause;
  int64_t now;
  /* Orders whose deadline passed; acted on after the scan (the store must
   * not change while it is walked). */
  order_t **due;
  size_t ndue, cap;
} orderd_tick_t;

static void orderd_tick_scan(void *arg, const void *key, size_t klen, void *obj) {
  orderd_tick_t *tk = arg;
  (void)key;
  (void)klen;
  if (order_next_deadline(&tk->d->policy, obj) > tk->now) return;
  if (tk->ndue == tk->cap) {
    tk->cap = tk->cap ? tk->cap * 2 : 16;
    tk->due = realloc(tk->due, tk->cap * sizeof(*tk->due));
    if (!tk->due) abort();
  }
  tk->due[tk->ndue++] = obj;
}

/* Event time moved: let every order whose deadline passed act on it. */
static void orderd_advance(gl_ctx_t *ctx, orderd_t *d, const order_event_t *cause) {
  gl_store_t *s = gl_ctx_store(ctx);
  orderd_tick_t tk = {.ctx = ctx, .d = d, .cause = cause, .now = gl_ctx_stream_time(ctx)};
  gl_store_foreach(s, orderd_tick_scan, &tk);
  for (size_t i = 0; i < tk.ndue; i++) {
    order_t *o = tk.due[i];
    order_out_t out = {0};
    order_advance(&d->policy, o, tk.now, cause, &out);
    orderd_emit(ctx, o, &out);
    char id[GL_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", order_id(o));
    if (out.remove)
      gl_store_delete(s, id, strlen(id));
    else if (out.changed)
      gl_store_touch(s, id, strlen(id));
    order_out_release(&out);
  }
  free(tk.due);
}

static void orderd_process(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  orderd_t *d = opaque;
  const gl_envelope_t *env = rec->env;
  order_event_t ev = {.env = env, .raw = rec->value, .raw_len = rec->value_len,
                      .topic = rec->topic, .partition = rec->partition, .offset = rec->offset};
  if (env->payload_case == GREENLIGHT__V1__ENVELOPE__PAYLOAD_TICK) {
    orderd_advance(ctx, d, &ev);
    return;
  }
  gl_store_t *s = gl_ctx_store(ctx);
  const char *id = gl_envelope_order_id(env);
  size_t idlen = strlen(id);
  order_t *o = gl_store_get(s, id, idlen);
  bool fresh = o == NULL;
  if (fresh) o = order_new(id);
  order_out_t out = {0};
  order_apply(&d->policy, o, &ev, gl_ctx_stream_time(ctx), &out);
  orderd_emit(ctx, o, &out);
  if (out.remove)
    fresh ? order_free(o) : gl_store_delete(s, id, idlen);
  else if (fresh)
    out.changed ? gl_store_put(s, id, idlen, o) : order_free(o);
  else if (out.changed)
    gl_store_touch(s, id, idlen);
  order_out_release(&out);
}

/* GET /orders/{id}: the order's current status as JSON, if this instance owns it. */
static void orderd_http(gl_engine_t *e, const char *path, gl_http_response_t *r, void *opaque) {
  (void)opaque;
  const char *prefix = "/orders/";
  if (strncmp(path, prefix, strlen(prefix)) != 0) return;
  const char *id = path + strlen(prefix);
  r->content_type = "application/json";
  for (int p = 0; p < gl_engine_input_partitions(e); p++) {
    gl_store_t *s = gl_engine_store(e, p);
    order_t *o = s ? gl_store_get(s, id, strlen(id)) : NULL;
    if (!o || order_state(o) == GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_UNSPECIFIED) continue;
    uint8_t *buf = NULL;
    size_t len = order_status_pack(o, &buf);
    Greenlight__V1__OrderStatus *st = greenlight__v1__order_status__unpack(NULL, len, buf);
    free(buf);
    json_t *j = st ? gl_json_from_message(&st->base, GL_JSON_EMIT_DEFAULTS) : NULL;
    if (st) greenlight__v1__order_status__free_unpacked(st, NULL);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    r->status = text ? 200 : 500;
    r->body = text ? text : strdup("{\"error\":\"encoding failed\"}");
    r->body_len = strlen(r->body);
    return;
  }
  r->status = 404;
  r->body_len = (size_t)asprintf(&r->body,
                                 "{\"error\":\"order not found on this instance (unknown, or its "
                                 "partition is owned by another instance)\",\"order_id\":\"%s\"}",
                                 id);
}

static int orderd_on_config(void *conf, gl_processor_t *proc, char *errstr, size_t errlen) {
  orderd_t *d = proc->opaque;
  (void)conf;
  order_policy_default(&d->policy);
  if (d->conf.policy_file && *d->conf.policy_file)
    return order_policy_load(&d->policy, d->conf.policy_file, errstr, errlen);
  return 0;
}

int main(int argc, char **argv) {
  orderd_t d;
  memset(&d, 0, sizeof(d));
  gl_processor_t proc = {.name = "orderd",
                         .decode_envelope = true,
                         .store = &orderd_store,
                         .opaque = &d,
                         .process = orderd_process,
                         .http = orderd_http};
  static const char *const defaults[] = {
      "app.id", "greenlight-orderd",
      "input.topics", "greenlight.orders,greenlight.approvals,greenlight.batches,greenlight.shipments,greenlight.clock",
      "output.topics", "greenlight.order-status",
      "http.port", "8081",
      NULL};
  return gl_engine_main(argc, argv, &proc, defaults, orderd_props, &d.conf, orderd_on_config);
}
