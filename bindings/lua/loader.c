/* loader.c - the loader of "lua:" module specs, which the host finds as
 * axle_lua_loader. Each Lua module gets a lua_State of its own; each call
 * it serves runs in a Lua thread of its own (an idle one reused, else a new
 * one) on the stack of the task serving it, so that other calls run while
 * one is suspended. Also the module's side of naming functions: the name
 * another actor's loader will find. */
#include <limits.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define K_MODULE "axle.module" /* registry: the module table */
#define K_SPEC "axle.spec"     /* registry: this module's spec */

/* Idle threads kept per module: a call takes one instead of making a new
 * thread (and garbage) each time. More than this many at once are
 * made and dropped. */
#define IDLE_MAX 16

/* A thread and the registry reference that keeps it alive. */
typedef struct lthread {
  lua_State *T;
  int ref;
} lthread;

typedef struct lmod {
  lua_State *L;
  int module_ref; /* registry: the module table, by number */
  int nidle;
  lthread idle[IDLE_MAX];
} lmod;

static int protected_error_from(lua_State *L) {
  *(ax_error **)lua_touserdata(L, 2) = axlua_error_from(L, 1);
  return 0;
}

/* The ax_error for the error at the top of T, which a pcall (of a call or
 * of a module's chunk) ended with status. Reading a Lua error value may
 * itself raise (a metamethod, out of memory), so it is read protected. */
static ax_error *call_error(lua_State *T, int status) {
  if (status == LUA_ERRMEM)
    return ax_error_new_kind(AX_K_MEMORY_ERROR, "not enough memory in Lua");
  ax_error *e = NULL;
  lua_pushcfunction(T, protected_error_from);
  lua_pushvalue(T, -2);
  lua_pushlightuserdata(T, &e);
  if (lua_pcall(T, 2, 0, 0) == LUA_OK) return e;
  const char *msg = lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "";
  return ax_error_new("LuaError", "an error value that cannot be read: %s",
                      msg);
}

/* Whether the table at t holds the function at fn under a string key;
 * if so the key is pushed. */
static int find_key(lua_State *L, int t, int fn) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
      lua_pop(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* The functions of a module are looked up in its table, then among the
 * globals (serve_call below): a reference found there belongs to this
 * state's module. One found in a module that require loaded belongs to
 * that module. The name, and for a reference the module's spec, are left
 * on the stack, below which nothing changes. */
const char *axlua_loader_function_name(lua_State *L, int idx, const char **ns) {
  idx = lua_absindex(L, idx);
  *ns = NULL;
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
  if (lua_type(L, idx) != LUA_TFUNCTION && !axlua_context_is_fn(L, idx))
    axlua_error_argtype(L, idx, "function or function name");
  int base = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, K_SPEC);
  lua_getfield(L, LUA_REGISTRYINDEX, K_MODULE);
  int found = lua_istable(L, -1) && find_key(L, base + 2, idx);
  if (!found) {
    lua_pushglobaltable(L);
    lua_replace(L, base + 2);
    found = find_key(L, base + 2, idx);
  }
  if (found) {
    lua_replace(L, base + 2); /* spec, name */
    *ns = lua_tostring(L, base + 1);
    return lua_tostring(L, base + 2);
  }
  /* package.loaded: the modules this state required. */
  lua_settop(L, base);
  lua_getglobal(L, "package");
  if (lua_istable(L, -1) && lua_getfield(L, -1, "loaded") == LUA_TTABLE) {
    int loaded = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, loaded)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1) &&
          strcmp(lua_tostring(L, -2), "_G") != 0 &&
          find_key(L, lua_gettop(L), idx)) {
        /* module name, module table, function name */
        lua_pushfstring(L, "lua:%s", lua_tostring(L, -3));
        lua_copy(L, -1, base + 1);
        lua_copy(L, -2, base + 2);
        lua_settop(L, base + 2);
        *ns = lua_tostring(L, base + 1);
        return lua_tostring(L, base + 2);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, base);
  axlua_error_throw(L, AX_K_USAGE_ERROR,
                    "this function has no name another actor can find: "
                    "make it a field of the module's table (or a global), "
                    "or pass its name as a string");
  return NULL;
}

/* Module chunks running now: a nursery opened there belongs to no
 * function, and nothing would close it. */
