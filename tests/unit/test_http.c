/* Unit tests for gl_http.
 *
 * Each test runs the server on a fresh uv loop on the test thread and a
 * client with plain blocking sockets on a second thread. The client records
 * what it saw and signals the loop through a uv_async_t; the loop then calls
 * gl_http_close() and uv_run() returns once every handle has closed. The
 * assertions run on the test thread after the client has been joined.
 * Nothing sleeps: every blocking socket call has a 5 s timeout, and a 10 s
 * watchdog timer on the loop closes the server if the client stalls. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "greenlight/gl_http.h"

enum { MAX_RESPONSES = 4, MAX_CONNS = 3 };

typedef struct response {
  int status;
  char headers[1024]; /* The header block after the status line. */
  char body[256];
  size_t body_len;
} response_t;

typedef struct fixture fixture_t;

struct fixture {
  uv_loop_t loop;
  gl_http_t *http;
  int port;
  uv_async_t done;
  uv_timer_t watchdog;
  pthread_t client;
  void (*client_fn)(fixture_t *fx);
  bool http_closing;
  int http_closed; /* gl_http_close() callback calls. */
  bool timed_out;
  int handler_calls;
  char last_method[16];
  char last_path[64];
  /* Client results, written by the client thread before it signals. */
  response_t resp[MAX_RESPONSES];
  int nresp;  /* Responses read successfully. */
  bool eof[MAX_CONNS]; /* The server closed connection i. */
  bool client_error;
  bool signalled; /* Client thread only: fx->done was sent. */
};

/* Server side (loop thread). */

/* gl_http_listen() for a test that needs no cause: the server or NULL. */
static gl_http_t *http_start(uv_loop_t *loop, const char *host, int port,
                             gl_http_handler_fn handler, void *opaque, char *err, size_t errlen) {
  gl_http_t *h = NULL;
  gl_http_listen(&h, loop, host, port, handler, opaque, err, errlen);
  return h;
}

static void close_http(fixture_t *fx);

static char *dup_body(const char *s, size_t *len) {
  *len = strlen(s);
  char *b = malloc(*len);
  memcpy(b, s, *len);
  return b;
}

static void handler(void *opaque, const char *method, const char *path, gl_http_response_t *resp) {
  fixture_t *fx = opaque;
  fx->handler_calls++;
  snprintf(fx->last_method, sizeof fx->last_method, "%s", method);
  snprintf(fx->last_path, sizeof fx->last_path, "%s", path);
  if (strcmp(path, "/hello") == 0) {
    resp->body = dup_body("hello\n", &resp->body_len);
  } else if (strncmp(path, "/json", 5) == 0) {
    resp->status = 201;
    resp->content_type = "application/json";
    resp->body = dup_body("{\"ok\":true}", &resp->body_len);
  } else if (strcmp(path, "/unavailable") == 0) {
    resp->status = 503;
  } else if (strcmp(path, "/quit") == 0) {
    close_http(fx); /* Closing from inside the handler is allowed. */
    resp->body = dup_body("bye\n", &resp->body_len);
  }
  /* Anything else leaves status 0 and no body: 404. */
}

static void on_http_closed(void *arg) {
  fixture_t *fx = arg;
  fx->http_closed++;
}

static void close_http(fixture_t *fx) {
  if (fx->http_closing) return;
  fx->http_closing = true;
  gl_http_close(fx->http, on_http_closed, fx);
}

static void on_client_done(uv_async_t *async) {
  fixture_t *fx = async->data;
  close_http(fx);
  uv_close((uv_handle_t *)&fx->done, NULL);
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
}

static void on_watchdog(uv_timer_t *timer) {
  fixture_t *fx = timer->data;
  fx->timed_out = true;
  close_http(fx); /* Closing the connections unblocks the client. */
}

/* Tells the loop the client is done. Sent exactly once: the loop closes the
 * async handle when it arrives, so a second send could touch a closed loop. */
