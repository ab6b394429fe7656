/* context.c - contexts in Lua. The callee's side: axle.context(fn)
 * makes a context function (a callable table holding fn), which the
 * loader calls with a context object first (ctx:started(value) hands the caller
 * its first value). The caller's side: the object portal:open_context returns,
 * a to-be-closed value with result() and cancel(); closing it ends the context,
 * cancelling the callee when the block failed. */

#include <string.h>

#include "internal.h"

#define CALLEE_NAME "axle.Context"
#define CALLER_NAME "axle.OpenContext"

/* ------------------------------------------------------- the callee */

/* Valid while the call runs: the loader clears ctx as it ends. The
 * function's name is a copy: the call's own goes with it. */
typedef struct lcallee {
  ax_ctx *ctx;
  char func[];
} lcallee;

/* A context function is a callable table {fn} with this metatable: a
 * plain function costs serving nothing, and only a value that is not a
 * function is looked at. */
static const char fn_mt = 0;

/* Called directly (in the same actor), it is its function. */
static int fn_call(lua_State *L) {
  lua_rawgeti(L, 1, 1);
  lua_replace(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int axlua_context_declare(lua_State *L) {
  axlua_check_type(L, 1, LUA_TFUNCTION);
  lua_createtable(L, 1, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &fn_mt);
  lua_setmetatable(L, -2);
  return 1;
}

int axlua_context_is_fn(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &fn_mt);
  int yes = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return yes;
}

int axlua_context_unwrap(lua_State *L, int idx) {
  if (!axlua_context_is_fn(L, idx)) return 0;
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, idx, 1);
  lua_replace(L, idx);
  return 1;
}

void axlua_context_push_callee(lua_State *L, ax_ctx *ctx, const char *func) {
  size_t n = strlen(func) + 1;
  lcallee *c = lua_newuserdatauv(L, sizeof *c + n, 1); /* its stream */
  c->ctx = ctx;
  memcpy(c->func, func, n);
  luaL_setmetatable(L, CALLEE_NAME);
}

/* The stream object a context object keeps (user value 1) is retired
 * with it. */
static void retire_stream(lua_State *L, int idx) {
  if (lua_getiuservalue(L, idx, 1) == LUA_TUSERDATA) axlua_stream_retire(L, -1);
  lua_pop(L, 1);
}

void axlua_context_end_callee(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lcallee *c = luaL_testudata(L, idx, CALLEE_NAME);
  if (!c) return;
  c->ctx = NULL;
  retire_stream(L, idx);
}

/* open_stream's options: window (values) and window_bytes. */
static void stream_opts(lua_State *L, int idx, ax_stream_opts *o) {
  *o = (ax_stream_opts){sizeof *o, 0, 0};
  if (lua_isnoneornil(L, idx)) return;
  axlua_check_type(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    int known = !strcmp(k, "window") || !strcmp(k, "window_bytes");
    /* A count: an integer, or a float with an integer value (1e9). */
    int isint = 0;
    lua_Integer n = lua_type(L, -1) == LUA_TNUMBER
                        ? lua_tointegerx(L, -1, &isint)
                        : 0;
    if (!known || !isint || n < 0)
      axlua_error_throw(L, AX_K_USAGE_ERROR,
                        "open_stream: %s (options: window, window_bytes, "
                        "each a count >= 0)",
                        known ? "a window is a count" : "unknown option");
    if (!strcmp(k, "window"))
      o->window_msgs = (uint64_t)n;
    else
      o->window_bytes = (uint64_t)n;
    lua_pop(L, 1);
  }
}

/* The callee cancels its own context: its caller gets a ContextCancelled
 * naming this actor. */
static int callee_cancel(lua_State *L) {
  lcallee *c = axlua_check_udata(L, 1, CALLEE_NAME);
  if (!c->ctx)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "cancel: the call of '%s' has ended", c->func);
  if (ax_ctx_cancel(c->ctx) == AX_ESTATE)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "cancel: this call of '%s' is not a context",
                             c->func);
  return 0;
}

static int callee_open_stream(lua_State *L) {
  lcallee *c = axlua_check_udata(L, 1, CALLEE_NAME);
  if (!c->ctx)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "open_stream: the call of '%s' has ended",
                             c->func);
  ax_stream_opts o;
  stream_opts(L, 2, &o);
  ax_stream *s;
  int rc = ax_ctx_open_stream(c->ctx, &o, &s);
  if (rc == AX_ESTATE)
    return axlua_error_throw(L, AX_K_USAGE_ERROR, "open_stream: %s",
                             !ax_ctx_is_context(c->ctx)
                                 ? "this call is not a context"
                             : lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA
                                 ? "its stream was opened already (once "
                                   "per context, even after a close)"
                                 : "call ctx:started(value) first");
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  axlua_stream_push(L, s);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
  return 1;
}

static int callee_started(lua_State *L) {
  lcallee *c = axlua_check_udata(L, 1, CALLEE_NAME);
  if (!c->ctx)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "started: the call of '%s' has ended; use its "
                             "context only while its function runs",
                             c->func);
  lua_settop(L, 2);
  ax_pack *v = axlua_value_pack_new(L, 2);
  size_t len = 0;
  if (v) ax_pack_bytes(v, &len);
  int rc = ax_ctx_started(c->ctx, v);
  if (rc == AX_EMSGSIZE)
    return axlua_error_throw(L, AX_K_MESSAGE_TOO_LARGE,
                             "started: a value of %I bytes does not fit "
                             "in a message of the caller's maximum size, "
                             "%I bytes (max_message)",
                             (lua_Integer)len,
                             (lua_Integer)ax_ctx_max_message(c->ctx));
  if (rc == AX_ESTATE && ax_ctx_is_context(c->ctx))
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "started: called twice; a context sends one "
                             "first value");
  if (rc == AX_ESTATE)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "started: this call of '%s' is not a context; "
                             "its caller opens one with portal:open_context",
                             c->func);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

