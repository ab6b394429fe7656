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

/* ------------------------------------------------------- close names */

/* Letters compared without case: a name that differs only in case is the
 * closest there is. */
static int fold(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* Edits (insert, delete, replace, swap two neighbours) from a to b, or
 * limit + 1 once more than limit are needed. Names longer than NAME_MAX_D
 * are never within reach. */
#define NAME_MAX_D 64
static int edits(const char *a, size_t na, const char *b, size_t nb,
                 int limit) {
  if (na > NAME_MAX_D || nb > NAME_MAX_D) return limit + 1;
  if ((na > nb ? na - nb : nb - na) > (size_t)limit) return limit + 1;
  int rows[3][NAME_MAX_D + 1];
  int *pp = rows[0], *prev = rows[1], *row = rows[2];
  for (size_t j = 0; j <= nb; j++) prev[j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    row[0] = (int)i;
    int best = row[0];
    for (size_t j = 1; j <= nb; j++) {
      int same = fold(a[i - 1]) == fold(b[j - 1]);
      int d = prev[j - 1] + !same;
      if (prev[j] + 1 < d) d = prev[j] + 1;
      if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
      if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
          fold(a[i - 2]) == fold(b[j - 1]) && pp[j - 2] + 1 < d)
        d = pp[j - 2] + 1;
      row[j] = d;
      if (d < best) best = d;
    }
    if (best > limit) return limit + 1;
    int *t = pp;
    pp = prev;
    prev = row;
    row = t;
  }
  return prev[nb] <= limit ? prev[nb] : limit + 1;
}

/* Whether the shorter of a and b, three letters at least, starts the
 * longer one. */
static int prefix_of(const char *a, size_t na, const char *b, size_t nb) {
  size_t n = na < nb ? na : nb;
  if (n < 3 || na == nb) return 0;
  for (size_t i = 0; i < n; i++)
    if (fold(a[i]) != fold(b[i])) return 0;
  return 1;
}

const char *ax_closest_name(const char *name, const char *const *names,
                            size_t n) {
  if (!name || !names) return NULL;
  size_t len = strlen(name);
  /* Two edits make another word of a name of two or three letters. */
  int limit = len <= 2 ? 1 : 2;
  const char *best = NULL;
  size_t best_score = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    const char *c = names[i];
    if (!c || !strcmp(c, name)) continue;
    size_t cl = strlen(c), score;
    int d = edits(name, len, c, cl, limit);
    /* Half the letters at least stay: "add" is no typo of "pid". */
    if (d <= limit && 2 * (size_t)d <= (len > cl ? len : cl) && (size_t)d < len)
      score = (size_t)d; /* 0: the same but for case */
    else if (prefix_of(name, len, c, cl))
      score = (size_t)limit + 1 + (len > cl ? len - cl : cl - len);
    else
      continue;
    if (score < best_score) {
      best = c;
      best_score = score;
    }
  }
  return best;
}