static void client_signal(fixture_t *fx) {
  if (fx->signalled) return;
  fx->signalled = true;
  uv_async_send(&fx->done);
}

static void *client_main(void *arg) {
  fixture_t *fx = arg;
  fx->client_fn(fx);
  client_signal(fx);
  return NULL;
}

/* Runs the server until the client is done and everything has closed. */
static void run(fixture_t *fx, void (*client_fn)(fixture_t *fx)) {
  memset(fx, 0, sizeof *fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  char err[128] = "";
  fx->http = http_start(&fx->loop, "127.0.0.1", 0, handler, fx, err, sizeof err);
  assert_non_null(fx->http);
  fx->port = gl_http_port(fx->http);
  assert_true(fx->port > 0);
  assert_int_equal(uv_async_init(&fx->loop, &fx->done, on_client_done), 0);
  fx->done.data = fx;
  assert_int_equal(uv_timer_init(&fx->loop, &fx->watchdog), 0);
  fx->watchdog.data = fx;
  assert_int_equal(uv_timer_start(&fx->watchdog, on_watchdog, 10000, 0), 0);
  fx->client_fn = client_fn;
  assert_int_equal(pthread_create(&fx->client, NULL, client_main, fx), 0);
  assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
  pthread_join(fx->client, NULL);
  assert_false(fx->timed_out);
  assert_int_equal(fx->http_closed, 1);
  assert_int_equal(uv_loop_close(&fx->loop), 0); /* No handle left open. */
  assert_false(fx->client_error);
}

/* Client side (client thread): blocking sockets with deadlines. */

typedef struct conn {
  int fd;
  char buf[16384]; /* Received but not yet consumed. */
  size_t len;
} conn_t;

static bool client_connect(fixture_t *fx, conn_t *c) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return false;
  struct timeval tv = {.tv_sec = 5};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(c->fd);
    c->fd = -1;
    return false;
  }
  return true;
}

static bool client_send(conn_t *c, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    len -= (size_t)n;
  }
  return true;
}

static bool client_send_str(conn_t *c, const char *s) { return client_send(c, s, strlen(s)); }

/* Reads more bytes into c->buf; false on EOF, error or timeout. */
static bool client_fill(conn_t *c) {
  if (c->len == sizeof c->buf) return false;
  ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
  if (n <= 0) return false;
  c->len += (size_t)n;
  return true;
}

static void client_consume(conn_t *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* Reads one response into fx->resp[fx->nresp]. head: no body follows. */
static bool client_read_response(fixture_t *fx, conn_t *c, bool head) {
  if (fx->nresp >= MAX_RESPONSES) return false;
  response_t *r = &fx->resp[fx->nresp];
  char *end;
  for (;;) {
    end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end) break;
    if (!client_fill(c)) return false;
  }
  size_t header_len = (size_t)(end - c->buf) + 4;
  char block[2048];
  if (header_len >= sizeof block) return false;
  memcpy(block, c->buf, header_len);
  block[header_len] = '\0';
  client_consume(c, header_len);
  if (sscanf(block, "HTTP/1.1 %d ", &r->status) != 1) return false;
  char *headers = strstr(block, "\r\n") + 2;
  snprintf(r->headers, sizeof r->headers, "%s", headers);
  char *cl = strstr(headers, "Content-Length: ");
  if (!cl) return false;
  size_t body_len = strtoul(cl + 16, NULL, 10);
  if (head) {
    fx->nresp++;
    return true;
  }
  if (body_len >= sizeof r->body) return false;
  while (c->len < body_len) {
    if (!client_fill(c)) return false;
  }
  memcpy(r->body, c->buf, body_len);
  r->body[body_len] = '\0';
  r->body_len = body_len;
  client_consume(c, body_len);
  fx->nresp++;
  return true;
}

/* True if the server closes the connection with nothing more sent. */
static bool client_expect_eof(conn_t *c) {
  if (c->len > 0) return false;
  char b[64];
  return recv(c->fd, b, sizeof b, 0) == 0;
}

