/* error.c - error objects: a failure with its origin and the path it took
 * through the tree, their wire form and their printed form. */
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ax_error {
  int kind; /* AX_K_, from type, once */
  char *type, *message, *traceback;
  ax__ident src;
  ax__ident *relay;
  size_t nrelay;
  ax_error **members;
  size_t nmembers;
  ax_data *info;  /* the application's own fields: a map, or NULL */
  int info_depth; /* its nesting depth, counted as the scanner does */
};

static const ax__ident *self_ident(void) {
  static const ax__ident none = {"?", "", 0};
  return ax__rt_g ? &ax__rt_g->self : &none;
}

static const char *const kind_names[AX_K_COUNT] = {NULL,
#define X(id, name) name,
                                                   AX_ERROR_KINDS(X)
#undef X
};

const char *ax_error_kind_name(int kind) {
  return kind > 0 && kind < AX_K_COUNT ? kind_names[kind] : NULL;
}

static int kind_of(const char *type) {
  for (int k = 1; k < AX_K_COUNT; k++)
    if (strcmp(kind_names[k], type) == 0) return k;
  return AX_K_OTHER;
}

int ax_error_kind(const ax_error *e) { return e ? e->kind : AX_K_OTHER; }

ax_error *ax__error_make(const char *type, const char *msg,
                         const char *traceback, const ax__ident *src) {
  ax_error *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->type = ax__strdup(type ? type : "Error");
  if (e->type) e->kind = kind_of(e->type);
  e->message = ax__strdup(msg ? msg : "");
  e->traceback = ax__strdup(traceback ? traceback : "");
  e->src = src ? *src : *self_ident();
  e->relay = malloc(sizeof *e->relay);
  if (!e->type || !e->message || !e->traceback || !e->relay) {
    ax_error_free(e);
    return NULL;
  }
  e->relay[0] = e->src;
  e->nrelay = 1;
  return e;
}

static ax_error *error_newv(const char *type, const char *fmt, va_list ap) {
  char *msg = fmt ? ax__vasprintf(fmt, ap) : NULL;
  ax_error *e = ax__error_make(type, msg, NULL, NULL);
  free(msg);
  return e;
}

ax_error *ax_error_new(const char *type, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ax_error *e = error_newv(type, fmt, ap);
  va_end(ap);
  return e;
}

ax_error *ax_error_new_kind(int kind, const char *fmt, ...) {
  const char *type = ax_error_kind_name(kind);
  if (!type) return NULL;
  va_list ap;
  va_start(ap, fmt);
  ax_error *e = error_newv(type, fmt, ap);
  va_end(ap);
  return e;
}

/* How deeply v nests: a scalar or an empty container is one level (the
 * count of docs/PROTOCOL.md). Decoded values are at most AX__MAX_DEPTH
 * deep, so the recursion is bounded. */
static int val_depth(const ax_val *v) {
  int t = ax_val_type(v), deepest = 0;
  if (t != AX_T_ARRAY && t != AX_T_MAP) return 1;
  for (uint32_t i = 0; i < ax_val_len(v); i++) {
    int d = val_depth(t == AX_T_ARRAY ? ax_val_at(v, i) : ax_val_value(v, i));
    int k = t == AX_T_MAP ? val_depth(ax_val_key(v, i)) : 0;
    if (k > d) d = k;
    if (d > deepest) deepest = d;
  }
  return deepest + 1;
}

/* e's info becomes info (taken, may be NULL). */
static void take_info(ax_error *e, ax_data *info) {
  ax_data_free(e->info);
  e->info = info;
  e->info_depth = info ? val_depth(ax_data_root(info)) : 0;
}

int ax_error_set_info(ax_error *e, const ax_data *info) {
  if (!e || (info && ax_val_type(ax_data_root(info)) != AX_T_MAP))
    return AX_EINVAL;
  ax_data *copy = NULL;
  if (info && !(copy = ax_data_dup(info))) return AX_ENOMEM;
  take_info(e, copy);
  return 0;
}

const ax_val *ax_error_info(const ax_error *e) {
  return e && e->info ? ax_data_root(e->info) : NULL;
}

