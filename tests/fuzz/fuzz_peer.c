/* fuzz_peer.c - a whole served peer, fed any byte stream through a
 * socketpair in chunks of 1 byte to 1 MiB, driven by ax_loop_step as a
 * foreign event loop drives the runtime (see tests/unit/test_serve.c).
 * Starts reach two test loaders, one asynchronous (calls start on the loop
 * and may end later) and one run in tasks (calls that block, yield, fail,
 * return a large value); spawn, cancel and error reach a control callback
 * like the child side's; the peer also makes calls of its own, so replies
 * find a call waiting.
 *
 * The input: a header of 5 bytes, then the bytes to send.
 *   [0] bits 0-4: chunk size 2^(n % 21) bytes; bit 5: sizes vary below
 *       that, drawn from [1]; bit 6: debug logging; bit 7: the runtime
 *       plays the child side (its hello waits for a spawn) and closes the
 *       peer itself at the end, instead of the other side closing first.
 *   [1] seed of the chunk sizes, of when held calls are finished.
 *   [2] r: the middle part is sent r*r times (so a short input makes a
 *       large stream: a big frame, or many messages). Streams stop at
 *       2 MiB and take at most 2048 writes, in larger chunks if need be.
 *   [3], [4] lengths of the first part and of the repeated middle part;
 *       the rest of the input follows them.
 *
 * Besides not crashing, leaking or hanging: every frame the runtime sends
 * is a valid message, its parts (to an input whose hello takes them)
 * assemble into valid messages, every call the peer made completes
 * exactly once, and once the peer is gone every task ends. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STREAM (2u << 20)
#define MAX_WRITES 2048
#define OWN_CALLS 3

static void check(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "fuzz_peer: %s\n", what);
  abort();
}

/* ------------------------------------------------ the state of one run */

typedef struct held_call {
  ax_ctx *ctx;
  int cancelled;
} held_call;

static struct {
  int fd; /* the other side's end */
  ax__peer *peer;
  int gone;
  uint32_t rng;
  held_call *held;
  size_t nheld, capheld;
  int calls_made, calls_done[OWN_CALLS], started[OWN_CALLS];
  ax_stream *stream; /* of our own context call, made by its messages */
  ax__call *last_call;
  uint8_t *in; /* what the runtime sent, not yet parsed */
  size_t inlen, incap;
  ax__assembler parts; /* of the runtime's messages in parts */
} run;

static uint32_t rnd(void) {
  run.rng = run.rng * 1103515245u + 12345u;
  return run.rng >> 16;
}

static void hold(ax_ctx *ctx) {
  if (run.nheld == run.capheld) {
    size_t cap = run.capheld ? 2 * run.capheld : 16;
    held_call *h = realloc(run.held, cap * sizeof *h);
    check(h != NULL, "out of memory");
    run.held = h;
    run.capheld = cap;
  }
  run.held[run.nheld++] = (held_call){ctx, 0};
}

/* End held call i: a value, or Cancelled when it was interrupted. */
static void finish_held(size_t i) {
  held_call h = run.held[i];
  run.held[i] = run.held[--run.nheld];
  if (h.cancelled) {
    check(ax_ctx_finish(h.ctx, AX_ECANCELED) == 0, "finish cancelled");
    return;
  }
  ax_pack *p = ax_pack_new();
  check(p != NULL, "out of memory");
  ax_pack_str(p, "later");
  check(ax_ctx_return(h.ctx, p) == 0, "return");
  check(ax_ctx_finish(h.ctx, 0) == 0, "finish");
}

/* ------------------------------------------------------------- loaders */

static int load(const char *name, void **mod, ax_error **err) {
  (void)err;
  *mod = (void *)name;
  return 0;
}

static void ignore_done(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  (void)status;
  ax_data_free(r);
  ax_error_free(e);
}

