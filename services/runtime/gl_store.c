/* gl_store: changelog-backed key/value state. See include/greenlight/gl_store.h.
 *
 * A chained hash table (FNV-1a) that doubles when the load factor passes
 * 1. An entry is one allocation: its header, the key, then the committed
 * value's encoding ("cold bytes"), so a key at rest costs the header, the
 * key and its changelog value. An entry exists while it has a committed
 * value or is hot.
 *
 * A hot entry has a gl_hot_t: the decoded current value (NULL: deleted),
 * the dirty mark and link (dirty entries are linked in first-dirtied order
 * so that a flush is deterministic and costs O(dirty)), and the encoding
 * the last flush wrote, which gl_store_commit moves into the entry as its
 * committed value. Until then the entry's bytes stay the committed value,
 * which is what gl_store_get_committed decodes. Hot entries are linked in
 * a list of their own, so a commit costs O(hot).
 *
 * Index numbers (ops->index): an entry keeps its committed value's number
 * when known (from the flush that wrote the value, or the restored
 * record's header), else computes it from the decoded value when first
 * asked for. A hot entry's flushed number follows its flushed encoding
 * into the entry at commit. */
#include "greenlight/gl_store.h"
#include "greenlight/gl_log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GL_FLUSHED_NONE = 0, GL_FLUSHED_VALUE = 1, GL_FLUSHED_TOMBSTONE = 2 };

typedef struct gl_entry gl_entry_t;

typedef struct gl_hot {
  gl_entry_t *e;
  void *obj;                 /* The current value; NULL: deleted. */
  uint8_t *flushed;          /* The last flush's encoding (GL_FLUSHED_VALUE). */
  size_t flushed_len;
  int64_t flushed_index;     /* Its index number (with ops->index). */
  struct gl_hot *hot_next;   /* The store's hot list. */
  struct gl_hot *dirty_next; /* The dirty list, when dirty. */
  uint8_t dirty;
  uint8_t flushed_state; /* GL_FLUSHED_*. */
} gl_hot_t;

struct gl_entry {
  gl_entry_t *next; /* Hash chain. */
  gl_hot_t *hot;    /* NULL: cold. */
  int64_t index;    /* The committed value's index number, when index_known. */
  uint32_t hash;
  uint32_t klen;
  uint32_t vlen;       /* Committed value's length, when has_value. */
  uint8_t has_value;   /* The bytes after the key are the committed value. */
  uint8_t index_known; /* index is the committed value's number. */
  unsigned char data[]; /* klen bytes of key, then vlen bytes of value. */
};

#define GL_ENTRY_SIZE(klen, vlen) (offsetof(gl_entry_t, data) + (size_t)(klen) + (size_t)(vlen))

struct gl_store {
  const gl_store_ops_t *ops;
  void *opaque;
  gl_store_corrupt_cb corrupt;
  void *corrupt_arg;
  gl_entry_t **buckets;
  size_t nbuckets;
  size_t nentries; /* Keys with a current value. */
  size_t nslots;   /* All entries. */
  gl_hot_t *hot_head;
  gl_hot_t *dirty_head, *dirty_tail;
  size_t ndirty;
  uint64_t index_version; /* ops->index_version's answer. */
};

