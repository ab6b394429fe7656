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
 *   axle_[lua_]child_rss_mib         an idle child's resident memory
 *   raw_uds_stream_msgs_per_s[_lua]  a child writes 1,000,000 frames of one
 *                                    small msgpack value in 64 KiB writes;
 *                                    read and walked frame by frame
 *   axle_stream_{c,lua}_msgs_per_s   1,000,000 small integers one way on a
 *                                    context's stream, C->C and Lua->Lua
 *   raw_uds_roundtrips_per_s_stream  the ping-pong baseline again, right
 *                                    before:
 *   axle_stream_pingpong_per_s       a value each way on one stream
 *   axle_stream_idle_rss_mib         both sides' resident memory before:
 *   axle_stream_1gib_rss_mib         the most either side held while 1 GiB
 *                                    went over a stream in 64 KiB values
 *   axle_pingpong_idle[_worst]_ms    the median (slowest) of n small
 *                                    calls on an idle channel, n being as
 *                                    many as the next made
 *   axle_large_msg_pingpong[_worst]_ms  the same, on the same channel
 *                                    while a 32 MiB value goes on a
 *                                    stream (to "sink", which answers
 *                                    with its size)
 *   axle_large_msg_transfer_ms       that value's send and answer
 *   axle_large_call_pingpong[_worst]_ms, axle_large_call_roundtrip_ms
 *                                    the same while a call with 32 MiB
 *                                    arguments (and result) goes
 * Run: build/bench/axle-bench --large   prints only the last eight figures.
 *
 * Run: build/bench/axle-bench --instructions   (about half a minute; needs
 * valgrind) counts instructions per round trip under callgrind, each side
 * of a ping-pong in its own process, all in the same run:
 *   raw_uv_pingpong_instr_per_rt     libuv on both sides, 8 bytes each way
 *                                    over a socketpair; per side (the mean
 *                                    of the two processes)
 *   axle_rpc_{caller,callee}_instr_per_rt       C caller, C actor (echo)
 *   axle_lua_rpc_{caller,callee}_instr_per_rt   `axle run` of a Lua root,
 *                                    Lua actor (benchmod.lua: pingpong) */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "axle.h"

extern char **environ;

#define ROUNDS 7

static char self_path[4096];
static const ax_spawn_opts benchmod_c = {
    sizeof(ax_spawn_opts), "c:" BENCHMOD_PATH, NULL, 0, 0, 0};
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

/* A raw stream child: write n frames (a 4-byte length, then a one-byte
 * msgpack integer) to fd 3 in 64 KiB writes, then close. */
static int raw_stream_child(long n) {
  static unsigned char buf[1 << 16];
  size_t used = 0;
  for (long i = 0; i < n; i++) {
    if (used + 5 > sizeof buf) {
      if (write(3, buf, used) != (ssize_t)used) return 1;
      used = 0;
    }
    unsigned char f[5] = {0, 0, 0, 1, (unsigned char)(i & 0x7f)};
    memcpy(buf + used, f, 5);
    used += 5;
  }
  return write(3, buf, used) == (ssize_t)used ? 0 : 1;
}

/* Start this program as a raw child in mode (one argument, or NULL), its
 * fd 3 the other end of *fd. */
static pid_t spawn_raw_mode(int *fd, char *mode, char *arg) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *argv[] = {self_path, mode, arg, NULL};
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

/* The raw baseline of a one-way stream: frames of one small msgpack value
 * read in 64 KiB reads and walked frame by frame. */