static void client_close(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/* Shorthand: one request on a new connection, then check for EOF. */
static void client_one_shot(fixture_t *fx, const char *request, bool head) {
  conn_t c;
  if (!client_connect(fx, &c) || !client_send_str(&c, request) ||
      !client_read_response(fx, &c, head)) {
    fx->client_error = true;
  } else {
    fx->eof[0] = client_expect_eof(&c);
  }
  client_close(&c);
}

/* The tests. */

static void client_get_ok(fixture_t *fx) {
  client_one_shot(fx, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
}

static void test_get_ok(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_get_ok);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 200);
  assert_string_equal(fx.resp[0].headers,
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: 6\r\n"
                      "Connection: close\r\n"
                      "\r\n");
  assert_string_equal(fx.resp[0].body, "hello\n");
  assert_true(fx.eof[0]);
  assert_int_equal(fx.handler_calls, 1);
  assert_string_equal(fx.last_method, "GET");
  assert_string_equal(fx.last_path, "/hello");
}

static void client_not_found(fixture_t *fx) {
  client_one_shot(fx, "GET /nope?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n", false);
}

static void test_not_found(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_not_found);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 404);
  assert_string_equal(fx.resp[0].body, "not found\n");
  assert_string_equal(fx.last_path, "/nope?x=1"); /* The query string is passed on. */
}

static void client_post(fixture_t *fx) {
  client_one_shot(fx, "POST /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", false);
}

static void test_post_is_405(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_post);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 405);
  assert_non_null(strstr(fx.resp[0].headers, "Allow: GET, HEAD\r\n"));
  /* The body was not read, so the connection cannot be reused. */
  assert_non_null(strstr(fx.resp[0].headers, "Connection: close\r\n"));
  assert_true(fx.eof[0]);
  assert_int_equal(fx.handler_calls, 0);
}

static void client_huge_header(fixture_t *fx) {
  size_t n = 10 * 1024;
  char *req = malloc(n + 64);
  int off = snprintf(req, n + 64, "GET /hello HTTP/1.1\r\nX-Big: ");
  memset(req + off, 'a', n);
  memcpy(req + off + n, "\r\n\r\n", 5);
  client_one_shot(fx, req, false);
  free(req);
}

static void test_huge_header_is_431(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_huge_header);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 431);
  assert_non_null(strstr(fx.resp[0].headers, "Connection: close\r\n"));
  assert_true(fx.eof[0]);
  assert_int_equal(fx.handler_calls, 0);
}

/* A header block of exactly GL_HTTP_MAX_HEADER bytes is still accepted. */
static void client_header_at_limit(fixture_t *fx) {
  char req[GL_HTTP_MAX_HEADER + 1];
  const char *prefix = "GET /hello HTTP/1.1\r\nConnection: close\r\nX-Pad: ";
  size_t plen = strlen(prefix);
  memcpy(req, prefix, plen);
  memset(req + plen, 'p', GL_HTTP_MAX_HEADER - plen - 4);
  memcpy(req + GL_HTTP_MAX_HEADER - 4, "\r\n\r\n", 5);
  client_one_shot(fx, req, false);
}

static void test_header_at_limit_is_ok(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_header_at_limit);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 200);
}

static void client_garbage(fixture_t *fx) {
  conn_t c;
  const char *bad[] = {
      "BLAH\r\n\r\n",
      "GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET hello HTTP/1.1\r\n\r\n",
  };
  for (int i = 0; i < 3; i++) {
    if (!client_connect(fx, &c) || !client_send_str(&c, bad[i]) ||
        !client_read_response(fx, &c, false)) {
      fx->client_error = true;
    } else {
      fx->eof[i] = client_expect_eof(&c);
    }
    client_close(&c);
  }
}

static void test_garbage_is_400(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_garbage);
  assert_int_equal(fx.nresp, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fx.resp[i].status, 400);
    assert_string_equal(fx.resp[i].body, "bad request\n");
    assert_true(fx.eof[i]);
  }
  assert_int_equal(fx.handler_calls, 0);
}