static uint32_t gl_store_hash(const void *key, size_t klen) {
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *p = key;
  for (size_t i = 0; i < klen; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return (uint32_t)(h ^ (h >> 32));
}

static uint32_t gl_store_len32(size_t n) {
  if (n > UINT32_MAX) {
    gl_log_bug("a store key or value of %zu bytes", n);
    abort();
  }
  return (uint32_t)n;
}

gl_store_t *gl_store_new(const gl_store_ops_t *ops, void *opaque) {
  gl_store_t *s = calloc(1, sizeof(*s));
  if (!s) abort();
  s->ops = ops;
  s->opaque = opaque;
  s->nbuckets = 1024;
  s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
  if (!s->buckets) abort();
  if (ops->index && ops->index_version) s->index_version = ops->index_version(opaque);
  return s;
}

void gl_store_on_corrupt(gl_store_t *s, gl_store_corrupt_cb cb, void *arg) {
  s->corrupt = cb;
  s->corrupt_arg = arg;
}

static void gl_hot_free(const gl_store_t *s, gl_hot_t *h) {
  if (h->obj) s->ops->free(s->opaque, h->obj);
  free(h->flushed);
  free(h);
}

void gl_store_clear(gl_store_t *s) {
  for (size_t b = 0; b < s->nbuckets; b++) {
    gl_entry_t *e = s->buckets[b];
    while (e) {
      gl_entry_t *next = e->next;
      if (e->hot) gl_hot_free(s, e->hot);
      free(e);
      e = next;
    }
    s->buckets[b] = NULL;
  }
  s->nentries = s->nslots = s->ndirty = 0;
  s->hot_head = s->dirty_head = s->dirty_tail = NULL;
}

void gl_store_destroy(gl_store_t *s) {
  if (!s) return;
  gl_store_clear(s);
  free(s->buckets);
  free(s);
}

static gl_entry_t **gl_store_slot(const gl_store_t *s, uint32_t h) {
  return &s->buckets[h & (s->nbuckets - 1)];
}

static gl_entry_t *gl_store_find(const gl_store_t *s, const void *key, size_t klen) {
  uint32_t h = gl_store_hash(key, klen);
  for (gl_entry_t *e = *gl_store_slot(s, h); e; e = e->next)
    if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) return e;
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

/* A new entry for key (which must not be there) with the given committed
 * value (buf NULL: none, for an entry about to be made hot). */
static gl_entry_t *gl_store_insert(gl_store_t *s, const void *key, size_t klen, const void *buf,
                                   size_t len) {
  if (s->nslots >= s->nbuckets) gl_store_grow(s);
  size_t vlen = buf ? len : 0;
  gl_entry_t *e = malloc(GL_ENTRY_SIZE(klen, vlen));
  if (!e) abort();
  e->hot = NULL;
  e->hash = gl_store_hash(key, klen);
  e->klen = gl_store_len32(klen);
  e->vlen = gl_store_len32(vlen);
  e->has_value = buf != NULL;
  e->index_known = 0;
  e->index = 0;
  memcpy(e->data, key, klen);
  if (vlen) memcpy(e->data + klen, buf, vlen);
  gl_entry_t **slot = gl_store_slot(s, e->hash);
  e->next = *slot;
  *slot = e;
  s->nslots++;
  return e;
}

/* The chain link that points at e. */
static gl_entry_t **gl_store_link(const gl_store_t *s, const gl_entry_t *e) {
  gl_entry_t **pp = gl_store_slot(s, e->hash);
  while (*pp != e) pp = &(*pp)->next;
  return pp;
}

static void gl_store_unlink(gl_store_t *s, gl_entry_t *e) {
  gl_entry_t **pp = gl_store_link(s, e);
  *pp = e->next;
  s->nslots--;
  free(e);
}

/* Replaces e's committed value with the len bytes at buf, or with none
 * when has is false, and its index number with *index (NULL: unknown);
 * returns e, which may have moved. */
static gl_entry_t *gl_store_set_bytes(gl_store_t *s, gl_entry_t *e, bool has, const void *buf,
                                      size_t len, const int64_t *index) {
  size_t vlen = has ? len : 0;
  if (vlen != e->vlen) {
    gl_entry_t **pp = gl_store_link(s, e);
    gl_entry_t *n = realloc(e, GL_ENTRY_SIZE(e->klen, vlen));
    if (!n) abort();
    *pp = e = n;
    if (e->hot) e->hot->e = e;
  }
  e->vlen = gl_store_len32(vlen);
  e->has_value = has;
  e->index_known = has && index;
  e->index = e->index_known ? *index : 0;
  if (vlen) memcpy(e->data + e->klen, buf, vlen);
  return e;
}

static void *gl_store_decode(const gl_store_t *s, const gl_entry_t *e) {
  char err[256] = "";
  void *obj = s->ops->decode(s->opaque, e->data + e->klen, e->vlen, err, sizeof err);
  if (!obj && s->corrupt) s->corrupt(s->corrupt_arg, e->data, e->klen, err);
  return obj;
}

static gl_hot_t *gl_store_heat(gl_store_t *s, gl_entry_t *e, void *obj) {
  gl_hot_t *h = calloc(1, sizeof(*h));
  if (!h) abort();
  h->e = e;
  h->obj = obj;
  h->hot_next = s->hot_head;
  s->hot_head = h;
  e->hot = h;
  return h;
}

/* e's hot state, decoding its cold value; NULL if that does not decode. */
static gl_hot_t *gl_store_hot(gl_store_t *s, gl_entry_t *e) {
  if (e->hot) return e->hot;
  void *obj = gl_store_decode(s, e);
  return obj ? gl_store_heat(s, e, obj) : NULL;
}

static void gl_store_mark(gl_store_t *s, gl_hot_t *h) {
  if (h->dirty) return;
  h->dirty = 1;
  h->dirty_next = NULL;
  if (s->dirty_tail)
    s->dirty_tail->dirty_next = h;
  else
    s->dirty_head = h;
  s->dirty_tail = h;
  s->ndirty++;
}

/* Sets the current value of e (made hot; obj NULL deletes) and marks it. */
static void gl_store_write(gl_store_t *s, gl_entry_t *e, void *obj) {
  bool had = e->hot ? e->hot->obj != NULL : e->has_value;
  gl_hot_t *h = e->hot ? e->hot : gl_store_heat(s, e, NULL);
  if (h->obj && h->obj != obj) s->ops->free(s->opaque, h->obj);
  h->obj = obj;
  if (!had && obj) s->nentries++;
  if (had && !obj) s->nentries--;
  gl_store_mark(s, h);
}

void *gl_store_get(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen);
  gl_hot_t *h = e ? gl_store_hot(s, e) : NULL;
  return h ? h->obj : NULL;
}