int ax_error_set_traceback(ax_error *e, const char *traceback) {
  if (!e) return AX_EINVAL;
  char *t = ax__strdup(traceback ? traceback : "");
  if (!t) return AX_ENOMEM;
  free(e->traceback);
  e->traceback = t;
  return 0;
}

ax_error *ax__error_group(ax_error **members, size_t n) {
  char msg[64];
  snprintf(msg, sizeof msg, "%zu actors failed", n);
  ax_error *g = ax__error_make(kind_names[AX_K_ERROR_GROUP], msg, NULL, NULL);
  if (!g) return NULL;
  g->members = calloc(n ? n : 1, sizeof *g->members);
  if (!g->members) {
    ax_error_free(g);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) g->members[i] = members[i];
  g->nmembers = n;
  return g;
}

ax_error *ax_error_dup(const ax_error *e) {
  if (!e) return NULL;
  ax_error *c = ax__error_make(e->type, e->message, e->traceback, &e->src);
  if (!c) return NULL;
  ax__ident *r = realloc(c->relay, (e->nrelay ? e->nrelay : 1) * sizeof *r);
  if (!r) goto fail;
  c->relay = r;
  memcpy(r, e->relay, e->nrelay * sizeof *r);
  c->nrelay = e->nrelay;
  if (e->info) {
    ax_data *info = ax_data_dup(e->info);
    if (!info) goto fail;
    take_info(c, info);
  }
  if (e->nmembers) {
    c->members = calloc(e->nmembers, sizeof *c->members);
    if (!c->members) goto fail;
    for (size_t i = 0; i < e->nmembers; i++) {
      c->members[i] = ax_error_dup(e->members[i]);
      if (!c->members[i]) goto fail;
      c->nmembers = i + 1;
    }
  }
  return c;
fail:
  ax_error_free(c);
  return NULL;
}

void ax_error_free(ax_error *e) {
  if (!e) return;
  for (size_t i = 0; i < e->nmembers; i++) ax_error_free(e->members[i]);
  free(e->members);
  ax_data_free(e->info);
  free(e->relay);
  free(e->type);
  free(e->message);
  free(e->traceback);
  free(e);
}

const char *ax_error_type(const ax_error *e) { return e ? e->type : ""; }
const char *ax_error_message(const ax_error *e) { return e ? e->message : ""; }
const char *ax_error_traceback(const ax_error *e) {
  return e ? e->traceback : "";
}
const char *ax_error_src_name(const ax_error *e) {
  return e ? e->src.name : "";
}
const char *ax_error_src_uid(const ax_error *e) { return e ? e->src.uid : ""; }
int ax_error_src_pid(const ax_error *e) { return e ? e->src.pid : 0; }
size_t ax_error_relay_len(const ax_error *e) { return e ? e->nrelay : 0; }
const char *ax_error_relay_name(const ax_error *e, size_t i) {
  return e && i < e->nrelay ? e->relay[i].name : "";
}
const char *ax_error_relay_uid(const ax_error *e, size_t i) {
  return e && i < e->nrelay ? e->relay[i].uid : "";
}
size_t ax_error_nmembers(const ax_error *e) { return e ? e->nmembers : 0; }
const ax_error *ax_error_member(const ax_error *e, size_t i) {
  return e && i < e->nmembers ? e->members[i] : NULL;
}

void ax__error_relay_here(ax_error *e) {
  if (e->nrelay >= AX__ERR_MAX_RELAY) {
    /* A full path keeps its source and drops its oldest hop. */
    memmove(&e->relay[1], &e->relay[2], (e->nrelay - 2) * sizeof *e->relay);
    e->relay[e->nrelay - 1] = *self_ident();
    return;
  }
  ax__ident *r = realloc(e->relay, (e->nrelay + 1) * sizeof *r);
  if (!r) return; /* the path stays one hop short rather than failing */
  e->relay = r;
  e->relay[e->nrelay++] = *self_ident();
}

char *ax__backtrace(int skip) {
  void *frames[48];
  int n = backtrace(frames, 48);
  char **syms = backtrace_symbols(frames, n);
  if (!syms) return ax__strdup("");
  size_t total = 1;
  for (int i = skip; i < n; i++) total += strlen(syms[i]) + 8;
  char *out = malloc(total);
  if (out) {
    out[0] = 0;
    size_t len = 0;
    for (int i = skip; i < n; i++)
      len += (size_t)sprintf(out + len, "  at %s\n", syms[i]);
  }
  free(syms);
  return out ? out : ax__strdup("");
}