static int loading;

int axlua_loader_loading(void) { return loading > 0; }

const char *axlua_loader_spec(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, K_SPEC);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* Find the file of a dotted module name: AXLE_LUA_PATH, then package.path.
 * Runs protected: (name) -> path or nil. */
static int search_module(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushstring(L, name);
  lua_getfield(L, -3, "path");
  const char *env = getenv("AXLE_LUA_PATH");
  if (env && *env) {
    lua_pushfstring(L, "%s;%s", env, lua_tostring(L, -1));
    lua_replace(L, -2);
  }
  const char *dir = getenv("AXLE_LUA_SCRIPT_DIR");
  if (dir && *dir) {
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                    lua_tostring(L, -1));
    lua_replace(L, -2);
  }
  lua_call(L, 2, 1);
  return 1;
}

/* The root script's folder is searched first, by it and by every actor
 * below it: remember it in the environment children inherit, and let
 * scripts require their siblings. */
static void note_script_dir(lua_State *L, const char *path) {
  char *real = realpath(path, NULL);
  if (!real) return;
  char *slash = strrchr(real, '/');
  if (slash) *slash = 0;
  if (!getenv("AXLE_LUA_SCRIPT_DIR")) setenv("AXLE_LUA_SCRIPT_DIR", real, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", real, real,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  free(real);
}

void axlua_loader_adopt(lua_State *L, const char *path, int module_idx) {
  lua_pushfstring(L, "lua:%s", path);
  lua_setfield(L, LUA_REGISTRYINDEX, K_SPEC);
  note_script_dir(L, path);
  if (lua_istable(L, module_idx)) {
    lua_pushvalue(L, module_idx);
    lua_setfield(L, LUA_REGISTRYINDEX, K_MODULE);
  }
}

/* The file for a module name; the string stays on the stack. */
static const char *resolve(lua_State *L, const char *name) {
  size_t n = strlen(name);
  if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".lua"))) {
    lua_pushstring(L, name);
    return lua_tostring(L, -1);
  }
  lua_pushcfunction(L, search_module);
  lua_pushstring(L, name);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return NULL;
  return lua_tostring(L, -1);
}

/* Lua's allocator (realloc and free, as luaL_newstate's), except that a
 * block of a megabyte or more, a large string received or built, asks for
 * huge pages: its first touch is then a fault per 2 MiB, not per 4 KiB,
 * which on a virtual machine made copying 32 MiB eight times slower. */
static void *alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(p);
    return NULL;
  }
  void *q = realloc(p, nsize);
#ifdef MADV_HUGEPAGE
  if (q && nsize >= (1u << 20)) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)q + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)q + nsize) & ~(page - 1);
    if (end > a) (void)madvise((void *)a, end - a, MADV_HUGEPAGE);
  }
#endif
  return q;
}

static int load_module(const char *name, void **out, ax_error **err) {
  lua_State *L = luaL_newstate();
  if (!L) return AX_ENOMEM;
  /* Compatible with the one it replaces: both use realloc and free. */
  lua_setallocf(L, alloc, NULL);
  luaL_openlibs(L);
  luaL_requiref(L, "axle", luaopen_axle, 0);
  lua_pop(L, 1);
  lua_pushfstring(L, "lua:%s", name);
  lua_setfield(L, LUA_REGISTRYINDEX, K_SPEC);
  const char *path = resolve(L, name);
  if (!path) {
    *err = ax_error_new_kind(AX_K_MODULE_NOT_FOUND,
                             "no Lua module '%s' in "
                             "AXLE_LUA_PATH or package.path",
                             name);
    lua_close(L);
    return AX_ELOAD;
  }
  note_script_dir(L, path);
  lua_pushcfunction(L, axlua_error_msgh);
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) {
    loading++;
    status = axlua_interrupt_load(L, -2);
    loading--;
  }
  if (status != LUA_OK) {
    if (status == LUA_ERRFILE)
      *err =
          ax_error_new_kind(AX_K_MODULE_NOT_FOUND, "%s", lua_tostring(L, -1));
    else if (status == LUA_ERRSYNTAX)
      *err = ax_error_new("SyntaxError", "%s", lua_tostring(L, -1));
    else
      *err = call_error(L, status);
    lua_close(L);
    return AX_ELOAD;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_pushglobaltable(L);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, K_MODULE);
  lmod *m = malloc(sizeof *m);
  if (!m) {
    lua_close(L);
    return AX_ENOMEM;
  }
  m->L = L;
  m->module_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  m->nidle = 0;
  lua_settop(L, 0);
  *out = m;
  return 0;
}

