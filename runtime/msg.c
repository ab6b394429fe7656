/* msg.c - the messages of the wire protocol (docs/PROTOCOL.md), driven by
 * one table: AX__MSG_FIELDS in internal.h lists every field with its key
 * and type, AX__MSG_TYPES every message with the fields it carries and the
 * ones it requires. Decoding and encoding both read that table, and a unit
 * test holds docs/PROTOCOL.md's message table against it. Payload fields
 * stay raw bytes, scanned once here so that whoever decodes them later
 * trusts the scan. */
#include <string.h>

#include "internal.h"

typedef struct field_info {
  const char *key;
  uint8_t keylen;
  uint8_t kind;    /* AX__FK_ */
  uint16_t offset; /* in ax__msg */
} field_info;

static const field_info fields[AX__F_COUNT] = {
#define X(name, key, kind) \
  {key, sizeof(key) - 1, AX__FK_##kind, offsetof(ax__msg, name)},
    AX__MSG_FIELDS(X)
#undef X
};

typedef struct type_info {
  const char *name;
  uint8_t namelen;
  uint32_t allowed, required;
} type_info;

#define F(name) (1u << AX__F_##name)
static const type_info types[AX__M_COUNT] = {{"?", 1, 0, 0},
#define X(id, name, allowed, required) \
  {name, sizeof(name) - 1, allowed, required},
                                             AX__MSG_TYPES(X)
#undef X
};
#undef F

/* Received names are compared as words of at most 16 bytes (field_of). */
#define X(name, key, kind) \
  _Static_assert(sizeof(key) > 1 && sizeof(key) - 1 <= 16, "key " key);
AX__MSG_FIELDS(X)
#undef X
#define X(id, name, allowed, required) \
  _Static_assert(sizeof(name) > 1 && sizeof(name) - 1 <= 16, "type " name);
AX__MSG_TYPES(X)
#undef X

const char *ax__msg_type_name(int type) {
  return type > 0 && type < AX__M_COUNT ? types[type].name : "?";
}

int ax__msg_info(int type, uint32_t *allowed, uint32_t *required) {
  if (type <= 0 || type >= AX__M_COUNT) return AX_EINVAL;
  *allowed = types[type].allowed;
  *required = types[type].required;
  return 0;
}

const char *ax__msg_field_info(int field, int *kind) {
  if (field < 0 || field >= AX__F_COUNT) return NULL;
  *kind = fields[field].kind;
  return fields[field].key;
}

int ax__msg_str_eq(const ax__str *s, const char *lit, size_t n) {
  return s->present && s->len == n && memcmp(s->p, lit, n) == 0;
}

char *ax__msg_strdup(const ax__str *s) {
  return ax__strndup(s->present ? s->p : "", s->present ? s->len : 0);
}

/* ------------------------------------------------------------ decode */

static size_t field_size(int kind) {
  switch (kind) {
    case AX__FK_UINT:
      return sizeof(uint64_t);
    case AX__FK_INT:
      return sizeof(int64_t);
    case AX__FK_NUM:
      return sizeof(double);
    case AX__FK_STR:
    case AX__FK_UID:
    case AX__FK_BIN:
      return sizeof(ax__str);
    default:
      return sizeof(ax__raw);
  }
}

/* Keys and type names are told apart by their first byte and length, so
 * a lookup is one table read and one memcmp, with no strlen anywhere. */
#define HASH(c0, n) ((((unsigned)(uint8_t)(c0)) * 7u + (unsigned)(n)) & 127u)

static int8_t field_hash[128], type_hash[128];
static int hashed;

/* Keys, and "t" with each type name, as msgpack bytes, padded to 16 so
 * that writing one is a fixed-size copy. */
static uint8_t key_mp[AX__F_COUNT][16], type_mp[AX__M_COUNT][16];

/* A name of 1..16 bytes as two words read from it, overlapping: its
 * first and last 8 bytes, or 4, or single bytes; so names of one length
 * are equal when their words are, and a received key is compared with
 * two loads and no loop, never reading past it. */
typedef struct name_words {
  uint64_t a, b;
} name_words;

static inline name_words words_of(const char *k, size_t n) {
  name_words w;
  if (n >= 8) {
    memcpy(&w.a, k, 8);
    memcpy(&w.b, k + n - 8, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, k, 4);
    memcpy(&y, k + n - 4, 4);
    w.a = x;
    w.b = y;
  } else {
    w.a = (uint64_t)(uint8_t)k[0] | (uint64_t)(uint8_t)k[n / 2] << 8 |
          (uint64_t)(uint8_t)k[n - 1] << 16;
    w.b = 0;
  }
  return w;
}

static name_words field_words[AX__F_COUNT], type_words[AX__M_COUNT];

static void build_hashes(void) {
  for (int f = 0; f < AX__F_COUNT; f++)
    ax__mp_put_str(key_mp[f], fields[f].key, fields[f].keylen);
  for (int t = 1; t < AX__M_COUNT; t++)
    ax__mp_put_str(ax__mp_put_str(type_mp[t], "t", 1), types[t].name,
                   types[t].namelen);
  for (int f = 0; f < AX__F_COUNT; f++)
    field_words[f] = words_of(fields[f].key, fields[f].keylen);
  for (int t = 1; t < AX__M_COUNT; t++)
    type_words[t] = words_of(types[t].name, types[t].namelen);
  memset(field_hash, -1, sizeof field_hash);
  memset(type_hash, -1, sizeof type_hash);
  for (int f = 0; f < AX__F_COUNT; f++) {
    unsigned h = HASH(fields[f].key[0], fields[f].keylen);
    while (field_hash[h] >= 0) h = (h + 1) & 127u;
    field_hash[h] = (int8_t)f;
  }
  for (int t = 1; t < AX__M_COUNT; t++) {
    unsigned h = HASH(types[t].name[0], types[t].namelen);
    while (type_hash[h] >= 0) h = (h + 1) & 127u;
    type_hash[h] = (int8_t)t;
  }
  hashed = 1;
}

static inline int same(name_words x, name_words y) {
  return ((x.a ^ y.a) | (x.b ^ y.b)) == 0;
}

/* Names in the table are 1..16 bytes (asserted above). */
static int field_of(const char *k, size_t n) {
  if (n > 16) return -1;
  name_words w = words_of(k, n);
  for (unsigned h = HASH(k[0], n); field_hash[h] >= 0; h = (h + 1) & 127u) {
    int f = field_hash[h];
    if (fields[f].keylen == n && same(field_words[f], w)) return f;
  }
  return -1;
}

static int type_of(const char *k, size_t n) {
  if (n == 0 || n > 16) return 0;
  name_words w = words_of(k, n);
  for (unsigned h = HASH(k[0], n); type_hash[h] >= 0; h = (h + 1) & 127u) {
    int t = type_hash[h];
    if (types[t].namelen == n && same(type_words[t], w)) return t;
  }
  return 0;
}

/* Scan the value at p: most fields are scalars (cids soon take more
 * than one byte) or short strings, which need no walk. */
static int scan(const uint8_t *p, size_t len, ax__scan *sc) {
  uint8_t b = p[0];
  size_t used = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
    used = 1;
  else if ((b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3))
    used = 1 + ((size_t)1 << (b & 3));
  else if (b == 0xca || b == 0xcb)
    used = b == 0xca ? 5 : 9;
  if (used) {
    if (used > len) return AX_EPROTO;
    sc->used = used;
    sc->nodes = 1;
    sc->strbytes = 0;
    return 0;
  }
  if (b >= 0xa0 && b <= 0xbf) {
    size_t n = b & 0x1fu;
    if (n + 1 > len) return AX_EPROTO;
    sc->used = n + 1;
    sc->nodes = 1;
    sc->strbytes = n + 1;
    return 0;
  }
  return ax__mp_scan(p, len, sc);
}

/* An int item at p (whole, as scanned): 0 and *v, or AX_EPROTO when it is
 * no int or does not fit an int64. */
static int get_int(const uint8_t *p, int64_t *v) {
  uint8_t b = p[0];
  if (b <= 0x7f) {
    *v = b;
  } else if (b >= 0xe0) {
    *v = (int8_t)b;
  } else if (b >= 0xcc && b <= 0xcf) {
    uint64_t u = ax__mp_be(p + 1, 1 << (b - 0xcc));
    if (u > INT64_MAX) return AX_EPROTO;
    *v = (int64_t)u;
  } else if (b >= 0xd0 && b <= 0xd3) {
    int n = 1 << (b - 0xd0);
    uint64_t u = ax__mp_be(p + 1, n);
    int shift = 64 - 8 * n;
    *v = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
  } else {
    return AX_EPROTO;
  }
  return 0;
}

static int get_num(const uint8_t *p, double *d) {
  if (p[0] == 0xcb) {
    uint64_t u = ax__mp_be(p + 1, 8);
    memcpy(d, &u, 8);
    return 0;
  }
  if (p[0] == 0xca) {
    uint32_t u = (uint32_t)ax__mp_be(p + 1, 4);
    float f;
    memcpy(&f, &u, 4);
    *d = f;
    return 0;
  }
  int64_t i;
  if (get_int(p, &i) < 0) return AX_EPROTO;
  *d = (double)i;
  return 0;
}

/* An array whose items are all strings. */
static int all_strs(const uint8_t *p, size_t len) {
  size_t head, off;
  uint64_t n;
  int kind;
  ax__mp_head(p, len, &head, &n, &kind);
  if (kind != AX__MP_ARRAY) return 0;
  off = head;
  for (uint64_t i = 0; i < n; i++) {
    size_t h;
    uint64_t m;
    ax__mp_head(p + off, len - off, &h, &m, &kind);
    if (kind != AX__MP_STR) return 0;
    off += h + (size_t)m;
  }
  return 1;
}

/* A uid: 32 lowercase hex digits, as ident.c makes them. */
static int uid_ok(const char *s, uint64_t n) {
  if (n != AX__UID_LEN) return 0;
  for (uint64_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* Store the scanned value at p (sc describes it) as field f of m. */
static int set_field(ax__msg *m, int f, const uint8_t *p, const ax__scan *sc) {
  void *slot = (char *)m + fields[f].offset;
  size_t head;
  uint64_t n;
  int kind;
  ax__mp_head(p, sc->used, &head, &n, &kind);
  switch (fields[f].kind) {
    case AX__FK_UINT: {
      int64_t v;
      if (get_int(p, &v) < 0 || v < 0) return AX_EPROTO;
      *(uint64_t *)slot = (uint64_t)v;
      return 0;
    }
    case AX__FK_INT:
      return get_int(p, slot);
    case AX__FK_NUM:
      return get_num(p, slot);
    case AX__FK_STR:
    case AX__FK_UID: {
      ax__str *s = slot;
      if (kind != AX__MP_STR) return AX_EPROTO;
      s->p = (const char *)p + head;
      s->len = (uint32_t)n;
      s->present = 1;
      if (fields[f].kind == AX__FK_UID) return uid_ok(s->p, n) ? 0 : AX_EPROTO;
      /* A NUL would cut the name in two: "add\0x" must not call add; and
       * names are text, echoed in errors that strict decoders read. */
      return memchr(s->p, 0, n) || !ax__utf8_valid(s->p, n) ? AX_EPROTO : 0;
    }
    case AX__FK_BIN: {
      /* Bytes: a bin, or a str taken byte for byte. */
      ax__str *s = slot;
      if (kind != AX__MP_BIN && kind != AX__MP_STR) return AX_EPROTO;
      s->p = (const char *)p + head;
      s->len = (uint32_t)n;
      s->present = 1;
      return 0;
    }
    case AX__FK_STRS:
      if (!all_strs(p, sc->used)) return AX_EPROTO;
      break;
    case AX__FK_ARGS:
      if (!ax__mp_args_ok(p[0])) return AX_EPROTO;
      break;
    case AX__FK_MAP:
      if (kind != AX__MP_MAP) return AX_EPROTO;
      break;
    case AX__FK_ANY:
      break;
  }
  ax__raw *r = slot;
  r->p = p;
  r->len = sc->used;
  r->sc = *sc;
  return 0;
}

int ax__msg_decode(const uint8_t *p, size_t len, ax__msg *m) {
  m->type = 0;
  m->have = 0;
  if (len == 0) return AX_EPROTO;
  if (!hashed) build_hashes();
  size_t head, off;
  uint64_t n;
  int kind;
  if (ax__mp_head(p, len, &head, &n, &kind) < 0 || kind != AX__MP_MAP)
    return AX_EPROTO;
  off = head;
  int have_t = 0;
  for (uint64_t i = 0; i < n; i++) {
    /* The key: a string. */
    size_t kh;
    uint64_t kn;
    if (off >= len || ax__mp_head(p + off, len - off, &kh, &kn, &kind) < 0 ||
        kind != AX__MP_STR || kn > len - off - kh)
      return AX_EPROTO;
    const char *k = (const char *)p + off + kh;
    off += kh + (size_t)kn;
    /* The value: scanned once, here. */
    ax__scan sc;
    if (off >= len || scan(p + off, len - off, &sc) < 0) return AX_EPROTO;
    const uint8_t *v = p + off;
    off += sc.used;
    if (kn == 1 && k[0] == 't') {
      size_t th;
      uint64_t tn;
      ax__mp_head(v, sc.used, &th, &tn, &kind);
      if (have_t || kind != AX__MP_STR) return AX_EPROTO;
      m->type = type_of((const char *)v + th, (size_t)tn);
      if (!m->type) return AX_EPROTO;
      have_t = 1;
      continue;
    }
    int f = kn ? field_of(k, (size_t)kn) : -1;
    if (f < 0) continue; /* unknown keys are for later versions */
    if (m->have & (1u << f)) return AX_EPROTO; /* a key twice */
    if (set_field(m, f, v, &sc) < 0) return AX_EPROTO;
    m->have |= 1u << f;
  }
  if (off != len || !have_t) return AX_EPROTO;
  /* Absent fields read as 0 and absent strings; only those few a message
   * type carries are cleared, not the whole struct. */
  const type_info *t = &types[m->type];
  for (uint32_t miss = t->allowed & ~m->have; miss; miss &= miss - 1) {
    const field_info *f = &fields[__builtin_ctz(miss)];
    memset((char *)m + f->offset, 0, field_size(f->kind));
  }
  if ((m->have & t->required) != t->required) return AX_EPROTO;
  /* A call's own cid is positive; elsewhere 0 means the actor. */
  if ((t->required & (1u << AX__F_cid)) && m->cid == 0) return AX_EPROTO;
  m->have &= t->allowed; /* the rest is ignored, as unknown keys are */
  return 0;
}

/* ------------------------------------------------------------ encode */

size_t ax__msg_bound(const ax__msg *m) {
  const type_info *t = &types[m->type];
  size_t n = 5 + 2 + 5 + t->namelen + 16; /* 16: fixed-size key copies */
  for (uint32_t have = m->have & t->allowed; have; have &= have - 1) {
    int f = __builtin_ctz(have);
    const void *slot = (const char *)m + fields[f].offset;
    n += 5 + fields[f].keylen;
    switch (fields[f].kind) {
      case AX__FK_UINT:
      case AX__FK_INT:
      case AX__FK_NUM:
        n += 9;
        break;
      case AX__FK_STR:
      case AX__FK_UID:
      case AX__FK_BIN:
        n += 5 + ((const ax__str *)slot)->len;
        break;
      default:
        n += ((const ax__raw *)slot)->len ? ((const ax__raw *)slot)->len : 1;
        break;
    }
  }
  return n;
}

/* The sizes of what the writers of mp.c write. */
static size_t uint_size(uint64_t v) {
  return v <= 0x7f         ? 1
         : v <= UINT8_MAX  ? 2
         : v <= UINT16_MAX ? 3
         : v <= UINT32_MAX ? 5
                           : 9;
}

static size_t int_size(int64_t v) {
  if (v >= 0) return uint_size((uint64_t)v);
  return v >= -32         ? 1
         : v >= INT8_MIN  ? 2
         : v >= INT16_MIN ? 3
         : v >= INT32_MIN ? 5
                          : 9;
}

/* A length head: fix form up to fixmax (0: none), then 8 bits (when t8),
 * 16, 32. */
static size_t head_size(size_t n, size_t fixmax, int t8) {
  return fixmax && n <= fixmax  ? 1
         : t8 && n <= UINT8_MAX ? 2
         : n <= UINT16_MAX      ? 3
                                : 5;
}

size_t ax__msg_size(const ax__msg *m) {
  const type_info *t = &types[m->type];
  uint32_t have = m->have & t->allowed;
  size_t n =
      head_size(1u + (size_t)__builtin_popcount(have), 15, 0) + 3 + t->namelen;
  for (; have; have &= have - 1) {
    int f = __builtin_ctz(have);
    const void *slot = (const char *)m + fields[f].offset;
    n += 1u + fields[f].keylen;
    switch (fields[f].kind) {
      case AX__FK_UINT:
        n += uint_size(*(const uint64_t *)slot);
        break;
      case AX__FK_INT:
        n += int_size(*(const int64_t *)slot);
        break;
      case AX__FK_NUM:
        n += 9;
        break;
      case AX__FK_STR:
      case AX__FK_UID: {
        size_t len = ((const ax__str *)slot)->len;
        n += head_size(len, 31, 1) + len;
        break;
      }
      case AX__FK_BIN: {
        size_t len = ((const ax__str *)slot)->len;
        n += head_size(len, 0, 1) + len;
        break;
      }
      default: {
        size_t len = ((const ax__raw *)slot)->len;
        n += len ? len : 1;
        break;
      }
    }
  }
  return n;
}

/* The writer; with skip a field's index, that raw field's bytes are left
 * out, *at being where they would go. */
static inline __attribute__((always_inline)) uint8_t *write_msg(
    uint8_t *w, const ax__msg *m, int skip, uint8_t **at) {
  const type_info *t = &types[m->type];
  uint32_t have = m->have & t->allowed;
  if (!hashed) build_hashes();
  w = ax__mp_put_map(w, 1u + (uint32_t)__builtin_popcount(have));
  memcpy(w, type_mp[m->type], 16);
  w += 3u + t->namelen;
  for (; have; have &= have - 1) {
    int f = __builtin_ctz(have);
    const void *slot = (const char *)m + fields[f].offset;
    memcpy(w, key_mp[f], 16);
    w += 1u + fields[f].keylen;
    switch (fields[f].kind) {
      case AX__FK_UINT:
        w = ax__mp_put_uint(w, *(const uint64_t *)slot);
        break;
      case AX__FK_INT:
        w = ax__mp_put_int(w, *(const int64_t *)slot);
        break;
      case AX__FK_NUM:
        w = ax__mp_put_float(w, *(const double *)slot);
        break;
      case AX__FK_STR:
      case AX__FK_UID: {
        const ax__str *s = slot;
        w = ax__mp_put_str(w, s->p, s->len);
        break;
      }
      case AX__FK_BIN: {
        const ax__str *s = slot;
        w = ax__mp_put_bin(w, s->p, s->len);
        break;
      }
      default: {
        const ax__raw *r = slot;
        if (f == skip) {
          *at = w;
        } else if (!r->len) {
          w = ax__mp_put_byte(w, 0xc0); /* nil */
        } else {
          memcpy(w, r->p, r->len);
          w += r->len;
        }
        break;
      }
    }
  }
  return w;
}

uint8_t *ax__msg_write(uint8_t *w, const ax__msg *m) {
  return write_msg(w, m, -1, NULL);
}

const ax__raw *ax__msg_raw(const ax__msg *m, int f) {
  /* The kinds from STRS on are kept as raw msgpack. */
  if (fields[f].kind < AX__FK_STRS || !(m->have & (1u << f))) return NULL;
  return (const ax__raw *)((const char *)m + fields[f].offset);
}

uint8_t *ax__msg_write_but(uint8_t *w, const ax__msg *m, int field,
                           uint8_t **at) {
  return write_msg(w, m, field, at);
}

void ax__msg_set_str(ax__msg *m, int f, const char *s) {
  ax__str *slot = (ax__str *)((char *)m + fields[f].offset);
  slot->p = s ? s : "";
  slot->len = s ? (uint32_t)strlen(s) : 0;
  slot->present = 1;
  m->have |= 1u << f;
}

void ax__msg_set_raw(ax__msg *m, int f, const void *p, size_t len) {
  ax__raw *slot = (ax__raw *)((char *)m + fields[f].offset);
  slot->p = p;
  slot->len = len;
  m->have |= 1u << f;
}

void ax__msg_set_bin(ax__msg *m, int f, const void *p, size_t len) {
  ax__str *slot = (ax__str *)((char *)m + fields[f].offset);
  slot->p = p;
  slot->len = (uint32_t)len;
  slot->present = 1;
  m->have |= 1u << f;
}
