/* seeds.c - writes the seed corpora of the fuzz targets (committed under
 * corpus/<target>/): small valid values, every message of the protocol,
 * and conversations with a served peer. Encoded with the runtime's own
 * writers, so that the seeds follow the message table.
 * Usage: fuzz_seeds CORPUS_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *root;

/* A string literal of bytes and its length, NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static void save(const char *target, const char *name, const void *p,
                 size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* ------------------------------------------------------------- values */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static void add(buf *b, const void *p, size_t n) {
  if (n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) exit(1);
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void save_pack(const char *target, const char *name, ax_pack *p) {
  size_t n;
  const void *b = ax_pack_bytes(p, &n);
  save(target, name, b, n);
  ax_pack_free(p);
}

/* An error map; with info, the application's own fields too:
 * {"code": 7, "detail": {"where": [1, "two"]}}. */
static void pack_error_info(ax_pack *p, int members, int info) {
  ax_pack_map(p, (members ? 6u : 5u) + (info ? 1u : 0u));
  ax_pack_str(p, "type");
  ax_pack_str(p, members ? "ErrorGroup" : "ValueError");
  ax_pack_str(p, "message");
  ax_pack_str(p, "it failed");
  ax_pack_str(p, "traceback");
  ax_pack_str(p, "line 1\nline 2");
  ax_pack_str(p, "src");
  ax_pack_map(p, 3);
  ax_pack_str(p, "name");
  ax_pack_str(p, "kid");
  ax_pack_str(p, "uid");
  ax_pack_str(p, "0123456789abcdef0123456789abcdef");
  ax_pack_str(p, "pid");
  ax_pack_int(p, 1234);
  ax_pack_str(p, "relay");
  ax_pack_array(p, 1);
  ax_pack_map(p, 3);
  ax_pack_str(p, "name");
  ax_pack_str(p, "root");
  ax_pack_str(p, "uid");
  ax_pack_str(p, "fedcba9876543210fedcba9876543210");
  ax_pack_str(p, "pid");
  ax_pack_int(p, 1);
  if (members) {
    ax_pack_str(p, "members");
    ax_pack_array(p, (uint32_t)members);
    for (int i = 0; i < members; i++) pack_error_info(p, 0, info);
  }
  if (info) {
    ax_pack_str(p, "info");
    ax_pack_map(p, 2);
    ax_pack_str(p, "code");
    ax_pack_int(p, 7);
    ax_pack_str(p, "detail");
    ax_pack_map(p, 1);
    ax_pack_str(p, "where");
    ax_pack_array(p, 2);
    ax_pack_int(p, 1);
    ax_pack_str(p, "two");
  }
}

static void pack_error(ax_pack *p, int members) {
  pack_error_info(p, members, 0);
}

static void values(void) {
  static const struct {
    const char *name;
    const char *bytes;
    size_t len;
  } raw[] = {
      {"nil", S("\xc0")},
      {"true", S("\xc3")},
      {"false", S("\xc2")},
      {"fixint", S("\x7f")},
      {"negfixint", S("\xe0")},
      {"uint8", S("\xcc\xff")},
      {"uint16", S("\xcd\xff\xff")},
      {"uint32", S("\xce\xff\xff\xff\xff")},
      {"uint64", S("\xcf\xff\xff\xff\xff\xff\xff\xff\xff")},
      {"int8", S("\xd0\x80")},
      {"int16", S("\xd1\x80\x00")},
      {"int32", S("\xd2\x80\x00\x00\x00")},
      {"int64", S("\xd3\x80\x00\x00\x00\x00\x00\x00\x00")},
      {"float32", S("\xca\x3f\xc0\x00\x00")},
      {"float64", S("\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18")},
      {"fixstr", S("\xa3"
                   "abc")},
      {"str8", S("\xd9\x03"
                 "a\0b")},
      {"str16", S("\xda\x00\x01x")},
      {"str32", S("\xdb\x00\x00\x00\x01x")},
      {"bin8", S("\xc4\x02\x01\x02")},
      {"bin16", S("\xc5\x00\x01\x00")},
      {"bin32", S("\xc6\x00\x00\x00\x01\x00")},
      {"fixext1", S("\xd4\x01\x02")},
      {"fixext16", S("\xd8\x01"
                     "0123456789abcdef")},
      {"ext8", S("\xc7\x01\x05\x00")},
      {"ext16", S("\xc8\x00\x01\x05\x00")},
      {"ext32", S("\xc9\x00\x00\x00\x01\x05\x00")},
      {"fixarray", S("\x93\x01\xa1x\xc0")},
      {"array16", S("\xdc\x00\x02\x01\x02")},
      {"array32", S("\xdd\x00\x00\x00\x01\x01")},
      {"fixmap", S("\x82\xa1"
                   "a\x01\xa1"
                   "b\x92\xc2\xc3")},
      {"map16", S("\xde\x00\x01\xa1k\x80")},
      {"map32", S("\xdf\x00\x00\x00\x01\x01\x90")},
      {"trailing", S("\x91\x01\x02")},
  };
  for (size_t i = 0; i < sizeof raw / sizeof *raw; i++)
    save("value", raw[i].name, raw[i].bytes, raw[i].len);
  /* Nested as deep as allowed: 31 arrays around an int. */
  uint8_t deep[32];
  memset(deep, 0x91, 31);
  deep[31] = 0x01;
  save("value", "deepest", deep, sizeof deep);
  ax_pack *p = ax_pack_new();
  pack_error(p, 0);
  save_pack("value", "error", p);
  p = ax_pack_new();
  pack_error(p, 2);
  save_pack("value", "error_group", p);
  p = ax_pack_new();
  pack_error_info(p, 2, 1);
  save_pack("value", "error_info", p);
}

/* ----------------------------------------------------------- messages */

/* One message as a frame, appended to b. */
static void frame(buf *b, const ax__msg *m) {
  size_t bound = ax__msg_bound(m);
  uint8_t *w = malloc(4 + bound);
  if (!w) exit(1);
  size_t n = (size_t)(ax__msg_write(w + 4, m) - w - 4);
  w[0] = (uint8_t)(n >> 24);
  w[1] = (uint8_t)(n >> 16);
  w[2] = (uint8_t)(n >> 8);
  w[3] = (uint8_t)n;
  add(b, w, 4 + n);
  free(w);
}

static void hello(buf *b) {
  ax__msg m = {.type = AX__M_HELLO};
  AX__SET(&m, version, AX__PROTO_VERSION);
  ax__msg_set_str(&m, AX__F_name, "parent");
  ax__msg_set_str(&m, AX__F_uid, "0123456789abcdef0123456789abcdef");
  AX__SET(&m, pid, 4242);
  frame(b, &m);
}

/* A hello that takes messages in parts (max_msg). */
static void hello_parts(buf *b) {
  ax__msg m = {.type = AX__M_HELLO};
  AX__SET(&m, version, AX__PROTO_VERSION);
  ax__msg_set_str(&m, AX__F_name, "parent");
  ax__msg_set_str(&m, AX__F_uid, "0123456789abcdef0123456789abcdef");
  AX__SET(&m, pid, 4242);
  AX__SET(&m, max_msg, 1 << 26);
  frame(b, &m);
}

static void part(buf *b, uint64_t id, const void *data, size_t n, int last) {
  ax__msg m = {.type = AX__M_PART};
  AX__SET(&m, id, id);
  ax__msg_set_bin(&m, AX__F_data, data, n);
  if (last) AX__SET(&m, last, 1);
  frame(b, &m);
}

/* The encoded bytes of m, the caller's to free. */
static uint8_t *encode(const ax__msg *m, size_t *len) {
  uint8_t *w = malloc(ax__msg_bound(m));
  if (!w) exit(1);
  *len = (size_t)(ax__msg_write(w, m) - w);
  return w;
}

static void spawn(buf *b) {
  ax__msg m = {.type = AX__M_SPAWN};
  ax__msg_set_str(&m, AX__F_name, "kid");
  ax__msg_set_str(&m, AX__F_uid, "fedcba9876543210fedcba9876543210");
  ax__msg_set_str(&m, AX__F_module, "async:a");
  ax__msg_set_raw(&m, AX__F_enable, S("\x91\xa6task:t"));
  AX__SET(&m, loglevel, 2);
  AX__SET(&m, debug, 0);
  AX__SET(&m, grace, 0.25);
  AX__SET(&m, max_frame, 1 << 20);
  ax__msg_set_str(&m, AX__F_parent, "0123456789abcdef0123456789abcdef");
  frame(b, &m);
}

static void start(buf *b, uint64_t cid, const char *ns, const char *func,
                  const char *args, size_t alen) {
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, cid);
  if (ns) ax__msg_set_str(&m, AX__F_ns, ns);
  ax__msg_set_str(&m, AX__F_func, func);
  if (args) ax__msg_set_raw(&m, AX__F_kwargs, args, alen);
  frame(b, &m);
}