/* What both loaders serve; in a task, calls may also block. */
static int serve(ax_ctx *ctx, const char *func, const ax_val *args,
                 int in_task) {
  if (strcmp(func, "echo") == 0) return ax_ctx_return_val(ctx, args);
  if (strcmp(func, "later") == 0) {
    hold(ctx);
    return AX_EPENDING;
  }
  if (strcmp(func, "fail") == 0)
    return ax_ctx_fail(ctx, "ValueError", "failed on %s", func);
  if (strcmp(func, "fail_info") == 0) {
    /* The arguments, when a map, as the error's info. */
    ax_error *e = ax_error_new("ValueError", "failed with info");
    ax_data *info = NULL;
    if (ax_val_type(args) == AX_T_MAP) {
      ax_pack *p = ax_pack_new();
      if (p && ax_pack_val(p, args) == 0)
        ax_pack_finish(p, &info);
      else
        ax_pack_free(p);
    }
    if (e && info) check(ax_error_set_info(e, info) == 0, "set info");
    ax_data_free(info);
    return ax_ctx_raise(ctx, e);
  }
  if (strcmp(func, "bad") == 0) {
    /* An array of two with one item: malformed, a TypeError to the caller. */
    ax_pack *p = ax_pack_new();
    if (!p) return AX_ENOMEM;
    ax_pack_array(p, 2);
    ax_pack_nil(p);
    return ax_ctx_return(ctx, p);
  }
  if (strcmp(func, "big") == 0) {
    /* A result of a size from the arguments, up to 1 MiB: large writes. */
    size_t n = (size_t)ax_val_int(ax_val_at(args, 0)) & ((1u << 20) - 1);
    char *b = calloc(1, n + 1);
    ax_pack *p = ax_pack_new();
    if (!b || !p) {
      free(b);
      ax_pack_free(p);
      return AX_ENOMEM;
    }
    ax_pack_bin(p, b, n);
    free(b);
    return ax_ctx_return(ctx, p);
  }
  if (in_task && strcmp(func, "yield") == 0) {
    for (int i = 0; i < 3; i++) {
      int rc = ax_yield();
      if (rc < 0) return rc;
    }
    return ax_ctx_return_val(ctx, args);
  }
  if (strcmp(func, "ctx") == 0) {
    /* A context: started with the arguments (twice is refused), then
     * the end; a plain call's started is refused at once. */
    ax_pack *p = ax_pack_new();
    if (p) ax_pack_val(p, args);
    int rc = ax_ctx_started(ctx, p);
    check(rc != AX_ESTATE || !ax_ctx_is_context(ctx), "started refused");
    check(rc < 0 || ax_ctx_started(ctx, NULL) == AX_ESTATE, "started twice");
    ax_stream *st;
    if (rc == 0 && ax_ctx_open_stream(ctx, NULL, &st) == 0) {
      for (int i = 0; i < 2 && rc == 0; i++) {
        ax_pack *y = ax_pack_new();
        if (y) ax_pack_int(y, i);
        rc = in_task ? ax_stream_send(st, y)
                     : ax_stream_send_cb(st, y, ignore_done, NULL, NULL);
      }
      ax_data *got = NULL;
      if (in_task && rc == 0 && ax_stream_recv(st, &got, NULL) == 0)
        ax_data_free(got);
      ax_stream_close(st);
    }
    return ax_ctx_return_val(ctx, args);
  }
  if (in_task && strcmp(func, "block") == 0) {
    /* Until cancelled: by a cancel, the peer going, or the actor's end. */
    return ax_sleep(3600);
  }
  /* Without ax_ctx_fail's backtrace, which costs much: a stream of such
   * calls must stay quick. */
  return ax_ctx_raise(ctx,
                      ax_error_new("FunctionNotFound", "no function %s", func));
}

static int async_call(void *mod, ax_ctx *ctx, const char *func,
                      const ax_val *args) {
  (void)mod;
  check(!ax_in_task(), "an asynchronous call in a task");
  return serve(ctx, func, args, 0);
}

static int task_call(void *mod, ax_ctx *ctx, const char *func,
                     const ax_val *args) {
  (void)mod;
  check(ax_in_task(), "a task-run call outside a task");
  return serve(ctx, func, args, 1);
}

/* A cancelled held call ends as a binding would end it: at once, or on
 * a later turn of its loop, as the seed says. ctx NULL: all of them. */
static void interrupt(void *mod, ax_ctx *ctx) {
  (void)mod;
  for (size_t i = run.nheld; i-- > 0;) {
    if (ctx && run.held[i].ctx != ctx) continue;
    run.held[i].cancelled = 1;
    if (rnd() & 1) finish_held(i);
    if (ctx) return;
  }
}

static const ax_loader async_loader = {
    sizeof(ax_loader), "async",  load, async_call, NULL,
    AX_LOADER_ASYNC,   interrupt};
static const ax_loader task_loader = {
    sizeof(ax_loader), "task", load, task_call, NULL, 0, interrupt};

/* ------------------------------------------------------------ the peer */

static void on_own_call(void *ud, int status, ax_data *result, ax_error *err) {
  int i = (int)(intptr_t)ud;
  (void)status;
  run.calls_done[i]++;
  check(run.calls_done[i] == 1, "a call ended twice");
  if (i == 0 && run.stream) ax__stream_end(run.stream, status, err);
  ax_data_free(result);
  ax_error_free(err);
}

/* A context's first value: at most once, and before the call ends. */
static void on_own_started(void *ud, ax_data *value) {
  int i = (int)(intptr_t)ud;
  check(run.calls_done[i] == 0, "started after the call ended");
  check(++run.started[i] == 1, "started twice");
  ax_data_free(value);
}

