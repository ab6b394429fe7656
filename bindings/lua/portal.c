/* portal.c - portals in Lua: the handle on one child actor that a nursery
 * hands out, to call it (run), collect a one-shot's result, cancel it, and
 * read its identity (name, uid, pid). A portal keeps its nursery alive and
 * is valid until that nursery is closed. */

#include <string.h>

#include "internal.h"

#define PORTAL_NAME "axle.Portal"

/* A portal's identity fields are filled in when it is made, and its
 * methods are found in a table: `p:run(...)` then costs the VM one table
 * lookup, not a call of an __index function. Each portal has its own
 * metatable, {__index = {name, uid, pid, run, result, cancel_actor}};
 * what marks a portal is the tag in its userdata (a pointer only this file
 * writes). */
static const char tag = 0;

typedef struct lportal {
  const char *tag;
  ax_portal *p;
  const int *closed; /* the nursery's flag; it outlives the portal */
  int own_module;    /* the actor runs this state's module */
  int cancelled;     /* cancel_actor was called */
} lportal;

/* The portal at idx, or a type error. */
static lportal *to_portal(lua_State *L, int idx) {
  lportal *lp = lua_touserdata(L, idx);
  if (!lp || lua_rawlen(L, idx) != sizeof *lp || lp->tag != &tag)
    axlua_error_argtype(L, idx, PORTAL_NAME);
  return lp;
}

/* The actor's name as the portal at idx keeps it in its fields: still
 * there when the nursery has closed and freed the runtime's portal. */
static const char *kept_name(lua_State *L, int idx) {
  lua_getmetatable(L, idx);
  lua_getfield(L, -1, "__index");
  lua_getfield(L, -1, "name");
  const char *s = lua_tostring(L, -1); /* the fields table keeps it */
  lua_pop(L, 3);
  return s ? s : "?";
}

static lportal *check_portal(lua_State *L, int idx) {
  lportal *lp = to_portal(L, idx);
  if (*lp->closed)
    axlua_error_throw(L, AX_K_USAGE_ERROR,
                      "the portal's nursery is closed: actor '%s' is gone; "
                      "use a portal only inside its nursery's scope",
                      kept_name(L, idx));
  return lp;
}

void axlua_portal_push(lua_State *L, ax_portal *p, const int *closed,
                       int nursery_idx, int own_module) {
  nursery_idx = lua_absindex(L, nursery_idx);
  luaL_checkstack(L, 7, NULL);
  lportal *lp = lua_newuserdatauv(L, sizeof *lp, 1);
  lp->tag = &tag;
  lp->p = p;
  lp->closed = closed;
  lp->own_module = own_module;
  lp->cancelled = 0;
  lua_pushvalue(L, nursery_idx);
  lua_setiuservalue(L, -2, 1); /* keep the nursery alive */
  lua_createtable(L, 0, 2);    /* its metatable */
  lua_pushliteral(L, PORTAL_NAME);
  lua_setfield(L, -2, "__name");
  lua_createtable(L, 0, 6); /* its fields */
  lua_pushstring(L, ax_portal_name(p));
  lua_setfield(L, -2, "name");
  lua_pushstring(L, ax_portal_uid(p));
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, ax_portal_pid(p));
  lua_setfield(L, -2, "pid");
  /* The methods too, copied: a lookup finds them in the first table. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tag);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

/* A call's outcome on L; r and e are freed either way. A scalar is
 * pushed here: portal:run is the hot path. */
static int push_result(lua_State *L, int rc, ax_data *r, ax_error *e) {
  if (rc < 0) return axlua_error_raise(L, rc, e);
  if (!axlua_value_push_scalar(L, ax_data_root(r)))
    return axlua_value_push_data(L, r);
  ax_data_free(r);
  return 1;
}

/* A call to an actor whose channel is closed: say why, and what to do. */
static int gone(lua_State *L, const lportal *lp, const char *method,
                const char *func) {
  if (lp->cancelled)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "%s('%s') after cancel_actor(): actor '%s' "
                             "was cancelled and has exited; start a new "
                             "actor to call it again",
                             method, func, ax_portal_name(lp->p));
  return axlua_error_throw(
      L, AX_K_ACTOR_EXITED, "actor '%s' (pid %d) has exited: cannot %s('%s')",
      ax_portal_name(lp->p), ax_portal_pid(lp->p), method, func);
}

/* run's options: a table whose only key is module, a string. */
static void check_run_opts(lua_State *L, int idx) {
  axlua_check_type(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING ||
        strcmp(lua_tostring(L, -2), "module") != 0)
      axlua_error_throw(L, AX_K_USAGE_ERROR,
                        "run: unknown option '%s' (known: module)",
                        luaL_tolstring(L, -2, NULL));
    if (lua_type(L, -1) != LUA_TSTRING)
      axlua_error_throw(L, AX_K_USAGE_ERROR,
                        "run: module must be a module spec string");
    lua_pop(L, 1);
  }
}

/* The function a method names at 2, with its options at 4 (run,
 * open_context, open_stream_from): its name, and in *ns the module it
 * belongs to (NULL: the callee's own). What it pushes stays on the stack
 * while the names are used. Inlined: portal:run is the hot path. */