static double raw_uds_stream_msgs_per_s(long n) {
  double v[3];
  static unsigned char buf[1 << 16];
  char arg[32];
  snprintf(arg, sizeof arg, "%ld", n);
  for (int r = 0; r < 3; r++) {
    int fd;
    double t0 = ax_now();
    pid_t pid = spawn_raw_mode(&fd, "--raw-stream-child", arg);
    if (pid < 0) return -1;
    long got = 0;
    size_t have = 0;
    ssize_t k;
    while ((k = read(fd, buf + have, sizeof buf - have)) > 0) {
      have += (size_t)k;
      size_t off = 0;
      while (have - off >= 4) {
        size_t len = (size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
                     (size_t)buf[off + 2] << 8 | buf[off + 3];
        if (have - off < 4 + len) break;
        got += buf[off + 4] <= 0x7f; /* a positive fixint: one value */
        off += 4 + len;
      }
      memmove(buf, buf + off, have - off);
      have -= off;
    }
    close(fd);
    waitpid(pid, NULL, 0);
    if (got != n) return -1;
    v[r] = n / (ax_now() - t0);
  }
  return median(v, 3);
}

static pid_t spawn_raw(int *fd) {
  return spawn_raw_mode(fd, "--raw-child", NULL);
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
  double stream, stream_pingpong, big_rss[2], idle_rss[2];
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
  /* An idle child, settled, after the same work as in earlier versions of
   * this bench: the 100-caller burst below keeps stacks in the child's
   * pool (by design), which is not what this figure compares. */
  if (rc == 0) rc = ax_sleep(0.2);
  if (rc == 0) f->rss_mib = rss_mib(ax_portal_pid(p));
  if (rc == 0) rc = concurrent(p, 100, f->calls, &f->rpc100);
  ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  return rc;
}

/* ------------------------------------------------------------ streams */

#define STREAM_N 1000000L
#define BIG_N 16384 /* 1 GiB in 64 KiB values */

/* Open produce or pong of benchmod as a context with its stream. */
static int open_stream(ax_portal *p, const char *func, long n, long size,
                       ax_context **c, ax_stream **s) {
  ax_pack *k = ax_pack_new();
  ax_pack_map(k, 2);
  ax_pack_str(k, "n");
  ax_pack_int(k, n);
  ax_pack_str(k, "size");
  ax_pack_int(k, size);
  ax_data *kw;
  int rc = ax_pack_finish(k, &kw);
  if (rc == 0) rc = ax_portal_open_context(p, NULL, func, kw, c, NULL, NULL);
  ax_data_free(kw);
  if (rc == 0) rc = ax_context_open_stream(*c, NULL, s);
  return rc;
}

static int stream_figures(figures *f) {
  ax_nursery *n;
  ax_portal *p;
  if (ax_nursery_open(&n) < 0) return -1;
  int rc = ax_start_actor(n, "streamer", f->module, &p, NULL);
  double v[3];
  /* One way: values taken as fast as they come. */
  for (int r = 0; rc == 0 && r < 3; r++) {
    ax_context *c;
    ax_stream *s;
    double t0 = ax_now();
    long got = 0;
    rc = open_stream(p, "produce", STREAM_N, 0, &c, &s);
    ax_data *d;
    while (rc == 0 && ax_stream_recv(s, &d, NULL) == 0) {
      got++;
      ax_data_free(d);
    }
    if (rc == 0) rc = ax_context_close(c, 0, NULL);
    if (got != STREAM_N) rc = -1;
    v[r] = got / (ax_now() - t0);
  }
  if (rc == 0) f->stream = median(v, 3);
  /* Ping-pong over one stream. */
  for (int r = 0; rc == 0 && r < 3; r++) {
    ax_context *c;
    ax_stream *s;
    rc = open_stream(p, "pong", 0, 0, &c, &s);
    double t0 = ax_now();
    for (int i = 0; rc == 0 && i < f->calls; i++) {
      ax_pack *x = ax_pack_new();
      ax_pack_int(x, i);
      ax_data *d = NULL;
      rc = ax_stream_send(s, x);
      if (rc == 0) rc = ax_stream_recv(s, &d, NULL);
      ax_data_free(d);
    }
    v[r] = f->calls / (ax_now() - t0);
    if (rc == 0) rc = ax_stream_close(s);
    if (rc == 0) rc = ax_context_close(c, 0, NULL);
  }
  if (rc == 0) f->stream_pingpong = median(v, 3);
  /* 1 GiB in 64 KiB values: both sides' resident memory, sampled. */
  f->idle_rss[0] = rss_mib(getpid());
  f->idle_rss[1] = rss_mib(ax_portal_pid(p));
  if (rc == 0) {
    ax_context *c;
    ax_stream *s;
    rc = open_stream(p, "produce", BIG_N, 1 << 16, &c, &s);
    ax_data *d;
    long got = 0;
    while (rc == 0 && ax_stream_recv(s, &d, NULL) == 0) {
      ax_data_free(d);
      if (++got % 256 == 0) {
        double a = rss_mib(getpid()), b = rss_mib(ax_portal_pid(p));
        if (a > f->big_rss[0]) f->big_rss[0] = a;
        if (b > f->big_rss[1]) f->big_rss[1] = b;
      }
    }
    if (rc == 0) rc = ax_context_close(c, 0, NULL);
    if (got != BIG_N) rc = -1;
  }
  ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  return rc;
}

/* ------------------------------------------------- large messages */

#define LARGE_MSG (32u << 20)

typedef struct large_figures {
  double idle, idle_worst;
  double busy, busy_worst, transfer;              /* a value on a stream */
  double call_busy, call_worst, call_roundtrip;   /* a call's arguments */
  const char *failed;
} large_figures;

/* The large transfer under way while pings go: a 32 MiB value on a
 * stream to "sink", which answers with its size, or a call of "echo"
 * with 32 MiB arguments, whose result is as large. */
typedef struct large_job {
  ax_portal *p;
  ax_stream *s; /* NULL: the call */
  ax_pack *value;
  ax_data *kw;
  int rc, done;
} large_job;

static int large_task(void *arg) {
  large_job *j = arg;
  ax_data *r = NULL;
  if (j->s) {
    j->rc = ax_stream_send(j->s, j->value);
    if (j->rc == 0) j->rc = ax_stream_recv(j->s, &r, NULL);
    if (j->rc == 0 && ax_val_int(ax_data_root(r)) < LARGE_MSG) j->rc = -1;
  } else {
    j->rc = ax_portal_run(j->p, NULL, "echo", j->kw, &r, NULL);
  }
  ax_data_free(r);
  j->done = 1;
  return 0;
}

#define MAX_PINGS 100000

/* One small round trip, its time in ms appended to v (of *n). */
static int timed_call(ax_portal *p, double *v, int *n) {
  double t0 = ax_now();
  int rc = one_call(p);
  if (*n < MAX_PINGS) v[(*n)++] = (ax_now() - t0) * 1e3;
  return rc;
}

/* Rounds of small round trips while j transfers, on the same portal: the
 * median and slowest of each round, and the transfer's time; then as
 * many round trips with the channel idle. Medians over the rounds. */
static int pings_during(large_job *j, const char *blob, double *v,
                        double out[5]) {
  double busy[ROUNDS], worst[ROUNDS], t[ROUNDS], idle[ROUNDS],
      idle_worst[ROUNDS];
  int rc = 0;
  for (int r = 0; rc == 0 && r < ROUNDS; r++) {
    if (j->s) {
      /* Packed before the clock starts: the sender's own work. */
      j->value = ax_pack_new();
      ax_pack_bin(j->value, blob, LARGE_MSG);
    }
    j->done = 0;
    ax_task *task;
    double t0 = ax_now();
    int pings = 0, idles = 0;
    rc = ax_task_start(large_task, j, &task);
    while (rc == 0 && !j->done) rc = timed_call(j->p, v, &pings);
    if (rc == 0) ax_task_join(task, NULL);
    t[r] = (ax_now() - t0) * 1e3;
    if (rc == 0) rc = j->rc;
    if (rc < 0 || pings == 0) return -1;
    busy[r] = median(v, pings); /* sorts v */
    worst[r] = v[pings - 1];
    while (rc == 0 && idles < pings) rc = timed_call(j->p, v, &idles);
    if (rc < 0) return -1;
    idle[r] = median(v, idles);
    idle_worst[r] = v[idles - 1];
  }
  out[0] = median(busy, ROUNDS);
  out[1] = median(worst, ROUNDS);
  out[2] = median(t, ROUNDS);
  out[3] = median(idle, ROUNDS);
  out[4] = median(idle_worst, ROUNDS);
  return 0;
}

static int large_msg_figures(large_figures *g) {
  ax_nursery *n;
  ax_portal *p;
  if (ax_nursery_open(&n) < 0) return -1;
  int rc = ax_start_actor(n, "daemon", &benchmod_c, &p, NULL);
  char *blob = calloc(1, LARGE_MSG);
  double *v = malloc(MAX_PINGS * sizeof *v);
  if (!blob || !v) rc = -1;
  double out[5];
  /* A value on a stream. */
  ax_context *c = NULL;
  large_job j = {p, NULL, NULL, NULL, 0, 0};
  if (rc == 0) rc = ax_portal_open_context(p, NULL, "sink", NULL, &c, NULL, NULL);
  if (rc == 0) rc = ax_context_open_stream(c, NULL, &j.s);
  if (rc == 0) rc = pings_during(&j, blob, v, out);
  if (rc == 0) {
    g->busy = out[0];
    g->busy_worst = out[1];
    g->transfer = out[2];
    g->idle = out[3];
    g->idle_worst = out[4];
    rc = ax_stream_close(j.s);
  }
  if (c && ax_context_close(c, 0, NULL) < 0) rc = -1;
  /* A call, 32 MiB each way. */
  ax_pack *pk = ax_pack_new();
  ax_pack_map(pk, 1);
  ax_pack_str(pk, "v");
  ax_pack_bin(pk, blob, LARGE_MSG);
  if (ax_pack_finish(pk, &j.kw) < 0) rc = -1;
  j.s = NULL;
  if (rc == 0) rc = pings_during(&j, blob, v, out);
  if (rc == 0) {
    g->call_busy = out[0];
    g->call_worst = out[1];
    g->call_roundtrip = out[2];
  }
  free(blob);
  free(v);
  ax_data_free(j.kw);
  ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  return rc;
}

static int bench_stream(void *arg) {
  figures *f = arg;
  if (stream_figures(f) < 0) f->failed = "stream";
  return 0;
}

/* The Lua figure: `axle run benchmod.lua stream_rate`, a Lua root taking
 * values from a Lua actor, which prints its rate. */
static double lua_stream_msgs_per_s(void) {
  const char *env_host = getenv("AXLE_HOST");
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' stream_rate n=%ld rounds=3",
           env_host && *env_host ? env_host : AXLE_HOST_PATH, BENCHMOD_LUA_PATH,
           STREAM_N);
  FILE *fp = popen(cmd, "r");
  if (!fp) return -1;
  double rate = -1;
  char line[256];
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, "msgs_per_s: ", 12)) rate = atof(line + 12);
  return pclose(fp) == 0 ? rate : -1;
}

