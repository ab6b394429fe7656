/* value.c - Lua values and msgpack, both ways: tables become arrays when
 * their keys are exactly 1..n and maps otherwise; nil, booleans, numbers
 * and strings map to themselves; anything else cannot cross to another
 * actor. */
#include "internal.h"

#define MAX_DEPTH 32

static int is_array(lua_State *L, int idx, lua_Integer *n) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx), count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        lua_tointeger(L, -1) > len) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  *n = len;
  return count == len && len > 0;
}

static int pack_value(lua_State *L, int idx, ax_pack *p, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > MAX_DEPTH)
    return luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      return ax_pack_nil(p);
    case LUA_TBOOLEAN:
      return ax_pack_bool(p, lua_toboolean(L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return ax_pack_int(p, lua_tointeger(L, idx));
      return ax_pack_float(p, lua_tonumber(L, idx));
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return ax_pack_strn(p, s, n);
    }
    case LUA_TTABLE: {
      lua_Integer n;
      luaL_checkstack(L, 4, "value too deep");
      if (is_array(L, idx, &n)) {
        ax_pack_array(p, (uint32_t)n);
        for (lua_Integer i = 1; i <= n; i++) {
          lua_rawgeti(L, idx, i);
          pack_value(L, -1, p, depth + 1);
          lua_pop(L, 1);
        }
        return 0;
      }
      uint32_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
      }
      ax_pack_map(p, count);
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        pack_value(L, -2, p, depth + 1);
        pack_value(L, -1, p, depth + 1);
        lua_pop(L, 1);
      }
      return 0;
    }
    default:
      return luaL_error(L, "cannot send a %s to another actor",
                        luaL_typename(L, idx));
  }
}

void axlua_value_pack(lua_State *L, int idx, ax_pack *p) {
  pack_value(L, idx, p, 0);
}

ax_data *axlua_value_to_data(lua_State *L, int idx) {
  ax_pack *p = ax_pack_new();
  if (!p) luaL_error(L, "out of memory");
  /* The pack must not leak if packing raises: anchor it in a userdata. */
  ax_pack **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = p;
  pack_value(L, idx < 0 ? idx - 1 : idx, p, 0);
  lua_pop(L, 1);
  ax_data *d = NULL;
  if (ax_pack_finish(p, &d) < 0) luaL_error(L, "cannot encode the value");
  return d;
}

void axlua_value_push(lua_State *L, const ax_val *v) {
  luaL_checkstack(L, 3, "value too deep");
  size_t n;
  const char *s;
  switch (ax_val_type(v)) {
    case AX_T_NIL:
      lua_pushnil(L);
      break;
    case AX_T_BOOL:
      lua_pushboolean(L, ax_val_bool(v));
      break;
    case AX_T_INT:
      lua_pushinteger(L, (lua_Integer)ax_val_int(v));
      break;
    case AX_T_FLOAT:
      lua_pushnumber(L, ax_val_float(v));
      break;
    case AX_T_STR:
      s = ax_val_str(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_BIN:
      s = ax_val_bin(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_ARRAY:
      lua_createtable(L, (int)ax_val_len(v), 0);
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        axlua_value_push(L, ax_val_at(v, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case AX_T_MAP:
      lua_createtable(L, 0, (int)ax_val_len(v));
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        axlua_value_push(L, ax_val_key(v, i));
        axlua_value_push(L, ax_val_value(v, i));
        if (lua_isnil(L, -2))
          lua_pop(L, 2);
        else
          lua_rawset(L, -3);
      }
      break;
  }
}
