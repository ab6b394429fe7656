/* mp.c - msgpack on the wire, at the byte level: the scanner that every
 * received value goes through once (it validates and sizes a value in one
 * pass), and the primitives that write one item. Everything above (values,
 * messages) trusts what the scanner accepted. */
#include <string.h>

#include "internal.h"

#define be ax__mp_be

/* The heads ax__mp_head does not read inline: 0xc0..0xdf. */
int ax__mp_head_slow(const uint8_t *p, size_t len, size_t *head, uint64_t *n,
                     int *kind) {
  uint8_t b = p[0];
  *head = 1;
  *n = 0;
  *kind = AX__MP_SCALAR;
  if (b == 0xc0 || b == 0xc2 || b == 0xc3) return 0;
  /* 0xc4..0xdf: bytes of a length header, fixed payload size, kind. */
  static const struct {
    uint8_t lenbytes, fixed, kind;
  } t[0x20] = {
      [0x04] = {1, 0, AX__MP_BIN},    [0x05] = {2, 0, AX__MP_BIN},
      [0x06] = {4, 0, AX__MP_BIN},    [0x07] = {1, 0, AX__MP_EXT},
      [0x08] = {2, 0, AX__MP_EXT},    [0x09] = {4, 0, AX__MP_EXT},
      [0x0a] = {0, 4, AX__MP_SCALAR}, [0x0b] = {0, 8, AX__MP_SCALAR},
      [0x0c] = {0, 1, AX__MP_SCALAR}, [0x0d] = {0, 2, AX__MP_SCALAR},
      [0x0e] = {0, 4, AX__MP_SCALAR}, [0x0f] = {0, 8, AX__MP_SCALAR},
      [0x10] = {0, 1, AX__MP_SCALAR}, [0x11] = {0, 2, AX__MP_SCALAR},
      [0x12] = {0, 4, AX__MP_SCALAR}, [0x13] = {0, 8, AX__MP_SCALAR},
      [0x14] = {0, 2, AX__MP_EXT},    [0x15] = {0, 3, AX__MP_EXT},
      [0x16] = {0, 5, AX__MP_EXT},    [0x17] = {0, 9, AX__MP_EXT},
      [0x18] = {0, 17, AX__MP_EXT},   [0x19] = {1, 0, AX__MP_STR},
      [0x1a] = {2, 0, AX__MP_STR},    [0x1b] = {4, 0, AX__MP_STR},
      [0x1c] = {2, 0, AX__MP_ARRAY},  [0x1d] = {4, 0, AX__MP_ARRAY},
      [0x1e] = {2, 0, AX__MP_MAP},    [0x1f] = {4, 0, AX__MP_MAP},
  };
  if (b == 0xc1) return AX_EPROTO; /* never used */
  unsigned k = b - 0xc0u;
  *kind = t[k].kind;
  if (t[k].fixed) {
    /* Scalars carry their payload after the byte; fixext has a type
     * byte, then fixed-1 bytes of data. */
    if (*kind == AX__MP_EXT) {
      *head = 2;
      *n = t[k].fixed - 1u;
    } else {
      *head = 1u + t[k].fixed;
    }
    return len < *head ? AX_EPROTO : 0;
  }
  *head = 1u + t[k].lenbytes + (*kind == AX__MP_EXT);
  if (len < *head) return AX_EPROTO;
  *n = be(p + 1, t[k].lenbytes);
  return 0;
}

