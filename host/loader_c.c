/* loader_c.c - C modules: a plugin .so exporting an ax_module_def, or any
 * plain shared library (its functions callable with a caller-supplied
 * signature). Plain functions are called through libffi on the runtime's
 * thread pool, so the actor keeps answering cancels while one computes; the
 * arguments are checked against the signature before anything is called. */
#include <dlfcn.h>
#include <elf.h>
#include <ffi.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

#define MAX_ARGS 16

typedef struct cmod {
  void *dl;
  const ax_module_def *def; /* NULL for a plain library */
  char *name;
} cmod;

static int c_load(const char *name, void **out, ax_error **err) {
  void *dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    /* dlopen looks for a name without a slash in the library path only,
     * never in the current directory: say how to name a file there. */
    int here = !strchr(name, '/') && access(name, F_OK) == 0;
    *err = ax_error_new_kind(AX_K_MODULE_NOT_FOUND,
                             "cannot load 'c:%s': %s%s%s", name, dlerror(),
                             here ? "; for the file in the current directory, "
                                    "write c:./"
                                  : "",
                             here ? name : "");
    return AX_ELOAD;
  }
  const ax_module_def *def = dlsym(dl, AX_MODULE_SYMBOL);
  if (def && def->abi != AX_MODULE_ABI) {
    *err =
        ax_error_new_kind(AX_K_MODULE_VERSION,
                          "'c:%s' has module descriptor version %u; this axle "
                          "reads version %u",
                          name, (unsigned)def->abi, (unsigned)AX_MODULE_ABI);
    dlclose(dl);
    return AX_ELOAD;
  }
  cmod *m = calloc(1, sizeof *m);
  if (!m || !(m->name = strdup(name))) {
    free(m);
    dlclose(dl);
    return AX_ENOMEM;
  }
  m->dl = dl;
  m->def = def;
  *out = m;
  return 0;
}

static void c_unload(void *mod) {
  cmod *m = mod;
  /* Never dlclose: a detached thread-pool call may still run its code. */
  free(m->name);
  free(m);
}

/* ------------------------------------------------------------ calls */

typedef union slot {
  int i;
  unsigned u;
  int64_t l;
  double d;
  float f;
  uint8_t b;
  const char *s;
  ffi_arg ra;
  ffi_sarg rs;
} slot;

typedef struct call {
  ffi_cif cif;
  ffi_type *types[MAX_ARGS];
  void *values[MAX_ARGS];
  slot args[MAX_ARGS];
  char *strs[MAX_ARGS];
  slot ret;
  char rtype;
  int nargs;
  void (*fn)(void);
} call;

static void call_free(void *arg) {
  call *c = arg;
  for (int i = 0; i < c->nargs; i++) free(c->strs[i]);
  free(c);
}

static void call_run(void *arg) {
  call *c = arg;
  ffi_call(&c->cif, c->fn, &c->ret, c->values);
}

static ffi_type *ffi_of(char t) {
  switch (t) {
    case 'v':
      return &ffi_type_void;
    case 'b':
      return &ffi_type_uint8;
    case 'i':
      return &ffi_type_sint;
    case 'u':
      return &ffi_type_uint;
    case 'l':
      return &ffi_type_sint64;
    case 'd':
      return &ffi_type_double;
    case 'f':
      return &ffi_type_float;
    case 's':
      return &ffi_type_pointer;
    default:
      return NULL;
  }
}

static const char *type_word(char t) {
  switch (t) {
    case 'b':
      return "a bool";
    case 'i':
    case 'u':
    case 'l':
      return "an int";
    case 'd':
    case 'f':
      return "a number";
    case 's':
      return "a string";
    default:
      return "?";
  }
}

static const char *val_word(const ax_val *v) {
  static const char *names[] = {"nil", "bool", "int",   "float",
                                "str", "bin",  "array", "map"};
  return names[ax_val_type(v)];
}

/* Parse "R(A...)": *ret, args[] and the count, or -1. */
static int parse_sig(const char *sig, char *ret, char *args) {
  if (!sig || !ffi_of(sig[0]) || sig[1] != '(') return -1;
  *ret = sig[0];
  int n = 0;
  const char *p = sig + 2;
  for (; *p && *p != ')'; p++) {
    if (*p == 'v' || !ffi_of(*p) || n == MAX_ARGS) return -1;
    args[n++] = *p;
  }
  if (*p != ')' || p[1]) return -1;
  return n;
}

