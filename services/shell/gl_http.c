/* gl_http: a small HTTP/1.1 server on a libuv loop. See include/greenlight/gl_http.h.
 *
 * Each connection owns a fixed GL_HTTP_MAX_HEADER-byte buffer that the
 * request's header block is read into. Once "\r\n\r\n" is in the buffer the
 * header block is parsed in place, the handler runs, and the response is
 * written; reading stops while a response is being written, so pipelined
 * requests are answered one at a time and in order, and a client that does
 * not read its responses cannot make the server queue unbounded output.
 * Bytes after the header block stay in the buffer for the next request.
 *
 * A connection has two handles, its TCP stream and a timer (idle timeout, or
 * the linger deadline once the server has decided to close). It is freed
 * when both have closed. The server is freed, and the gl_http_close()
 * callback called, once the listener and every connection have closed.
 *
 * Request bodies are never read: GET and HEAD requests do not carry one, and
 * a request that announces one (Content-Length > 0 or Transfer-Encoding) is
 * answered and the connection then closed, rather than risk reading the body
 * as the next request. */
#include "greenlight/gl_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

enum { GL_HTTP_BACKLOG = 128 };

static const char gl_http_default_type[] = "text/plain; charset=utf-8";

typedef struct gl_http_conn gl_http_conn_t;

struct gl_http {
  uv_loop_t *loop;
  uv_tcp_t listener;
  gl_http_handler_fn handler;
  void *opaque;
  int port;
  bool closing;
  bool listener_closed;
  gl_http_conn_t *conns; /* Every connection not yet freed. */
  void (*close_cb)(void *arg);
  void *close_arg;
};

struct gl_http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  gl_http_t *server;
  gl_http_conn_t *prev;
  gl_http_conn_t *next;
  int open_handles;       /* Handles whose close callback has not run yet. */
  bool reading;           /* uv_read_start() is in effect. */
  bool writing;           /* A response write is in flight. */
  bool close_after_write; /* The response in flight is the last one. */
  bool lingering;         /* Half-closed; draining the client's data. */
  bool closing;           /* uv_close() has been called on both handles. */
  char *body;             /* The handler's body for the write in flight. */
  size_t len;             /* Bytes buffered in buf. */
  size_t scanned;         /* Prefix of buf known not to hold "\r\n\r\n". */
  char head[1536];        /* Status line and headers of the response. */
  char buf[GL_HTTP_MAX_HEADER];
};

/* A parsed request line and the headers this server cares about. method and
 * path point into the connection buffer, NUL-terminated in place. */
typedef struct gl_http_request {
  const char *method;
  const char *path;
  int minor;             /* HTTP/1.<minor>. */
  bool conn_close;       /* Connection: close. */
  bool conn_keep_alive;  /* Connection: keep-alive. */
  bool has_body;         /* Content-Length > 0 or Transfer-Encoding. */
} gl_http_request_t;

static const struct {
  int status;
  const char *reason;
  const char *body; /* Sent when the server itself produces the status. */
} gl_http_statuses[] = {
    {200, "OK", NULL},
    {201, "Created", NULL},
    {202, "Accepted", NULL},
    {204, "No Content", NULL},
    {301, "Moved Permanently", NULL},
    {302, "Found", NULL},
    {304, "Not Modified", NULL},
    {400, "Bad Request", "bad request\n"},
    {401, "Unauthorized", NULL},
    {403, "Forbidden", NULL},
    {404, "Not Found", "not found\n"},
    {405, "Method Not Allowed", "method not allowed\n"},
    {409, "Conflict", NULL},
    {421, "Misdirected Request", NULL},
    {429, "Too Many Requests", NULL},
    {431, "Request Header Fields Too Large", "request header fields too large\n"},
    {500, "Internal Server Error", "internal server error\n"},
    {501, "Not Implemented", NULL},
    {503, "Service Unavailable", NULL},
    {505, "HTTP Version Not Supported", "http version not supported\n"},
};

static const char *gl_http_reason(int status) {
  for (size_t i = 0; i < sizeof gl_http_statuses / sizeof gl_http_statuses[0]; i++) {
    if (gl_http_statuses[i].status == status) return gl_http_statuses[i].reason;
  }
  return ""; /* An empty reason phrase is valid. */
}

