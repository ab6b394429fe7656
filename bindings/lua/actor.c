/* actor.c - this actor as its Lua code sees it: its identity
 * (axle.current_actor), its log level and the CPUs it may use, and the
 * {name, uid, pid} table that names any actor, which error values use for
 * their source and relay path too. */
#include <unistd.h>

#include "internal.h"

void axlua_actor_push(lua_State *L, const char *name, const char *uid,
                      int pid) {
  lua_createtable(L, 0, 3);
  axlua_set_str(L, "name", name);
  axlua_set_str(L, "uid", uid);
  lua_pushinteger(L, pid);
  lua_setfield(L, -2, "pid");
}

int axlua_actor_current(lua_State *L) {
  axlua_actor_push(L, ax_actor_name(), ax_actor_uid(), (int)getpid());
  const char *parent = ax_actor_parent_uid();
  if (parent && *parent) axlua_set_str(L, "parent", parent); /* nil: root */
  return 1;
}

int axlua_actor_loglevel(lua_State *L) {
  lua_pushinteger(L, ax_loglevel());
  return 1;
}

int axlua_actor_cpu_count(lua_State *L) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}
