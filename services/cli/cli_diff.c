/* Record-by-record comparison of two topics per key, for `rebuild`: the
 * live output of a daemon against the shadow output of its rebuild.
 *
 * A first pass reads each topic once and keeps, per key, a 128-bit digest
 * of each record (timestamp, value and headers in order; offsets are not
 * compared) with its partition and offset: about 40 bytes a record
 * whatever its size. The sequences are compared key by key; a second pass
 * fetches only the records a report shows (the first difference and the
 * last record of each side), decoded as `tail` decodes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_diff.h"

typedef struct diff_rec {
  uint64_t d0, d1;
  int32_t partition;
  int64_t offset;
} diff_rec_t;

typedef struct diff_key {
  uint8_t *key; /* NULL for a record without a key. */
  size_t klen;
  diff_rec_t *recs;
  size_t n, cap;
} diff_key_t;

struct cli_digest {
  diff_key_t *keys;
  size_t n_keys, cap_keys;
  size_t *slots; /* Open addressing: index + 1 into keys; 0 = empty. */
  size_t n_slots;
  long records, excluded;
  cli_keep_fn keep;
  void *keep_ctx;
};

cli_digest_t *cli_digest_new(void) {
  cli_digest_t *dg = calloc(1, sizeof *dg);
  if (!dg) abort();
  return dg;
}

void cli_digest_free(cli_digest_t *dg) {
  if (!dg) return;
  for (size_t i = 0; i < dg->n_keys; i++) free(dg->keys[i].key), free(dg->keys[i].recs);
  free(dg->keys);
  free(dg->slots);
  free(dg);
}

long cli_digest_records(const cli_digest_t *dg) { return dg->records; }
long cli_digest_excluded(const cli_digest_t *dg) { return dg->excluded; }

/* Two 64-bit lanes over the same bytes: FNV-1a and a multiply-xorshift. */
typedef struct digest_state {
  uint64_t a, b;
} digest_state_t;

static void digest_bytes(digest_state_t *s, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    s->a = (s->a ^ b[i]) * 0x100000001b3ULL;
    s->b = (s->b ^ b[i]) * 0x9e3779b97f4a7c15ULL;
    s->b ^= s->b >> 29;
  }
}

static void digest_u64(digest_state_t *s, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  digest_bytes(s, b, 8);
}

/* Length-prefixed, with "absent" distinct from empty. */
static void digest_field(digest_state_t *s, const void *p, size_t n) {
  digest_u64(s, p ? (uint64_t)n : UINT64_MAX);
  if (p) digest_bytes(s, p, n);
}

static void digest_record(const rd_kafka_message_t *m, uint64_t *d0, uint64_t *d1) {
  digest_state_t s = {0xcbf29ce484222325ULL, 0x243f6a8885a308d3ULL};
  digest_u64(&s, (uint64_t)rd_kafka_message_timestamp(m, NULL));
  digest_field(&s, m->payload, m->len);
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
      digest_field(&s, name, strlen(name));
      digest_field(&s, val, size);
    }
  }
  *d0 = s.a;
  *d1 = s.b ^ (s.b >> 31);
}

static uint64_t key_hash(const void *key, size_t klen) {
  digest_state_t s = {0xcbf29ce484222325ULL, 0};
  digest_field(&s, key, klen);
  return s.a;
}

static bool key_equal(const diff_key_t *k, const void *key, size_t klen) {
  if (!k->key || !key) return !k->key && !key;
  return k->klen == klen && memcmp(k->key, key, klen) == 0;
}

static void digest_grow(cli_digest_t *dg) {
  size_t n = dg->n_slots ? dg->n_slots * 2 : 1024;
  size_t *slots = calloc(n, sizeof *slots);
  if (!slots) abort();
  for (size_t i = 0; i < dg->n_keys; i++) {
    size_t j = key_hash(dg->keys[i].key, dg->keys[i].klen) & (n - 1);
    while (slots[j]) j = (j + 1) & (n - 1);
    slots[j] = i + 1;
  }
  free(dg->slots);
  dg->slots = slots;
  dg->n_slots = n;
}

