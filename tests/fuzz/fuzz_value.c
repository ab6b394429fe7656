/* fuzz_value.c - the msgpack validator (ax__mp_scan) and the value decoder
 * (ax_data_decode) on any bytes. Besides not crashing, what is accepted
 * must read back consistently: re-encoding a decoded value gives a value
 * that decodes, prints the same and re-encodes to the same bytes; an
 * error object read from it packs again into a valid value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "fuzz_value: %s\n", what);
  abort();
}

/* Walk v with the public readers, as a binding would; returns the nodes. */
static size_t walk(const ax_val *v, int depth) {
  check(depth <= AX__MAX_DEPTH, "deeper than the limit");
  size_t nodes = 1, len;
  switch (ax_val_type(v)) {
    case AX_T_STR: {
      const char *s = ax_val_str(v, &len);
      check(s && s[len] == 0, "string not NUL-terminated");
      break;
    }
    case AX_T_BIN:
      check(ax_val_bin(v, &len) != NULL || len == 0, "bin without bytes");
      break;
    case AX_T_ARRAY:
      for (uint32_t i = 0; i < ax_val_len(v); i++)
        nodes += walk(ax_val_at(v, i), depth + 1);
      check(ax_val_at(v, ax_val_len(v)) == NULL, "array read past its end");
      break;
    case AX_T_MAP:
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        const ax_val *k = ax_val_key(v, i);
        nodes += walk(k, depth + 1) + walk(ax_val_value(v, i), depth + 1);
        const char *ks = ax_val_str(k, &len);
        /* A string key without NUL finds a value (the first of its name). */
        if (ks && strlen(ks) == len) check(ax_val_get(v, ks) != NULL, "key");
      }
      break;
    default:
      (void)ax_val_int(v);
      (void)ax_val_float(v);
      (void)ax_val_bool(v);
      break;
  }
  return nodes;
}

/* Encode v again; the result must be a valid value. */
static ax_data *repack(const ax_val *v) {
  ax_pack *p = ax_pack_new();
  check(p != NULL, "out of memory");
  check(ax_pack_val(p, v) == 0, "a decoded value does not pack");
  ax_data *d = NULL;
  check(ax_pack_finish(p, &d) == 0, "a re-encoded value does not decode");
  return d;
}

/* The bytes read as an error map (ax__error_decode, which checks the
 * bounds), then sent and read back. */
static void check_error(const uint8_t *data, size_t size) {
  ax_error *e = NULL;
  if (ax__error_decode(data, size, &e) < 0) return;
  char *text = ax_error_format(e);
  check(text != NULL, "an error does not format");
  ax_free(text);
  ax_pack *p = ax_pack_new();
  check(p != NULL && ax__error_pack(p, e) == 0, "an error does not pack");
  ax_data *d = NULL;
  check(ax_pack_finish(p, &d) == 0, "a packed error is no valid value");
  ax_error *again = NULL;
  size_t blen;
  const void *bytes = ax_data_bytes(d, &blen);
  check(ax__error_decode(bytes, blen, &again) == 0,
        "a packed error does not read back");
  /* Text goes out as well-formed UTF-8: the type reads back as it was,
   * or with its bad bytes replaced. */
  const char *t = ax_error_type(e);
  char *fixed = ax__utf8_fix(t, strlen(t));
  check(fixed && strcmp(ax_error_type(again), fixed) == 0, "error type");
  check(ax__utf8_valid(ax_error_type(again), strlen(ax_error_type(again))),
        "an error type went out as bad UTF-8");
  free(fixed);
  /* An info read from a valid value fits where it was, so it goes as it
   * came. */
  const ax_val *info = ax_error_info(e), *info2 = ax_error_info(again);
  check(!info == !info2, "an info lost or made up");
  if (info) {
    char *x = ax_val_format(info), *y = ax_val_format(info2);
    check(x && y && strcmp(x, y) == 0, "an info changed");
    ax_free(x);
    ax_free(y);
  }
  ax_error_free(again);
  ax_data_free(d);
  ax_error_free(e);
}

static void check_value(const uint8_t *data, size_t size) {
  ax_data *d = NULL;
  int rc = ax_data_decode(data, size, &d);
  ax__scan sc;
  int scanned = ax__mp_scan(data, size, &sc) == 0 && sc.used == size;
  check((rc == 0) == scanned, "decoder and scanner disagree");
  if (rc < 0) return;
  size_t len;
  check(ax_data_bytes(d, &len) != NULL && len == size, "document bytes");
  const ax_val *root = ax_data_root(d);
  check(walk(root, 1) == sc.nodes, "node count");
  char *text = ax_val_format(root);
  check(text != NULL, "value does not format");
  ax_data *d2 = repack(root);
  char *text2 = ax_val_format(ax_data_root(d2));
  check(text2 && strcmp(text, text2) == 0, "re-encoded value prints apart");
  ax_data *d3 = repack(ax_data_root(d2));
  size_t l2, l3;
  const void *b2 = ax_data_bytes(d2, &l2), *b3 = ax_data_bytes(d3, &l3);
  check(l2 == l3 && memcmp(b2, b3, l2) == 0, "encoding is not stable");
  ax_data *dup = ax_data_dup(d);
  check(dup != NULL, "dup");
  check_error(data, size);
  ax_data_free(dup);
  ax_data_free(d3);
  ax_data_free(d2);
  ax_free(text2);
  ax_free(text);
  ax_data_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly size bytes: a read past the end is caught. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  check_value(copy, size);
  /* The first value of the bytes, with whatever follows it. */
  ax__scan sc;
  if (size && ax__mp_scan(copy, size, &sc) == 0) {
    check(sc.used >= 1 && sc.used <= size, "scan used");
    check_value(copy, sc.used);
  }
  free(copy);
  return 0;
}
