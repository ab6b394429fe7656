/* test_codec.c - values, the msgpack validator, frames and messages:
 * well-formed input round-trips, malformed input is refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

#define UID "0123456789abcdef0123456789abcdef"

static ax_data *finish(ax_pack *p) {
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  return d;
}

static void test_values_round_trip(void **state) {
  (void)state;
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 7);
  ax_pack_str(p, "nil");
  ax_pack_nil(p);
  ax_pack_str(p, "bool");
  ax_pack_bool(p, 1);
  ax_pack_str(p, "int");
  ax_pack_int(p, -1234567890123LL);
  ax_pack_str(p, "float");
  ax_pack_float(p, 2.5);
  ax_pack_str(p, "str");
  ax_pack_strn(p, "a\0b", 3);
  ax_pack_str(p, "bin");
  ax_pack_bin(p, "\x01\x02", 2);
  ax_pack_str(p, "arr");
  ax_pack_array(p, 2);
  ax_pack_int(p, 1);
  ax_pack_str(p, "two");
  ax_data *d = finish(p);
  const ax_val *r = ax_data_root(d);
  assert_int_equal(ax_val_type(r), AX_T_MAP);
  assert_int_equal(ax_val_len(r), 7);
  assert_int_equal(ax_val_type(ax_val_get(r, "nil")), AX_T_NIL);
  assert_true(ax_val_bool(ax_val_get(r, "bool")));
  assert_true(ax_val_int(ax_val_get(r, "int")) == -1234567890123LL);
  assert_true(ax_val_float(ax_val_get(r, "float")) == 2.5);
  size_t n;
  const char *s = ax_val_str(ax_val_get(r, "str"), &n);
  assert_int_equal(n, 3);
  assert_memory_equal(s, "a\0b", 4); /* NUL-terminated too */
  assert_memory_equal(ax_val_bin(ax_val_get(r, "bin"), &n), "\x01\x02", 2);
  const ax_val *arr = ax_val_get(r, "arr");
  assert_string_equal(ax_val_str(ax_val_at(arr, 1), NULL), "two");
  assert_null(ax_val_at(arr, 2));
  assert_null(ax_val_get(r, "missing"));
  /* Wrong-type readers give neutral values. */
  assert_int_equal(ax_val_int(ax_val_get(r, "str")), 0);
  assert_null(ax_val_str(ax_val_get(r, "int"), NULL));
  char *text = ax_val_format(ax_val_get(r, "arr"));
  assert_string_equal(text, "[1, \"two\"]");
  ax_free(text);
  ax_data *copy = ax_data_dup(d);
  size_t l1, l2;
  const void *b1 = ax_data_bytes(d, &l1), *b2 = ax_data_bytes(copy, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);
  ax_data_free(copy);
  ax_data_free(d);
}

/* Integers above INT64_MAX are carried exactly, and read exactly or
 * refused, never clamped without a word. */
static void test_uint64_exact(void **state) {
  (void)state;
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, 4);
  ax_pack_uint(p, UINT64_MAX);
  ax_pack_uint(p, (uint64_t)INT64_MAX + 1);
  ax_pack_int(p, -1);
  ax_pack_str(p, "x");
  ax_data *d;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  const ax_val *r = ax_data_root(d);
  uint64_t u = 0;
  int64_t i = 0;
  assert_int_equal(ax_val_uint64(ax_val_at(r, 0), &u), 0);
  assert_true(u == UINT64_MAX);
  assert_int_equal(ax_val_int64(ax_val_at(r, 0), &i), AX_ERANGE);
  assert_int_equal(ax_val_uint64(ax_val_at(r, 1), &u), 0);
  assert_true(u == (uint64_t)INT64_MAX + 1);
  assert_int_equal(ax_val_uint64(ax_val_at(r, 2), &u), AX_ERANGE);
  assert_int_equal(ax_val_int64(ax_val_at(r, 2), &i), 0);
  assert_true(i == -1);
  assert_int_equal(ax_val_int64(ax_val_at(r, 3), &i), AX_ETYPE);
  assert_int_equal(ax_val_uint64(ax_val_at(r, 3), &u), AX_ETYPE);
  /* A copy keeps it exact. */
  ax_data *c = ax_data_dup(d);
  assert_int_equal(ax_val_uint64(ax_val_at(ax_data_root(c), 0), &u), 0);
  assert_true(u == UINT64_MAX);
  ax_data_free(c);
  ax_data_free(d);
}