/* Our context's stream messages; its values are taken as they come
 * (outside a task, only those queued), so that credit goes back. */
static int on_own_stream(void *ud, const ax__msg *m) {
  (void)ud;
  if (!run.stream) {
    run.stream = ax__stream_new(run.peer, 1, 1);
    if (!run.stream) return AX_ENOMEM;
    check(ax__stream_open(run.stream, NULL) == 0, "stream open");
  }
  int rc = ax__stream_msg(run.stream, m);
  ax_data *v;
  while (rc == 0 && ax_stream_recv(run.stream, &v, NULL) == 0)
    ax_data_free(v);
  return rc;
}

/* Calls of this side, once the peer is ready, so that replies find one;
 * the first is a context, which a started may answer. */
static void make_calls(void) {
  if (run.calls_made || run.peer->state != AX__PEER_READY) return;
  run.calls_made = 1;
  for (int i = 0; i < OWN_CALLS; i++) {
    int rc =
        i == 0 ? ax__peer_open(run.peer, NULL, "f", NULL, 0, 1, on_own_started, on_own_stream,
                               on_own_call, (void *)(intptr_t)i,
                               &run.last_call)
               : ax__peer_call(run.peer, NULL, "f", "\x91\x01", 2,
                               on_own_call, (void *)(intptr_t)i,
                               &run.last_call);
    if (rc < 0) run.calls_done[i]++; /* never called back */
  }
}

/* What the child side does with messages about the actor. */
static int control(ax__peer *peer, const ax__msg *m) {
  switch (m->type) {
    case AX__M_SPAWN: {
      ax__spec *s = NULL;
      int rc = ax__spec_from_msg(m, &s);
      ax__spec_free(s);
      if (rc < 0) return rc;
      if (!peer->hello_sent) ax__peer_send_hello(peer);
      make_calls();
      return 0;
    }
    case AX__M_CANCEL:
      ax__cancel_actor(0);
      ax__peer_send_cid(peer, AX__M_CANCEL_ACK, 0);
      return 0;
    case AX__M_ERROR: {
      ax_error *err = NULL;
      int rc = ax__peer_decode_error(&m->error, &err);
      if (rc < 0) return rc;
      char *text = ax_error_format(err);
      ax_free(text);
      ax_error_free(err);
      return 0;
    }
    default:
      return 0;
  }
}

/* As soon as both hellos are through: replies in the same read find
 * their calls. */
static void ready(ax__peer *peer, const ax__msg *hello) {
  (void)peer;
  (void)hello;
  make_calls();
}

static void gone(ax__peer *peer, int status) {
  (void)status;
  run.gone = 1;
  ax__peer_fail_calls(peer, NULL);
}

static const ax__peer_cbs cbs = {
    .ready = ready, .start = ax__serve_start, .control = control, .gone = gone};

/* ------------------------------------------------------------- driving */

/* Read what the runtime sent; each whole frame must be a valid message. */
static void receive(void) {
  for (;;) {
    if (run.incap - run.inlen < 65536) {
      size_t cap = run.incap ? 2 * run.incap : 1u << 17;
      uint8_t *p = realloc(run.in, cap);
      check(p != NULL, "out of memory");
      run.in = p;
      run.incap = cap;
    }
    ssize_t n =
        recv(run.fd, run.in + run.inlen, run.incap - run.inlen, MSG_DONTWAIT);
    if (n <= 0) break;
    run.inlen += (size_t)n;
  }
  size_t off = 0;
  for (;;) {
    const uint8_t *msg;
    size_t mlen;
    long r =
        ax__frame_next(run.in + off, run.inlen - off, 64u << 20, &msg, &mlen);
    check(r >= 0, "the runtime sent an oversized frame");
    if (r == 0) break;
    ax__msg m;
    check(ax__msg_decode(msg, mlen, &m) == 0,
          "the runtime sent a malformed message");
    if (m.type == AX__M_PART) {
      uint8_t *whole;
      size_t wlen;
      const char *why;
      int rc = ax__assembler_add(&run.parts, m.id, (const uint8_t *)m.data.p,
                                 m.data.len, AX__HAS(&m, last) && m.last,
                                 &whole, &wlen, &why);
      check(rc >= 0, "the runtime sent parts a peer refuses");
      if (rc == 1) {
        ax__msg inner;
        check(ax__msg_decode(whole, wlen, &inner) == 0 &&
                  inner.type != AX__M_PART,
              "the runtime's parts assemble into a malformed message");
        ax__buf_free(whole, wlen);
      }
    }
    off += (size_t)r;
  }
  memmove(run.in, run.in + off, run.inlen - off);
  run.inlen -= off;
}

