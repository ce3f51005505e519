/* Unit tests for gl_store: puts, deletes, dirty tracking, flush order,
 * committed reads, and cold values (kept as their encoding between
 * transactions, decoded on first read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "greenlight/gl_store.h"

/* Values are strings; the encoding is the string's bytes without the NUL.
 * "bad" does not decode. */
static int frees, decodes;
static void *dec(void *o, const void *b, size_t n, char *e, size_t el) {
  (void)o;
  if (n == 3 && memcmp(b, "bad", 3) == 0) {
    snprintf(e, el, "bad value");
    return NULL;
  }
  decodes++;
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
static const gl_store_ops_t ops = {"t", dec, enc, fr, NULL, NULL};

typedef struct seen {
  char log[4096];
} seen_t;

static void record(void *arg, const void *key, size_t klen, const void *buf, size_t len) {
  seen_t *s = arg;
  size_t n = strlen(s->log);
  if (buf)
    snprintf(s->log + n, sizeof(s->log) - n, "%.*s=%.*s;", (int)klen, (const char *)key, (int)len,
             (const char *)buf);
  else
    snprintf(s->log + n, sizeof(s->log) - n, "%.*s=<tombstone>;", (int)klen, (const char *)key);
}

/* The engine's commit: flush (the changelog writes), then commit. */
static void commit(gl_store_t *s, seen_t *seen) {
  seen_t none = {""};
  gl_store_flush(s, record, seen ? seen : &none);
  gl_store_commit(s);
}

static void restore(gl_store_t *s, const char *key, const char *value) {
  gl_store_restore_bytes(s, key, strlen(key), value, value ? strlen(value) : 0);
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
  restore(s, "k", "v");
  restore(s, "gone", "v");
  restore(s, "gone", NULL);
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
  restore(s, "a", "a0");
  restore(s, "b", "b0");
  restore(s, "d", "d0");
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
  a = gl_store_get_mut(s, "a", 1); /* The same hot object: the committed value stays. */
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
  /* Next transaction: committed reads again, and a clear (abort) drops all. */
  gl_store_delete(s, "c", 1);
  assert_committed(s, "c", "c1");
  gl_store_clear(s);
  assert_committed(s, "c", "-");
  gl_store_destroy(s);
}

/* After a commit a value is kept only as its encoding: the object is
 * freed, and the first read decodes it again and keeps it (the same
 * object for every read) until the next commit. */
static void test_cold_after_commit(void **state) {
  (void)state;
  frees = decodes = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_put(s, "a", 1, strdup("v1"));
  seen_t seen = {""};
  commit(s, &seen);
  assert_string_equal(seen.log, "a=v1;");
  assert_int_equal(frees, 1); /* The hot object went; its bytes stay. */
  assert_int_equal(gl_store_count(s), 1);
  char *v = gl_store_get(s, "a", 1);
  assert_string_equal(v, "v1");
  assert_int_equal(decodes, 1);
  assert_ptr_equal(gl_store_get_mut(s, "a", 1), v); /* Hot: no second decode. */
  assert_int_equal(decodes, 1);
  commit(s, NULL); /* Read only: nothing written, the object freed. */
  assert_int_equal(frees, 2);
  assert_string_equal(gl_store_get(s, "a", 1), "v1");
  assert_int_equal(decodes, 2);
  gl_store_destroy(s);
  assert_int_equal(frees, 3);
}

/* A change in place then an abort: the clear drops the hot object and
 * the bytes; a restore brings the committed value back. */
static void test_get_mut_then_clear(void **state) {
  (void)state;
  frees = decodes = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  restore(s, "a", "a0");
  char *a = gl_store_get_mut(s, "a", 1);
  a[1] = '9';
  gl_store_touch(s, "a", 1);
  assert_int_equal(gl_store_dirty_count(s), 1);
  gl_store_clear(s);
  assert_int_equal(frees, 1);
  assert_int_equal(gl_store_count(s), 0);
  assert_int_equal(gl_store_dirty_count(s), 0);
  assert_null(gl_store_get(s, "a", 1));
  restore(s, "a", "a0");
  assert_string_equal(gl_store_get(s, "a", 1), "a0");
  gl_store_destroy(s);
}

/* Restored bytes are not decoded until read; a later record of the same
 * key replaces them, a tombstone removes the key. */
static void test_restore_bytes_then_get(void **state) {
  (void)state;
  frees = decodes = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  restore(s, "a", "short");
  restore(s, "a", "a much longer value");
  restore(s, "b", "b0");
  restore(s, "c", "c0");
  restore(s, "b", NULL);
  restore(s, "z", NULL); /* A tombstone for a key never seen. */
  assert_int_equal(decodes, 0);
  assert_int_equal(gl_store_count(s), 2);
  assert_string_equal(gl_store_get(s, "a", 1), "a much longer value");
  assert_null(gl_store_get(s, "b", 1));
  assert_null(gl_store_get(s, "z", 1));
  assert_committed(s, "c", "c0");
  assert_int_equal(decodes, 2);
  /* A restore over a key written in the open transaction changes its
   * committed value only. */
  gl_store_put(s, "c", 1, strdup("c1"));
  restore(s, "c", "c2");
  assert_string_equal(gl_store_get(s, "c", 1), "c1");
  assert_committed(s, "c", "c2");
  gl_store_destroy(s);
}

typedef struct each {
  int calls;
} each_t;

static void each_one(void *arg, const void *key, size_t klen, void *obj) {
  each_t *e = arg;
  e->calls++;
  /* In no particular order: only a key's own pair is checked. */
  assert_int_equal(strlen(obj), 2);
  assert_memory_equal(key, obj, klen);
}

/* foreach decodes a cold value for the call only; a hot one is the
 * store's object; a deleted key is skipped. */
static void test_foreach_cold_and_hot(void **state) {
  (void)state;
  frees = decodes = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  restore(s, "a", "a0");
  restore(s, "b", "b0");
  restore(s, "c", "c0");
  gl_store_get(s, "a", 1); /* Hot. */
  gl_store_delete(s, "c", 1);
  gl_store_put(s, "d", 1, strdup("d1"));
  decodes = frees = 0;
  each_t e = {0};
  gl_store_foreach(s, each_one, &e);
  assert_int_equal(e.calls, 3);   /* a (hot), b (cold), d (new). */
  assert_int_equal(decodes, 1);   /* b only. */
  assert_int_equal(frees, 1);     /* b's transient object. */
  assert_int_equal(gl_store_count(s), 3);
  gl_store_destroy(s);
}

/* A delete of a cold key: gone for reads at once, committed until the
 * commit, a tombstone in the flush, and gone for good after the commit. */
static void test_delete_cold(void **state) {
  (void)state;
  frees = decodes = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  restore(s, "a", "a0");
  restore(s, "b", "b0");
  gl_store_delete(s, "a", 1);
  assert_int_equal(decodes, 0); /* Deleting needs no decode. */
  assert_null(gl_store_get(s, "a", 1));
  assert_int_equal(gl_store_count(s), 1);
  assert_committed(s, "a", "a0");
  seen_t seen = {""};
  commit(s, &seen);
  assert_string_equal(seen.log, "a=<tombstone>;");
  assert_committed(s, "a", "-");
  assert_null(gl_store_get(s, "a", 1));
  assert_int_equal(gl_store_count(s), 1);
  /* Put again after the delete, in one transaction: a value again. */
  gl_store_delete(s, "b", 1);
  gl_store_put(s, "b", 1, strdup("b1"));
  assert_committed(s, "b", "b0");
  commit(s, &seen);
  assert_committed(s, "b", "b1");
  assert_int_equal(gl_store_count(s), 1);
  gl_store_destroy(s);
}

/* Cold bytes that do not decode call the corrupt hook; the read answers
 * NULL and nothing crashes. */
static int corrupt_calls;
static char corrupt_key[16];
static void on_corrupt(void *arg, const void *key, size_t klen, const char *why) {
  assert_ptr_equal(arg, &corrupt_calls);
  assert_string_equal(why, "bad value");
  snprintf(corrupt_key, sizeof corrupt_key, "%.*s", (int)klen, (const char *)key);
  corrupt_calls++;
}

static void count_calls(void *arg, const void *key, size_t klen, void *obj) {
  (void)key;
  (void)klen;
  (void)obj;
  ++*(int *)arg;
}

static void test_corrupt_bytes(void **state) {
  (void)state;
  corrupt_calls = 0;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_on_corrupt(s, on_corrupt, &corrupt_calls);
  restore(s, "k", "bad");
  restore(s, "ok", "v");
  assert_null(gl_store_get(s, "k", 1));
  assert_int_equal(corrupt_calls, 1);
  assert_string_equal(corrupt_key, "k");
  int n = 0;
  gl_store_foreach(s, count_calls, &n); /* "k" is skipped, and reported again. */
  assert_int_equal(n, 1);
  assert_int_equal(corrupt_calls, 2);
  gl_store_destroy(s);
}

/* A zero-length encoding is a value, not a tombstone. */
static void test_empty_value(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_put(s, "e", 1, strdup(""));
  seen_t seen = {""};
  commit(s, &seen);
  assert_string_equal(seen.log, "e=;");
  assert_string_equal(gl_store_get(s, "e", 1), "");
  assert_committed(s, "e", "");
  restore(s, "f", "");
  int n = 0;
  gl_store_foreach(s, count_calls, &n);
  assert_int_equal(n, 2);
  gl_store_destroy(s);
}

/* A write between the flush and the commit (the engine never does this)
 * is not lost: the flushed value is committed, the later one stays
 * current and dirty. */
static void test_write_after_flush(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  gl_store_put(s, "a", 1, strdup("a1"));
  seen_t seen = {""};
  gl_store_flush(s, record, &seen);
  gl_store_put(s, "a", 1, strdup("a2"));
  gl_store_commit(s);
  assert_committed(s, "a", "a1");
  assert_string_equal(gl_store_get(s, "a", 1), "a2");
  assert_int_equal(gl_store_dirty_count(s), 1);
  commit(s, &seen);
  assert_string_equal(seen.log, "a=a1;a=a2;");
  assert_committed(s, "a", "a2");
  gl_store_destroy(s);
}

/* ---- Index numbers ------------------------------------------------------
 * An indexed store's number of a value is the number its string spells;
 * its index version is `version`. */
static int index_calls;
static uint64_t version = 7;
static int64_t idx(void *o, const void *obj) {
  (void)o;
  index_calls++;
  return strtoll(obj, NULL, 10);
}
static uint64_t idx_version(void *o) {
  (void)o;
  return version;
}
static const gl_store_ops_t iops = {"t", dec, enc, fr, idx, idx_version};

static void be64(unsigned char *b, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) b[i] = (unsigned char)(v & 0xff);
}