static void client_keep_alive(fixture_t *fx) {
  conn_t c;
  if (!client_connect(fx, &c)) {
    fx->client_error = true;
    return;
  }
  /* Two requests one after the other, then two pipelined in one write;
   * the HEAD response's length must not be followed by a body. */
  bool ok = client_send_str(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") &&
            client_read_response(fx, &c, false) &&
            client_send_str(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n") &&
            client_read_response(fx, &c, true) &&
            client_send_str(&c,
                            "GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /unavailable HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") &&
            client_read_response(fx, &c, false) && client_read_response(fx, &c, false);
  if (!ok)
    fx->client_error = true;
  else
    fx->eof[0] = client_expect_eof(&c);
  client_close(&c);
}

static void test_keep_alive(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_keep_alive);
  assert_int_equal(fx.nresp, 4);
  assert_int_equal(fx.resp[0].status, 200);
  assert_string_equal(fx.resp[0].body, "hello\n");
  assert_null(strstr(fx.resp[0].headers, "Connection:"));
  assert_int_equal(fx.resp[1].status, 200);
  assert_non_null(strstr(fx.resp[1].headers, "Content-Length: 6\r\n"));
  assert_int_equal(fx.resp[2].status, 201);
  assert_non_null(strstr(fx.resp[2].headers, "Content-Type: application/json\r\n"));
  assert_string_equal(fx.resp[2].body, "{\"ok\":true}");
  assert_int_equal(fx.resp[3].status, 503);
  assert_non_null(strstr(fx.resp[3].headers, "Connection: close\r\n"));
  assert_true(fx.eof[0]);
  assert_int_equal(fx.handler_calls, 4);
}

static void client_http10(fixture_t *fx) {
  client_one_shot(fx, "GET /hello HTTP/1.0\r\n\r\n", false);
}

static void test_http10_closes_by_default(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_http10);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 200);
  assert_true(fx.eof[0]);
}

/* The client holds an idle connection and a keep-alive one open, then asks
 * the loop to close the server: both must be closed by the server. */
static void client_hold_open(fixture_t *fx) {
  conn_t idle, live;
  if (!client_connect(fx, &idle) || !client_connect(fx, &live) ||
      !client_send_str(&live, "GET /hello HTTP/1.1\r\n\r\n") ||
      !client_read_response(fx, &live, false)) {
    fx->client_error = true;
  }
  /* The server has accepted `idle` too: it answered on `live`, which
   * connected later, and connections are accepted in order. */
  client_signal(fx);
  fx->eof[0] = client_expect_eof(&idle);
  fx->eof[1] = client_expect_eof(&live);
  client_close(&idle);
  client_close(&live);
}

static void test_close_with_open_connections(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_hold_open);
  assert_int_equal(fx.nresp, 1);
  assert_true(fx.eof[0]);
  assert_true(fx.eof[1]);
  assert_int_equal(fx.handler_calls, 1);
}

/* One byte per segment, with an empty line first (which must be skipped),
 * so the end of the header block is found across many reads. */
static void client_in_pieces(fixture_t *fx) {
  conn_t c;
  const char *req = "\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (!client_connect(fx, &c)) {
    fx->client_error = true;
    return;
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = true;
  for (size_t i = 0; ok && req[i]; i++) ok = client_send(&c, req + i, 1);
  if (!ok || !client_read_response(fx, &c, false))
    fx->client_error = true;
  else
    fx->eof[0] = client_expect_eof(&c);
  client_close(&c);
}

static void test_request_in_pieces(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_in_pieces);
  assert_int_equal(fx.nresp, 1);
  assert_int_equal(fx.resp[0].status, 200);
  assert_string_equal(fx.resp[0].body, "hello\n");
  assert_true(fx.eof[0]);
}

/* A handler that closes the server: the connection closes unanswered, the
 * handler's body is freed, and the close callback still runs once. */
