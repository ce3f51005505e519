/* gl_http: a small HTTP/1.1 server on the daemon's libuv loop, for
 * /healthz, /metrics and state queries. GET and HEAD only; one request per
 * connection read (keep-alive honoured); requests over 8 KiB are refused
 * with 431; other methods get 405. Bound to loopback by default.
 *
 * Lifecycle (libuv style): gl_http_listen() binds and
 * listens; the handler runs on the loop thread for each complete request
 * and fills a response; gl_http_close() closes the listener and every
 * connection, and calls cb once all handles are closed and memory is freed.
 *
 * Errors (gl_error.h): GL_OK, or GL_ECONFIG when http.host or http.port is
 * wrong (a setting: exit 2), GL_EIO when the operating system refused at
 * this moment (a port in use, no descriptor left: exit 1, a later start may
 * succeed), GL_ENOMEM, and GL_EINVAL for a program's own mistake (no loop
 * or no handler); errstr says which address and why.
 *
 * Thread locality: the server belongs to the thread that runs its loop.
 * gl_http_listen() and gl_http_close() are called there,
 * and the handler is called there; gl_http_reply_json() is for handlers.
 * gl_http_check_host() touches no loop and may be called on any thread.
 *
 * Ownership: the server copies nothing it is given and keeps only loop,
 * handler and opaque, which must outlive it (until the close callback);
 * host is read during the call only. Strings the handler gets (method,
 * path) point into the connection's buffer and are valid during the call
 * only. The response body the handler sets is malloc'd by it and freed by
 * the server; content_type is static and never freed.
 *
 * As in any libuv program, the process should ignore SIGPIPE: a client that
 * disconnects while a response is being written would otherwise kill it. */
#ifndef GREENLIGHT_GL_HTTP_H
#define GREENLIGHT_GL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "greenlight/gl_error.h"

typedef struct gl_http gl_http_t;

typedef struct gl_http_response {
  int status;               /* Default 200. */
  const char *content_type; /* Default "text/plain; charset=utf-8". Not owned; static. */
  char *body;               /* malloc'd by the handler; freed by the server. */
  size_t body_len;
  char location[1024];      /* A Location header when not empty (gl_http_reply_json sets it). */
} gl_http_response_t;

/* Called for each request with the path (query string included). Fill resp;
 * a handler that leaves status 0 yields 404. resp starts zeroed: status 0
 * with a body set means 200 (the default), status 0 without one means 404
 * with a default body. For HEAD the body's length is sent, not the body. */
typedef void (*gl_http_handler_fn)(void *opaque, const char *method, const char *path,
                                   gl_http_response_t *resp);

/* Starts listening on host:port (port 0 = pick a free one; see
 * gl_http_port()). host is a numeric IPv4 or IPv6 address, or "localhost"
 * for 127.0.0.1; NULL means 127.0.0.1. Returns GL_OK with *out set (the
 * caller owns the server until gl_http_close()), or, with *out NULL and
 * errstr written ("http HOST:PORT: STEP: WHY"):
 *   GL_ECONFIG  host is not a numeric address, not an address of this
 *               machine, or of an address family that is off here; or
 *               port is not in 0..65535                  (a daemon exits 2)
 *   GL_EIO      the port is taken, or no descriptor is left, ...: not a
 *               setting, a later start may succeed        (a daemon exits 1)
 *   GL_ENOMEM   out of memory
 *   GL_EINVAL   loop or handler is NULL (the program's mistake)
 * Loop thread. */
int gl_http_listen(gl_http_t **out, uv_loop_t *loop, const char *host, int port,
                   gl_http_handler_fn handler, void *opaque, char *errstr, size_t errlen);
/* For --check-config and before a start, so that both judge http.host
 * alike: parses host as gl_http_listen() does and binds a socket on port 0
 * there, then closes it (the port itself is not tried: it may be busy now
 * and free at the start). Returns GL_OK, or GL_ECONFIG with errstr like
 *   config: http.host = '10.255.255.1': expected an address of this machine
 *   (bind: address not available)
 * A failure that says nothing about the host (no descriptor left, ...)
 * returns GL_OK: the start reports it. Any thread. */
int gl_http_check_host(const char *host, char *errstr, size_t errlen);
/* The key a path segment names, as a handler of /things/{id} reads it:
 * raw up to a '?' or '#' (a query string is ignored), %XX escapes decoded.
 * Returns 0 with out set, or -1 for an empty key, a bad escape, %00, or a
 * key of cap bytes or more. Pure; any thread. */
int gl_http_path_key(const char *raw, char *out, size_t cap);

/* The bound port (the one picked for port 0), or -1 for a NULL server. */
int gl_http_port(const gl_http_t *h);

struct json_t;
/* Fills resp with body as compact JSON and status, taking the reference to
 * body; a NULL body (or one that does not encode) gives 500 and
 * {"error":"encoding failed"}. A body with a string "location" (where the
 * answer is: a 421 naming the owner) also gives a Location header. For
 * handlers, on the loop thread. */
void gl_http_reply_json(gl_http_response_t *resp, int status, struct json_t *body);
/* cb may be NULL; it runs on the loop thread once every handle has closed
 * and h is freed. After gl_http_close() the server accepts nothing more. A
 * second call before cb has run is ignored; after it, h is freed memory.
 * Loop thread; a NULL h is ignored. */
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
