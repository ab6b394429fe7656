/* proto.c - the messages of the wire protocol (docs/PROTOCOL.md): each is a
 * msgpack map with a "t" type key. Decoding reads the fields in place
 * without building a tree; payloads stay raw bytes until someone wants
 * them. Unknown keys are skipped, so peers can add fields. */
#include <string.h>

#include "internal.h"

static const char *type_names[] = {
    NULL,     "hello",  "spawn",  "start",     "start_ack",
    "return", "error",  "cancel", "cancel_ack"};

const char *ax__msg_type_name(int type) {
  if (type <= 0 || type > AX__M_CANCEL_ACK) return "?";
  return type_names[type];
}

typedef struct cur {
  const uint8_t *p, *end;
} cur;

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/* Input is validated with ax__mp_check first, so lengths can be trusted. */
static int rd_str(cur *c, ax__str *s) {
  uint8_t b = *c->p;
  uint32_t n;
  int h;
  if (b >= 0xa0 && b <= 0xbf) {
    n = b & 0x1f;
    h = 1;
  } else if (b == 0xd9) {
    n = (uint32_t)be(c->p + 1, 1);
    h = 2;
  } else if (b == 0xda) {
    n = (uint32_t)be(c->p + 1, 2);
    h = 3;
  } else if (b == 0xdb) {
    n = (uint32_t)be(c->p + 1, 4);
    h = 5;
  } else {
    return AX_EPROTO;
  }
  s->p = (const char *)c->p + h;
  s->len = n;
  s->present = 1;
  c->p += h + n;
  return 0;
}

static int rd_int(cur *c, int64_t *v) {
  uint8_t b = *c->p;
  if (b <= 0x7f) {
    *v = b;
    c->p += 1;
  } else if (b >= 0xe0) {
    *v = (int8_t)b;
    c->p += 1;
  } else if (b >= 0xcc && b <= 0xcf) {
    int n = 1 << (b - 0xcc);
    uint64_t u = be(c->p + 1, n);
    if (u > INT64_MAX) return AX_EPROTO;
    *v = (int64_t)u;
    c->p += 1 + n;
  } else if (b >= 0xd0 && b <= 0xd3) {
    int n = 1 << (b - 0xd0);
    uint64_t u = be(c->p + 1, n);
    int shift = 64 - 8 * n;
    *v = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
    c->p += 1 + n;
  } else {
    return AX_EPROTO;
  }
  return 0;
}

static int rd_num(cur *c, double *d) {
  uint8_t b = *c->p;
  if (b == 0xcb) {
    uint64_t u = be(c->p + 1, 8);
    memcpy(d, &u, 8);
    c->p += 9;
    return 0;
  }
  if (b == 0xca) {
    uint32_t u = (uint32_t)be(c->p + 1, 4);
    float f;
    memcpy(&f, &u, 4);
    *d = f;
    c->p += 5;
    return 0;
  }
  int64_t i;
  if (rd_int(c, &i) < 0) return AX_EPROTO;
  *d = (double)i;
  return 0;
}

static int rd_raw(cur *c, ax__raw *r) {
  size_t used;
  ax__scan sc;
  if (ax__mp_scan(c->p, (size_t)(c->end - c->p), &sc) < 0) return AX_EPROTO;
  used = sc.used;
  r->p = c->p;
  r->len = used;
  c->p += used;
  return 0;
}

static int key_is(const ax__str *k, const char *lit) {
  return ax__str_eq(k, lit);
}

int ax__str_eq(const ax__str *s, const char *lit) {
  size_t n = strlen(lit);
  return s->present && s->len == n && memcmp(s->p, lit, n) == 0;
}

char *ax__str_dup(const ax__str *s) {
  return ax__strndup(s->present ? s->p : "", s->present ? s->len : 0);
}

