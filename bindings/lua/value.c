/* value.c - Lua values and msgpack, both ways: tables become arrays when
 * their keys are exactly 1..n and maps otherwise; an empty table, which is
 * both, goes as an empty array (a reader expecting a map finds no keys in
 * it either), except as a call's arguments, where {} is no named
 * arguments: an empty map, which a Lua function gets as one empty table.
 * nil, booleans, numbers and strings map to themselves; anything else
 * cannot cross to another actor. Arguments are written as msgpack bytes
 * here, into a buffer the state reuses, which spares an ax_pack and its
 * copy per call; a call's result goes through the ax_pack that
 * ax_ctx_return takes. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* How this file raises its errors: error.c, which makes error values (and
 * uses this file for their info), registers it, so that this lower layer
 * never calls up. Until then, the message alone is raised. */
static int (*raise_hook)(lua_State *L, int kind, const char *msg);

void axlua_value_on_error(int (*raise)(lua_State *L, int kind,
                                       const char *msg)) {
  raise_hook = raise;
}

static int value_error(lua_State *L, int kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return raise_hook ? raise_hook(L, kind, msg) : lua_error(L);
}

#define MAX_DEPTH 32

/* The msgpack bytes of a value going to another actor (to_data), in a
 * userdata that lives as long as the state: encoding allocates nothing per
 * call, and a Lua error halfway leaks nothing (__gc frees the bytes).
 * Nothing runs Lua code while a value is encoded, so a buffer serves all
 * the state's threads. The state has one in the registry; the functions
 * called most keep their own as an upvalue, cheaper to reach. */
typedef struct wbuf {
  unsigned char *b;
  size_t len, cap;
} wbuf;

static const char buf_key = 0; /* registry: the state's wbuf, by address */

/* Where pack_value writes: an ax_pack (a call's result), else a wbuf;
 * and the tables being encoded, by depth, to tell a cycle from a value
 * that is merely too deep. */
typedef struct sink {
  lua_State *L;
  ax_pack *p;
  wbuf *w;
  const void *path[MAX_DEPTH + 1];
} sink;

static int buf_gc(lua_State *L) {
  wbuf *w = lua_touserdata(L, 1);
  free(w->b);
  w->b = NULL;
  w->cap = w->len = 0;
  return 0;
}

void axlua_value_push_buffer(lua_State *L) {
  wbuf *w = lua_newuserdatauv(L, sizeof *w, 0);
  w->b = NULL;
  w->len = w->cap = 0;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
}

/* The buffer at buf_idx, or with 0 the state's own (made on first use). */
static wbuf *get_buf(lua_State *L, int buf_idx) {
  if (buf_idx) return lua_touserdata(L, buf_idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &buf_key) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    axlua_value_push_buffer(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &buf_key);
  }
  wbuf *w = lua_touserdata(L, -1);
  lua_pop(L, 1); /* the registry keeps it */
  return w;
}

static unsigned char *grow_slow(sink *s, size_t n) {
  wbuf *w = s->w;
  size_t cap = w->cap ? w->cap : 256;
  while (cap - w->len < n) {
    if (cap > SIZE_MAX / 2)
      value_error(s->L, AX_K_MESSAGE_TOO_LARGE,
                  "the value is too large to encode");
    cap *= 2;
  }
  unsigned char *b = realloc(w->b, cap);
  if (!b)
    value_error(s->L, AX_K_MEMORY_ERROR, "out of memory encoding a value");
  w->b = b;
  w->cap = cap;
  unsigned char *at = w->b + w->len;
  w->len += n;
  return at;
}

/* n more bytes at the end of the buffer; the caller fills them all. */
static inline unsigned char *grow(sink *s, size_t n) {
  wbuf *w = s->w;
  if (w->cap - w->len < n) return grow_slow(s, n);
  unsigned char *at = w->b + w->len;
  w->len += n;
  return at;
}

/* A msgpack head: tag, then v big-endian in nbytes. */
static unsigned char *put_head(sink *s, unsigned char tag, uint64_t v,
                               int nbytes) {
  unsigned char *at = grow(s, 1 + (size_t)nbytes);
  *at++ = tag;
  for (int i = nbytes - 1; i >= 0; i--) *at++ = (unsigned char)(v >> (8 * i));
  return at;
}