static int bench_large(void *arg) {
  large_figures *g = arg;
  if (large_msg_figures(g) < 0) g->failed = "large message";
  return 0;
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

/* ------------------------------------------------ instruction counts */

/* `--instructions` counts instructions per round trip with callgrind, which
 * is deterministic where time is not. Each side of a ping-pong runs as its
 * own process under `valgrind --tool=callgrind`, once with INSTR_K1 and
 * once with INSTR_K2 round trips; the difference of the two whole-process
 * totals divided by INSTR_K2 - INSTR_K1 is the cost of one round trip in
 * that process, with start-up, warm-up (the first INSTR_K1 round trips)
 * and teardown cancelled out. Counting whole processes needs no client
 * requests, and survives the runtime's stack switches, across which
 * callgrind's --toggle-collect loses track (toggled on the caller's task
 * function it counts about a third of the round trip). The median of
 * INSTR_REPS such pairs is printed; they differ by at most tens of
 * instructions (Lua seeds its string hashes from the clock). */
#define INSTR_K1 500
#define INSTR_K2 2500
#define INSTR_REPS 3
#define INSTR_MAX_ARGV 16

/* Environment of the processes under callgrind: where the callee writes
 * its counts, and the real host, which the callee trampoline runs. */
#define ENV_CALLEE_OUT "AXLE_BENCH_CALLEE_OUT"
#define ENV_REAL_HOST "AXLE_BENCH_HOST"

/* valgrind's command line counting every instruction of cmd into out.
 * -q keeps valgrind quiet on stderr unless something is wrong. */
typedef struct cg_cmd {
  char *argv[INSTR_MAX_ARGV];
  char out_opt[4200];
} cg_cmd;

static int cg_cmd_init(cg_cmd *c, const char *out, char *const *cmd) {
  snprintf(c->out_opt, sizeof c->out_opt, "--callgrind-out-file=%s", out);
  char *pre[] = {"valgrind", "--tool=callgrind", "-q", c->out_opt};
  size_t n = 0;
  for (size_t i = 0; i < sizeof pre / sizeof *pre; i++) c->argv[n++] = pre[i];
  for (; *cmd; cmd++) {
    if (n + 1 >= INSTR_MAX_ARGV) return -1;
    c->argv[n++] = *cmd;
  }
  c->argv[n] = NULL;
  return 0;
}

static pid_t spawn_cg(const char *out, char *const *cmd,
                      const posix_spawn_file_actions_t *fa) {
  cg_cmd c;
  pid_t pid;
  if (cg_cmd_init(&c, out, cmd) < 0) return -1;
  int rc = posix_spawnp(&pid, c.argv[0], fa, NULL, c.argv, environ);
  if (rc != 0) {
    fprintf(stderr, "axle-bench: cannot run valgrind: %s\n", strerror(rc));
    return -1;
  }
  return pid;
}

static int wait_ok(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* AXLE_HOST during `--instructions`: the runtime spawns this executable as
 * `--child NAME --ppid PID` with the channel on fd 3 and the crash pipe on
 * fd 4; it becomes the real host under callgrind. exec keeps the pid (the
 * host checks its parent's) and the fds; valgrind's own fds sit high. */
static int callee_trampoline(int argc, char **argv) {
  char *host = getenv(ENV_REAL_HOST), *out = getenv(ENV_CALLEE_OUT);
  char *cmd[INSTR_MAX_ARGV];
  if (!host || !out || argc + 1 > INSTR_MAX_ARGV) {
    fprintf(stderr, "axle-bench: --child is for axle-bench --instructions\n");
    return 2;
  }
  cmd[0] = host;
  for (int i = 1; i <= argc; i++) cmd[i] = argv[i]; /* and the NULL */
  cg_cmd c;
  if (cg_cmd_init(&c, out, cmd) < 0) return 2;
  execvp(c.argv[0], c.argv);
  perror("axle-bench: valgrind");
  return 127;
}

/* The raw baseline: libuv on both sides, 8 bytes each way over a
 * socketpair, one message in flight. */
typedef struct pingpong {
  uv_pipe_t pipe;
  uv_write_t req;
  char buf[64];
  size_t have;
  int left; /* round trips still to make; -1 on the echoing side */
  int writing, failed;
} pingpong;

static void pp_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  pingpong *pp = h->data;
  (void)size;
  *b = uv_buf_init(pp->buf + pp->have, (unsigned)(sizeof pp->buf - pp->have));
}

static void pp_written(uv_write_t *req, int status) {
  pingpong *pp = req->data;
  pp->writing = 0;
  if (status < 0 && status != UV_ECANCELED) pp->failed = 1;
}

static void pp_send(pingpong *pp) {
  static char msg[] = "pingpong";
  uv_buf_t b = uv_buf_init(msg, 8);
  /* One request suffices: the reply cannot come before the write's
   * callback has run (pending callbacks run before the next poll). */
  if (pp->writing) {
    pp->failed = 1;
    uv_close((uv_handle_t *)&pp->pipe, NULL);
    return;
  }
  pp->writing = 1;
  pp->req.data = pp;
  if (uv_write(&pp->req, (uv_stream_t *)&pp->pipe, &b, 1, pp_written) < 0) {
    pp->failed = 1;
    uv_close((uv_handle_t *)&pp->pipe, NULL);
  }
}

static void pp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  pingpong *pp = s->data;
  (void)b;
  if (n < 0) {
    if (n != UV_EOF || pp->left >= 0) pp->failed = 1;
    uv_close((uv_handle_t *)s, NULL);
    return;
  }
  pp->have += (size_t)n;
  while (pp->have >= 8) {
    pp->have -= 8;
    memmove(pp->buf, pp->buf + 8, pp->have);
    if (pp->left < 0 || --pp->left > 0) {
      pp_send(pp);
    } else {
      uv_close((uv_handle_t *)s, NULL); /* the ponger sees end of file */
      return;
    }
  }
}

/* Make left round trips over fd (left -1: echo until end of file). */
static int pingpong_run(int fd, int left) {
  uv_loop_t loop;
  pingpong pp = {.left = left};
  if (uv_loop_init(&loop) < 0) return -1;
  pp.pipe.data = &pp;
  if (uv_pipe_init(&loop, &pp.pipe, 0) < 0 || uv_pipe_open(&pp.pipe, fd) < 0 ||
      uv_read_start((uv_stream_t *)&pp.pipe, pp_alloc, pp_read) < 0)
    return -1;
  if (left > 0) pp_send(&pp);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return pp.failed ? -1 : 0;
}

/* `--instr-raw K`, under callgrind: the pinger; its ponger is this
 * executable under callgrind as well, counting into ENV_CALLEE_OUT. */
static int instr_raw(int k) {
  int sv[2];
  const char *out = getenv(ENV_CALLEE_OUT);
  if (!out || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return 1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *cmd[] = {self_path, "--instr-raw-child", NULL};
  pid_t pid = spawn_cg(out, cmd, &fa);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (pid < 0) return 1;
  int rc = pingpong_run(sv[0], k);
  return wait_ok(pid) < 0 || rc < 0;
}

/* `--instr-c K`, under callgrind: K calls of echo into a C actor. The long
 * grace lets a child that is slow under callgrind exit (and write its
 * counts) on the cancel request instead of being killed by the ladder. */
static int instr_c_root(void *arg) {
  int k = *(int *)arg;
  ax_nursery *n;
  ax_portal *p;
  if (ax_nursery_open(&n) < 0) return -1;
  int rc = ax_start_actor(n, "echo", &benchmod_c, &p, NULL);
  for (int i = 0; rc == 0 && i < k; i++) rc = one_call(p);
  if (rc == 0) rc = ax_portal_cancel_actor(p);
  int crc = ax_nursery_close(n, NULL);
  return rc < 0 ? rc : crc;
}

static int instr_c(int k) {
  ax_opts o = {.size = sizeof o, .name = "bench", .grace = 60};
  return ax_run(&o, instr_c_root, &k) != 0;
}

/* The Ir total of a callgrind output file, or -1. */
static long long cg_total(const char *path) {
  FILE *fp = fopen(path, "r");
  char line[256];
  long long ir = -1;
  if (!fp) return -1;
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, "totals:", 7)) ir = atoll(line + 7);
  fclose(fp);
  return ir;
}