static const char *gl_http_default_body(int status) {
  for (size_t i = 0; i < sizeof gl_http_statuses / sizeof gl_http_statuses[0]; i++) {
    if (gl_http_statuses[i].status == status) return gl_http_statuses[i].body;
  }
  return NULL;
}

static void gl_http_conn_process(gl_http_conn_t *c);

/* Teardown. */

static void gl_http_maybe_finish(gl_http_t *h) {
  if (!h->closing || !h->listener_closed || h->conns) return;
  void (*cb)(void *arg) = h->close_cb;
  void *arg = h->close_arg;
  free(h);
  if (cb) cb(arg);
}

static void gl_http_on_conn_handle_closed(uv_handle_t *handle) {
  gl_http_conn_t *c = handle->data;
  if (--c->open_handles > 0) return;
  gl_http_t *h = c->server;
  if (c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->body); /* Already freed by the write callback; kept for safety. */
  free(c);
  gl_http_maybe_finish(h);
}

static void gl_http_conn_close(gl_http_conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, gl_http_on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, gl_http_on_conn_handle_closed);
}

static void gl_http_on_listener_closed(uv_handle_t *handle) {
  gl_http_t *h = handle->data;
  h->listener_closed = true;
  gl_http_maybe_finish(h);
}

/* Frees a server whose listener handle was initialized but never listened. */
static void gl_http_on_failed_start_closed(uv_handle_t *handle) { free(handle->data); }

void gl_http_close(gl_http_t *h, void (*cb)(void *arg), void *arg) {
  if (!h || h->closing) return;
  h->closing = true;
  h->close_cb = cb;
  h->close_arg = arg;
  uv_close((uv_handle_t *)&h->listener, gl_http_on_listener_closed);
  /* Closing does not unlink: that happens in the close callbacks. */
  for (gl_http_conn_t *c = h->conns; c; c = c->next) gl_http_conn_close(c);
}

/* Reading. */

static void gl_http_on_timeout(uv_timer_t *timer) { gl_http_conn_close(timer->data); }

static void gl_http_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  gl_http_conn_t *c = handle->data;
  if (c->lingering) {
    *buf = uv_buf_init(c->buf, sizeof c->buf); /* Drained data is dropped. */
  } else {
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
  }
}

static void gl_http_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  gl_http_conn_t *c = stream->data;
  if (nread == 0) return; /* EAGAIN. */
  if (nread < 0) {        /* EOF or an error, both final. */
    gl_http_conn_close(c);
    return;
  }
  if (c->lingering) return;
  c->len += (size_t)nread;
  gl_http_conn_process(c);
}

static void gl_http_conn_read_start(gl_http_conn_t *c) {
  if (c->reading) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, gl_http_on_alloc, gl_http_on_read) < 0) {
    gl_http_conn_close(c);
    return;
  }
  c->reading = true;
}

static void gl_http_conn_read_stop(gl_http_conn_t *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
}

/* Closing gracefully: half-close, then drain until the client closes too or
 * the linger deadline passes. Closing with unread data would send a reset,
 * which can destroy the response before the client reads it. */

static void gl_http_on_shutdown(uv_shutdown_t *req, int status) {
  if (status < 0) gl_http_conn_close(req->handle->data); /* Includes UV_ECANCELED. */
}

static void gl_http_conn_linger(gl_http_conn_t *c) {
  c->lingering = true;
  c->len = 0;
  uv_timer_start(&c->timer, gl_http_on_timeout, GL_HTTP_LINGER_MS, 0);
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, gl_http_on_shutdown) < 0) {
    gl_http_conn_close(c);
    return;
  }
  gl_http_conn_read_start(c);
}

/* Writing. */

static void gl_http_on_write(uv_write_t *req, int status) {
  gl_http_conn_t *c = req->handle->data;
  free(c->body);
  c->body = NULL;
  c->writing = false;
  if (status < 0 || c->closing) {
    gl_http_conn_close(c);
    return;
  }
  if (c->close_after_write) {
    gl_http_conn_linger(c);
    return;
  }
  uv_timer_start(&c->timer, gl_http_on_timeout, GL_HTTP_IDLE_TIMEOUT_MS, 0);
  gl_http_conn_process(c); /* A pipelined request may already be buffered. */
}