/* A GL_STORE_INDEX_HEADER value. */
static void header(unsigned char h[GL_STORE_INDEX_LEN], uint64_t ver, int64_t number) {
  be64(h, ver);
  be64(h + 8, (uint64_t)number);
}

static void irestore(gl_store_t *s, const char *key, const char *value, const void *h,
                     size_t hlen) {
  gl_store_restore(s, key, strlen(key), value, value ? strlen(value) : 0, h, hlen);
}

/* What gl_store_flush_index handed the changelog write, as
 * "key=value#number;" ("#-" without a header), and a second store restored
 * from it as the engine's restore would. */
typedef struct ilog {
  char log[1024];
  gl_store_t *replica;
} ilog_t;

static void irecord(void *arg, const void *key, size_t klen, const void *buf, size_t len,
                    const void *index, size_t index_len) {
  ilog_t *l = arg;
  size_t n = strlen(l->log);
  char number[32] = "-";
  if (index) {
    assert_int_equal(index_len, GL_STORE_INDEX_LEN);
    uint64_t v = 0, x = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | ((const unsigned char *)index)[i];
    for (int i = 8; i < 16; i++) x = (x << 8) | ((const unsigned char *)index)[i];
    assert_int_equal(v, version);
    snprintf(number, sizeof number, "%lld", (long long)(int64_t)x);
  }
  snprintf(l->log + n, sizeof(l->log) - n, "%.*s=%.*s#%s;", (int)klen, (const char *)key,
           buf ? (int)len : 4, buf ? (const char *)buf : "<ts>", number);
  if (l->replica) gl_store_restore(l->replica, key, klen, buf, len, index, index_len);
}

