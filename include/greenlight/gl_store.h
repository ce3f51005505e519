/* gl_store: a partition group's in-memory key/value state, backed by a
 * compacted changelog topic (<app.id>.<store>.changelog).
 *
 * Keys are byte strings; values are the processor's own objects. Writes
 * mark the key dirty; at each commit the engine writes every dirty key's
 * encoding (or a tombstone for a deleted one) to the changelog inside the
 * same transaction as the outputs and the input offsets, so a key written
 * many times between commits costs one record. On assignment the store is
 * rebuilt from the changelog before any input of its partition is
 * processed.
 *
 * Cold and hot values: between transactions the store keeps each value
 * only as its encoding (the bytes the changelog holds, "cold"), which is
 * also the committed value queries read. A getter decodes a cold value
 * (ops->decode) and keeps the object ("hot") until the next
 * gl_store_commit or gl_store_clear, so every get of a key in one
 * transaction answers the same object. A commit makes the encodings the
 * flush wrote the committed values and frees every hot object. A restore
 * stores the changelog's bytes as they are, without decoding them.
 *
 * Cold bytes that do not decode: they come from our own encode or from a
 * changelog record the restore accepted without decoding, so a corrupt
 * record is found when its key is first read (or by gl_store_foreach, or
 * a query), not at restore. The store then calls the corrupt hook
 * (gl_store_on_corrupt: the engine's stops the engine with a fatal error
 * and makes sure the open transaction is never committed) and the getter
 * answers NULL, as for an absent key.
 *
 * Thread locality: a store belongs to the loop thread of its engine. Every
 * function here runs there (the processor's hooks, the commit's flush and
 * the admin port's queries all do), and so do the ops callbacks the store
 * calls; nothing touches a store from the thread pool.
 *
 * Ownership: keys are copied by the calls that write one (put, delete,
 * restore) and only read by the others; keys, values and bytes handed to
 * a callback are borrowed for that call. A value (obj) given to the store
 * is the store's from then on, freed through ops->free when replaced,
 * deleted, committed, cleared or destroyed. A value a getter returns stays
 * the store's and is valid only until the next gl_store_commit,
 * gl_store_clear or gl_store_destroy, or a put or delete of that key: a
 * caller must not keep it across a commit.
 *
 * Index numbers: a processor may define a number per value (ops->index;
 * orderd's is the order's next deadline) that it rebuilds an index of its
 * own from after a restore. The store keeps it next to the cold bytes (8
 * bytes per key) and hands it out without decoding
 * (gl_store_foreach_index). The flush computes it from the object and
 * hands it to the changelog write as 16 bytes (GL_STORE_INDEX_LEN: the
 * processor's index version, then the number, both big-endian), which the
 * engine writes as the record's header GL_STORE_INDEX_HEADER; the value
 * bytes stay the encoding, so a changelog without the header restores
 * too. A restored record whose header is missing, malformed or of another
 * version has its number computed from the decoded value when it is first
 * asked for. The number must be a pure function of the value and of what
 * ops->index_version names (orderd: the policy's TTLs), so that a number
 * read from the changelog equals the one the hook would compute now.
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
  /* Optional (NULL: the store keeps no index numbers). obj's index
   * number: a pure function of obj and of index_version's answer. */
  int64_t (*index)(void *opaque, const void *obj);
  /* Optional (NULL: 0). Names everything index depends on besides the
   * value (configuration, the formula's own revision): a changelog
   * number written under another version is not trusted. Asked once,
   * when the store is made. */
  uint64_t (*index_version)(void *opaque);
} gl_store_ops_t;

/* The changelog record header carrying a value's index number, and its
 * length: the index version, then the number, both 8 bytes big-endian. */
#define GL_STORE_INDEX_HEADER "gl.index"
#define GL_STORE_INDEX_LEN 16

typedef struct gl_store gl_store_t;

/* A new, empty store (never NULL). ops and opaque are borrowed and must
 * outlive the store. */
gl_store_t *gl_store_new(const gl_store_ops_t *ops, void *opaque);
/* Frees every value, then the store. NULL is ignored. */
void gl_store_destroy(gl_store_t *s);
/* Drops every entry, uncommitted writes included (e.g. before a restore
 * after an abort). */
void gl_store_clear(gl_store_t *s);

/* Called (on the loop thread) when cold bytes under key do not decode;
 * why says how. Without a hook the store only answers NULL. */
typedef void (*gl_store_corrupt_cb)(void *arg, const void *key, size_t klen, const char *why);
void gl_store_on_corrupt(gl_store_t *s, gl_store_corrupt_cb cb, void *arg);