typedef struct gl_http_reply {
  int status;
  const char *content_type;
  const char *data; /* What to send as the body (owned or static). */
  size_t len;
  char *owned;      /* Freed once written; may equal data. */
  bool head_only;   /* HEAD: send the length, not the body. */
  bool keep_alive;
  bool http10;      /* HTTP/1.0 keep-alive must be announced. */
  bool allow;       /* Send "Allow: GET, HEAD". */
  const char *location; /* A Location header; NULL or "" = none. */
} gl_http_reply_t;

static void gl_http_conn_send(gl_http_conn_t *c, const gl_http_reply_t *r) {
  const char *type = r->content_type;
  if (!type || strpbrk(type, "\r\n")) type = gl_http_default_type;
  const char *connection = "";
  if (!r->keep_alive)
    connection = "Connection: close\r\n";
  else if (r->http10)
    connection = "Connection: keep-alive\r\n";
  const char *loc = r->location && *r->location && !strpbrk(r->location, "\r\n") ? r->location : "";
  int n = snprintf(c->head, sizeof c->head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s\r\n",
                   r->status, gl_http_reason(r->status), type, r->len,
                   r->allow ? "Allow: GET, HEAD\r\n" : "", *loc ? "Location: " : "", loc,
                   *loc ? "\r\n" : "", connection);
  if (n < 0 || (size_t)n >= sizeof c->head) { /* A huge content type or location gets here. */
    n = snprintf(c->head, sizeof c->head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                 r->status, gl_http_reason(r->status), gl_http_default_type, r->len,
                 r->allow ? "Allow: GET, HEAD\r\n" : "", connection);
  }
  uv_buf_t bufs[2] = {
      uv_buf_init(c->head, (unsigned)n),
      uv_buf_init((char *)r->data, (unsigned)r->len),
  };
  unsigned nbufs = (!r->head_only && r->len > 0) ? 2 : 1;
  c->body = r->owned;
  c->writing = true;
  c->close_after_write = !r->keep_alive;
  gl_http_conn_read_stop(c);
  if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, nbufs, gl_http_on_write) < 0) {
    free(c->body);
    c->body = NULL;
    c->writing = false;
    gl_http_conn_close(c);
  }
}

/* Sends a response the server makes itself and then closes the connection. */
static void gl_http_conn_send_error(gl_http_conn_t *c, int status) {
  const char *body = gl_http_default_body(status);
  gl_http_reply_t r = {.status = status, .data = body, .len = body ? strlen(body) : 0};
  gl_http_conn_send(c, &r);
}

/* Parsing. */

static bool gl_http_is_tchar(unsigned char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
    return true;
  return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool gl_http_is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* Case-insensitively finds `token` in a comma-separated header value. */
static bool gl_http_has_token(const char *v, size_t n, const char *token) {
  size_t tlen = strlen(token);
  size_t i = 0;
  while (i < n) {
    while (i < n && (gl_http_is_ows(v[i]) || v[i] == ',')) i++;
    size_t start = i;
    while (i < n && v[i] != ',') i++;
    size_t end = i;
    while (end > start && gl_http_is_ows(v[end - 1])) end--;
    if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0) return true;
  }
  return false;
}

/* Parses the header block buf[0, n), which ends in "\r\n\r\n". Returns 0 or
 * the error status to answer with. */
