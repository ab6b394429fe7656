/* host.c - which executable a parent starts for a child actor. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#ifndef AX_HOST_DEFAULT
#define AX_HOST_DEFAULT "axle"
#endif

/* The host to spawn: explicit, AXLE_HOST, this very executable when it is
 * the host, or the one built alongside the library. */
char *ax__host_find(const char *opt) {
  if (opt && *opt) return ax__strdup(opt);
  const char *e = getenv("AXLE_HOST");
  if (e && *e) return ax__strdup(e);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    const char *base = strrchr(self, '/');
    if (base && !strcmp(base + 1, "axle")) return ax__strdup(self);
  }
  return ax__strdup(AX_HOST_DEFAULT);
}