/* The i-th name of a comma-separated list, into buf. */
static const char *arg_name(const char *names, int i, char *buf, size_t cap) {
  if (!names) {
    snprintf(buf, cap, "#%d", i + 1);
    return buf;
  }
  const char *p = names;
  for (int k = 0; k < i && p; k++) {
    p = strchr(p, ',');
    if (p) p++;
  }
  if (!p) {
    snprintf(buf, cap, "#%d", i + 1);
    return buf;
  }
  while (*p == ' ') p++;
  size_t n = strcspn(p, ",");
  while (n > 0 && p[n - 1] == ' ') n--;
  if (n >= cap) n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = 0;
  return buf;
}

static int set_arg(ax_ctx *ctx, call *c, int i, char t, const ax_val *v,
                   const char *fname, const char *aname) {
  ax_type vt = ax_val_type(v);
  int ok = 1;
  switch (t) {
    case 'b':
      ok = vt == AX_T_BOOL;
      if (ok) c->args[i].b = (uint8_t)ax_val_bool(v);
      break;
    case 'i':
    case 'u':
    case 'l': {
      ok = vt == AX_T_INT;
      int64_t x = 0;
      uint64_t big;
      if (ok && ax_val_int64(v, &x) < 0 && ax_val_uint64(v, &big) == 0)
        return ax_ctx_fail(ctx, "OverflowError",
                           "argument '%s' of %s(): %llu does not fit an "
                           "int64",
                           aname, fname, (unsigned long long)big);
      if (ok && t == 'i' && (x < INT32_MIN || x > INT32_MAX))
        return ax_ctx_fail(ctx, "OverflowError",
                           "argument '%s' of %s(): %lld does not fit an int",
                           aname, fname, (long long)x);
      if (ok && t == 'u' && (x < 0 || x > UINT32_MAX))
        return ax_ctx_fail(ctx, "OverflowError",
                           "argument '%s' of %s(): %lld does not fit an "
                           "unsigned int",
                           aname, fname, (long long)x);
      if (t == 'i') c->args[i].i = (int)x;
      if (t == 'u') c->args[i].u = (unsigned)x;
      if (t == 'l') c->args[i].l = x;
      break;
    }
    case 'd':
    case 'f':
      ok = vt == AX_T_INT || vt == AX_T_FLOAT;
      if (t == 'd') c->args[i].d = ax_val_float(v);
      if (t == 'f') c->args[i].f = (float)ax_val_float(v);
      break;
    case 's': {
      ok = vt == AX_T_STR;
      if (ok) {
        size_t n;
        const char *s = ax_val_str(v, &n);
        c->strs[i] = malloc(n + 1);
        if (!c->strs[i]) return AX_ENOMEM;
        memcpy(c->strs[i], s, n + 1);
        c->args[i].s = c->strs[i];
      }
      break;
    }
  }
  if (!ok)
    return ax_ctx_fail(ctx, "TypeError",
                       "argument '%s' of %s() must be %s, got %s", aname, fname,
                       type_word(t), val_word(v));
  c->types[i] = ffi_of(t);
  c->values[i] = &c->args[i];
  return 0;
}

static int return_value(ax_ctx *ctx, const call *c) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  switch (c->rtype) {
    case 'v':
      ax_pack_nil(p);
      break;
    case 'b':
      ax_pack_bool(p, (c->ret.ra & 0xff) != 0);
      break;
    case 'i':
      ax_pack_int(p, (int)c->ret.rs);
      break;
    case 'u':
      ax_pack_int(p, (unsigned)c->ret.ra);
      break;
    case 'l':
      ax_pack_int(p, c->ret.l);
      break;
    case 'd':
      ax_pack_float(p, c->ret.d);
      break;
    case 'f':
      ax_pack_float(p, c->ret.f);
      break;
    case 's':
      if (c->ret.s)
        ax_pack_str(p, c->ret.s);
      else
        ax_pack_nil(p);
      break;
  }
  return ax_ctx_return(ctx, p);
}

