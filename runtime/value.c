/* value.c - msgpack values across the ABI: the encoder (ax_pack), decoded
 * documents (ax_data) and node readers (ax_val). Decoding trusts what
 * mp.c's scanner accepted and sized, so a document is one allocation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { VAL_UNSIGNED = 1 }; /* an int above INT64_MAX, kept in v.u */

struct ax_val {
  uint8_t type; /* ax_type */
  uint8_t flags;
  uint32_t len; /* bytes of a str/bin, items of an array, pairs of a map */
  union {
    int64_t i;
    uint64_t u;
    double f;
    const char *s;      /* str (NUL-terminated) and bin */
    const ax_val *kids; /* array items; map keys and values, interleaved */
  } v;
};
/* A node per item, at least one byte each: docs/PROTOCOL.md promises that
 * decoding a value takes at most 18 bytes per byte of it. */
_Static_assert(sizeof(ax_val) <= 16, "an ax_val takes at most 16 bytes");

/* One allocation: this header, the nodes below the root, a copy of the
 * encoded bytes, then NUL-terminated copies of the strings. Or, for a
 * large value received in parts, the header, nodes and strings, with the
 * bytes in the buffer it was assembled in, which it owns. */
struct ax_data {
  const uint8_t *bytes;
  size_t len;
  void *own; /* the bytes' buffer (ax__buf), when not in this allocation */
  size_t own_cap;
  ax_val root;
  ax_val nodes[];
};

/* A pack starts in its own small buffer (most results are a few bytes)
 * and comes from a pool: a served call's result costs no allocation. */
#define PACK_SMALL 64
struct ax_pack {
  uint8_t *p; /* small, or the heap once it outgrew it */
  size_t len, cap;
  int oom;
  uint8_t small[PACK_SMALL];
};

static ax__pool pack_pool = AX__POOL(256);

/* ----------------------------------------------------------- decode */

typedef struct dec {
  const uint8_t *p; /* the copied bytes */
  size_t off;
  ax_val *next; /* free nodes */
  char *strs;   /* free string space */
} dec;

/* Decode one value the scanner has accepted into *v. */
static void dec_val(dec *c, ax_val *v) {
  const uint8_t *q = c->p + c->off;
  const uint8_t *x = q + 1; /* a scalar's payload */
  uint8_t b = q[0];
  size_t head;
  uint64_t n;
  int kind;
  ax__mp_head(q, SIZE_MAX, &head, &n, &kind);
  c->off += head;
  v->flags = 0;
  v->len = 0;
  switch (kind) {
    case AX__MP_STR: {
      char *s = c->strs;
      memcpy(s, c->p + c->off, (size_t)n);
      s[n] = 0;
      c->strs += n + 1;
      c->off += (size_t)n;
      v->type = AX_T_STR;
      v->len = (uint32_t)n;
      v->v.s = s;
      return;
    }
    case AX__MP_BIN:
    case AX__MP_EXT:
      v->type = AX_T_BIN;
      v->len = (uint32_t)n;
      v->v.s = (const char *)c->p + c->off;
      c->off += (size_t)n;
      return;
    case AX__MP_ARRAY:
    case AX__MP_MAP: {
      uint64_t items = kind == AX__MP_MAP ? 2 * n : n;
      ax_val *kids = c->next;
      c->next += items;
      v->type = kind == AX__MP_MAP ? AX_T_MAP : AX_T_ARRAY;
      v->len = (uint32_t)n;
      v->v.kids = kids;
      for (uint64_t i = 0; i < items; i++) dec_val(c, &kids[i]);
      return;
    }
  }
  if (b <= 0x7f) {
    v->type = AX_T_INT;
    v->v.i = b;
  } else if (b >= 0xe0) {
    v->type = AX_T_INT;
    v->v.i = (int8_t)b;
  } else if (b == 0xc0) {
    v->type = AX_T_NIL;
  } else if (b == 0xc2 || b == 0xc3) {
    v->type = AX_T_BOOL;
    v->v.i = b == 0xc3;
  } else if (b == 0xca) {
    uint32_t u = (uint32_t)ax__mp_be(x, 4);
    float f;
    memcpy(&f, &u, 4);
    v->type = AX_T_FLOAT;
    v->v.f = f;
  } else if (b == 0xcb) {
    uint64_t u = ax__mp_be(x, 8);
    v->type = AX_T_FLOAT;
    memcpy(&v->v.f, &u, 8);
  } else if (b >= 0xcc && b <= 0xcf) {
    v->type = AX_T_INT;
    v->v.u = ax__mp_be(x, 1 << (b - 0xcc));
    if (v->v.u > INT64_MAX) v->flags = VAL_UNSIGNED;
  } else {
    int k = 1 << (b - 0xd0);
    uint64_t u = ax__mp_be(x, k);
    int shift = 64 - 8 * k;
    v->type = AX_T_INT;
    v->v.i = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
  }
}

