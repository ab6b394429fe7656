/* test_serve.c - serving calls, seen from the wire. A test plays the
 * caller on one end of a socketpair and writes frames by hand; the runtime
 * serves on the other end, driven by ax_loop_step as a foreign event loop
 * would drive it. An asynchronous loader finishes calls later with
 * ax_ctx_finish, from outside any task; start_ack comes only for calls
 * that outlive the loop iteration that started them. */
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

/* ----------------------------------------------- an asynchronous loader */

static ax_ctx *held[512];
static int nheld, in_task_calls, interrupts;

static int async_load(const char *name, void **mod, ax_error **err) {
  (void)name;
  (void)err;
  *mod = &nheld;
  return 0;
}

/* "now" answers at once; "later" keeps the call for the test to finish. */
static int async_call(void *mod, ax_ctx *ctx, const char *func,
                      const ax_val *args) {
  (void)mod;
  if (ax_in_task()) in_task_calls++;
  if (strcmp(func, "now") == 0) return ax_ctx_return_val(ctx, args);
  if (strcmp(func, "later") == 0) {
    held[nheld++] = ctx;
    return AX_EPENDING;
  }
  return ax_ctx_fail(ctx, "FunctionNotFound", "no %s", func);
}

static void async_interrupt(void *mod, ax_ctx *ctx) {
  (void)mod;
  if (ctx) interrupts++;
}

static const ax_loader async_loader = {sizeof(ax_loader), "async",
                                       async_load,        async_call,
                                       NULL,              AX_LOADER_ASYNC,
                                       async_interrupt};

/* ------------------------------------------------------ the wire side */

static int fd; /* the test's end */

static void put(const ax__msg *m) {
  uint8_t buf[1024];
  uint8_t *end = ax__msg_write(buf + 4, m);
  size_t n = (size_t)(end - buf - 4);
  buf[0] = 0;
  buf[1] = 0;
  buf[2] = (uint8_t)(n >> 8);
  buf[3] = (uint8_t)n;
  assert_int_equal(write(fd, buf, n + 4), (ssize_t)(n + 4));
}

static void start(uint64_t cid, const char *func) {
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, cid);
  ax__msg_set_str(&m, AX__F_func, func);
  ax__msg_set_raw(&m, AX__F_kwargs, "\x92\x01\xa1x", 4); /* [1, "x"] */
  put(&m);
}

static uint8_t in[65536];
static size_t inlen, used;

/* Step the runtime until a whole frame is there, then decode it. The
 * frame stays in `in` until the next call. */