void *gl_store_get_mut(gl_store_t *s, const void *key, size_t klen) {
  return gl_store_get(s, key, klen);
}

const void *gl_store_get_committed(const gl_store_t *s, const void *key, size_t klen,
                                   void **copy) {
  gl_entry_t *e = gl_store_find(s, key, klen);
  *copy = e && e->has_value ? gl_store_decode(s, e) : NULL;
  return *copy;
}

void gl_store_commit(gl_store_t *s) {
  gl_hot_t *h = s->hot_head, *keep = NULL;
  s->hot_head = NULL;
  while (h) {
    gl_hot_t *next = h->hot_next;
    gl_entry_t *e = h->e;
    if (h->flushed_state != GL_FLUSHED_NONE) {
      bool value = h->flushed_state == GL_FLUSHED_VALUE;
      e = gl_store_set_bytes(s, e, value, h->flushed, h->flushed_len,
                             value && s->ops->index ? &h->flushed_index : NULL);
      free(h->flushed);
      h->flushed = NULL;
      h->flushed_len = 0;
      h->flushed_state = GL_FLUSHED_NONE;
    }
    if (h->dirty) { /* Written after the flush (processing while the commit ran, gl_overlap.c): stays hot and dirty for the next flush. */
      h->hot_next = keep;
      keep = h;
    } else {
      e->hot = NULL;
      gl_hot_free(s, h);
      if (!e->has_value) gl_store_unlink(s, e);
    }
    h = next;
  }
  s->hot_head = keep;
}

void gl_store_put(gl_store_t *s, const void *key, size_t klen, void *obj) {
  if (klen > 0 && ((const char *)key)[0] == '\0') {
    /* The runtime's own changelog keys (the event time) start with NUL: a
     * processor's key there would be read back as one of them. A bug. */
    gl_log_bug("a store key may not start with a NUL byte");
    abort();
  }
  gl_entry_t *e = gl_store_find(s, key, klen);
  gl_store_write(s, e ? e : gl_store_insert(s, key, klen, NULL, 0), obj);
}

void gl_store_touch(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen);
  gl_hot_t *h = e ? gl_store_hot(s, e) : NULL;
  if (h && h->obj) gl_store_mark(s, h);
}

void gl_store_delete(gl_store_t *s, const void *key, size_t klen) {
  gl_entry_t *e = gl_store_find(s, key, klen);
  gl_store_write(s, e ? e : gl_store_insert(s, key, klen, NULL, 0), NULL);
}

static int64_t gl_store_be64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return (int64_t)v;
}