/* ------------------------------------------------------------ wire form */

/* Key k and string value v, unless rc already says a write failed. Text
 * that goes out is well-formed UTF-8 whatever the error says (a Lua error
 * may carry any bytes): a strict decoder on the other side must not choke
 * on a message that echoes bad input. */
static int kv(ax_pack *p, int rc, const char *k, const char *v) {
  rc = rc ? rc : ax_pack_str(p, k);
  if (rc) return rc;
  size_t n = v ? strlen(v) : 0;
  if (ax__utf8_valid(v ? v : "", n)) return ax_pack_strn(p, v ? v : "", n);
  char *fixed = ax__utf8_fix(v, n);
  if (!fixed) return AX_ENOMEM;
  rc = ax_pack_str(p, fixed);
  free(fixed);
  return rc;
}

static int pack_ident(ax_pack *p, const ax__ident *id) {
  int rc = kv(p, ax_pack_map(p, 3), "name", id->name);
  rc = kv(p, rc, "uid", id->uid);
  rc = rc ? rc : ax_pack_str(p, "pid");
  return rc ? rc : ax_pack_int(p, id->pid);
}

/* How many error maps sending e takes when at most budget may go and e
 * sits at nesting level nest; *nmembers (if not NULL) gets how many of its
 * members go: the first ones, depth first, as many as the bounds allow. */
static size_t plan(const ax_error *e, size_t budget, int nest,
                   size_t *nmembers) {
  size_t used = 1, k = 0;
  if (nest < AX__ERR_MAX_NEST)
    for (; k < e->nmembers && used < budget; k++)
      used += plan(e->members[k], budget - used, nest + 1, NULL);
  if (nmembers) *nmembers = k;
  return used;
}

/* Whether e's info goes with it at nesting level nest: the error map
 * there is a payload value's level 2 * nest + 1, its info one level
 * below, and the whole must stay within AX__MAX_DEPTH levels. */
static int info_fits(const ax_error *e, int nest) {
  return e->info && e->info_depth <= AX__MAX_DEPTH - 1 - 2 * nest;
}

static int pack_error(ax_pack *p, const ax_error *e, size_t budget, int nest,
                      int with_info) {
  size_t nm;
  plan(e, budget, nest, &nm);
  size_t nr = e->nrelay < AX__ERR_MAX_RELAY ? e->nrelay : AX__ERR_MAX_RELAY;
  int info = with_info && info_fits(e, nest);
  int rc = kv(p, ax_pack_map(p, info ? 7 : 6), "type", e->type);
  rc = kv(p, rc, "message", e->message);
  rc = kv(p, rc, "traceback", e->traceback);
  rc = rc ? rc : ax_pack_str(p, "src");
  rc = rc ? rc : pack_ident(p, &e->src);
  rc = rc ? rc : ax_pack_str(p, "relay");
  rc = rc ? rc : ax_pack_array(p, (uint32_t)nr);
  for (size_t i = 0; !rc && i < nr; i++) rc = pack_ident(p, &e->relay[i]);
  rc = rc ? rc : ax_pack_str(p, "members");
  rc = rc ? rc : ax_pack_array(p, (uint32_t)nm);
  size_t used = 1;
  for (size_t i = 0; !rc && i < nm; i++) {
    rc = pack_error(p, e->members[i], budget - used, nest + 1, with_info);
    used += plan(e->members[i], budget - used, nest + 1, NULL);
  }
  if (info) {
    rc = rc ? rc : ax_pack_str(p, "info");
    rc = rc ? rc : ax_pack_val(p, ax_data_root(e->info));
  }
  return rc;
}

int ax__error_pack(ax_pack *p, const ax_error *e) {
  return pack_error(p, e, AX__ERR_MAX_MAPS, 0, 1);
}

int ax__error_pack_without_info(ax_pack *p, const ax_error *e) {
  return pack_error(p, e, AX__ERR_MAX_MAPS, 0, 0);
}

int ax__error_has_info(const ax_error *e) {
  if (e->info) return 1;
  for (size_t i = 0; i < e->nmembers; i++)
    if (ax__error_has_info(e->members[i])) return 1;
  return 0;
}

