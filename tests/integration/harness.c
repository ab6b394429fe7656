/* harness.c - see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

pid_t h_spawn_out(char *const argv[], int *outfd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    return -1;
  }
  *outfd = p[0];
  return pid;
}

int h_read_until(int fd, const char *want, double timeout_s, char *buf,
                 size_t cap) {
  size_t len = strlen(buf);
  double end = ax_now() + timeout_s;
  while (!strstr(buf, want)) {
    int left = (int)((end - ax_now()) * 1000);
    if (left <= 0 || len + 1 >= cap) return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n <= 0) return -1;
    len += (size_t)n;
    buf[len] = 0;
  }
  return 0;
}

int h_wait_exit(pid_t pid, double timeout_s, int *status) {
  double end = ax_now() + timeout_s;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return 0;
    if (r < 0 || ax_now() > end) return -1;
    nap_ms(5);
  }
}