static void next(ax__msg *m) {
  memmove(in, in + used, inlen - used);
  inlen -= used;
  used = 0;
  for (int spins = 0; spins < 100000; spins++) {
    const uint8_t *msg;
    size_t mlen;
    long r = ax__frame_next(in, inlen, sizeof in, &msg, &mlen);
    if (r > 0) {
      assert_int_equal(ax__msg_decode(msg, mlen, m), 0);
      used = (size_t)r;
      return;
    }
    struct pollfd p[2] = {{ax_loop_fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, 2, 10);
    ax_loop_step();
    ssize_t n = recv(fd, in + inlen, sizeof in - inlen, MSG_DONTWAIT);
    if (n > 0) inlen += (size_t)n;
  }
  fail_msg("no frame from the runtime");
}

/* Run the loop until nothing more arrives for a while. */
static size_t quiet(void) {
  size_t before = inlen;
  for (int i = 0; i < 20; i++) {
    struct pollfd p = {ax_loop_fd(), POLLIN, 0};
    poll(&p, 1, 5);
    ax_loop_step();
    ssize_t n = recv(fd, in + inlen, sizeof in - inlen, MSG_DONTWAIT);
    if (n > 0) inlen += (size_t)n;
  }
  return inlen - before;
}

static const ax__peer_cbs serve_cbs = {.start = ax__serve_start};

static ax__peer *setup(void) {
  assert_int_equal(ax_init(NULL), 0);
  assert_int_equal(ax_loader_register(&async_loader), 0);
  ax_error *err = NULL;
  assert_int_equal(ax__modules_enable("async:m", NULL, 0, &err), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd = sv[1];
  ax__peer *peer = ax__peer_new(sv[0], &serve_cbs, NULL);
  assert_non_null(peer);
  /* Handshake: each side's hello. */
  ax__msg h = {.type = AX__M_HELLO};
  AX__SET(&h, version, AX__PROTO_VERSION);
  ax__msg_set_str(&h, AX__F_name, "tester");
  ax__msg_set_str(&h, AX__F_uid, "0123456789abcdef0123456789abcdef");
  put(&h);
  assert_int_equal(ax__peer_send_hello(peer), 0);
  ax__msg m;
  next(&m);
  assert_int_equal(m.type, AX__M_HELLO);
  return peer;
}

static void teardown(void) {
  close(fd);
  inlen = used = 0;
  while (ax_loop_step()) {
  }
  assert_int_equal(ax_shutdown(), 0);
}

static void test_async_call_finished_later(void **state) {
  (void)state;
  nheld = in_task_calls = 0;
  setup();
  start(1, "later");
  start(2, "now");
  ax__msg m;
  /* "now" ends in the iteration it started in: its return and no ack;
   * "later" still runs when the loop writes, so it gets an ack. */
  int acks = 0, returns = 0;
  for (int i = 0; i < 2; i++) {
    next(&m);
    if (m.type == AX__M_START_ACK) {
      assert_int_equal(m.cid, 1);
      acks++;
    } else {
      assert_int_equal(m.type, AX__M_RETURN);
      assert_int_equal(m.cid, 2);
      assert_memory_equal(m.value.p, "\x92\x01\xa1x", 4);
      returns++;
    }
  }
  assert_int_equal(acks, 1);
  assert_int_equal(returns, 1);
  assert_int_equal(nheld, 1);
  assert_int_equal(quiet(), 0); /* nothing more until we finish it */
  /* Finish "later" from outside any task, as a foreign loop would. */
  ax_pack *p = ax_pack_new();
  ax_pack_str(p, "done");
  assert_int_equal(ax_ctx_return(held[0], p), 0);
  assert_int_equal(ax_ctx_finish(held[0], 0), 0);
  next(&m);
  assert_int_equal(m.type, AX__M_RETURN);
  assert_int_equal(m.cid, 1);
  assert_memory_equal(m.value.p, "\xa4" "done", 5);
  assert_int_equal(in_task_calls, 0); /* never on a task stack */
  teardown();
}

static void test_cancel_reaches_the_loader(void **state) {
  (void)state;
  nheld = interrupts = 0;
  setup();
  start(5, "later");
  ax__msg m;
  next(&m);
  assert_int_equal(m.type, AX__M_START_ACK);
  ax__msg c = {.type = AX__M_CANCEL};
  AX__SET(&c, cid, 5);
  put(&c);
  quiet();
  assert_int_equal(interrupts, 1);
  /* The binding ends the call as cancelled; the caller gets Cancelled. */
  assert_int_equal(ax_ctx_finish(held[0], AX_ECANCELED), 0);
  next(&m);
  assert_int_equal(m.type, AX__M_ERROR);
  assert_int_equal(m.cid, 5);
  ax_error *e = NULL;
  assert_int_equal(ax__peer_decode_error(&m.error, &e), 0);
  assert_string_equal(ax_error_type(e), "Cancelled");
  ax_error_free(e);
  teardown();
}

static void test_reused_cid_is_a_protocol_error(void **state) {
  (void)state;
  nheld = 0;
  setup();
  interrupts = 0;
  start(3, "later");
  start(3, "later");
  /* The channel is closed: the other end reads end of file, and the call
   * that was running is cancelled. */
  ssize_t n = -1;
  for (int i = 0; i < 1000 && n != 0; i++) {
    struct pollfd p[2] = {{ax_loop_fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, 2, 10);
    ax_loop_step();
    n = recv(fd, in, sizeof in, MSG_DONTWAIT);
  }
  assert_int_equal(n, 0);
  assert_int_equal(nheld, 1);
  assert_int_equal(interrupts, 1);
  ax_ctx_finish(held[0], AX_ECANCELED);
  teardown();
}

static void on_local(void *ud, int status, ax_data *r, ax_error *e) {
  int *done = ud;
  *done = status == 0 && ax_val_int(ax_val_at(ax_data_root(r), 0)) == 1 ? 1
                                                                       : -1;
  ax_data_free(r);
  ax_error_free(e);
}

static void test_call_local_completion_form(void **state) {
  (void)state;
  nheld = 0;
  assert_int_equal(ax_init(NULL), 0);
  assert_int_equal(ax_loader_register(&async_loader), 0);
  ax_data *args = NULL;
  assert_int_equal(ax_data_decode("\x91\x01", 2, &args), 0);
  int done = 0;
  ax_op *op = NULL;
  assert_int_equal(ax_call_local_cb("async:m", "later", args, on_local,
                                    &done, &op),
                   0);
  ax_data_free(args); /* copied */
  assert_int_equal(done, 0); /* never from inside the starting call */
  for (int i = 0; i < 100 && !nheld; i++) ax_loop_step();
  assert_int_equal(nheld, 1);
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, 1);
  ax_pack_int(p, 1);
  ax_ctx_return(held[0], p);
  assert_int_equal(ax_ctx_finish(held[0], 0), 0);
  assert_int_equal(done, 1);
  assert_int_equal(ax_shutdown(), 0);
}

/* The spawn spec: a deep copy of the options, sent once, read back the
 * same; the child's command line parses back to its name and our pid. */
static void test_spawn_spec_round_trip(void **state) {
  (void)state;
  ax__peer *peer = setup();
  char module[] = "lua:m", extra[] = "c:x.so";
  const char *enable[] = {extra};
  ax_spawn_opts o = {sizeof o, module, enable, 1, 3, 0};
  ax__spec *s = ax__spec_new("kid", &o);
  assert_non_null(s);
  memset(module, 'z', 5); /* the caller's strings are its own again */
  memset(extra, 'z', 6);
  assert_string_equal(s->module, "lua:m");
  assert_int_equal(ax__spec_send(peer, s), 0);
  ax__msg m;
  next(&m);
  assert_int_equal(m.type, AX__M_SPAWN);
  ax__spec *r = NULL;
  assert_int_equal(ax__spec_from_msg(&m, &r), 0);
  assert_string_equal(r->id.name, "kid");
  assert_string_equal(r->id.uid, s->id.uid);
  assert_string_equal(r->module, "lua:m");
  assert_int_equal(r->nenable, 1);
  assert_string_equal(r->enable[0], "c:x.so");
  assert_int_equal(r->loglevel, 3);
  assert_string_equal(r->parent, ax_actor_uid());
  char ppid[24], *argv[6];
  ax__spec_argv(argv, ppid, "/bin/axle", s);
  const char *name = NULL;
  int pid = 0;
  assert_int_equal(ax_child_args(5, argv, &name, &pid), 0);
  assert_string_equal(name, "kid");
  assert_int_equal(pid, (int)getpid());
  argv[3] = "--pid";
  assert_int_equal(ax_child_args(5, argv, &name, &pid), AX_EINVAL);
  ax__spec_free(r);
  ax__spec_free(s);
  teardown();
}

/* The authentication slot: before the owner trusts the peer, frames go
 * to its auth callback raw, even one that looks like a hello, and no
 * hello can be sent; afterwards the handshake runs as usual. */
static int auth_frames;
static int auth_cb(ax__peer *peer, const uint8_t *frame, size_t len) {
  auth_frames++;
  if (len == 6 && memcmp(frame, "cookie", 6) == 0) {
    ax__peer_auth_done(peer);
    return ax__peer_send_hello(peer);
  }
  return AX_EPROTO;
}

static void test_auth_step_before_hello(void **state) {
  (void)state;
  static const ax__peer_cbs auth_cbs = {.auth = auth_cb,
                                        .start = ax__serve_start};
  assert_int_equal(ax_init(NULL), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd = sv[1];
  auth_frames = 0;
  ax__peer *peer = ax__peer_new(sv[0], &auth_cbs, NULL);
  assert_non_null(peer);
  assert_int_equal(peer->state, AX__PEER_AUTH);
  assert_int_equal(ax__peer_send_hello(peer), AX_ESTATE);
  assert_int_equal(write(fd, "\0\0\0\6cookie", 10), 10);
  ax__msg m;
  next(&m); /* our hello, sent once the cookie was accepted */
  assert_int_equal(m.type, AX__M_HELLO);
  assert_int_equal(auth_frames, 1);
  assert_int_equal(peer->state, AX__PEER_HANDSHAKING);
  teardown();
}

/* More calls finished later than the record free list keeps (256): each
 * record leaves its peer's cid map before it can be freed. Under ASan this
 * was a use-after-free. */
static void test_many_calls_finished_later(void **state) {
  (void)state;
  nheld = 0;
  setup();
  for (uint64_t cid = 1; cid <= 300; cid++) {
    start(cid, "later");
    if (cid % 20 == 0) quiet(); /* let the runtime read as we write */
  }
  for (int i = 0; i < 100 && nheld < 300; i++) quiet();
  assert_int_equal(nheld, 300);
  for (int i = 0; i < 300; i++) {
    assert_int_equal(ax_ctx_return_val(held[i], NULL), 0);
    assert_int_equal(ax_ctx_finish(held[i], 0), 0);
  }
  int returns = 0;
  ax__msg m;
  while (returns < 300) {
    next(&m);
    if (m.type == AX__M_RETURN) returns++;
  }
  /* The cid map is empty again: cid 1 may be used anew. */
  start(1, "now");
  do next(&m); while (m.type != AX__M_RETURN);
  assert_int_equal(m.cid, 1);
  teardown();
}

/* ------------------------------------------------------ backpressure */

#define BP_TASKS 16
#define BP_ARG 40000

static ax_portal bp_portal;
static int bp_rc[BP_TASKS];
static unsigned char bp_args[BP_ARG + 8];
static size_t bp_len;

static int bp_caller(void *arg) {
  int i = (int)(intptr_t)arg;
  bp_rc[i] = ax_portal_run_bytes(&bp_portal, NULL, "f", bp_args, bp_len,
                                 NULL, NULL);
  return 0;
}

/* Callers in many tasks while nobody reads: what they queue stays within
 * the high mark plus one message (each caller waits before it queues),
 * and every call still goes out once the other side reads. */
static void test_backpressure_bounds_the_queue(void **state) {
  (void)state;
  ax__peer *peer = setup();
  peer->chan.high_water = 64 << 10;
  peer->chan.low_water = 16 << 10;
  uv_os_fd_t osfd;
  assert_int_equal(uv_fileno((uv_handle_t *)peer->chan.stream, &osfd), 0);
  int small = 4096;
  setsockopt(osfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  bp_portal = (ax_portal){.peer = peer};
  /* {"x": <BP_ARG bytes of bin>} */
  unsigned char *w = bp_args;
  *w++ = 0x81;
  *w++ = 0xa1;
  *w++ = 'x';
  *w++ = 0xc5;
  *w++ = (unsigned char)(BP_ARG >> 8);
  *w++ = (unsigned char)BP_ARG;
  memset(w, 7, BP_ARG);
  bp_len = (size_t)(w - bp_args) + BP_ARG;
  for (int i = 0; i < BP_TASKS; i++) {
    bp_rc[i] = 1;
    assert_int_equal(ax_task_start(bp_caller, (void *)(intptr_t)i, NULL), 0);
  }
  /* One scheduler run: every caller runs until it blocks. */
  ax_loop_step();
  assert_true(peer->chan.wqueued <= peer->chan.high_water + bp_len + 64);
  /* Now read: every call arrives, and each gets its return. */
  for (int got = 0; got < BP_TASKS;) {
    ax__msg m;
    next(&m);
    if (m.type != AX__M_START) continue;
    got++;
    ax__msg r = {.type = AX__M_RETURN};
    AX__SET(&r, cid, m.cid);
    put(&r);
  }
  for (int i = 0; i < 1000 && ax_alive() > 0; i++) quiet();
  for (int i = 0; i < BP_TASKS; i++) assert_int_equal(bp_rc[i], 0);
  teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backpressure_bounds_the_queue),
      cmocka_unit_test(test_many_calls_finished_later),
      cmocka_unit_test(test_auth_step_before_hello),
      cmocka_unit_test(test_spawn_spec_round_trip),
      cmocka_unit_test(test_async_call_finished_later),
      cmocka_unit_test(test_cancel_reaches_the_loader),
      cmocka_unit_test(test_reused_cid_is_a_protocol_error),
      cmocka_unit_test(test_call_local_completion_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
