/* loader_lua.c - "lua:" module specs. The Lua binding (and Lua itself) is
 * loaded on first use, so that actors running only C stay small. */
#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>

#include "loader.h"

static const ax_loader *binding;

static int ensure_binding(ax_error **err) {
  if (binding) return 0;
  /* libaxle knows where its binding is, in a build tree or installed. */
  char path[PATH_MAX];
  int rc = ax_path(AX_PATH_LUA_BINDING, path, sizeof path);
  if (rc < 0) {
    *err = ax_error_new_kind(
        AX_K_MODULE_LOAD,
        "cannot find the Lua binding (axle.so) beside libaxle: %s; set "
        "AXLE_LUA_BINDING to its path",
        ax_strerror(rc));
    return AX_ELOAD;
  }
  /* Global: Lua C modules that scripts require need Lua's symbols. */
  void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    *err = ax_error_new_kind(AX_K_MODULE_LOAD,
                             "cannot load the Lua binding: %s", dlerror());
    return AX_ELOAD;
  }
  binding = dlsym(h, "axle_lua_loader");
  if (!binding) {
    *err =
        ax_error_new_kind(AX_K_MODULE_LOAD, "%s has no axle_lua_loader", path);
    return AX_ELOAD;
  }
  return 0;
}

static int lazy_load(const char *name, void **mod, ax_error **err) {
  int rc = ensure_binding(err);
  return rc < 0 ? rc : binding->load(name, mod, err);
}

static int lazy_call(void *mod, ax_ctx *ctx, const char *func,
                     const ax_val *args) {
  return binding->call(mod, ctx, func, args);
}

static void lazy_unload(void *mod) { binding->unload(mod); }

/* Modules exist only once the binding is loaded: forward to it. */
static void lazy_interrupt(void *mod, ax_ctx *ctx) {
  if (binding->size > offsetof(ax_loader, interrupt) && binding->interrupt)
    binding->interrupt(mod, ctx);
}

const ax_loader axh_lua_loader = {sizeof(ax_loader), "lua",       lazy_load,
                                  lazy_call,         lazy_unload, 0,
                                  lazy_interrupt};