/* A start with ctx 1: a context. */
static void start_ctx(buf *b, uint64_t cid, const char *ns, const char *func,
                      const char *args, size_t alen) {
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, cid);
  AX__SET(&m, ctx, 1);
  if (ns) ax__msg_set_str(&m, AX__F_ns, ns);
  ax__msg_set_str(&m, AX__F_func, func);
  if (args) ax__msg_set_raw(&m, AX__F_kwargs, args, alen);
  frame(b, &m);
}

static void started(buf *b, uint64_t cid, const char *v, size_t vlen) {
  ax__msg m = {.type = AX__M_STARTED};
  AX__SET(&m, cid, cid);
  ax__msg_set_raw(&m, AX__F_value, v, vlen);
  frame(b, &m);
}

/* A stream message: yield (with a value), stop or credit; caller 1 when
 * the context's caller sends it. */
static void stream_msg(buf *b, int type, uint64_t cid, int caller,
                       const char *v, size_t vlen, uint64_t msgs,
                       uint64_t bytes) {
  ax__msg m = {.type = type};
  AX__SET(&m, cid, cid);
  if (caller) AX__SET(&m, caller, 1);
  if (v) ax__msg_set_raw(&m, AX__F_value, v, vlen);
  if (type == AX__M_CREDIT) {
    AX__SET(&m, msgs, msgs);
    AX__SET(&m, bytes, bytes);
  }
  frame(b, &m);
}