/* Reading the wire form straight from the bytes of the message, which the
 * scanner has validated: only what an error keeps is allocated, unknown
 * keys are skipped, and the bounds are checked before anything is. */
typedef struct rd {
  const uint8_t *p;
  size_t len, off;
  size_t maps; /* error maps met so far */
} rd;

static int rd_head(rd *r, uint64_t *n, int *kind) {
  size_t head;
  if (r->off >= r->len ||
      ax__mp_head(r->p + r->off, r->len - r->off, &head, n, kind) < 0)
    return AX_EPROTO;
  r->off += head;
  return 0;
}

static int rd_skip(rd *r) {
  ax__scan sc;
  if (r->off >= r->len || ax__mp_scan(r->p + r->off, r->len - r->off, &sc) < 0)
    return AX_EPROTO;
  r->off += sc.used;
  return 0;
}

/* A string: *s and *n, or *s NULL for an item of another type (skipped). */
static int rd_str(rd *r, const char **s, size_t *n) {
  size_t at = r->off;
  uint64_t len;
  int kind;
  *s = NULL;
  *n = 0;
  if (rd_head(r, &len, &kind) < 0) return AX_EPROTO;
  if (kind != AX__MP_STR) {
    r->off = at;
    return rd_skip(r);
  }
  if (len > r->len - r->off) return AX_EPROTO;
  *s = (const char *)r->p + r->off;
  *n = (size_t)len;
  r->off += (size_t)len;
  return 0;
}

/* An int (0 for an item of another type, skipped). */
static int rd_int(rd *r, int64_t *v) {
  const uint8_t *q = r->p + r->off;
  size_t head;
  uint64_t n;
  int kind;
  *v = 0;
  if (r->off >= r->len || ax__mp_head(q, r->len - r->off, &head, &n, &kind) < 0)
    return AX_EPROTO;
  uint8_t b = q[0];
  if (b <= 0x7f) {
    *v = b;
  } else if (b >= 0xe0) {
    *v = (int8_t)b;
  } else if (b >= 0xcc && b <= 0xcf) {
    uint64_t u = ax__mp_be(q + 1, 1 << (b - 0xcc));
    *v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
  } else if (b >= 0xd0 && b <= 0xd3) {
    int k = 1 << (b - 0xd0), shift = 64 - 8 * k;
    uint64_t u = ax__mp_be(q + 1, k);
    *v = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
  }
  return rd_skip(r);
}

/* {name, uid, pid}; another type of item reads as an empty identity. */
static int rd_ident(rd *r, ax__ident *id) {
  const char *name = "", *uid = "";
  size_t nl = 0, ul = 0;
  int64_t pid = 0;
  size_t at = r->off;
  uint64_t n;
  int kind, rc = rd_head(r, &n, &kind);
  if (rc == 0 && kind != AX__MP_MAP) {
    r->off = at;
    rc = rd_skip(r);
    n = 0;
  }
  for (uint64_t i = 0; rc == 0 && i < n; i++) {
    const char *k, *s;
    size_t kl, sl;
    rc = rd_str(r, &k, &kl);
    if (rc < 0) break;
    if (k && kl == 3 && !memcmp(k, "pid", 3)) {
      rc = rd_int(r, &pid);
      continue;
    }
    rc = rd_str(r, &s, &sl);
    if (k && s && kl == 4 && !memcmp(k, "name", 4)) {
      name = s;
      nl = sl;
    } else if (k && s && kl == 3 && !memcmp(k, "uid", 3)) {
      uid = s;
      ul = sl;
    }
  }
  ax__ident_set(id, name, nl, uid, ul, (int)pid);
  return rc;
}

/* The keys of an error map; a key given twice is malformed. */
enum {
  K_TYPE,
  K_MESSAGE,
  K_TRACEBACK,
  K_SRC,
  K_RELAY,
  K_MEMBERS,
  K_INFO,
  K_COUNT
};
static const char *const error_keys[K_COUNT] = {
    "type", "message", "traceback", "src", "relay", "members", "info"};

static int key_of(const char *k, size_t n) {
  for (int i = 0; k && i < K_COUNT; i++)
    if (strlen(error_keys[i]) == n && !memcmp(error_keys[i], k, n)) return i;
  return -1;
}

