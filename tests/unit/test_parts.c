/* test_parts.c - large messages in parts (runtime/part.c, and peer.c's use
 * of it): the assembler and the splitter on their own, then a peer seen
 * from the wire, as in test_serve.c: the test writes and reads frames on
 * one end of a socketpair, the runtime serves on the other, driven by
 * ax_loop_step. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

/* Bytes that tell where they came from: byte i of message seed. */
static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *b = malloc(n ? n : 1);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 31u + seed + i / 251u);
  return b;
}

/* ------------------------------------------------------- the assembler */

static int add(ax__assembler *a, uint64_t id, const uint8_t *p, size_t n,
               int last, uint8_t **out, size_t *outlen) {
  const char *why = NULL;
  int rc = ax__assembler_add(a, id, p, n, last, out, outlen, &why);
  if (rc == AX_EPROTO) assert_non_null(why);
  return rc;
}

static void test_assembler_in_order(void **state) {
  (void)state;
  ax__assembler a = {.max = 1 << 20};
  uint8_t *b = pattern(300000, 1), *out = NULL;
  size_t len = 0;
  assert_int_equal(add(&a, 1, b, 100000, 0, &out, &len), 0);
  assert_int_equal(add(&a, 1, b + 100000, 100000, 0, &out, &len), 0);
  assert_int_equal(add(&a, 1, b + 200000, 100000, 1, &out, &len), 1);
  assert_int_equal(len, 300000);
  assert_memory_equal(out, b, len);
  assert_int_equal(a.nopen, 0);
  ax__buf_free(out, len);
  /* One part alone is a whole message too; an empty part adds nothing. */
  assert_int_equal(add(&a, 2, b, 0, 0, &out, &len), 0);
  assert_int_equal(add(&a, 2, b, 10, 1, &out, &len), 1);
  assert_int_equal(len, 10);
  ax__buf_free(out, len);
  ax__assembler_free(&a);
  free(b);
}

static void test_assembler_interleaved(void **state) {
  (void)state;
  ax__assembler a = {.max = 1 << 20};
  uint8_t *x = pattern(5000, 2), *y = pattern(7000, 3), *out;
  size_t len;
  assert_int_equal(add(&a, 5, x, 2000, 0, &out, &len), 0);
  assert_int_equal(add(&a, 6, y, 3000, 0, &out, &len), 0);
  assert_int_equal(add(&a, 5, x + 2000, 2000, 0, &out, &len), 0);
  assert_int_equal(add(&a, 6, y + 3000, 4000, 1, &out, &len), 1);
  assert_int_equal(len, 7000);
  assert_memory_equal(out, y, 7000);
  ax__buf_free(out, len);
  assert_int_equal(add(&a, 7, x, 1, 0, &out, &len), 0); /* a third, open */
  assert_int_equal(add(&a, 5, x + 4000, 1000, 1, &out, &len), 1);
  assert_int_equal(len, 5000);
  assert_memory_equal(out, x, 5000);
  ax__buf_free(out, len);
  assert_int_equal(a.nopen, 1);
  ax__assembler_free(&a); /* frees what is still open */
  free(x);
  free(y);
}

/* An id that is not under way continues nothing: a finished message's,
 * or one below the highest seen. */
static void test_assembler_unknown_id(void **state) {
  (void)state;
  ax__assembler a = {.max = 1 << 20};
  uint8_t b[16] = {0}, *out;
  size_t len;
  assert_int_equal(add(&a, 3, b, 16, 1, &out, &len), 1);
  ax__buf_free(out, len);
  assert_int_equal(add(&a, 3, b, 16, 0, &out, &len), AX_EPROTO);
  assert_int_equal(add(&a, 9, b, 16, 0, &out, &len), 0);
  assert_int_equal(add(&a, 4, b, 16, 1, &out, &len), AX_EPROTO);
  assert_int_equal(add(&a, 10, b, 16, 1, &out, &len), 1);
  ax__buf_free(out, len);
  ax__assembler_free(&a);
}

/* The maximum counts the whole message; a part that crosses it drops the
 * message. Messages under way at once are bounded. */
static void test_assembler_limits(void **state) {
  (void)state;
  ax__assembler a = {.max = 1000};
  uint8_t b[1001] = {0}, *out;
  size_t len;
  assert_int_equal(add(&a, 1, b, 1000, 1, &out, &len), 1);
  ax__buf_free(out, len);
  assert_int_equal(add(&a, 2, b, 600, 0, &out, &len), 0);
  assert_int_equal(add(&a, 2, b, 401, 0, &out, &len), AX_EPROTO);
  assert_int_equal(a.nopen, 0);
  assert_int_equal(add(&a, 3, b, 1001, 1, &out, &len), AX_EPROTO);
  for (uint64_t id = 10; id < 10 + AX__PART_OPEN_MAX; id++)
    assert_int_equal(add(&a, id, b, 1, 0, &out, &len), 0);
  assert_int_equal(add(&a, 100, b, 1, 0, &out, &len), AX_EPROTO);
  /* One that ends makes room. */
  assert_int_equal(add(&a, 10, b, 1, 1, &out, &len), 1);
  ax__buf_free(out, len);
  assert_int_equal(add(&a, 101, b, 1, 0, &out, &len), 0);
  ax__assembler_free(&a);
}