/* The current value (uncommitted writes included), for reading: decodes a
 * cold value and keeps it hot until the next commit. */
void *gl_store_get(gl_store_t *s, const void *key, size_t klen);
/* The current value, for changing in place (then gl_store_touch, or the
 * change is dropped at the next commit). A processor that changes a value
 * in place gets it this way. */
void *gl_store_get_mut(gl_store_t *s, const void *key, size_t klen);
/* The value as the last commit left it, for queries (SPEC: queries serve
 * committed state only): a copy decoded from the committed bytes, also
 * returned in *copy, which the caller frees with ops->free (*copy is NULL
 * when the answer is). NULL when the key had no committed value, or its
 * bytes do not decode (the corrupt hook is called). */
const void *gl_store_get_committed(const gl_store_t *s, const void *key, size_t klen,
                                   void **copy);
/* The open transaction committed: the encodings the last flush wrote are
 * the committed values now, and every hot value is freed. */
void gl_store_commit(gl_store_t *s);
/* Stores obj under key, taking ownership; frees a previous, different
 * object. The key is written to the changelog at the next commit. Keys
 * starting with a NUL byte are reserved for the runtime's own changelog
 * records: putting one is a bug, and aborts. */
void gl_store_put(gl_store_t *s, const void *key, size_t klen, void *obj);
/* Marks key for a changelog write after its object was changed in place. */
void gl_store_touch(gl_store_t *s, const void *key, size_t klen);
/* Removes key; a tombstone goes to the changelog at the next commit. */
void gl_store_delete(gl_store_t *s, const void *key, size_t klen);

/* Restore path: sets key's committed value to a copy of the changelog
 * bytes buf (len bytes), not decoded and not marked dirty; buf NULL (a
 * tombstone) removes the committed value. A key with uncommitted writes
 * keeps them as its current value. */
void gl_store_restore_bytes(gl_store_t *s, const void *key, size_t klen, const void *buf,
                            size_t len);
/* The same with the record's GL_STORE_INDEX_HEADER value (index NULL:
 * none): kept as key's index number when it is GL_STORE_INDEX_LEN bytes of
 * the store's index version; otherwise the number is computed from the
 * decoded value when first asked for. */
void gl_store_restore(gl_store_t *s, const void *key, size_t klen, const void *buf, size_t len,
                      const void *index, size_t index_len);
/* True when the store keeps index numbers (ops->index is set). */
int gl_store_has_index(const gl_store_t *s);

/* Encodes each dirty key in the order it was first dirtied and calls cb
 * with the encoding (buf NULL for a tombstone), then clears the marks; the
 * encodings become the committed values at gl_store_commit. cb must not
 * change the store. */
typedef void (*gl_store_dirty_cb)(void *arg, const void *key, size_t klen, const void *buf,
                                  size_t len);
void gl_store_flush(gl_store_t *s, gl_store_dirty_cb cb, void *arg);
/* The same, also handing cb the GL_STORE_INDEX_LEN bytes of the record's
 * GL_STORE_INDEX_HEADER (index NULL for a tombstone, or without
 * ops->index), for the changelog write. */
typedef void (*gl_store_flush_cb)(void *arg, const void *key, size_t klen, const void *buf,
                                  size_t len, const void *index, size_t index_len);
void gl_store_flush_index(gl_store_t *s, gl_store_flush_cb cb, void *arg);
size_t gl_store_dirty_count(const gl_store_t *s);

/* Keys with a current value. */
size_t gl_store_count(const gl_store_t *s);
/* Calls cb for each key with a current value, in no particular order, for
 * reading (indexes rebuilt after a restore): cb must not change the store.
 * A cold value is decoded for the call only (obj is freed after it). */
typedef void (*gl_store_each_cb)(void *arg, const void *key, size_t klen, void *obj);
void gl_store_foreach(gl_store_t *s, gl_store_each_cb cb, void *arg);
/* Calls cb for each key with a current value, in no particular order, with
 * its index number (ops->index must be set: calling this without aborts):
 * a cold value's kept number, without decoding, or for one restored
 * without a usable header the number computed from the value decoded for
 * the call (then kept; bytes that do not decode are reported to the
 * corrupt hook and skipped); a hot value's computed from its object. cb
 * must not change the store. */
typedef void (*gl_store_index_cb)(void *arg, const void *key, size_t klen, int64_t index);
void gl_store_foreach_index(gl_store_t *s, gl_store_index_cb cb, void *arg);

#endif