/* An array's count, or -1 for an item of another type (then skipped). */
static int rd_array(rd *r, uint64_t *n) {
  size_t at = r->off;
  int kind;
  if (rd_head(r, n, &kind) < 0) return AX_EPROTO;
  if (kind == AX__MP_ARRAY) return 0;
  r->off = at;
  *n = 0;
  return rd_skip(r) < 0 ? AX_EPROTO : -1;
}

/* An info: a map is kept as a payload value (decoded, so that its
 * readers need no checks), anything else is skipped. */
static int rd_info(rd *r, ax_error *e) {
  size_t head;
  uint64_t n;
  int kind;
  ax__scan sc;
  const uint8_t *at = r->p + r->off;
  if (r->off >= r->len ||
      ax__mp_head(at, r->len - r->off, &head, &n, &kind) < 0 ||
      ax__mp_scan(at, r->len - r->off, &sc) < 0)
    return AX_EPROTO;
  r->off += sc.used;
  if (kind != AX__MP_MAP) return 0;
  ax_data *info = ax__data_make(at, &sc);
  if (!info) return AX_ENOMEM;
  take_info(e, info);
  return 0;
}

/* An error map at nesting level nest (the scanner's depth limit already
 * bounds it; this keeps the recursion safe on any bytes). */
static int rd_error(rd *r, ax_error **out, int nest) {
  if (++r->maps > AX__ERR_MAX_MAPS || nest > AX__MAX_DEPTH) return AX_EPROTO;
  uint64_t n;
  int kind;
  if (rd_head(r, &n, &kind) < 0 || kind != AX__MP_MAP) return AX_EPROTO;
  ax_error *e = calloc(1, sizeof *e);
  if (!e) return AX_ENOMEM;
  const char *text[3] = {"", "", ""};
  size_t tlen[3] = {0, 0, 0};
  unsigned seen = 0;
  int rc = 0;
  for (uint64_t i = 0; rc == 0 && i < n; i++) {
    const char *k;
    size_t kl;
    if ((rc = rd_str(r, &k, &kl)) < 0) break;
    int f = key_of(k, kl);
    if (f < 0) {
      rc = rd_skip(r); /* unknown keys are for later versions */
      continue;
    }
    if (seen & (1u << f)) {
      rc = AX_EPROTO;
      break;
    }
    seen |= 1u << f;
    uint64_t count;
    switch (f) {
      case K_TYPE:
      case K_MESSAGE:
      case K_TRACEBACK:
        rc = rd_str(r, &text[f], &tlen[f]);
        if (!text[f]) text[f] = "";
        break;
      case K_SRC:
        rc = rd_ident(r, &e->src);
        break;
      case K_RELAY:
        if ((rc = rd_array(r, &count)) != 0) {
          rc = rc == -1 ? 0 : rc;
          break;
        }
        if (count > AX__ERR_MAX_RELAY) {
          rc = AX_EPROTO;
          break;
        }
        if (count == 0) break;
        if (!(e->relay = malloc(count * sizeof *e->relay))) {
          rc = AX_ENOMEM;
          break;
        }
        for (; rc == 0 && e->nrelay < count; e->nrelay++)
          rc = rd_ident(r, &e->relay[e->nrelay]);
        break;
      case K_MEMBERS:
        if ((rc = rd_array(r, &count)) != 0) {
          rc = rc == -1 ? 0 : rc;
          break;
        }
        /* Refused before anything is allocated for them. */
        if (count > AX__ERR_MAX_MAPS - r->maps) {
          rc = AX_EPROTO;
          break;
        }
        if (count == 0) break;
        if (!(e->members = calloc(count, sizeof *e->members))) {
          rc = AX_ENOMEM;
          break;
        }
        for (; rc == 0 && e->nmembers < count; e->nmembers++)
          if ((rc = rd_error(r, &e->members[e->nmembers], nest + 1)) < 0) break;
        break;
      case K_INFO:
        rc = rd_info(r, e);
        break;
    }
  }
  if (rc == 0) {
    e->type = ax__strndup(text[K_TYPE], tlen[K_TYPE]);
    e->message = ax__strndup(text[K_MESSAGE], tlen[K_MESSAGE]);
    e->traceback = ax__strndup(text[K_TRACEBACK], tlen[K_TRACEBACK]);
    if (!e->type || !e->message || !e->traceback) rc = AX_ENOMEM;
  }
  if (rc == 0 && !e->nrelay) {
    /* No path: it starts at the source. */
    free(e->relay);
    if ((e->relay = malloc(sizeof *e->relay))) {
      e->relay[0] = e->src;
      e->nrelay = 1;
    } else {
      rc = AX_ENOMEM;
    }
  }
  if (rc < 0) {
    ax_error_free(e);
    return rc;
  }
  e->kind = kind_of(e->type);
  *out = e;
  return 0;
}

