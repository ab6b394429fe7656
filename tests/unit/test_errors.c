/* test_errors.c - error maps on the wire: a received one is bounded (its
 * relay path, its members) and costs memory in proportion to what it
 * keeps, not to its size; a sent one stays within the same bounds; one too
 * large for a frame is cut to fit; one written when memory is out needs no
 * allocation; an error's info crosses with it, within the depth bound. This test's binary is linked with malloc, calloc and realloc
 * wrapped, so that it can count what decoding allocates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

/* ------------------------------------------------ counting allocations */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static int counting;
static size_t allocated; /* bytes asked for while counting */

void *__wrap_malloc(size_t n) {
  if (counting) allocated += n;
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (counting) allocated += n * size;
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  if (counting) allocated += n;
  return __real_realloc(p, n);
}

/* ------------------------------------------------------------ helpers */

/* Decode an error map as a received message's field is decoded. */
static int decode(ax_pack *p, ax_error **out) {
  ax__raw raw;
  raw.p = ax_pack_bytes(p, &raw.len);
  assert_int_equal(ax__mp_scan(raw.p, raw.len, &raw.sc), 0);
  assert_int_equal(raw.sc.used, raw.len);
  *out = NULL;
  return ax__peer_decode_error(&raw, out);
}

/* The start of an error map of n + 2 keys: type and message. */
static ax_pack *error_map(uint32_t n) {
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, n + 2);
  ax_pack_str(p, "type");
  ax_pack_str(p, "ValueError");
  ax_pack_str(p, "message");
  ax_pack_str(p, "crafted");
  return p;
}

static void pack_ident(ax_pack *p, const char *name) {
  ax_pack_map(p, 3);
  ax_pack_str(p, "name");
  ax_pack_str(p, name);
  ax_pack_str(p, "uid");
  ax_pack_str(p, "0123456789abcdef0123456789abcdef");
  ax_pack_str(p, "pid");
  ax_pack_int(p, 42);
}

/* An error whose relay path has n entries. */
static ax_pack *with_relay(uint32_t n) {
  ax_pack *p = error_map(1);
  ax_pack_str(p, "relay");
  ax_pack_array(p, n);
  char name[16];
  for (uint32_t i = 0; i < n; i++) {
    snprintf(name, sizeof name, "hop%u", i);
    pack_ident(p, name);
  }
  return p;
}

/* A group of n members, each a group of k members of its own. */
static ax_pack *with_members(uint32_t n, uint32_t k) {
  ax_pack *p = error_map(1);
  ax_pack_str(p, "members");
  ax_pack_array(p, n);
  for (uint32_t i = 0; i < n; i++) {
    ax_pack_map(p, 1);
    ax_pack_str(p, "members");
    ax_pack_array(p, k);
    for (uint32_t j = 0; j < k; j++) ax_pack_map(p, 0);
  }
  return p;
}

static int decodes(ax_pack *p, size_t *relay, size_t *members) {
  ax_error *e;
  int rc = decode(p, &e);
  ax_pack_free(p);
  if (relay) *relay = ax_error_relay_len(e);
  if (members) *members = ax_error_nmembers(e);
  ax_error_free(e);
  return rc;
}

/* ------------------------------------------------------ receiving */

static void test_relay_path_bound(void **state) {
  (void)state;
  size_t relay;
  assert_int_equal(decodes(with_relay(64), &relay, NULL), 0);
  /* Full: the receiver's own hop replaced the oldest after the source. */
  assert_int_equal(relay, 64);
  assert_int_equal(decodes(with_relay(65), NULL, NULL), AX_EPROTO);
  assert_int_equal(decodes(with_relay(1u << 20), NULL, NULL), AX_EPROTO);
}

static void test_group_bound(void **state) {
  (void)state;
  size_t members;
  /* 256 error maps in all: this one and 255 members. */
  assert_int_equal(decodes(with_members(255, 0), NULL, &members), 0);
  assert_int_equal(members, 255);
  assert_int_equal(decodes(with_members(256, 0), NULL, NULL), AX_EPROTO);
  assert_int_equal(decodes(with_members(1u << 20, 0), NULL, NULL),
                   AX_EPROTO);
  /* Nested groups count together. */
  assert_int_equal(decodes(with_members(15, 16), NULL, &members), 0);
  assert_int_equal(decodes(with_members(16, 16), NULL, NULL), AX_EPROTO);
}

