/* greenlight-batchd: the batch daemon. Thin: the view rules (batch_view.c)
 * and their store layout (batch_store.c) on the engine (gl_engine.c).
 *
 * It reads the order statuses that the order daemon re-keys by batch onto
 * the repartition topic (greenlight-batchd.repartition), keeps each batch's
 * counters and each of its members in the "batches" store (changelog
 * greenlight-batchd.batches.changelog) and publishes a BatchStatus, keyed
 * by batch_id, to greenlight.batch-status every time a batch's view
 * changes, in the same transaction as the changelog and the input offsets. Records
 * it cannot read go to the dead-letter topic:
 *   decode_error  the value is not a protobuf OrderStatus
 *   unknown_enum  an enum field holds a value this build does not know
 *   invalid       no usable key (1..GL_ID_MAX bytes, no NUL), or a field
 *                 out of range (batch_status_check)
 * Batches whose approved units exceed their cap are logged (warn,
 * event "batch_over_cap") and counted in the gauge greenlight_batches_over_cap. */
#include <stdlib.h>
#include <string.h>

#include "batch_store.h"
#include "greenlight/gl_engine.h"
#include "greenlight/gl_json.h"

static const char *const batchd_status_headers[] = {
    GL_HDR_CONTENT_TYPE, GL_CONTENT_TYPE, GL_HDR_MESSAGE_TYPE, "greenlight.v1.BatchStatus", NULL};
static const char *const batchd_outputs[] = {"status", NULL};

/* The daemon: its one output. */
typedef struct batchd {
  gl_output_t *status;
} batchd_t;

/* Why a repartition record is refused: each is a DLQ reason and a label of
 * greenlight_batchd_refused_total. */
static const char *const batchd_refusal_reasons[] = {"invalid", "decode_error", "unknown_enum",
                                                     NULL};
static const char *const batchd_refused_name = "greenlight_batchd_refused_total";
static const char *const batchd_refused_help =
    "Repartition records sent to the dead-letter topic, by reason.";
static const char *const batchd_published_name = "greenlight_batch_status_published_total";
static const char *const batchd_published_help =
    "BatchStatus records published (one per change of a batch view).";
static const char *const batchd_ignored_name = "greenlight_batch_statuses_ignored_total";
static const char *const batchd_ignored_help =
    "Order statuses that changed no batch (not newer than the member, or the departure of an "
    "order that was not a member).";

static gl_series_t *batchd_gauge(gl_metrics_t *m);
static gl_series_t *batchd_counter(gl_metrics_t *m, const char *name, const char *help,
                                   const char *reason);

/* Takes the output, and creates every series of a known label set at 0, so
 * that rates and alerts over them work from the start. */
static int batchd_open(void *opaque, gl_engine_t *e, char *errstr, size_t errlen) {
  (void)errstr;
  (void)errlen;
  ((batchd_t *)opaque)->status = gl_engine_output(e, "status");
  gl_metrics_t *m = gl_engine_metrics(e);
  gl_engine_dlq_reasons(e, batchd_refusal_reasons);
  for (const char *const *r = batchd_refusal_reasons; *r; r++)
    batchd_counter(m, batchd_refused_name, batchd_refused_help, *r);
  batchd_counter(m, batchd_published_name, batchd_published_help, NULL);
  batchd_counter(m, batchd_ignored_name, batchd_ignored_help, NULL);
  batchd_gauge(m);
  return GL_OK;
}

/* Per partition group: its share of the over-cap gauge, so that a revoked
 * or restored partition takes back exactly what it added. */
typedef struct batchd_task {
  int64_t over_cap;   /* Batches of this partition over their cap. */
  gl_series_t *gauge; /* greenlight_batches_over_cap; set once a ctx was seen. */
} batchd_task_t;

static gl_series_t *batchd_gauge(gl_metrics_t *m) {
  return gl_metrics_gauge(m, "greenlight_batches_over_cap",
                          "Batches owned here whose approved units exceed their unit cap.", NULL);
}

static void *batchd_task_open(void *opaque, int32_t partition) {
  (void)opaque;
  (void)partition;
  batchd_task_t *t = calloc(1, sizeof(*t));
  if (!t) abort();
  return t;
}

static void batchd_task_close(void *opaque, void *task) {
  (void)opaque;
  batchd_task_t *t = task;
  if (!t) return;
  gl_series_add(t->gauge, (double)-t->over_cap);
  free(t);
}

/* Moves this task's share of the gauge by delta. */
static void batchd_over_cap_add(gl_ctx_t *ctx, int64_t delta) {
  batchd_task_t *t = gl_ctx_task_data(ctx);
  if (!t->gauge) t->gauge = batchd_gauge(gl_ctx_metrics(ctx));
  t->over_cap += delta;
  gl_series_add(t->gauge, (double)delta);
}

