/* stream.c - a context's stream in Lua: send, recv, iteration
 * (`for v in stream do ... end`) and closing (a to-be-closed value). The
 * stream belongs to its context, which retires this object when it ends
 * (axlua_stream_retire): a stream used after its context raises. */

#include "internal.h"

#define STREAM_NAME "axle.Stream"

typedef struct lstream {
  ax_stream *s; /* NULL once its context ended */
  int closed;
} lstream;

void axlua_stream_push(lua_State *L, ax_stream *s) {
  lstream *ls = lua_newuserdatauv(L, sizeof *ls, 0);
  ls->s = s;
  ls->closed = 0;
  luaL_setmetatable(L, STREAM_NAME);
}

void axlua_stream_retire(lua_State *L, int idx) {
  lstream *ls = luaL_testudata(L, idx, STREAM_NAME);
  if (ls) ls->s = NULL;
}

static lstream *check_stream(lua_State *L, const char *method) {
  lstream *ls = axlua_check_udata(L, 1, STREAM_NAME);
  if (!ls->s)
    axlua_error_throw(L, AX_K_USAGE_ERROR,
                      "%s: the stream's context has ended; use a stream "
                      "only inside its context",
                      method);
  if (ls->closed)
    axlua_error_throw(L, AX_K_USAGE_ERROR, "%s: the stream is closed", method);
  return ls;
}

int axlua_stream_send_value(lua_State *L, ax_stream *s, int idx,
                            const char *what) {
  ax_pack *v = axlua_value_pack_new(L, idx);
  size_t len = 0;
  ax_pack_bytes(v, &len);
  int rc = ax_stream_send(s, v);
  if (rc == AX_EMSGSIZE)
    axlua_error_throw(L, AX_K_MESSAGE_TOO_LARGE,
                      "%s: a value of %I bytes does not fit in a message "
                      "of the receiver's maximum size, %I bytes "
                      "(max_message)",
                      what, (lua_Integer)len,
                      (lua_Integer)ax_stream_max_message(s));
  return rc;
}

static int stream_send(lua_State *L) {
  lstream *ls = check_stream(L, "send");
  lua_settop(L, 2);
  int rc = axlua_stream_send_value(L, ls->s, 2, "send");
  /* The context ended: by a failure, which is raised here too, or
   * cleanly, and then nobody takes values any more. */
  const ax_error *end = rc == AX_ECLOSED ? ax_stream_error(ls->s) : NULL;
  if (end) return axlua_error_raise(L, AX_EREMOTE, ax_error_dup(end));
  if (rc == AX_ECLOSED)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "send: the context has ended; nobody takes "
                             "values any more");
  if (rc == AX_ESTATE) /* closed while this send waited, or a second one */
    return axlua_error_throw(L, AX_K_USAGE_ERROR, "send: %s",
                             ls->closed ? "the stream is closed"
                                        : "another task is sending on this "
                                          "stream");
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

/* The next value; nothing at the end; the context's failure raised. */
static int recv_on(lua_State *L, lstream *ls) {
  ax_data *v = NULL;
  ax_error *e = NULL;
  int rc = ax_stream_recv(ls->s, &v, &e);
  if (rc == AX_ECLOSED && !e) return 0;
  if (rc == AX_ESTATE)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "recv: another task is receiving on this stream, "
                             "or it has subscribers, which take its values; "
                             "to share a stream between tasks, give each a "
                             "subscription (s:subscribe())");
  if (rc < 0) return axlua_error_raise(L, rc, e);
  return axlua_value_push_data(L, v);
}

static int stream_recv(lua_State *L) {
  return recv_on(L, check_stream(L, "recv"));
}

/* `for v in stream do`: the generic for calls the stream itself. */
static int stream_call(lua_State *L) {
  lua_settop(L, 1);
  lstream *ls = axlua_check_udata(L, 1, STREAM_NAME);
  /* Closed in its own loop's body: the loop ends there. */
  if (ls->s && ls->closed) {
    lua_pushnil(L);
    return 1;
  }
  if (!ls->s) check_stream(L, "recv"); /* raises */
  int n = recv_on(L, ls);
  if (n == 0) lua_pushnil(L);
  return 1;
}

/* close(), or __close(err): leaving the block by an error sends no
 * stop, so that the other side ends with that error, not a clean end. */
static int stream_close(lua_State *L) {
  lstream *ls = axlua_check_udata(L, 1, STREAM_NAME);
  if (ls->s && !ls->closed) {
    if (lua_isnoneornil(L, 2))
      ax_stream_close(ls->s);
    else
      ax_stream_drop(ls->s);
  }
  ls->closed = 1;
  return 0;
}

/* ------------------------------------------------------ subscribers */

#define SUB_NAME "axle.Subscription"

typedef struct lsub {
  ax_sub *u; /* NULL once closed */
} lsub;

/* stream:subscribe(buffer): a subscription of this task's own. */
static int stream_subscribe(lua_State *L) {
  lstream *ls = check_stream(L, "subscribe");
  int isint = lua_isnoneornil(L, 2);
  lua_Integer buffer = isint ? 0 : lua_tointegerx(L, 2, &isint);
  if (!isint || buffer < 0)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "subscribe: the buffer is a count >= 0");
  lsub *sub = lua_newuserdatauv(L, sizeof *sub, 1);
  sub->u = NULL;
  luaL_setmetatable(L, SUB_NAME);
  /* The subscription keeps its stream object (and so its context) alive. */
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  int rc = ax_stream_subscribe(ls->s, (size_t)buffer, &sub->u);
  if (rc == AX_ECLOSED)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "subscribe: the stream has ended; subscribe "
                             "before it does");
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 1;
}

static int sub_recv(lua_State *L) {
  lsub *sub = axlua_check_udata(L, 1, SUB_NAME);
  if (!sub->u)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "recv: the subscription is closed");
  ax_data *v = NULL;
  ax_error *e = NULL;
  int rc = ax_sub_recv(sub->u, &v, &e);
  if (rc == AX_ECLOSED && !e) return 0;
  if (rc < 0) return axlua_error_raise(L, e ? AX_EREMOTE : rc, e);
  return axlua_value_push_data(L, v);
}

static int sub_call(lua_State *L) {
  lua_settop(L, 1);
  if (sub_recv(L) == 0) lua_pushnil(L);
  return 1;
}

static int sub_close(lua_State *L) {
  lsub *sub = axlua_check_udata(L, 1, SUB_NAME);
  ax_sub_close(sub->u);
  sub->u = NULL;
  return 0;
}

void axlua_stream_init(lua_State *L) {
  static const luaL_Reg sub_methods[] = {
      {"recv", sub_recv},     {"close", sub_close}, {"__call", sub_call},
      {"__close", sub_close}, {"__gc", sub_close},  {NULL, NULL}};
  axlua_new_class(L, SUB_NAME, sub_methods, 1);
  axlua_error_name_class(L, SUB_NAME);
  static const luaL_Reg methods[] = {{"send", stream_send},
                                     {"recv", stream_recv},
                                     {"close", stream_close},
                                     {"subscribe", stream_subscribe},
                                     {"__call", stream_call},
                                     {"__close", stream_close},
                                     {NULL, NULL}};
  axlua_new_class(L, STREAM_NAME, methods, 1);
  axlua_error_name_class(L, STREAM_NAME);
}
