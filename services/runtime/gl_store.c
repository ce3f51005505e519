/* gl_store: changelog-backed key/value state. See include/greenlight/gl_store.h.
 *
 * A chained hash table with FNV-1a hashing that doubles when the load
 * factor passes 1. Dirty entries are also linked in first-dirtied order so
 * that a flush is deterministic and costs O(dirty). A deleted entry stays in
 * the table with a NULL object until its tombstone has been flushed.
 *
 * Committed reads (queries): the first write of a key in a transaction
 * (gl_store_get_mut, put, delete) first keeps the encoding of the value
 * the last commit left ("snapshot", or "absent"); gl_store_get_committed
 * answers from it until gl_store_commit drops the snapshots. */
#include "greenlight/gl_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GL_SNAP_NONE = 0, GL_SNAP_VALUE = 1, GL_SNAP_ABSENT = 2 };

typedef struct gl_entry {
  struct gl_entry *next;       /* Hash chain. */
  struct gl_entry *dirty_next; /* Dirty list, when dirty. */
  struct gl_entry *snap_next;  /* Entries holding a snapshot. */
  uint8_t *snap;               /* The committed value's encoding (GL_SNAP_VALUE). */
  size_t snap_len;
  void *obj;                   /* NULL: deleted, tombstone pending. */
  uint64_t hash;
  size_t klen;
  int dirty;
  int snapped; /* GL_SNAP_NONE, GL_SNAP_VALUE or GL_SNAP_ABSENT. */
  char key[];
} gl_entry_t;

struct gl_store {
  const gl_store_ops_t *ops;
  void *opaque;
  gl_entry_t **buckets;
  size_t nbuckets;
  size_t nentries; /* Entries with an object. */
  size_t nslots;   /* All entries, tombstones included. */
  gl_entry_t *dirty_head, *dirty_tail;
  size_t ndirty;
  gl_entry_t *snap_head;
};

