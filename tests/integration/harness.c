/* harness.c - see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static char tag[96];

void h_begin(unsigned timeout_s) {
  static int n;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(tag, sizeof tag, "%d-%d-%ld", (int)getpid(), ++n, (long)ts.tv_nsec);
  setenv("AXLE_TEST_TAG", tag, 1);
  alarm(timeout_s);
}

static int is_zombie(const char *pid) {
  char path[300], buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *rp = strrchr(buf, ')');
  return !rp || rp[2] == 'Z' || rp[2] == 'X';
}

static int has_tag(const char *pid) {
  char path[300];
  static char env[1 << 16];
  snprintf(path, sizeof path, "/proc/%s/environ", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, env, sizeof env - 1);
  close(fd);
  if (n <= 0) return 0;
  char want[128];
  snprintf(want, sizeof want, "AXLE_TEST_TAG=%s", tag);
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
    env[n] = 0;
    if (!strcmp(env + i, want)) return 1;
  }
  return 0;
}

int h_alive(void) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int count = 0;
  char self[16];
  snprintf(self, sizeof self, "%d", (int)getpid());
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (!strcmp(e->d_name, self)) continue;
    if (has_tag(e->d_name) && !is_zombie(e->d_name)) count++;
  }
  closedir(d);
  return count;
}

void h_reap(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int h_wait_none(double timeout_s) {
  int left = h_alive();
  for (int i = 0; left > 0 && i < (int)(timeout_s * 100); i++) {
    nap_ms(10);
    h_reap();
    left = h_alive();
  }
  return left;
}

int h_wait_at_least(int n, double timeout_s) {
  int have = h_alive();
  for (int i = 0; have < n && i < (int)(timeout_s * 100); i++) {
    nap_ms(10);
    have = h_alive();
  }
  return have;
}

ax_data *h_kw(const char *fmt, ...) {
  va_list ap;
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, (uint32_t)strlen(fmt));
  va_start(ap, fmt);
  for (const char *f = fmt; *f; f++) {
    ax_pack_str(p, va_arg(ap, const char *));
    switch (*f) {
      case 's': ax_pack_str(p, va_arg(ap, const char *)); break;
      case 'i': ax_pack_int(p, va_arg(ap, long long)); break;
      case 'f': ax_pack_float(p, va_arg(ap, double)); break;
      case 'b': ax_pack_bool(p, va_arg(ap, int)); break;
      default: ax_pack_nil(p);
    }
  }
  va_end(ap);
  ax_data *d = NULL;
  ax_pack_finish(p, &d);
  return d;
}

int h_run(double grace, ax_task_fn fn, void *arg) {
  ax_opts o = {.size = sizeof o, .name = "testroot", .grace = grace};
  return ax_run(&o, fn, arg);
}

pid_t h_spawn(char *const argv[]) {
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
  return pid;
}

int h_capture(const char *cmd, char *out, size_t cap) {
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char h_out[1 << 16];

void h_expect(const char *cmd, int status, const char *want) {
  h_begin(60);
  int st = h_capture(cmd, h_out, sizeof h_out);
  if (st != status || (want && !strstr(h_out, want)))
    fail_msg("`%s` exited %d (want %d), output:\n%s\n(want '%s')", cmd, st,
             status, h_out, want ? want : "");
  assert_int_equal(h_wait_none(2), 0);
}