static void test_pack_finish_refuses_incomplete_values(void **state) {
  (void)state;
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, 2);
  ax_pack_int(p, 1); /* one item short */
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), AX_EINVAL);
  assert_null(d);
  p = ax_pack_new();
  ax_pack_int(p, 1);
  ax_pack_int(p, 2); /* two values */
  assert_int_equal(ax_pack_finish(p, &d), AX_EINVAL);
}

static void expect_bad(const void *bytes, size_t len) {
  ax_data *d = NULL;
  assert_int_equal(ax_data_decode(bytes, len, &d), AX_EPROTO);
  assert_null(d);
}

static void test_validator_refuses_malformed_input(void **state) {
  (void)state;
  expect_bad("", 0);
  expect_bad("\xc1", 1);                       /* reserved byte */
  expect_bad("\xa5hel", 4);                    /* truncated string */
  expect_bad("\x92\x01", 2);                   /* truncated array */
  expect_bad("\xdd\xff\xff\xff\xff\x01", 6);   /* 4G items in 1 byte */
  expect_bad("\xdf\x7f\xff\xff\xff\x01\x01", 7);
  expect_bad("\xcb\x00\x00", 3);               /* truncated float */
  expect_bad("\x01\x02", 2);                   /* trailing bytes */
  /* Nesting deeper than the limit. */
  unsigned char deep[100];
  memset(deep, 0x91, sizeof deep);
  deep[99] = 0x01;
  expect_bad(deep, sizeof deep);
  /* Within the limit it is fine. */
  ax_data *d;
  assert_int_equal(ax_data_decode(deep + 70, 30, &d), 0);
  ax_data_free(d);
}

static void test_frames(void **state) {
  (void)state;
  const uint8_t *msg;
  size_t len;
  uint8_t buf[16] = {0, 0, 0, 3, 0x93, 1, 2};
  assert_int_equal(ax__frame_next(buf, 3, 100, &msg, &len), 0); /* header */
  assert_int_equal(ax__frame_next(buf, 6, 100, &msg, &len), 0); /* body */
  buf[7] = 3;
  assert_int_equal(ax__frame_next(buf, 8, 100, &msg, &len), 7);
  assert_int_equal(len, 3);
  assert_ptr_equal(msg, buf + 4);
  uint8_t big[4] = {0x01, 0, 0, 0}; /* 16 MiB announced */
  assert_int_equal(ax__frame_next(big, 4, 1000, &msg, &len), AX_EMSGSIZE);
}

static ax_pack *msg_of(const char *type, int nfields) {
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, (uint32_t)nfields + 1);
  ax_pack_str(p, "t");
  ax_pack_str(p, type);
  return p;
}

static int decode(ax_pack *p, ax__msg *m) {
  size_t len;
  const void *b = ax_pack_bytes(p, &len);
  int rc = ax__msg_decode(b, len, m);
  ax_pack_free(p);
  return rc;
}

