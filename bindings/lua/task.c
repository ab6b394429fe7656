/* task.c - task nurseries and tasks in Lua: concurrency inside one actor.
 * Each task runs its function in a Lua thread of its own on an axle task's
 * stack; closing the nursery joins every task, and a failing task cancels
 * its siblings at once. axle.spawn finds the innermost task nursery the
 * calling Lua thread has open. */
#include <string.h>

#include "internal.h"

#define TASKS_MT "axle.TaskNursery"
#define TASK_MT "axle.Task"
/* The registry's key of the task nurseries each thread has open. */
static const char open_tasks_key = 0;

/* A task nursery owns a cancel scope; its tasks hang below it, so that a
 * failing task cancels its siblings (and the body) at once. */
typedef struct ltasks {
  ax_scope *s;
  int closed;
} ltasks;

typedef struct ltask {
  ax_task *t;
  lua_State *T;
  ltasks *group;
  int status;
  int joined;
} ltask;

static int task_entry(void *arg) {
  ltask *lt = arg;
  int nargs = lua_gettop(lt->T) - 2; /* msgh, fn, args... */
  lt->status = axlua_interrupt_pcall(lt->T, nargs, LUA_MULTRET);
  lt->status = axlua_nursery_close_left(lt->T, 1, lt->status, "(a task)");
  if (lt->status != LUA_OK && !axlua_error_is_cancelled(lt->T, -1))
    ax_scope_cancel(lt->group->s);
  return 0;
}

/* The stack of task nurseries the running Lua thread has open, which
 * axle.spawn uses: weak-keyed by thread. Leaves it on the stack. */
static void open_tasks_of(lua_State *L) {
  axlua_weak_table(L, &open_tasks_key);
  lua_pushthread(L);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushthread(L);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
}

int axlua_task_nursery(lua_State *L) {
  ltasks *tn = lua_newuserdatauv(L, sizeof *tn, 1);
  tn->closed = 1;
  tn->s = NULL;
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1); /* the tasks, in start order */
  luaL_setmetatable(L, TASKS_MT);
  open_tasks_of(L);
  lua_Integer slot = (lua_Integer)lua_rawlen(L, -1) + 1;
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, slot);
  /* The scope is opened last, once nothing can raise: a scope left open
   * by an error here would never be closed. */
  tn->s = ax_scope_open(AX_FOREVER);
  if (!tn->s) {
    lua_pushnil(L);
    lua_rawseti(L, -2, slot);
    return axlua_error_raise(L, AX_ENOTASK, NULL);
  }
  tn->closed = 0;
  lua_pop(L, 1);
  return 1;
}

/* tn:spawn(fn, ...) -> task. fn runs concurrently in a task of its own. */
static int tasks_spawn(lua_State *L) {
  ltasks *tn = axlua_check_udata(L, 1, TASKS_MT);
  if (tn->closed)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "the task nursery is closed: spawn tasks "
                             "while it is open, inside its scope");
  axlua_check_type(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  ltask *lt = lua_newuserdatauv(L, sizeof *lt, 1);
  int ud = lua_gettop(L);
  memset(lt, 0, sizeof *lt);
  lt->group = tn;
  lt->T = lua_newthread(L);
  lua_setiuservalue(L, ud, 1); /* anchor the thread */
  lua_pushcfunction(lt->T, axlua_error_msgh);
  lua_pushvalue(L, 2);
  lua_xmove(L, lt->T, 1);
  for (int i = 0; i < nargs; i++) {
    lua_pushvalue(L, 3 + i);
    lua_xmove(L, lt->T, 1);
  }
  /* In the nursery's list before it starts: the list keeps lt alive
   * while the task runs, and adding to it may raise. */
  luaL_setmetatable(L, TASK_MT);
  lua_getiuservalue(L, 1, 1);
  lua_Integer slot = (lua_Integer)lua_rawlen(L, -1) + 1;
  lua_pushvalue(L, ud);
  lua_rawseti(L, -2, slot);
  int rc = ax_task_start(task_entry, lt, &lt->t);
  if (rc < 0) {
    lua_pushnil(L);
    lua_rawseti(L, -2, slot);
    return axlua_error_raise(L, rc, NULL);
  }
  lua_pop(L, 1);
  return 1;
}

