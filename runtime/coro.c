/* coro.c - stackful coroutines: stacks with a guard page, kept in a pool,
 * and the context switch. x86-64 gets a small assembly switch (no signal
 * mask syscalls); other machines fall back to ucontext. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define AX__ASAN 1
#endif

/* The pool keeps as many stacks as were recently in use at once, at
 * least POOL_MIN and at most POOL_MAX, so a burst of concurrent calls
 * costs no mmap once it has been seen; the high-water mark decays, so a
 * pool grown by one burst shrinks again. */
#define POOL_MIN 64
#define POOL_MAX 4096
#define DECAY_EVERY 8192 /* stack_put calls between decays */

typedef struct pooled {
  void *base;
  size_t size;
} pooled;

static pooled *pool;
static int npool, pool_cap;
static int live, peak, nputs;

static size_t page_size(void) {
  static size_t ps;
  if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
  return ps;
}

static void *stack_get(size_t size) {
  if (++live > peak) peak = live;
  for (int i = npool - 1; i >= 0; i--) {
    if (pool[i].size == size) {
      void *b = pool[i].base;
      pool[i] = pool[--npool];
#ifdef AX__ASAN
      ASAN_UNPOISON_MEMORY_REGION((char *)b + page_size(), size - page_size());
#endif
      return b;
    }
  }
  /* Pages are committed on first touch, so an idle task costs little. */
  void *b =
      mmap(NULL, size, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (b == MAP_FAILED) {
    live--;
    return NULL;
  }
  if (mprotect(b, page_size(), PROT_NONE) != 0) {
    munmap(b, size);
    live--;
    return NULL;
  }
#ifdef AX__ASAN
  /* The shadow of an address range outlives its mapping: a stack unmapped
   * with frames still poisoned (a task's last switch never returns) would
   * lend its redzones to a new stack mapped at the same place. */
  ASAN_UNPOISON_MEMORY_REGION((char *)b + page_size(), size - page_size());
#endif
  return b;
}

static int pool_want(void) {
  return peak < POOL_MIN ? POOL_MIN : peak > POOL_MAX ? POOL_MAX : peak;
}

static void stack_put(void *base, size_t size) {
  live--;
  if (++nputs >= DECAY_EVERY) {
    nputs = 0;
    peak = live > peak / 2 ? live : peak / 2;
  }
  int want = pool_want();
  while (npool > want) { /* shrink after a decay */
    npool--;
    munmap(pool[npool].base, pool[npool].size);
  }
  if (npool == want) {
    munmap(base, size);
    return;
  }
  if (npool == pool_cap) {
    int cap = pool_cap ? 2 * pool_cap : POOL_MIN;
    pooled *p = realloc(pool, (size_t)cap * sizeof *p);
    if (!p) {
      munmap(base, size);
      return;
    }
    pool = p;
    pool_cap = cap;
  }
  pool[npool].base = base;
  pool[npool].size = size;
  npool++;
}

/* A stack for stack_size bytes of use, plus its guard page. */
static char *stack_for(size_t stack_size, size_t *size) {
  size_t ps = page_size();
  *size = (stack_size + ps - 1) / ps * ps + ps;
  return stack_get(*size);
}

void ax__coro_pool_drain(void) {
  while (npool > 0) {
    npool--;
    munmap(pool[npool].base, pool[npool].size);
  }
  free(pool);
  pool = NULL;
  pool_cap = 0;
  peak = live;
}

#ifdef AX__ASAN
/* Stack bounds of the scheduler (thread) stack, learnt on first entry. */
static const void *sched_lo;
static size_t sched_len;
#endif

#if defined(__x86_64__)

void ax__coro_swap_asm(void **save_sp, void *new_sp);
__asm__(
    ".text\n"
    ".globl ax__coro_swap_asm\n"
    ".hidden ax__coro_swap_asm\n"
    ".type ax__coro_swap_asm,@function\n"
    "ax__coro_swap_asm:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size ax__coro_swap_asm, .-ax__coro_swap_asm\n"
    ".globl ax__coro_start_asm\n"
    ".hidden ax__coro_start_asm\n"
    ".type ax__coro_start_asm,@function\n"
    "ax__coro_start_asm:\n"
    "  movq %r13, %rdi\n"
    "  callq *%r12\n"
    "  ud2\n"
    ".size ax__coro_start_asm, .-ax__coro_start_asm\n");
void ax__coro_start_asm(void);

typedef struct start_args {
  void (*entry)(void *);
  void *arg;
} start_args;

static void coro_entry(void *p) {
  start_args *a = p;
#ifdef AX__ASAN
  __sanitizer_finish_switch_fiber(NULL, &sched_lo, &sched_len);
#endif
  a->entry(a->arg);
  abort(); /* an entry never returns: it switches away for good */
}

int ax__coro_make(ax__coro *c, size_t stack_size, void (*entry)(void *),
                  void *arg) {
  size_t size;
  char *base = stack_for(stack_size, &size);
  if (!base) return AX_ENOMEM;
  uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
  /* The entry's arguments live at the very top of the new stack. */
  start_args *a = (start_args *)(top - 16);
  a->entry = entry;
  a->arg = arg;
  uint64_t *sp = (uint64_t *)(top - 16 - 64);
  uint32_t mxcsr = 0x1F80;
  uint16_t fpucw = 0x037F;
  memset(sp, 0, 64);
  memcpy(&sp[0], &mxcsr, 4);
  memcpy((char *)&sp[0] + 4, &fpucw, 2);
  sp[3] = (uint64_t)(uintptr_t)a;          /* r13: argument */
  sp[4] = (uint64_t)(uintptr_t)coro_entry; /* r12: function */
  sp[7] = (uint64_t)(uintptr_t)ax__coro_start_asm;
  c->sp = sp;
  c->stack = base;
  c->size = size;
  return 0;
}

static void swap(ax__coro *from, ax__coro *to) {
  ax__coro_swap_asm(&from->sp, to->sp);
}

#else /* ucontext fallback */

#include <ucontext.h>

typedef struct uctx {
  ucontext_t uc;
  void (*entry)(void *);
  void *arg;
} uctx;

static void uc_entry(unsigned hi, unsigned lo) {
  uctx *u = (uctx *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
#ifdef AX__ASAN
  __sanitizer_finish_switch_fiber(NULL, &sched_lo, &sched_len);
#endif
  u->entry(u->arg);
  abort();
}

int ax__coro_make(ax__coro *c, size_t stack_size, void (*entry)(void *),
                  void *arg) {
  size_t size, ps = page_size();
  char *base = stack_for(stack_size, &size);
  if (!base) return AX_ENOMEM;
  uctx *u = calloc(1, sizeof *u);
  if (!u) {
    stack_put(base, size);
    return AX_ENOMEM;
  }
  getcontext(&u->uc);
  u->uc.uc_stack.ss_sp = base + ps;
  u->uc.uc_stack.ss_size = size - ps;
  u->uc.uc_link = NULL;
  u->entry = entry;
  u->arg = arg;
  uintptr_t p = (uintptr_t)u;
  makecontext(&u->uc, (void (*)(void))uc_entry, 2, (unsigned)(p >> 32),
              (unsigned)p);
  c->sp = u;
  c->stack = base;
  c->size = size;
  return 0;
}

static void swap(ax__coro *from, ax__coro *to) {
  static uctx sched_uc;
  uctx *f = from->stack ? from->sp : &sched_uc;
  uctx *t = to->stack ? to->sp : &sched_uc;
  if (!from->stack) from->sp = f;
  swapcontext(&f->uc, &t->uc);
}

#endif

void ax__coro_release(ax__coro *c) {
#if !defined(__x86_64__)
  free(c->sp);
#endif
  if (c->stack) stack_put(c->stack, c->size);
  c->stack = NULL;
  c->sp = NULL;
}

void ax__coro_switch(ax__coro *from, ax__coro *to) {
#ifdef AX__ASAN
  /* A task switching away for the last time passes no fake stack, so that
   * ASan frees it; stack->NULL is the scheduler's own stack. */
  void *fake = NULL;
  const void *lo = to->stack ? (char *)to->stack + page_size() : sched_lo;
  size_t len = to->stack ? to->size - page_size() : sched_len;
  __sanitizer_start_switch_fiber(from->dying ? NULL : &fake, lo, len);
  swap(from, to);
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
  swap(from, to);
#endif
}
