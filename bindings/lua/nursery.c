/* nursery.c - actor nurseries in Lua: axle.open_nursery (a <close> value or
 * the block form) and the ways to start a child in one, start_actor and
 * run_in_actor. Closing waits for every child; an error leaving the scope
 * cancels them first, and the nursery's own failure replaces it. */
#include <string.h>
#include <strings.h>

#include "internal.h"

#define NURSERY_MT "axle.Nursery"

typedef struct axlua_nursery {
  ax_nursery *n;
  int closed;
} axlua_nursery;

static axlua_nursery *check_nursery(lua_State *L, int idx) {
  axlua_nursery *ln = luaL_checkudata(L, idx, NURSERY_MT);
  if (ln->closed) luaL_error(L, "the nursery is closed");
  return ln;
}

/* Close: wait for the children; cancel them first when err is not nil. */
static int nursery_finish(lua_State *L, axlua_nursery *ln, int failing) {
  if (ln->closed) return 0;
  if (failing) ax_nursery_cancel(ln->n);
  ax_error *e = NULL;
  int rc = ax_nursery_close(ln->n, &e);
  ln->closed = 1;
  if (rc == AX_EREMOTE) return axlua_error_raise(L, rc, e);
  if (rc < 0 && !failing) return axlua_error_raise(L, rc, e);
  ax_error_free(e);
  return 0;
}

static int nursery_close(lua_State *L) {
  axlua_nursery *ln = luaL_checkudata(L, 1, NURSERY_MT);
  return nursery_finish(L, ln, !lua_isnoneornil(L, 2));
}

static int nursery_gc(lua_State *L) {
  axlua_nursery *ln = luaL_checkudata(L, 1, NURSERY_MT);
  if (!ln->closed) {
    /* Collected unclosed: take the children down; nothing can wait here. */
    ax_log(AX_LOG_ERROR, "a Lua nursery was never closed; cancelling it");
    ax_nursery_cancel(ln->n);
  }
  return 0;
}

static int block_body(lua_State *L) {
  lua_call(L, 1, 0);
  return 0;
}

int axlua_nursery_open(lua_State *L) {
  axlua_nursery *ln = lua_newuserdatauv(L, sizeof *ln, 0);
  ln->closed = 1;
  int rc = ax_nursery_open(&ln->n);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  ln->closed = 0;
  luaL_setmetatable(L, NURSERY_MT);
  if (!lua_isfunction(L, 1)) return 1;
  /* Block form: run fn(n), then close; an error cancels the children. */
  int nursery = lua_gettop(L);
  lua_pushcfunction(L, axlua_error_msgh);
  lua_pushcfunction(L, block_body);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, nursery);
  int status = lua_pcall(L, 2, 0, nursery + 1);
  nursery_finish(L, ln, status != LUA_OK);
  if (status != LUA_OK) return lua_error(L);
  return 0;
}

/* A log level: a number 1..4 or a name, in any case. */
static int read_loglevel(lua_State *L, const char *fn) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (lua_isinteger(L, -1)) {
    lua_Integer v = lua_tointeger(L, -1);
    if (v >= 1 && v <= 4) return (int)v;
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    for (int i = 0; i < 4; i++)
      if (!strcasecmp(s, names[i])) return i + 1;
  }
  return luaL_error(L, "%s: loglevel must be 1 to 4 or one of error, warn, "
                       "info, debug; got %s",
                    fn, luaL_tolstring(L, -1, NULL));
}

/* The options table at idx, checked: an unknown key (a typo, `enable` for
 * `enable_modules`) or a value of the wrong type is an error, never
 * ignored. Strings point into the table, which outlives the call. */
static void read_spawn_opts(lua_State *L, int idx, ax_spawn_opts *o,
                            const char **enable, size_t max, const char *fn,
                            int with_name) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->module = axlua_loader_spec(L);
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (!strcmp(k, "module")) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: module must be a string", fn);
      o->module = lua_tostring(L, -1);
    } else if (!strcmp(k, "loglevel")) {
      o->loglevel = read_loglevel(L, fn);
    } else if (!strcmp(k, "enable_modules")) {
      if (!lua_istable(L, -1))
        luaL_error(L, "%s: enable_modules must be a list of module specs", fn);
      size_t n = lua_rawlen(L, -1);
      if (n > max) luaL_error(L, "%s: at most %d enable_modules", fn, (int)max);
      for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
          luaL_error(L, "%s: enable_modules[%d] must be a string", fn,
                     (int)i + 1);
        enable[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
      }
      o->enable = enable;
      o->nenable = n;
    } else if (!(with_name && !strcmp(k, "name"))) {
      luaL_error(L, "%s: unknown option '%s' (known: module, enable_modules, "
                    "loglevel%s)",
                 fn, lua_type(L, -2) == LUA_TSTRING ? k : luaL_typename(L, -2),
                 with_name ? ", name" : "");
    }
    lua_pop(L, 1);
  }
}

static int start_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  const char *name = luaL_checkstring(L, 2);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 3, &o, enable, 32, "start_actor", 0);
  if (!o.module) return luaL_error(L, "start_actor: no module to run");
  ax_portal *p;
  ax_error *e = NULL;
  int rc = ax_start_actor(ln->n, name, &o, &p, &e);
  if (rc < 0) return axlua_error_raise(L, rc, e);
  axlua_portal_push(L, p, &ln->closed, 1);
  return 1;
}

static int run_in_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  lua_settop(L, 4); /* function_name pushes: absent arguments stay absent */
  const char *func = axlua_loader_function_name(L, 2);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 4, &o, enable, 32, "run_in_actor", 1);
  const char *name = func;
  if (lua_istable(L, 4)) {
    /* Left on the stack: the string must live until the call returns. */
    lua_getfield(L, 4, "name");
    if (lua_isstring(L, -1)) name = lua_tostring(L, -1);
  }
  /* Encoded last: nothing may raise while args is ours to free. No
   * arguments go as nil, so that the function gets none. */
  ax_data *args = axlua_value_to_data(L, 3, 0);
  ax_portal *p;
  ax_error *e = NULL;
  int rc = o.module ? ax_run_in_actor(ln->n, name, &o, func, args, &p, &e)
                    : AX_EINVAL;
  ax_data_free(args);
  if (rc < 0) return axlua_error_raise(L, rc, e);
  axlua_portal_push(L, p, &ln->closed, 1);
  return 1;
}

static int nursery_cancel(lua_State *L) {
  ax_nursery_cancel(check_nursery(L, 1)->n);
  return 0;
}

void axlua_nursery_init(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"start_actor", start_actor}, {"run_in_actor", run_in_actor},
      {"cancel", nursery_cancel},   {"__close", nursery_close},
      {"__gc", nursery_gc},         {NULL, NULL}};
  axlua_new_class(L, NURSERY_MT, methods, 1);
}
