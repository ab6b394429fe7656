/* module.c - the modules an actor runs: loaders registered per spec scheme
 * ("c:", "lua:"...), the modules loaded through them, which of those callers
 * may reach, and the ax_ctx a called function reports through. */
#include <stdarg.h>
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
  if (!l || l->size < sizeof *l || !l->scheme || !l->load || !l->call)
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
    *err = ax_error_new("ModuleNotFoundError",
                        "no loader for module spec '%s' (expected "
                        "c:path.so, lua:... or py:...)",
                        spec);
    return AX_ELOAD;
  }
  void *handle = NULL;
  ax_error *lerr = NULL;
  int rc = l->load(colon + 1, &handle, &lerr);
  if (rc < 0) {
    *err = lerr ? lerr
                : ax_error_new("ModuleLoadError", "cannot load '%s': %s", spec,
                               ax_strerror(rc));
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

int ax__module_call(const char *ns, const char *func, const ax_val *args,
                    ax_ctx *ctx, int local) {
  const char *spec = ns && *ns ? ns : main_spec;
  if (!spec)
    return ax_ctx_fail(ctx, "ModuleNotExposed", "actor '%s' has no module",
                       ax_actor_name());
  module *m = find_module(spec);
  if (local && (!m || !m->enabled)) {
    ax_error *err = NULL;
    if (load_module(spec, &m, &err) < 0) return ax_ctx_raise(ctx, err);
    m->enabled = 1;
    if (!main_spec) main_spec = ax__strdup(spec);
  }
  if (!m || !m->enabled)
    return ax_ctx_fail(ctx, "ModuleNotExposed",
                       "cannot call '%s': module '%s' is not enabled in "
                       "actor '%s'", func, spec, ax_actor_name());
  ctx->spec = m->spec;
  return m->loader->call(m->handle, ctx, func, args);
}

int ax_call_local(const char *spec, const char *func, const ax_data *kwargs,
                  ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  if (!spec || !func) return AX_EINVAL;
  int rc = ax__can_block();
  if (rc < 0) return rc;
  ax_ctx ctx;
  ax__ctx_init(&ctx);
  rc = ax__module_call(spec, func, ax_data_root(kwargs), &ctx, 1);
  ax_data *r = NULL;
  ax_error *e = NULL;
  rc = ax__ctx_outcome(&ctx, rc, &r, &e);
  if (result)
    *result = r;
  else
    ax_data_free(r);
  if (err)
    *err = e;
  else
    ax_error_free(e);
  return rc;
}

/* ------------------------------------------------------------- ax_ctx */

void ax__ctx_init(ax_ctx *ctx) { memset(ctx, 0, sizeof *ctx); }

void ax__ctx_clear(ax_ctx *ctx) {
  ax_pack_free(ctx->result);
  ax_error_free(ctx->err);
  ctx->result = NULL;
  ctx->err = NULL;
}

const char *ax_ctx_module(const ax_ctx *ctx) {
  return ctx && ctx->spec ? ctx->spec : "";
}

int ax_ctx_return(ax_ctx *ctx, ax_pack *value) {
  if (!ctx || !value) {
    ax_pack_free(value);
    return AX_EINVAL;
  }
  ax_pack_free(ctx->result);
  ctx->result = value;
  return 0;
}

int ax_ctx_return_val(ax_ctx *ctx, const ax_val *value) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  int rc = value ? ax_pack_val(p, value) : ax_pack_nil(p);
  if (rc < 0) {
    ax_pack_free(p);
    return rc;
  }
  return ax_ctx_return(ctx, p);
}

int ax_ctx_fail(ax_ctx *ctx, const char *type, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt ? fmt : "", ap);
  va_end(ap);
  char *bt = ax__backtrace(1);
  ax_error *e = ax__error_make(type, buf, bt, NULL);
  free(bt);
  return ax_ctx_raise(ctx, e);
}

int ax_ctx_raise(ax_ctx *ctx, ax_error *err) {
  if (!ctx) {
    ax_error_free(err);
    return AX_EINVAL;
  }
  ax_error_free(ctx->err);
  ctx->err = err;
  return AX_EREMOTE;
}

int ax__ctx_outcome(ax_ctx *ctx, int rc, ax_data **result, ax_error **err) {
  *result = NULL;
  *err = NULL;
  if (rc == 0) {
    if (ctx->result) {
      ax_pack *p = ctx->result;
      ctx->result = NULL;
      if (ax_pack_finish(p, result) < 0)
        *err = ax_error_new("TypeError",
                            "the function returned malformed msgpack");
    }
  } else if (ctx->err) {
    *err = ctx->err;
    ctx->err = NULL;
  } else if (rc == AX_ECANCELED) {
    *err = ax_error_new("Cancelled", "the call was cancelled");
  } else {
    *err = ax_error_new("RuntimeError", "the function failed: %s (%s)",
                        ax_strerror(rc), ax_err_name(rc));
  }
  ax__ctx_clear(ctx);
  if (*err || rc != 0) {
    if (!*err) *err = ax_error_new("MemoryError", "out of memory");
    return AX_EREMOTE;
  }
  return 0;
}