static uint64_t gl_store_hash(const void *key, size_t klen) {
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *p = key;
  for (size_t i = 0; i < klen; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

gl_store_t *gl_store_new(const gl_store_ops_t *ops, void *opaque) {
  gl_store_t *s = calloc(1, sizeof(*s));
  if (!s) abort();
  s->ops = ops;
  s->opaque = opaque;
  s->nbuckets = 1024;
  s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
  if (!s->buckets) abort();
  return s;
}

void gl_store_clear(gl_store_t *s) {
  for (size_t b = 0; b < s->nbuckets; b++) {
    gl_entry_t *e = s->buckets[b];
    while (e) {
      gl_entry_t *next = e->next;
      if (e->obj) s->ops->free(s->opaque, e->obj);
      free(e->snap);
      free(e);
      e = next;
    }
    s->buckets[b] = NULL;
  }
  s->nentries = s->nslots = s->ndirty = 0;
  s->dirty_head = s->dirty_tail = NULL;
  s->snap_head = NULL;
}

void gl_store_destroy(gl_store_t *s) {
  if (!s) return;
  gl_store_clear(s);
  free(s->buckets);
  free(s);
}

static gl_entry_t *gl_store_find(const gl_store_t *s, const void *key, size_t klen, uint64_t h) {
  for (gl_entry_t *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next)
    if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
  return NULL;
}

static void gl_store_grow(gl_store_t *s) {
  size_t n = s->nbuckets * 2;
  gl_entry_t **b = calloc(n, sizeof(*b));
  if (!b) abort();
  for (size_t i = 0; i < s->nbuckets; i++) {
    gl_entry_t *e = s->buckets[i];
    while (e) {
      gl_entry_t *next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = n;
}

static gl_entry_t *gl_store_upsert(gl_store_t *s, const void *key, size_t klen) {
  uint64_t h = gl_store_hash(key, klen);
  gl_entry_t *e = gl_store_find(s, key, klen, h);
  if (e) return e;
  if (s->nslots >= s->nbuckets) gl_store_grow(s);
  e = calloc(1, sizeof(*e) + klen + 1);
  if (!e) abort();
  e->hash = h;
  e->klen = klen;
  memcpy(e->key, key, klen);
  e->next = s->buckets[h & (s->nbuckets - 1)];
  s->buckets[h & (s->nbuckets - 1)] = e;
  s->nslots++;
  return e;
}

static void gl_store_unlink(gl_store_t *s, gl_entry_t *e) {
  gl_entry_t **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
  while (*pp != e) pp = &(*pp)->next;
  *pp = e->next;
  s->nslots--;
  free(e->snap);
  free(e);
}

/* Keeps what the last commit left under e, once per transaction. */
static void gl_store_snapshot(gl_store_t *s, gl_entry_t *e) {
  if (e->snapped) return;
  e->snapped = e->obj ? GL_SNAP_VALUE : GL_SNAP_ABSENT;
  if (e->obj) e->snap_len = s->ops->encode(s->opaque, e->obj, &e->snap);
  e->snap_next = s->snap_head;
  s->snap_head = e;
}

static void gl_store_mark(gl_store_t *s, gl_entry_t *e) {
  if (e->dirty) return;
  e->dirty = 1;
  e->dirty_next = NULL;
  if (s->dirty_tail)
    s->dirty_tail->dirty_next = e;
  else
    s->dirty_head = e;
  s->dirty_tail = e;
  s->ndirty++;
}

static void gl_store_set(gl_store_t *s, gl_entry_t *e, void *obj) {
  if (e->obj && e->obj != obj) s->ops->free(s->opaque, e->obj);
  if (!e->obj && obj) s->nentries++;
  if (e->obj && !obj) s->nentries--;
  e->obj = obj;
}

void *gl_store_get(const gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen, gl_store_hash(key, klen));
  return e ? e->obj : NULL;
}

void *gl_store_get_mut(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen, gl_store_hash(key, klen));
  if (!e) return NULL;
  gl_store_snapshot(s, e);
  return e->obj;
}

const void *gl_store_get_committed(const gl_store_t *s, const void *key, size_t klen,
                                   void **copy) {
  *copy = NULL;
  gl_entry_t *e = gl_store_find(s, key, klen, gl_store_hash(key, klen));
  if (!e || e->snapped == GL_SNAP_ABSENT) return NULL;
  if (e->snapped == GL_SNAP_NONE) return e->obj;
  char err[128];
  *copy = s->ops->decode(s->opaque, e->snap, e->snap_len, err, sizeof err);
  return *copy;
}

void gl_store_commit(gl_store_t *s) {
  gl_entry_t *e = s->snap_head;
  s->snap_head = NULL;
  while (e) {
    gl_entry_t *next = e->snap_next;
    free(e->snap);
    e->snap = NULL;
    e->snap_len = 0;
    e->snapped = GL_SNAP_NONE;
    e->snap_next = NULL;
    if (!e->obj && !e->dirty) gl_store_unlink(s, e);
    e = next;
  }
}

void gl_store_put(gl_store_t *s, const void *key, size_t klen, void *obj) {
  if (klen > 0 && ((const char *)key)[0] == '\0') {
    /* The runtime's own changelog keys (the event time) start with NUL: a
     * processor's key there would be read back as one of them. A bug. */
    fprintf(stderr, "greenlight: bug: a store key may not start with a NUL byte\n");
    abort();
  }
  gl_entry_t *e = gl_store_upsert(s, key, klen);
  gl_store_snapshot(s, e);
  gl_store_set(s, e, obj);
  gl_store_mark(s, e);
}

void gl_store_touch(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen, gl_store_hash(key, klen));
  if (e && e->obj) gl_store_mark(s, e);
}

void gl_store_delete(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_upsert(s, key, klen);
  gl_store_snapshot(s, e);
  gl_store_set(s, e, NULL);
  gl_store_mark(s, e);
}

void gl_store_restore(gl_store_t *s, const void *key, size_t klen, void *obj) {
  if (obj) {
    gl_store_set(s, gl_store_upsert(s, key, klen), obj);
    return;
  }
  gl_entry_t *e = gl_store_find(s, key, klen, gl_store_hash(key, klen));
  if (e && !e->dirty && !e->snapped) {
    gl_store_set(s, e, NULL);
    gl_store_unlink(s, e);
  }
}

void gl_store_flush(gl_store_t *s, gl_store_dirty_cb cb, void *arg) {
  gl_entry_t *e = s->dirty_head;
  s->dirty_head = s->dirty_tail = NULL;
  s->ndirty = 0;
  while (e) {
    gl_entry_t *next = e->dirty_next;
    e->dirty = 0;
    e->dirty_next = NULL;
    if (cb) cb(arg, e->key, e->klen, e->obj);
    if (!e->obj && !e->snapped) gl_store_unlink(s, e); /* A snapshot keeps it till the commit. */
    e = next;
  }
}

size_t gl_store_dirty_count(const gl_store_t *s) { return s->ndirty; }
size_t gl_store_count(const gl_store_t *s) { return s->nentries; }

void gl_store_foreach(gl_store_t *s, gl_store_each_cb cb, void *arg) {
  for (size_t b = 0; b < s->nbuckets; b++)
    for (gl_entry_t *e = s->buckets[b]; e; e = e->next)
      if (e->obj) cb(arg, e->key, e->klen, e->obj);
}
