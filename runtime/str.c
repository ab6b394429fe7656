/* str.c - C strings the runtime allocates: copies and formatting, freed
 * with free (or ax_free once they cross the ABI); and UTF-8 checks, for
 * what goes on the wire as text. */
#include <stdarg.h>
#include <stdint.h>
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

/* The length of the well-formed UTF-8 sequence at s (n > 0 bytes left),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return len;
}

int ax__utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    /* ASCII runs, the common case, one byte at a time without a call. */
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

char *ax__utf8_fix(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  /* Each bad byte becomes U+FFFD, three bytes. */
  char *out = n <= (SIZE_MAX - 1) / 3 ? malloc(3 * n + 1) : NULL;
  if (!out) return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(p + i, n - i);
    if (k) {
      memcpy(out + w, p + i, k);
      w += k;
      i += k;
    } else {
      memcpy(out + w, "\xef\xbf\xbd", 3);
      w += 3;
      i++;
    }
  }
  out[w] = 0;
  return out;
}
