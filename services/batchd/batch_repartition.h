/* batch_repartition: the key of batchd's input, the repartition topic
 * (greenlight-batchd.repartition) that orderd writes and batchd reads, so
 * both daemons derive it from an order's state in one place.
 *
 * It lives with batchd, whose topic it is, rather than in the codec: the
 * codec judges records on the wire and knows no order state. orderd
 * includes it as the topic's writer. Header-only (a few lines of logic), so
 * neither daemon's library has to link the other's. Pure; any thread. */
#ifndef GREENLIGHT_BATCH_REPARTITION_H
#define GREENLIGHT_BATCH_REPARTITION_H

#include <stddef.h>

#include "greenlight/v1/greenlight.pb-c.h"

/* The key of the orders that are ACCEPTED and wait for a later batch. A
 * batch_id cannot take it by accident: '~' sorts after every letter and
 * digit, and no regulator's batch id starts with it. */
#define GL_BATCH_KEY_WAITING "~waiting"

/* The repartition key of an order in state (a Greenlight__V1__OrderState)
 * with batch_id (NULL or "" if none): its batch_id when it is in a batch;
 * GL_BATCH_KEY_WAITING when it is ACCEPTED and waits for a later batch;
 * NULL for any other order (it belongs to no batch view). An order whose key
 * changes is written under both keys; under the old one its own key
 * differs, which means "left". The result is batch_id itself or a static
 * string. */
static inline const char *gl_order_batch_key(int state, const char *batch_id) {
  if (batch_id && *batch_id) return batch_id;
  if (state == GREENLIGHT__V1__ORDER_STATE__ORDER_STATE_ACCEPTED) return GL_BATCH_KEY_WAITING;
  return NULL;
}

#endif