static void test_malformed_error_maps(void **state) {
  (void)state;
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, 0);
  assert_int_equal(decodes(p, NULL, NULL), AX_EPROTO);
  /* A key twice. */
  p = error_map(1);
  ax_pack_str(p, "type");
  ax_pack_str(p, "KeyError");
  assert_int_equal(decodes(p, NULL, NULL), AX_EPROTO);
  /* A member that is no map. */
  p = error_map(1);
  ax_pack_str(p, "members");
  ax_pack_array(p, 1);
  ax_pack_int(p, 1);
  assert_int_equal(decodes(p, NULL, NULL), AX_EPROTO);
  /* Fields of other types read as absent; unknown keys are skipped. */
  p = error_map(4);
  ax_pack_str(p, "traceback");
  ax_pack_int(p, 7);
  ax_pack_str(p, "relay");
  ax_pack_str(p, "not a path");
  ax_pack_str(p, "src");
  pack_ident(p, "origin");
  ax_pack_str(p, "later");
  ax_pack_map(p, 1);
  ax_pack_str(p, "x");
  ax_pack_array(p, 0);
  ax_error *e;
  assert_int_equal(decode(p, &e), 0);
  ax_pack_free(p);
  assert_string_equal(ax_error_type(e), "ValueError");
  assert_string_equal(ax_error_traceback(e), "");
  assert_string_equal(ax_error_src_name(e), "origin");
  assert_int_equal(ax_error_src_pid(e), 42);
  assert_int_equal(ax_error_relay_len(e), 2);
  assert_string_equal(ax_error_relay_name(e, 0), "origin");
  ax_error_free(e);
}

/* What decoding allocates follows what the error keeps, not the frame:
 * a frame's worth of nils under an unknown key, a path's worth of big
 * identities, cost next to nothing. */
static void test_decoding_allocates_what_it_keeps(void **state) {
  (void)state;
  uint32_t junk = 4u << 20;
  ax_pack *p = error_map(2);
  ax_pack_str(p, "later");
  ax_pack_array(p, junk);
  for (uint32_t i = 0; i < junk; i++) ax_pack_nil(p);
  ax_pack_str(p, "relay");
  ax_pack_array(p, 64);
  for (int i = 0; i < 64; i++) ax_pack_nil(p);
  ax_error *e;
  allocated = 0;
  counting = 1;
  int rc = decode(p, &e);
  counting = 0;
  ax_pack_free(p);
  assert_int_equal(rc, 0);
  assert_int_equal(ax_error_relay_len(e), 64);
  ax_error_free(e);
  /* The error, its strings, 64 identities and the hop added. */
  if (allocated > 16384)
    fail_msg("decoding a %u-byte error map allocated %zu bytes", junk,
             allocated);
}

/* --------------------------------------------------------- sending */

/* A chain of depth groups, each holding the next; an error at the end. */
static ax_error *chain(int depth) {
  ax_error *e = ax_error_new("ValueError", "bottom");
  for (int i = 0; i < depth; i++) e = ax__error_group(&e, 1);
  return e;
}

static ax_error *round_trip(const ax_error *e) {
  ax_pack *p = ax_pack_new();
  assert_int_equal(ax__error_pack(p, e), 0);
  ax_error *back;
  assert_int_equal(decode(p, &back), 0);
  ax_pack_free(p);
  return back;
}