static void batchd_log_over_cap(const gl_log_t *log, const batch_view_t *v, const char *key,
                                const char *when) {
  gl_log_kv(log, GL_LOG_WARN, "batch_over_cap",
            GL_LOG_FIELDS(GL_LOG_STR("batch_id", key), GL_LOG_INT("units_approved", v->units_approved),
                          GL_LOG_INT("unit_cap", v->unit_cap), GL_LOG_INT("version", v->version)),
          "batch %s (seq %d) is over its cap%s: %lld units approved > cap %lld "
          "(%lld approved + %lld cleared orders, version %lld)",
          key, (int)v->batch_seq, when, (long long)v->units_approved, (long long)v->unit_cap,
          (long long)v->orders_approved, (long long)v->orders_cleared, (long long)v->version);
}

typedef struct batchd_recount {
  const gl_log_t *log;
  int64_t n;
} batchd_recount_t;

static void batchd_recount_one(void *arg, const void *key, size_t klen, void *obj) {
  batchd_recount_t *rc = arg;
  (void)key;
  (void)klen;
  if (batch_entry_kind(obj) != BATCH_KIND_BATCH) return;
  const batch_view_t *v = batch_view(obj);
  if (!v->over_cap) return;
  rc->n++;
  batchd_log_over_cap(rc->log, v, batch_key(obj), " (restored)");
}

/* After a restore (assignment, or rewind after an abort) the task's share
 * of the gauge is counted again from the store. */
static void batchd_restored(gl_ctx_t *ctx, void *opaque) {
  (void)opaque;
  batchd_task_t *t = gl_ctx_task_data(ctx);
  batchd_recount_t rc = {gl_ctx_log(ctx), 0};
  gl_store_foreach(gl_ctx_store(ctx), batchd_recount_one, &rc);
  batchd_over_cap_add(ctx, rc.n - t->over_cap);
}

/* A counter of records refused (by reason), published or ignored. */
static gl_series_t *batchd_counter(gl_metrics_t *m, const char *name, const char *help,
                                   const char *reason) {
  char labels[64] = "";
  if (reason) gl_metrics_labels(labels, sizeof labels, "reason", reason, NULL);
  return gl_metrics_counter(m, name, help, reason ? labels : NULL);
}

static void batchd_count(gl_ctx_t *ctx, const char *name, const char *help, const char *reason) {
  gl_series_add(batchd_counter(gl_ctx_metrics(ctx), name, help, reason), 1);
}

/* Publishes b's view (just changed) and follows its over-cap flag. */
static void batchd_publish(gl_ctx_t *ctx, batchd_t *d, const batch_t *b, bool was_over) {
  const char *key = batch_key(b);
  const batch_view_t *v = batch_view(b);
  uint8_t *buf = NULL;
  size_t len = batch_status_pack(b, &buf);
  /* Stamped with the event time of the change's cause, like the order
   * status it follows. */
  gl_ctx_emit(ctx, d->status, v->updated_at_ms, key, strlen(key), buf, len, batchd_status_headers);
  free(buf);
  batchd_count(ctx, batchd_published_name, batchd_published_help, NULL);
  if (v->over_cap) batchd_log_over_cap(gl_ctx_log(ctx), v, key, "");
  if (v->over_cap && !was_over) batchd_over_cap_add(ctx, 1);
  if (!v->over_cap && was_over) {
    batchd_over_cap_add(ctx, -1);
    gl_info(gl_ctx_log(ctx), "batch_under_cap",
            "batch %s is back within its cap: %lld units approved <= cap %lld (version %lld)", key,
            (long long)v->units_approved, (long long)v->unit_cap, (long long)v->version);
  }
}

static void batchd_process(gl_ctx_t *ctx, const gl_record_t *rec, void *opaque) {
  batchd_t *d = opaque;
  char detail[512];
  char key[GL_ID_MAX + 1];
  if (!rec->key || rec->key_len == 0 || rec->key_len > GL_ID_MAX ||
      memchr(rec->key, 0, rec->key_len)) {
    snprintf(detail, sizeof detail,
             "repartition record without a usable batch key (%zu bytes; expected 1..%d, no NUL)",
             rec->key ? rec->key_len : 0, GL_ID_MAX);
    gl_ctx_dlq(ctx, "invalid", detail);
    batchd_count(ctx, batchd_refused_name, batchd_refused_help, "invalid");
    return;
  }
  memcpy(key, rec->key, rec->key_len);
  key[rec->key_len] = '\0';
  Greenlight__V1__OrderStatus *st =
      greenlight__v1__order_status__unpack(NULL, rec->value_len, rec->value);
  const char *reason = NULL;
  if (!st) {
    snprintf(detail, sizeof detail, "not a valid greenlight.v1.OrderStatus (%zu bytes)",
             rec->value_len);
    reason = "decode_error";
  } else if (gl_message_check_enums(&st->base, detail, sizeof detail) != 0) {
    reason = "unknown_enum";
  } else if (batch_status_check(st, detail, sizeof detail) != 0) {
    reason = "invalid";
  }
  if (reason) {
    gl_ctx_dlq(ctx, reason, detail);
    batchd_count(ctx, batchd_refused_name, batchd_refused_help, reason);
    if (st) greenlight__v1__order_status__free_unpacked(st, NULL);
    return;
  }
  const batch_t *b = NULL;
  bool was_over = false;
  batch_result_t r = batch_store_apply(gl_ctx_store(ctx), key, st, &b, &was_over);
  greenlight__v1__order_status__free_unpacked(st, NULL);
  if (r == BATCH_IGNORED)
    batchd_count(ctx, batchd_ignored_name, batchd_ignored_help, NULL);
  else if (r == BATCH_PUBLISH)
    batchd_publish(ctx, d, b, was_over);
}