static void test_messages(void **state) {
  (void)state;
  ax__msg m;
  ax_pack *p = msg_of("start", 5);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 7);
  ax_pack_str(p, "ns");
  ax_pack_str(p, "");
  ax_pack_str(p, "func");
  ax_pack_str(p, "add");
  ax_pack_str(p, "kwargs");
  ax_pack_map(p, 1);
  ax_pack_str(p, "a");
  ax_pack_int(p, 1);
  ax_pack_str(p, "future_field"); /* unknown keys are skipped */
  ax_pack_array(p, 0);
  size_t len;
  const void *bytes = ax_pack_bytes(p, &len);
  assert_int_equal(ax__msg_decode(bytes, len, &m), 0);
  assert_int_equal(m.type, AX__M_START);
  assert_int_equal(m.cid, 7);
  assert_true(ax__msg_str_eq(&m.func, "add", 3));
  assert_int_equal(m.kwargs.len, 4);
  /* Every strict prefix is a truncated message. */
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(ax__msg_decode(bytes, cut, &m), AX_EPROTO);
  ax_pack_free(p);

  p = msg_of("start", 1); /* no func, no cid */
  ax_pack_str(p, "ns");
  ax_pack_str(p, "");
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("teleport", 0);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("return", 1); /* cid of the wrong type */
  ax_pack_str(p, "cid");
  ax_pack_str(p, "seven");
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("error", 1); /* error must be a map */
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = ax_pack_new(); /* not a map at all */
  ax_pack_array(p, 0);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("start", 3); /* a key twice */
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  ax_pack_str(p, "func");
  ax_pack_str(p, "add");
  ax_pack_str(p, "cid");
  ax_pack_int(p, 2);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("start", 2); /* a NUL inside the name must not call "add" */
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  ax_pack_str(p, "func");
  ax_pack_strn(p, "add\0x", 5);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("start", 3); /* kwargs must be a map, an array or nil */
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  ax_pack_str(p, "func");
  ax_pack_str(p, "add");
  ax_pack_str(p, "kwargs");
  ax_pack_str(p, "add");
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("spawn", 4); /* enable: strings only */
  ax_pack_str(p, "name");
  ax_pack_str(p, "x");
  ax_pack_str(p, "uid");
  ax_pack_str(p, UID);
  ax_pack_str(p, "module");
  ax_pack_str(p, "c:x.so");
  ax_pack_str(p, "enable");
  ax_pack_array(p, 1);
  ax_pack_int(p, 1);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = ax_pack_new(); /* keys are strings */
  ax_pack_map(p, 2);
  ax_pack_str(p, "t");
  ax_pack_str(p, "cancel");
  ax_pack_int(p, 1);
  ax_pack_int(p, 1);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  p = msg_of("hello", 3); /* no protocol version */
  ax_pack_str(p, "name");
  ax_pack_str(p, "x");
  ax_pack_str(p, "uid");
  ax_pack_str(p, UID);
  ax_pack_str(p, "pid");
  ax_pack_int(p, 1);
  assert_int_equal(decode(p, &m), AX_EPROTO);

  /* A uid is exactly 32 lowercase hex digits, in hello and spawn. */
  static const char *bad_uids[] = {"u", "0123456789ABCDEF0123456789abcdef",
                                   "0123456789abcdef0123456789abcde",
                                   "0123456789abcdef0123456789abcdef0",
                                   "0123456789abcdef0123456789abcdeg", ""};
  for (size_t i = 0; i < sizeof bad_uids / sizeof bad_uids[0]; i++) {
    p = msg_of("hello", 3);
    ax_pack_str(p, "v");
    ax_pack_int(p, 1);
    ax_pack_str(p, "name");
    ax_pack_str(p, "x");
    ax_pack_str(p, "uid");
    ax_pack_str(p, bad_uids[i]);
    assert_int_equal(decode(p, &m), AX_EPROTO);
    p = msg_of("spawn", 4);
    ax_pack_str(p, "name");
    ax_pack_str(p, "x");
    ax_pack_str(p, "uid");
    ax_pack_str(p, UID);
    ax_pack_str(p, "module");
    ax_pack_str(p, "c:x.so");
    ax_pack_str(p, "parent");
    ax_pack_str(p, bad_uids[i]);
    assert_int_equal(decode(p, &m), AX_EPROTO);
  }
  p = msg_of("hello", 3);
  ax_pack_str(p, "v");
  ax_pack_int(p, 1);
  ax_pack_str(p, "name");
  ax_pack_str(p, "x");
  ax_pack_str(p, "uid");
  ax_pack_str(p, UID);
  assert_int_equal(decode(p, &m), 0);
}

/* Names on the wire are well-formed UTF-8; what an error says goes out as
 * well-formed UTF-8 even when it echoes bad bytes. */
/* Every key and type name of the table is found, and no name that
 * differs from one in a single byte is: keys are compared as words read
 * from both ends, which must cover every byte for each length. */
