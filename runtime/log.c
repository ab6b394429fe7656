/* log.c - the logger: one line per message on stderr,
 *   2026-12-01T04:05:06.123 [axle NAME PID] LEVEL: message
 * (local time to the millisecond), the level in colour when stderr is a
 * terminal and NO_COLOR is unset or empty; AXLE_LOG sets the level of a
 * root. Each line is one write, so lines of several processes sharing a
 * stderr never interleave mid-line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* SGR sequences for the timestamp and for each level's name. */
#define DIM "\033[2m"
#define RESET "\033[0m"
static const char *const level_colours[] = {"\033[1;31m", "\033[33m",
                                            "\033[32m", "\033[36m"};

/* Decided once per process: children inherit stderr and the environment,
 * so each decides the same way for the same terminal. */
static int use_colour(void) {
  static int colour = -1;
  if (colour < 0) {
    const char *nc = getenv("NO_COLOR");
    colour = (!nc || !*nc) && isatty(2);
  }
  return colour;
}

static void write_all(const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* nowhere to say it */
    b += w;
    n -= (size_t)w;
  }
}

/* Format and write one line, whatever the level. */
static void emit(int level, const char *fmt, va_list ap) {
  char stamp[32] = "";
  struct timespec ts;
  struct tm tm;
  if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && localtime_r(&ts.tv_sec, &tm)) {
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ld", ts.tv_nsec / 1000000);
  }
  int known = level >= 1 && level <= 4;
  const char *lv = known ? level_names[level - 1] : "log";
  int colour = use_colour();
  char prefix[160];
  int pl = snprintf(prefix, sizeof prefix,
                    "%s%s%s [axle %s %d] %s%s%s: ", colour ? DIM : "", stamp,
                    colour ? RESET : "", ax__rt_g ? ax__rt_g->self.name : "-",
                    ax__rt_g ? ax__rt_g->self.pid : (int)getpid(),
                    colour && known ? level_colours[level - 1] : "", lv,
                    colour && known ? RESET : "");
  if (pl < 0) return;
  if ((size_t)pl >= sizeof prefix) pl = sizeof prefix - 1;
  /* Most lines fit on the stack; a long one (a traceback) gets the heap,
   * and is cut to the stack's size only when memory is out. */
  char small[2048], *line = small;
  size_t cap = sizeof small;
  va_list again;
  va_copy(again, ap);
  int ml = vsnprintf(small + pl, cap - (size_t)pl - 1, fmt, ap);
  if (ml < 0) ml = 0;
  if ((size_t)pl + (size_t)ml + 1 >= cap) {
    char *big = malloc((size_t)pl + (size_t)ml + 2);
    if (big) {
      line = big;
      cap = (size_t)pl + (size_t)ml + 2;
      vsnprintf(big + pl, (size_t)ml + 1, fmt, again);
    } else {
      ml = (int)(cap - (size_t)pl - 2);
    }
  }
  va_end(again);
  memcpy(line, prefix, (size_t)pl);
  line[pl + ml] = '\n';
  write_all(line, (size_t)pl + (size_t)ml + 1);
  if (line != small) free(line);
}

static void say(int level, const char *fmt, ...) AX_PRINTF(2, 3);
static void say(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(level, fmt, ap);
  va_end(ap);
}

/* AXLE_LOG: a level's name in any case, or its number 1 to 4. Anything
 * else is said once, on stderr, and the default (warn) holds. */
int ax__log_env_level(void) {
  const char *e = getenv("AXLE_LOG");
  if (!e || !*e) return AX_LOG_WARN;
  for (int i = 0; i < 4; i++)
    if (!strcasecmp(e, level_names[i])) return i + 1;
  char *end;
  long v = strtol(e, &end, 10);
  if (!*end && v >= 1 && v <= 4) return (int)v;
  static int warned;
  if (!warned) {
    warned = 1;
    say(AX_LOG_WARN,
        "AXLE_LOG=%s is no level (error, warn, info, debug or 1 to 4): "
        "using warn",
        e);
    /* Said once for the tree: the actors below inherit the environment. */
    setenv("AXLE_LOG", "warn", 1);
  }
  return AX_LOG_WARN;
}

int ax_loglevel(void) {
  return ax__rt_g ? ax__rt_g->loglevel : ax__log_env_level();
}

void ax_log(int level, const char *fmt, ...) {
  if (level > ax_loglevel()) return;
  va_list ap;
  va_start(ap, fmt);
  emit(level, fmt, ap);
  va_end(ap);
}