__attribute__((always_inline)) static inline const char *target(
    lua_State *L, const lportal *lp, const char **ns) {
  lua_settop(L, 4); /* function_name pushes: absent arguments stay absent */
  const char *func;
  *ns = NULL;
  if (lua_type(L, 2) == LUA_TSTRING) { /* a name: the callee's own module */
    func = lua_tostring(L, 2);
  } else {
    func = axlua_loader_function_name(L, 2, ns);
    /* A reference names its module, which the callee must run or have
     * enabled (else ModuleNotExposed), unless it is the callee's own. */
    const char *mine = lp->own_module ? axlua_loader_spec(L) : NULL;
    if (*ns && mine && !strcmp(*ns, mine)) *ns = NULL;
  }
  if (!lua_isnil(L, 4)) {
    check_run_opts(L, 4);
    lua_getfield(L, 4, "module");
    if (!lua_isnil(L, -1)) *ns = lua_tostring(L, -1);
  }
  return func;
}

static int portal_run(lua_State *L) {
  lportal *lp = check_portal(L, 1);
  const char *ns, *func = target(L, lp, &ns);
  /* Encoded last, straight into the shared buffer: the runtime has read
   * (or copied) the bytes before the call blocks and another thread may
   * encode. */
  size_t len = 1;
  const void *args = "\xc0"; /* nil: no arguments at all */
  int at = lua_type(L, 3);
  if (at == LUA_TTABLE)
    args = axlua_value_encode(L, 3, lua_upvalueindex(1), &len);
  else if (at != LUA_TNIL)
    return axlua_error_argtype(L, 3, "table of arguments or nil");
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_run_bytes(lp->p, ns, func, args, len, &r, &e);
  if (len > AXLUA_KEEP_BYTES / 2) axlua_value_done(L, lua_upvalueindex(1));
  if (rc == AX_ECLOSED && !e) return gone(L, lp, "run", func);
  return push_result(L, rc, r, e);
}

/* Open a context (generator: a generator stream) as portal:open_context
 * and portal:open_stream_from do: the context object at *obj, owning the
 * context, and in *first or *stream what the open gave. */
static void open_common(lua_State *L, int generator, int *obj, ax_data **first,
                        ax_stream **stream) {
  lportal *lp = check_portal(L, 1);
  const char *ns, *func = target(L, lp, &ns);
  int at = lua_type(L, 3);
  if (at != LUA_TTABLE && at != LUA_TNIL)
    axlua_error_argtype(L, 3, "table of arguments or nil");
  /* The object first, so that nothing can raise between the open and its
   * owner taking the context. */
  axlua_context_push_caller(L, NULL);
  *obj = lua_gettop(L);
  ax_data *kw =
      at == LUA_TTABLE ? axlua_value_to_data(L, 3, lua_upvalueindex(1)) : NULL;
  ax_context *c = NULL;
  ax_error *e = NULL;
  int rc = generator
               ? ax_portal_open_stream_from(lp->p, ns, func, kw, &c, stream, &e)
               : ax_portal_open_context(lp->p, ns, func, kw, &c, first, &e);
  ax_data_free(kw);
  if (rc == AX_ECLOSED && !e)
    gone(L, lp, generator ? "open_stream_from" : "open_context", func);
  if (rc < 0) axlua_error_raise(L, rc, e);
  axlua_context_set_caller(L, *obj, c);
}

/* portal:open_context(fn, args, opts): the context object (to close) and
 * the callee's first value. */
static int portal_open_context(lua_State *L) {
  int obj;
  ax_data *first = NULL;
  open_common(L, 0, &obj, &first, NULL);
  lua_pushvalue(L, obj);
  push_result(L, 0, first, NULL);
  return 2;
}

/* portal:open_stream_from(fn, args, opts): for the generic for, the
 * stream (called for each value), and as its closing value the context,
 * whose closing cancels a producer that has not finished (a loop left by
 * break). */
static int portal_open_stream_from(lua_State *L) {
  int obj;
  ax_stream *s = NULL;
  open_common(L, 1, &obj, NULL, &s);
  axlua_context_set_generator(L, obj);
  axlua_stream_push(L, s);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, obj, 1); /* retired with the context */
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, obj);
  return 4;
}

static int portal_result(lua_State *L) {
  lportal *lp = check_portal(L, 1);
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_result(lp->p, &r, &e);
  if (rc == AX_ESTATE && !e)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "result() is for one-shot actors "
                             "(n:run_in_actor); actor '%s' is a daemon "
                             "(n:start_actor): call its functions with "
                             "run(), stop it with cancel_actor()",
                             ax_portal_name(lp->p));
  return push_result(L, rc, r, e);
}

static int portal_cancel_actor(lua_State *L) {
  lportal *lp = check_portal(L, 1);
  lp->cancelled = 1;
  int rc = ax_portal_cancel_actor(lp->p);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

void axlua_portal_init(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"run", portal_run},
      {"result", portal_result},
      {"open_context", portal_open_context},
      {"open_stream_from", portal_open_stream_from},
      {"cancel_actor", portal_cancel_actor},
      {NULL, NULL}};
  /* The registry keeps the methods under the tag's address; they share a
   * buffer to encode arguments in (upvalue 1). */
  lua_createtable(L, 0, 3);
  axlua_value_push_buffer(L);
  luaL_setfuncs(L, methods, 1);
  axlua_error_name_funcs(L, -1, "Portal", ':');
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tag);
}
