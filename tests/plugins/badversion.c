/* badversion.c - a plugin whose descriptor has a version this axle does
 * not read: loading it must fail with a clear error. */
#include "axle.h"

static const ax_export exports[] = {{0}};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI + 41,
                                                   "badversion", exports};