static int plain_call(ax_ctx *ctx, cmod *m, const char *fname, void (*fn)(void),
                      const char *sig, const char *names, const ax_val *args) {
  char rtype, atypes[MAX_ARGS];
  int n = parse_sig(sig, &rtype, atypes);
  if (n < 0)
    return ax_ctx_fail(ctx, "TypeError",
                       "bad signature '%s' for %s(): want R(A...) with type "
                       "letters v b i u l d f s",
                       sig ? sig : "", fname);
  call *c = calloc(1, sizeof *c);
  if (!c) return AX_ENOMEM;
  c->fn = fn;
  c->rtype = rtype;
  c->nargs = n;
  ax_type at = ax_val_type(args);
  int rc = 0;
  char buf[64];
  if (at == AX_T_ARRAY) {
    if ((int)ax_val_len(args) != n)
      rc = ax_ctx_fail(ctx, "TypeError", "%s() takes %d argument%s, got %u",
                       fname, n, n == 1 ? "" : "s", ax_val_len(args));
    for (int i = 0; rc == 0 && i < n; i++)
      rc = set_arg(ctx, c, i, atypes[i], ax_val_at(args, (uint32_t)i), fname,
                   arg_name(names, i, buf, sizeof buf));
  } else if (at == AX_T_MAP || at == AX_T_NIL) {
    uint32_t given = at == AX_T_MAP ? ax_val_len(args) : 0;
    if (!names && given > 0)
      rc = ax_ctx_fail(ctx, "TypeError",
                       "%s() of library 'c:%s' has no argument names: pass "
                       "its arguments by position (an array; on the command "
                       "line, values without key=)",
                       fname, m->name);
    for (int i = 0; rc == 0 && i < n; i++) {
      const char *an = arg_name(names, i, buf, sizeof buf);
      const ax_val *v = ax_val_get(args, an);
      if (!v)
        rc = ax_ctx_fail(ctx, "TypeError", "%s() missing argument '%s'", fname,
                         an);
      else
        rc = set_arg(ctx, c, i, atypes[i], v, fname, an);
    }
    if (rc == 0 && given > (uint32_t)n) {
      /* Name the first argument nobody asked for. */
      for (uint32_t k = 0; k < given && rc == 0; k++) {
        const char *key = ax_val_str(ax_val_key(args, k), NULL);
        int known = 0;
        for (int i = 0; key && i < n; i++)
          if (!strcmp(key, arg_name(names, i, buf, sizeof buf))) known = 1;
        if (!known)
          rc = ax_ctx_fail(ctx, "TypeError",
                           "%s() got an unexpected argument '%s'", fname,
                           key ? key : "?");
      }
    }
  } else {
    rc = ax_ctx_fail(ctx, "TypeError",
                     "arguments of %s() must be a map or an array, got %s",
                     fname, val_word(args));
  }
  if (rc == 0 && ffi_prep_cif(&c->cif, FFI_DEFAULT_ABI, (unsigned)n,
                              ffi_of(rtype), c->types) != FFI_OK)
    rc = ax_ctx_fail(ctx, "TypeError", "libffi rejects signature '%s'", sig);
  if (rc < 0) {
    call_free(c);
    return rc;
  }
  rc = ax_run_in_thread(call_run, c, call_free);
  if (rc == AX_EBUSY)
    return ax_ctx_fail(ctx, "RuntimeError",
                       "%s() cannot run: all %d threads of the actor run "
                       "calls whose callers stopped waiting",
                       fname, AX_THREADS_MAX);
  if (rc < 0) return rc; /* c now belongs to the pool */
  rc = return_value(ctx, c);
  call_free(c);
  return rc;
}

/* ------------------------------------------------- names for hints */

/* The functions a plain library defines, read from its dynamic symbol
 * table in memory: pointers into its string table, valid while it is
 * loaded (never unloaded). *n gets the count; NULL when there are none
 * or the table cannot be read. */
static const char **library_functions(void *dl, size_t *n) {
  *n = 0;
  struct link_map *lm = NULL;
  if (dlinfo(dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_ld) return NULL;
  const ElfW(Sym) *syms = NULL;
  const char *strs = NULL;
  const uint32_t *hash = NULL, *gnu = NULL;
  for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
    /* glibc relocates these in place; other loaders may not. */
    uintptr_t a = (uintptr_t)d->d_un.d_ptr;
    if (a < lm->l_addr) a += lm->l_addr;
    if (d->d_tag == DT_SYMTAB) syms = (const ElfW(Sym) *)a;
    if (d->d_tag == DT_STRTAB) strs = (const char *)a;
    if (d->d_tag == DT_HASH) hash = (const uint32_t *)a;
    if (d->d_tag == DT_GNU_HASH) gnu = (const uint32_t *)a;
  }
  if (!syms || !strs || (!hash && !gnu)) return NULL;
  /* The number of symbols: DT_HASH says it; with DT_GNU_HASH it is one
   * past the last symbol of the last hash chain. */
  size_t count = 0;
  if (hash) {
    count = hash[1];
  } else {
    uint32_t nbuckets = gnu[0], base = gnu[1], words = gnu[2];
    const uint32_t *buckets =
        gnu + 4 + (sizeof(ElfW(Addr)) / sizeof(uint32_t)) * words;
    const uint32_t *chains = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
      if (buckets[i] > last) last = buckets[i];
    if (last >= base) {
      while (!(chains[last - base] & 1)) last++;
      count = (size_t)last + 1;
    }
  }
  const char **names = count ? malloc(count * sizeof *names) : NULL;
  if (!names) return NULL;
  for (size_t i = 0; i < count; i++) {
    int type = ELF64_ST_TYPE(syms[i].st_info);
    if (syms[i].st_shndx != SHN_UNDEF && syms[i].st_name &&
        (type == STT_FUNC || type == STT_GNU_IFUNC))
      names[(*n)++] = strs + syms[i].st_name;
  }
  return names;
}

