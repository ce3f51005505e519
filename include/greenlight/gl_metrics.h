/* gl_metrics: counters, gauges and histograms rendered in the Prometheus
 * text exposition format (version 0.0.4).
 *
 * A metric is a family (name + help + type) with one series per label set.
 * Series are created on first use and live until gl_metrics_destroy().
 *
 * Thread locality: the registry belongs to one thread, the loop thread in
 * a greenlight program: gl_metrics_new(), gl_metrics_destroy(), the lookups
 * that create series (gl_metrics_counter(), _gauge(), _histogram()) and
 * gl_metrics_render() run there, since the lists of families and series
 * are not locked. The gl_series_* functions may be called on any thread
 * with a series looked up before: its value is a C11 atomic, so a
 * delivery-report callback on a librdkafka thread may count, and a render
 * on the loop sees each value whole. gl_metrics_labels() is pure: any
 * thread.
 *
 * Ownership: the registry copies every name, help text, label text and
 * bounds array it is given; the series it hands out are its own, valid
 * until gl_metrics_destroy(), and never freed by the caller.
 *
 * Errors: no function returns an error code. Lookups return NULL, render
 * returns 0 (see the notes below), and a NULL series is a no-op. */
#ifndef GREENLIGHT_GL_METRICS_H
#define GREENLIGHT_GL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gl_metrics gl_metrics_t;
typedef struct gl_series gl_series_t;

/* A new, empty registry (the caller's), or NULL if memory runs out. */
gl_metrics_t *gl_metrics_new(void);
/* Frees the registry and every series in it; no thread may update a series
 * any more (destroy the Kafka clients first). NULL is ignored. */
void gl_metrics_destroy(gl_metrics_t *m);

/* Returns the series of family `name` with `labels` (the text inside the
 * braces, e.g. `state="APPROVED"`, or NULL for none), creating it if needed.
 * The same name must always be used with the same help text and type. */
gl_series_t *gl_metrics_counter(gl_metrics_t *m, const char *name, const char *help,
                                const char *labels);
gl_series_t *gl_metrics_gauge(gl_metrics_t *m, const char *name, const char *help,
                              const char *labels);
/* A histogram with the given upper bounds (ascending, +Inf implied). */
gl_series_t *gl_metrics_histogram(gl_metrics_t *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t nbounds);

void gl_series_add(gl_series_t *s, double v);   /* Counter or gauge. */
void gl_series_set(gl_series_t *s, double v);   /* Gauge. */
void gl_series_observe(gl_series_t *s, double v); /* Histogram. */
double gl_series_value(const gl_series_t *s);   /* Counter/gauge value, histogram count. */

/* Renders every family into a new NUL-terminated buffer *out, which the
 * caller frees with free() (the admin port hands it to gl_http as the
 * response body); returns its length (excluding the NUL). Loop thread. */
size_t gl_metrics_render(gl_metrics_t *m, char **out);

/* Creates (first call) and sets the process_* series Prometheus client
 * libraries export, from /proc/self and getrusage(): process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds. A value
 * that cannot be read stays as it was. Loop thread, like render (the shell
 * calls it before each render of /metrics); gl_metrics_process.c. */
void gl_metrics_process(gl_metrics_t *m);

/* Notes on the calls above (additions to the original contract):
 *
 * - The labels text is copied into the exposition verbatim, so label values
 *   must already be escaped; gl_metrics_labels() builds such text. A raw
 *   newline in it is still rendered as `\n`, since it could never be valid.
 *   NULL and "" both mean "no labels".
 * - The lookup functions return NULL when the name is not a valid metric
 *   name, when the name is already used with another type (or, for a
 *   histogram, other bounds), when bounds are not ascending or contain NaN,
 *   or when memory runs out. Help text is fixed by the first call.
 * - The gl_series_* functions accept NULL (and do nothing, or return 0), so a
 *   failed lookup never crashes an update path. An update of the wrong kind
 *   (set on a counter, observe on a gauge, ...) and a negative or NaN add to
 *   a counter are ignored, so counters stay monotonic.
 * - gl_metrics_render() returns 0 and sets *out to NULL if memory runs out.
 *   Values use the shortest text that reads back to the same double, and
 *   +Inf, -Inf and NaN as Prometheus spells them. */

/* Formats a label set from NULL-terminated name/value string pairs into buf,
 * escaping `\`, `"` and newline in values:
 *
 *   gl_metrics_labels(buf, sizeof buf, "state", "APPROVED", "topic", t, NULL)
 *     -> state="APPROVED",topic="..."
 *
 * Like snprintf, returns the length the full text needs (excluding the NUL)
 * and truncates when that is >= cap; buf is always NUL-terminated if cap > 0.
 * buf is the caller's; the strings are read during the call only. Pure; any
 * thread. */
size_t gl_metrics_labels(char *buf, size_t cap, ...) __attribute__((sentinel));

#endif
