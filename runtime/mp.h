/* mp.h - msgpack at the byte level (mp.c). Part of internal.h, which
 * includes it where the declarations it relies on stand; include internal.h,
 * not this. */
#ifndef AX_MP_H
#define AX_MP_H

/* How deep a value may nest: a scalar or an empty container is one level,
 * a container one more than its deepest item. Senders and receivers
 * apply the same limit to each value on its own. */
#define AX__MAX_DEPTH 32

enum { AX__MP_SCALAR, AX__MP_STR, AX__MP_BIN, AX__MP_EXT, AX__MP_ARRAY,
       AX__MP_MAP };

/* What a scan of one value found: its size in bytes, its number of
 * items (nodes), and the bytes its strings need with a NUL each. */
typedef struct ax__scan {
  size_t used, nodes, strbytes;
} ax__scan;

/* Validate and size the one value at p[0..len). Rejects truncation, the
 * byte 0xc1, nesting deeper than AX__MAX_DEPTH and counts that cannot fit
 * in the bytes left. Returns 0 or AX_EPROTO. */
int ax__mp_scan(const uint8_t *p, size_t len, ax__scan *out);
int ax__mp_head_slow(const uint8_t *p, size_t len, size_t *head,
                     uint64_t *n, int *kind);

/* The head of the item at p (len >= 1 bytes left): its size *head
 * (header, or all of a scalar), its payload bytes or item count *n, its
 * AX__MP_ kind. AX_EPROTO for 0xc1 or a cut header. The fix formats, most
 * of what travels, are read inline. */
static inline int ax__mp_head(const uint8_t *p, size_t len, size_t *head,
                              uint64_t *n, int *kind) {
  uint8_t b = p[0];
  if (b <= 0x7f || b >= 0xe0) {
    *head = 1;
    *n = 0;
    *kind = AX__MP_SCALAR;
    return 0;
  }
  if (b <= 0xbf) {
    *head = 1;
    *n = b >= 0xa0 ? b & 0x1fu : b & 0x0fu;
    *kind = b >= 0xa0 ? AX__MP_STR : b >= 0x90 ? AX__MP_ARRAY : AX__MP_MAP;
    return 0;
  }
  return ax__mp_head_slow(p, len, head, n, kind);
}

static inline uint64_t ax__mp_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}
/* Writers of one item: each returns the end of what it wrote. An int
 * takes at most 9 bytes, a header 5. */
uint8_t *ax__mp_put_byte(uint8_t *w, uint8_t b);
uint8_t *ax__mp_put_uint(uint8_t *w, uint64_t v);
uint8_t *ax__mp_put_int(uint8_t *w, int64_t v);
uint8_t *ax__mp_put_float(uint8_t *w, double v);
uint8_t *ax__mp_put_str(uint8_t *w, const char *s, uint32_t n);
uint8_t *ax__mp_put_bin(uint8_t *w, const void *b, uint32_t n);
uint8_t *ax__mp_put_array(uint8_t *w, uint32_t n);
uint8_t *ax__mp_put_map(uint8_t *w, uint32_t n);

/* Whether a value starting with byte b may be a call's arguments: a map
 * (keyword arguments), an array (positional ones) or nil. */
static inline int ax__mp_args_ok(uint8_t b) {
  return b == 0xc0 || (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
}

#endif