/* --------------------------------------------------------- the splitter */

/* Split n bytes into parts: each encodes into a frame of the smallest
 * maximum, only the final one says last, and they assemble to the same
 * bytes. Returns the number of parts. */
static size_t split(size_t n) {
  ax__outmsg *o = ax__outmsg_new(n);
  assert_non_null(o);
  uint8_t *b = pattern(n, 4);
  memcpy(o->buf, b, n);
  o->id = 42;
  ax__assembler a = {.max = n};
  size_t parts = 0;
  int done = 0;
  uint8_t *out = NULL, *frame = malloc(AX_MIN_FRAME + 64);
  size_t len = 0;
  while (!done) {
    ax__msg part;
    size_t k = ax__outmsg_part(o, &part);
    assert_true(k <= AX__PART_DATA);
    assert_true(ax__msg_bound(&part) <= AX_MIN_FRAME + 64);
    size_t flen = (size_t)(ax__msg_write(frame, &part) - frame);
    assert_true(flen <= AX_MIN_FRAME);
    assert_int_equal(flen, ax__msg_size(&part));
    ax__msg d;
    assert_int_equal(ax__msg_decode(frame, flen, &d), 0);
    assert_int_equal(d.type, AX__M_PART);
    assert_int_equal(d.id, 42);
    int last = AX__HAS(&d, last) && d.last;
    assert_int_equal(last, o->off + k == n);
    const char *why;
    int rc = ax__assembler_add(&a, d.id, (const uint8_t *)d.data.p, d.data.len,
                               last, &out, &len, &why);
    assert_int_equal(rc, last ? 1 : 0);
    o->off += k;
    parts++;
    done = last;
  }
  assert_int_equal(len, n);
  assert_memory_equal(out, b, n);
  ax__buf_free(out, len);
  free(frame);
  free(b);
  ax__outmsg_free(o);
  ax__assembler_free(&a);
  return parts;
}

static void test_splitter(void **state) {
  (void)state;
  assert_int_equal(split(AX__PART_THRESHOLD + 1), 2);
  assert_int_equal(split(3 * AX__PART_DATA), 3); /* no empty last part */
  assert_int_equal(split(3 * AX__PART_DATA + 1), 4);
  assert_int_equal(split(1u << 20), ((1u << 20) + AX__PART_DATA - 1) /
                                        AX__PART_DATA);
}

/* ------------------------------------------------------- over the wire */

static int fd; /* the test's end */
static uint8_t *in;
static size_t inlen, incap, used;

/* Write all of b; while the socket is full, the runtime reads. */
static void write_all(const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_DONTWAIT);
    if (w < 0) {
      struct pollfd p = {ax_loop_fd(), POLLIN, 0};
      poll(&p, 1, 10);
      ax_loop_step();
      continue;
    }
    b += w;
    n -= (size_t)w;
  }
}

static void put_bytes(const uint8_t *b, size_t n) {
  uint8_t head[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                     (uint8_t)n};
  write_all(head, 4);
  write_all(b, n);
}

static void put(const ax__msg *m) {
  uint8_t *b = malloc(ax__msg_bound(m));
  assert_non_null(b);
  put_bytes(b, (size_t)(ax__msg_write(b, m) - b));
  free(b);
}

static void put_part(uint64_t id, const void *data, size_t n, int last) {
  ax__msg m = {.type = AX__M_PART};
  AX__SET(&m, id, id);
  ax__msg_set_bin(&m, AX__F_data, data, n);
  if (last) AX__SET(&m, last, 1);
  put(&m);
}

/* Step the runtime until a whole frame is there, then decode it (it
 * stays in `in` until the next call). 0, or -1 at end of file. */