/* Fills r with a JSON error body. */
static void batchd_http_error(gl_engine_t *e, const char *path, gl_http_response_t *r, int status,
                              const char *error, const char *id, int32_t partition,
                              bool owned_here) {
  json_t *j = json_pack("{s:s, s:s, s:i, s:b}", "error", error, "batch_id", id, "partition",
                        (int)partition, "owned_here", owned_here);
  if (!owned_here) gl_engine_owner_to_json(e, partition, path, j);
  gl_http_reply_json(r, status, j);
}

/* GET /batches/{id}: the batch's current BatchStatus as JSON (every field,
 * zeros included); GET /batches/~waiting: the waiting view. Answered by the
 * instance that owns the key's partition of the repartition topic; another
 * instance answers 421, a partition still restoring 503, an unknown batch
 * 404. */
static void batchd_http(gl_engine_t *e, const char *path, gl_http_response_t *r, void *opaque) {
  (void)opaque;
  const char *prefix = "/batches/";
  if (strncmp(path, prefix, strlen(prefix)) != 0) return;
  char id[GL_ID_MAX + 1];
  if (gl_http_path_key(path + strlen(prefix), id, sizeof id) != 0) {
    batchd_http_error(e, path, r, 404,
                      "no such batch: expected GET /batches/{batch_id} (1..128 bytes) or "
                      "GET /batches/~waiting",
                      "", -1, false);
    return;
  }
  int32_t p = gl_engine_key_partition(e, id, strlen(id));
  gl_ownership_t own = gl_engine_ownership(e, p);
  void *copy = NULL;
  const batch_t *b =
      own == GL_OWNED ? batch_store_batch_committed(gl_engine_store(e, p), id, &copy) : NULL;
  if (b && batch_view(b)->version > 0) {
    uint8_t *buf = NULL;
    size_t len = batch_status_pack(b, &buf);
    Greenlight__V1__BatchStatus *st = greenlight__v1__batch_status__unpack(NULL, len, buf);
    free(buf);
    json_t *j = st ? gl_json_from_message(&st->base, GL_JSON_EMIT_DEFAULTS) : NULL;
    if (st) greenlight__v1__batch_status__free_unpacked(st, NULL);
    gl_http_reply_json(r, 200, j);
    if (copy) batch_store_ops.free(NULL, copy);
    return;
  }
  if (copy) batch_store_ops.free(NULL, copy);
  if (own == GL_NOT_OWNED)
    batchd_http_error(e, path, r, 421,
                      "not owned here: the batch's partition of the repartition topic belongs "
                      "to another instance of the group",
                      id, p, false);
  else if (own == GL_RESTORING)
    batchd_http_error(e, path, r, 503, "partition still restoring its state; retry shortly", id, p,
                      true);
  else
    batchd_http_error(e, path, r, 404,
                      "no such batch on this instance: no order status has named it yet", id, p,
                      true);
}

int main(int argc, char **argv) {
  batchd_t d = {0};
  gl_processor_t proc = {.name = "batchd",
                         .summary = "the batch daemon: keeps each batch's view of its orders and publishes it",
                         .outputs = batchd_outputs,
                         .store = &batch_store_ops,
                         .opaque = &d,
                         .open = batchd_open,
                         .process = batchd_process,
                         .restored = batchd_restored,
                         .task_open = batchd_task_open,
                         .task_close = batchd_task_close,
                         .http = batchd_http};
  static const char *const defaults[] = {"app.id", "greenlight-batchd",
                                         "input.topics", "greenlight-batchd.repartition",
                                         "output.topics", "greenlight.batch-status",
                                         "http.port", "8082",
                                         NULL};
  return gl_engine_main(argc, argv, &proc, defaults, NULL, NULL, NULL);
}
