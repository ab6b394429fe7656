/* root.c - a root actor from the stock interpreter: axle.run(main, M) in a
 * script run by lua5.4 boots the process as the root actor and runs main
 * in it. Loaded as an actor's module instead, the script finds axle.run
 * doing nothing, so one file is both program and module. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct root_run {
  lua_State *T;
  int status;
} root_run;

static int root_task(void *arg) {
  root_run *r = arg;
  r->status = axlua_interrupt_pcall(r->T, lua_gettop(r->T) - 2, 0);
  r->status = axlua_nursery_close_left(r->T, 1, r->status, "main");
  return 0;
}

/* The file of the script that calls axle.run: where main is defined,
 * else the first Lua caller on the stack read from a file (axle.run may
 * be called through pcall or another C function). NULL if none. */
static const char *script_path(lua_State *L) {
  lua_Debug ar;
  lua_pushvalue(L, 1);
  if (lua_getinfo(L, ">S", &ar) && ar.source[0] == '@') return ar.source + 1;
  for (int level = 1; lua_getstack(L, level, &ar); level++)
    if (lua_getinfo(L, "S", &ar) && ar.source[0] == '@') return ar.source + 1;
  return NULL;
}

/* Set once this process has booted as a root actor through axle.run, from
 * the script root_src (a copy in static memory: the interpreter unloads
 * this library at exit, and a heap copy would then leak). */
static int ran;
static char root_src[4096];

/* The file whose top level (its main chunk) called axle.run, or NULL when
 * a function did (or pcall, or another C function). */
static const char *top_level_caller(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) &&
      !strcmp(ar.what, "main"))
    return ar.source[0] == '@' ? ar.source + 1 : "";
  return NULL;
}

/* axle.run(main[, module_table]): boot this process as the root actor and
 * run main in it. Inside an actor (the script loaded as an actor's module)
 * it does nothing, so one script serves as program and as module. */
int axlua_root_run(lua_State *L) {
  if (ran || axlua_loader_spec(L)) {
    /* In a process that already is an actor, a script's top level doing
     * nothing is a program that doubles as a module: loaded as the
     * actor's module, or required by code the actor runs. Called by a
     * function, or again by the root's own script, it is a mistake. */
    const char *top = top_level_caller(L);
    if (!ran && axlua_loader_loading()) return 0;
    if (top && !(ran && !strcmp(top, root_src))) return 0;
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "axle.run: this process already is an actor "
                             "(axle.run boots a root once per process, and "
                             "already ran); open nurseries in main for more "
                             "actors");
  }
  axlua_check_type(L, 1, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 2)) axlua_check_type(L, 2, LUA_TTABLE);
  const char *src = script_path(L);
  if (!src)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "axle.run: main is not defined in a script file, "
                             "so child actors could not load it; run a script "
                             "(lua5.4 script.lua) that defines main");
  ran = 1;
  snprintf(root_src, sizeof root_src, "%s", src);
  axlua_loader_adopt(L, src, 2);
  root_run r;
  r.T = lua_newthread(L);
  r.status = LUA_OK;
  lua_pushcfunction(r.T, axlua_error_msgh);
  lua_pushvalue(L, 1);
  lua_xmove(L, r.T, 1);
  ax_opts o = {.size = sizeof o, .name = "root"};
  int rc = ax_run(&o, root_task, &r);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  if (r.status != LUA_OK) {
    lua_xmove(r.T, L, 1);
    return lua_error(L);
  }
  return 0;
}