static void test_names_match_exactly(void **state) {
  (void)state;
  for (int f = 0; f < AX__F_COUNT; f++) {
    int kind;
    const char *key = ax__msg_field_info(f, &kind);
    size_t n = strlen(key);
    for (size_t i = 0; i <= n; i++) {
      char k[32];
      memcpy(k, key, n + 1);
      if (i < n) k[i] ^= 0x20; /* i == n: the name itself */
      ax_pack *p = msg_of("return", 2);
      ax_pack_str(p, "cid");
      ax_pack_int(p, 1);
      ax_pack_str(p, k);
      ax_pack_int(p, 5);
      ax__msg m;
      size_t len;
      const void *bytes = ax_pack_bytes(p, &len);
      int rc = ax__msg_decode(bytes, len, &m);
      /* The name itself sets its field (a duplicate cid is malformed);
       * any other is an unknown key, skipped. */
      if (i == n && f == AX__F_cid)
        assert_int_equal(rc, AX_EPROTO);
      else if (i == n && f == AX__F_value)
        assert_true(rc == 0 && AX__HAS(&m, value));
      else if (i < n)
        assert_true(rc == 0 && !(m.have & ~((1u << AX__F_cid))));
      ax_pack_free(p);
    }
  }
  for (int t = 1; t < AX__M_COUNT; t++) {
    const char *name = ax__msg_type_name(t);
    size_t n = strlen(name);
    for (size_t i = 0; i <= n; i++) {
      char k[32];
      memcpy(k, name, n + 1);
      if (i < n) k[i] ^= 0x20;
      ax_pack *p = msg_of(k, 0);
      ax__msg m;
      size_t len;
      const void *bytes = ax_pack_bytes(p, &len);
      int rc = ax__msg_decode(bytes, len, &m);
      /* A type without required fields decodes; no altered name does. */
      if (i < n) assert_int_equal(rc, AX_EPROTO);
      if (i == n && rc == 0) assert_int_equal(m.type, t);
      ax_pack_free(p);
    }
  }
}

