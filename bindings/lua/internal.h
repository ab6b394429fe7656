/* internal.h - what the Lua binding's files share, grouped by file. A name
 * defined in FILE.c starts with axlua_FILE_; the two inline helpers below
 * start with plain axlua_. None of them is exported: the module exports
 * luaopen_axle and axle_lua_loader only (hidden visibility by default). */
#ifndef AXLUA_INTERNAL_H
#define AXLUA_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>

#include "axle.h"

/* ----------------------------------------------------------- helpers */

/* t[k] = v for the table on top of the stack. */
static inline void axlua_set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* Push the registry's table under key (an address of the caller's), made
 * on first use with weak keys: what it holds about an object goes with
 * the object. */
static inline void axlua_weak_table(lua_State *L, const void *key) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* A metatable named name with methods; self_index makes it its own
 * __index (methods looked up on the object). */
static inline void axlua_new_class(lua_State *L, const char *name,
                                   const luaL_Reg *methods, int self_index) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, methods, 0);
  if (self_index) {
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

/* ------------------------------------------------------------ axle.c */

/* The entry point of require "axle"; the loader opens it in every state. */
__attribute__((visibility("default"))) int luaopen_axle(lua_State *L);

/* ---------------------------------------------------------- stream.c */

void axlua_stream_init(lua_State *L);
/* A stream object for s, which its context owns. */
void axlua_stream_push(lua_State *L, ax_stream *s);
/* Its context ended: the object at idx raises from now on. */
void axlua_stream_retire(lua_State *L, int idx);

/* --------------------------------------------------------- context.c */

void axlua_context_init(lua_State *L);
int axlua_context_declare(lua_State *L); /* axle.context */
/* Whether the value at idx is a context function (axle.context); unwrap
 * replaces it with its function and says whether it was one. */
int axlua_context_is_fn(lua_State *L, int idx);
int axlua_context_unwrap(lua_State *L, int idx);
/* The context object a context function gets first; valid until
 * axlua_context_end_callee (the call ended). */
void axlua_context_push_callee(lua_State *L, ax_ctx *ctx, const char *func);
void axlua_context_end_callee(lua_State *L, int idx);
/* The caller's to-be-closed object for c, which it owns from now on. */
void axlua_context_push_caller(lua_State *L, ax_context *c);
void axlua_context_set_caller(lua_State *L, int idx, ax_context *c);
/* The context at idx is a generator's: closing it cancels the producer. */
void axlua_context_set_generator(lua_State *L, int idx);

/* ----------------------------------------------------------- value.c */

/* Encode the value at idx into p; raises a Lua error on values that
 * cannot go. */
void axlua_value_pack(lua_State *L, int idx, ax_pack *p);
/* Encode the n values from index first into p as one array (a function's
 * several results); raises like axlua_value_pack. */
void axlua_value_pack_array(lua_State *L, int first, int n, ax_pack *p);
/* Push a buffer for to_data to encode in (a userdata). */
void axlua_value_push_buffer(lua_State *L);
/* The value at idx, a call's arguments, as a document (the caller's),
 * encoded in the buffer at buf_idx, or with 0 in the state's; raises like
 * pack. An empty table is no named arguments, an empty map; deeper down,
 * as everywhere else, an empty table is an empty array. */
ax_data *axlua_value_to_data(lua_State *L, int idx, int buf_idx);
/* The value at idx, a call's arguments, as msgpack bytes in that buffer
 * (an empty table as to_data has it): valid until the next value is
 * encoded in it, so until the caller next runs Lua code. */
const void *axlua_value_encode(lua_State *L, int idx, int buf_idx,
                               size_t *len);
/* The bytes of axlua_value_encode are read: a buffer grown large for
 * them is released. Only a value longer than half of AXLUA_KEEP_BYTES
 * (the most a buffer keeps between values) can have grown it. */
#define AXLUA_KEEP_BYTES 65536
void axlua_value_done(lua_State *L, int buf_idx);
/* Push v when it is a value that costs no allocation and cannot raise
 * (nil, a boolean, a number Lua holds): 1, else 0 and nothing pushed.
 * Inline: it is on every call's path. */
static inline int axlua_value_push_scalar(lua_State *L, const ax_val *v) {
  int64_t i;
  switch (ax_val_type(v)) {
    case AX_T_NIL:
      lua_pushnil(L);
      return 1;
    case AX_T_BOOL:
      lua_pushboolean(L, ax_val_bool(v));
      return 1;
    case AX_T_FLOAT:
      lua_pushnumber(L, ax_val_float(v));
      return 1;
    case AX_T_INT:
      if (ax_val_int64(v, &i) < 0) return 0;
      lua_pushinteger(L, (lua_Integer)i);
      return 1;
    default:
      return 0;
  }
}
/* Push v as a Lua value. */
void axlua_value_push(lua_State *L, const ax_val *v);
/* Push the value d holds and free d, also when pushing raises (out of
 * memory, a map key no Lua table holds): a scalar as is, anything else
 * protected. Returns 1. */
int axlua_value_push_data(lua_State *L, ax_data *d);
/* A new ax_pack holding the value at idx, the caller's; raises (with no
 * pack left over) when it cannot be sent or memory is out. */
ax_pack *axlua_value_pack_new(lua_State *L, int idx);
/* stream.c: send the value at idx on s (what names the sending function
 * in errors): ax_stream_send's code, except that a value over the
 * receiver's maximum message size raises MessageTooLarge with its size. */
int axlua_stream_send_value(lua_State *L, ax_stream *s, int idx,
                            const char *what);
/* The function this file raises its errors with (a kind, the message at
 * the top of the stack), which error.c registers. */
void axlua_value_on_error(int (*raise)(lua_State *L, int kind,
                                       const char *msg));

/* ----------------------------------------------------------- actor.c */

/* Push {name, uid, pid}, the table that names an actor. */
void axlua_actor_push(lua_State *L, const char *name, const char *uid, int pid);
int axlua_actor_current(lua_State *L);   /* axle.current_actor */
int axlua_actor_loglevel(lua_State *L);  /* axle.loglevel */
int axlua_actor_cpu_count(lua_State *L); /* axle.cpu_count */

/* ----------------------------------------------------------- error.c */

void axlua_error_init(lua_State *L);
/* Push the error value for e (takes ownership of e). */
void axlua_error_push(lua_State *L, ax_error *e);
/* Raise the outcome of a failed axle call as a Lua error value: e (taken)
 * if there is one, else an error of the kind rc stands for (a UsageError
 * for a call made wrongly, a MemoryError...), never a code's name. */
int axlua_error_raise(lua_State *L, int rc, ax_error *e);
/* Raise an error value of kind with the message, which starts with the
 * Lua location of the call (as luaL_error's does). */
int axlua_error_throw(lua_State *L, int kind, const char *fmt, ...);
/* The checks of luaL_check*, raising UsageError values instead of
 * strings; arg counts as the user does (a method's self is not #1). */
int axlua_error_arg(lua_State *L, int arg, const char *msg);
int axlua_error_argtype(lua_State *L, int arg, const char *expected);
void axlua_check_type(lua_State *L, int arg, int t);
const char *axlua_check_string(lua_State *L, int arg);
double axlua_check_number(lua_State *L, int arg);
void *axlua_check_udata(lua_State *L, int arg, const char *tname);
/* Name the C functions in the table at idx for error messages: prefix,
 * sep, key ("axle.sleep"); for a class, its metatable's methods
 * ("Nursery:cancel" for the metatable axle.Nursery). */
void axlua_error_name_funcs(lua_State *L, int idx, const char *prefix,
                            char sep);
void axlua_error_name_class(lua_State *L, const char *mt);
/* The ax_error for any Lua error value (a copy, the caller's). */
ax_error *axlua_error_from(lua_State *L, int idx);
/* pcall message handler: strings become error values with a traceback. */
int axlua_error_msgh(lua_State *L);
/* Whether the value at idx is an error value of type Cancelled. */
int axlua_error_is_cancelled(lua_State *L, int idx);
/* Give the error value at idx, one raised in this actor, the message msg,
 * keeping its type and traceback: 1. 0 leaves it as it was: not an axle
 * error, one relayed from another actor, or no memory for the new
 * ax_error. May raise (out of memory in Lua). */
int axlua_error_set_message(lua_State *L, int idx, const char *msg);

/* --------------------------------------------------------- nursery.c */

void axlua_nursery_init(lua_State *L);
int axlua_nursery_open(lua_State *L); /* axle.open_nursery */
/* After the function func that a task or call runs in the thread T has
 * returned (status: its pcall's; its results or error above base): close
 * with a warning the nurseries it left open, cancelling them, as nothing
 * else would in time. Returns the status to go on with: a failure of a
 * nursery closed here replaces the results of a function that returned. */
int axlua_nursery_close_left(lua_State *T, int base, int status,
                             const char *func);

/* ---------------------------------------------------------- portal.c */

void axlua_portal_init(lua_State *L);
/* Push a portal of the nursery whose userdata is at nursery_idx (the
 * portal keeps it alive) and whose closed flag is *closed; own_module
 * says whether the actor runs this state's module (so that a reference to
 * one of its functions needs no module name to cross). */
void axlua_portal_push(lua_State *L, ax_portal *p, const int *closed,
                       int nursery_idx, int own_module);

/* ----------------------------------------------------------- scope.c */

void axlua_scope_init(lua_State *L);
int axlua_scope_open(lua_State *L);          /* axle.cancel_scope */
int axlua_scope_move_on_after(lua_State *L); /* axle.move_on_after */
int axlua_scope_fail_after(lua_State *L);    /* axle.fail_after */
int axlua_scope_sleep(lua_State *L);         /* axle.sleep */
int axlua_scope_now(lua_State *L);           /* axle.now */

/* ------------------------------------------------------------ task.c */

void axlua_task_init(lua_State *L);
int axlua_task_nursery(lua_State *L); /* axle.task_nursery */
int axlua_task_spawn(lua_State *L);   /* axle.spawn */

/* ------------------------------------------------------- interrupt.c */

/* lua_pcall(T, nargs, nres) with the message handler at index 1, on a
 * task, with the checkpoint hook that keeps busy code cancellable. */
int axlua_interrupt_pcall(lua_State *T, int nargs, int nres);
/* lua_pcall(L, 0, 1, msgh) of a module's chunk, on a task or on the loop:
 * either way SIGINT, SIGTERM or a cancel stop a chunk that runs forever. */
int axlua_interrupt_load(lua_State *L, int msgh);

/* ---------------------------------------------------------- loader.c */

/* axle.yield: a value on the stream of the generator call running in
 * this thread (portal:open_stream_from). */
int axlua_loader_yield(lua_State *L);

/* What the host loads the binding for: the loader of "lua:" specs. */
__attribute__((visibility("default"))) extern const ax_loader axle_lua_loader;
/* Register what runs in a served function's thread T after it returned
 * (see axlua_nursery_close_left, the one such function). */
void axlua_loader_after_call(int (*fn)(lua_State *T, int base, int status,
                                       const char *func));
/* Whether a module's chunk is running (the module being loaded). */
int axlua_loader_loading(void);
/* This state's module spec, or NULL outside an actor's module. */
const char *axlua_loader_spec(lua_State *L);
/* The name under which the function at idx (or the string there) is
 * reachable by another actor's loader, and in *ns the spec of the module
 * a function belongs to (NULL for a string: the callee's own module).
 * Pushes what the strings point to: they live while the stack does. */
const char *axlua_loader_function_name(lua_State *L, int idx,
                                       const char **ns);
/* Make the script at path this state's module (axle.run under the stock
 * interpreter): spec lua:path, its folder searched first, and the table at
 * module_idx, if there is one, as its module table. */
void axlua_loader_adopt(lua_State *L, const char *path, int module_idx);

/* ------------------------------------------------------------ root.c */

int axlua_root_run(lua_State *L); /* axle.run */

#endif