/* (pack, values...): one value as it is, several as an array. */
static int protected_pack(lua_State *L) {
  ax_pack *p = lua_touserdata(L, 1);
  int n = lua_gettop(L) - 1;
  if (n == 1)
    axlua_value_pack(L, 2, p);
  else
    axlua_value_pack_array(L, 2, n, p);
  return 0;
}

static int new_thread(lua_State *L) {
  lthread *t = lua_touserdata(L, 1);
  t->T = lua_newthread(L);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

/* A thread for one call, with the message handler at index 1: an idle
 * one, or a new one anchored in the registry (made protected: out of
 * memory there is the call's error, not the actor's end). */
static int thread_take(lmod *m, lthread *t) {
  if (m->nidle > 0) {
    *t = m->idle[--m->nidle];
  } else {
    lua_pushcfunction(m->L, new_thread);
    lua_pushlightuserdata(m->L, t);
    if (lua_pcall(m->L, 1, 0, 0) != LUA_OK) {
      lua_pop(m->L, 1);
      return AX_ENOMEM;
    }
  }
  lua_pushcfunction(t->T, axlua_error_msgh);
  return 0;
}

/* Back to the pool once the call is over. pcall leaves the thread usable
 * even after an error; one in any other state is dropped. An idle thread
 * has an empty stack, so Lua code that kept it finds it dead if resumed. */
static void thread_give(lmod *m, lthread t) {
  if (lua_status(t.T) == LUA_OK && m->nidle < IDLE_MAX) {
    lua_settop(t.T, 0);
    m->idle[m->nidle++] = t;
  } else {
    luaL_unref(m->L, LUA_REGISTRYINDEX, t.ref);
  }
}

/* Pack the function's nres results, at the top of T: none is nil, one
 * is itself, several go as an array (nils kept). One scalar cannot raise;
 * anything else may (a function, a cycle), so it is packed protected. */
static int return_result(lua_State *T, ax_ctx *ctx, const char *func,
                         int nres) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  if (nres == 0) {
    ax_pack_nil(p);
    return ax_ctx_return(ctx, p);
  }
  int t = nres == 1 ? lua_type(T, -1) : LUA_TNONE;
  if (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER ||
      t == LUA_TSTRING) {
    axlua_value_pack(T, -1, p);
    return ax_ctx_return(ctx, p);
  }
  if (!lua_checkstack(T, 2)) {
    ax_pack_free(p);
    return ax_ctx_fail(ctx, ax_error_kind_name(AX_K_MEMORY_ERROR),
                       "not enough memory for %s()'s results", func);
  }
  lua_pushcfunction(T, protected_pack);
  lua_pushlightuserdata(T, p);
  lua_rotate(T, -(nres + 2), 2); /* below the results */
  if (lua_pcall(T, nres + 1, 0, 0) == LUA_OK) return ax_ctx_return(ctx, p);
  ax_pack_free(p);
  if (lua_istable(T, -1)) lua_getfield(T, -1, "message");
  return ax_ctx_fail(
      ctx, "TypeError",
      "%s() returned a value that cannot be "
      "sent: %s",
      func, lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "?");
}

/* What runs after each served function returns: nursery.c's closing of
 * the nurseries it left open, registered from above. */
static int (*after_call)(lua_State *T, int base, int status, const char *func);

void axlua_loader_after_call(int (*fn)(lua_State *T, int base, int status,
                                       const char *func)) {
  after_call = fn;
}

/* What serve_call needs of a served call. */
typedef struct call_in {
  lmod *m;
  ax_ctx *ctx;
  const char *func;
  const ax_val *args;
  int callee_ref; /* a context function's context object, or LUA_NOREF */
  int kind;       /* ax_ctx_is_context: 0, 1 a context, 2 a generator */
  ax_stream *gen; /* a generator's stream, once open */
} call_in;

/* The registry's table of the generator calls running, by thread: where
 * axle.yield finds its stream. */