static int gl_http_parse(char *buf, size_t n, gl_http_request_t *req) {
  memset(req, 0, sizeof *req);
  char *end = buf + n;

  /* Request line: method SP request-target SP HTTP/d.d CRLF. */
  char *p = buf;
  char *method = p;
  while (p < end && gl_http_is_tchar((unsigned char)*p)) p++;
  if (p == method || p >= end || *p != ' ') return 400;
  *p++ = '\0';
  char *path = p;
  while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f) p++;
  if (p == path || p >= end || *p != ' ') return 400;
  *p++ = '\0';
  if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0) return 400;
  char major = p[5], minor = p[7];
  if (major < '0' || major > '9' || p[6] != '.' || minor < '0' || minor > '9') return 400;
  if (p[8] != '\r' || p[9] != '\n') return 400;
  p += 10;
  if (major != '1') return 505;
  if (path[0] != '/') return 400;
  req->method = method;
  req->path = path;
  req->minor = minor - '0';

  /* Header fields: name ":" OWS value OWS CRLF, until the empty line. */
  while (!(p[0] == '\r' && p[1] == '\n')) {
    char *name = p;
    while (p < end && gl_http_is_tchar((unsigned char)*p)) p++;
    if (p == name || p >= end || *p != ':') return 400; /* Also rejects obs-fold. */
    size_t name_len = (size_t)(p - name);
    p++;
    while (p < end && gl_http_is_ows(*p)) p++;
    char *value = p;
    while (p < end && *p != '\r') {
      unsigned char ch = (unsigned char)*p;
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 400;
      p++;
    }
    if (end - p < 2 || p[1] != '\n') return 400; /* A bare CR. */
    char *value_end = p;
    while (value_end > value && gl_http_is_ows(value_end[-1])) value_end--;
    size_t value_len = (size_t)(value_end - value);
    p += 2;

    if (name_len == 10 && strncasecmp(name, "Connection", 10) == 0) {
      if (gl_http_has_token(value, value_len, "close")) req->conn_close = true;
      if (gl_http_has_token(value, value_len, "keep-alive")) req->conn_keep_alive = true;
    } else if (name_len == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
      if (value_len == 0) return 400;
      for (size_t i = 0; i < value_len; i++) {
        if (value[i] < '0' || value[i] > '9') return 400;
        if (value[i] != '0') req->has_body = true;
      }
    } else if (name_len == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
      req->has_body = true;
    }
  }
  return 0;
}

/* Returns the length of the header block including "\r\n\r\n", or 0 if it is
 * not complete yet. */
static size_t gl_http_find_header_end(gl_http_conn_t *c) {
  size_t i = c->scanned >= 3 ? c->scanned - 3 : 0;
  for (; i + 4 <= c->len; i++) {
    if (c->buf[i] == '\r' && c->buf[i + 1] == '\n' && c->buf[i + 2] == '\r' &&
        c->buf[i + 3] == '\n')
      return i + 4;
  }
  c->scanned = c->len;
  return 0;
}

static void gl_http_conn_handle(gl_http_conn_t *c, size_t header_len) {
  gl_http_t *h = c->server;
  gl_http_request_t req;
  int err = gl_http_parse(c->buf, header_len, &req);
  gl_http_reply_t r = {0};

  if (err) {
    gl_http_conn_send_error(c, err);
    return; /* The connection closes; the buffer is not needed again. */
  }
  bool keep_alive = req.minor >= 1 ? !req.conn_close : (req.conn_keep_alive && !req.conn_close);
  if (req.has_body) keep_alive = false;
  r.keep_alive = keep_alive;
  r.http10 = req.minor == 0;

  gl_http_response_t resp = {0}; /* Lives until the reply is sent (its location). */
  bool is_get = strcmp(req.method, "GET") == 0;
  bool is_head = strcmp(req.method, "HEAD") == 0;
  if (!is_get && !is_head) {
    r.status = 405;
    r.allow = true;
    r.data = gl_http_default_body(405);
    r.len = strlen(r.data);
  } else {
    h->handler(h->opaque, req.method, req.path, &resp);
    if (c->closing) { /* The handler closed the server. */
      free(resp.body);
      return;
    }
    r.status = resp.status;
    r.content_type = resp.content_type;
    r.location = resp.location;
    r.owned = resp.body;
    r.data = resp.body;
    r.len = resp.body ? resp.body_len : 0;
    if (r.status == 0) r.status = resp.body ? 200 : 404;
    if (r.status < 200 || r.status > 599) {
      free(r.owned);
      r.owned = NULL;
      r.status = 500;
      r.content_type = NULL;
      r.data = NULL;
    }
    if (!r.data && gl_http_default_body(r.status)) {
      r.data = gl_http_default_body(r.status);
      r.len = strlen(r.data);
    }
    r.head_only = is_head;
  }

  /* Keep what follows the header block: it is the next pipelined request. */
  memmove(c->buf, c->buf + header_len, c->len - header_len);
  c->len -= header_len;
  c->scanned = 0;
  gl_http_conn_send(c, &r);
}

