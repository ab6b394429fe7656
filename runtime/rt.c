/* rt.c - the state of the runtime of one process (ax__rt, in internal.h)
 * and its clock. It is the lowest layer: every file may read the state;
 * loop.c makes it and sets the hooks upper layers provide, and boot.c, a
 * child's main, adds those of a child. */
#include <time.h>

#include "internal.h"

ax__rt *ax__rt_g;

double ax_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