typedef struct counts {
  long long caller, callee;
} counts;

/* One run of kind ("raw", "c" or "lua") with k round trips, both sides
 * under callgrind. */
static int count_run(const char *dir, const char *host, const char *kind, int k,
                     counts *out) {
  char caller_out[4096], callee_out[4096], karg[32], narg[40];
  snprintf(caller_out, sizeof caller_out, "%s/%s-%d.caller", dir, kind, k);
  snprintf(callee_out, sizeof callee_out, "%s/%s-%d.callee", dir, kind, k);
  snprintf(karg, sizeof karg, "%d", k);
  snprintf(narg, sizeof narg, "n=%d", k);
  char *raw[] = {self_path, "--instr-raw", karg, NULL};
  char *c[] = {self_path, "--instr-c", karg, NULL};
  char *lua[] = {(char *)host, "run", "lua:" BENCHMOD_LUA_PATH,
                 "pingpong",   narg,  NULL};
  char **cmd = !strcmp(kind, "raw") ? raw : !strcmp(kind, "c") ? c : lua;
  setenv(ENV_CALLEE_OUT, callee_out, 1);
  pid_t pid = spawn_cg(caller_out, cmd, NULL);
  if (pid < 0 || wait_ok(pid) < 0) {
    fprintf(stderr, "axle-bench: the %s run with %d round trips failed\n", kind,
            k);
    return -1;
  }
  out->caller = cg_total(caller_out);
  out->callee = cg_total(callee_out);
  unlink(caller_out);
  unlink(callee_out);
  if (out->caller < 0 || out->callee < 0) {
    fprintf(stderr, "axle-bench: no callgrind counts from the %s run\n", kind);
    return -1;
  }
  return 0;
}

