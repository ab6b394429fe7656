/* log.c - the logger: one line per message on stderr, prefixed with the
 * actor's name and pid and the level; AXLE_LOG sets the level of a root. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int ax__log_env_level(void) {
  const char *e = getenv("AXLE_LOG");
  if (!e || !*e) return AX_LOG_WARN;
  if (!strcmp(e, "error")) return AX_LOG_ERROR;
  if (!strcmp(e, "warn")) return AX_LOG_WARN;
  if (!strcmp(e, "info")) return AX_LOG_INFO;
  if (!strcmp(e, "debug")) return AX_LOG_DEBUG;
  return atoi(e);
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
