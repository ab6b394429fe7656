/* module.c - the modules an actor runs: loaders registered per spec scheme
 * ("c:", "lua:"...), the modules loaded through them, and which of those
 * callers may reach. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_LOADERS 8

typedef struct module {
  char *spec;
  const ax_loader *loader;
  void *handle;
  int enabled;
} module;

static const ax_loader *loaders[MAX_LOADERS];
static int nloaders;
static module *mods;
static size_t nmods;
static char *main_spec;

int ax_loader_register(const ax_loader *l) {
  /* Loaders written before flags and interrupt existed stay valid. */
  if (!l || l->size < offsetof(ax_loader, flags) || !l->scheme || !l->load ||
      !l->call)
    return AX_EINVAL;
  for (int i = 0; i < nloaders; i++) {
    if (!strcmp(loaders[i]->scheme, l->scheme)) {
      loaders[i] = l;
      return 0;
    }
  }
  if (nloaders == MAX_LOADERS) return AX_ENOMEM;
  loaders[nloaders++] = l;
  return 0;
}

static module *find_module(const char *spec) {
  for (size_t i = 0; i < nmods; i++)
    if (!strcmp(mods[i].spec, spec)) return &mods[i];
  return NULL;
}

/* Why spec has no loader, naming the schemes this actor knows. Python is
 * announced but does not exist yet: say so rather than "no loader". */
static ax_error *no_loader(const char *spec, const char *colon) {
  if (colon && colon - spec == 2 && !strncmp(spec, "py", 2))
    return ax_error_new_kind(AX_K_MODULE_NOT_FOUND,
                             "cannot load '%s': Python actors are not "
                             "available yet",
                             spec);
  char known[MAX_LOADERS * 24] = "";
  size_t used = 0;
  for (int i = 0; i < nloaders && used < sizeof known; i++)
    used += (size_t)snprintf(known + used, sizeof known - used,
                             "%s%s:", i ? ", " : "", loaders[i]->scheme);
  /* A path with no scheme: the scheme its name suggests. */
  size_t n = strlen(spec);
  const char *hint = colon                                       ? NULL
                     : n > 4 && !strcmp(spec + n - 4, ".lua")    ? "lua:"
                     : strstr(spec, ".so") && strchr(spec, '/') ? "c:"
                                                                 : NULL;
  if (hint)
    return ax_error_new_kind(AX_K_MODULE_NOT_FOUND,
                             "no loader for module spec '%s' (known "
                             "schemes: %s); did you mean '%s%s'?",
                             spec, nloaders ? known : "none", hint, spec);
  return ax_error_new_kind(AX_K_MODULE_NOT_FOUND,
                           "no loader for module spec '%s' (known schemes: "
                           "%s)",
                           spec, nloaders ? known : "none");
}

static int load_module(const char *spec, module **out, ax_error **err) {
  module *m = find_module(spec);
  if (m) {
    *out = m;
    return 0;
  }
  const char *colon = strchr(spec, ':');
  const ax_loader *l = NULL;
  for (int i = 0; colon && i < nloaders; i++) {
    size_t n = strlen(loaders[i]->scheme);
    if (n == (size_t)(colon - spec) && !strncmp(spec, loaders[i]->scheme, n))
      l = loaders[i];
  }
  if (!l) {
    *err = no_loader(spec, colon);
    return AX_ELOAD;
  }
  void *handle = NULL;
  ax_error *lerr = NULL;
  int rc = l->load(colon + 1, &handle, &lerr);
  if (rc < 0) {
    *err = lerr ? lerr
                : ax_error_new_kind(AX_K_MODULE_LOAD, "cannot load '%s': %s",
                                    spec, ax_strerror(rc));
    return AX_ELOAD;
  }
  module *grown = realloc(mods, (nmods + 1) * sizeof *mods);
  char *copy = ax__strdup(spec);
  if (!grown || !copy) {
    if (grown) mods = grown;
    free(copy);
    if (l->unload) l->unload(handle);
    return AX_ENOMEM;
  }
  mods = grown;
  m = &mods[nmods++];
  m->spec = copy;
  m->loader = l;
  m->handle = handle;
  m->enabled = 0;
  *out = m;
  return 0;
}

int ax__modules_enable(const char *main, const char *const *enable, size_t n,
                       ax_error **err) {
  module *m;
  int rc = load_module(main, &m, err);
  if (rc < 0) return rc;
  m->enabled = 1;
  free(main_spec);
  main_spec = ax__strdup(main);
  for (size_t i = 0; i < n; i++) {
    rc = load_module(enable[i], &m, err);
    if (rc < 0) return rc;
    m->enabled = 1;
  }
  return 0;
}

void ax__modules_unload(void) {
  for (size_t i = 0; i < nmods; i++) {
    if (mods[i].loader->unload) mods[i].loader->unload(mods[i].handle);
    free(mods[i].spec);
  }
  free(mods);
  mods = NULL;
  nmods = 0;
  free(main_spec);
  main_spec = NULL;
}

int ax__module_lookup(const char *ns, const char *func, int local,
                      const ax_loader **loader, void **handle,
                      const char **spec_out, ax_error **err) {
  const char *spec = ns && *ns ? ns : main_spec;
  if (!spec) {
    *err = ax_error_new_kind(AX_K_MODULE_NOT_EXPOSED,
                             "actor '%s' has no module", ax_actor_name());
    return AX_ENOENT;
  }
  module *m = find_module(spec);
  if (local && (!m || !m->enabled)) {
    if (load_module(spec, &m, err) < 0) return AX_ELOAD;
    m->enabled = 1;
    if (!main_spec) main_spec = ax__strdup(spec);
  }
  if (!m || !m->enabled) {
    *err = ax_error_new_kind(AX_K_MODULE_NOT_EXPOSED,
                             "cannot call '%s': module '%s' is not enabled in "
                             "actor '%s', which runs '%s' (its parent can "
                             "enable more with enable_modules)",
                             func, spec, ax_actor_name(),
                             main_spec ? main_spec : "no module");
    return AX_ENOENT;
  }
  *loader = m->loader;
  *handle = m->handle;
  *spec_out = m->spec;
  return 0;
}

void ax__modules_interrupt(void) {
  for (size_t i = 0; i < nmods; i++) {
    const ax_loader *l = mods[i].loader;
    if (l->size > offsetof(ax_loader, interrupt) && l->interrupt)
      l->interrupt(mods[i].handle, NULL);
  }
}