/* Instructions per round trip of each side, the median of INSTR_REPS
 * differences. */
typedef struct per_rt {
  double caller, callee;
} per_rt;

static int count_per_rt(const char *dir, const char *host, const char *kind,
                        per_rt *out) {
  double a[INSTR_REPS], b[INSTR_REPS];
  for (int r = 0; r < INSTR_REPS; r++) {
    counts c1, c2;
    if (count_run(dir, host, kind, INSTR_K1, &c1) < 0 ||
        count_run(dir, host, kind, INSTR_K2, &c2) < 0)
      return -1;
    a[r] = (double)(c2.caller - c1.caller) / (INSTR_K2 - INSTR_K1);
    b[r] = (double)(c2.callee - c1.callee) / (INSTR_K2 - INSTR_K1);
  }
  out->caller = median(a, INSTR_REPS);
  out->callee = median(b, INSTR_REPS);
  return 0;
}

static int instructions(void) {
  char dir[] = "/tmp/axle-bench-XXXXXX";
  const char *env_host = getenv("AXLE_HOST");
  char host[4096];
  snprintf(host, sizeof host, "%s",
           env_host && *env_host ? env_host : AXLE_HOST_PATH);
  if (!mkdtemp(dir)) {
    perror("axle-bench: mkdtemp");
    return 1;
  }
  /* Every actor child is the trampoline, i.e. the host under callgrind.
   * Valgrind 3.19 lacks pidfd_open; the SIGCHLD path avoids its warning. */
  setenv(ENV_REAL_HOST, host, 1);
  setenv("AXLE_HOST", self_path, 1);
  setenv("AXLE_NO_PIDFD", "1", 1);
  per_rt raw, c, lua;
  int rc = count_per_rt(dir, host, "raw", &raw);
  if (rc == 0) {
    /* Both sides do the same work (they differ by a few instructions):
     * the mean of the two processes, one figure per side. */
    printf("raw_uv_pingpong_instr_per_rt: %.0f instr\n",
           (raw.caller + raw.callee) / 2);
    fflush(stdout);
    rc = count_per_rt(dir, host, "c", &c);
  }
  if (rc == 0) {
    printf("axle_rpc_caller_instr_per_rt: %.0f instr\n", c.caller);
    printf("axle_rpc_callee_instr_per_rt: %.0f instr\n", c.callee);
    fflush(stdout);
    rc = count_per_rt(dir, host, "lua", &lua);
  }
  if (rc == 0) {
    printf("axle_lua_rpc_caller_instr_per_rt: %.0f instr\n", lua.caller);
    printf("axle_lua_rpc_callee_instr_per_rt: %.0f instr\n", lua.callee);
  }
  if (rmdir(dir) != 0) fprintf(stderr, "axle-bench: left %s behind\n", dir);
  return rc < 0;
}

