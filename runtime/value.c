/* value.c - msgpack values across the ABI: the encoder (ax_pack), decoded
 * documents (ax_data), node readers (ax_val) and the validator every byte
 * from the wire goes through before msgpack-c sees it. */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ax_pack {
  msgpack_sbuffer sb;
  msgpack_packer pk;
};

struct ax_data {
  char *bytes;
  size_t len;
  msgpack_zone zone;
  msgpack_object root;
};

#define AX__MAX_DEPTH 32

/* ------------------------------------------------------------ validate */

static int be_len(const uint8_t *p, int n, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  *out = v;
  return 0;
}

static int mp_check(const uint8_t *p, size_t len, size_t *used, int depth) {
  if (len < 1) return AX_EPROTO;
  if (depth > AX__MAX_DEPTH) return AX_EPROTO;
  uint8_t b = p[0];
  size_t head = 1;
  uint64_t n = 0;  /* payload bytes or item count */
  int items = 0;   /* 0: n bytes of payload, 1: n items, 2: n pairs */
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
    n = 0;
  } else if (b >= 0x80 && b <= 0x8f) {
    n = b & 0x0f;
    items = 2;
  } else if (b >= 0x90 && b <= 0x9f) {
    n = b & 0x0f;
    items = 1;
  } else if (b >= 0xa0 && b <= 0xbf) {
    n = b & 0x1f;
  } else {
    static const struct {
      uint8_t lenbytes, fixed, items, ext;
    } t[0x20] = {
        [0x04] = {1, 0, 0, 0},  [0x05] = {2, 0, 0, 0},  [0x06] = {4, 0, 0, 0},
        [0x07] = {1, 0, 0, 1},  [0x08] = {2, 0, 0, 1},  [0x09] = {4, 0, 0, 1},
        [0x0a] = {0, 4, 0, 0},  [0x0b] = {0, 8, 0, 0},  [0x0c] = {0, 1, 0, 0},
        [0x0d] = {0, 2, 0, 0},  [0x0e] = {0, 4, 0, 0},  [0x0f] = {0, 8, 0, 0},
        [0x10] = {0, 1, 0, 0},  [0x11] = {0, 2, 0, 0},  [0x12] = {0, 4, 0, 0},
        [0x13] = {0, 8, 0, 0},  [0x14] = {0, 2, 0, 0},  [0x15] = {0, 3, 0, 0},
        [0x16] = {0, 5, 0, 0},  [0x17] = {0, 9, 0, 0},  [0x18] = {0, 17, 0, 0},
        [0x19] = {1, 0, 0, 0},  [0x1a] = {2, 0, 0, 0},  [0x1b] = {4, 0, 0, 0},
        [0x1c] = {2, 0, 1, 0},  [0x1d] = {4, 0, 1, 0},  [0x1e] = {2, 0, 2, 0},
        [0x1f] = {4, 0, 2, 0},
    };
    if (b == 0xc1) return AX_EPROTO; /* never used */
    unsigned k = b - 0xc0;
    if (t[k].fixed) {
      n = t[k].fixed;
    } else {
      if (len < 1u + t[k].lenbytes) return AX_EPROTO;
      be_len(p + 1, t[k].lenbytes, &n);
      head += t[k].lenbytes;
      if (t[k].ext) n += 1; /* the ext type byte */
      items = t[k].items;
    }
  }
  size_t left = len - head;
  if (items == 0) {
    if (n > left) return AX_EPROTO;
    *used = head + (size_t)n;
    return 0;
  }
  /* Every item takes at least one byte: a count past that is a lie. */
  if (n > left || (items == 2 && 2 * n > left)) return AX_EPROTO;
  size_t off = head;
  for (uint64_t i = 0; i < n * (uint64_t)items; i++) {
    size_t u;
    int rc = mp_check(p + off, len - off, &u, depth + 1);
    if (rc < 0) return rc;
    off += u;
  }
  *used = off;
  return 0;
}

