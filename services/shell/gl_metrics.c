/* gl_metrics: counters, gauges and histograms in the Prometheus text format.
 * See include/greenlight/gl_metrics.h.
 *
 * Layout: the registry keeps its families in creation order, and each family
 * keeps its series in creation order, which is the order they are rendered
 * in. A small chained hash table keyed on (name, labels) finds an existing
 * series without walking the families. Series are allocated one by one and
 * never move, so pointers handed out stay valid until gl_metrics_destroy().
 *
 * Values are C11 atomics so any thread may update a series. A counter or
 * gauge holds the bit pattern of a double in an atomic 64-bit integer; adds
 * go through a compare-exchange loop and sets through a plain store. A
 * histogram holds one non-cumulative atomic count per bucket (the last one
 * is +Inf) and the bit pattern of its sum; rendering accumulates the buckets
 * and reports the +Inf total as _count, so the exposed buckets and count
 * always agree with each other even while other threads observe. */
#include "greenlight/gl_metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum gl_metric_kind {
  GL_METRIC_COUNTER = 0,
  GL_METRIC_GAUGE = 1,
  GL_METRIC_HISTOGRAM = 2
} gl_metric_kind_t;

static const char *const gl_metric_kind_names[] = {"counter", "gauge", "histogram"};

typedef struct gl_family {
  char *name;
  char *help; /* NULL when no help text was given. */
  gl_metric_kind_t kind;
  double *bounds; /* Histogram upper bounds, ascending, without +Inf. */
  size_t nbounds;
  gl_series_t **series; /* In creation order. */
  size_t nseries;
  size_t cap;
} gl_family_t;

struct gl_series {
  gl_family_t *family;
  char *labels; /* Never NULL; "" for no labels. */
  uint64_t hash;
  gl_series_t *next_in_bucket;
  _Atomic uint64_t value; /* Counter or gauge: bits of a double. */
  _Atomic uint64_t sum;   /* Histogram: bits of a double. */
  _Atomic uint64_t buckets[]; /* Histogram: nbounds + 1 non-cumulative counts. */
};

struct gl_metrics {
  gl_family_t **families; /* In creation order. */
  size_t nfamilies;
  size_t cap;
  gl_series_t **table; /* Hash buckets; the size is a power of two. */
  size_t table_size;
  size_t nseries;
};

enum { GL_METRICS_INITIAL_TABLE = 64 };

/* Atomic doubles stored as their bit patterns. */

static uint64_t gl_bits_of(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static double gl_double_of(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static double gl_atomic_double_load(const _Atomic uint64_t *p) {
  return gl_double_of(atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed));
}

static void gl_atomic_double_store(_Atomic uint64_t *p, double v) {
  atomic_store_explicit(p, gl_bits_of(v), memory_order_relaxed);
}

static void gl_atomic_double_add(_Atomic uint64_t *p, double v) {
  uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
  uint64_t desired;
  do {
    desired = gl_bits_of(gl_double_of(old) + v);
  } while (!atomic_compare_exchange_weak_explicit(p, &old, desired, memory_order_relaxed,
                                                  memory_order_relaxed));
}

/* Registry. */

gl_metrics_t *gl_metrics_new(void) {
  gl_metrics_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->table = calloc(GL_METRICS_INITIAL_TABLE, sizeof *m->table);
  if (!m->table) {
    free(m);
    return NULL;
  }
  m->table_size = GL_METRICS_INITIAL_TABLE;
  return m;
}

static void gl_family_free(gl_family_t *f) {
  for (size_t i = 0; i < f->nseries; i++) {
    free(f->series[i]->labels);
    free(f->series[i]);
  }
  free(f->series);
  free(f->bounds);
  free(f->help);
  free(f->name);
  free(f);
}

void gl_metrics_destroy(gl_metrics_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nfamilies; i++) gl_family_free(m->families[i]);
  free(m->families);
  free(m->table);
  free(m);
}

/* FNV-1a over the name, a NUL separator and the labels. */
static uint64_t gl_series_hash(const char *name, const char *labels) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  h *= 1099511628211ull; /* The separator: XOR with 0 is a no-op. */
  for (const unsigned char *p = (const unsigned char *)labels; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  return h;
}

