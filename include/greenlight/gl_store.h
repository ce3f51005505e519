/* gl_store: a partition group's in-memory key/value state, backed by a
 * compacted changelog topic (<app.id>.<store>.changelog).
 *
 * Keys are byte strings; values are the processor's own objects, which the
 * store owns once put. Writes mark the key dirty; at each commit the engine
 * encodes every dirty key (or a tombstone for a deleted one) into the
 * changelog inside the same transaction as the outputs and the input
 * offsets, so a key written many times between commits costs one record.
 * On assignment the store is rebuilt from the changelog before any input of
 * its partition is processed.
 *
 * Thread locality: a store belongs to the loop thread of its engine. Every
 * function here runs there (the processor's hooks, the commit's flush and
 * the admin port's queries all do), and so do the ops callbacks the store
 * calls; nothing touches a store from the thread pool.
 *
 * Ownership: keys are copied by the calls that write one (put, delete,
 * restore) and only read by the others; keys and values handed to a
 * callback are borrowed for that call. A value (obj) given to the store is
 * the store's from then on, freed through ops->free when replaced, deleted,
 * cleared or destroyed; values returned by the getters stay the store's.
 *
 * Errors: no function here can fail (memory running out aborts), so none
 * returns an error code; the getters answer NULL for a key that is not
 * there. */
#ifndef GREENLIGHT_GL_STORE_H
#define GREENLIGHT_GL_STORE_H

#include <stddef.h>
#include <stdint.h>

/* How a processor's values are encoded, decoded and freed. Called on the
 * loop thread; buf and obj are borrowed for the call. */
typedef struct gl_store_ops {
  const char *name; /* Store name; changelog topic <app.id>.<name>.changelog. */
  /* A new value (the caller's, freed with free below) from buf, or NULL
   * with errstr written when buf does not decode. */
  void *(*decode)(void *opaque, const void *buf, size_t len, char *errstr, size_t errlen);
  /* Writes obj's encoding to a new malloc'd *out, which the caller frees
   * with free(); returns its length. */
  size_t (*encode)(void *opaque, const void *obj, uint8_t **out);
  void (*free)(void *opaque, void *obj);
} gl_store_ops_t;

typedef struct gl_store gl_store_t;

/* A new, empty store (never NULL). ops and opaque are borrowed and must
 * outlive the store. */
gl_store_t *gl_store_new(const gl_store_ops_t *ops, void *opaque);
/* Frees every value, then the store. NULL is ignored. */
void gl_store_destroy(gl_store_t *s);
/* Drops every entry (e.g. before a restore after an abort). */
void gl_store_clear(gl_store_t *s);

/* The current value (uncommitted writes included), for reading. */
void *gl_store_get(const gl_store_t *s, const void *key, size_t klen);
/* The current value, for changing in place (then gl_store_touch): first
 * keeps the committed value for gl_store_get_committed. A processor that
 * changes a value in place must get it this way. */
void *gl_store_get_mut(gl_store_t *s, const void *key, size_t klen);
/* The value as the last commit left it, for queries (SPEC: queries serve
 * committed state only). Either the store's own object (*copy NULL), or a
 * decoded copy returned in *copy too, which the caller frees with
 * ops->free. NULL when the key had no committed value (or, never expected,
 * when the kept encoding does not decode). */
const void *gl_store_get_committed(const gl_store_t *s, const void *key, size_t klen,
                                   void **copy);
/* The open transaction committed: what the store holds is committed now. */
void gl_store_commit(gl_store_t *s);
/* Stores obj under key, taking ownership; frees a previous, different
 * object (after keeping its encoding as the committed value). The key is
 * written to the changelog at the next commit. Keys starting with a NUL
 * byte are reserved for the runtime's own changelog records: putting one
 * is a bug, and aborts. */
void gl_store_put(gl_store_t *s, const void *key, size_t klen, void *obj);
/* Marks key for a changelog write after its object was changed in place. */
void gl_store_touch(gl_store_t *s, const void *key, size_t klen);
/* Removes key; a tombstone goes to the changelog at the next commit. */
void gl_store_delete(gl_store_t *s, const void *key, size_t klen);

/* Restore path: set or remove without marking dirty. Takes ownership of
 * obj; NULL removes the key. */
void gl_store_restore(gl_store_t *s, const void *key, size_t klen, void *obj);

/* Calls cb for each dirty key in the order it was first dirtied (obj NULL
 * for a tombstone) and clears the marks. cb must not change the store. */
typedef void (*gl_store_dirty_cb)(void *arg, const void *key, size_t klen, const void *obj);
void gl_store_flush(gl_store_t *s, gl_store_dirty_cb cb, void *arg);
size_t gl_store_dirty_count(const gl_store_t *s);

size_t gl_store_count(const gl_store_t *s);
/* Calls cb for each key with a value, in no particular order, for reading
 * (indexes rebuilt after a restore): cb must not change the store. */
typedef void (*gl_store_each_cb)(void *arg, const void *key, size_t klen, void *obj);
void gl_store_foreach(gl_store_t *s, gl_store_each_cb cb, void *arg);

#endif