int ax__msg_decode(const uint8_t *p, size_t len, ax__msg *m) {
  memset(m, 0, sizeof *m);
  ax__scan sc;
  if (ax__mp_scan(p, len, &sc) < 0 || sc.used != len) return AX_EPROTO;
  cur c = {p, p + len};
  uint32_t n;
  uint8_t b = *c.p;
  if (b >= 0x80 && b <= 0x8f) {
    n = b & 0x0f;
    c.p += 1;
  } else if (b == 0xde) {
    n = (uint32_t)be(c.p + 1, 2);
    c.p += 3;
  } else if (b == 0xdf) {
    n = (uint32_t)be(c.p + 1, 4);
    c.p += 5;
  } else {
    return AX_EPROTO;
  }
  int64_t cid = 0;
  for (uint32_t i = 0; i < n; i++) {
    ax__str k = {0};
    ax__raw skip;
    int rc;
    if (rd_str(&c, &k) < 0) return AX_EPROTO;
    if (key_is(&k, "t")) {
      ax__str t = {0};
      if (rd_str(&c, &t) < 0) return AX_EPROTO;
      for (int ty = AX__M_HELLO; ty <= AX__M_CANCEL_ACK; ty++)
        if (ax__str_eq(&t, type_names[ty])) m->type = ty;
      if (!m->type) return AX_EPROTO;
      continue;
    }
    if (key_is(&k, "cid"))
      rc = rd_int(&c, &cid);
    else if (key_is(&k, "v"))
      rc = rd_int(&c, &m->version);
    else if (key_is(&k, "pid"))
      rc = rd_int(&c, &m->pid);
    else if (key_is(&k, "loglevel"))
      rc = rd_int(&c, &m->loglevel);
    else if (key_is(&k, "debug"))
      rc = rd_int(&c, &m->debug);
    else if (key_is(&k, "max_frame"))
      rc = rd_int(&c, &m->max_frame);
    else if (key_is(&k, "grace"))
      rc = rd_num(&c, &m->grace);
    else if (key_is(&k, "name"))
      rc = rd_str(&c, &m->name);
    else if (key_is(&k, "uid"))
      rc = rd_str(&c, &m->uid);
    else if (key_is(&k, "ns"))
      rc = rd_str(&c, &m->ns);
    else if (key_is(&k, "func"))
      rc = rd_str(&c, &m->func);
    else if (key_is(&k, "module"))
      rc = rd_str(&c, &m->module);
    else if (key_is(&k, "kind"))
      rc = rd_str(&c, &m->kind);
    else if (key_is(&k, "parent"))
      rc = rd_str(&c, &m->parent);
    else if (key_is(&k, "kwargs"))
      rc = rd_raw(&c, &m->kwargs);
    else if (key_is(&k, "value"))
      rc = rd_raw(&c, &m->value);
    else if (key_is(&k, "error"))
      rc = rd_raw(&c, &m->error);
    else if (key_is(&k, "enable"))
      rc = rd_raw(&c, &m->enable);
    else
      rc = rd_raw(&c, &skip);
    if (rc < 0) return AX_EPROTO;
  }
  if (cid < 0) return AX_EPROTO;
  m->cid = (uint64_t)cid;
  /* Each type's required fields. */
  switch (m->type) {
    case AX__M_HELLO:
      if (!m->name.present || !m->uid.present || m->version <= 0)
        return AX_EPROTO;
      break;
    case AX__M_SPAWN:
      if (!m->name.present || !m->uid.present || !m->module.present)
        return AX_EPROTO;
      break;
    case AX__M_START:
      if (m->cid == 0 || !m->func.present) return AX_EPROTO;
      break;
    case AX__M_ERROR:
      if (!m->error.len || *m->error.p < 0x80 ||
          (*m->error.p > 0x8f && *m->error.p != 0xde && *m->error.p != 0xdf))
        return AX_EPROTO;
      break;
    case AX__M_START_ACK:
    case AX__M_RETURN:
    case AX__M_CANCEL_ACK:
      if (m->cid == 0 && m->type != AX__M_CANCEL_ACK) return AX_EPROTO;
      break;
    case AX__M_CANCEL:
      break;
    default:
      return AX_EPROTO;
  }
  return 0;
}
