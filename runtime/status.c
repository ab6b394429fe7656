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

/* Every code with its name and message, from the one X-macro table. */
static const struct {
  int code;
  const char *name, *msg;
} codes[] = {
    {0, "AX_OK", "success"},
#define X(name, value, msg) {AX_##name, "AX_" #name, msg},
    AX_ERRNO_MAP(X)
#undef X
};

static int code_index(int code) {
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (codes[i].code == code) return (int)i;
  return -1;
}

const char *ax_strerror(int code) {
  int i = code_index(code);
  return i < 0 ? "unknown error" : codes[i].msg;
}

const char *ax_err_name(int code) {
  int i = code_index(code);
  return i < 0 ? "AX_EUNKNOWN" : codes[i].name;
}

void ax_free(void *p) { free(p); }