/* ------------------------------------------------------- the caller */

typedef struct lcaller {
  ax_context *c; /* NULL once closed */
  int generator; /* open_stream_from: closing cancels the producer */
} lcaller;

void axlua_context_push_caller(lua_State *L, ax_context *c) {
  lcaller *lc = lua_newuserdatauv(L, sizeof *lc, 1); /* its stream */
  lc->c = c;
  lc->generator = 0;
  luaL_setmetatable(L, CALLER_NAME);
}

void axlua_context_set_caller(lua_State *L, int idx, ax_context *c) {
  lcaller *lc = luaL_checkudata(L, idx, CALLER_NAME);
  lc->c = c;
}

void axlua_context_set_generator(lua_State *L, int idx) {
  lcaller *lc = luaL_checkudata(L, idx, CALLER_NAME);
  lc->generator = 1;
}

static lcaller *check_open(lua_State *L, const char *method) {
  lcaller *lc = axlua_check_udata(L, 1, CALLER_NAME);
  if (!lc->c)
    axlua_error_throw(L, AX_K_USAGE_ERROR,
                      "%s: the context is closed; use it only inside the "
                      "block that opened it",
                      method);
  return lc;
}

static int caller_result(lua_State *L) {
  lcaller *lc = check_open(L, "result");
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_context_result(lc->c, &r, &e);
  if (rc == AX_ESTATE && !e)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "result: the context's result was taken "
                             "already");
  if (rc < 0) return axlua_error_raise(L, rc, e);
  return axlua_value_push_data(L, r);
}

static int caller_open_stream(lua_State *L) {
  lcaller *lc = check_open(L, "open_stream");
  ax_stream_opts o;
  stream_opts(L, 2, &o);
  ax_stream *s;
  int rc = ax_context_open_stream(lc->c, &o, &s);
  if (rc == AX_ESTATE)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "open_stream: its stream was opened already "
                             "(once per context, even after a close)");
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  axlua_stream_push(L, s);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
  return 1;
}

static int caller_cancel(lua_State *L) {
  lcaller *lc = check_open(L, "cancel");
  ax_context_cancel(lc->c);
  return 0;
}

/* Whether the Lua error at idx is e: its type and message. */
static int same_error(lua_State *L, int idx, const ax_error *e) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_pushliteral(L, "type");
  lua_rawget(L, idx);
  lua_pushliteral(L, "message");
  lua_rawget(L, idx);
  const char *type = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
  int same = type && msg && !strcmp(type, ax_error_type(e)) &&
             !strcmp(msg, ax_error_message(e));
  lua_pop(L, 2);
  return same;
}

/* __close(ctx, err): err is the block's error, or nil. */
static int caller_close(lua_State *L) {
  lcaller *lc = axlua_check_udata(L, 1, CALLER_NAME);
  if (!lc->c) return 0;
  ax_context *c = lc->c;
  lc->c = NULL;
  retire_stream(L, 1);
  ax_error *e = NULL;
  /* A generator's loop that ends early (break) cancels the producer; one
   * that ran to the end finds it finished, and the cancel does nothing. */
  int body = lua_isnoneornil(L, 2) && !lc->generator ? 0 : AX_ECANCELED;
  int rc = ax_context_close(c, body, &e);
  /* The block's own error goes on; a cancel of ours is absorbed. */
  if (rc < 0 && lua_isnoneornil(L, 2)) return axlua_error_raise(L, rc, e);
  /* The callee failed too, of itself: said, not lost without a word,
   * unless the block's error is that failure (raised by its stream). */
  if (e && !same_error(L, 2, e)) {
    char *text = ax_error_format(e);
    ax_log(AX_LOG_WARN,
           "a context's callee failed as its caller's block failed (the "
           "block's error goes on):\n%s",
           text ? text : ax_error_type(e));
    ax_free(text);
  }
  ax_error_free(e);
  return 0;
}

static void ignore_end(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  (void)status;
  ax_data_free(r);
  ax_error_free(e);
}

/* Collected unclosed: end it without waiting, cancelling the callee. */
static int caller_gc(lua_State *L) {
  lcaller *lc = lua_touserdata(L, 1);
  retire_stream(L, 1);
  if (lc->c) ax_context_close_cb(lc->c, AX_ECANCELED, ignore_end, NULL, NULL);
  lc->c = NULL;
  return 0;
}

void axlua_context_init(lua_State *L) {
  static const luaL_Reg callee[] = {{"started", callee_started},
                                    {"open_stream", callee_open_stream},
                                    {"cancel", callee_cancel},
                                    {NULL, NULL}};
  static const luaL_Reg caller[] = {{"result", caller_result},
                                    {"cancel", caller_cancel},
                                    {"open_stream", caller_open_stream},
                                    {"__close", caller_close},
                                    {"__gc", caller_gc},
                                    {NULL, NULL}};
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, fn_call);
  lua_setfield(L, -2, "__call");
  lua_pushliteral(L, "axle.ContextFunction");
  lua_setfield(L, -2, "__name");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &fn_mt);
  axlua_new_class(L, CALLEE_NAME, callee, 1);
  axlua_new_class(L, CALLER_NAME, caller, 1);
  axlua_error_name_class(L, CALLEE_NAME);
  axlua_error_name_class(L, CALLER_NAME);
}