/* "; did you mean 'x'?" when a function of m is close to name, else "";
 * free with free(). */
static char *did_you_mean(cmod *m, const char *name) {
  const char **names = NULL;
  size_t n = 0;
  if (m->def) {
    for (const ax_export *e = m->def->exports; e && e->name; e++) n++;
    names = n ? malloc(n * sizeof *names) : NULL;
    for (size_t i = 0; names && i < n; i++) names[i] = m->def->exports[i].name;
  } else {
    names = library_functions(m->dl, &n);
  }
  const char *close = names ? ax_closest_name(name, names, n) : NULL;
  char *hint = malloc(close ? strlen(close) + 20 : 1);
  if (hint) {
    if (close)
      sprintf(hint, "; did you mean '%s'?", close);
    else
      hint[0] = 0;
  }
  free(names);
  return hint;
}

static int not_found(ax_ctx *ctx, cmod *m, const char *name) {
  char *hint = did_you_mean(m, name);
  int rc;
  if (m->def)
    rc = ax_ctx_fail(ctx, "FunctionNotFound",
                     "module 'c:%s' (%s) exports no function '%s'%s", m->name,
                     m->def->name ? m->def->name : "?", name, hint ? hint : "");
  else
    rc = ax_ctx_fail(ctx, "FunctionNotFound",
                     "library 'c:%s' has no function '%s'%s", m->name, name,
                     hint ? hint : "");
  free(hint);
  return rc;
}

static int c_call(void *mod, ax_ctx *ctx, const char *func,
                  const ax_val *args) {
  cmod *m = mod;
  char name[256];
  const char *colon = strchr(func, ':');
  size_t nlen = colon ? (size_t)(colon - func) : strlen(func);
  if (nlen == 0 || nlen >= sizeof name)
    return ax_ctx_fail(ctx, "FunctionNotFound", "bad function name '%s'", func);
  memcpy(name, func, nlen);
  name[nlen] = 0;
  const char *sig = colon ? colon + 1 : NULL;
  if (m->def) {
    for (const ax_export *e = m->def->exports; e && e->name; e++) {
      if (strcmp(e->name, name) != 0) continue;
      if (e->ctx_fn) return e->ctx_fn(ctx, args);
      /* The module's own mistakes are the caller's errors, not crashes. */
      if (!e->fn)
        return ax_ctx_fail(ctx, "FunctionNotFound",
                           "module 'c:%s' exports '%s' with no function",
                           m->name, name);
      if (!e->sig)
        return ax_ctx_fail(ctx, "TypeError",
                           "%s() of module 'c:%s' is exported with no "
                           "signature: it cannot be called",
                           name, m->name);
      if (sig && strcmp(sig, e->sig) != 0)
        return ax_ctx_fail(ctx, "TypeError", "%s() has signature %s, not %s",
                           name, e->sig, sig);
      return plain_call(ctx, m, name, e->fn, e->sig, e->args, args);
    }
    return not_found(ctx, m, name);
  }
  dlerror();
  void *sym = dlsym(m->dl, name);
  if (!sym) return not_found(ctx, m, name);
  if (!sig)
    return ax_ctx_fail(ctx, "FunctionNotFound",
                       "'%s' is in plain library 'c:%s': call it with a "
                       "signature, e.g. '%s:d(d)'",
                       name, m->name, name);
  void (*fn)(void);
  memcpy(&fn, &sym, sizeof fn);
  return plain_call(ctx, m, name, fn, sig, NULL, args);
}

const ax_loader axh_c_loader = {sizeof(ax_loader), "c", c_load, c_call,
                                c_unload,          0,   NULL};