static int large_main(void);

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "--raw-child")) return raw_child();
  if (!strcmp(mode, "--raw-stream-child") && argc > 2)
    return raw_stream_child(atol(argv[2]));
  if (!strcmp(mode, "--child")) return callee_trampoline(argc, argv);
  if (!strcmp(mode, "--instr-raw-child")) return pingpong_run(3, -1) < 0;
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0) return 1;
  self_path[n] = 0;
  if (!strcmp(mode, "--instr-raw") && argc > 2) return instr_raw(atoi(argv[2]));
  if (!strcmp(mode, "--instructions")) return instructions();
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 1);
  ax_pack_str(p, "v");
  ax_pack_int(p, 42);
  ax_pack_finish(p, &small_arg);
  if (!strcmp(mode, "--instr-c") && argc > 2) return instr_c(atoi(argv[2]));
  int large_only = !strcmp(mode, "--large");
  if (*mode && !large_only) {
    fprintf(stderr, "usage: axle-bench [--instructions | --large]\n");
    return 2;
  }
  if (large_only) return large_main();
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
  printf("raw_uds_stream_msgs_per_s: %.0f /s\n",
         raw_uds_stream_msgs_per_s(STREAM_N));
  fflush(stdout);
  if (run(bench_stream, &f)) return 1;
  printf("axle_stream_c_msgs_per_s: %.0f /s\n", f.stream);
  printf("raw_uds_stream_msgs_per_s_lua: %.0f /s\n",
         raw_uds_stream_msgs_per_s(STREAM_N));
  printf("axle_stream_lua_msgs_per_s: %.0f /s\n", lua_stream_msgs_per_s());
  printf("raw_uds_roundtrips_per_s_stream: %.0f /s\n",
         raw_uds_roundtrips_per_s(f.calls));
  printf("axle_stream_pingpong_per_s: %.0f /s\n", f.stream_pingpong);
  printf("axle_stream_idle_rss_mib: %.2f MiB caller, %.2f MiB callee\n",
         f.idle_rss[0], f.idle_rss[1]);
  printf("axle_stream_1gib_rss_mib: %.2f MiB caller, %.2f MiB callee\n",
         f.big_rss[0], f.big_rss[1]);
  fflush(stdout);
  return large_main();
}

/* The large-message figures, last of the full run or alone (--large). */
static int large_main(void) {
  large_figures g = {0};
  ax_opts o = {.size = sizeof o, .name = "bench"};
  ax_run(&o, bench_large, &g);
  if (g.failed) {
    fprintf(stderr, "axle-bench: the %s figures failed\n", g.failed);
    return 1;
  }
  printf("axle_pingpong_idle_ms: %.3f ms\n", g.idle);
  printf("axle_pingpong_idle_worst_ms: %.3f ms\n", g.idle_worst);
  printf("axle_large_msg_pingpong_ms: %.3f ms\n", g.busy);
  printf("axle_large_msg_pingpong_worst_ms: %.3f ms\n", g.busy_worst);
  printf("axle_large_msg_transfer_ms: %.3f ms\n", g.transfer);
  printf("axle_large_call_pingpong_ms: %.3f ms\n", g.call_busy);
  printf("axle_large_call_pingpong_worst_ms: %.3f ms\n", g.call_worst);
  printf("axle_large_call_roundtrip_ms: %.3f ms\n", g.call_roundtrip);
  ax_data_free(small_arg);
  return 0;
}
