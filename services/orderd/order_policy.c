/* order_policy: defaults and the `key = value` policy file. See order_policy.h. */
#include "order_policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenlight/gl_config.h"
#include "greenlight/v1/greenlight.pb-c.h"

void order_policy_default(order_policy_t *pol) {
  memset(pol, 0, sizeof *pol);
  pol->barred_end_use[GREENLIGHT__V1__END_USE__END_USE_UNSPECIFIED] = true;
  pol->barred_end_use[GREENLIGHT__V1__END_USE__END_USE_SENSITIVE_AGENCY] = true;
  pol->barred_end_use[GREENLIGHT__V1__END_USE__END_USE_CRITICAL_INFRASTRUCTURE] = true;
  pol->min_units = 1;
  pol->max_units = 1000000;
  pol->domestic_floor_bp = 0;
  pol->park_ttl_ms = 7 * ORDER_DAY_MS;
  pol->closed_retention_ms = 30 * ORDER_DAY_MS;
  pol->max_seen_event_ids = 1024;
  pol->max_parked_events = 32;
}

bool order_policy_end_use_barred(const order_policy_t *pol, int end_use) {
  /* An undeclared or unknown end use can never be checked against the
   * policy, so it is always barred. */
  if (end_use <= GREENLIGHT__V1__END_USE__END_USE_UNSPECIFIED || end_use >= ORDER_END_USE_SLOTS)
    return true;
  if (!protobuf_c_enum_descriptor_get_value(&greenlight__v1__end_use__descriptor, end_use))
    return true;
  return pol->barred_end_use[end_use];
}