static void test_sent_errors_keep_the_bounds(void **state) {
  (void)state;
  /* A group larger than the bound sends its first members. */
  ax_error *m[300];
  for (int i = 0; i < 300; i++) m[i] = ax_error_new("E", "member %d", i);
  ax_error *g = ax__error_group(m, 300);
  ax_error *back = round_trip(g);
  assert_int_equal(ax_error_nmembers(back), 255);
  assert_string_equal(ax_error_message(back), "300 actors failed");
  assert_string_equal(ax_error_message(ax_error_member(back, 254)),
                      "member 254");
  ax_error_free(back);
  ax_error_free(g);
  /* Groups nested deeper than AX__ERR_MAX_NEST go without members. */
  g = chain(12);
  back = round_trip(g);
  int levels = 0;
  for (const ax_error *x = back; x; x = ax_error_member(x, 0)) levels++;
  assert_int_equal(levels, AX__ERR_MAX_NEST + 1);
  ax_error_free(back);
  ax_error_free(g);
}

static void test_full_relay_path_drops_its_oldest_hop(void **state) {
  (void)state;
  assert_int_equal(ax_init(NULL), 0);
  ax__ident_set(&ax__rt_g->self, "source", 6, "", 0, 1);
  ax_error *e = ax_error_new("ValueError", "far");
  char name[16];
  for (int i = 0; i < 70; i++) {
    snprintf(name, sizeof name, "hop%d", i);
    ax__ident_set(&ax__rt_g->self, name, strlen(name), "", 0, 1);
    ax__error_relay_here(e);
  }
  assert_int_equal(ax_error_relay_len(e), AX__ERR_MAX_RELAY);
  assert_string_equal(ax_error_relay_name(e, 0), "source");
  assert_string_equal(ax_error_relay_name(e, 1), "hop7");
  assert_string_equal(ax_error_relay_name(e, 63), "hop69");
  ax_error_free(e);
  assert_int_equal(ax_shutdown(), 0);
}

static size_t packed_len(const ax_error *e) {
  ax_pack *p = ax_pack_new();
  assert_int_equal(ax__error_pack(p, e), 0);
  size_t len;
  ax_pack_bytes(p, &len);
  ax_pack_free(p);
  return len;
}

static void test_error_cut_to_fit(void **state) {
  (void)state;
  size_t big = 1u << 20;
  char *text = malloc(big + 1);
  /* Two-byte characters: a cut never splits one. */
  for (size_t i = 0; i < big; i += 2) memcpy(text + i, "\xc3\xa9", 2);
  text[big] = 0;
  ax_error *e = ax_error_new("ValueError", "%s", text);
  memset(text, 't', big);
  ax_error_set_traceback(e, text);
  free(text);
  size_t max = 64u << 10;
  ax_error *f = ax__error_fit(e, max);
  assert_non_null(f);
  assert_int_equal(ax_error_kind(f), AX_K_MESSAGE_TOO_LARGE);
  assert_true(packed_len(f) <= max);
  const char *msg = ax_error_message(f);
  assert_true(!strncmp(msg, "ValueError (too large for a message of ", 39));
  const char *cut = strstr(msg, "): ");
  assert_non_null(cut);
  size_t kept = strlen(cut + 3);
  assert_true(kept > 16384 && kept % 2 == 0);
  assert_true(!memcmp(cut + 3, "\xc3\xa9", 2));
  assert_true(strlen(ax_error_traceback(f)) > 16384);
  assert_string_equal(ax_error_src_uid(f), ax_error_src_uid(e));
  ax_error_free(f);
  /* A short traceback is kept whole; the message takes the rest. */
  ax_error_set_traceback(e, "short");
  f = ax__error_fit(e, max);
  assert_string_equal(ax_error_traceback(f), "short");
  assert_true(packed_len(f) <= max && packed_len(f) > max - 64);
  ax_error_free(f);
  /* Too small for anything. */
  assert_null(ax__error_fit(e, 64));
  ax_error_free(e);
}

/* ------------------------------------------------------------ info */

/* A map nesting depth levels: {"k": {"k": ... 7}}, depth - 1 maps. */
static ax_data *nested_info(int depth) {
  ax_pack *p = ax_pack_new();
  for (int i = 1; i < depth; i++) {
    ax_pack_map(p, 1);
    ax_pack_str(p, "k");
  }
  ax_pack_int(p, 7);
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  return d;
}