/* The encodings the runtime's ax_pack writes, byte for byte. */
static void put_int(sink *s, lua_Integer v) {
  if (s->p) {
    ax_pack_int(s->p, v);
  } else if (v >= 0) {
    if (v <= 0x7f)
      put_head(s, (unsigned char)v, 0, 0);
    else if (v <= UINT8_MAX)
      put_head(s, 0xcc, (uint64_t)v, 1);
    else if (v <= UINT16_MAX)
      put_head(s, 0xcd, (uint64_t)v, 2);
    else if (v <= UINT32_MAX)
      put_head(s, 0xce, (uint64_t)v, 4);
    else
      put_head(s, 0xcf, (uint64_t)v, 8);
  } else {
    if (v >= -32)
      put_head(s, (unsigned char)(int8_t)v, 0, 0);
    else if (v >= INT8_MIN)
      put_head(s, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
      put_head(s, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
      put_head(s, 0xd2, (uint64_t)v, 4);
    else
      put_head(s, 0xd3, (uint64_t)v, 8);
  }
}

static void put_float(sink *s, double v) {
  if (s->p) {
    ax_pack_float(s->p, v);
  } else {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_head(s, 0xcb, u, 8);
  }
}

/* A length head: fix form up to fixmax (when fix), then 8/16/32 bits. */
static void put_len(sink *s, size_t n, unsigned fix, size_t fixmax, unsigned t8,
                    unsigned t16, unsigned t32) {
  if (n > UINT32_MAX)
    value_error(s->L, AX_K_MESSAGE_TOO_LARGE,
                "a value too large to send (over 2^32 bytes or entries)");
  if (fix && n <= fixmax)
    put_head(s, (unsigned char)(fix | n), 0, 0);
  else if (t8 && n <= UINT8_MAX)
    put_head(s, (unsigned char)t8, n, 1);
  else if (n <= UINT16_MAX)
    put_head(s, (unsigned char)t16, n, 2);
  else
    put_head(s, (unsigned char)t32, n, 4);
}

static void put_str(sink *s, const char *str, size_t n) {
  if (s->p) {
    ax_pack_strn(s->p, str, n);
  } else {
    put_len(s, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
    if (n) memcpy(grow(s, n), str, n);
  }
}

static void put_array(sink *s, uint32_t n) {
  if (s->p)
    ax_pack_array(s->p, n);
  else
    put_len(s, n, 0x90, 15, 0, 0xdc, 0xdd);
}

static void put_map(sink *s, uint32_t n) {
  if (s->p)
    ax_pack_map(s->p, n);
  else
    put_len(s, n, 0x80, 15, 0, 0xde, 0xdf);
}

/* The number of keys of the table at idx, in one traversal, and whether
 * they are exactly 1..n (none at all included): then it goes as an
 * array. */
static int table_shape(lua_State *L, int idx, uint32_t *count) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx), n = 0;
  int array = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    array = array && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
            lua_tointeger(L, -1) <= len;
    n++;
  }
  if (n > UINT32_MAX)
    value_error(L, AX_K_MESSAGE_TOO_LARGE,
                "a value too large to send (over 2^32 bytes or entries)");
  *count = (uint32_t)n;
  return array && n == len;
}

static void pack_value(sink *s, int idx, int depth);

/* Every key and value of the table at idx, in lua_next's order; the
 * number of pairs. */
static size_t pack_pairs(sink *s, int idx, int depth) {
  lua_State *L = s->L;
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int top = lua_gettop(L);
    pack_value(s, top - 1, depth + 1);
    pack_value(s, top, depth + 1);
    lua_pop(L, 1);
    n++;
  }
  return n;
}

/* A table with no keys 1..n, into the buffer, in one traversal: one
 * byte is reserved for the head, a fixmap's; a map of more than 15 keys
 * (rarer) has its items moved up to make room for its longer head, the
 * one ax_pack would write. A table with no keys at all is an empty
 * array, but for a call's arguments (depth 0), which it leaves a map. */