/* axle.spawn(fn, ...): tn:spawn into the innermost task nursery this Lua
 * thread has open. */
int axlua_task_spawn(lua_State *L) {
  axlua_check_type(L, 1, LUA_TFUNCTION);
  open_tasks_of(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "axle.spawn needs an open task nursery: "
                             "local tn <close> = axle.task_nursery()");
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  lua_insert(L, 1);
  return tasks_spawn(L);
}

/* Wait for lt; its results (or its error, raised) go on L. */
static int task_join_into(lua_State *L, ltask *lt, int raise) {
  if (!lt->joined) {
    ax_task_join(lt->t, NULL);
    lt->joined = 1;
  }
  if (lt->status != LUA_OK) {
    if (!raise) return -1;
    lua_pushvalue(lt->T, -1);
    lua_xmove(lt->T, L, 1);
    return lua_error(L);
  }
  int n = lua_gettop(lt->T) - 1;
  for (int i = 0; i < n; i++) lua_pushvalue(lt->T, 2 + i);
  lua_xmove(lt->T, L, n);
  return n;
}

static int task_join(lua_State *L) {
  return task_join_into(L, axlua_check_udata(L, 1, TASK_MT), 1);
}

static int task_cancel(lua_State *L) {
  ltask *lt = axlua_check_udata(L, 1, TASK_MT);
  if (!lt->joined) ax_task_cancel(lt->t);
  return 0;
}

/* Closing a task nursery joins every task; an error (the body's or a
 * task's) cancels the others first, and the first task error is raised. */
static int tasks_close(lua_State *L) {
  ltasks *tn = axlua_check_udata(L, 1, TASKS_MT);
  if (tn->closed) return 0;
  if (!lua_isnoneornil(L, 2)) ax_scope_cancel(tn->s);
  /* No longer the target of axle.spawn. */
  open_tasks_of(L);
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 1; i--) {
    lua_rawgeti(L, -1, i);
    int same = lua_touserdata(L, -1) == (void *)tn;
    lua_pop(L, 1);
    if (same) {
      lua_pushnil(L);
      lua_rawseti(L, -2, i);
      break;
    }
  }
  lua_pop(L, 1);
  lua_getiuservalue(L, 1, 1);
  int list = lua_gettop(L);
  int first_err = 0;
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, list); i++) {
    lua_rawgeti(L, list, i);
    ltask *lt = lua_touserdata(L, -1); /* the list holds tasks only */
    lua_pop(L, 1);
    int was_joined = lt->joined;
    if (task_join_into(L, lt, 0) < 0) {
      if (!was_joined && !first_err && !axlua_error_is_cancelled(lt->T, -1)) {
        lua_pushvalue(lt->T, -1);
        lua_xmove(lt->T, L, 1);
        first_err = lua_gettop(L);
      }
    } else {
      lua_settop(L, first_err ? first_err : list);
    }
  }
  tn->closed = 1;
  ax_scope_close(tn->s);
  if (first_err) {
    lua_pushvalue(L, first_err);
    return lua_error(L);
  }
  /* Cancelled from outside while it waited (a deadline, an outer scope,
   * SIGINT): the tasks were cancelled, and so is the code after the
   * nursery; it must not run on as if nothing happened. An error already
   * leaving the scope goes on by itself. */
  if (lua_isnoneornil(L, 2) && ax_cancelled())
    return axlua_error_raise(L, AX_ECANCELED, NULL);
  return 0;
}

void axlua_task_init(lua_State *L) {
  static const luaL_Reg tasks_m[] = {
      {"spawn", tasks_spawn}, {"close", tasks_close},
      {"__close", tasks_close}, {NULL, NULL}};
  axlua_new_class(L, TASKS_MT, tasks_m, 1);
  axlua_error_name_class(L, TASKS_MT);
  static const luaL_Reg task_m[] = {
      {"join", task_join}, {"cancel", task_cancel}, {NULL, NULL}};
  axlua_new_class(L, TASK_MT, task_m, 1);
  axlua_error_name_class(L, TASK_MT);
}