static void gl_http_conn_process(gl_http_conn_t *c) {
  if (c->closing || c->writing || c->lingering) return;
  /* Empty lines before a request line are ignored (RFC 9112, 2.2). */
  size_t skip = 0;
  while (skip + 2 <= c->len && c->buf[skip] == '\r' && c->buf[skip + 1] == '\n') skip += 2;
  if (skip > 0) {
    memmove(c->buf, c->buf + skip, c->len - skip);
    c->len -= skip;
    c->scanned = 0;
  }
  size_t header_len = gl_http_find_header_end(c);
  if (header_len > 0) {
    gl_http_conn_handle(c, header_len);
  } else if (c->len >= sizeof c->buf) {
    gl_http_conn_send_error(c, 431);
  } else {
    gl_http_conn_read_start(c);
  }
}

/* Accepting. */

static void gl_http_on_connection(uv_stream_t *listener, int status) {
  gl_http_t *h = listener->data;
  if (status < 0 || h->closing) return;
  gl_http_conn_t *c = calloc(1, sizeof *c);
  if (!c) return; /* Out of memory: the connection waits in the backlog. */
  c->server = h;
  uv_tcp_init(h->loop, &c->tcp);
  uv_timer_init(h->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = h->conns;
  if (h->conns) h->conns->prev = c;
  h->conns = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
    gl_http_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_start(&c->timer, gl_http_on_timeout, GL_HTTP_IDLE_TIMEOUT_MS, 0);
  gl_http_conn_read_start(c);
}

/* Starting. */

/* Parses host (a numeric IPv4 or IPv6 address, or "localhost" for
 * 127.0.0.1) and port into addr. Returns 0 or UV_EINVAL. */
static int gl_http_addr(const char *host, int port, struct sockaddr_storage *addr,
                        socklen_t *addrlen) {
  memset(addr, 0, sizeof *addr);
  if (port < 0 || port > 65535) return UV_EINVAL;
  const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)addr) == 0) {
    *addrlen = sizeof(struct sockaddr_in);
    return 0;
  }
  if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)addr) == 0) {
    *addrlen = sizeof(struct sockaddr_in6);
    return 0;
  }
  return UV_EINVAL;
}

/* Creates a socket bound to addr, listening if backlog > 0. Returns the
 * descriptor, or a negative libuv error code with *step naming the call
 * that failed. */
static int gl_http_bind(const struct sockaddr_storage *addr, socklen_t addrlen, int backlog,
                        const char **step) {
  *step = "socket";
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *step = "bind";
  int rc = bind(fd, (const struct sockaddr *)addr, addrlen);
  if (rc == 0 && backlog > 0) {
    *step = "listen";
    rc = listen(fd, backlog);
  }
  if (rc < 0) {
    int err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  return fd;
}

/* The GL_E* code of a libuv error from parsing or binding the address: the
 * three that say http.host (or http.port) is wrong are a setting; out of
 * memory is itself; the rest (a port in use, no descriptor left, ...) say
 * the moment is bad, not the setting. */
static int gl_http_code(int uverr) {
  if (uverr == UV_EINVAL || uverr == UV_EADDRNOTAVAIL || uverr == UV_EAFNOSUPPORT)
    return GL_ECONFIG;
  return uverr == UV_ENOMEM ? GL_ENOMEM : GL_EIO;
}

int gl_http_check_host(const char *host, char *errstr, size_t errlen) {
  if (!host) host = "127.0.0.1";
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int rc = gl_http_addr(host, 0, &addr, &addrlen);
  const char *step = NULL;
  if (rc == 0) {
    rc = gl_http_bind(&addr, addrlen, 0, &step);
    if (rc >= 0) close(rc);
  }
  if (rc >= 0 || gl_http_code(rc) != GL_ECONFIG) return GL_OK; /* The start reports the rest. */
  if (errstr && errlen > 0) {
    char why[128];
    if (step)
      snprintf(why, sizeof why, "%s: %s", step, uv_strerror(rc));
    else
      snprintf(why, sizeof why, "not a numeric IP address or localhost");
    snprintf(errstr, errlen, "config: http.host = '%s': expected an address of this machine (%s)",
             host, why);
  }
  return GL_ECONFIG;
}

static void gl_http_err(char *errstr, size_t errlen, const char *host, int port, const char *step,
                        const char *why) {
  if (errstr && errlen > 0)
    snprintf(errstr, errlen, "http %s:%d: %s%s%s", host, port, step ? step : "", step ? ": " : "",
             why);
}

/* Makes the server of a bound, listening fd (owned from here on). */
static int gl_http_open(gl_http_t **out, uv_loop_t *loop, int fd, gl_http_handler_fn handler,
                        void *opaque) {
  struct sockaddr_storage bound;
  socklen_t boundlen = sizeof bound;
  gl_http_t *h = NULL;
  int err = 0;
  if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) < 0)
    err = uv_translate_sys_error(errno);
  else if (!(h = calloc(1, sizeof *h)))
    err = UV_ENOMEM;
  if (err < 0) {
    close(fd);
    return err;
  }
  h->loop = loop;
  h->handler = handler;
  h->opaque = opaque;
  h->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  int r = uv_tcp_open(&h->listener, fd);
  if (r < 0) {
    close(fd);
  } else {
    r = uv_listen((uv_stream_t *)&h->listener, GL_HTTP_BACKLOG, gl_http_on_connection);
  }
  if (r < 0) {
    /* Rare: the handle exists, so its memory is freed by the loop. */
    uv_close((uv_handle_t *)&h->listener, gl_http_on_failed_start_closed);
    return r;
  }
  *out = h;
  return 0;
}