static void pack_map_unsized(sink *s, int idx, int depth) {
  lua_State *L = s->L;
  wbuf *w = s->w;
  size_t at = w->len;
  grow(s, 1);
  size_t n = pack_pairs(s, idx, depth);
  if (n > UINT32_MAX)
    value_error(L, AX_K_MESSAGE_TOO_LARGE,
                "a value too large to send (over 2^32 bytes or entries)");
  if (n == 0 && depth > 0) {
    w->b[at] = 0x90;
    return;
  }
  if (n <= 15) {
    w->b[at] = (unsigned char)(0x80 | n);
    return;
  }
  size_t headlen = n <= UINT16_MAX ? 3 : 5;
  grow(s, headlen - 1);
  unsigned char *head = w->b + at;
  memmove(head + headlen, head + 1, w->len - at - headlen);
  head[0] = headlen == 3 ? 0xde : 0xdf;
  for (size_t i = 1; i < headlen; i++)
    head[i] = (unsigned char)(n >> (8 * (headlen - 1 - i)));
}

/* Past MAX_DEPTH: a table that contains itself gets there too, and is
 * told apart by a table met twice on the way down (path[0..MAX_DEPTH),
 * then the value at idx). */
static void too_deep(sink *s, int idx) {
  lua_State *L = s->L;
  s->path[MAX_DEPTH] = lua_istable(L, idx) ? lua_topointer(L, idx) : NULL;
  for (int i = 0; i < MAX_DEPTH; i++)
    for (int j = i + 1; j <= MAX_DEPTH; j++)
      if (s->path[i] == s->path[j])
        value_error(L, AX_K_TYPE_ERROR,
                    "cannot send a cyclic table (a table that "
                    "contains itself) to another actor");
  value_error(L, AX_K_TYPE_ERROR,
              "cannot send a value nested deeper than %d levels", MAX_DEPTH);
}

/* depth counts from 0 at the value sent: the runtime's limit of
 * MAX_DEPTH levels (a scalar is one) allows depths 0 to MAX_DEPTH - 1. */
static void pack_value(sink *s, int idx, int depth) {
  lua_State *L = s->L;
  if (depth >= MAX_DEPTH) too_deep(s, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      if (s->p)
        ax_pack_nil(s->p);
      else
        put_head(s, 0xc0, 0, 0);
      return;
    case LUA_TBOOLEAN: {
      int b = lua_toboolean(L, idx);
      if (s->p)
        ax_pack_bool(s->p, b);
      else
        put_head(s, b ? 0xc3 : 0xc2, 0, 0);
      return;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        put_int(s, lua_tointeger(L, idx));
      else
        put_float(s, lua_tonumber(L, idx));
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *str = lua_tolstring(L, idx, &n);
      put_str(s, str, n);
      return;
    }
    case LUA_TTABLE: {
      uint32_t n;
      luaL_checkstack(L, 4, "value too deep");
      s->path[depth] = lua_topointer(L, idx);
      if (!s->p && lua_rawlen(L, idx) == 0) {
        pack_map_unsized(s, idx, depth);
        return;
      }
      if (table_shape(L, idx, &n)) {
        put_array(s, n);
        for (lua_Integer i = 1; i <= n; i++) {
          lua_rawgeti(L, idx, i);
          pack_value(s, lua_gettop(L), depth + 1);
          lua_pop(L, 1);
        }
        return;
      }
      put_map(s, n);
      pack_pairs(s, idx, depth);
      return;
    }
    default:
      value_error(L, AX_K_TYPE_ERROR, "cannot send a %s to another actor",
                  luaL_typename(L, idx));
  }
}

/* path is filled as the encoder goes down: no need to clear it. */
void axlua_value_pack(lua_State *L, int idx, ax_pack *p) {
  sink s;
  s.L = L;
  s.p = p;
  s.w = NULL;
  pack_value(&s, lua_absindex(L, idx), 0);
}

void axlua_value_pack_array(lua_State *L, int first, int n, ax_pack *p) {
  sink s;
  s.L = L;
  s.p = p;
  s.w = NULL;
  s.path[0] = NULL; /* the array, which is no table */
  first = lua_absindex(L, first);
  ax_pack_array(p, (uint32_t)n);
  for (int i = 0; i < n; i++) pack_value(&s, first + i, 1);
}

