/* log.c - the logger: one line per message on stderr, prefixed with the
 * actor's name and pid and the level; AXLE_LOG sets the level of a root. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

/* AXLE_LOG: a level's name in any case, or its number 1 to 4. Anything
 * else is said once, on stderr, and the default (warn) holds. */
int ax__log_env_level(void) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  const char *e = getenv("AXLE_LOG");
  if (!e || !*e) return AX_LOG_WARN;
  for (int i = 0; i < 4; i++)
    if (!strcasecmp(e, names[i])) return i + 1;
  char *end;
  long v = strtol(e, &end, 10);
  if (!*end && v >= 1 && v <= 4) return (int)v;
  static int warned;
  if (!warned) {
    warned = 1;
    fprintf(stderr,
            "[axle %d] warn: AXLE_LOG=%s is no level (error, warn, info, "
            "debug or 1 to 4): using warn\n",
            (int)getpid(), e);
  }
  return AX_LOG_WARN;
}

int ax_loglevel(void) {
  return ax__rt_g ? ax__rt_g->loglevel : ax__log_env_level();
}

void ax_log(int level, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > ax_loglevel()) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *lv = level >= 1 && level <= 4 ? names[level - 1] : "log";
  if (ax__rt_g)
    fprintf(stderr, "[axle %s %d] %s: %s\n", ax__rt_g->self.name,
            ax__rt_g->self.pid, lv, msg);
  else
    fprintf(stderr, "[axle %d] %s: %s\n", (int)getpid(), lv, msg);
}