/* Wait for the runtime's loop or its output, no longer than the loop
 * has nothing to do. */
static void wait_io(void) {
  int t = ax_loop_timeout();
  struct pollfd pl[2] = {{ax_loop_fd(), POLLIN, 0}, {run.fd, POLLIN, 0}};
  poll(pl, 2, t < 0 || t > 10 ? 10 : t);
}

static void step(void) {
  ax_loop_step();
  receive();
  make_calls();
  /* Now and then our last call is cancelled before its reply. */
  if (run.calls_made && !run.calls_done[OWN_CALLS - 1] && (rnd() & 63) == 0)
    run.last_call->op.cancel(&run.last_call->op);
  /* Now and then a held call ends, as a foreign loop would end it. */
  if (run.nheld && (rnd() & 7) == 0) finish_held(rnd() % run.nheld);
}

/* The stream: first part, middle part r*r times, the rest. */
static uint8_t *build_stream(const uint8_t *data, size_t size, size_t *len) {
  size_t reps = (size_t)data[2] * data[2];
  size_t body = size - 5;
  size_t plen = data[3] < body ? data[3] : body;
  size_t mlen = data[4] < body - plen ? data[4] : body - plen;
  const uint8_t *p = data + 5, *mid = p + plen, *rest = mid + mlen;
  size_t rlen = body - plen - mlen;
  size_t room = plen + rlen < MAX_STREAM ? MAX_STREAM - plen - rlen : 0;
  if (mlen && reps > room / mlen) reps = room / mlen;
  size_t n = plen + reps * mlen + rlen;
  uint8_t *s = malloc(n ? n : 1), *w = s;
  check(s != NULL, "out of memory");
  memcpy(w, p, plen);
  w += plen;
  for (size_t i = 0; i < reps; i++, w += mlen) memcpy(w, mid, mlen);
  memcpy(w, rest, rlen);
  *len = n;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  memset(&run, 0, sizeof run);
  run.parts.max = 64u << 20;
  uint8_t flags = data[0];
  run.rng = data[1];
  size_t base = (size_t)1 << ((flags & 31u) % 21);
  size_t len;
  uint8_t *stream = build_stream(data, size, &len);
  /* Few enough writes that a large stream in small chunks stays fast. */
  if (len / MAX_WRITES > base) base = len / MAX_WRITES;

  check(ax_init(NULL) == 0, "init");
  /* Quiet unless the input asks for the debug log (its code runs too). */
  ax__rt_g->loglevel = flags & 64 ? AX_LOG_DEBUG : 0;
  check(ax_loader_register(&async_loader) == 0, "register");
  check(ax_loader_register(&task_loader) == 0, "register");
  const char *enable[] = {"task:t"};
  ax_error *err = NULL;
  check(ax__modules_enable("async:a", enable, 1, &err) == 0, "enable");
  int sv[2];
  check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
        "socketpair");
  run.fd = sv[1];
  run.peer = ax__peer_new(sv[0], &cbs, NULL);
  check(run.peer != NULL, "peer");
  run.peer->refs++; /* the owner's, dropped at the end */
  /* As a parent does: our hello first; the child side waits for spawn. */
  if (!(flags & 128)) check(ax__peer_send_hello(run.peer) == 0, "hello");

  size_t off = 0;
  while (off < len && !run.peer->chan.closing) {
    size_t want = flags & 32 ? 1 + rnd() % base : base;
    if (want > len - off) want = len - off;
    ssize_t n = send(run.fd, stream + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      break; /* the runtime closed its end: a protocol error */
    } else {
      wait_io();
    }
    step();
  }
  free(stream);
  for (int i = 0; i < 20; i++) step();

  /* The end: either side closes; every call ends, every task too. */
  if (flags & 128)
    ax__peer_close(run.peer, NULL);
  else
    shutdown(run.fd, SHUT_WR);
  int spins;
  for (spins = 0; spins < 100000; spins++) {
    while (run.gone && run.nheld) finish_held(0);
    if (run.gone && ax_alive() == 0 && run.peer->chan.stream == NULL) break;
    wait_io();
    step();
  }
  check(spins < 100000, "the peer does not end");
  for (int i = 0; i < OWN_CALLS; i++)
    check(run.calls_done[i] == (run.calls_made ? 1 : 0),
          "a call made on the peer did not complete exactly once");
  ax__stream_free(run.stream);
  ax__peer_unref(run.peer);
  close(run.fd);
  check(ax_shutdown() == 0, "shutdown");
  free(run.held);
  free(run.in);
  ax__assembler_free(&run.parts);
  return 0;
}
