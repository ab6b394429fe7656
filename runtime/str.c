/* str.c - C strings the runtime allocates: copies and formatting. Freed
 * with free (or ax_free once they cross the ABI). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *ax__strdup(const char *s) { return ax__strndup(s, s ? strlen(s) : 0); }

char *ax__strndup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *ax__vasprintf(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *ax__asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = ax__vasprintf(fmt, ap);
  va_end(ap);
  return s;
}
