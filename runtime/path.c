/* path.c - where axle's own files are: the host executable that starts
 * child actors and the Lua binding. Nothing absolute is compiled in: both
 * are found relative to this library's own file, as a build tree lays them
 * out and as an installed tree does, so that either can be moved. The
 * environment overrides both. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* From the library's directory, relative paths set by the build: in an
 * installed tree, libdir to bindir and libdir to the Lua module directory;
 * a build tree puts the library at its top. */
#ifndef AX_REL_BINDIR
#define AX_REL_BINDIR "../bin"
#endif
#ifndef AX_REL_LUADIR
#define AX_REL_LUADIR "lua/5.4"
#endif

typedef struct path_kind {
  const char *env;
  int exec; /* 1: must be executable */
  const char *rel[2];
} path_kind;

static const path_kind kinds[] = {
    [AX_PATH_HOST] = {"AXLE_HOST", 1, {AX_REL_BINDIR "/axle", "host/axle"}},
    [AX_PATH_LUA_BINDING] = {"AXLE_LUA_BINDING",
                             0,
                             {AX_REL_LUADIR "/axle.so",
                              "bindings/lua/axle.so"}},
};

static int copy_out(const char *s, char *buf, size_t size) {
  size_t n = strlen(s);
  if (n >= size) return AX_ERANGE;
  memcpy(buf, s, n + 1);
  return 0;
}

/* The directory of the file this function's code was loaded from: libaxle,
 * or the executable when the runtime is linked in statically. */
static int own_dir(char *dir, size_t size) {
  Dl_info info;
  if (!dladdr((void *)own_dir, &info) || !info.dli_fname) return AX_ENOENT;
  char *real = realpath(info.dli_fname, NULL);
  if (!real) return AX_ENOENT;
  char *slash = strrchr(real, '/');
  if (slash) *slash = 0;
  int rc = copy_out(real, dir, size);
  free(real);
  return rc;
}

int ax_path(int what, char *buf, size_t size) {
  if (what < 0 || what >= (int)(sizeof kinds / sizeof kinds[0]) || !buf)
    return AX_EINVAL;
  const path_kind *k = &kinds[what];
  const char *env = getenv(k->env);
  if (env && *env) return copy_out(env, buf, size);
  char dir[PATH_MAX], cand[PATH_MAX + 64];
  int rc = own_dir(dir, sizeof dir);
  if (rc < 0) return rc;
  for (int i = 0; i < 2; i++) {
    snprintf(cand, sizeof cand, "%s/%s", dir, k->rel[i]);
    if (access(cand, k->exec ? X_OK : R_OK) != 0) continue;
    /* Canonical, so that logs and children see no "lib/../bin". */
    char *real = realpath(cand, NULL);
    rc = copy_out(real ? real : cand, buf, size);
    free(real);
    return rc;
  }
  return AX_ENOENT;
}

/* The first executable NAME on PATH, or NULL. */
static char *on_path(const char *name) {
  const char *p = getenv("PATH");
  while (p && *p) {
    size_t n = strcspn(p, ":");
    char *cand = ax__asprintf("%.*s/%s", (int)n, p, name);
    if (cand && n && access(cand, X_OK) == 0) return cand;
    free(cand);
    p += n + (p[n] == ':');
  }
  return NULL;
}

/* The host to spawn: explicit, AXLE_HOST, this very executable when it is
 * the host (its library is then the one running), the host beside this
 * library, or axle on PATH. */
char *ax__host_find(const char *opt) {
  if (opt && *opt) return ax__strdup(opt);
  char self[PATH_MAX];
  const char *env = getenv("AXLE_HOST");
  if (!(env && *env)) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = 0;
      const char *base = strrchr(self, '/');
      if (base && !strcmp(base + 1, "axle")) return ax__strdup(self);
    }
  }
  if (ax_path(AX_PATH_HOST, self, sizeof self) == 0) return ax__strdup(self);
  char *found = on_path("axle");
  return found ? found : ax__strdup("axle");
}