ax_data *ax__data_make(const void *bytes, const ax__scan *sc) {
  size_t nodes = sc->nodes - 1; /* the root lives in the header */
  size_t size =
      sizeof(ax_data) + nodes * sizeof(ax_val) + sc->used + sc->strbytes;
  ax_data *d = ax__mem_alloc(size);
  if (!d) return NULL;
  uint8_t *copy = (uint8_t *)(d->nodes + nodes);
  memcpy(copy, bytes, sc->used);
  d->bytes = copy;
  d->len = sc->used;
  d->own = NULL;
  dec c = {copy, 0, d->nodes, (char *)copy + sc->used};
  dec_val(&c, &d->root);
  return d;
}

ax_data *ax__data_adopt(void *buf, size_t cap, const void *bytes,
                        const ax__scan *sc) {
  size_t nodes = sc->nodes - 1;
  /* Strings are still copied (each gets its NUL): maybe megabytes. */
  ax_data *d =
      ax__mem_alloc(sizeof(ax_data) + nodes * sizeof(ax_val) + sc->strbytes);
  if (!d) return NULL;
  d->bytes = bytes;
  d->len = sc->used;
  d->own = buf;
  d->own_cap = cap;
  dec c = {bytes, 0, d->nodes, (char *)(d->nodes + nodes)};
  dec_val(&c, &d->root);
  return d;
}

int ax_data_decode(const void *bytes, size_t len, ax_data **out) {
  if (!bytes || !out) return AX_EINVAL;
  ax__scan sc;
  if (ax__mp_scan(bytes, len, &sc) < 0 || sc.used != len) return AX_EPROTO;
  *out = ax__data_make(bytes, &sc);
  return *out ? 0 : AX_ENOMEM;
}

int ax__data_args(const ax_data *d, const void **p, size_t *len) {
  *p = d ? d->bytes : NULL;
  *len = d ? d->len : 0;
  return d && !ax__mp_args_ok(d->bytes[0]) ? AX_EINVAL : 0;
}

ax_data *ax_data_dup(const ax_data *d) {
  ax_data *c = NULL;
  if (d && ax_data_decode(d->bytes, d->len, &c) < 0) return NULL;
  return c;
}

const ax_val *ax_data_root(const ax_data *d) { return d ? &d->root : NULL; }

const void *ax_data_bytes(const ax_data *d, size_t *len) {
  if (len) *len = d ? d->len : 0;
  return d ? d->bytes : NULL;
}

static __attribute__((noinline)) void free_own(ax_data *d) {
  ax__buf_free(d->own, d->own_cap);
}

void ax_data_free(ax_data *d) {
  if (d && __builtin_expect(d->own != NULL, 0)) free_own(d);
  free(d);
}

/* -------------------------------------------------------------- pack */

ax_pack *ax_pack_new(void) {
  ax_pack *p = ax__pool_get(&pack_pool, sizeof *p);
  if (!p) return NULL;
  p->p = p->small;
  p->len = 0;
  p->cap = PACK_SMALL;
  p->oom = 0;
  return p;
}

