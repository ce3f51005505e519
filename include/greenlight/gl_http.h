/* gl_http: a small HTTP/1.1 server on the daemon's libuv loop, for
 * /healthz, /metrics and state queries. GET and HEAD only; one request per
 * connection read (keep-alive honoured); requests over 8 KiB are refused
 * with 431; other methods get 405. Bound to loopback by default.
 *
 * Lifecycle (libuv style): gl_http_start() binds and listens; the handler
 * runs on the loop thread for each complete request and fills a response;
 * gl_http_close() closes the listener and every connection, and calls cb
 * once all handles are closed and memory is freed.
 *
 * As in any libuv program, the process should ignore SIGPIPE: a client that
 * disconnects while a response is being written would otherwise kill it. */
#ifndef GREENLIGHT_GL_HTTP_H
#define GREENLIGHT_GL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct gl_http gl_http_t;

typedef struct gl_http_response {
  int status;               /* Default 200. */
  const char *content_type; /* Default "text/plain; charset=utf-8". Not owned; static. */
  char *body;               /* malloc'd by the handler; freed by the server. */
  size_t body_len;
} gl_http_response_t;

/* Called for each request with the path (query string included). Fill resp;
 * a handler that leaves status 0 yields 404. resp starts zeroed: status 0
 * with a body set means 200 (the default), status 0 without one means 404
 * with a default body. For HEAD the body's length is sent, not the body. */
typedef void (*gl_http_handler_fn)(void *opaque, const char *method, const char *path,
                                   gl_http_response_t *resp);

/* Starts listening on host:port (port 0 = pick a free one; see
 * gl_http_port()). host is a numeric IPv4 or IPv6 address, or "localhost"
 * for 127.0.0.1; NULL means 127.0.0.1. Returns 0 with *out set, or a
 * negative libuv error code with *out NULL and errstr written:
 *   UV_EINVAL         host is not a numeric address, or port is not in
 *                     0..65535 (also: no loop or handler)      bad setting
 *   UV_EADDRNOTAVAIL  host is not an address of this machine   bad setting
 *   UV_EAFNOSUPPORT   host's address family is off here        bad setting
 *   UV_EADDRINUSE     the port is taken: not a setting, a later start may
 *                     find it free (a daemon exits 1)
 *   anything else     (UV_EACCES, UV_EMFILE, UV_ENOMEM, ...) not a setting
 * gl_http_bad_setting() tells the first three (a daemon exits 2) from the
 * rest. Loop thread. */
int gl_http_listen(gl_http_t **out, uv_loop_t *loop, const char *host, int port,
                   gl_http_handler_fn handler, void *opaque, char *errstr, size_t errlen);
/* gl_http_listen() for a caller that needs no cause: the server or NULL. */
gl_http_t *gl_http_start(uv_loop_t *loop, const char *host, int port, gl_http_handler_fn handler,
                         void *opaque, char *errstr, size_t errlen);
/* True if err, from gl_http_listen() or gl_http_check_host(), means the
 * http.host (or http.port) setting is wrong rather than the moment bad. */
bool gl_http_bad_setting(int err);
/* For --check-config and before a start, so that both judge http.host
 * alike: parses host as gl_http_listen() does and binds a socket on port 0
 * there, then closes it (the port itself is not tried: it may be busy now
 * and free at the start). Returns 0, or a negative code for which
 * gl_http_bad_setting() holds, with errstr like
 *   config: http.host = '10.255.255.1': expected an address of this machine
 *   (bind: address not available)
 * A failure that says nothing about the host (no descriptor left, ...)
 * returns 0: the start reports it. Any thread. */
int gl_http_check_host(const char *host, char *errstr, size_t errlen);
int gl_http_port(const gl_http_t *h);

struct json_t;
/* Fills resp with body as compact JSON and status, taking the reference to
 * body; a NULL body (or one that does not encode) gives 500 and
 * {"error":"encoding failed"}. For handlers, on the loop thread. */
void gl_http_reply_json(gl_http_response_t *resp, int status, struct json_t *body);
/* cb may be NULL. After gl_http_close() the server accepts nothing more. A
 * second call before cb has run is ignored; after it, h is freed memory. */
void gl_http_close(gl_http_t *h, void (*cb)(void *arg), void *arg);

/* Limits and timeouts (additions to the original contract). A request's
 * header block, request line included, may be at most GL_HTTP_MAX_HEADER
 * bytes. A connection that sits idle (or dribbles an incomplete header) for
 * GL_HTTP_IDLE_TIMEOUT_MS is closed. A connection the server closes after a
 * response (Connection: close, an error, a request with a body) first
 * half-closes and drains the client's data for up to GL_HTTP_LINGER_MS, so
 * the response is not lost to a TCP reset. */
#define GL_HTTP_MAX_HEADER 8192
#define GL_HTTP_IDLE_TIMEOUT_MS 30000
#define GL_HTTP_LINGER_MS 2000

#endif