static void gl_store_be64_put(unsigned char *b, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    b[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
}

int gl_store_has_index(const gl_store_t *s) { return s->ops->index != NULL; }

void gl_store_restore(gl_store_t *s, const void *key, size_t klen, const void *buf, size_t len,
                      const void *index, size_t index_len) {
  int64_t number = 0;
  bool known = buf && index && index_len == GL_STORE_INDEX_LEN && s->ops->index &&
               (uint64_t)gl_store_be64(index) == s->index_version;
  if (known) number = gl_store_be64((const unsigned char *)index + 8);
  gl_entry_t *e = gl_store_find(s, key, klen);
  if (!e) {
    if (!buf) return;
    e = gl_store_insert(s, key, klen, buf, len);
    e->index_known = known;
    e->index = number;
    s->nentries++;
    return;
  }
  if (buf || e->hot) { /* A hot entry's uncommitted value stays the current one. */
    gl_store_set_bytes(s, e, buf != NULL, buf, len, known ? &number : NULL);
  } else {
    s->nentries--;
    gl_store_unlink(s, e);
  }
}

void gl_store_restore_bytes(gl_store_t *s, const void *key, size_t klen, const void *buf,
                            size_t len) {
  gl_store_restore(s, key, klen, buf, len, NULL, 0);
}

void gl_store_flush_index(gl_store_t *s, gl_store_flush_cb cb, void *arg) {
  unsigned char index[GL_STORE_INDEX_LEN];
  gl_store_be64_put(index, s->index_version);
  gl_hot_t *h = s->dirty_head;
  s->dirty_head = s->dirty_tail = NULL;
  s->ndirty = 0;
  while (h) {
    gl_hot_t *next = h->dirty_next;
    h->dirty = 0;
    h->dirty_next = NULL;
    free(h->flushed);
    h->flushed = NULL;
    h->flushed_len = 0;
    h->flushed_state = h->obj ? GL_FLUSHED_VALUE : GL_FLUSHED_TOMBSTONE;
    if (h->obj) h->flushed_len = s->ops->encode(s->opaque, h->obj, &h->flushed);
    bool indexed = h->obj && s->ops->index;
    if (indexed) {
      h->flushed_index = s->ops->index(s->opaque, h->obj);
      gl_store_be64_put(index + 8, (uint64_t)h->flushed_index);
    }
    /* A zero-length encoding is still a value: never NULL for it. */
    const void *buf = h->obj ? (h->flushed ? (const void *)h->flushed : "") : NULL;
    if (cb)
      cb(arg, h->e->data, h->e->klen, buf, h->flushed_len, indexed ? index : NULL,
         indexed ? sizeof index : 0);
    h = next;
  }
}

typedef struct gl_store_flush_shim {
  gl_store_dirty_cb cb;
  void *arg;
} gl_store_flush_shim_t;

static void gl_store_flush_shim(void *arg, const void *key, size_t klen, const void *buf,
                                size_t len, const void *index, size_t index_len) {
  (void)index;
  (void)index_len;
  gl_store_flush_shim_t *sh = arg;
  if (sh->cb) sh->cb(sh->arg, key, klen, buf, len);
}

void gl_store_flush(gl_store_t *s, gl_store_dirty_cb cb, void *arg) {
  gl_store_flush_shim_t sh = {cb, arg};
  gl_store_flush_index(s, gl_store_flush_shim, &sh);
}

size_t gl_store_dirty_count(const gl_store_t *s) { return s->ndirty; }
size_t gl_store_count(const gl_store_t *s) { return s->nentries; }

void gl_store_foreach(gl_store_t *s, gl_store_each_cb cb, void *arg) {
  for (size_t b = 0; b < s->nbuckets; b++)
    for (gl_entry_t *e = s->buckets[b]; e; e = e->next) {
      if (e->hot) {
        if (e->hot->obj) cb(arg, e->data, e->klen, e->hot->obj);
        continue;
      }
      void *obj = gl_store_decode(s, e);
      if (!obj) continue;
      cb(arg, e->data, e->klen, obj);
      s->ops->free(s->opaque, obj);
    }
}

void gl_store_foreach_index(gl_store_t *s, gl_store_index_cb cb, void *arg) {
  if (!s->ops->index) {
    gl_log_bug("gl_store_foreach_index on a store without ops->index");
    abort();
  }
  for (size_t b = 0; b < s->nbuckets; b++)
    for (gl_entry_t *e = s->buckets[b]; e; e = e->next) {
      if (e->hot) {
        if (e->hot->obj) cb(arg, e->data, e->klen, s->ops->index(s->opaque, e->hot->obj));
        continue;
      }
      if (!e->index_known) { /* Restored without a usable header: computed once. */
        void *obj = gl_store_decode(s, e);
        if (!obj) continue;
        e->index = s->ops->index(s->opaque, obj);
        e->index_known = 1;
        s->ops->free(s->opaque, obj);
      }
      cb(arg, e->data, e->klen, e->index);
    }
}