int ax__mp_check(const uint8_t *p, size_t len, size_t *used) {
  return mp_check(p, len, used, 1);
}

/* -------------------------------------------------------------- pack */

ax_pack *ax_pack_new(void) {
  ax_pack *p = malloc(sizeof *p);
  if (!p) return NULL;
  msgpack_sbuffer_init(&p->sb);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
  return p;
}

void ax_pack_free(ax_pack *p) {
  if (!p) return;
  msgpack_sbuffer_destroy(&p->sb);
  free(p);
}

#define PACK_RC(expr) ((expr) == 0 ? 0 : AX_ENOMEM)

int ax_pack_nil(ax_pack *p) { return PACK_RC(msgpack_pack_nil(&p->pk)); }
int ax_pack_bool(ax_pack *p, int v) {
  return PACK_RC(v ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk));
}
int ax_pack_int(ax_pack *p, int64_t v) {
  return PACK_RC(msgpack_pack_int64(&p->pk, v));
}
int ax_pack_float(ax_pack *p, double v) {
  return PACK_RC(msgpack_pack_double(&p->pk, v));
}
int ax_pack_str(ax_pack *p, const char *s) {
  return ax_pack_strn(p, s ? s : "", s ? strlen(s) : 0);
}
int ax_pack_strn(ax_pack *p, const char *s, size_t len) {
  if (len > UINT32_MAX) return AX_EINVAL;
  if (msgpack_pack_str(&p->pk, len) != 0) return AX_ENOMEM;
  return PACK_RC(msgpack_pack_str_body(&p->pk, s, len));
}
int ax_pack_bin(ax_pack *p, const void *b, size_t len) {
  if (len > UINT32_MAX) return AX_EINVAL;
  if (msgpack_pack_bin(&p->pk, len) != 0) return AX_ENOMEM;
  return PACK_RC(msgpack_pack_bin_body(&p->pk, b, len));
}
int ax_pack_array(ax_pack *p, uint32_t n) {
  return PACK_RC(msgpack_pack_array(&p->pk, n));
}
int ax_pack_map(ax_pack *p, uint32_t n) {
  return PACK_RC(msgpack_pack_map(&p->pk, n));
}
int ax_pack_val(ax_pack *p, const ax_val *v) {
  if (!v) return AX_EINVAL;
  return PACK_RC(msgpack_pack_object(&p->pk, *(const msgpack_object *)v));
}
int ax__pack_raw(ax_pack *p, const void *bytes, size_t len) {
  return PACK_RC(msgpack_sbuffer_write(&p->sb, bytes, len));
}

const void *ax_pack_bytes(const ax_pack *p, size_t *len) {
  if (len) *len = p->sb.size;
  return p->sb.data;
}

int ax_pack_finish(ax_pack *p, ax_data **out) {
  if (!p || !out) {
    ax_pack_free(p);
    return AX_EINVAL;
  }
  size_t used;
  int rc = ax__mp_check((const uint8_t *)p->sb.data, p->sb.size, &used);
  if (rc == 0 && used != p->sb.size) rc = AX_EINVAL;
  if (rc < 0) {
    ax_pack_free(p);
    return rc == AX_EPROTO ? AX_EINVAL : rc;
  }
  rc = ax_data_decode(p->sb.data, p->sb.size, out);
  ax_pack_free(p);
  return rc;
}

/* -------------------------------------------------------------- data */