static void cid_msg(buf *b, int type, uint64_t cid) {
  ax__msg m = {.type = type};
  AX__SET(&m, cid, cid);
  frame(b, &m);
}

static void ret(buf *b, uint64_t cid, const char *v, size_t vlen) {
  ax__msg m = {.type = AX__M_RETURN};
  AX__SET(&m, cid, cid);
  ax__msg_set_raw(&m, AX__F_value, v, vlen);
  frame(b, &m);
}

static void error_info(buf *b, uint64_t cid, int members, int info) {
  ax_pack *p = ax_pack_new();
  pack_error_info(p, members, info);
  size_t n;
  const void *e = ax_pack_bytes(p, &n);
  ax__msg m = {.type = AX__M_ERROR};
  AX__SET(&m, cid, cid);
  ax__msg_set_raw(&m, AX__F_error, e, n);
  frame(b, &m);
  ax_pack_free(p);
}

static void error(buf *b, uint64_t cid, int members) {
  error_info(b, cid, members, 0);
}

static void save_buf(const char *target, const char *name, buf *b) {
  save(target, name, b->p, b->len);
  free(b->p);
  *b = (buf){0};
}

static void frames(void) {
  buf b = {0};
  hello(&b);
  save_buf("frame", "hello", &b);
  spawn(&b);
  save_buf("frame", "spawn", &b);
  start(&b, 1, NULL, "add",
        S("\x82\xa1"
          "a\x01\xa1"
          "b\x02"));
  save_buf("frame", "start", &b);
  start(&b, 2, "c:lib.so", "f:ii>i", S("\x92\x01\x02"));
  save_buf("frame", "start_ns", &b);
  ax__msg ack = {.type = AX__M_START_ACK};
  AX__SET(&ack, cid, 1);
  ax__msg_set_str(&ack, AX__F_kind, "asyncfunc");
  frame(&b, &ack);
  save_buf("frame", "start_ack", &b);
  ret(&b, 1, S("\x92\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18\xa2hi"));
  save_buf("frame", "return", &b);
  error(&b, 1, 0);
  save_buf("frame", "error", &b);
  error(&b, 0, 2);
  save_buf("frame", "error_group_actor", &b);
  error_info(&b, 1, 1, 1);
  save_buf("frame", "error_info", &b);
  cid_msg(&b, AX__M_CANCEL, 7);
  save_buf("frame", "cancel", &b);
  cid_msg(&b, AX__M_CANCEL, 0);
  cid_msg(&b, AX__M_CANCEL_ACK, 0);
  save_buf("frame", "cancel_actor", &b);
  ax__msg reaping = {.type = AX__M_REAPING};
  AX__SET(&reaping, time, 0.5);
  frame(&b, &reaping);
  save_buf("frame", "reaping", &b);
  start_ctx(&b, 3, NULL, "ctx", S("\x81\xa1x\x01"));
  started(&b, 3, S("\x02"));
  ret(&b, 3, S("\x03"));
  save_buf("frame", "context", &b);
  start_ctx(&b, 4, NULL, "counter", S("\x81\xa1n\x02"));
  started(&b, 4, S("\x00"));
  stream_msg(&b, AX__M_YIELD, 4, 0, S("\x01"), 0, 0);
  stream_msg(&b, AX__M_YIELD, 4, 1, S("\xa4" "done"), 0, 0);
  stream_msg(&b, AX__M_CREDIT, 4, 1, NULL, 0, 256, 4096);
  stream_msg(&b, AX__M_STOP, 4, 0, NULL, 0, 0, 0);
  ret(&b, 4, S("\x03"));
  save_buf("frame", "stream", &b);
  /* An unknown key, which later versions may add, is skipped. */
  static const char unknown[] =
      "\x83\xa1t\xa6"
      "cancel\xa3"
      "cid\x05\xa1z\xc0";
  uint8_t len[4] = {0, 0, 0, sizeof unknown - 1};
  add(&b, len, 4);
  add(&b, unknown, sizeof unknown - 1);
  save_buf("frame", "unknown_key", &b);
  hello(&b);
  spawn(&b);
  start(&b, 1, NULL, "f", NULL, 0);
  ret(&b, 1, S("\xc0"));
  cid_msg(&b, AX__M_CANCEL, 1);
  save_buf("frame", "conversation", &b);
  /* Two messages in parts, interleaved, with a whole one between. */
  hello_parts(&b);
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, 4);
  ax__msg_set_str(&m, AX__F_func, "echo");
  ax__msg_set_raw(&m, AX__F_kwargs, S("\x92\x01\xa3two"));
  size_t n1, n2;
  uint8_t *m1 = encode(&m, &n1);
  ax__msg r = {.type = AX__M_RETURN};
  AX__SET(&r, cid, 2);
  ax__msg_set_raw(&r, AX__F_value, S("\xa5large"));
  uint8_t *m2 = encode(&r, &n2);
  part(&b, 1, m1, 7, 0);
  part(&b, 2, m2, 5, 0);
  cid_msg(&b, AX__M_CANCEL, 3);
  part(&b, 1, m1 + 7, n1 - 7, 1);
  part(&b, 2, m2 + 5, 0, 0);
  part(&b, 2, m2 + 5, n2 - 5, 1);
  save_buf("frame", "parts", &b);
  /* What a peer refuses: an id that ended, assembled bytes that are no
   * message. */
  part(&b, 1, m1, n1, 1);
  part(&b, 1, m1, n1, 1);
  part(&b, 3, S("\xc1"), 1);
  save_buf("frame", "parts_refused", &b);
  free(m1);
  free(m2);
}

