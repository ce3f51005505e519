/* order_deadlines: a binary min-heap keyed by (deadline, order_id). */
#include "order_deadlines.h"

#include <stdlib.h>
#include <string.h>

void order_deadlines_init(order_deadlines_t *d) { memset(d, 0, sizeof(*d)); }

void order_deadlines_clear(order_deadlines_t *d) {
  for (size_t i = 0; i < d->len; i++) free(d->heap[i].id);
  d->len = 0;
}

void order_deadlines_free(order_deadlines_t *d) {
  order_deadlines_clear(d);
  free(d->heap);
  memset(d, 0, sizeof(*d));
}

static int order_deadline_less(const order_deadline_t *a, const order_deadline_t *b) {
  if (a->at != b->at) return a->at < b->at;
  return strcmp(a->id, b->id) < 0;
}

static void order_deadline_swap(order_deadline_t *a, order_deadline_t *b) {
  order_deadline_t t = *a;
  *a = *b;
  *b = t;
}

void order_deadlines_push(order_deadlines_t *d, int64_t at, const char *id) {
  order_deadlines_push_n(d, at, id, strlen(id));
}

void order_deadlines_push_n(order_deadlines_t *d, int64_t at, const char *id, size_t idlen) {
  if (at == INT64_MAX) return;
  if (d->len == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 64;
    d->heap = realloc(d->heap, d->cap * sizeof(*d->heap));
    if (!d->heap) abort();
  }
  size_t i = d->len++;
  d->heap[i].at = at;
  char *copy = malloc(idlen + 1);
  if (!copy) abort();
  memcpy(copy, id, idlen);
  copy[idlen] = '\0';
  d->heap[i].id = copy;
  while (i > 0 && order_deadline_less(&d->heap[i], &d->heap[(i - 1) / 2])) {
    order_deadline_swap(&d->heap[i], &d->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
}

int order_deadlines_pop_due(order_deadlines_t *d, int64_t now, order_deadline_t *out) {
  if (d->len == 0 || d->heap[0].at > now) return 0;
  *out = d->heap[0];
  d->heap[0] = d->heap[--d->len];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < d->len && order_deadline_less(&d->heap[l], &d->heap[m])) m = l;
    if (r < d->len && order_deadline_less(&d->heap[r], &d->heap[m])) m = r;
    if (m == i) break;
    order_deadline_swap(&d->heap[i], &d->heap[m]);
    i = m;
  }
  return 1;
}