static const char generators = 0;

static void set_generator(lua_State *T, call_in *c) {
  axlua_weak_table(T, &generators);
  lua_pushthread(T);
  if (c)
    lua_pushlightuserdata(T, c);
  else
    lua_pushnil(T);
  lua_rawset(T, -3);
  lua_pop(T, 1);
}

/* Send v (at idx) on the generator call c's stream. */
static void generator_send(lua_State *L, call_in *c, int idx) {
  idx = lua_absindex(L, idx);
  if (!c->gen) {
    int rc = ax_ctx_open_stream(c->ctx, NULL, &c->gen);
    if (rc < 0) axlua_error_raise(L, rc, NULL);
  }
  int rc = axlua_stream_send_value(L, c->gen, idx, "axle.yield");
  if (rc == AX_ECLOSED)
    axlua_error_throw(L, AX_K_CANCELLED,
                      "the consumer of generator '%s' has gone", c->func);
  if (rc < 0) axlua_error_raise(L, rc, NULL);
}

int axlua_loader_yield(lua_State *L) {
  lua_settop(L, 1);
  axlua_weak_table(L, &generators);
  lua_pushthread(L);
  lua_rawget(L, -2);
  call_in *c = lua_touserdata(L, -1);
  if (!c)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "axle.yield: only a function that a caller "
                             "opened with portal:open_stream_from yields "
                             "values, and only in its own thread (not in a "
                             "coroutine of its own)");
  generator_send(L, c, 1);
  return 0;
}

/* Raise the error value of an axle error of kind with msg. */
static int raise_kind(lua_State *L, int kind, const char *msg) {
  axlua_error_push(L, ax_error_new_kind(kind, "%s", msg));
  return lua_error(L);
}

/* The function of the module table at idx whose name is closest to name,
 * for a "did you mean", or NULL. The names are the table's keys (no code
 * runs meanwhile to change it); their array is left on the stack. */
static const char *closest_function(lua_State *T, int idx, const char *name) {
  if (!lua_istable(T, idx)) return NULL;
  size_t n = 0;
  for (int pass = 0; pass < 2; pass++) {
    const char **names =
        pass ? lua_newuserdatauv(T, n * sizeof *names, 0) : NULL;
    size_t k = 0;
    lua_pushnil(T);
    while (lua_next(T, idx)) {
      if (lua_type(T, -2) == LUA_TSTRING && lua_isfunction(T, -1)) {
        if (names && k < n) names[k] = lua_tostring(T, -2);
        k++;
      }
      lua_pop(T, 1);
    }
    if (!pass) n = k;
    if (!n) return NULL;
    if (pass) return ax_closest_name(name, names, n < k ? n : k);
  }
  return NULL;
}

/* The whole call, run protected in its thread: find the function, turn
 * the arguments into Lua values, call it. Finding (a module table's
 * metamethods) and converting (a map key Lua cannot hold, more arguments
 * than a function can take, out of memory) may raise as the function
 * itself may: each error is the call's, and the actor goes on serving. */