/* msgpack-c points strings into the input; give each a NUL of its own. */
static int terminate_strings(msgpack_zone *z, msgpack_object *o) {
  switch (o->type) {
    case MSGPACK_OBJECT_STR: {
      char *s = msgpack_zone_malloc(z, o->via.str.size + 1);
      if (!s) return AX_ENOMEM;
      memcpy(s, o->via.str.ptr, o->via.str.size);
      s[o->via.str.size] = 0;
      o->via.str.ptr = s;
      return 0;
    }
    case MSGPACK_OBJECT_ARRAY:
      for (uint32_t i = 0; i < o->via.array.size; i++)
        if (terminate_strings(z, &o->via.array.ptr[i]) < 0) return AX_ENOMEM;
      return 0;
    case MSGPACK_OBJECT_MAP:
      for (uint32_t i = 0; i < o->via.map.size; i++) {
        if (terminate_strings(z, &o->via.map.ptr[i].key) < 0) return AX_ENOMEM;
        if (terminate_strings(z, &o->via.map.ptr[i].val) < 0) return AX_ENOMEM;
      }
      return 0;
    default:
      return 0;
  }
}

int ax_data_decode(const void *bytes, size_t len, ax_data **out) {
  size_t used;
  if (!bytes || !out) return AX_EINVAL;
  int rc = ax__mp_check(bytes, len, &used);
  if (rc < 0) return rc;
  if (used != len) return AX_EPROTO;
  ax_data *d = calloc(1, sizeof *d);
  if (!d) return AX_ENOMEM;
  d->bytes = malloc(len ? len : 1);
  if (!d->bytes || !msgpack_zone_init(&d->zone, 256 + len)) {
    free(d->bytes);
    free(d);
    return AX_ENOMEM;
  }
  memcpy(d->bytes, bytes, len);
  d->len = len;
  size_t off = 0;
  msgpack_unpack_return r =
      msgpack_unpack(d->bytes, len, &off, &d->zone, &d->root);
  if (r != MSGPACK_UNPACK_SUCCESS) {
    rc = r == MSGPACK_UNPACK_NOMEM_ERROR ? AX_ENOMEM : AX_EPROTO;
  } else {
    rc = terminate_strings(&d->zone, &d->root);
  }
  if (rc < 0) {
    ax_data_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

ax_data *ax_data_dup(const ax_data *d) {
  ax_data *c = NULL;
  if (d && ax_data_decode(d->bytes, d->len, &c) < 0) return NULL;
  return c;
}

const ax_val *ax_data_root(const ax_data *d) {
  return d ? (const ax_val *)&d->root : NULL;
}

const void *ax_data_bytes(const ax_data *d, size_t *len) {
  if (len) *len = d ? d->len : 0;
  return d ? d->bytes : NULL;
}

void ax_data_free(ax_data *d) {
  if (!d) return;
  msgpack_zone_destroy(&d->zone);
  free(d->bytes);
  free(d);
}

/* --------------------------------------------------------------- val */

#define OBJ(v) ((const msgpack_object *)(v))

ax_type ax_val_type(const ax_val *v) {
  if (!v) return AX_T_NIL;
  switch (OBJ(v)->type) {
    case MSGPACK_OBJECT_BOOLEAN:
      return AX_T_BOOL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      return AX_T_INT;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
      return AX_T_FLOAT;
    case MSGPACK_OBJECT_STR:
      return AX_T_STR;
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
      return AX_T_BIN;
    case MSGPACK_OBJECT_ARRAY:
      return AX_T_ARRAY;
    case MSGPACK_OBJECT_MAP:
      return AX_T_MAP;
    default:
      return AX_T_NIL;
  }
}

int ax_val_bool(const ax_val *v) {
  return ax_val_type(v) == AX_T_BOOL ? OBJ(v)->via.boolean : 0;
}

int64_t ax_val_int(const ax_val *v) {
  if (ax_val_type(v) != AX_T_INT) return 0;
  if (OBJ(v)->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    return OBJ(v)->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)OBJ(v)->via.u64;
  return OBJ(v)->via.i64;
}

double ax_val_float(const ax_val *v) {
  switch (ax_val_type(v)) {
    case AX_T_FLOAT:
      return OBJ(v)->via.f64;
    case AX_T_INT:
      return OBJ(v)->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                 ? (double)OBJ(v)->via.u64
                 : (double)OBJ(v)->via.i64;
    default:
      return 0.0;
  }
}

const char *ax_val_str(const ax_val *v, size_t *len) {
  if (ax_val_type(v) != AX_T_STR) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = OBJ(v)->via.str.size;
  return OBJ(v)->via.str.ptr;
}

const void *ax_val_bin(const ax_val *v, size_t *len) {
  if (ax_val_type(v) != AX_T_BIN) {
    if (len) *len = 0;
    return NULL;
  }
  if (OBJ(v)->type == MSGPACK_OBJECT_EXT) {
    if (len) *len = OBJ(v)->via.ext.size;
    return OBJ(v)->via.ext.ptr;
  }
  if (len) *len = OBJ(v)->via.bin.size;
  return OBJ(v)->via.bin.ptr;
}

uint32_t ax_val_len(const ax_val *v) {
  switch (ax_val_type(v)) {
    case AX_T_ARRAY:
      return OBJ(v)->via.array.size;
    case AX_T_MAP:
      return OBJ(v)->via.map.size;
    case AX_T_STR:
      return OBJ(v)->via.str.size;
    case AX_T_BIN: {
      size_t n;
      ax_val_bin(v, &n);
      return (uint32_t)n;
    }
    default:
      return 0;
  }
}

const ax_val *ax_val_at(const ax_val *v, uint32_t i) {
  if (ax_val_type(v) != AX_T_ARRAY || i >= OBJ(v)->via.array.size) return NULL;
  return (const ax_val *)&OBJ(v)->via.array.ptr[i];
}

const ax_val *ax_val_key(const ax_val *v, uint32_t i) {
  if (ax_val_type(v) != AX_T_MAP || i >= OBJ(v)->via.map.size) return NULL;
  return (const ax_val *)&OBJ(v)->via.map.ptr[i].key;
}

const ax_val *ax_val_value(const ax_val *v, uint32_t i) {
  if (ax_val_type(v) != AX_T_MAP || i >= OBJ(v)->via.map.size) return NULL;
  return (const ax_val *)&OBJ(v)->via.map.ptr[i].val;
}

const ax_val *ax_val_get(const ax_val *v, const char *key) {
  if (ax_val_type(v) != AX_T_MAP || !key) return NULL;
  size_t klen = strlen(key);
  const msgpack_object_map *m = &OBJ(v)->via.map;
  for (uint32_t i = 0; i < m->size; i++) {
    const msgpack_object *k = &m->ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
        memcmp(k->via.str.ptr, key, klen) == 0)
      return (const ax_val *)&m->ptr[i].val;
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
      if (OBJ(v)->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(num, sizeof num, "%llu", (unsigned long long)OBJ(v)->via.u64);
      else
        snprintf(num, sizeof num, "%lld", (long long)OBJ(v)->via.i64);
      sb_str(b, num);
      break;
    case AX_T_FLOAT: {
      double d = ax_val_float(v);
      snprintf(num, sizeof num, "%.15g", d);
      if (strtod(num, NULL) != d) snprintf(num, sizeof num, "%.17g", d);
      if (isfinite(d) && !strpbrk(num, ".eE")) strcat(num, ".0");
      sb_str(b, num);
      break;
    }
    case AX_T_STR: {
      size_t n;
      const char *s = ax_val_str(v, &n);
      sb_quoted(b, s, n);
      break;
    }
    case AX_T_BIN:
      snprintf(num, sizeof num, "<%u bytes>", ax_val_len(v));
      sb_str(b, num);
      break;
    case AX_T_ARRAY:
      sb_str(b, "[");
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        if (i) sb_str(b, ", ");
        fmt_val(b, ax_val_at(v, i));
      }
      sb_str(b, "]");
      break;
    case AX_T_MAP:
      sb_str(b, "{");
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        if (i) sb_str(b, ", ");
        fmt_val(b, ax_val_key(v, i));
        sb_str(b, ": ");
        fmt_val(b, ax_val_value(v, i));
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

void ax__pack_reset(ax_pack *p) { msgpack_sbuffer_clear(&p->sb); }
