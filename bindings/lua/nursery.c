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
  int tracked; /* in the registry's table of open nurseries */
  int seq;     /* opening order: leftovers close newest first */
} axlua_nursery;

/* The registry's table of open nurseries, each with the thread that opened
 * it: one a function leaves open is closed when the function returns
 * (axlua_nursery_close_left). Its keys are weak: a nursery no function
 * will close (a coroutine's) is collected, and its __gc cancels it. nopen
 * counts them across states, so that a call that opened none pays one
 * test. */
static const char open_key = 0;
static int nopen, next_seq;

/* Forget the nursery at idx (open no more); raises nothing. */
static void untrack(lua_State *L, int idx, axlua_nursery *ln) {
  if (!ln->tracked) return;
  ln->tracked = 0;
  nopen--;
  idx = lua_absindex(L, idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &open_key) == LUA_TTABLE) {
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
}

static axlua_nursery *check_nursery(lua_State *L, int idx) {
  axlua_nursery *ln = axlua_check_udata(L, idx, NURSERY_MT);
  if (ln->closed)
    axlua_error_throw(L, AX_K_USAGE_ERROR,
                      "the nursery is closed: start actors while it is open, "
                      "inside its scope");
  return ln;
}

/* Close the nursery at idx: wait for the children; cancel them first when
 * failing. */
static int nursery_finish(lua_State *L, int idx, axlua_nursery *ln,
                          int failing) {
  if (ln->closed) return 0;
  untrack(L, idx, ln);
  if (failing) ax_nursery_cancel(ln->n);
  /* Other tasks may use it (cancel it, call its portals) until the close
   * returns, which is when the runtime frees it. */
  ax_error *e = NULL;
  int rc = ax_nursery_close(ln->n, &e);
  ln->closed = 1;
  if (rc == AX_EREMOTE) return axlua_error_raise(L, rc, e);
  if (rc < 0 && !failing) return axlua_error_raise(L, rc, e);
  ax_error_free(e);
  return 0;
}

static int nursery_close(lua_State *L) {
  axlua_nursery *ln = axlua_check_udata(L, 1, NURSERY_MT);
  return nursery_finish(L, 1, ln, !lua_isnoneornil(L, 2));
}

static int nursery_gc(lua_State *L) {
  axlua_nursery *ln = axlua_check_udata(L, 1, NURSERY_MT);
  /* Collected unclosed (its state closed, or a coroutine that opened it
   * dropped): take the children down, if the runtime still runs; nothing
   * can wait here. */
  if (ln->tracked) { /* its entry went with it */
    ln->tracked = 0;
    nopen--;
  }
  if (!ln->closed && ax_loop_fd() >= 0) {
    ax_log(AX_LOG_ERROR, "a Lua nursery was never closed; cancelling it");
    ax_nursery_cancel(ln->n);
  }
  return 0;
}

/* The block form's message handler: a table gets a traceback of where it
 * was raised (as every handler gives one), and stays the same value;
 * anything else is left as it is. */
static int block_msgh(lua_State *L) {
  if (lua_istable(L, 1)) return axlua_error_msgh(L);
  lua_settop(L, 1);
  return 1;
}

static int block_body(lua_State *L) {
  lua_call(L, 1, 0);
  return 0;
}

