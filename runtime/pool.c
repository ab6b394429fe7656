/* pool.c - free lists of fixed-size records: what the hot path allocates
 * per call (tasks, served calls, outgoing calls) goes back to a pool, not
 * to malloc, up to a bound. Every pool that ever held a record is drained
 * at shutdown. */
#include <stdlib.h>

#include "internal.h"

static ax__pool *pools; /* those that held a record, to drain */

void ax__pool_put_slow(ax__pool *p, void *r) {
  if (!p->listed) {
    p->listed = 1;
    p->next_pool = pools;
    pools = p;
  }
  if (p->n >= p->max) {
    free(r);
    return;
  }
  *(void **)r = p->head;
  p->head = r;
  p->n++;
}

void ax__pools_drain(void) {
  for (ax__pool *p = pools; p; p = p->next_pool) {
    while (p->head) {
      void *r = p->head;
      p->head = *(void **)r;
      free(r);
    }
    p->n = 0;
    p->listed = 0;
  }
  pools = NULL;
}
