/* loader.h - the module loaders the host registers. */
#ifndef AXH_LOADER_H
#define AXH_LOADER_H
#include "axle.h"
/* The loader of "c:" specs: C plugins and plain shared libraries. */
extern const ax_loader axh_c_loader;
/* The loader of "lua:" specs, which loads the Lua binding on first use. */
extern const ax_loader axh_lua_loader;
#endif