int axlua_nursery_open(lua_State *L) {
  int fn = lua_isfunction(L, 1);
  if (!fn && !lua_isnone(L, 1))
    return axlua_error_argtype(L, 1, "function or nothing");
  /* At a module's top level no task runs, and nothing could close it. */
  if (!ax_in_task() || axlua_loader_loading())
    return axlua_error_raise(L, AX_ENOTASK, NULL);
  /* Where it is opened, for the warning if it is left open. */
  if (!fn) {
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) &&
        ar.currentline > 0)
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    else
      lua_pushliteral(L, "?");
  }
  axlua_nursery *ln = lua_newuserdatauv(L, sizeof *ln, 1);
  ln->closed = 1;
  ln->tracked = 0;
  luaL_setmetatable(L, NURSERY_MT);
  int nursery = lua_gettop(L);
  /* Tracked before it is opened: what allocates comes first, so that out
   * of memory leaves no nursery open that nothing would close. */
  if (!fn) {
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, nursery, 1);
    axlua_weak_table(L, &open_key);
    lua_pushvalue(L, nursery);
    lua_pushthread(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    ln->tracked = 1;
    ln->seq = ++next_seq;
    nopen++;
  }
  int rc = ax_nursery_open(&ln->n);
  if (rc < 0) {
    untrack(L, nursery, ln);
    return axlua_error_raise(L, rc, NULL);
  }
  ln->closed = 0;
  if (!fn) return 1;
  /* Block form: run fn(n), then close; an error cancels the children.
   * The error leaves as the value it was raised with. */
  lua_pushcfunction(L, block_msgh);
  lua_pushcfunction(L, block_body);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, nursery);
  int status = lua_pcall(L, 2, 0, nursery + 1);
  nursery_finish(L, nursery, ln, status != LUA_OK);
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
  return axlua_error_throw(L, AX_K_USAGE_ERROR,
                           "%s: loglevel must be 1 to 4 or one of error, "
                           "warn, info, debug; got %s",
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
  axlua_check_type(L, idx, LUA_TTABLE);
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (!strcmp(k, "module")) {
      if (lua_type(L, -1) != LUA_TSTRING)
        axlua_error_throw(L, AX_K_USAGE_ERROR, "%s: module must be a string",
                          fn);
      o->module = lua_tostring(L, -1);
    } else if (!strcmp(k, "loglevel")) {
      o->loglevel = read_loglevel(L, fn);
    } else if (!strcmp(k, "enable_modules")) {
      if (!lua_istable(L, -1))
        axlua_error_throw(L, AX_K_USAGE_ERROR,
                          "%s: enable_modules must be a list of module specs",
                          fn);
      size_t n = lua_rawlen(L, -1);
      if (n > max)
        axlua_error_throw(L, AX_K_USAGE_ERROR, "%s: at most %d enable_modules",
                          fn, (int)max);
      for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
          axlua_error_throw(L, AX_K_USAGE_ERROR,
                            "%s: enable_modules[%d] must be a string", fn,
                            (int)i + 1);
        enable[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
      }
      o->enable = enable;
      o->nenable = n;
    } else if (!(with_name && !strcmp(k, "name"))) {
      axlua_error_throw(
          L, AX_K_USAGE_ERROR,
          "%s: unknown option '%s' (known: module, "
          "enable_modules, loglevel%s)",
          fn, lua_type(L, -2) == LUA_TSTRING ? k : luaL_typename(L, -2),
          with_name ? ", name" : "");
    }
    lua_pop(L, 1);
  }
}

/* A start that failed: a start in the wrong state (a cancelled or closed
 * nursery) is the caller's mistake, said where it was made. */
static int start_failed(lua_State *L, int rc, ax_error *e) {
  if (rc == AX_ESTATE && e) {
    lua_pushstring(L, ax_error_message(e));
    ax_error_free(e);
    return axlua_error_throw(L, AX_K_USAGE_ERROR, "%s", lua_tostring(L, -1));
  }
  return axlua_error_raise(L, rc, e);
}

/* Whether an actor started with module spec runs this state's module. */
static int own_module(lua_State *L, const char *spec) {
  const char *mine = axlua_loader_spec(L);
  return spec && mine && !strcmp(spec, mine);
}

static int start_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  const char *name = axlua_check_string(L, 2);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 3, &o, enable, 32, "start_actor", 0);
  if (!o.module)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "start_actor: no module to run: give "
                             "opts.module (this code runs in no module)");
  ax_portal *p;
  ax_error *e = NULL;
  int rc = ax_start_actor(ln->n, name, &o, &p, &e);
  if (rc < 0) return start_failed(L, rc, e);
  axlua_portal_push(L, p, &ln->closed, 1, own_module(L, o.module));
  return 1;
}

static int run_in_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  lua_settop(L, 4); /* function_name pushes: absent arguments stay absent */
  const char *ns;
  const char *func = axlua_loader_function_name(L, 2, &ns);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 4, &o, enable, 32, "run_in_actor", 1);
  /* A reference runs in an actor of its own module; one given a module
   * of its own must be that module's function (tractor's rule). */
  int explicit_module = 0;
  if (lua_istable(L, 4)) {
    explicit_module = lua_getfield(L, 4, "module") != LUA_TNIL;
    lua_pop(L, 1);
  }
  if (ns && !explicit_module) {
    o.module = ns;
  } else if (ns && strcmp(ns, o.module) != 0) {
    axlua_error_push(
        L, ax_error_new_kind(
               AX_K_MODULE_NOT_EXPOSED,
               "run_in_actor: %s() belongs to module '%s', not to the actor's "
               "module '%s'; pass the name \"%s\" to run the actor's own",
               func, ns, o.module, func));
    return lua_error(L);
  }
  const char *name = func;
  if (lua_istable(L, 4)) {
    /* Left on the stack: the string must live until the call returns. */
    lua_getfield(L, 4, "name");
    if (lua_isstring(L, -1)) name = lua_tostring(L, -1);
  }
  if (!lua_istable(L, 3) && !lua_isnil(L, 3))
    return axlua_error_argtype(L, 3, "table of arguments or nil");
  /* Encoded last: nothing may raise while args is ours to free. No
   * arguments go as nil, so that the function gets none. */
  ax_data *args = axlua_value_to_data(L, 3, 0);
  ax_portal *p;
  ax_error *e = NULL;
  int rc = o.module ? ax_run_in_actor(ln->n, name, &o, func, args, &p, &e)
                    : AX_EINVAL;
  ax_data_free(args);
  if (rc < 0) return start_failed(L, rc, e);
  axlua_portal_push(L, p, &ln->closed, 1, own_module(L, o.module));
  return 1;
}