void ax_pack_free(ax_pack *p) {
  if (!p) return;
  if (p->p != p->small) ax__buf_free(p->p, p->cap);
  ax__pool_put(&pack_pool, p);
}

/* Room for n more bytes, or NULL (and the pack remembers the failure). */
static uint8_t *room(ax_pack *p, size_t n) {
  if (p->oom) return NULL;
  if (p->cap - p->len < n) {
    size_t cap = p->cap;
    while (cap - p->len < n) {
      if (cap > SIZE_MAX / 2) {
        p->oom = 1;
        return NULL;
      }
      cap *= 2;
    }
    int small = p->p == p->small;
    uint8_t *q = ax__buf_resize(small ? NULL : p->p, p->cap, cap);
    if (!q) {
      p->oom = 1;
      return NULL;
    }
    if (small) memcpy(q, p->small, p->len);
    p->p = q;
    p->cap = cap;
  }
  return p->p + p->len;
}

/* Account for what a writer put at w (room(p, ...) gave it). */
static int wrote(ax_pack *p, const uint8_t *w, const uint8_t *end) {
  p->len += (size_t)(end - w);
  return 0;
}

static int put_byte(ax_pack *p, uint8_t b) {
  uint8_t *w = room(p, 1);
  return w ? wrote(p, w, ax__mp_put_byte(w, b)) : AX_ENOMEM;
}

/* An array or map header: at most 5 bytes. */
static int put_head(ax_pack *p, uint8_t *(*put)(uint8_t *, uint32_t),
                    uint32_t n) {
  uint8_t *w = room(p, 5);
  return w ? wrote(p, w, put(w, n)) : AX_ENOMEM;
}

int ax_pack_nil(ax_pack *p) { return put_byte(p, 0xc0); }
int ax_pack_bool(ax_pack *p, int v) { return put_byte(p, v ? 0xc3 : 0xc2); }
int ax_pack_array(ax_pack *p, uint32_t n) {
  return put_head(p, ax__mp_put_array, n);
}
int ax_pack_map(ax_pack *p, uint32_t n) {
  return put_head(p, ax__mp_put_map, n);
}

int ax_pack_int(ax_pack *p, int64_t v) {
  uint8_t *w = room(p, 9);
  return w ? wrote(p, w, ax__mp_put_int(w, v)) : AX_ENOMEM;
}

int ax_pack_uint(ax_pack *p, uint64_t v) {
  uint8_t *w = room(p, 9);
  return w ? wrote(p, w, ax__mp_put_uint(w, v)) : AX_ENOMEM;
}

int ax_pack_float(ax_pack *p, double v) {
  uint8_t *w = room(p, 9);
  return w ? wrote(p, w, ax__mp_put_float(w, v)) : AX_ENOMEM;
}

int ax_pack_str(ax_pack *p, const char *s) {
  return ax_pack_strn(p, s ? s : "", s ? strlen(s) : 0);
}

int ax_pack_strn(ax_pack *p, const char *s, size_t len) {
  uint8_t *w = len > UINT32_MAX ? NULL : room(p, 5 + len);
  if (!w) return len > UINT32_MAX ? AX_EINVAL : AX_ENOMEM;
  return wrote(p, w, ax__mp_put_str(w, s, (uint32_t)len));
}

int ax_pack_bin(ax_pack *p, const void *b, size_t len) {
  uint8_t *w = len > UINT32_MAX ? NULL : room(p, 5 + len);
  if (!w) return len > UINT32_MAX ? AX_EINVAL : AX_ENOMEM;
  return wrote(p, w, ax__mp_put_bin(w, b, (uint32_t)len));
}