static diff_key_t *digest_key(cli_digest_t *dg, const void *key, size_t klen) {
  if (2 * (dg->n_keys + 1) > dg->n_slots) digest_grow(dg);
  size_t j = key_hash(key, klen) & (dg->n_slots - 1);
  for (; dg->slots[j]; j = (j + 1) & (dg->n_slots - 1))
    if (key_equal(&dg->keys[dg->slots[j] - 1], key, klen)) return &dg->keys[dg->slots[j] - 1];
  if (dg->n_keys == dg->cap_keys) {
    dg->cap_keys = dg->cap_keys ? 2 * dg->cap_keys : 1024;
    dg->keys = realloc(dg->keys, dg->cap_keys * sizeof *dg->keys);
    if (!dg->keys) abort();
  }
  diff_key_t *k = &dg->keys[dg->n_keys++];
  memset(k, 0, sizeof *k);
  if (key) {
    k->key = malloc(klen ? klen : 1);
    if (!k->key) abort();
    memcpy(k->key, key, klen);
    k->klen = klen;
  }
  dg->slots[j] = dg->n_keys;
  return k;
}

static int digest_take(void *arg, const rd_kafka_message_t *m) {
  cli_digest_t *dg = arg;
  if (dg->keep && !dg->keep(dg->keep_ctx, m)) {
    dg->excluded++;
    return 0;
  }
  diff_key_t *k = digest_key(dg, m->key, m->key_len);
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 4;
    k->recs = realloc(k->recs, k->cap * sizeof *k->recs);
    if (!k->recs) abort();
  }
  diff_rec_t *r = &k->recs[k->n++];
  digest_record(m, &r->d0, &r->d1);
  r->partition = m->partition;
  r->offset = m->offset;
  dg->records++;
  return 0;
}

int cli_digest_scan(cli_digest_t *dg, rd_kafka_t *consumer, const char *topic,
                    int32_t n_partitions, int64_t deadline, cli_keep_fn keep, void *keep_ctx) {
  dg->keep = keep;
  dg->keep_ctx = keep_ctx;
  return cli_scan_topic(consumer, topic, n_partitions, NULL, NULL, deadline, digest_take, dg);
}

/* ---- comparison ---- */