/* Cancelling a closed nursery does nothing: its children are gone. */
static int nursery_cancel(lua_State *L) {
  axlua_nursery *ln = axlua_check_udata(L, 1, NURSERY_MT);
  if (!ln->closed) ax_nursery_cancel(ln->n);
  return 0;
}

/* Close the nursery at 1, left open by the function named at 2, cancelling
 * it first. */
static int close_one_left(lua_State *L) { /* (nursery, name, raised) */
  axlua_nursery *ln = axlua_check_udata(L, 1, NURSERY_MT);
  lua_getiuservalue(L, 1, 1);
  ax_log(AX_LOG_WARN,
         "function '%s' %s with a nursery still open "
         "(opened at %s): cancelling and closing it; open "
         "nurseries as `local n <close> = axle.open_nursery()`",
         lua_tostring(L, 2),
         lua_toboolean(L, 3) ? "raised an error" : "returned",
         lua_tostring(L, -1));
  return nursery_finish(L, 1, ln, 1);
}

/* Runs protected in the thread T, with the function's name at 1 and
 * whether it raised at 2: close
 * T's nurseries still open, each even when another fails; raises the
 * first failure. */
static int close_left(lua_State *T) {
  if (lua_rawgetp(T, LUA_REGISTRYINDEX, &open_key) != LUA_TTABLE) return 0;
  int open = lua_gettop(T);
  lua_newtable(T);
  int left = open + 1, n = 0;
  lua_pushnil(T);
  while (lua_next(T, open)) {
    if (lua_tothread(T, -1) == T) {
      /* Insertion by opening order, newest first: scopes close in the
       * reverse of their opening. */
      int seq = ((axlua_nursery *)lua_touserdata(T, -2))->seq, at = ++n;
      for (; at > 1; at--) {
        lua_rawgeti(T, left, at - 1);
        int before = ((axlua_nursery *)lua_touserdata(T, -1))->seq;
        if (before > seq) {
          lua_pop(T, 1);
          break;
        }
        lua_rawseti(T, left, at);
      }
      lua_pushvalue(T, -2);
      lua_rawseti(T, left, at);
    }
    lua_pop(T, 1);
  }
  int failed = 0;
  for (int i = 1; i <= n; i++) {
    lua_pushcfunction(T, close_one_left);
    lua_rawgeti(T, left, i);
    lua_pushvalue(T, 1);
    lua_pushvalue(T, 2);
    if (lua_pcall(T, 3, 0, 0) != LUA_OK) {
      if (!failed)
        failed = lua_gettop(T);
      else
        lua_pop(T, 1);
    }
  }
  if (failed) {
    lua_pushvalue(T, failed);
    return lua_error(T);
  }
  return 0;
}

int axlua_nursery_close_left(lua_State *T, int base, int status,
                             const char *func) {
  if (nopen == 0) return status;
  lua_pushcfunction(T, close_left);
  lua_pushstring(T, func);
  lua_pushboolean(T, status != LUA_OK);
  int rc = lua_pcall(T, 2, 0, 0);
  if (rc == LUA_OK) return status;
  /* A child's failure replaces the function's results, or its error, as
   * in a nursery's scope: that error is often the Cancelled the failure
   * caused. */
  lua_insert(T, base + 1);
  lua_settop(T, base + 1);
  return rc;
}

void axlua_nursery_init(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"start_actor", start_actor}, {"run_in_actor", run_in_actor},
      {"cancel", nursery_cancel},   {"close", nursery_close},
      {"__close", nursery_close},   {"__gc", nursery_gc},
      {NULL, NULL}};
  axlua_new_class(L, NURSERY_MT, methods, 1);
  axlua_loader_after_call(axlua_nursery_close_left);
  axlua_error_name_class(L, NURSERY_MT);
}