/* {"code": 7, "detail": {"where": [1, "two"]}} */
static ax_data *code_info(int64_t code) {
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 2);
  ax_pack_str(p, "code");
  ax_pack_int(p, code);
  ax_pack_str(p, "detail");
  ax_pack_map(p, 1);
  ax_pack_str(p, "where");
  ax_pack_array(p, 2);
  ax_pack_int(p, 1);
  ax_pack_str(p, "two");
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  return d;
}

static void assert_same_value(const ax_val *a, const ax_data *b) {
  assert_non_null(a);
  char *x = ax_val_format(a), *y = ax_val_format(ax_data_root(b));
  assert_string_equal(x, y);
  ax_free(x);
  ax_free(y);
}

/* An error's info: set (a copy, a map only), read, copied with the
 * error, sent and read back; each member of a group keeps its own. */
static void test_info_crosses_with_the_error(void **state) {
  (void)state;
  ax_error *e = ax_error_new("ValueError", "bad");
  assert_null(ax_error_info(e));
  ax_data *info = code_info(7), *scalar = nested_info(1);
  assert_int_equal(ax_error_set_info(e, scalar), AX_EINVAL);
  assert_null(ax_error_info(e));
  assert_int_equal(ax_error_set_info(e, info), 0);
  assert_same_value(ax_error_info(e), info);
  ax_error *c = ax_error_dup(e);
  assert_same_value(ax_error_info(c), info);
  ax_error *back = round_trip(c);
  assert_same_value(ax_error_info(back), info);
  assert_int_equal(ax_val_int(ax_val_get(ax_error_info(back), "code")), 7);
  assert_string_equal(ax_error_message(back), "bad");
  /* Relayed again, it still has it. */
  ax_error *again = round_trip(back);
  assert_same_value(ax_error_info(again), info);
  ax_error_free(again);
  ax_error_free(back);
  /* NULL removes it. */
  assert_int_equal(ax_error_set_info(c, NULL), 0);
  assert_null(ax_error_info(c));
  back = round_trip(c);
  assert_null(ax_error_info(back));
  ax_error_free(back);
  /* A group of two with their own codes, and the group without. */
  ax_data *other = code_info(8);
  assert_int_equal(ax_error_set_info(c, other), 0);
  ax_error *m[2] = {e, c};
  ax_error *g = ax__error_group(m, 2);
  back = round_trip(g);
  assert_null(ax_error_info(back));
  assert_same_value(ax_error_info(ax_error_member(back, 0)), info);
  assert_same_value(ax_error_info(ax_error_member(back, 1)), other);
  ax_error_free(back);
  ax_error_free(g);
  ax_data_free(other);
  ax_data_free(scalar);
  ax_data_free(info);
}

/* The info of a received error: a map is kept, another type read as
 * absent, a second info key is malformed. */
static void test_received_info(void **state) {
  (void)state;
  ax_pack *p = error_map(1);
  ax_pack_str(p, "info");
  ax_pack_array(p, 1);
  ax_pack_int(p, 7);
  ax_error *e;
  assert_int_equal(decode(p, &e), 0);
  ax_pack_free(p);
  assert_null(ax_error_info(e));
  assert_string_equal(ax_error_message(e), "crafted");
  ax_error_free(e);
  p = error_map(1);
  ax_pack_str(p, "info");
  ax_pack_map(p, 1);
  ax_pack_int(p, 1);
  ax_pack_str(p, "not a string key");
  assert_int_equal(decode(p, &e), 0);
  ax_pack_free(p);
  assert_int_equal(ax_val_type(ax_error_info(e)), AX_T_MAP);
  assert_string_equal(
      ax_val_str(ax_val_value(ax_error_info(e), 0), NULL), "not a string key");
  ax_error_free(e);
  p = error_map(2);
  ax_pack_str(p, "info");
  ax_pack_map(p, 0);
  ax_pack_str(p, "info");
  ax_pack_map(p, 0);
  assert_int_equal(decodes(p, NULL, NULL), AX_EPROTO);
}

/* Whether e's wire form is one value a receiver accepts (within the 32
 * levels), and whether the error read back has an info. */
