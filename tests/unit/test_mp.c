/* test_mp.c - axle's msgpack codec against an independent one (msgpack-c):
 * random values written by either side read back the same by the other,
 * every cut of a valid value is refused, and nesting is limited alike on
 * the sending and the receiving side. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <msgpack.h>

#include "internal.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* A random value written with msgpack-c; lengths cross every encoding
 * boundary (fix, 8, 16 and 32-bit headers). */
static void gen(msgpack_packer *pk, int depth) {
  static const uint32_t lens[] = {0, 1, 15, 16, 31, 32, 255, 256, 65535,
                                  65536};
  int kind = (int)(next() % (depth > 4 ? 6 : 8));
  switch (kind) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: (next() & 1) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
      break;
    case 2: {
      int shift = (int)(next() % 64);
      int64_t v = (int64_t)(next() >> shift);
      if (next() & 1) v = -v;
      msgpack_pack_int64(pk, v);
      break;
    }
    case 3:
      if (next() & 1)
        msgpack_pack_double(pk, (double)(int64_t)next() / 7.0);
      else
        msgpack_pack_float(pk, (float)(next() % 1000) / 8.0f);
      break;
    case 4: case 5: {
      uint32_t n = lens[next() % (depth > 2 ? 6 : 10)];
      char *s = malloc(n + 1);
      for (uint32_t i = 0; i < n; i++) s[i] = (char)('a' + next() % 26);
      if (kind == 4) {
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, s, n);
      } else {
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, s, n);
      }
      free(s);
      break;
    }
    case 6: {
      uint32_t n = (uint32_t)(next() % 20);
      msgpack_pack_array(pk, n);
      for (uint32_t i = 0; i < n; i++) gen(pk, depth + 1);
      break;
    }
    default: {
      uint32_t n = (uint32_t)(next() % 20);
      msgpack_pack_map(pk, n);
      for (uint32_t i = 0; i < 2 * n; i++) gen(pk, depth + 1);
      break;
    }
  }
}

/* The same value, as each codec read it. */
static void same(const msgpack_object *o, const ax_val *v) {
  size_t n;
  switch (o->type) {
    case MSGPACK_OBJECT_NIL:
      assert_int_equal(ax_val_type(v), AX_T_NIL);
      break;
    case MSGPACK_OBJECT_BOOLEAN:
      assert_int_equal(ax_val_type(v), AX_T_BOOL);
      assert_int_equal(ax_val_bool(v), o->via.boolean);
      break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      assert_int_equal(ax_val_type(v), AX_T_INT);
      assert_true(ax_val_float(v) == (double)o->via.u64);
      if (o->via.u64 <= INT64_MAX)
        assert_true(ax_val_int(v) == (int64_t)o->via.u64);
      break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      assert_int_equal(ax_val_type(v), AX_T_INT);
      assert_true(ax_val_int(v) == o->via.i64);
      break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
      assert_int_equal(ax_val_type(v), AX_T_FLOAT);
      assert_true(ax_val_float(v) == o->via.f64);
      break;
    case MSGPACK_OBJECT_STR: {
      const char *s = ax_val_str(v, &n);
      assert_non_null(s);
      assert_int_equal(n, o->via.str.size);
      if (n) assert_memory_equal(s, o->via.str.ptr, n);
      assert_int_equal(s[n], 0);
      break;
    }
    case MSGPACK_OBJECT_BIN: {
      const void *b = ax_val_bin(v, &n);
      assert_int_equal(n, o->via.bin.size);
      if (n) assert_memory_equal(b, o->via.bin.ptr, n);
      break;
    }
    case MSGPACK_OBJECT_ARRAY:
      assert_int_equal(ax_val_type(v), AX_T_ARRAY);
      assert_int_equal(ax_val_len(v), o->via.array.size);
      for (uint32_t i = 0; i < o->via.array.size; i++)
        same(&o->via.array.ptr[i], ax_val_at(v, i));
      break;
    case MSGPACK_OBJECT_MAP:
      assert_int_equal(ax_val_type(v), AX_T_MAP);
      assert_int_equal(ax_val_len(v), o->via.map.size);
      for (uint32_t i = 0; i < o->via.map.size; i++) {
        same(&o->via.map.ptr[i].key, ax_val_key(v, i));
        same(&o->via.map.ptr[i].val, ax_val_value(v, i));
      }
      break;
    default:
      fail_msg("unexpected msgpack-c type %d", o->type);
  }
}