static bool gl_valid_name(const char *name) {
  if (!name || !*name) return false;
  for (const char *p = name; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (p != name && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

static bool gl_bounds_equal(const gl_family_t *f, const double *bounds, size_t nbounds) {
  if (f->nbounds != nbounds) return false;
  for (size_t i = 0; i < nbounds; i++) {
    if (f->bounds[i] != bounds[i]) return false;
  }
  return true;
}

static char *gl_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static gl_family_t *gl_family_find(gl_metrics_t *m, const char *name) {
  for (size_t i = 0; i < m->nfamilies; i++) {
    if (strcmp(m->families[i]->name, name) == 0) return m->families[i];
  }
  return NULL;
}

static gl_family_t *gl_family_create(gl_metrics_t *m, const char *name, const char *help,
                                     gl_metric_kind_t kind, const double *bounds,
                                     size_t nbounds) {
  if (m->nfamilies == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    gl_family_t **families = realloc(m->families, cap * sizeof *families);
    if (!families) return NULL;
    m->families = families;
    m->cap = cap;
  }
  gl_family_t *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->kind = kind;
  f->name = gl_strdup(name);
  f->help = help ? gl_strdup(help) : NULL;
  if (nbounds > 0) {
    f->bounds = malloc(nbounds * sizeof *f->bounds);
    if (f->bounds) memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
  }
  f->nbounds = nbounds;
  if (!f->name || (help && !f->help) || (nbounds > 0 && !f->bounds)) {
    gl_family_free(f);
    return NULL;
  }
  m->families[m->nfamilies++] = f;
  return f;
}

/* Doubles the hash table once it holds as many series as buckets. */
static void gl_table_grow(gl_metrics_t *m) {
  size_t size = m->table_size * 2;
  gl_series_t **table = calloc(size, sizeof *table);
  if (!table) return; /* Longer chains, still correct. */
  for (size_t i = 0; i < m->table_size; i++) {
    gl_series_t *s = m->table[i];
    while (s) {
      gl_series_t *next = s->next_in_bucket;
      size_t b = (size_t)(s->hash & (size - 1));
      s->next_in_bucket = table[b];
      table[b] = s;
      s = next;
    }
  }
  free(m->table);
  m->table = table;
  m->table_size = size;
}

static gl_series_t *gl_series_create(gl_metrics_t *m, gl_family_t *f, const char *labels,
                                     uint64_t hash) {
  if (f->nseries == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 4;
    gl_series_t **series = realloc(f->series, cap * sizeof *series);
    if (!series) return NULL;
    f->series = series;
    f->cap = cap;
  }
  size_t nbuckets = f->kind == GL_METRIC_HISTOGRAM ? f->nbounds + 1 : 0;
  gl_series_t *s = malloc(sizeof *s + nbuckets * sizeof s->buckets[0]);
  if (!s) return NULL;
  s->labels = gl_strdup(labels);
  if (!s->labels) {
    free(s);
    return NULL;
  }
  s->family = f;
  s->hash = hash;
  atomic_init(&s->value, gl_bits_of(0.0));
  atomic_init(&s->sum, gl_bits_of(0.0));
  for (size_t i = 0; i < nbuckets; i++) atomic_init(&s->buckets[i], 0);

  f->series[f->nseries++] = s;
  size_t b = (size_t)(hash & (m->table_size - 1));
  s->next_in_bucket = m->table[b];
  m->table[b] = s;
  if (++m->nseries > m->table_size) gl_table_grow(m);
  return s;
}

static gl_series_t *gl_metrics_lookup(gl_metrics_t *m, const char *name, const char *help,
                                      const char *labels, gl_metric_kind_t kind,
                                      const double *bounds, size_t nbounds) {
  if (!m || !name) return NULL;
  if (!labels) labels = "";
  uint64_t hash = gl_series_hash(name, labels);
  for (gl_series_t *s = m->table[hash & (m->table_size - 1)]; s; s = s->next_in_bucket) {
    if (s->hash != hash || strcmp(s->family->name, name) != 0 || strcmp(s->labels, labels) != 0)
      continue;
    if (s->family->kind != kind) return NULL;
    if (kind == GL_METRIC_HISTOGRAM && !gl_bounds_equal(s->family, bounds, nbounds)) return NULL;
    return s;
  }

  gl_family_t *f = gl_family_find(m, name);
  if (f) {
    if (f->kind != kind) return NULL;
    if (kind == GL_METRIC_HISTOGRAM && !gl_bounds_equal(f, bounds, nbounds)) return NULL;
  } else {
    if (!gl_valid_name(name)) return NULL;
    f = gl_family_create(m, name, help, kind, bounds, nbounds);
    if (!f) return NULL;
  }
  return gl_series_create(m, f, labels, hash);
}

gl_series_t *gl_metrics_counter(gl_metrics_t *m, const char *name, const char *help,
                                const char *labels) {
  return gl_metrics_lookup(m, name, help, labels, GL_METRIC_COUNTER, NULL, 0);
}

gl_series_t *gl_metrics_gauge(gl_metrics_t *m, const char *name, const char *help,
                              const char *labels) {
  return gl_metrics_lookup(m, name, help, labels, GL_METRIC_GAUGE, NULL, 0);
}

gl_series_t *gl_metrics_histogram(gl_metrics_t *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t nbounds) {
  if (nbounds > 0 && !bounds) return NULL;
  /* A trailing +Inf is implied, so an explicit one is dropped. */
  if (nbounds > 0 && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0) nbounds--;
  for (size_t i = 0; i < nbounds; i++) {
    if (isnan(bounds[i])) return NULL;
    if (i > 0 && !(bounds[i - 1] < bounds[i])) return NULL;
  }
  return gl_metrics_lookup(m, name, help, labels, GL_METRIC_HISTOGRAM, bounds, nbounds);
}

/* Updates. */

void gl_series_add(gl_series_t *s, double v) {
  if (!s) return;
  switch (s->family->kind) {
    case GL_METRIC_COUNTER:
      if (!(v >= 0)) return; /* Negative or NaN: a counter only goes up. */
      gl_atomic_double_add(&s->value, v);
      break;
    case GL_METRIC_GAUGE: gl_atomic_double_add(&s->value, v); break;
    case GL_METRIC_HISTOGRAM: break;
  }
}

void gl_series_set(gl_series_t *s, double v) {
  if (!s || s->family->kind != GL_METRIC_GAUGE) return;
  gl_atomic_double_store(&s->value, v);
}

void gl_series_observe(gl_series_t *s, double v) {
  if (!s || s->family->kind != GL_METRIC_HISTOGRAM) return;
  const gl_family_t *f = s->family;
  /* Buckets are few (typically < 20), so a linear scan beats bisection.
   * NaN compares false everywhere and lands in +Inf, as in client_golang. */
  size_t i = 0;
  while (i < f->nbounds && !(v <= f->bounds[i])) i++;
  atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
  gl_atomic_double_add(&s->sum, v);
}

double gl_series_value(const gl_series_t *s) {
  if (!s) return 0;
  if (s->family->kind != GL_METRIC_HISTOGRAM) return gl_atomic_double_load(&s->value);
  uint64_t count = 0;
  for (size_t i = 0; i <= s->family->nbounds; i++)
    count += atomic_load_explicit((_Atomic uint64_t *)&s->buckets[i], memory_order_relaxed);
  return (double)count;
}

/* Rendering. */

typedef struct gl_buf {
  char *data;
  size_t len;
  size_t cap;
  bool failed; /* Set once an allocation fails; later appends do nothing. */
} gl_buf_t;

static bool gl_buf_reserve(gl_buf_t *b, size_t extra) {
  if (b->failed) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + extra + 1) cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) {
    b->failed = true;
    return false;
  }
  b->data = data;
  b->cap = cap;
  return true;
}

static void gl_buf_append(gl_buf_t *b, const char *s, size_t n) {
  if (!gl_buf_reserve(b, n)) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void gl_buf_puts(gl_buf_t *b, const char *s) { gl_buf_append(b, s, strlen(s)); }

static void gl_buf_putc(gl_buf_t *b, char c) { gl_buf_append(b, &c, 1); }

/* Help text escapes backslash and newline (quotes stay as they are). */
static void gl_buf_put_help(gl_buf_t *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\')
      gl_buf_puts(b, "\\\\");
    else if (*s == '\n')
      gl_buf_puts(b, "\\n");
    else
      gl_buf_putc(b, *s);
  }
}

/* Label text is pre-escaped; only a raw newline, never valid, is escaped. */
static void gl_buf_put_labels(gl_buf_t *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\n')
      gl_buf_puts(b, "\\n");
    else
      gl_buf_putc(b, *s);
  }
}