/* ------------------------------------------------------------- peers */

/* A peer input: its header (flags, seed, r, first and middle part's
 * lengths), then the stream's parts. */
static void save_peer(const char *name, uint8_t flags, uint8_t seed, uint8_t r,
                      buf *first, buf *mid, buf *rest) {
  buf b = {0};
  uint8_t h[5] = {flags, seed, r, (uint8_t)first->len, (uint8_t)mid->len};
  if (first->len > 255 || mid->len > 255) {
    fprintf(stderr, "%s: parts too long for the header\n", name);
    exit(1);
  }
  add(&b, h, 5);
  add(&b, first->p, first->len);
  add(&b, mid->p, mid->len);
  add(&b, rest->p, rest->len);
  save_buf("peer", name, &b);
  free(first->p);
  free(mid->p);
  free(rest->p);
  *first = *mid = *rest = (buf){0};
}

static void peers(void) {
  buf a = {0}, m = {0}, z = {0};
  /* Every function of both loaders, replies to our own calls, cancels. */
  hello(&a);
  start(&z, 1, NULL, "echo", S("\x92\x01\xa1x"));
  start(&z, 2, NULL, "later", S("\x90"));
  start(&z, 3, NULL, "fail", NULL, 0);
  start(&z, 4, NULL, "bad", S("\xc0"));
  start(&z, 5, "task:t", "echo", S("\x81\xa1k\x01"));
  start(&z, 6, "task:t", "yield", S("\x90"));
  start(&z, 7, "task:t", "block", NULL, 0);
  start(&z, 8, "task:t", "later", NULL, 0);
  start(&z, 9, "task:t", "big", S("\x91\xcd\x10\x00"));
  start(&z, 10, NULL, "nosuch", NULL, 0);
  start(&z, 11, "lua:absent", "f", NULL, 0);
  ret(&z, 1, S("\xa2ok"));
  error(&z, 2, 0);
  cid_msg(&z, AX__M_CANCEL, 7);
  cid_msg(&z, AX__M_CANCEL, 2);
  cid_msg(&z, AX__M_CANCEL, 99);
  cid_msg(&z, AX__M_START_ACK, 3);
  save_peer("all_functions", 16, 1, 0, &a, &m, &z);
  /* Errors with an info: raised by both loaders, and replies to our own
   * calls (one of a group whose members have theirs). */
  hello(&a);
  start(&z, 1, NULL, "fail_info", NULL, 0);
  start(&z, 2, "task:t", "fail_info", S("\x81\xa1k\x01"));
  error_info(&z, 1, 0, 1);
  error_info(&z, 2, 2, 1);
  save_peer("error_info", 16, 2, 0, &a, &m, &z);
  /* Contexts: served by both loaders (and a plain call of the same
   * function), our own context's started, then its end; a started for a
   * plain call of ours, a protocol error. */
  hello(&a);
  start_ctx(&z, 1, NULL, "ctx", S("\x81\xa1x\x01"));
  start_ctx(&z, 2, "task:t", "ctx", S("\x81\xa1x\x01"));
  start(&z, 3, NULL, "ctx", S("\x90"));
  start_ctx(&z, 4, "task:t", "block", NULL, 0);
  cid_msg(&z, AX__M_CANCEL, 4);
  started(&z, 1, S("\xa2ok"));
  ret(&z, 1, S("\xc0"));
  started(&z, 2, S("\xc0"));
  save_peer("contexts", 16, 3, 0, &a, &m, &z);
  /* Streams: a served context that sends two values and takes one (the
   * caller's credit, value and stop), and our own context's values from
   * its callee, then its stop and end; the middle part repeated, values
   * past the window. */
  hello(&a);
  start_ctx(&a, 1, "task:t", "ctx", S("\x81\xa1x\x01"));
  stream_msg(&a, AX__M_CREDIT, 1, 1, NULL, 0, 4, 64);
  stream_msg(&a, AX__M_YIELD, 1, 1, S("\xa2" "hi"), 0, 0);
  started(&a, 1, S("\xc0"));
  stream_msg(&m, AX__M_YIELD, 1, 0, S("\x05"), 0, 0);
  stream_msg(&z, AX__M_STOP, 1, 1, NULL, 0, 0, 0);
  stream_msg(&z, AX__M_STOP, 1, 0, NULL, 0, 0, 0);
  ret(&z, 1, S("\xc0"));
  save_peer("streams", 16, 4, 40, &a, &m, &z);
  /* The same in chunks of varying size, some of one byte. */
  hello(&a);
  start(&z, 1, NULL, "echo", S("\x92\x01\xa1x"));
  start(&z, 2, "task:t", "block", NULL, 0);
  start(&z, 3, NULL, "later", NULL, 0);
  cid_msg(&z, AX__M_CANCEL, 2);
  save_peer("small_chunks", 32 | 4, 7, 0, &a, &m, &z);
  hello(&a);
  start(&z, 1, NULL, "echo", S("\x90"));
  save_peer("one_byte_chunks", 0, 0, 0, &a, &m, &z);
  /* The child side: spawn first, then calls; the actor is cancelled. */
  hello(&a);
  spawn(&a);
  start(&z, 1, "task:t", "block", NULL, 0);
  start(&z, 2, NULL, "later", NULL, 0);
  error(&z, 0, 1);
  cid_msg(&z, AX__M_CANCEL, 0);
  start(&z, 3, "task:t", "echo", NULL, 0);
  save_peer("child_cancelled", 128 | 64 | 8, 3, 0, &a, &m, &z);
  /* Many calls: one start repeated 40*40 times. */
  hello(&a);
  start(&m, 5, NULL, "echo", S("\x91\x01"));
  save_peer("many_calls", 16, 5, 40, &a, &m, &z);
  /* A frame of about 1 MiB in chunks of 1 MiB: [bin32 of 90*90*128]. */
  hello(&a);
  size_t big = 90 * 90 * 128;
  uint8_t head[] = {0x84,
                    0xa1,
                    't',
                    0xa5,
                    's',
                    't',
                    'a',
                    'r',
                    't',
                    0xa3,
                    'c',
                    'i',
                    'd',
                    0x09,
                    0xa4,
                    'f',
                    'u',
                    'n',
                    'c',
                    0xa4,
                    'e',
                    'c',
                    'h',
                    'o',
                    0xa6,
                    'k',
                    'w',
                    'a',
                    'r',
                    'g',
                    's',
                    0x91,
                    0xc6,
                    (uint8_t)(big >> 24),
                    (uint8_t)(big >> 16),
                    (uint8_t)(big >> 8),
                    (uint8_t)big};
  size_t flen = sizeof head + big;
  uint8_t fh[4] = {(uint8_t)(flen >> 24), (uint8_t)(flen >> 16),
                   (uint8_t)(flen >> 8), (uint8_t)flen};
  add(&a, fh, 4);
  add(&a, head, sizeof head);
  uint8_t fill[128];
  memset(fill, 'x', sizeof fill);
  add(&m, fill, sizeof fill);
  save_peer("big_frame", 20, 0, 90, &a, &m, &z);
  /* A peer that takes parts: calls in parts, one whose result (128 KiB)
   * goes back in parts, and whole calls between. */
  hello_parts(&a);
  {
    ax__msg st = {.type = AX__M_START};
    AX__SET(&st, cid, 1);
    ax__msg_set_str(&st, AX__F_ns, "task:t");
    ax__msg_set_str(&st, AX__F_func, "big");
    ax__msg_set_raw(&st, AX__F_kwargs, S("\x91\xce\x00\x02\x00\x00"));
    size_t n;
    uint8_t *e = encode(&st, &n);
    part(&z, 1, e, 10, 0);
    start(&z, 2, NULL, "echo", S("\x91\x01"));
    part(&z, 1, e + 10, n - 10, 1);
    free(e);
    ax__msg ec = {.type = AX__M_START};
    AX__SET(&ec, cid, 3);
    ax__msg_set_str(&ec, AX__F_func, "echo");
    ax__msg_set_raw(&ec, AX__F_kwargs, S("\x91\xa4text"));
    e = encode(&ec, &n);
    for (size_t off = 0; off < n; off += 4)
      part(&z, 2, e + off, n - off < 4 ? n - off : 4, off + 4 >= n);
    free(e);
  }
  save_peer("parts", 16, 9, 0, &a, &m, &z);
  /* A reused cid: a protocol error closes the channel mid-call. */
  hello(&a);
  start(&z, 3, "task:t", "block", NULL, 0);
  start(&z, 3, "task:t", "block", NULL, 0);
  save_peer("reused_cid", 12, 0, 0, &a, &m, &z);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  values();
  frames();
  peers();
  return 0;
}