static int next(ax__msg *m) {
  if (used) memmove(in, in + used, inlen - used);
  inlen -= used;
  used = 0;
  for (int spins = 0; spins < 100000; spins++) {
    const uint8_t *msg;
    size_t mlen;
    long r = ax__frame_next(in, inlen, 1u << 30, &msg, &mlen);
    if (r > 0) {
      assert_int_equal(ax__msg_decode(msg, mlen, m), 0);
      used = (size_t)r;
      return 0;
    }
    if (incap - inlen < 65536) {
      incap = incap ? 2 * incap : 1u << 17;
      in = realloc(in, incap);
      assert_non_null(in);
    }
    struct pollfd p[2] = {{ax_loop_fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, 2, 10);
    ax_loop_step();
    ssize_t n = recv(fd, in + inlen, incap - inlen, MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n > 0) inlen += (size_t)n;
  }
  fail_msg("no frame from the runtime");
  return -1;
}

/* The next message that is not a start_ack. */
static void next_msg(ax__msg *m) {
  do assert_int_equal(next(m), 0);
  while (m->type == AX__M_START_ACK);
}

/* "now" returns its arguments at once. */
static int echo_load(const char *name, void **mod, ax_error **err) {
  (void)name;
  (void)err;
  *mod = NULL;
  return 0;
}

static int echo_call(void *mod, ax_ctx *ctx, const char *func,
                     const ax_val *args) {
  (void)mod;
  if (strcmp(func, "grow") == 0) {
    /* A started value in parts, then a stream with a larger window
     * (which grants the growth at once, as credit). */
    size_t n = 200000;
    uint8_t *b = pattern(n, 3);
    ax_pack *v = ax_pack_new();
    ax_pack_bin(v, b, n);
    free(b);
    int rc = ax_ctx_started(ctx, v);
    ax_stream_opts o = {sizeof o, 4096, 8u << 20};
    ax_stream *s;
    if (rc == 0) rc = ax_ctx_open_stream(ctx, &o, &s);
    if (rc < 0) return rc;
    return ax_ctx_return_val(ctx, NULL);
  }
  return ax_ctx_return_val(ctx, args);
}

static const ax_loader echo_loader = {sizeof(ax_loader), "echo", echo_load,
                                      echo_call, NULL, AX_LOADER_ASYNC, NULL};

/* As a portal's owner does: the calls made on a peer that went end. */
static void gone(ax__peer *peer, int status) {
  (void)status;
  ax__peer_fail_calls(peer, NULL);
}

static const ax__peer_cbs cbs = {.start = ax__serve_start, .gone = gone};

/* A served peer whose other side (the test) said hello with max_msg
 * (parts welcome) or without (max_msg 0). */
static ax__peer *setup(int64_t max_msg) {
  assert_int_equal(ax_init(NULL), 0);
  assert_int_equal(ax_loader_register(&echo_loader), 0);
  ax_error *err = NULL;
  assert_int_equal(ax__modules_enable("echo:m", NULL, 0, &err), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd = sv[1];
  ax__peer *peer = ax__peer_new(sv[0], &cbs, NULL);
  assert_non_null(peer);
  ax__msg h = {.type = AX__M_HELLO};
  AX__SET(&h, version, AX__PROTO_VERSION);
  ax__msg_set_str(&h, AX__F_name, "tester");
  ax__msg_set_str(&h, AX__F_uid, "0123456789abcdef0123456789abcdef");
  if (max_msg) AX__SET(&h, max_msg, max_msg);
  put(&h);
  assert_int_equal(ax__peer_send_hello(peer), 0);
  ax__msg m;
  assert_int_equal(next(&m), 0);
  assert_int_equal(m.type, AX__M_HELLO);
  /* The runtime says what it takes: the default, 64 MiB. */
  assert_true(AX__HAS(&m, max_msg));
  assert_int_equal(m.max_msg, 64 << 20);
  for (int i = 0; i < 100 && !peer->hello_received; i++) ax_loop_step();
  assert_int_equal(peer->state, AX__PEER_READY);
  return peer;
}

static void teardown(void) {
  close(fd);
  inlen = used = 0;
  while (ax_loop_step()) {
  }
  assert_int_equal(ax_shutdown(), 0);
  free(in);
  in = NULL;
  incap = 0;
}

/* A start of "now" whose arguments are [a bin of n bytes]: its encoded
 * bytes in *len (the caller frees them). */
static uint8_t *start_bytes(uint64_t cid, const uint8_t *arg, size_t n,
                            size_t *len) {
  uint8_t *kw = malloc(n + 6);
  kw[0] = 0x91;
  uint8_t *e = ax__mp_put_bin(kw + 1, arg, (uint32_t)n);
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, cid);
  ax__msg_set_str(&m, AX__F_func, "now");
  ax__msg_set_raw(&m, AX__F_kwargs, kw, (size_t)(e - kw));
  uint8_t *b = malloc(ax__msg_bound(&m));
  *len = (size_t)(ax__msg_write(b, &m) - b);
  free(kw);
  return b;
}

/* Read parts of message id until its last, with any other messages in
 * between counted in *others; the assembled message is decoded into *m
 * and its bytes returned (the caller frees them). */
static uint8_t *read_parts(ax__msg *m, int *others) {
  ax__assembler a = {.max = 1u << 30};
  for (;;) {
    ax__msg p;
    next_msg(&p);
    if (p.type != AX__M_PART) {
      (*others)++;
      continue;
    }
    assert_true(p.data.len <= AX__PART_DATA);
    uint8_t *out;
    size_t len;
    const char *why;
    int rc = ax__assembler_add(&a, p.id, (const uint8_t *)p.data.p, p.data.len,
                               AX__HAS(&p, last) && p.last, &out, &len, &why);
    assert_true(rc >= 0);
    if (rc == 1) {
      ax__assembler_free(&a);
      uint8_t *copy = malloc(len);
      assert_non_null(copy);
      memcpy(copy, out, len);
      ax__buf_free(out, len);
      assert_int_equal(ax__msg_decode(copy, len, m), 0);
      return copy;
    }
  }
}

/* A call whose start comes in parts (with other calls in between) is
 * served; its large result goes back in parts, and a small call made
 * meanwhile is answered between them. */
static void test_call_in_parts_both_ways(void **state) {
  (void)state;
  setup(1 << 26);
  size_t n = 300000, len;
  uint8_t *arg = pattern(n, 5);
  uint8_t *b = start_bytes(1, arg, n, &len);
  size_t half = len / 2;
  put_part(7, b, half, 0);
  uint8_t small[4];
  size_t slen;
  uint8_t *s = start_bytes(2, small, 1, &slen);
  put_bytes(s, slen); /* a whole frame between the parts */
  put_part(7, b + half, len - half, 1);
  ax__msg m;
  next_msg(&m); /* the small call's return first: it was whole first */
  assert_int_equal(m.type, AX__M_RETURN);
  assert_int_equal(m.cid, 2);
  /* Then call 1's result, in parts. */
  int others = 0;
  uint8_t *whole = read_parts(&m, &others);
  assert_int_equal(m.type, AX__M_RETURN);
  assert_int_equal(m.cid, 1);
  assert_int_equal(m.value.len, n + 6); /* [bin32 of n] */
  assert_memory_equal(m.value.p + 6, arg, n);
  free(whole);
  free(s);
  free(b);
  free(arg);
  teardown();
}

/* The channel closes (and only the test sees end of file) for an
 * assembled message that does not decode, one that is itself a part, a
 * part of no message under way, and a part before the peer's hello. */
static void expect_closed(void) {
  ax__msg m;
  int rc;
  while ((rc = next(&m)) == 0) {
  }
  assert_int_equal(rc, -1);
}

static void test_bad_parts_close_the_channel(void **state) {
  (void)state;
  setup(1 << 26);
  put_part(1, "\xc1\xc1", 2, 1);
  expect_closed();
  teardown();

  setup(1 << 26);
  uint8_t inner[64];
  ax__msg p = {.type = AX__M_PART};
  AX__SET(&p, id, 5);
  ax__msg_set_bin(&p, AX__F_data, "x", 1);
  size_t n = (size_t)(ax__msg_write(inner, &p) - inner);
  put_part(1, inner, n, 1);
  expect_closed();
  teardown();

  setup(1 << 26);
  put_part(3, "ab", 2, 0);
  put_part(3, "cd", 2, 0);
  put_part(2, "ef", 2, 1);
  expect_closed();
  teardown();

  /* Before any hello. */
  assert_int_equal(ax_init(NULL), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd = sv[1];
  assert_non_null(ax__peer_new(sv[0], &cbs, NULL));
  put_part(1, "\x80", 1, 1);
  expect_closed();
  teardown();
}

/* Over the maximum message size of the receiver: refused, the channel
 * closed. */
static void test_part_over_the_maximum_closes_the_channel(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  peer->inparts.max = 100000;
  uint8_t *b = pattern(60000, 6);
  put_part(1, b, 60000, 0);
  put_part(1, b, 40000, 0); /* 100000: still in */
  put_part(1, b, 1, 1);
  expect_closed();
  free(b);
  teardown();
}

/* What the runtime sends: in parts only to a peer that asked (its hello
 * carried max_msg), whole to one that did not, and nothing over what the
 * peer takes: AX_EMSGSIZE, the size kept for the error that says so. */
static void done_cb(void *ud, int status, ax_data *r, ax_error *e) {
  *(int *)ud = status == 0 ? 1 : status;
  ax_data_free(r);
  ax_error_free(e);
}

static void test_sender_sends_parts_only_when_asked(void **state) {
  (void)state;
  size_t n = 200000;
  uint8_t *arg = pattern(n, 7);
  uint8_t *kw = malloc(n + 6);
  kw[0] = 0x91;
  size_t klen = (size_t)(ax__mp_put_bin(kw + 1, arg, (uint32_t)n) - kw);

  ax__peer *peer = setup(0);
  int done = 0;
  assert_int_equal(ax__peer_call(peer, NULL, "f", kw, klen, done_cb, &done,
                                 NULL),
                   0);
  ax__msg m;
  next_msg(&m);
  assert_int_equal(m.type, AX__M_START); /* whole */
  assert_int_equal(m.kwargs.len, klen);
  /* Over the frame maximum, to a peer that takes no parts. */
  uint8_t *huge = calloc(1, (17u << 20) + 8), *zeros = calloc(1, 17u << 20);
  huge[0] = 0x91;
  size_t hlen = (size_t)(ax__mp_put_bin(huge + 1, zeros, 17u << 20) - huge);
  assert_int_equal(ax__peer_call(peer, NULL, "f", huge, hlen, done_cb, &done,
                                 NULL),
                   AX_EMSGSIZE);
  assert_true(peer->refused > hlen);
  ax_error *e = ax__peer_too_large(peer, "");
  assert_non_null(strstr(ax_error_message(e), "maximum frame size 16777216"));
  ax_error_free(e);
  teardown();

  peer = setup(1 << 20);
  assert_int_equal(ax__peer_call(peer, NULL, "f", kw, klen, done_cb, &done,
                                 NULL),
                   0);
  int others = 0;
  uint8_t *whole = read_parts(&m, &others);
  assert_int_equal(others, 0);
  assert_int_equal(m.type, AX__M_START);
  assert_int_equal(m.kwargs.len, klen);
  assert_memory_equal(m.kwargs.p, kw, klen);
  free(whole);
  /* Over the peer's max_msg (1 MiB here), though under a frame. */
  hlen = (size_t)(ax__mp_put_bin(huge + 1, zeros, 2u << 20) - huge);
  assert_int_equal(ax__peer_call(peer, NULL, "f", huge, hlen, done_cb, &done,
                                 NULL),
                   AX_EMSGSIZE);
  e = ax__peer_too_large(peer, "");
  assert_non_null(strstr(ax_error_message(e),
                         "is larger than the receiver's maximum message size "
                         "1048576 (max_message)"));
  ax_error_free(e);
  teardown();
  free(huge);
  free(zeros);
  free(kw);
  free(arg);
}

/* Call arguments [a bin of n zero bytes]: their bytes, *len of them (the
 * caller frees them). */
static uint8_t *zero_args(size_t n, size_t *len) {
  uint8_t *kw = calloc(1, n + 6);
  assert_non_null(kw);
  kw[0] = 0x91;
  uint8_t *zeros = calloc(1, n);
  assert_non_null(zeros);
  *len = (size_t)(ax__mp_put_bin(kw + 1, zeros, (uint32_t)n) - kw);
  free(zeros);
  return kw;
}

/* A small message sent while a large one goes out in parts overtakes
 * it: the large one goes a part per write round. */
static void test_small_message_overtakes_parts(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  size_t n = 4u << 20;
  size_t klen;
  uint8_t *kw = zero_args(n, &klen);
  int done = 0;
  assert_int_equal(ax__peer_call(peer, NULL, "big", kw, klen, done_cb, &done,
                                 NULL),
                   0);
  ax__msg m;
  int parts_before = 0;
  /* Take a few parts, then send a small call: it comes before the last
   * part of the large one. */
  while (parts_before < 3) {
    next_msg(&m);
    assert_int_equal(m.type, AX__M_PART);
    parts_before++;
  }
  assert_int_equal(ax__peer_call(peer, NULL, "small", NULL, 0, done_cb, &done,
                                 NULL),
                   0);
  int last_seen = 0, small_seen = 0;
  while (!last_seen) {
    next_msg(&m);
    if (m.type == AX__M_START) {
      assert_true(ax__msg_str_eq(&m.func, "small", 5));
      small_seen = 1;
    } else {
      assert_int_equal(m.type, AX__M_PART);
      last_seen = AX__HAS(&m, last) && m.last;
    }
  }
  assert_int_equal(small_seen, 1);
  free(kw);
  teardown();
}

/* A call cancelled while its start goes out in parts: the cancel follows
 * its last part (never before, where the callee would not know the call
 * yet); one cancelled before any part went is never sent at all. */
static void test_cancel_waits_for_the_last_part(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  size_t n = 1u << 20;
  size_t klen;
  uint8_t *kw = zero_args(n, &klen);
  int done = 0;
  ax__call *c = NULL;
  /* Not a part out yet: dropped, no cancel. */
  assert_int_equal(ax__peer_call(peer, NULL, "a", kw, klen, done_cb, &done,
                                 &c),
                   0);
  c->op.cancel(&c->op);
  assert_int_equal(done, AX_ECANCELED);
  assert_true(ax__list_empty(&peer->outparts));
  /* Half out: the cancel comes after the last part. */
  assert_int_equal(ax__peer_call(peer, NULL, "b", kw, klen, done_cb, &done,
                                 &c),
                   0);
  uint64_t cid = c->node.cid;
  ax__msg m;
  next_msg(&m);
  assert_int_equal(m.type, AX__M_PART);
  c->op.cancel(&c->op);
  int last_seen = 0;
  for (;;) {
    next_msg(&m);
    if (m.type == AX__M_PART) {
      assert_int_equal(last_seen, 0);
      last_seen = AX__HAS(&m, last) && m.last;
      continue;
    }
    assert_int_equal(m.type, AX__M_CANCEL);
    assert_int_equal(m.cid, cid);
    break;
  }
  assert_int_equal(last_seen, 1);
  free(kw);
  teardown();
}

/* A stream value (or any message) of call cid, as the callee sends it:
 * a bin of n bytes of seed's pattern, or a small int when n is 0. */
static int send_value(ax__peer *peer, int type, uint64_t cid, size_t n,
                      unsigned seed) {
  uint8_t *v = malloc(n + 5), *e = v;
  if (n) {
    uint8_t *b = pattern(n, seed);
    e = ax__mp_put_bin(v, b, (uint32_t)n);
    free(b);
  } else {
    e = ax__mp_put_int(v, (int64_t)seed);
  }
  ax__msg m = {.type = type};
  AX__SET(&m, cid, cid);
  if (type == AX__M_CREDIT)
    AX__SET(&m, msgs, 1);
  else if (type != AX__M_STOP)
    ax__msg_set_raw(&m, AX__F_value, v, (size_t)(e - v));
  int rc = ax__peer_send(peer, &m);
  free(v);
  return rc;
}

/* What the test saw, in order: messages whole or assembled. */
typedef struct seen {
  int type;
  uint64_t cid;
  size_t len;         /* of a value: its encoding */
  int first, arrived; /* frame index of its first part (or frame), last */
} seen;

static int see(seen *s, int max, int stop_type, uint64_t stop_cid) {
  ax__assembler a = {.max = 1u << 30};
  int n = 0, frame = 0;
  int first[AX__PART_OPEN_MAX];
  uint64_t ids[AX__PART_OPEN_MAX];
  int nids = 0;
  for (;; frame++) {
    ax__msg m;
    next_msg(&m);
    uint8_t *out = NULL;
    size_t len;
    int start = frame;
    if (m.type == AX__M_PART) {
      int i = 0;
      while (i < nids && ids[i] != m.id) i++;
      if (i == nids) {
        ids[nids] = m.id;
        first[nids++] = frame;
      }
      start = first[i];
      const char *why;
      int rc =
          ax__assembler_add(&a, m.id, (const uint8_t *)m.data.p, m.data.len,
                            AX__HAS(&m, last) && m.last, &out, &len, &why);
      assert_true(rc >= 0);
      if (rc == 0) continue;
      assert_int_equal(ax__msg_decode(out, len, &m), 0);
    }
    assert_true(n < max);
    s[n] = (seen){m.type, m.cid, AX__HAS(&m, value) ? m.value.len : 0, start,
                  frame};
    ax__buf_free(out, len);
    if (s[n++].type == stop_type && m.cid == stop_cid) break;
  }
  ax__assembler_free(&a);
  return n;
}

/* The messages of one call keep their order: one sent while an earlier
 * one of its call goes out in parts waits for its last part (a second
 * large one starts after it, then its credit and stop); another call's
 * message does not wait. */
static void test_a_call_keeps_its_order_behind_parts(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  size_t big = 300000;
  assert_int_equal(send_value(peer, AX__M_YIELD, 5, big, 1), 0);
  assert_int_equal(send_value(peer, AX__M_YIELD, 5, 0, 7), 0);
  assert_int_equal(send_value(peer, AX__M_YIELD, 5, big, 2), 0);
  assert_int_equal(send_value(peer, AX__M_RETURN, 6, 0, 3), 0);
  assert_int_equal(send_value(peer, AX__M_CREDIT, 5, 0, 0), 0);
  assert_int_equal(send_value(peer, AX__M_STOP, 5, 0, 0), 0);
  seen s[8];
  int n = see(s, 8, AX__M_STOP, 5);
  assert_int_equal(n, 6);
  /* Not held back: the other call's return, first. */
  assert_int_equal(s[0].type, AX__M_RETURN);
  assert_int_equal(s[0].cid, 6);
  /* Call 5's messages in the order sent, each after the one before. */
  assert_int_equal(s[1].type, AX__M_YIELD);
  assert_int_equal(s[1].len, big + 5);
  assert_int_equal(s[2].type, AX__M_YIELD);
  assert_int_equal(s[2].len, 1);
  assert_int_equal(s[3].type, AX__M_YIELD);
  assert_int_equal(s[3].len, big + 5);
  assert_int_equal(s[4].type, AX__M_CREDIT);
  assert_int_equal(s[5].type, AX__M_STOP);
  for (int i = 2; i < 6; i++) assert_true(s[i].first > s[i - 1].arrived);
  teardown();
}

/* A 2 MiB argument in parts is adopted (no copy) by the served call; the
 * echo's 2 MiB result goes back from the pack's own buffer (taken over,
 * sliced in three pieces), whole. */
static void test_large_echo_without_copies(void **state) {
  (void)state;
  setup(1 << 26);
  size_t n = (2u << 20) + 12345, len;
  uint8_t *arg = pattern(n, 9);
  uint8_t *b = start_bytes(1, arg, n, &len);
  size_t off = 0;
  while (off < len) {
    size_t k = len - off > 50000 ? 50000 : len - off;
    put_part(3, b + off, k, off + k == len);
    off += k;
  }
  ax__msg m;
  int others = 0;
  uint8_t *whole = read_parts(&m, &others);
  assert_int_equal(m.type, AX__M_RETURN);
  assert_int_equal(m.cid, 1);
  assert_int_equal(m.value.len, n + 6);
  assert_memory_equal(m.value.p + 6, arg, n);
  free(whole);
  free(b);
  free(arg);
  teardown();
}

/* A large pack held behind a message of its call in parts, then sent in
 * parts itself, with a small value and a stop behind it, in order. */
static void test_held_pack_goes_in_parts_in_order(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  assert_int_equal(send_value(peer, AX__M_YIELD, 5, 300000, 1), 0);
  size_t n = (3u << 20) + 7;
  uint8_t *v = pattern(n, 4);
  ax_pack *pk = ax_pack_new();
  assert_int_equal(ax_pack_bin(pk, v, n), 0);
  size_t plen;
  const void *pb = ax_pack_bytes(pk, &plen);
  ax__msg m = {.type = AX__M_YIELD};
  AX__SET(&m, cid, 5);
  ax__msg_set_raw(&m, AX__F_value, pb, plen);
  assert_int_equal(ax__peer_send_pack(peer, &m, AX__F_value, pk), 0);
  ax_pack_free(pk);
  assert_int_equal(send_value(peer, AX__M_YIELD, 5, 0, 7), 0);
  assert_int_equal(send_value(peer, AX__M_STOP, 5, 0, 0), 0);
  int others = 0;
  uint8_t *w1 = read_parts(&m, &others);
  assert_int_equal(m.value.len, 300005);
  free(w1);
  uint8_t *w2 = read_parts(&m, &others);
  assert_int_equal(others, 0);
  assert_int_equal(m.type, AX__M_YIELD);
  assert_int_equal(m.value.len, n + 5);
  assert_memory_equal(m.value.p + 5, v, n);
  free(w2);
  next_msg(&m);
  assert_int_equal(m.type, AX__M_YIELD);
  assert_int_equal(m.value.len, 1);
  next_msg(&m);
  assert_int_equal(m.type, AX__M_STOP);
  free(v);
  teardown();
}

/* A start with no part out, cancelled, with messages held behind it (a
 * cancel, a caller's value): all dropped unsent, none leaked. */
static void test_cancel_drops_what_waits_behind(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  size_t n = 1u << 20;
  size_t klen;
  uint8_t *kw = zero_args(n, &klen);
  int done = 0;
  ax__call *c = NULL;
  assert_int_equal(
      ax__peer_call(peer, NULL, "a", kw, klen, done_cb, &done, &c), 0);
  ax__call_cancel_keep(c);
  ax__msg y = {.type = AX__M_YIELD};
  AX__SET(&y, cid, c->node.cid);
  AX__SET(&y, caller, 1);
  ax__msg_set_raw(&y, AX__F_value, "\x01", 1);
  assert_int_equal(ax__peer_send(peer, &y), 0);
  c->op.cancel(&c->op);
  assert_int_equal(done, AX_ECANCELED);
  assert_true(ax__list_empty(&peer->outparts));
  free(kw);
  teardown();
}

/* An outmsg whose value was taken over is sliced from its three pieces
 * (bytes before the value, the value, bytes after): no part crosses a
 * piece, the bytes are the message's, last is on the final part only. */
static void test_slices_of_a_taken_value(void **state) {
  (void)state;
  size_t heads[] = {1, 10, AX__PART_DATA, AX__PART_DATA + 1};
  size_t exts[] = {1, AX__PART_DATA, 2 * AX__PART_DATA + 3};
  size_t tails[] = {0, 1, 7, AX__PART_DATA + 5};
  for (int h = 0; h < 4; h++)
    for (int e = 0; e < 3; e++)
      for (int t = 0; t < 4; t++) {
        size_t H = heads[h], E = exts[e], T = tails[t], n = H + E + T;
        uint8_t *all = pattern(n, (unsigned)(h * 16 + e * 4 + t));
        ax__outmsg *o = ax__outmsg_new(H + T);
        memcpy(o->buf, all, H);
        memcpy(o->buf + H, all + H + E, T);
        uint8_t *ext = malloc(E);
        memcpy(ext, all + H, E);
        o->ext = ext;
        o->ext_len = E;
        o->at = H;
        o->ext_buf = ext;
        o->ext_cap = E; /* below AX__MEM_BIG: free() */
        o->len = n;
        uint8_t *got = malloc(n);
        size_t off = 0;
        while (o->off < o->len) {
          ax__msg part;
          size_t k = ax__outmsg_part(o, &part);
          assert_true(k > 0 && k <= AX__PART_DATA);
          assert_int_equal(part.data.len, k);
          /* never across pieces */
          assert_true(!(o->off < H && o->off + k > H));
          assert_true(!(o->off < H + E && o->off + k > H + E));
          memcpy(got + off, part.data.p, k);
          off += k;
          o->off += k;
          assert_int_equal(AX__HAS(&part, last) ? 1 : 0, o->off == o->len);
        }
        assert_int_equal(off, n);
        assert_memory_equal(got, all, n);
        ax__outmsg_free(o);
        free(got);
        free(all);
      }
}

/* The callee's credit that grows its window does not overtake its
 * started in parts: the caller takes a credit before started as a
 * protocol error. */
static void test_grow_credit_waits_for_started(void **state) {
  (void)state;
  setup(1 << 26);
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, 1);
  AX__SET(&m, ctx, 1);
  ax__msg_set_str(&m, AX__F_func, "grow");
  ax__msg_set_raw(&m, AX__F_kwargs, "\x90", 1);
  put(&m);
  seen s[8];
  int n = see(s, 8, AX__M_RETURN, 1);
  int started = -1, credit = -1;
  for (int i = 0; i < n; i++) {
    if (s[i].type == AX__M_STARTED) started = i;
    if (s[i].type == AX__M_CREDIT && credit < 0) credit = i;
  }
  assert_true(started >= 0);
  assert_true(credit >= 0);
  assert_true(credit > started);
  teardown();
}

/* The caller's side of a stream of call 9, opened, whose other side
 * grants far more than the channel's high mark. */
static ax_stream *granted_stream(ax__peer *peer) {
  ax_stream *s = ax__stream_new(peer, 9, 1);
  assert_non_null(s);
  assert_int_equal(ax__stream_open(s, NULL), 0);
  ax__msg c = {.type = AX__M_CREDIT};
  AX__SET(&c, cid, 9);
  AX__SET(&c, msgs, 1u << 20);
  AX__SET(&c, bytes, 1u << 30);
  AX__SET(&c, grow, 1);
  assert_int_equal(ax__stream_msg(s, &c), 0);
  return s;
}

/* A task that sends on a stream: a first value of `first` bytes, then
 * values of `each` bytes, until a send fails or `count` went. */
typedef struct sender {
  ax_stream *s;
  size_t first, each;
  int count, sent, rc, done;
} sender;

static int sender_task(void *arg) {
  sender *t = arg;
  static const uint8_t zeros[1u << 20];
  for (; t->sent < t->count; t->sent++) {
    ax_pack *v = ax_pack_new();
    ax_pack_bin(v, zeros, t->sent ? t->each : t->first);
    if ((t->rc = ax_stream_send(t->s, v)) < 0) break;
  }
  t->done = 1;
  return 0;
}

/* Step the loop, reading nothing, until a sender waits for the channel. */
static void until_a_sender_waits(ax__peer *peer) {
  for (int i = 0; i < 100000 && ax__list_empty(&peer->chan.writers); i++)
    ax_loop_step();
}

/* Read until the sender is done. */
static void read_until_done(const sender *t) {
  while (!t->done) {
    ax__msg m;
    assert_int_equal(next(&m), 0);
  }
}

/* A stream freed (its context closed) while a send on it waits for a
 * full channel to drain: the send ends at once with AX_ECLOSED, though
 * the channel is still full, and touches nothing freed (it used to read
 * the freed stream once the channel drained). Values in parts count
 * against the channel's high mark like queued frames (they used to pile
 * up in memory without the sender ever waiting). */
static void test_stream_freed_while_a_send_waits(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  ax_stream *s = granted_stream(peer);
  sender t = {s, 65536, 65536, 1 << 30, 0, 0, 0};
  assert_int_equal(ax_task_start(sender_task, &t, NULL), 0);
  until_a_sender_waits(peer);
  assert_false(ax__list_empty(&peer->chan.writers));
  assert_int_equal(t.done, 0);
  assert_true((size_t)t.sent * 65536 > peer->chan.high_water / 2);
  ax__stream_free(s);
  for (int i = 0; i < 1000 && !t.done; i++) ax_loop_step(); /* no reads */
  assert_int_equal(t.done, 1);
  assert_int_equal(t.rc, AX_ECLOSED);
  teardown();
}

/* Small values held back behind a large one of their stream count as
 * what the peer holds: with nobody reading, their sender waits near the
 * high mark (it sent them all, the held bytes growing without bound). */
static void test_small_values_behind_a_large_one_wait(void **state) {
  (void)state;
  ax__peer *peer = setup(1 << 26);
  ax_stream *s = granted_stream(peer);
  sender t = {s, 1u << 20, 1024, 20000, 0, 0, 0};
  assert_int_equal(ax_task_start(sender_task, &t, NULL), 0);
  until_a_sender_waits(peer);
  int waiting = !ax__list_empty(&peer->chan.writers) && !t.done;
  size_t backlog = peer->chan.held + peer->chan.wqueued;
  ax__stream_free(s);
  read_until_done(&t);
  teardown();
  assert_true(waiting);
  assert_true(backlog <= (8u << 20) + (2u << 20));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_assembler_in_order),
      cmocka_unit_test(test_assembler_interleaved),
      cmocka_unit_test(test_assembler_unknown_id),
      cmocka_unit_test(test_assembler_limits),
      cmocka_unit_test(test_splitter),
      cmocka_unit_test(test_call_in_parts_both_ways),
      cmocka_unit_test(test_bad_parts_close_the_channel),
      cmocka_unit_test(test_part_over_the_maximum_closes_the_channel),
      cmocka_unit_test(test_sender_sends_parts_only_when_asked),
      cmocka_unit_test(test_small_message_overtakes_parts),
      cmocka_unit_test(test_cancel_waits_for_the_last_part),
      cmocka_unit_test(test_a_call_keeps_its_order_behind_parts),
      cmocka_unit_test(test_grow_credit_waits_for_started),
      cmocka_unit_test(test_slices_of_a_taken_value),
      cmocka_unit_test(test_large_echo_without_copies),
      cmocka_unit_test(test_held_pack_goes_in_parts_in_order),
      cmocka_unit_test(test_cancel_drops_what_waits_behind),
      cmocka_unit_test(test_stream_freed_while_a_send_waits),
      cmocka_unit_test(test_small_values_behind_a_large_one_wait),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
