/* batch_store: the batch daemon's store layout; see batch_store.h. */
#include "batch_store.h"

#include <stdlib.h>
#include <string.h>

static void *batch_store_decode(void *opaque, const void *buf, size_t len, char *errstr,
                                size_t errlen) {
  (void)opaque;
  return batch_entry_decode(buf, len, errstr, errlen);
}

static size_t batch_store_encode(void *opaque, const void *obj, uint8_t **out) {
  (void)opaque;
  return batch_entry_encode(obj, out);
}

static void batch_store_free(void *opaque, void *obj) {
  (void)opaque;
  batch_entry_free(obj);
}

/* No index numbers (ops->index NULL): batchd keeps no index of its own. Its
 * restored hook (the over-cap gauge, and a log line per over-cap batch)
 * decodes every value through gl_store_foreach. */
const gl_store_ops_t batch_store_ops = {"batches", batch_store_decode, batch_store_encode,
                                        batch_store_free, NULL, NULL};

size_t batch_member_key(char out[BATCH_MEMBER_KEY_MAX], const char *key, const char *order_id) {
  size_t nk = strnlen(key, GL_ID_MAX), no = strnlen(order_id, GL_ID_MAX);
  memcpy(out, key, nk);
  out[nk] = '\0';
  memcpy(out + nk + 1, order_id, no);
  return nk + 1 + no;
}

/* The value under key if it is of this kind, else NULL; for changing in
 * place (the store keeps the committed value for queries). */
static void *batch_store_get(gl_store_t *s, const char *key, size_t klen, batch_kind_t kind) {
  void *obj = gl_store_get_mut(s, key, klen);
  return obj && batch_entry_kind(obj) == kind ? obj : NULL;
}

const batch_t *batch_store_batch(gl_store_t *s, const char *key) {
  const void *obj = gl_store_get(s, key, strlen(key));
  return obj && batch_entry_kind(obj) == BATCH_KIND_BATCH ? obj : NULL;
}

const batch_t *batch_store_batch_committed(const gl_store_t *s, const char *key, void **copy) {
  const void *obj = gl_store_get_committed(s, key, strlen(key), copy);
  return obj && batch_entry_kind(obj) == BATCH_KIND_BATCH ? obj : NULL;
}

const batch_member_t *batch_store_member(gl_store_t *s, const char *key, const char *order_id) {
  char mkey[BATCH_MEMBER_KEY_MAX];
  size_t mlen = batch_member_key(mkey, key, order_id);
  const void *obj = gl_store_get(s, mkey, mlen);
  return obj && batch_entry_kind(obj) == BATCH_KIND_MEMBER ? obj : NULL;
}

batch_result_t batch_store_apply(gl_store_t *s, const char *key,
                                 const Greenlight__V1__OrderStatus *st, const batch_t **batch,
                                 bool *was_over) {
  size_t klen = strlen(key);
  char mkey[BATCH_MEMBER_KEY_MAX];
  size_t mlen = batch_member_key(mkey, key, st->order_id);
  batch_t *b = batch_store_get(s, key, klen, BATCH_KIND_BATCH);
  bool fresh = b == NULL;
  if (fresh) b = batch_new(key);
  batch_member_t *m = batch_store_get(s, mkey, mlen, BATCH_KIND_MEMBER);
  *was_over = batch_view(b)->over_cap;
  batch_step_t step = batch_apply(b, m, st);
  *batch = b;
  if (step.result == BATCH_IGNORED) {
    if (fresh) {
      batch_free(b);
      *batch = NULL;
    }
    return BATCH_IGNORED;
  }
  if (fresh)
    gl_store_put(s, key, klen, b);
  else
    gl_store_touch(s, key, klen);
  if (!step.member) {
    gl_store_delete(s, mkey, mlen);
  } else if (m) {
    *m = step.next;
    gl_store_touch(s, mkey, mlen);
  } else {
    m = malloc(sizeof *m);
    if (!m) abort();
    *m = step.next;
    gl_store_put(s, mkey, mlen, m);
  }
  return step.result;
}
