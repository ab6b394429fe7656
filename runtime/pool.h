/* pool.h - free lists of records (pool.c). Part of internal.h, which
 * includes it where the declarations it relies on stand; include internal.h,
 * not this. */
#ifndef AX_POOL_H
#define AX_POOL_H

/* A free list of records of one size (at least a pointer's), keeping at
 * most max of them. */
typedef struct ax__pool {
  void *head;
  int n, max, listed;
  struct ax__pool *next_pool;
} ax__pool;
#if defined(__SANITIZE_ADDRESS__)
/* Under ASan a record is freed at once, so a use after free is caught. */
#define AX__POOL(max) {NULL, 0, 0, 0, NULL}
#else
#define AX__POOL(max) {NULL, 0, (max), 0, NULL}
#endif

void ax__pool_put_slow(ax__pool *p, void *r);
/* Free every pool's records (ax_shutdown). */
void ax__pools_drain(void);

/* A record of size bytes from p, or from malloc; its contents are junk. */
static inline void *ax__pool_get(ax__pool *p, size_t size) {
  void *r = p->head;
  if (!r) return malloc(size);
  p->head = *(void **)r;
  p->n--;
  return r;
}

/* Give r back to p (free it when p is full). */
static inline void ax__pool_put(ax__pool *p, void *r) {
  if (p->listed && p->n < p->max) {
    *(void **)r = p->head;
    p->head = r;
    p->n++;
    return;
  }
  ax__pool_put_slow(p, r);
}

#endif