int ax__error_decode(const void *bytes, size_t len, ax_error **out) {
  rd r = {bytes, len, 0, 0};
  *out = NULL;
  int rc = rd_error(&r, out, 0);
  if (rc == 0 && r.off != len) {
    ax_error_free(*out);
    *out = NULL;
    rc = AX_EPROTO;
  }
  return rc;
}

/* ------------------------------------------------ errors that must fit */

/* The first n bytes of s or fewer, not ending inside a UTF-8 sequence. */
static size_t cut_utf8(const char *s, size_t len, size_t n) {
  if (len <= n) return len;
  while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  return n;
}

static size_t packed_size(const ax_error *e) {
  ax_pack *p = ax_pack_new();
  size_t len = 0;
  if (p && ax__error_pack(p, e) == 0 && !ax__pack_failed(p))
    ax_pack_bytes(p, &len);
  ax_pack_free(p);
  return len;
}

ax_error *ax__error_fit(const ax_error *e, size_t max) {
  char note[64] = "";
  if (e->nmembers)
    snprintf(note, sizeof note, ", without its %zu members", e->nmembers);
  char *head = ax__asprintf(
      "%s (too large for a message of %zu bytes; cut to fit%s): ", e->type, max,
      note);
  ax_error *f = head ? ax__error_make(kind_names[AX_K_MESSAGE_TOO_LARGE], head,
                                      "", &e->src)
                     : NULL;
  free(head);
  if (!f) return NULL;
  if (e->nrelay > 1) {
    ax__ident *r = realloc(f->relay, e->nrelay * sizeof *r);
    if (!r) goto fail;
    f->relay = r;
    memcpy(r, e->relay, e->nrelay * sizeof *r);
    f->nrelay = e->nrelay;
  }
  size_t base = packed_size(f);
  if (base > max) {
    f->nrelay = 1; /* the path, as a last resort */
    base = packed_size(f);
  }
  /* Each text's msgpack header may grow by 4 bytes. */
  if (!base || base + 8 > max) goto fail;
  size_t room = max - base - 8;
  const char *msg = e->message, *tb = e->traceback;
  size_t ml = strlen(msg), tl = strlen(tb), mk = ml, tk = tl;
  if (ml + tl > room) {
    /* Halves, unless one text needs less than its half. */
    if (tl <= room / 2) {
      mk = room - tl;
    } else if (ml <= room / 2) {
      tk = room - ml;
    } else {
      mk = room / 2;
      tk = room - mk;
    }
  }
  mk = cut_utf8(msg, ml, mk);
  tk = cut_utf8(tb, tl, tk);
  size_t hl = strlen(f->message);
  char *m = realloc(f->message, hl + mk + 1);
  if (!m) goto fail;
  memcpy(m + hl, msg, mk);
  m[hl + mk] = 0;
  f->message = m;
  char *t = ax__strndup(tb, tk);
  if (!t) goto fail;
  free(f->traceback);
  f->traceback = t;
  return f;
fail:
  ax_error_free(f);
  return NULL;
}

static uint8_t *put_cstr(uint8_t *w, const char *s) {
  return ax__mp_put_str(w, s, (uint32_t)strlen(s));
}

static uint8_t *put_ident(uint8_t *w, const ax__ident *id) {
  w = put_cstr(ax__mp_put_map(w, 3), "name");
  w = put_cstr(put_cstr(w, id->name), "uid");
  w = put_cstr(put_cstr(w, id->uid), "pid");
  return ax__mp_put_int(w, id->pid);
}

