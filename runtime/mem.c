/* mem.c - large buffers. A buffer of megabytes (a message in parts, its
 * decoded value, a pack that grew) is touched page by page right after it
 * is allocated; each first touch of a 4 KiB page is a fault, and on a
 * virtual machine with shadow page tables a slow one: copying 32 MiB into
 * fresh memory took 80 ms there against 4 ms into huge pages. So such a
 * buffer asks the kernel for transparent huge pages (which Debian's kernel
 * gives on request: "madvise" mode), a fault per 2 MiB. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

void ax__mem_big(void *p, size_t len) {
#ifdef MADV_HUGEPAGE
  if (!p || len < AX__MEM_BIG) return;
  /* glibc maps a buffer this large on its own; the advice covers its
   * whole pages, and a realloc that grows it in place keeps it. */
  static uintptr_t page;
  if (!page) page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);
  if (end > a) (void)madvise((void *)a, end - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)len;
#endif
}

void *ax__mem_alloc(size_t len) {
  void *p = malloc(len);
  ax__mem_big(p, len);
  return p;
}

void *ax__mem_realloc(void *p, size_t len) {
  void *q = realloc(p, len);
  ax__mem_big(q, len);
  return q;
}