/* "key:number," for each key in key order (the store's order is none). */
typedef struct inums {
  char keys[16][16];
  int64_t nums[16];
  int n;
} inums_t;

static void inum_one(void *arg, const void *key, size_t klen, int64_t index) {
  inums_t *a = arg;
  assert_true(a->n < 16 && klen < 16);
  snprintf(a->keys[a->n], sizeof a->keys[0], "%.*s", (int)klen, (const char *)key);
  a->nums[a->n++] = index;
}

static const char *inums(gl_store_t *s) {
  static char out[512];
  inums_t a = {.n = 0};
  gl_store_foreach_index(s, inum_one, &a);
  for (int i = 0; i < a.n; i++) /* Insertion sort by key. */
    for (int j = i; j > 0 && strcmp(a.keys[j - 1], a.keys[j]) > 0; j--) {
      char k[16];
      memcpy(k, a.keys[j], 16);
      memcpy(a.keys[j], a.keys[j - 1], 16);
      memcpy(a.keys[j - 1], k, 16);
      int64_t t = a.nums[j];
      a.nums[j] = a.nums[j - 1];
      a.nums[j - 1] = t;
    }
  out[0] = '\0';
  for (int i = 0; i < a.n; i++)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s:%lld,", a.keys[i],
             (long long)a.nums[i]);
  return out;
}