static void open_buf(sink *s, lua_State *L, int buf_idx) {
  s->L = L;
  s->p = NULL;
  s->w = get_buf(L, buf_idx);
  s->w->len = 0;
}

/* A buffer may grow for one large value: once nothing reads it, it goes
 * back to nothing rather than hold the memory until the next value. */
static void trim(wbuf *w) {
  if (w->cap <= AXLUA_KEEP_BYTES) return;
  free(w->b);
  w->b = NULL;
  w->cap = w->len = 0;
}

void axlua_value_done(lua_State *L, int buf_idx) { trim(get_buf(L, buf_idx)); }

const void *axlua_value_encode(lua_State *L, int idx, int buf_idx,
                               size_t *len) {
  sink s;
  open_buf(&s, L, buf_idx);
  pack_value(&s, lua_absindex(L, idx), 0);
  *len = s.w->len;
  return s.w->b;
}

ax_data *axlua_value_to_data(lua_State *L, int idx, int buf_idx) {
  sink s;
  open_buf(&s, L, buf_idx);
  pack_value(&s, lua_absindex(L, idx), 0);
  ax_data *d = NULL;
  int rc = ax_data_decode(s.w->b, s.w->len, &d);
  trim(s.w);
  if (rc < 0)
    value_error(L, AX_K_TYPE_ERROR, "cannot encode the value: %s",
                ax_strerror(rc));
  return d;
}

/* A map key that no Lua table can hold is refused, not dropped: the
 * value would arrive with an entry missing. */
static void bad_key(lua_State *L, const ax_val *k) {
  const char *what = NULL;
  if (ax_val_type(k) == AX_T_NIL)
    what = "nil";
  else if (ax_val_type(k) == AX_T_FLOAT && ax_val_float(k) != ax_val_float(k))
    what = "NaN";
  if (!what) return;
  value_error(L, AX_K_TYPE_ERROR,
              "a map key is %s, which a Lua table cannot hold", what);
}

void axlua_value_push(lua_State *L, const ax_val *v) {
  luaL_checkstack(L, 3, "value too deep");
  if (axlua_value_push_scalar(L, v)) return;
  size_t n;
  const char *s;
  uint64_t u;
  switch (ax_val_type(v)) {
    case AX_T_INT: /* above INT64_MAX: no Lua integer holds it */
      ax_val_uint64(v, &u);
      char num[24];
      snprintf(num, sizeof num, "%llu", (unsigned long long)u);
      value_error(L, AX_K_TYPE_ERROR, "integer %s does not fit a Lua integer",
                  num);
      break;
    case AX_T_NIL: /* pushed above */
    case AX_T_BOOL:
    case AX_T_FLOAT:
      break;
    case AX_T_STR:
      s = ax_val_str(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_BIN:
      s = ax_val_bin(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_ARRAY:
      lua_createtable(L, (int)ax_val_len(v), 0);
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        axlua_value_push(L, ax_val_at(v, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case AX_T_MAP:
      lua_createtable(L, 0, (int)ax_val_len(v));
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        bad_key(L, ax_val_key(v, i));
        axlua_value_push(L, ax_val_key(v, i));
        axlua_value_push(L, ax_val_value(v, i));
        lua_rawset(L, -3);
      }
      break;
  }
}

static int push_protected(lua_State *L) {
  axlua_value_push(L, lua_touserdata(L, 1));
  return 1;
}

int axlua_value_push_data(lua_State *L, ax_data *d) {
  const ax_val *v = ax_data_root(d);
  if (!axlua_value_push_scalar(L, v)) {
    lua_pushcfunction(L, push_protected);
    lua_pushlightuserdata(L, (void *)v);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      ax_data_free(d);
      return lua_error(L);
    }
  }
  ax_data_free(d);
  return 1;
}

static int pack_protected(lua_State *L) {
  axlua_value_pack(L, 2, lua_touserdata(L, 1));
  return 0;
}

ax_pack *axlua_value_pack_new(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  ax_pack *p = ax_pack_new();
  if (!p) value_error(L, AX_K_MEMORY_ERROR, "out of memory");
  lua_pushcfunction(L, pack_protected);
  lua_pushlightuserdata(L, p);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    ax_pack_free(p);
    lua_error(L);
  }
  return p;
}