/* Removes leading and trailing white space in place; returns the new start. */
static char *order_policy_trim(char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* Parses a whole decimal integer in [lo, hi]; returns 0 or -1. */
static int order_policy_int(const char *v, int64_t lo, int64_t hi, int64_t *out) {
  if (!*v) return -1;
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

/* Looks up one end-use name ("SENSITIVE_AGENCY" or "END_USE_SENSITIVE_AGENCY",
 * any letter case); returns its value or -1. */
static int order_policy_end_use(const char *name) {
  char buf[128];
  const char *prefix = "END_USE_";
  size_t n = strlen(name);
  size_t plen = strlen(prefix);
  if (n == 0 || n + plen >= sizeof buf) return -1;
  for (size_t i = 0; i <= n; i++) buf[i] = (char)toupper((unsigned char)name[i]);
  if (strncmp(buf, prefix, plen) != 0) {
    memmove(buf + plen, buf, n + 1);
    memcpy(buf, prefix, plen);
  }
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value_by_name(&greenlight__v1__end_use__descriptor, buf);
  if (!ev || ev->value < 0 || ev->value >= ORDER_END_USE_SLOTS) return -1;
  return ev->value;
}

/* Lists the known end-use names into buf, for error messages. */
static void order_policy_end_use_names(char *buf, size_t len) {
  const ProtobufCEnumDescriptor *d = &greenlight__v1__end_use__descriptor;
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < d->n_values && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", d->values[i].name);
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* Applies one end-use list to pol; on error writes the bad name to bad. */
static int order_policy_barred(order_policy_t *pol, char *value, char *bad, size_t badlen) {
  bool barred[ORDER_END_USE_SLOTS] = {false};
  barred[GREENLIGHT__V1__END_USE__END_USE_UNSPECIFIED] = true;
  char *save = NULL;
  for (char *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *name = order_policy_trim(tok);
    if (!*name) continue;
    int v = order_policy_end_use(name);
    if (v < 0) {
      snprintf(bad, badlen, "%s", name);
      return -1;
    }
    barred[v] = true;
  }
  memcpy(pol->barred_end_use, barred, sizeof barred);
  return 0;
}

/* The keys of the file, with the range of each numeric one. */
typedef struct order_policy_key {
  const char *name;
  int64_t lo, hi;
} order_policy_key_t;

static const order_policy_key_t order_policy_keys[] = {
    {"barred_end_uses", 0, 0},
    {"min_units", 1, INT64_MAX},
    {"max_units", 1, INT64_MAX},
    {"domestic_floor_bp", 0, 1000000},
    {"park_ttl_ms", 1, 3650 * ORDER_DAY_MS},
    {"closed_retention_ms", 0, 3650 * ORDER_DAY_MS},
    {"max_seen_event_ids", 1, ORDER_SEEN_LIMIT},
    {"max_parked_events", 1, ORDER_PARKED_LIMIT},
};
#define ORDER_POLICY_NKEYS (sizeof order_policy_keys / sizeof order_policy_keys[0])

/* Stores the value x of the numeric key. */
static void order_policy_store(order_policy_t *pol, const char *key, int64_t x) {
  if (strcmp(key, "min_units") == 0) pol->min_units = x;
  else if (strcmp(key, "max_units") == 0) pol->max_units = x;
  else if (strcmp(key, "domestic_floor_bp") == 0) pol->domestic_floor_bp = x;
  else if (strcmp(key, "park_ttl_ms") == 0) pol->park_ttl_ms = x;
  else if (strcmp(key, "closed_retention_ms") == 0) pol->closed_retention_ms = x;
  else if (strcmp(key, "max_seen_event_ids") == 0) pol->max_seen_event_ids = (uint32_t)x;
  else pol->max_parked_events = (uint32_t)x;
}

/* Applies one line (NUL-terminated, without its newline) to *pol; returns 0
 * or -1 with errstr naming path:lineno, the key, the value and what was
 * expected. */
static int order_policy_line(order_policy_t *pol, char *line, const char *path, unsigned lineno,
                             bool *seen, char *errstr, size_t errlen) {
  char *hash = strchr(line, '#');
  if (hash) *hash = '\0';
  char *text = order_policy_trim(line);
  if (!*text) return 0;
  char *eq = strchr(text, '=');
  if (!eq) {
    snprintf(errstr, errlen, "%s:%u: expected `key = value`, got '%s'", path, lineno, text);
    return -1;
  }
  *eq = '\0';
  char *key = order_policy_trim(text);
  char *value = order_policy_trim(eq + 1);
  size_t k = 0;
  while (k < ORDER_POLICY_NKEYS && strcmp(order_policy_keys[k].name, key) != 0) k++;
  if (k == ORDER_POLICY_NKEYS) {
    snprintf(errstr, errlen,
             "%s:%u: unknown key '%s' (value '%s'); expected one of barred_end_uses, min_units, "
             "max_units, domestic_floor_bp, park_ttl_ms, closed_retention_ms, "
             "max_seen_event_ids, max_parked_events",
             path, lineno, key, value);
    return -1;
  }
  if (seen[k]) {
    snprintf(errstr, errlen, "%s:%u: key '%s' (value '%s') is set twice; expected it once", path,
             lineno, key, value);
    return -1;
  }
  seen[k] = true;
  const order_policy_key_t *spec = &order_policy_keys[k];
  if (k == 0) {
    char bad[128];
    if (order_policy_barred(pol, value, bad, sizeof bad) == 0) return 0;
    char names[512];
    order_policy_end_use_names(names, sizeof names);
    snprintf(errstr, errlen,
             "%s:%u: key 'barred_end_uses': value '%s' is not an end use; expected a comma "
             "list of %s (END_USE_ prefix optional)",
             path, lineno, bad, names);
    return -1;
  }
  int64_t x = 0;
  if (order_policy_int(value, spec->lo, spec->hi, &x) < 0) {
    snprintf(errstr, errlen, "%s:%u: key '%s': value '%s' is not valid; expected an integer in "
             "[%lld, %lld]", path, lineno, key, value, (long long)spec->lo, (long long)spec->hi);
    return -1;
  }
  order_policy_store(pol, key, x);
  return 0;
}

/* Parses the file's text buf[0, len) into *pol; returns 0 or -1 with errstr. */
static int order_policy_parse(order_policy_t *pol, char *buf, size_t len, const char *path,
                              char *errstr, size_t errlen) {
  size_t nul = gl_conf_nul_line(buf, len);
  if (nul) {
    snprintf(errstr, errlen, "%s:%zu: contains a NUL byte", path, nul);
    return -1;
  }
  bool seen[ORDER_POLICY_NKEYS] = {false};
  unsigned lineno = 0;
  char *end = buf + len;
  for (char *line = buf, *next; line < end; line = next) {
    char *nl = memchr(line, '\n', (size_t)(end - line));
    next = nl ? nl + 1 : end;
    if (nl) *nl = '\0';
    if (order_policy_line(pol, line, path, ++lineno, seen, errstr, errlen) < 0) return -1;
  }
  if (pol->max_units < pol->min_units) {
    snprintf(errstr, errlen, "%s: max_units %lld is below min_units %lld; expected max >= min",
             path, (long long)pol->max_units, (long long)pol->min_units);
    return -1;
  }
  return 0;
}

int order_policy_load(order_policy_t *pol, const char *path, char *errstr, size_t errlen) {
  char *buf = NULL;
  size_t len = 0;
  if (gl_conf_read_file(path, ORDER_POLICY_FILE_MAX, &buf, &len, errstr, errlen) < 0) return -1;
  order_policy_t tmp;
  order_policy_default(&tmp);
  int rc = order_policy_parse(&tmp, buf, len, path, errstr, errlen);
  free(buf);
  if (rc == 0) *pol = tmp;
  return rc;
}