/* The flush computes each value's number and hands it with the encoding
 * (none for a tombstone); the commit keeps it next to the cold bytes, so
 * iterating needs no decode; a hot value's number is its object's. */
static void test_index_kept_through_flush_and_commit(void **state) {
  (void)state;
  frees = decodes = index_calls = 0;
  gl_store_t *s = gl_store_new(&iops, NULL);
  assert_true(gl_store_has_index(s));
  gl_store_put(s, "a", 1, strdup("5"));
  gl_store_put(s, "b", 1, strdup("-7"));
  gl_store_put(s, "c", 1, strdup("1"));
  ilog_t l = {"", NULL};
  gl_store_flush_index(s, irecord, &l);
  gl_store_commit(s);
  assert_string_equal(l.log, "a=5#5;b=-7#-7;c=1#1;");
  assert_int_equal(index_calls, 3);
  decodes = index_calls = 0;
  assert_string_equal(inums(s), "a:5,b:-7,c:1,");
  assert_int_equal(decodes, 0);
  assert_int_equal(index_calls, 0);
  /* Uncommitted writes: the current value's number, from its object. */
  gl_store_put(s, "a", 1, strdup("9"));
  gl_store_delete(s, "b", 1);
  assert_string_equal(inums(s), "a:9,c:1,");
  assert_int_equal(index_calls, 1);
  l.log[0] = '\0';
  gl_store_flush_index(s, irecord, &l);
  assert_string_equal(l.log, "a=9#9;b=<ts>#-;");
  gl_store_commit(s);
  decodes = index_calls = 0;
  assert_string_equal(inums(s), "a:9,c:1,");
  assert_int_equal(decodes + index_calls, 0);
  /* A value changed in place and touched: the flush computes it again. */
  char *c = gl_store_get_mut(s, "c", 1);
  c[0] = '4';
  gl_store_touch(s, "c", 1);
  commit(s, NULL); /* gl_store_flush: the numbers are kept all the same. */
  decodes = index_calls = 0;
  assert_string_equal(inums(s), "a:9,c:4,");
  assert_int_equal(decodes + index_calls, 0);
  gl_store_destroy(s);
}

/* A restore keeps a record's number from its header; a record without
 * one (an old changelog), or with a malformed one or one of another index
 * version, has its value decoded when the number is first asked for, once. */
static void test_index_restore_with_and_without_header(void **state) {
  (void)state;
  frees = decodes = index_calls = 0;
  gl_store_t *s = gl_store_new(&iops, NULL);
  unsigned char h[GL_STORE_INDEX_LEN], other[GL_STORE_INDEX_LEN];
  header(h, version, 100); /* Not the value's: shows the header is what counts. */
  header(other, version + 1, 200);
  irestore(s, "a", "1", h, sizeof h);
  irestore(s, "b", "2", NULL, 0);
  irestore(s, "c", "3", other, sizeof other);
  irestore(s, "d", "4", h, 8); /* Malformed. */
  irestore(s, "e", "5", h, sizeof h);
  irestore(s, "e", "6", NULL, 0); /* A later record without: computed. */
  irestore(s, "f", "7", NULL, 0);
  irestore(s, "f", "8", h, sizeof h); /* A later record with: kept. */
  irestore(s, "g", "9", h, sizeof h);
  irestore(s, "g", NULL, h, sizeof h); /* A tombstone. */
  assert_int_equal(decodes + index_calls, 0);
  assert_int_equal(gl_store_count(s), 6);
  assert_string_equal(inums(s), "a:100,b:2,c:3,d:4,e:6,f:100,");
  assert_int_equal(decodes, 4); /* b, c, d, e. */
  assert_int_equal(index_calls, 4);
  assert_int_equal(frees, 4); /* Decoded for the call only. */
  assert_string_equal(inums(s), "a:100,b:2,c:3,d:4,e:6,f:100,");
  assert_int_equal(decodes, 4); /* Computed once, then kept. */
  /* The committed values are the restored bytes. */
  assert_string_equal(gl_store_get(s, "a", 1), "1");
  /* A restore over a hot key sets its committed number; the current value
   * (hot) answers from its object until the commit. */
  gl_store_put(s, "b", 1, strdup("12"));
  irestore(s, "b", "13", h, sizeof h);
  assert_string_equal(inums(s), "a:1,b:12,c:3,d:4,e:6,f:100,"); /* a is hot now. */
  gl_store_destroy(s);
}

