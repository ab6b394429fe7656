/* bench.c - axle-bench: axle's figures, each printed beside a raw baseline
 * measured in the same run right before it, so that the ratio means
 * something on a noisy machine. Every figure is a median of rounds; spawn
 * figures also give the minimum (suffix _min_ms), because spawn time is
 * bimodal on a busy machine.
 *
 * Run: build/bench/axle-bench     (finishes in well under a minute)
 * Output: one "name: value unit" line per figure, each name once:
 *   raw_spawn_handshake[_min]_ms     posix_spawn, one 8-byte round trip, reap
 *   axle_[lua_]spawn_rpc_teardown[_min]_ms
 *                                    start an actor (C or Lua module), one
 *                                    call, cancel it, close the nursery
 *   raw_uds_roundtrips_per_s[_lua]   blocking 8-byte ping-pong over a
 *                                    socketpair; measured again right
 *                                    before the Lua figure (_lua)
 *   axle_rpc_roundtrips_per_s        one caller, small value each way
 *   axle_rpc_concurrent{10,100}_per_s  10 or 100 caller tasks, one portal
 *   axle_lua_rpc_roundtrips_per_s    the same into a Lua actor
 *   axle_[lua_]child_rss_mib         an idle child's resident memory */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "axle.h"

extern char **environ;

#define ROUNDS 7

static char self_path[4096];
static const ax_spawn_opts benchmod_c = {sizeof(ax_spawn_opts),
                                         "c:" BENCHMOD_PATH, NULL, 0, 0, 0};
static const ax_spawn_opts benchmod_lua = {
    sizeof(ax_spawn_opts), "lua:" BENCHMOD_LUA_PATH, NULL, 0, 0, 0};

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median and minimum of a spawn figure's rounds. */
typedef struct spawn_ms {
  double median, min;
} spawn_ms;

static spawn_ms spawn_figure(double *v, int n) {
  double med = median(v, n); /* sorts v */
  return (spawn_ms){med, v[0]};
}

/* ----------------------------------------------------------- raw */

/* A raw child: answer every 8-byte message on fd 3 until end of file. */
static int raw_child(void) {
  char buf[8];
  for (;;) {
    ssize_t n = read(3, buf, sizeof buf);
    if (n <= 0) return 0;
    if (write(3, buf, (size_t)n) != n) return 1;
  }
}

static pid_t spawn_raw(int *fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *argv[] = {self_path, "--raw-child", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, self_path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return -1;
  }
  *fd = sv[0];
  return pid;
}

static int ping(int fd) {
  char buf[8] = "pingpong";
  return write(fd, buf, 8) == 8 && read(fd, buf, 8) == 8 ? 0 : -1;
}

/* Spawn a process, one handshake round trip, end it, reap it. */
static spawn_ms raw_spawn_handshake_ms(void) {
  double v[ROUNDS * 3];
  for (int i = 0; i < ROUNDS * 3; i++) {
    double t0 = ax_now();
    int fd;
    pid_t pid = spawn_raw(&fd);
    if (pid < 0 || ping(fd) < 0) return (spawn_ms){-1, -1};
    close(fd);
    waitpid(pid, NULL, 0);
    v[i] = (ax_now() - t0) * 1e3;
  }
  return spawn_figure(v, ROUNDS * 3);
}

static double raw_uds_roundtrips_per_s(int n) {
  int fd;
  pid_t pid = spawn_raw(&fd);
  if (pid < 0) return -1;
  double v[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = ax_now();
    for (int i = 0; i < n; i++)
      if (ping(fd) < 0) return -1;
    v[r] = n / (ax_now() - t0);
  }
  close(fd);
  waitpid(pid, NULL, 0);
  return median(v, ROUNDS);
}

/* ---------------------------------------------------------- axle */

typedef struct figures {
  const ax_spawn_opts *module;
  spawn_ms spawn;
  double rpc, rpc10, rpc100, rss_mib;
  int calls;
  const char *failed;
} figures;

static ax_data *small_arg;

static int one_call(ax_portal *p) {
  ax_data *r = NULL;
  int rc = ax_portal_run(p, NULL, "echo", small_arg, &r, NULL);
  ax_data_free(r);
  return rc;
}

static int spawn_rpc_teardown(figures *f) {
  double v[ROUNDS * 3];
  for (int i = 0; i < ROUNDS * 3; i++) {
    double t0 = ax_now();
    ax_nursery *n;
    ax_portal *p;
    if (ax_nursery_open(&n) < 0) return -1;
    int rc = ax_start_actor(n, "bench", f->module, &p, NULL);
    if (rc == 0) rc = one_call(p);
    if (rc == 0) rc = ax_portal_cancel_actor(p);
    if (ax_nursery_close(n, NULL) < 0 || rc < 0) return -1;
    v[i] = (ax_now() - t0) * 1e3;
  }
  f->spawn = spawn_figure(v, ROUNDS * 3);
  return 0;
}

typedef struct caller {
  ax_portal *p;
  int n, rc;
} caller;