int gl_http_listen(gl_http_t **out, uv_loop_t *loop, const char *host, int port,
                   gl_http_handler_fn handler, void *opaque, char *errstr, size_t errlen) {
  *out = NULL;
  if (!host) host = "127.0.0.1";
  if (!loop || !handler) {
    gl_http_err(errstr, errlen, host, port, NULL, "no loop or handler");
    return GL_EINVAL; /* The program's mistake, not the operator's. */
  }
  struct sockaddr_storage addr;
  socklen_t addrlen;
  if (gl_http_addr(host, port, &addr, &addrlen) < 0) {
    gl_http_err(errstr, errlen, host, port, NULL,
                port < 0 || port > 65535 ? "invalid port" : "not a numeric IP address");
    return GL_ECONFIG;
  }
  /* The socket is bound and listening before any libuv handle exists, so
   * the common failures (address in use, permission) are reported without
   * leaving a handle whose memory only a later loop iteration could free. */
  const char *step = NULL;
  int fd = gl_http_bind(&addr, addrlen, GL_HTTP_BACKLOG, &step);
  if (fd < 0) {
    gl_http_err(errstr, errlen, host, port, step, uv_strerror(fd));
    return gl_http_code(fd);
  }
  int rc = gl_http_open(out, loop, fd, handler, opaque);
  if (rc < 0) {
    gl_http_err(errstr, errlen, host, port, "listen", uv_strerror(rc));
    /* The address was bound already: whatever failed now is not the setting. */
    return rc == UV_ENOMEM ? GL_ENOMEM : GL_EIO;
  }
  return GL_OK;
}

int gl_http_port(const gl_http_t *h) { return h ? h->port : -1; }

void gl_http_reply_json(gl_http_response_t *r, int status, json_t *body) {
  r->content_type = "application/json";
  const char *loc = json_string_value(json_object_get(body, "location"));
  if (loc && strlen(loc) < sizeof r->location) snprintf(r->location, sizeof r->location, "%s", loc);
  r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  r->status = r->body ? status : 500;
  if (!r->body) r->location[0] = '\0';
  if (!r->body) r->body = strdup("{\"error\":\"encoding failed\"}");
  if (!r->body) abort();
  r->body_len = strlen(r->body);
}

int gl_http_path_key(const char *raw, char *out, size_t cap) {
  size_t n = strcspn(raw, "?#"), o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)raw[i];
    if (c == '%') {
      if (i + 2 >= n) return -1; /* Cut short. */
      if (!isxdigit((unsigned char)raw[i + 1]) || !isxdigit((unsigned char)raw[i + 2])) return -1;
      char hex[3] = {raw[i + 1], raw[i + 2], 0};
      c = (int)strtol(hex, NULL, 16);
      if (c == 0) return -1;
      i += 2;
    }
    if (o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  if (o == 0) return -1;
  out[o] = '\0';
  return 0;
}