/* Writes the shortest %g text (15 to 17 digits) that reads back as v. */
static void gl_format_double(char *out, size_t cap, double v) {
  if (isnan(v)) {
    snprintf(out, cap, "NaN");
  } else if (isinf(v)) {
    snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
  } else {
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(out, cap, "%.*g", prec, v);
      if (strtod(out, NULL) == v) break;
    }
  }
}

static void gl_buf_put_double(gl_buf_t *b, double v) {
  char num[40];
  gl_format_double(num, sizeof num, v);
  gl_buf_puts(b, num);
}

static void gl_buf_put_u64(gl_buf_t *b, uint64_t v) {
  char num[24];
  snprintf(num, sizeof num, "%llu", (unsigned long long)v);
  gl_buf_puts(b, num);
}

/* Writes `name{labels}` or just `name` when there are none. */
static void gl_buf_put_series_name(gl_buf_t *b, const char *name, const char *suffix,
                                   const char *labels) {
  gl_buf_puts(b, name);
  gl_buf_puts(b, suffix);
  if (*labels) {
    gl_buf_putc(b, '{');
    gl_buf_put_labels(b, labels);
    gl_buf_putc(b, '}');
  }
}

static void gl_render_histogram(gl_buf_t *b, const gl_family_t *f, const gl_series_t *s) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= f->nbounds; i++) {
    cumulative += atomic_load_explicit((_Atomic uint64_t *)&s->buckets[i], memory_order_relaxed);
    gl_buf_puts(b, f->name);
    gl_buf_puts(b, "_bucket{");
    if (*s->labels) {
      gl_buf_put_labels(b, s->labels);
      gl_buf_putc(b, ',');
    }
    gl_buf_puts(b, "le=\"");
    gl_buf_put_double(b, i < f->nbounds ? f->bounds[i] : INFINITY);
    gl_buf_puts(b, "\"} ");
    gl_buf_put_u64(b, cumulative);
    gl_buf_putc(b, '\n');
  }
  gl_buf_put_series_name(b, f->name, "_sum", s->labels);
  gl_buf_putc(b, ' ');
  gl_buf_put_double(b, gl_atomic_double_load(&s->sum));
  gl_buf_putc(b, '\n');
  gl_buf_put_series_name(b, f->name, "_count", s->labels);
  gl_buf_putc(b, ' ');
  gl_buf_put_u64(b, cumulative);
  gl_buf_putc(b, '\n');
}