/* The header the flush hands out restores the numbers into another store
 * without a decode; a store of another index version decodes them. */
static void test_index_round_trip(void **state) {
  (void)state;
  frees = decodes = index_calls = 0;
  gl_store_t *s = gl_store_new(&iops, NULL);
  gl_store_t *r = gl_store_new(&iops, NULL);
  version = 8;
  gl_store_t *r8 = gl_store_new(&iops, NULL); /* Made under another version. */
  version = 7;
  gl_store_put(s, "x", 1, strdup("31"));
  gl_store_put(s, "y", 1, strdup("32"));
  ilog_t l = {"", r};
  gl_store_flush_index(s, irecord, &l);
  gl_store_commit(s);
  gl_store_delete(s, "y", 1);
  gl_store_flush_index(s, irecord, &l);
  gl_store_commit(s);
  l.replica = r8;
  l.log[0] = '\0';
  gl_store_put(s, "x", 1, strdup("33"));
  gl_store_flush_index(s, irecord, &l);
  gl_store_commit(s);
  decodes = index_calls = 0;
  assert_string_equal(inums(r), "x:31,");
  assert_int_equal(decodes + index_calls, 0);
  assert_string_equal(inums(r8), "x:33,");
  assert_int_equal(decodes, 1);
  gl_store_destroy(s);
  gl_store_destroy(r);
  gl_store_destroy(r8);
}

/* Without ops->index no number is handed out, and a header is ignored. */
static void test_index_none(void **state) {
  (void)state;
  gl_store_t *s = gl_store_new(&ops, NULL);
  assert_false(gl_store_has_index(s));
  unsigned char h[GL_STORE_INDEX_LEN];
  header(h, 0, 5);
  irestore(s, "a", "a0", h, sizeof h);
  gl_store_put(s, "b", 1, strdup("b1"));
  ilog_t l = {"", NULL};
  gl_store_flush_index(s, irecord, &l);
  assert_string_equal(l.log, "b=b1#-;");
  gl_store_commit(s);
  assert_string_equal(gl_store_get(s, "a", 1), "a0");
  gl_store_destroy(s);
}

/* Bytes that do not decode, restored without a number: skipped by the
 * iteration and reported to the corrupt hook. */
static void test_index_corrupt(void **state) {
  (void)state;
  corrupt_calls = 0;
  gl_store_t *s = gl_store_new(&iops, NULL);
  gl_store_on_corrupt(s, on_corrupt, &corrupt_calls);
  unsigned char h[GL_STORE_INDEX_LEN];
  header(h, version, 3);
  irestore(s, "k", "bad", NULL, 0);
  irestore(s, "j", "bad", h, sizeof h); /* Numbered: no decode, so not found here. */
  irestore(s, "ok", "4", NULL, 0);
  assert_string_equal(inums(s), "j:3,ok:4,");
  assert_int_equal(corrupt_calls, 1);
  assert_string_equal(corrupt_key, "k");
  gl_store_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_replace),
      cmocka_unit_test(test_flush_is_ordered_and_deduplicated),
      cmocka_unit_test(test_restore_does_not_dirty),
      cmocka_unit_test(test_binary_keys_and_growth),
      cmocka_unit_test(test_committed_reads),
      cmocka_unit_test(test_cold_after_commit),
      cmocka_unit_test(test_get_mut_then_clear),
      cmocka_unit_test(test_restore_bytes_then_get),
      cmocka_unit_test(test_foreach_cold_and_hot),
      cmocka_unit_test(test_delete_cold),
      cmocka_unit_test(test_corrupt_bytes),
      cmocka_unit_test(test_empty_value),
      cmocka_unit_test(test_write_after_flush),
      cmocka_unit_test(test_index_kept_through_flush_and_commit),
      cmocka_unit_test(test_index_restore_with_and_without_header),
      cmocka_unit_test(test_index_round_trip),
      cmocka_unit_test(test_index_none),
      cmocka_unit_test(test_index_corrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
