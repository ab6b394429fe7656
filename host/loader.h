/* loader.h - the module loaders the host registers. */
#ifndef AXH_LOADER_H
#define AXH_LOADER_H
#include "axle.h"
/* The loader of "c:" specs: C plugins and plain shared libraries. */
extern const ax_loader axh_c_loader;
#endif