static int caller_task(void *arg) {
  caller *c = arg;
  for (int i = 0; i < c->n && c->rc == 0; i++) c->rc = one_call(c->p);
  return 0;
}

static double rss_mib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *fp = fopen(path, "r");
  if (!fp) return -1;
  double kib = -1;
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, "VmRSS:", 6)) kib = atof(line + 6);
  fclose(fp);
  return kib / 1024.0;
}

#define MAX_CALLERS 100

/* Round trips per second of ntasks caller tasks sharing portal p. */
static int concurrent(ax_portal *p, int ntasks, int calls, double *out) {
  double v[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    caller c[MAX_CALLERS];
    ax_task *t[MAX_CALLERS];
    int rc = 0, started = 0;
    double t0 = ax_now();
    for (; started < ntasks; started++) {
      c[started] = (caller){p, calls / ntasks, 0};
      rc = ax_task_start(caller_task, &c[started], &t[started]);
      if (rc < 0) break;
    }
    for (int i = 0; i < started; i++) {
      ax_task_join(t[i], NULL);
      if (c[i].rc < 0) rc = c[i].rc;
    }
    if (rc < 0) return rc;
    v[r] = (calls / ntasks * ntasks) / (ax_now() - t0);
  }
  *out = median(v, ROUNDS);
  return 0;
}

static int rpc_figures(figures *f) {
  ax_nursery *n;
  ax_portal *p;
  if (ax_nursery_open(&n) < 0) return -1;
  int rc = ax_start_actor(n, "daemon", f->module, &p, NULL);
  double v[ROUNDS];
  for (int r = 0; rc == 0 && r < ROUNDS; r++) {
    double t0 = ax_now();
    for (int i = 0; rc == 0 && i < f->calls; i++) rc = one_call(p);
    v[r] = f->calls / (ax_now() - t0);
  }
  if (rc == 0) f->rpc = median(v, ROUNDS);
  if (rc == 0) rc = concurrent(p, 10, f->calls, &f->rpc10);
  if (rc == 0) rc = concurrent(p, 100, f->calls, &f->rpc100);
  /* An idle child, settled. */
  if (rc == 0) rc = ax_sleep(0.2);
  if (rc == 0) f->rss_mib = rss_mib(ax_portal_pid(p));
  ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  return rc;
}

static int bench_root(void *arg) {
  figures *f = arg;
  if (spawn_rpc_teardown(f) < 0) f->failed = "spawn";
  return 0;
}

static int bench_rpc(void *arg) {
  figures *f = arg;
  if (rpc_figures(f) < 0) f->failed = "rpc";
  return 0;
}

static int run(ax_task_fn fn, figures *f) {
  ax_opts o = {.size = sizeof o, .name = "bench"};
  ax_run(&o, fn, f);
  if (f->failed) {
    fprintf(stderr, "axle-bench: the %s figures failed\n", f->failed);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--raw-child")) return raw_child();
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0) return 1;
  self_path[n] = 0;
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 1);
  ax_pack_str(p, "v");
  ax_pack_int(p, 42);
  ax_pack_finish(p, &small_arg);
  figures f = {.module = &benchmod_c, .calls = 20000};
  figures l = {.module = &benchmod_lua, .calls = 20000};

  spawn_ms raw = raw_spawn_handshake_ms();
  printf("raw_spawn_handshake_ms: %.3f ms\n", raw.median);
  printf("raw_spawn_handshake_min_ms: %.3f ms\n", raw.min);
  fflush(stdout);
  if (run(bench_root, &f)) return 1;
  printf("axle_spawn_rpc_teardown_ms: %.3f ms\n", f.spawn.median);
  printf("axle_spawn_rpc_teardown_min_ms: %.3f ms\n", f.spawn.min);
  if (run(bench_root, &l)) return 1;
  printf("axle_lua_spawn_rpc_teardown_ms: %.3f ms\n", l.spawn.median);
  printf("axle_lua_spawn_rpc_teardown_min_ms: %.3f ms\n", l.spawn.min);
  printf("raw_uds_roundtrips_per_s: %.0f /s\n",
         raw_uds_roundtrips_per_s(f.calls));
  fflush(stdout);
  if (run(bench_rpc, &f)) return 1;
  printf("axle_rpc_roundtrips_per_s: %.0f /s\n", f.rpc);
  printf("axle_rpc_concurrent10_per_s: %.0f /s\n", f.rpc10);
  printf("axle_rpc_concurrent100_per_s: %.0f /s\n", f.rpc100);
  printf("raw_uds_roundtrips_per_s_lua: %.0f /s\n",
         raw_uds_roundtrips_per_s(l.calls));
  fflush(stdout);
  if (run(bench_rpc, &l)) return 1;
  printf("axle_lua_rpc_roundtrips_per_s: %.0f /s\n", l.rpc);
  printf("axle_child_rss_mib: %.2f MiB\n", f.rss_mib);
  printf("axle_lua_child_rss_mib: %.2f MiB\n", l.rss_mib);
  ax_data_free(small_arg);
  return 0;
}
