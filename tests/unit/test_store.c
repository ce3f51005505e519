/* Unit tests for gl_store: puts, deletes, dirty tracking, flush order and
 * committed reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_store.h"

static int frees;
static void *dec(void *o, const void *b, size_t n, char *e, size_t el) {
  (void)o; (void)e; (void)el;
  return strndup(b, n);
}
static size_t enc(void *o, const void *obj, uint8_t **out) {
  (void)o;
  *out = (uint8_t *)strdup(obj);
  return strlen(obj);
}
static void fr(void *o, void *obj) {
  (void)o;
  frees++;
  free(obj);
}
static const gl_store_ops_t ops = {"t", dec, enc, fr};

typedef struct seen {
  char log[4096];
} seen_t;

static void record(void *arg, const void *key, size_t klen, const void *obj) {
  seen_t *s = arg;
  size_t n = strlen(s->log);
  snprintf(s->log + n, sizeof(s->log) - n, "%.*s=%s;", (int)klen, (const char *)key,
           obj ? (const char *)obj : "<tombstone>");
}

static void test_put_get_replace(void **state) {
  (void)state;
  frees = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_put(s, "a", 1, strdup("1"));
  gl_store_put(s, "a", 1, strdup("2"));
  assert_int_equal(frees, 1);
  assert_string_equal(gl_store_get(s, "a", 1), "2");
  assert_null(gl_store_get(s, "b", 1));
  assert_int_equal(gl_store_count(s), 1);
  gl_store_destroy(s);
  assert_int_equal(frees, 2);
}

static void test_flush_is_ordered_and_deduplicated(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_put(s, "b", 1, strdup("x"));
  gl_store_put(s, "a", 1, strdup("y"));
  gl_store_put(s, "b", 1, strdup("z"));
  gl_store_delete(s, "a", 1);
  assert_int_equal(gl_store_dirty_count(s), 2);
  seen_t seen = {""};
  gl_store_flush(s, record, &seen);
  assert_string_equal(seen.log, "b=z;a=<tombstone>;");
  assert_int_equal(gl_store_dirty_count(s), 0);
  assert_int_equal(gl_store_count(s), 1);
  seen.log[0] = '\0';
  gl_store_flush(s, record, &seen);
  assert_string_equal(seen.log, "");
  gl_store_destroy(s);
}

static void test_restore_does_not_dirty(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_restore(s, "k", 1, strdup("v"));
  gl_store_restore(s, "gone", 4, strdup("v"));
  gl_store_restore(s, "gone", 4, NULL);
  assert_int_equal(gl_store_dirty_count(s), 0);
  assert_int_equal(gl_store_count(s), 1);
  assert_null(gl_store_get(s, "gone", 4));
  gl_store_touch(s, "k", 1);
  assert_int_equal(gl_store_dirty_count(s), 1);
  gl_store_destroy(s);
}

static void test_binary_keys_and_growth(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  char key[16];
  for (int i = 0; i < 5000; i++) {
    int n = snprintf(key, sizeof(key), "k%d", i);
    gl_store_put(s, key, (size_t)n, strdup(key));
  }
  /* A NUL inside a key (a leading one is the runtime's). */
  gl_store_put(s, "m\0eta", 5, strdup("m"));
  assert_int_equal(gl_store_count(s), 5001);
  assert_string_equal(gl_store_get(s, "k4999", 5), "k4999");
  assert_string_equal(gl_store_get(s, "m\0eta", 5), "m");
  assert_null(gl_store_get(s, "m\0et", 4));
  gl_store_clear(s);
  assert_int_equal(gl_store_count(s), 0);
  assert_int_equal(gl_store_dirty_count(s), 0);
  gl_store_destroy(s);
}

/* The committed value of key as a string ("-" when absent), freeing any copy. */
static char *committed(const gl_store_t *s, const char *key) {
  void *copy = NULL;
  const char *v = gl_store_get_committed(s, key, strlen(key), &copy);
  char *out = strdup(v ? v : "-");
  if (copy) fr(NULL, copy);
  return out;
}

#define assert_committed(s, key, want)         \
  do {                                         \
    char *got_ = committed((s), (key));        \
    assert_string_equal(got_, (want));         \
    free(got_);                                \
  } while (0)

/* Queries read what the last commit left, whatever the open transaction
 * did: a change in place, a replacement, a new key, a delete; a flush (the
 * commit started) changes nothing until gl_store_commit. */
static void test_committed_reads(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_restore(s, "a", 1, strdup("a0"));
  gl_store_restore(s, "b", 1, strdup("b0"));
  gl_store_restore(s, "d", 1, strdup("d0"));
  assert_committed(s, "a", "a0");
  char *a = gl_store_get_mut(s, "a", 1);
  a[1] = '1'; /* Changed in place. */
  gl_store_touch(s, "a", 1);
  gl_store_put(s, "b", 1, strdup("b1"));
  gl_store_put(s, "c", 1, strdup("c1"));
  gl_store_delete(s, "d", 1);
  assert_string_equal(gl_store_get(s, "a", 1), "a1");
  assert_committed(s, "a", "a0");
  assert_committed(s, "b", "b0");
  assert_committed(s, "c", "-");
  assert_committed(s, "d", "d0");
  a = gl_store_get_mut(s, "a", 1); /* A second write keeps the first snapshot. */
  a[1] = '2';
  gl_store_touch(s, "a", 1);
  assert_committed(s, "a", "a0");
  seen_t seen = {""};
  gl_store_flush(s, record, &seen);
  assert_string_equal(seen.log, "a=a2;b=b1;c=c1;d=<tombstone>;");
  assert_committed(s, "a", "a0");
  assert_committed(s, "d", "d0");
  gl_store_commit(s);
  assert_committed(s, "a", "a2");
  assert_committed(s, "b", "b1");
  assert_committed(s, "c", "c1");
  assert_committed(s, "d", "-");
  assert_int_equal(gl_store_count(s), 3);
  /* Next transaction: snapshots again, and a clear (abort) drops them. */
  gl_store_delete(s, "c", 1);
  assert_committed(s, "c", "c1");
  gl_store_clear(s);
  assert_committed(s, "c", "-");
  gl_store_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_replace),
      cmocka_unit_test(test_flush_is_ordered_and_deduplicated),
      cmocka_unit_test(test_restore_does_not_dirty),
      cmocka_unit_test(test_binary_keys_and_growth),
      cmocka_unit_test(test_committed_reads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
