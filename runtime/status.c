/* status.c - status codes (the AX_E table: codes, names, messages) and the
 * version. Error objects, the failures that travel, are error.c. */
#include <stdlib.h>

#include "internal.h"

#define AX__STR2(x) #x
#define AX__STR(x) AX__STR2(x)

const char *ax_version(void) {
  return AX__STR(AX_VERSION_MAJOR) "." AX__STR(AX_VERSION_MINOR) "." AX__STR(
      AX_VERSION_PATCH);
}

unsigned ax_version_hex(void) { return AX_VERSION_HEX; }

const char *ax_strerror(int code) {
  switch (code) {
    case 0:
      return "success";
#define X(name, value, msg) \
  case AX_##name:           \
    return msg;
      AX_ERRNO_MAP(X)
#undef X
    default:
      return "unknown error";
  }
}

const char *ax_err_name(int code) {
  switch (code) {
    case 0:
      return "AX_OK";
#define X(name, value, msg) \
  case AX_##name:           \
    return "AX_" #name;
      AX_ERRNO_MAP(X)
#undef X
    default:
      return "AX_EUNKNOWN";
  }
}

void ax_free(void *p) { free(p); }
