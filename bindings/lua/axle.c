/* axle.c - luaopen_axle, the entry point of require "axle": the metatables
 * of every kind of object the module hands out, and the module table with
 * all its functions. The loader opens it in each module's state; under the
 * stock interpreter, require finds it in axle.so. */
#include "internal.h"

__attribute__((visibility("default"))) int luaopen_axle(lua_State *L) {
  axlua_error_init(L);
  axlua_nursery_init(L);
  axlua_portal_init(L);
  axlua_scope_init(L);
  axlua_task_init(L);
  axlua_stream_init(L);
  axlua_context_init(L);
  static const luaL_Reg funcs[] = {{"open_nursery", axlua_nursery_open},
                                   {"context", axlua_context_declare},
                                   {"yield", axlua_loader_yield},
                                   {"sleep", axlua_scope_sleep},
                                   {"current_actor", axlua_actor_current},
                                   {"cancel_scope", axlua_scope_open},
                                   {"move_on_after", axlua_scope_move_on_after},
                                   {"fail_after", axlua_scope_fail_after},
                                   {"task_nursery", axlua_task_nursery},
                                   {"spawn", axlua_task_spawn},
                                   {"now", axlua_scope_now},
                                   {"cpu_count", axlua_actor_cpu_count},
                                   {"loglevel", axlua_actor_loglevel},
                                   {"run", axlua_root_run},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  axlua_error_name_funcs(L, -1, "axle", '.');
  lua_pushstring(L, ax_version());
  lua_setfield(L, -2, "version");
  return 1;
}
