/* lualimit.c - a Lua C module for tests: makes allocations of the Lua
 * state that loads it fail from the Nth from now on, as Lua's own test
 * suite does with its allocator, so that every allocation of a served
 * call can be made to fail in turn, under valgrind too (which replaces
 * malloc, so a failing malloc cannot be preloaded beneath it). A run of
 * FAILS failures, not one: Lua retries a failed allocation once after an
 * emergency collection. Then allocations succeed again, so the actor can
 * go on serving.
 *   limit.arm(n)   allocations fail from the nth from now (0: the next)
 *   limit.hit()    whether one has failed since, and disarm */
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>

static lua_Alloc real;
static void *real_ud;
#define FAILS 4
static long countdown = -1; /* allocations to go; -1: not armed */
static int fails;           /* failures left in the run */
static int hit;

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  /* Only allocations count: freeing and shrinking never fail. */
  if (nsize > 0 && (!ptr || nsize > osize) && countdown >= 0 &&
      (countdown == 0 || countdown-- == 0)) {
    if (fails-- > 0) {
      hit = 1;
      return NULL;
    }
    countdown = -1;
  }
  return real(real_ud, ptr, osize, nsize);
}

static int arm(lua_State *L) {
  countdown = (long)luaL_checkinteger(L, 1);
  fails = FAILS;
  hit = 0;
  return 0;
}

static int was_hit(lua_State *L) {
  lua_pushboolean(L, hit);
  countdown = -1;
  hit = 0;
  return 1;
}

int luaopen_lualimit(lua_State *L);
int luaopen_lualimit(lua_State *L) {
  if (!real) {
    /* The state frees through failing_alloc until lua_close is done,
     * after Lua has unloaded its C modules: this one must stay. */
    Dl_info info;
    if (!dladdr((void *)failing_alloc, &info) ||
        !dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE))
      return luaL_error(L, "lualimit cannot pin itself");
    real = lua_getallocf(L, &real_ud);
    lua_setallocf(L, failing_alloc, NULL);
  }
  luaL_Reg fns[] = {{"arm", arm}, {"hit", was_hit}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