static void check_with_msgpack_c(const void *bytes, size_t len,
                                 const ax_val *v) {
  msgpack_zone zone;
  msgpack_zone_init(&zone, 4096);
  msgpack_object o;
  size_t off = 0;
  assert_int_equal(msgpack_unpack(bytes, len, &off, &zone, &o),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, len);
  same(&o, v);
  msgpack_zone_destroy(&zone);
}

static void test_both_codecs_agree(void **state) {
  (void)state;
  for (int round = 0; round < 300; round++) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    gen(&pk, 1);
    /* msgpack-c wrote it; axle reads it as msgpack-c does. */
    ax_data *d = NULL;
    assert_int_equal(ax_data_decode(sb.data, sb.size, &d), 0);
    check_with_msgpack_c(sb.data, sb.size, ax_data_root(d));
    /* axle writes it again; msgpack-c reads that as the same value. */
    ax_pack *p = ax_pack_new();
    assert_int_equal(ax_pack_val(p, ax_data_root(d)), 0);
    size_t len;
    const void *b = ax_pack_bytes(p, &len);
    check_with_msgpack_c(b, len, ax_data_root(d));
    ax_data *again = NULL;
    assert_int_equal(ax_pack_finish(p, &again), 0);
    ax_data_free(again);
    ax_data_free(d);
    msgpack_sbuffer_destroy(&sb);
  }
}

static void test_every_cut_is_refused(void **state) {
  (void)state;
  for (int round = 0; round < 100; round++) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    gen(&pk, 3);
    size_t step = sb.size > 4096 ? sb.size / 512 : 1;
    for (size_t cut = 0; cut < sb.size; cut += step) {
      ax__scan sc;
      assert_int_equal(ax__mp_scan((const uint8_t *)sb.data, cut, &sc),
                       AX_EPROTO);
    }
    msgpack_sbuffer_destroy(&sb);
  }
}

static ax_pack *nested(int depth) {
  ax_pack *p = ax_pack_new();
  for (int i = 1; i < depth; i++) ax_pack_array(p, 1);
  ax_pack_int(p, 7);
  return p;
}

static void test_depth_is_the_same_for_sender_and_receiver(void **state) {
  (void)state;
  ax_data *d = NULL;
  /* Exactly the limit: the sender accepts it and so does a receiver. */
  assert_int_equal(ax_pack_finish(nested(AX__MAX_DEPTH), &d), 0);
  size_t len;
  const void *b = ax_data_bytes(d, &len);
  ax_data *r = NULL;
  assert_int_equal(ax_data_decode(b, len, &r), 0);
  ax_data_free(r);
  ax_data_free(d);
  /* One more: the sender refuses it already. */
  d = NULL;
  assert_int_equal(ax_pack_finish(nested(AX__MAX_DEPTH + 1), &d), AX_EINVAL);
  assert_null(d);
  /* An empty container counts one level, like a scalar. */
  ax_pack *p = ax_pack_new();
  for (int i = 1; i < AX__MAX_DEPTH; i++) ax_pack_array(p, 1);
  ax_pack_map(p, 0);
  assert_int_equal(ax_pack_finish(p, &d), 0);
  ax_data_free(d);
}

static void test_empty_strings_and_unsigned(void **state) {
  (void)state;
  /* An empty string or binary before any other: no NULL pointer reaches
   * memcpy (the sanitizer build checks). */
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, 4);
  ax_pack_strn(p, NULL, 0);
  ax_pack_bin(p, NULL, 0);
  ax_pack_str(p, "");
  ax_pack_int(p, INT64_MIN);
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  const ax_val *r = ax_data_root(d);
  size_t n = 9;
  assert_string_equal(ax_val_str(ax_val_at(r, 0), &n), "");
  assert_int_equal(n, 0);
  assert_int_equal(ax_val_type(ax_val_at(r, 1)), AX_T_BIN);
  assert_true(ax_val_int(ax_val_at(r, 3)) == INT64_MIN);
  ax_data_free(d);
  /* A uint64 above INT64_MAX keeps its value through a re-encode. */
  static const uint8_t big[] = {0xcf, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xfe};
  assert_int_equal(ax_data_decode(big, sizeof big, &d), 0);
  p = ax_pack_new();
  ax_pack_val(p, ax_data_root(d));
  size_t len;
  const void *b = ax_pack_bytes(p, &len);
  assert_int_equal(len, sizeof big);
  assert_memory_equal(b, big, sizeof big);
  ax_pack_free(p);
  ax_data_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_both_codecs_agree),
      cmocka_unit_test(test_every_cut_is_refused),
      cmocka_unit_test(test_depth_is_the_same_for_sender_and_receiver),
      cmocka_unit_test(test_empty_strings_and_unsigned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