static int serve_call(lua_State *T) {
  call_in *c = lua_touserdata(T, 1);
  if (c->kind == 2) set_generator(T, c);
  /* The stack: c, the module table, the function, its arguments; the
   * first two stay below the call, which takes only what is above. */
  lua_rawgeti(T, LUA_REGISTRYINDEX, c->m->module_ref);
  /* A context function (axle.context, a table) is unwrapped, and gets
   * its context first; a plain function costs no more than the test. */
  int is_context_fn = 0;
  if (lua_getfield(T, 2, c->func) != LUA_TFUNCTION &&
      !(is_context_fn = axlua_context_unwrap(T, -1))) {
    lua_pop(T, 1);
    if (lua_getglobal(T, c->func) != LUA_TFUNCTION)
      is_context_fn = axlua_context_unwrap(T, -1);
  }
  if (!lua_isfunction(T, -1)) {
    const char *close = closest_function(T, 2, c->func);
    lua_pushfstring(T, "Lua module '%s' has no function '%s'%s%s%s",
                    ax_ctx_module(c->ctx), c->func,
                    close ? "; did you mean '" : "", close ? close : "",
                    close ? "'?" : "");
    return raise_kind(T, AX_K_FUNCTION_NOT_FOUND, lua_tostring(T, -1));
  }
  int nargs = 0;
  if (is_context_fn && c->kind == 2) {
    /* Its started would be the second: the runtime sent the first. */
    lua_pushfstring(T,
                    "'%s' is declared with axle.context: open it with "
                    "portal:open_context; a generator for "
                    "portal:open_stream_from is a plain function that calls "
                    "axle.yield(v) or returns an iterator",
                    c->func);
    return raise_kind(T, AX_K_USAGE_ERROR, lua_tostring(T, -1));
  }
  /* The registry keeps the context object, so that the call's end can
   * retire it, however the function ends. */
  if (is_context_fn) {
    axlua_context_push_callee(T, c->ctx, c->func);
    lua_pushvalue(T, -1);
    c->callee_ref = luaL_ref(T, LUA_REGISTRYINDEX);
    nargs = 1;
  } else if (c->kind == 1) {
    lua_pushfstring(T,
                    "'%s' is not a context function: declare it with "
                    "axle.context(fn) to open it with portal:open_context",
                    c->func);
    return raise_kind(T, AX_K_USAGE_ERROR, lua_tostring(T, -1));
  }
  if (ax_val_type(c->args) == AX_T_ARRAY) {
    uint32_t n = ax_val_len(c->args);
    /* Lua's stack holds about a million values, arguments included. */
    if (n >= INT_MAX - 8 || !lua_checkstack(T, (int)n + 8)) {
      lua_pushfstring(T,
                      "%I positional arguments: more than a Lua "
                      "function can take",
                      (lua_Integer)n);
      return raise_kind(T, AX_K_TYPE_ERROR, lua_tostring(T, -1));
    }
    for (uint32_t i = 0; i < n; i++) axlua_value_push(T, ax_val_at(c->args, i));
    nargs += (int)n;
  } else if (c->args && ax_val_type(c->args) != AX_T_NIL) {
    axlua_value_push(T, c->args);
    nargs++;
  }
  lua_call(T, nargs, LUA_MULTRET);
  if (c->kind == 2) {
    /* A generator that returned an iterator: its values go on the
     * stream until it gives nil; the function's results are not sent. */
    if (lua_gettop(T) >= 3 && lua_isfunction(T, 3)) {
      for (;;) {
        lua_pushvalue(T, 3);
        lua_call(T, 0, 1);
        if (lua_isnil(T, -1)) break;
        generator_send(T, c, -1);
        lua_pop(T, 1);
      }
    }
    lua_settop(T, 2);
  }
  return lua_gettop(T) - 2;
}

static int call_function(void *mod, ax_ctx *ctx, const char *func,
                         const ax_val *args) {
  lmod *m = mod;
  /* A thread of its own: other calls run while this one is suspended. */
  lthread t;
  if (thread_take(m, &t) < 0)
    return ax_ctx_fail(ctx, ax_error_kind_name(AX_K_MEMORY_ERROR),
                       "not enough memory for a Lua thread");
  lua_State *T = t.T;
  call_in c = {m, ctx, func, args, LUA_NOREF, ax_ctx_is_context(ctx), NULL};
  lua_pushcfunction(T, serve_call);
  lua_pushlightuserdata(T, &c);
  int rc, status = axlua_interrupt_pcall(T, 1, LUA_MULTRET);
  if (c.kind == 2) set_generator(T, NULL);
  if (c.callee_ref != LUA_NOREF) {
    lua_rawgeti(T, LUA_REGISTRYINDEX, c.callee_ref);
    axlua_context_end_callee(T, -1);
    lua_pop(T, 1);
    luaL_unref(T, LUA_REGISTRYINDEX, c.callee_ref);
  }
  if (after_call) status = after_call(T, 1, status, func);
  if (status == LUA_OK)
    rc = return_result(T, ctx, func, lua_gettop(T) - 1);
  else
    rc = ax_ctx_raise(ctx, call_error(T, status));
  thread_give(m, t);
  return rc;
}

static void unload_module(void *mod) {
  lmod *m = mod;
  lua_close(m->L);
  free(m);
}

__attribute__((visibility("default"))) const ax_loader axle_lua_loader = {
    sizeof(ax_loader), "lua", load_module, call_function,
    unload_module,     0,     NULL};