static void test_utf8(void **state) {
  (void)state;
  static const char *bad[] = {"\xff", "a\xc0\x80", "\xed\xa0\x80",
                              "\xf4\x90\x80\x80", "\xe2\x82", "\x80x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_false(ax__utf8_valid(bad[i], strlen(bad[i])));
    ax_pack *p = msg_of("start", 2);
    ax_pack_str(p, "cid");
    ax_pack_int(p, 1);
    ax_pack_str(p, "func");
    ax_pack_str(p, bad[i]);
    ax__msg m;
    assert_int_equal(decode(p, &m), AX_EPROTO);
  }
  const char *good = "a\xc3\xb1" "adir\xe2\x82\xac\xf0\x9f\x98\x80";
  assert_true(ax__utf8_valid(good, strlen(good)));
  ax_pack *p = msg_of("start", 2);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  ax_pack_str(p, "func");
  ax_pack_str(p, good);
  ax__msg m;
  assert_int_equal(decode(p, &m), 0);
  char *fixed = ax__utf8_fix("a\xff\xe2\x82" "b", 5);
  assert_string_equal(fixed, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b");
  free(fixed);
  /* An error whose message has bad bytes is sent as valid text. */
  ax_error *e = ax_error_new("ValueError", "no function '%s'", "\xff\xfe");
  ax_pack *ep = ax_pack_new();
  assert_int_equal(ax__error_pack(ep, e), 0);
  ax_data *d;
  assert_int_equal(ax_pack_finish(ep, &d), 0);
  size_t n;
  const char *s = ax_val_str(ax_val_get(ax_data_root(d), "message"), &n);
  assert_true(ax__utf8_valid(s, n));
  assert_non_null(strstr(s, "\xef\xbf\xbd"));
  ax_data_free(d);
  ax_error_free(e);
}

/* What the encoder writes, the decoder reads back, for every type. */
static void test_messages_round_trip(void **state) {
  (void)state;
  for (int t = 1; t < AX__M_COUNT; t++) {
    uint32_t allowed, required;
    assert_int_equal(ax__msg_info(t, &allowed, &required), 0);
    ax__msg m = {.type = t};
    AX__SET(&m, cid, 9);
    AX__SET(&m, version, 1);
    AX__SET(&m, pid, -5);
    AX__SET(&m, grace, 0.25);
    AX__SET(&m, time, 1.5);
    AX__SET(&m, reaping, 1);
    ax__msg_set_str(&m, AX__F_name, "n");
    ax__msg_set_str(&m, AX__F_uid, UID);
    ax__msg_set_str(&m, AX__F_module, "lua:m");
    ax__msg_set_str(&m, AX__F_func, "f");
    ax__msg_set_raw(&m, AX__F_enable, "\x91\xa1x", 3);
    ax__msg_set_raw(&m, AX__F_kwargs, "\x80", 1);
    ax__msg_set_raw(&m, AX__F_value, "\x92\x01\x02", 3);
    ax__msg_set_raw(&m, AX__F_error, "\x81\xa1k\xc0", 4);
    AX__SET(&m, max_msg, 1 << 26);
    AX__SET(&m, id, 300);
    AX__SET(&m, last, 1);
    ax__msg_set_bin(&m, AX__F_data, "a\0b", 3);
    uint8_t buf[512];
    size_t bound = ax__msg_bound(&m);
    assert_true(bound <= sizeof buf);
    uint8_t *end = ax__msg_write(buf, &m);
    assert_true((size_t)(end - buf) <= bound);
    assert_int_equal(ax__msg_size(&m), (size_t)(end - buf));
    ax__msg d;
    assert_int_equal(ax__msg_decode(buf, (size_t)(end - buf), &d), 0);
    assert_int_equal(d.type, t);
    assert_int_equal(d.have, m.have & allowed);
    if (AX__HAS(&d, cid)) assert_int_equal(d.cid, 9);
    if (AX__HAS(&d, pid)) assert_int_equal(d.pid, -5);
    if (AX__HAS(&d, grace)) assert_true(d.grace == 0.25);
    if (AX__HAS(&d, time)) assert_true(d.time == 1.5);
    if (AX__HAS(&d, reaping)) assert_int_equal(d.reaping, 1);
    if (AX__HAS(&d, func)) assert_true(ax__msg_str_eq(&d.func, "f", 1));
    if (AX__HAS(&d, value)) assert_int_equal(d.value.sc.nodes, 3);
    if (AX__HAS(&d, max_msg)) assert_int_equal(d.max_msg, 1 << 26);
    if (AX__HAS(&d, id)) assert_int_equal(d.id, 300);
    if (AX__HAS(&d, data)) assert_memory_equal(d.data.p, "a\0b", 3);
  }
}

static void test_error_objects(void **state) {
  (void)state;
  ax_error *a = ax_error_new("ValueError", "bad %d", 1);
  ax_error *b = ax_error_new("KeyError", "k");
  assert_string_equal(ax_error_type(a), "ValueError");
  assert_string_equal(ax_error_message(a), "bad 1");
  assert_int_equal(ax_error_relay_len(a), 1);
  ax_error *members[2] = {a, b};
  ax_error *g = ax__error_group(members, 2);
  assert_string_equal(ax_error_type(g), "ErrorGroup");
  assert_int_equal(ax_error_nmembers(g), 2);
  /* Wire form round trip keeps members; decoding adds no hop here. */
  ax_pack *p = ax_pack_new();
  assert_int_equal(ax__error_pack(p, g), 0);
  ax_data *d = finish(p);
  ax_error *back = NULL;
  size_t len;
  const void *bytes = ax_data_bytes(d, &len);
  assert_int_equal(ax__error_decode(bytes, len, &back), 0);
  assert_int_equal(ax_error_nmembers(back), 2);
  assert_string_equal(ax_error_type(ax_error_member(back, 1)), "KeyError");
  ax__error_relay_here(back);
  assert_int_equal(ax_error_relay_len(back), 2);
  char *text = ax_error_format(back);
  assert_non_null(strstr(text, "ErrorGroup: 2 actors failed"));
  assert_non_null(strstr(text, "ValueError: bad 1"));
  ax_free(text);
  ax_error_free(back);
  ax_data_free(d);
  ax_error_free(g);
}

/* The wire form of an error stays within the depth a receiver accepts,
 * however deep its members nest: groups nested past AX__ERR_MAX_NEST go
 * without their members. Found by fuzzing (tests/fuzz/corpus/value/
 * regress-error-depth): a value of 15 nested {"members": [...]} read as
 * an error, whose wire form then nested past AX__MAX_DEPTH, so that a
 * peer relaying it would have its channel closed by the receiver. */
static void test_error_wire_form_within_depth(void **state) {
  (void)state;
  uint8_t deep[15 * 10 + 1];
  for (int i = 0; i < 15; i++) memcpy(deep + 10 * i, "\x81\xa7members\x91", 10);
  deep[150] = 0x80;
  ax_data *d = NULL;
  ax_error *e = NULL;
  assert_int_equal(ax__error_decode(deep, sizeof deep, &e), 0);
  /* Groups of groups, as nested nurseries make them. */
  for (int i = 0; i < 20; i++) e = ax__error_group(&e, 1);
  ax_pack *p = ax_pack_new();
  assert_int_equal(ax__error_pack(p, e), 0);
  assert_int_equal(ax_pack_finish(p, &d), 0);
  ax_error *back = NULL;
  size_t len;
  const void *bytes = ax_data_bytes(d, &len);
  assert_int_equal(ax__error_decode(bytes, len, &back), 0);
  /* The outer levels are kept, as deep as a sender nests groups. */
  const ax_error *m = back;
  int levels = 0;
  while (ax_error_nmembers(m)) {
    m = ax_error_member(m, 0);
    levels++;
  }
  assert_int_equal(levels, AX__ERR_MAX_NEST);
  ax_error_free(back);
  ax_data_free(d);
  ax_error_free(e);
}

static void test_error_table(void **state) {
  (void)state;
  assert_string_equal(ax_err_name(AX_ECANCELED), "AX_ECANCELED");
  assert_string_equal(ax_strerror(AX_ECANCELED), "operation canceled");
  assert_string_equal(ax_err_name(-9999), "AX_EUNKNOWN");
  assert_string_equal(ax_version(), "0.1.0");
}

/* Error kinds: one table; a remote type not known here keeps its name. */
static void test_error_kinds(void **state) {
  (void)state;
  for (int k = 1; k < AX_K_COUNT; k++) {
    ax_error *e = ax_error_new_kind(k, "m%d", k);
    assert_non_null(e);
    assert_int_equal(ax_error_kind(e), k);
    assert_string_equal(ax_error_type(e), ax_error_kind_name(k));
    /* The kind survives the wire: it is the type's, read again. */
    ax_pack *p = ax_pack_new();
    assert_int_equal(ax__error_pack(p, e), 0);
    ax_data *d = NULL;
    assert_int_equal(ax_pack_finish(p, &d), 0);
    ax_error *back = NULL;
    size_t len;
    const void *b = ax_data_bytes(d, &len);
    assert_int_equal(ax__error_decode(b, len, &back), 0);
    assert_int_equal(ax_error_kind(back), k);
    ax_error_free(back);
    ax_data_free(d);
    ax_error_free(e);
  }
  ax_error *e = ax_error_new("WeirdRemoteError", "x");
  assert_int_equal(ax_error_kind(e), AX_K_OTHER);
  assert_string_equal(ax_error_type(e), "WeirdRemoteError");
  ax_error_free(e);
  assert_string_equal(ax_error_kind_name(AX_K_CANCELLED), "Cancelled");
  assert_null(ax_error_kind_name(AX_K_OTHER));
  assert_null(ax_error_kind_name(AX_K_COUNT));
  assert_null(ax_error_new_kind(AX_K_OTHER, "no"));
  assert_int_equal(ax_error_kind(NULL), AX_K_OTHER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_kinds),
      cmocka_unit_test(test_values_round_trip),
      cmocka_unit_test(test_uint64_exact),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_pack_finish_refuses_incomplete_values),
      cmocka_unit_test(test_validator_refuses_malformed_input),
      cmocka_unit_test(test_frames),
      cmocka_unit_test(test_messages),
      cmocka_unit_test(test_names_match_exactly),
      cmocka_unit_test(test_messages_round_trip),
      cmocka_unit_test(test_error_objects),
      cmocka_unit_test(test_error_wire_form_within_depth),
      cmocka_unit_test(test_error_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