size_t ax__error_write_plain(uint8_t *buf, size_t cap, int kind,
                             const char *msg) {
  const ax__ident *id = self_ident();
  const char *type = ax_error_kind_name(kind);
  if (!type) return 0;
  /* Each string's header takes at most 5 bytes, an int 9. */
  size_t ident =
      1 + 3 * 5 + 11 + 5 + strlen(id->name) + 5 + strlen(id->uid) + 9;
  size_t need = 1 + 6 * 5 + 37 + 5 + strlen(type) + 5 + strlen(msg) + 5 +
                2 * ident + 2 * 5;
  if (need > cap) return 0;
  uint8_t *w = put_cstr(ax__mp_put_map(buf, 6), "type");
  w = put_cstr(put_cstr(w, type), "message");
  w = put_cstr(put_cstr(w, msg), "traceback");
  w = put_cstr(put_cstr(w, ""), "src");
  w = put_cstr(put_ident(w, id), "relay");
  w = put_cstr(put_ident(ax__mp_put_array(w, 1), id), "members");
  w = ax__mp_put_array(w, 0);
  return (size_t)(w - buf);
}

/* ---------------------------------------------------------- printed form */

typedef struct fbuf {
  char *p;
  size_t len, cap;
} fbuf;

static void fb_add(fbuf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

static void fb_indented(fbuf *b, const char *text, const char *indent) {
  const char *line = text;
  while (*line) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    char *one = ax__strndup(line, n);
    fb_add(b, indent);
    if (one) fb_add(b, one);
    fb_add(b, "\n");
    free(one);
    line += n + (nl ? 1 : 0);
  }
}

/* Mistakes in the caller's own input (a function or module that is not
 * there, arguments of the wrong type or range, an API called wrongly,
 * whose message starts with the caller's location): the message says all the
 * caller needs, and the backtrace of the code that noticed the mistake
 * only hides it, but when debugging. */
static int caller_mistake(const ax_error *e) {
  switch (e->kind) {
    case AX_K_FUNCTION_NOT_FOUND:
    case AX_K_TYPE_ERROR:
    case AX_K_OVERFLOW_ERROR:
    case AX_K_MODULE_NOT_FOUND:
    case AX_K_MODULE_NOT_EXPOSED:
    case AX_K_USAGE_ERROR:
      return 1;
    default:
      return 0;
  }
}

static void format_into(fbuf *b, const ax_error *e, const char *indent,
                        int debug) {
  char line[256];
  /* A header with nothing under it (no traceback) says less than the
   * one line does. */
  int brief = (!debug && caller_mistake(e)) || !e->traceback[0];
  if (!brief) {
    snprintf(line, sizeof line,
             "Traceback (most recent call last), in actor '%s' (uid %.8s, "
             "pid %d):\n",
             e->src.name, e->src.uid, e->src.pid);
    fb_add(b, indent);
    fb_add(b, line);
    if (e->traceback[0]) fb_indented(b, e->traceback, indent);
  }
  fb_add(b, indent);
  fb_add(b, e->type);
  fb_add(b, ": ");
  fb_add(b, e->message);
  if (brief && e->src.pid) { /* no source outside a runtime */
    snprintf(line, sizeof line, " (in actor '%s', pid %d)", e->src.name,
             e->src.pid);
    fb_add(b, line);
  }
  fb_add(b, "\n");
  if (e->nrelay > 1) {
    fb_add(b, indent);
    fb_add(b, "  relayed through:");
    for (size_t i = 0; i < e->nrelay; i++) {
      fb_add(b, i ? " -> " : " ");
      fb_add(b, e->relay[i].name);
    }
    fb_add(b, "\n");
  }
  for (size_t i = 0; i < e->nmembers; i++) {
    char sub[128];
    snprintf(sub, sizeof sub, "%s  +-- member %zu of %zu --\n", indent, i + 1,
             e->nmembers);
    fb_add(b, sub);
    char *ind = ax__asprintf("%s  | ", indent);
    if (ind) format_into(b, e->members[i], ind, debug);
    free(ind);
  }
}

char *ax_error_format(const ax_error *e) {
  fbuf b = {0};
  if (!e) return ax__strdup("");
  format_into(&b, e, "", ax_loglevel() >= AX_LOG_DEBUG);
  return b.p ? b.p : ax__strdup("");
}
