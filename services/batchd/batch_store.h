/* batch_store: how the batch daemon lays its state out in its "batches"
 * store (changelog greenlight-batchd.batches.changelog), and one order
 * status applied through it.
 *
 * Layout. Two kinds of entries share the store of a partition (the
 * repartition topic is keyed by batch, so a batch and all its members are
 * always in one partition):
 *   "<batch key>"              the batch (batch_t; greenlight.v1.BatchRecord):
 *                              its last view, member count and exact unit sums;
 *   "<batch key>\0<order_id>"  one member (batch_member_t; BatchMember): the
 *                              order's last contribution (state, units, version).
 * A batch key is a batch_id (1..GL_ID_MAX bytes without NUL: batchd checks
 * the repartition key) or "~waiting". A member key always holds a NUL after
 * a non-empty batch key, so it never equals a batch key, nor the engine's
 * own changelog keys (which begin with a NUL). Every changelog value is a
 * greenlight.v1.BatchStoreValue whose oneof names its kind. Both kinds stay
 * small whatever the size of the batch: a status writes the batch entry and
 * one member entry, and an order that leaves has its member key deleted (a
 * tombstone in the changelog).
 *
 * No I/O: the store is the engine's in-memory map, whose dirty keys the
 * engine writes to the changelog at each commit. The rules stay in
 * batch_view.c. */
#ifndef GREENLIGHT_BATCH_STORE_H
#define GREENLIGHT_BATCH_STORE_H

#include "batch_view.h"
#include "greenlight/gl_store.h"

/* Bytes of the longest member key: batch key, NUL, order_id. */
#define BATCH_MEMBER_KEY_MAX (2 * GL_ID_MAX + 1)

/* The "batches" store: its name and its values' codec. */
extern const gl_store_ops_t batch_store_ops;

/* Writes the member key of order_id under the batch key into out; returns
 * its length. Both strings have 1..GL_ID_MAX bytes. */
size_t batch_member_key(char out[BATCH_MEMBER_KEY_MAX], const char *key, const char *order_id);

/* The batch under its batch key, or NULL; the store's, valid until the
 * next commit (gl_store.h). */
const batch_t *batch_store_batch(gl_store_t *s, const char *key);
/* The batch as the last commit left it, for queries: *copy, when set, is a
 * decoded copy the caller frees with batch_store_ops.free. */
const batch_t *batch_store_batch_committed(const gl_store_t *s, const char *key, void **copy);
/* The member entry of order_id under the batch key, or NULL (valid as a
 * batch_store_batch() answer is). */
const batch_member_t *batch_store_member(gl_store_t *s, const char *key, const char *order_id);

/* Applies one order status read under key (batch_apply()) and writes what
 * changed: the batch entry (created on its first member) and the order's
 * member entry (put, updated, or deleted when the order left). *batch is
 * the batch afterwards (NULL if the status was ignored and the batch does
 * not exist), *was_over its over_cap flag before. st must have passed
 * batch_status_check(). */
batch_result_t batch_store_apply(gl_store_t *s, const char *key,
                                 const Greenlight__V1__OrderStatus *st, const batch_t **batch,
                                 bool *was_over);

#endif