static int rec_cmp(const void *a, const void *b) {
  const diff_rec_t *x = a, *y = b;
  if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int key_cmp(const void *a, const void *b) {
  const diff_key_t *x = a, *y = b;
  if (!x->key || !y->key) return (x->key != NULL) - (y->key != NULL);
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->key, y->key, n);
  return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static void digest_sort(cli_digest_t *dg) {
  for (size_t i = 0; i < dg->n_keys; i++)
    qsort(dg->keys[i].recs, dg->keys[i].n, sizeof(diff_rec_t), rec_cmp);
  qsort(dg->keys, dg->n_keys, sizeof *dg->keys, key_cmp);
  free(dg->slots); /* The order changed: the index is gone. */
  dg->slots = NULL;
  dg->n_slots = 0;
}

typedef enum { DIFF_EQUAL, DIFF_DIFFERENT, DIFF_ONLY_LIVE, DIFF_ONLY_SHADOW } diff_kind_t;

/* One key that differs, and the records its report shows. */
typedef struct diff_item {
  const diff_key_t *live, *shadow; /* NULL when the key is missing there. */
  diff_kind_t kind;
  size_t at;                       /* First differing record (0-based). */
  json_t *live_at, *shadow_at, *live_last, *shadow_last;
} diff_item_t;

/* A record the second pass fetches, and where its JSON goes. */
typedef struct diff_want {
  int32_t partition;
  int64_t offset;
  json_t **slot;
} diff_want_t;

typedef struct diff_fetch {
  diff_want_t *w;
  size_t n, cap;
} diff_fetch_t;

static void fetch_add(diff_fetch_t *f, const diff_key_t *k, size_t i, json_t **slot) {
  if (!k || i >= k->n) return;
  if (f->n == f->cap) {
    f->cap = f->cap ? 2 * f->cap : 64;
    f->w = realloc(f->w, f->cap * sizeof *f->w);
    if (!f->w) abort();
  }
  f->w[f->n++] = (diff_want_t){k->recs[i].partition, k->recs[i].offset, slot};
}

static int want_cmp(const void *a, const void *b) {
  const diff_want_t *x = a, *y = b;
  if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int fetch_take(void *arg, const rd_kafka_message_t *m) {
  diff_fetch_t *f = arg;
  diff_want_t probe = {m->partition, m->offset, NULL};
  diff_want_t *w = bsearch(&probe, f->w, f->n, sizeof *f->w, want_cmp);
  if (!w) return 0;
  /* Several slots may want one record (the first difference is the last). */
  while (w > f->w && want_cmp(w - 1, &probe) == 0) w--;
  for (; w < f->w + f->n && want_cmp(w, &probe) == 0; w++)
    if (!*w->slot) *w->slot = cli_record_json(m, NULL, 0, false);
  return 0;
}

/* Fetches the wanted records of topic: per partition from the first
 * wanted offset to just past the last. */
static int fetch_run(diff_fetch_t *f, rd_kafka_t *consumer, const char *topic,
                     int32_t n_partitions, int64_t deadline) {
  if (f->n == 0) return 0;
  qsort(f->w, f->n, sizeof *f->w, want_cmp);
  int64_t *start = malloc((size_t)n_partitions * sizeof *start);
  int64_t *end = malloc((size_t)n_partitions * sizeof *end);
  if (!start || !end) abort();
  for (int32_t p = 0; p < n_partitions; p++) start[p] = end[p] = 0;
  for (size_t i = 0; i < f->n; i++) {
    int32_t p = f->w[i].partition;
    if (p < 0 || p >= n_partitions) continue;
    if (end[p] == 0 || f->w[i].offset < start[p]) start[p] = f->w[i].offset;
    if (f->w[i].offset + 1 > end[p]) end[p] = f->w[i].offset + 1;
  }
  int rc = cli_scan_topic(consumer, topic, n_partitions, start, end, deadline, fetch_take, f);
  free(start);
  free(end);
  return rc;
}

/* The top-level fields of the two records' values that differ, and
 * "timestamp_ms" and "headers" when those do. */
static json_t *diff_fields(json_t *a, json_t *b) {
  json_t *out = json_array();
  if (!a || !b) return out;
  static const char *const meta[] = {"timestamp_ms", "headers", NULL};
  for (int i = 0; meta[i]; i++)
    if (!json_equal(json_object_get(a, meta[i]), json_object_get(b, meta[i])))
      json_array_append_new(out, json_string(meta[i]));
  json_t *va = json_object_get(a, "value"), *vb = json_object_get(b, "value");
  if (!json_is_object(va) || !json_is_object(vb)) {
    if (!json_equal(va, vb) || !json_equal(json_object_get(a, "value_hex"),
                                           json_object_get(b, "value_hex")))
      json_array_append_new(out, json_string("value"));
    return out;
  }
  const char *k;
  json_t *v;
  json_object_foreach(va, k, v) if (!json_equal(v, json_object_get(vb, k)))
      json_array_append_new(out, json_string(k));
  json_object_foreach(vb, k, v) if (!json_object_get(va, k))
      json_array_append_new(out, json_string(k));
  return out;
}

static json_t *field_of(json_t *rec, const char *name) {
  if (!rec) return NULL;
  json_t *top = json_object_get(rec, name);
  if (top && (strcmp(name, "timestamp_ms") == 0 || strcmp(name, "headers") == 0)) return top;
  json_t *v = json_object_get(rec, "value");
  return json_is_object(v) ? json_object_get(v, name) : top;
}

/* At most width characters of j's compact JSON ("-" for none). */
static void cell(char *buf, size_t len, json_t *j, size_t width) {
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  const char *t = s ? s : "-";
  if (strlen(t) > width && width > 3)
    snprintf(buf, len, "%.*s...", (int)(width - 3), t);
  else
    snprintf(buf, len, "%s", t);
  free(s);
}

static void print_table(json_t *fields, json_t *a, json_t *b) {
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    const char *name = json_string_value(f);
    char la[64], lb[64];
    cell(la, sizeof la, field_of(a, name), 40);
    cell(lb, sizeof lb, field_of(b, name), 40);
    printf("    %-26s %-40s  %s\n", name, la, lb);
  }
}

static void print_key(const diff_key_t *k) {
  json_t *j = k->key ? cli_bytes_json(k->key, k->klen) : json_null();
  char *s = json_dumps(j, JSON_ENCODE_ANY);
  printf("%s", s ? s : "?");
  free(s);
  json_decref(j);
}

static const char *const kind_names[] = {"equal", "different", "only_live", "only_shadow"};

static void report_text(const diff_item_t *it) {
  const diff_key_t *k = it->live ? it->live : it->shadow;
  size_t nl = it->live ? it->live->n : 0, ns = it->shadow ? it->shadow->n : 0;
  print_key(k);
  if (it->kind == DIFF_ONLY_LIVE || it->kind == DIFF_ONLY_SHADOW) {
    printf(": only in %s (%zu records)\n", it->kind == DIFF_ONLY_LIVE ? "live" : "shadow",
           it->kind == DIFF_ONLY_LIVE ? nl : ns);
    json_t *last = it->kind == DIFF_ONLY_LIVE ? it->live_last : it->shadow_last;
    char buf[160];
    cell(buf, sizeof buf, last ? json_object_get(last, "value") : NULL, 150);
    printf("    last: %s\n", buf);
    return;
  }
  printf(": differs from record %zu on (live %zu records, shadow %zu)\n", it->at + 1, nl, ns);
  printf("    %-26s %-40s  %s\n", "field", "live", "shadow");
  json_t *fields = it->live_at && it->shadow_at ? diff_fields(it->live_at, it->shadow_at) : NULL;
  if (fields && json_array_size(fields)) {
    print_table(fields, it->live_at, it->shadow_at);
  } else {
    printf("    %-26s %-40s  %s\n", "(record)", it->live_at ? "present" : "(none: ended)",
           it->shadow_at ? "present" : "(none: ended)");
  }
  json_decref(fields);
  json_t *last = diff_fields(it->live_last, it->shadow_last);
  if (json_array_size(last) && (it->at + 1 < nl || it->at + 1 < ns)) {
    printf("    last records:\n");
    print_table(last, it->live_last, it->shadow_last);
  }
  json_decref(last);
}

static int report_json(const diff_item_t *it) {
  const diff_key_t *k = it->live ? it->live : it->shadow;
  json_t *o = json_object();
  json_object_set_new(o, "key", k->key ? cli_bytes_json(k->key, k->klen) : json_null());
  json_object_set_new(o, "result", json_string(kind_names[it->kind]));
  json_object_set_new(o, "live_records", json_integer(it->live ? (json_int_t)it->live->n : 0));
  json_object_set_new(o, "shadow_records",
                      json_integer(it->shadow ? (json_int_t)it->shadow->n : 0));
  if (it->kind == DIFF_DIFFERENT) {
    json_object_set_new(o, "record", json_integer((json_int_t)it->at + 1));
    json_object_set_new(o, "fields", diff_fields(it->live_at, it->shadow_at));
    json_object_set(o, "live", it->live_at ? it->live_at : json_null());
    json_object_set(o, "shadow", it->shadow_at ? it->shadow_at : json_null());
  }
  json_object_set(o, "live_last", it->live_last ? it->live_last : json_null());
  json_object_set(o, "shadow_last", it->shadow_last ? it->shadow_last : json_null());
  return cli_print_json_line(o);
}

/* Classifies every key of the two (sorted) digests into items[]. */
static diff_item_t *diff_classify(const cli_digest_t *live, const cli_digest_t *shadow,
                                  cli_diff_summary_t *sum, size_t *n_items) {
  diff_item_t *items = calloc(live->n_keys + shadow->n_keys + 1, sizeof *items);
  if (!items) abort();
  size_t i = 0, j = 0, n = 0;
  while (i < live->n_keys || j < shadow->n_keys) {
    int c = i == live->n_keys     ? 1
            : j == shadow->n_keys ? -1
                                  : key_cmp(&live->keys[i], &shadow->keys[j]);
    diff_item_t it = {0};
    it.live = c <= 0 ? &live->keys[i++] : NULL;
    it.shadow = c >= 0 ? &shadow->keys[j++] : NULL;
    sum->keys++;
    if (!it.shadow) {
      it.kind = DIFF_ONLY_LIVE;
      sum->only_live++;
    } else if (!it.live) {
      it.kind = DIFF_ONLY_SHADOW;
      sum->only_shadow++;
    } else {
      size_t m = it.live->n < it.shadow->n ? it.live->n : it.shadow->n;
      while (it.at < m && it.live->recs[it.at].d0 == it.shadow->recs[it.at].d0 &&
             it.live->recs[it.at].d1 == it.shadow->recs[it.at].d1)
        it.at++;
      if (it.at == m && it.live->n == it.shadow->n) {
        sum->equal++;
        continue;
      }
      it.kind = DIFF_DIFFERENT;
      sum->different++;
    }
    items[n++] = it;
  }
  *n_items = n;
  return items;
}

int cli_diff_report(cli_digest_t *live, cli_digest_t *shadow, rd_kafka_t *consumer,
                    const char *live_topic, const char *shadow_topic, int32_t n_partitions,
                    int64_t deadline, bool json, long limit, cli_diff_summary_t *sum) {
  memset(sum, 0, sizeof *sum);
  sum->live_records = live->records;
  sum->shadow_records = shadow->records;
  sum->live_excluded = live->excluded;
  digest_sort(live);
  digest_sort(shadow);
  size_t n = 0;
  diff_item_t *items = diff_classify(live, shadow, sum, &n);
  size_t shown = limit > 0 && (size_t)limit < n ? (size_t)limit : n;
  diff_fetch_t fl = {0}, fs = {0};
  for (size_t i = 0; i < shown; i++) {
    diff_item_t *it = &items[i];
    fetch_add(&fl, it->live, it->at, &it->live_at);
    fetch_add(&fs, it->shadow, it->at, &it->shadow_at);
    if (it->live) fetch_add(&fl, it->live, it->live->n - 1, &it->live_last);
    if (it->shadow) fetch_add(&fs, it->shadow, it->shadow->n - 1, &it->shadow_last);
  }
  int rc = fetch_run(&fl, consumer, live_topic, n_partitions, deadline);
  if (rc == 0) rc = fetch_run(&fs, consumer, shadow_topic, n_partitions, deadline);
  for (size_t i = 0; rc == 0 && i < shown; i++) {
    if (!json) report_text(&items[i]);
    else if (report_json(&items[i]) < 0) rc = -1;
  }
  if (!json && shown < n) printf("(%zu more keys differ; --limit 0 shows every one)\n", n - shown);
  for (size_t i = 0; i < n; i++) {
    json_decref(items[i].live_at);
    json_decref(items[i].shadow_at);
    json_decref(items[i].live_last);
    json_decref(items[i].shadow_last);
  }
  free(items);
  free(fl.w);
  free(fs.w);
  return rc;
}