static void client_quit(fixture_t *fx) {
  conn_t c;
  if (!client_connect(fx, &c) || !client_send_str(&c, "GET /quit HTTP/1.1\r\n\r\n"))
    fx->client_error = true;
  else
    fx->eof[0] = client_expect_eof(&c);
  client_close(&c);
}

static void test_handler_closes_server(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_quit);
  assert_int_equal(fx.nresp, 0);
  assert_true(fx.eof[0]);
  assert_int_equal(fx.handler_calls, 1);
}

static void client_nothing(fixture_t *fx) { (void)fx; }

static void test_close_without_connections(void **state) {
  (void)state;
  fixture_t fx;
  run(&fx, client_nothing);
  assert_int_equal(fx.handler_calls, 0);
}

static void count_closed(void *arg) { (*(int *)arg)++; }

static void test_start_failures(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char err[128] = "";
  gl_http_t *a = http_start(&loop, NULL, 0, handler, NULL, err, sizeof err);
  assert_non_null(a);

  /* The port is taken. */
  gl_http_t *b = http_start(&loop, "127.0.0.1", gl_http_port(a), handler, NULL, err, sizeof err);
  assert_null(b);
  assert_non_null(strstr(err, "bind"));

  err[0] = '\0';
  assert_null(http_start(&loop, "not an address", 0, handler, NULL, err, sizeof err));
  assert_true(err[0] != '\0');
  assert_null(http_start(&loop, "127.0.0.1", 70000, handler, NULL, err, sizeof err));

  int closed = 0;
  gl_http_close(a, NULL, NULL); /* A NULL callback is allowed... */
  gl_http_close(a, count_closed, &closed); /* ...and a second close ignored. */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(closed, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* gl_http_listen() tells a busy port (not a setting) from a bad host. */
static void test_listen_error_codes(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char err[256] = "";
  gl_http_t *a = NULL, *b = (gl_http_t *)&loop;
  assert_int_equal(gl_http_listen(&a, &loop, "localhost", 0, handler, NULL, err, sizeof err),
                   GL_OK);
  assert_non_null(a);

  int rc = gl_http_listen(&b, &loop, "127.0.0.1", gl_http_port(a), handler, NULL, err, sizeof err);
  assert_int_equal(rc, GL_EIO);
  assert_int_equal(gl_exit_code(rc), GL_EXIT_FAILURE);
  assert_null(b);
  assert_non_null(strstr(err, "bind: address already in use"));

  rc = gl_http_listen(&b, &loop, "203.0.113.1", 0, handler, NULL, err, sizeof err);
  assert_int_equal(rc, GL_ECONFIG);
  assert_int_equal(gl_exit_code(rc), GL_EXIT_CONFIG);
  assert_non_null(strstr(err, "http 203.0.113.1:0: bind: address not available"));
  rc = gl_http_listen(&b, &loop, "nonsense", 0, handler, NULL, err, sizeof err);
  assert_int_equal(rc, GL_ECONFIG);
  assert_non_null(strstr(err, "http nonsense:0: not a numeric IP address"));
  assert_int_equal(gl_http_listen(&b, &loop, "::1", 65536, handler, NULL, err, sizeof err),
                   GL_ECONFIG);
  assert_non_null(strstr(err, "invalid port"));
  /* No handler is the program's mistake, not a setting. */
  assert_int_equal(gl_http_listen(&b, &loop, NULL, 0, NULL, NULL, err, sizeof err), GL_EINVAL);
  assert_null(b);

  gl_http_close(a, NULL, NULL);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* Expects gl_http_check_host(host) to refuse with exactly want. */
static void expect_bad_host(const char *host, const char *want) {
  char err[256] = "";
  assert_int_equal(gl_http_check_host(host, err, sizeof err), GL_ECONFIG);
  assert_string_equal(err, want);
}

/* The check binds port 0 on the host and lets nothing listen after it. */
static void test_check_host(void **state) {
  (void)state;
  char err[256] = "";
  assert_int_equal(gl_http_check_host("127.0.0.1", err, sizeof err), GL_OK);
  assert_int_equal(gl_http_check_host("localhost", err, sizeof err), GL_OK);
  assert_int_equal(gl_http_check_host("0.0.0.0", err, sizeof err), GL_OK);
  assert_int_equal(gl_http_check_host(NULL, err, sizeof err), GL_OK);
  assert_string_equal(err, "");
  expect_bad_host("203.0.113.1", "config: http.host = '203.0.113.1': expected an address of this "
                                 "machine (bind: address not available)");
  expect_bad_host("nonsense", "config: http.host = 'nonsense': expected an address of this "
                              "machine (not a numeric IP address or localhost)");
  expect_bad_host("", "config: http.host = '': expected an address of this machine (not a "
                      "numeric IP address or localhost)");
  expect_bad_host("127.0.0.1 ", "config: http.host = '127.0.0.1 ': expected an address of this "
                                "machine (not a numeric IP address or localhost)");
}

/* A handler's JSON reply: compact body and status; no body means 500. */
static void test_reply_json(void **state) {
  (void)state;
  gl_http_response_t r = {0};
  gl_http_reply_json(&r, 421, json_pack("{s:s, s:i}", "error", "elsewhere", "partition", 3));
  assert_int_equal(r.status, 421);
  assert_string_equal(r.content_type, "application/json");
  assert_string_equal(r.body, "{\"error\":\"elsewhere\",\"partition\":3}");
  assert_int_equal(r.body_len, strlen(r.body));
  free(r.body);
  assert_string_equal(r.location, "");
  gl_http_response_t moved = {0};
  gl_http_reply_json(&moved, 421, json_pack("{s:s}", "location", "http://h:1/orders/O-1"));
  assert_string_equal(moved.location, "http://h:1/orders/O-1");
  free(moved.body);
  gl_http_response_t bad = {0};
  gl_http_reply_json(&bad, 200, NULL);
  assert_int_equal(bad.status, 500);
  assert_string_equal(bad.body, "{\"error\":\"encoding failed\"}");
  assert_string_equal(bad.location, "");
  free(bad.body);
}

/* A path segment's key: the query string ignored, %-escapes decoded; an
 * empty key, a bad or cut escape, %00 and a key too long refused. */
static void test_path_key(void **state) {
  (void)state;
  char out[8];
  assert_int_equal(gl_http_path_key("O-1?x=1", out, sizeof out), 0);
  assert_string_equal(out, "O-1");
  assert_int_equal(gl_http_path_key("O%2D1#frag", out, sizeof out), 0);
  assert_string_equal(out, "O-1");
  assert_int_equal(gl_http_path_key("%7e", out, sizeof out), 0);
  assert_string_equal(out, "~");
  assert_int_equal(gl_http_path_key("1234567", out, sizeof out), 0);
  const char *bad[] = {"", "?x=1", "%00", "%G1", "%4", "a%", "%-1", "12345678", NULL};
  for (int i = 0; bad[i]; i++) assert_int_equal(gl_http_path_key(bad[i], out, sizeof out), -1);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_ok),
      cmocka_unit_test(test_not_found),
      cmocka_unit_test(test_post_is_405),
      cmocka_unit_test(test_huge_header_is_431),
      cmocka_unit_test(test_header_at_limit_is_ok),
      cmocka_unit_test(test_garbage_is_400),
      cmocka_unit_test(test_keep_alive),
      cmocka_unit_test(test_http10_closes_by_default),
      cmocka_unit_test(test_request_in_pieces),
      cmocka_unit_test(test_handler_closes_server),
      cmocka_unit_test(test_close_with_open_connections),
      cmocka_unit_test(test_close_without_connections),
      cmocka_unit_test(test_start_failures),
      cmocka_unit_test(test_listen_error_codes),
      cmocka_unit_test(test_check_host),
      cmocka_unit_test(test_reply_json),
      cmocka_unit_test(test_path_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