int ax_pack_val(ax_pack *p, const ax_val *v) {
  if (!v) return AX_EINVAL;
  int rc = 0;
  switch (v->type) {
    case AX_T_NIL:
      return ax_pack_nil(p);
    case AX_T_BOOL:
      return ax_pack_bool(p, (int)v->v.i);
    case AX_T_INT:
      return v->flags & VAL_UNSIGNED ? ax_pack_uint(p, v->v.u)
                                     : ax_pack_int(p, v->v.i);
    case AX_T_FLOAT:
      return ax_pack_float(p, v->v.f);
    case AX_T_STR:
      return ax_pack_strn(p, v->v.s, v->len);
    case AX_T_BIN:
      return ax_pack_bin(p, v->v.s, v->len);
    case AX_T_ARRAY:
      rc = ax_pack_array(p, v->len);
      for (uint32_t i = 0; !rc && i < v->len; i++)
        rc = ax_pack_val(p, &v->v.kids[i]);
      return rc;
    case AX_T_MAP:
      rc = ax_pack_map(p, v->len);
      for (uint32_t i = 0; !rc && i < 2 * v->len; i++)
        rc = ax_pack_val(p, &v->v.kids[i]);
      return rc;
  }
  return AX_EINVAL;
}

int ax__pack_failed(const ax_pack *p) { return p->oom; }

const void *ax_pack_bytes(const ax_pack *p, size_t *len) {
  if (len) *len = p->len;
  return p->p;
}

int ax__pack_take(ax_pack *p, void **buf, size_t *cap) {
  if (p->p == p->small || p->oom) return AX_ENOENT;
  *buf = p->p;
  *cap = p->cap;
  p->p = p->small;
  p->len = 0;
  p->cap = PACK_SMALL;
  return 0;
}

int ax_pack_finish(ax_pack *p, ax_data **out) {
  if (!p || !out) {
    ax_pack_free(p);
    return AX_EINVAL;
  }
  *out = NULL;
  ax__scan sc;
  int rc = p->oom ? AX_ENOMEM : 0;
  if (rc == 0 && (ax__mp_scan(p->p, p->len, &sc) < 0 || sc.used != p->len))
    rc = AX_EINVAL;
  if (rc == 0 && p->len >= AX__MEM_BIG) {
    /* A large document keeps the pack's bytes rather than a copy. */
    uint8_t *b = ax__buf_resize(p->p, p->cap, p->len);
    if (b && (*out = ax__data_adopt(b, p->len, b, &sc))) {
      p->p = p->small;
    } else if (b) {
      p->p = b;
      p->cap = p->len;
    }
  }
  if (rc == 0 && !*out) {
    *out = ax__data_make(p->p, &sc);
    if (!*out) rc = AX_ENOMEM;
  }
  ax_pack_free(p);
  return rc;
}

/* --------------------------------------------------------------- val */

ax_type ax_val_type(const ax_val *v) { return v ? (ax_type)v->type : AX_T_NIL; }

int ax_val_bool(const ax_val *v) {
  return v && v->type == AX_T_BOOL ? (int)v->v.i : 0;
}

int64_t ax_val_int(const ax_val *v) {
  if (!v || v->type != AX_T_INT) return 0;
  return v->flags & VAL_UNSIGNED ? INT64_MAX : v->v.i;
}

int ax_val_int64(const ax_val *v, int64_t *out) {
  if (!v || v->type != AX_T_INT) return AX_ETYPE;
  if (v->flags & VAL_UNSIGNED) return AX_ERANGE;
  *out = v->v.i;
  return 0;
}

int ax_val_uint64(const ax_val *v, uint64_t *out) {
  if (!v || v->type != AX_T_INT) return AX_ETYPE;
  if (!(v->flags & VAL_UNSIGNED) && v->v.i < 0) return AX_ERANGE;
  *out = v->v.u;
  return 0;
}

double ax_val_float(const ax_val *v) {
  if (!v) return 0.0;
  if (v->type == AX_T_FLOAT) return v->v.f;
  if (v->type == AX_T_INT)
    return v->flags & VAL_UNSIGNED ? (double)v->v.u : (double)v->v.i;
  return 0.0;
}