int ax__mp_scan(const uint8_t *p, size_t len, ax__scan *out) {
  /* left[d]: items still to read at level d. Level 0 holds the value
   * itself, whose depth is 1; an item of a depth-d container has depth
   * d + 1. The limit counts the same way as the encoders do. */
  uint64_t left[AX__MAX_DEPTH + 1];
  int d = 0;
  size_t off = 0, nodes = 0, strbytes = 0;
  left[0] = 1;
  for (;;) {
    while (left[d] == 0) {
      if (d == 0) {
        out->used = off;
        out->nodes = nodes;
        out->strbytes = strbytes;
        return 0;
      }
      d--;
    }
    left[d]--;
    if (off >= len) return AX_EPROTO;
    size_t head, rest;
    uint64_t n;
    int kind;
    if (ax__mp_head(p + off, len - off, &head, &n, &kind) < 0) return AX_EPROTO;
    off += head;
    rest = len - off;
    nodes++;
    if (kind == AX__MP_ARRAY || kind == AX__MP_MAP) {
      uint64_t items = kind == AX__MP_MAP ? 2 * n : n;
      /* Every item takes at least one byte: a count past that is a lie. */
      if (items > rest) return AX_EPROTO;
      if (items) {
        if (d + 1 >= AX__MAX_DEPTH) return AX_EPROTO;
        left[++d] = items;
      }
      continue;
    }
    if (n > rest) return AX_EPROTO;
    off += (size_t)n;
    if (kind == AX__MP_STR) strbytes += (size_t)n + 1;
  }
}

/* ------------------------------------------------------------ write */

uint8_t *ax__mp_put_byte(uint8_t *w, uint8_t b) {
  *w = b;
  return w + 1;
}

static uint8_t *put_be(uint8_t *w, uint8_t tag, uint64_t v, int n) {
  *w++ = tag;
  for (int i = n - 1; i >= 0; i--) *w++ = (uint8_t)(v >> (8 * i));
  return w;
}

uint8_t *ax__mp_put_uint(uint8_t *w, uint64_t v) {
  if (v <= 0x7f) return ax__mp_put_byte(w, (uint8_t)v);
  if (v <= UINT8_MAX) return put_be(w, 0xcc, v, 1);
  if (v <= UINT16_MAX) return put_be(w, 0xcd, v, 2);
  if (v <= UINT32_MAX) return put_be(w, 0xce, v, 4);
  return put_be(w, 0xcf, v, 8);
}

uint8_t *ax__mp_put_int(uint8_t *w, int64_t v) {
  if (v >= 0) return ax__mp_put_uint(w, (uint64_t)v);
  if (v >= -32) return ax__mp_put_byte(w, (uint8_t)(int8_t)v);
  if (v >= INT8_MIN) return put_be(w, 0xd0, (uint64_t)v, 1);
  if (v >= INT16_MIN) return put_be(w, 0xd1, (uint64_t)v, 2);
  if (v >= INT32_MIN) return put_be(w, 0xd2, (uint64_t)v, 4);
  return put_be(w, 0xd3, (uint64_t)v, 8);
}

uint8_t *ax__mp_put_float(uint8_t *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  return put_be(w, 0xcb, u, 8);
}

static uint8_t *put_len(uint8_t *w, uint32_t n, uint8_t fix, uint32_t fixmax,
                        uint8_t t8, uint8_t t16, uint8_t t32) {
  if (n <= fixmax && fix) return ax__mp_put_byte(w, (uint8_t)(fix | n));
  if (n <= UINT8_MAX && t8) return put_be(w, t8, n, 1);
  if (n <= UINT16_MAX) return put_be(w, t16, n, 2);
  return put_be(w, t32, n, 4);
}

uint8_t *ax__mp_put_str(uint8_t *w, const char *s, uint32_t n) {
  w = put_len(w, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
  if (n) memcpy(w, s, n);
  return w + n;
}

uint8_t *ax__mp_put_bin(uint8_t *w, const void *b, uint32_t n) {
  w = put_len(w, n, 0, 0, 0xc4, 0xc5, 0xc6);
  if (n) memcpy(w, b, n);
  return w + n;
}

uint8_t *ax__mp_put_array(uint8_t *w, uint32_t n) {
  return put_len(w, n, 0x90, 15, 0, 0xdc, 0xdd);
}

uint8_t *ax__mp_put_map(uint8_t *w, uint32_t n) {
  return put_len(w, n, 0x80, 15, 0, 0xde, 0xdf);
}