static int sent_info(const ax_error *e) {
  ax_pack *p = ax_pack_new();
  assert_int_equal(ax__error_pack(p, e), 0);
  ax__scan sc;
  size_t len;
  const void *b = ax_pack_bytes(p, &len);
  assert_int_equal(ax__mp_scan(b, len, &sc), 0);
  ax_error *back;
  assert_int_equal(decode(p, &back), 0);
  ax_pack_free(p);
  int has = ax_error_info(back) != NULL;
  ax_error_free(back);
  return has;
}

/* An info counts within the 32 levels of a payload value with the error
 * map around it: 31 levels for the error itself, two fewer for each level
 * of members. A sender leaves out one that would go deeper, and sends the
 * rest of the error. */
static void test_sent_info_keeps_the_depth_bound(void **state) {
  (void)state;
  ax_data *ok = nested_info(AX__MAX_DEPTH - 1);
  ax_data *deep = nested_info(AX__MAX_DEPTH);
  ax_error *e = ax_error_new("ValueError", "deep");
  assert_int_equal(ax_error_set_info(e, ok), 0);
  assert_true(sent_info(e));
  assert_int_equal(ax_error_set_info(e, deep), 0);
  assert_false(sent_info(e));
  ax_error_free(e);
  ax_data_free(deep);
  ax_data_free(ok);
  /* A member under n groups sits 2n levels deeper. */
  for (int n = 1; n <= AX__ERR_MAX_NEST; n++) {
    int room = AX__MAX_DEPTH - 1 - 2 * n;
    ax_data *fits = nested_info(room), *over = nested_info(room + 1);
    ax_error *bottom = ax_error_new("ValueError", "bottom");
    assert_int_equal(ax_error_set_info(bottom, fits), 0);
    ax_error *g = bottom;
    for (int i = 0; i < n; i++) g = ax__error_group(&g, 1);
    ax_error *back = round_trip(g);
    const ax_error *m = back;
    for (int i = 0; i < n; i++) m = ax_error_member(m, 0);
    assert_non_null(ax_error_info(m));
    ax_error_free(back);
    assert_int_equal(ax_error_set_info(bottom, over), 0);
    assert_true(sent_info(g) == 0);
    back = round_trip(g);
    m = back;
    for (int i = 0; i < n; i++) m = ax_error_member(m, 0);
    assert_null(ax_error_info(m));
    assert_string_equal(ax_error_message(m), "bottom");
    ax_error_free(back);
    ax_error_free(g);
    ax_data_free(over);
    ax_data_free(fits);
  }
}

static void test_plain_error_needs_no_memory(void **state) {
  (void)state;
  uint8_t buf[AX__ERR_PLAIN_MAX];
  char msg[201];
  memset(msg, 'm', 200);
  msg[200] = 0;
  size_t n = ax__error_write_plain(buf, sizeof buf, AX_K_MEMORY_ERROR, msg);
  assert_true(n > 0 && n <= sizeof buf);
  ax_error *e;
  assert_int_equal(ax__error_decode(buf, n, &e), 0);
  assert_int_equal(ax_error_kind(e), AX_K_MEMORY_ERROR);
  assert_string_equal(ax_error_message(e), msg);
  assert_int_equal(ax_error_relay_len(e), 1);
  ax_error_free(e);
  assert_int_equal(ax__error_write_plain(buf, 100, AX_K_MEMORY_ERROR, msg),
                   0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relay_path_bound),
      cmocka_unit_test(test_group_bound),
      cmocka_unit_test(test_malformed_error_maps),
      cmocka_unit_test(test_decoding_allocates_what_it_keeps),
      cmocka_unit_test(test_sent_errors_keep_the_bounds),
      cmocka_unit_test(test_full_relay_path_drops_its_oldest_hop),
      cmocka_unit_test(test_error_cut_to_fit),
      cmocka_unit_test(test_plain_error_needs_no_memory),
      cmocka_unit_test(test_info_crosses_with_the_error),
      cmocka_unit_test(test_received_info),
      cmocka_unit_test(test_sent_info_keeps_the_depth_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