const char *ax_val_str(const ax_val *v, size_t *len) {
  int ok = v && v->type == AX_T_STR;
  if (len) *len = ok ? v->len : 0;
  return ok ? v->v.s : NULL;
}

const void *ax_val_bin(const ax_val *v, size_t *len) {
  int ok = v && v->type == AX_T_BIN;
  if (len) *len = ok ? v->len : 0;
  return ok ? v->v.s : NULL;
}

uint32_t ax_val_len(const ax_val *v) {
  if (!v) return 0;
  switch (v->type) {
    case AX_T_ARRAY:
    case AX_T_MAP:
    case AX_T_STR:
    case AX_T_BIN:
      return v->len;
    default:
      return 0;
  }
}

const ax_val *ax_val_at(const ax_val *v, uint32_t i) {
  if (!v || v->type != AX_T_ARRAY || i >= v->len) return NULL;
  return &v->v.kids[i];
}

const ax_val *ax_val_key(const ax_val *v, uint32_t i) {
  if (!v || v->type != AX_T_MAP || i >= v->len) return NULL;
  return &v->v.kids[2 * i];
}

const ax_val *ax_val_value(const ax_val *v, uint32_t i) {
  if (!v || v->type != AX_T_MAP || i >= v->len) return NULL;
  return &v->v.kids[2 * i + 1];
}

const ax_val *ax_val_get(const ax_val *v, const char *key) {
  if (!v || v->type != AX_T_MAP || !key) return NULL;
  size_t klen = strlen(key);
  for (uint32_t i = 0; i < v->len; i++) {
    const ax_val *k = &v->v.kids[2 * i];
    if (k->type == AX_T_STR && k->len == klen && !memcmp(k->v.s, key, klen))
      return &v->v.kids[2 * i + 1];
  }
  return NULL;
}

/* ------------------------------------------------------------ format */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_quoted(sbuf *b, const char *s, size_t n) {
  sb_add(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_str(b, esc);
    } else {
      sb_add(b, (const char *)&s[i], 1);
    }
  }
  sb_add(b, "\"", 1);
}

static void fmt_val(sbuf *b, const ax_val *v) {
  char num[40];
  switch (ax_val_type(v)) {
    case AX_T_NIL:
      sb_str(b, "nil");
      break;
    case AX_T_BOOL:
      sb_str(b, ax_val_bool(v) ? "true" : "false");
      break;
    case AX_T_INT:
      if (v->flags & VAL_UNSIGNED)
        snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
      else
        snprintf(num, sizeof num, "%lld", (long long)v->v.i);
      sb_str(b, num);
      break;
    case AX_T_FLOAT: {
      double d = v->v.f;
      snprintf(num, sizeof num, "%.15g", d);
      if (strtod(num, NULL) != d) snprintf(num, sizeof num, "%.17g", d);
      if (isfinite(d) && !strpbrk(num, ".eE")) strcat(num, ".0");
      sb_str(b, num);
      break;
    }
    case AX_T_STR:
      sb_quoted(b, v->v.s, v->len);
      break;
    case AX_T_BIN:
      snprintf(num, sizeof num, "<%u bytes>", v->len);
      sb_str(b, num);
      break;
    case AX_T_ARRAY:
      sb_str(b, "[");
      for (uint32_t i = 0; i < v->len; i++) {
        if (i) sb_str(b, ", ");
        fmt_val(b, &v->v.kids[i]);
      }
      sb_str(b, "]");
      break;
    case AX_T_MAP:
      sb_str(b, "{");
      for (uint32_t i = 0; i < v->len; i++) {
        if (i) sb_str(b, ", ");
        fmt_val(b, &v->v.kids[2 * i]);
        sb_str(b, ": ");
        fmt_val(b, &v->v.kids[2 * i + 1]);
      }
      sb_str(b, "}");
      break;
  }
}

char *ax_val_format(const ax_val *v) {
  sbuf b = {0};
  fmt_val(&b, v);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p ? b.p : ax__strdup("");
}