size_t gl_metrics_render(gl_metrics_t *m, char **out) {
  gl_buf_t b = {0};
  gl_buf_reserve(&b, 0); /* An empty registry still yields "". */
  for (size_t i = 0; m && i < m->nfamilies; i++) {
    const gl_family_t *f = m->families[i];
    if (f->help) {
      gl_buf_puts(&b, "# HELP ");
      gl_buf_puts(&b, f->name);
      gl_buf_putc(&b, ' ');
      gl_buf_put_help(&b, f->help);
      gl_buf_putc(&b, '\n');
    }
    gl_buf_puts(&b, "# TYPE ");
    gl_buf_puts(&b, f->name);
    gl_buf_putc(&b, ' ');
    gl_buf_puts(&b, gl_metric_kind_names[f->kind]);
    gl_buf_putc(&b, '\n');
    for (size_t j = 0; j < f->nseries; j++) {
      const gl_series_t *s = f->series[j];
      if (f->kind == GL_METRIC_HISTOGRAM) {
        gl_render_histogram(&b, f, s);
      } else {
        gl_buf_put_series_name(&b, f->name, "", s->labels);
        gl_buf_putc(&b, ' ');
        gl_buf_put_double(&b, gl_atomic_double_load(&s->value));
        gl_buf_putc(&b, '\n');
      }
    }
  }
  if (b.failed) {
    free(b.data);
    *out = NULL;
    return 0;
  }
  b.data[b.len] = '\0';
  *out = b.data;
  return b.len;
}

/* Label sets. */

static void gl_labels_put(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (*len + 1 < cap) buf[*len] = s[i];
    (*len)++;
  }
}

size_t gl_metrics_labels(char *buf, size_t cap, ...) {
  size_t len = 0;
  va_list ap;
  va_start(ap, cap);
  const char *name;
  bool first = true;
  while ((name = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    if (!value) value = "";
    if (!first) gl_labels_put(buf, cap, &len, ",", 1);
    first = false;
    gl_labels_put(buf, cap, &len, name, strlen(name));
    gl_labels_put(buf, cap, &len, "=\"", 2);
    for (const char *p = value; *p; p++) {
      if (*p == '\\')
        gl_labels_put(buf, cap, &len, "\\\\", 2);
      else if (*p == '"')
        gl_labels_put(buf, cap, &len, "\\\"", 2);
      else if (*p == '\n')
        gl_labels_put(buf, cap, &len, "\\n", 2);
      else
        gl_labels_put(buf, cap, &len, p, 1);
    }
    gl_labels_put(buf, cap, &len, "\"", 1);
  }
  va_end(ap);
  if (cap > 0) buf[len < cap ? len : cap - 1] = '\0';
  return len;
}
