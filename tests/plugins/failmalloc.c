/* failmalloc.c - an allocator that fails on demand, for tests, as Lua's
 * test suite does: preloaded (LD_PRELOAD) into an actor whose environment
 * has AXT_FAILMALLOC=1, its malloc, calloc and realloc, once armed by
 * axt_failmalloc_arm(after) (a test function in the actor calls it), let
 * `after` more allocations through and fail every one after that, until
 * the file named by AXT_FAILMALLOC_STOP exists. Without the variable it
 * only passes calls on. Built without sanitizers: under ASan the calls go
 * on to ASan's allocator, which keeps checking. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void axt_failmalloc_arm(long after);
long axt_failmalloc_failed(void);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static int enabled;
static const char *stop_path;
static atomic_int armed;
static atomic_long left;   /* allocations still let through */
static atomic_long failed; /* failures since the last arm */

/* dlsym may allocate before the real functions are known: from here. */
static _Alignas(16) char boot[8192];
static size_t boot_used;

static int from_boot(const void *p) {
  return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void *boot_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n > sizeof boot - boot_used) return NULL;
  void *p = boot + boot_used;
  boot_used += n;
  return p;
}

__attribute__((constructor)) static void init(void) {
  real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
  real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
  real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  const char *e = getenv("AXT_FAILMALLOC");
  enabled = e && e[0] == '1';
  stop_path = getenv("AXT_FAILMALLOC_STOP");
}

void axt_failmalloc_arm(long after) {
  if (!enabled) return;
  atomic_store(&failed, 0);
  atomic_store(&left, after);
  atomic_store(&armed, 1);
}

long axt_failmalloc_failed(void) { return atomic_load(&failed); }

static int fail_now(void) {
  if (!atomic_load(&armed)) return 0;
  if (atomic_fetch_sub(&left, 1) > 0) return 0;
  if (stop_path && access(stop_path, F_OK) == 0) {
    atomic_store(&armed, 0);
    return 0;
  }
  atomic_fetch_add(&failed, 1);
  errno = ENOMEM;
  return 1;
}

void *malloc(size_t n) {
  if (!real_malloc) return boot_alloc(n);
  return fail_now() ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t size) {
  if (!real_calloc) {
    if (size && n > SIZE_MAX / size) return NULL;
    return boot_alloc(n * size); /* static: zeroed */
  }
  return fail_now() ? NULL : real_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  if (from_boot(p) || !real_realloc) {
    void *q = real_malloc ? malloc(n) : boot_alloc(n);
    if (q && p) {
      size_t have = (size_t)(boot + sizeof boot - (char *)p);
      memcpy(q, p, n < have ? n : have);
    }
    return q;
  }
  if (n && fail_now()) return NULL;
  return real_realloc(p, n);
}

/* LeakSanitizer ignores what the dynamic loader allocates by looking at
 * who called malloc; through this allocator that is us, so say it, and
 * without a note in the logs each time. */
const char *__lsan_default_suppressions(void) { return "leak:ld-linux\n"; }
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

void free(void *p) {
  if (!p || from_boot(p)) return;
  if (real_free) real_free(p);
}
