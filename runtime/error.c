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

/* Key k and string value v, unless rc already says a write failed. */
/* Text that goes out is well-formed UTF-8 whatever the error says (a Lua
 * error may carry any bytes): a strict decoder on the other side must not
 * choke on a message that echoes bad input. */
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

/* An error map at depth d has strings at d + 3 (in the idents of its
 * relay path), its members' maps at d + 2. Members that would nest past
 * AX__MAX_DEPTH are left out: the receiver refuses the whole message
 * otherwise, and closes the channel. */
static int pack_at(ax_pack *p, const ax_error *e, int depth) {
  size_t nmembers = depth + 2 <= AX__MAX_DEPTH - 3 ? e->nmembers : 0;
  int rc = kv(p, ax_pack_map(p, 6), "type", e->type);
  rc = kv(p, rc, "message", e->message);
  rc = kv(p, rc, "traceback", e->traceback);
  rc = rc ? rc : ax_pack_str(p, "src");
  rc = rc ? rc : pack_ident(p, &e->src);
  rc = rc ? rc : ax_pack_str(p, "relay");
  rc = rc ? rc : ax_pack_array(p, (uint32_t)e->nrelay);
  for (size_t i = 0; !rc && i < e->nrelay; i++)
    rc = pack_ident(p, &e->relay[i]);
  rc = rc ? rc : ax_pack_str(p, "members");
  rc = rc ? rc : ax_pack_array(p, (uint32_t)nmembers);
  for (size_t i = 0; !rc && i < nmembers; i++)
    rc = pack_at(p, e->members[i], depth + 2);
  return rc;
}

int ax__error_pack(ax_pack *p, const ax_error *e) { return pack_at(p, e, 1); }

static const char *str_field(const ax_val *m, const char *key) {
  const char *s = ax_val_str(ax_val_get(m, key), NULL);
  return s ? s : "";
}

static void unpack_ident(const ax_val *v, ax__ident *id) {
  const char *name = str_field(v, "name"), *uid = str_field(v, "uid");
  ax__ident_set(id, name, strlen(name), uid, strlen(uid),
                (int)ax_val_int(ax_val_get(v, "pid")));
}

int ax__error_unpack(const ax_val *v, ax_error **out) {
  if (ax_val_type(v) != AX_T_MAP) return AX_EPROTO;
  ax__ident src;
  unpack_ident(ax_val_get(v, "src"), &src);
  ax_error *e = ax__error_make(str_field(v, "type"), str_field(v, "message"),
                               str_field(v, "traceback"), &src);
  if (!e) return AX_ENOMEM;
  const ax_val *relay = ax_val_get(v, "relay");
  uint32_t nr = ax_val_len(relay);
  if (ax_val_type(relay) == AX_T_ARRAY && nr > 0) {
    ax__ident *r = realloc(e->relay, nr * sizeof *r);
    if (!r) goto nomem;
    e->relay = r;
    for (uint32_t i = 0; i < nr; i++) unpack_ident(ax_val_at(relay, i), &r[i]);
    e->nrelay = nr;
  }
  const ax_val *mem = ax_val_get(v, "members");
  uint32_t nm = ax_val_type(mem) == AX_T_ARRAY ? ax_val_len(mem) : 0;
  if (nm) {
    e->members = calloc(nm, sizeof *e->members);
    if (!e->members) goto nomem;
    for (uint32_t i = 0; i < nm; i++) {
      int rc = ax__error_unpack(ax_val_at(mem, i), &e->members[i]);
      if (rc < 0) {
        ax_error_free(e);
        return rc;
      }
      e->nmembers = i + 1;
    }
  }
  *out = e;
  return 0;
nomem:
  ax_error_free(e);
  return AX_ENOMEM;
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

static void format_into(fbuf *b, const ax_error *e, const char *indent) {
  char head[256];
  snprintf(head, sizeof head,
           "Traceback (most recent call last), in actor '%s' (uid %.8s, pid "
           "%d):\n",
           e->src.name, e->src.uid, e->src.pid);
  fb_add(b, indent);
  fb_add(b, head);
  if (e->traceback[0]) fb_indented(b, e->traceback, indent);
  fb_add(b, indent);
  fb_add(b, e->type);
  fb_add(b, ": ");
  fb_add(b, e->message);
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
    if (ind) format_into(b, e->members[i], ind);
    free(ind);
  }
}

char *ax_error_format(const ax_error *e) {
  fbuf b = {0};
  if (!e) return ax__strdup("");
  format_into(&b, e, "");
  return b.p ? b.p : ax__strdup("");
}
