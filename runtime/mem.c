/* mem.c - large buffers. A buffer of megabytes (a message assembled from
 * parts, a pack that grew, a document) is touched page by page right
 * after it is allocated. Each first touch of a 4 KiB page is a fault, and
 * on a virtual machine with shadow page tables a slow one: copying 32 MiB
 * into fresh memory took 80 ms there, against 10 ms into huge pages. And
 * a buffer grown by realloc in the heap is copied whole at each doubling.
 * So a large buffer asks the kernel for transparent huge pages (Debian's
 * kernel gives them on request, its "madvise" mode), a fault per 2 MiB;
 * and a growable one becomes a mapping of its own once large, which
 * mremap grows by moving page tables, never bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static size_t page_size(void) {
  static size_t page;
  if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
  return page;
}

static size_t round_page(size_t n) {
  size_t page = page_size();
  return (n + page - 1) & ~(page - 1);
}

void ax__mem_big_slow(void *p, size_t len) {
#ifdef MADV_HUGEPAGE
  if (!p) return;
  /* The advice covers the buffer's whole pages; a realloc that grows it
   * in place keeps it. */
  size_t page = page_size();
  uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
  uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)(page - 1);
  if (end > a) (void)madvise((void *)a, end - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)len;
#endif
}


/* A mapping of len bytes (rounded up to pages), or NULL. */
static void *map(size_t len) {
  void *q = mmap(NULL, round_page(len), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) return NULL;
  ax__mem_big_slow(q, round_page(len));
  return q;
}

void *ax__buf_resize(void *p, size_t cap, size_t newcap) {
  if (!p) cap = 0;
  int big = cap >= AX__MEM_BIG, newbig = newcap >= AX__MEM_BIG;
  if (!big && !newbig) return realloc(p, newcap ? newcap : 1);
  if (big && newbig) {
    if (round_page(cap) == round_page(newcap)) return p;
    void *q = mremap(p, round_page(cap), round_page(newcap), MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
  }
  void *q = newbig ? map(newcap) : malloc(newcap ? newcap : 1);
  if (!q) return NULL;
  if (p) memcpy(q, p, cap < newcap ? cap : newcap);
  ax__buf_free(p, cap);
  return q;
}

void ax__buf_free(void *p, size_t cap) {
  if (!p) return;
  if (cap >= AX__MEM_BIG)
    munmap(p, round_page(cap));
  else
    free(p);
}
