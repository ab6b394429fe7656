/* spawn.c - child processes: started with posix_spawn (vfork-style, cheap
 * even from a large parent), watched through a pidfd, taken down through
 * the teardown ladder, always reaped. The root, a child subreaper, also
 * reaps orphans that are not its own. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

static ax__list procs = {&procs, &procs};
static int nprocs;
static uv_signal_t sigchld;
static int sigchld_on;

int ax__procs_alive(void) { return nprocs; }

static ax__proc *find_proc(int pid) {
  ax__list_each(it, &procs) {
    ax__proc *p = ax__container_of(it, ax__proc, link);
    if (p->pid == pid) return p;
  }
  return NULL;
}

static void read_crash_report(ax__proc *p) {
  if (p->crashfd < 0) return;
  char buf[16384];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(p->crashfd, buf + len, sizeof buf - 1 - len);
    if (n <= 0 || (len += (size_t)n) == sizeof buf - 1) break;
  }
  buf[len] = 0;
  if (len) p->crash_report = ax__strdup(buf);
  close(p->crashfd);
  p->crashfd = -1;
}

static void stop_ladder(ax__proc *p) {
  if (!p->ladder) return;
  uv_timer_stop(p->ladder);
  uv_close((uv_handle_t *)p->ladder, (uv_close_cb)free);
  p->ladder = NULL;
}

/* p has exited: collect its status and tell its owner. */
static void proc_reaped(ax__proc *p, int status) {
  p->exited = 1;
  p->status = status;
  read_crash_report(p);
  stop_ladder(p);
  if (p->poll) {
    uv_poll_stop(p->poll);
    uv_close((uv_handle_t *)p->poll, (uv_close_cb)free);
    p->poll = NULL;
  }
  if (p->pidfd >= 0) close(p->pidfd);
  p->pidfd = -1;
  ax__list_remove(&p->link);
  nprocs--;
  if (nprocs == 0 && sigchld_on) uv_unref((uv_handle_t *)&sigchld);
  if (p->on_exit) p->on_exit(p);
}

static void try_reap(ax__proc *p) {
  int status;
  pid_t r = waitpid(p->pid, &status, WNOHANG);
  if (r == p->pid) proc_reaped(p, status);
}

static void on_pidfd(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  try_reap(h->data);
}

/* Reap whatever has exited: our children through their owners, orphans
 * handed to us as subreaper directly. */
static void on_sigchld(uv_signal_t *h, int sig) {
  (void)h;
  (void)sig;
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        si.si_pid == 0)
      break;
    ax__proc *p = find_proc(si.si_pid);
    if (p) {
      try_reap(p);
    } else {
      int st;
      waitpid(si.si_pid, &st, WNOHANG);
    }
  }
}

static void ensure_sigchld(void) {
  if (!sigchld_on) {
    uv_signal_init(AX__LOOP, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
    sigchld_on = 1;
  }
  uv_unref((uv_handle_t *)&sigchld);
}

void ax__spawn_shutdown(void) {
  if (sigchld_on) uv_close((uv_handle_t *)&sigchld, NULL);
  sigchld_on = 0;
}

/* fds 3 and 4 are the child's; move ours out of their way first. */
static int high_fd(int fd) {
  if (fd > 4) return fd;
  int n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return n;
}

char *ax__spawn_why(const char *step, int err) {
  struct rlimit rl;
  if ((err == EMFILE || err == ENFILE) && getrlimit(RLIMIT_NOFILE, &rl) == 0)
    return ax__asprintf("%s: %s (RLIMIT_NOFILE is %llu)", step, strerror(err),
                        (unsigned long long)rl.rlim_cur);
  if (err == EAGAIN && getrlimit(RLIMIT_NPROC, &rl) == 0)
    return ax__asprintf("%s: %s (RLIMIT_NPROC is %llu)", step, strerror(err),
                        (unsigned long long)rl.rlim_cur);
  if (err == E2BIG)
    return ax__asprintf("%s: %s (ARG_MAX is %ld)", step, strerror(err),
                        sysconf(_SC_ARG_MAX));
  return ax__asprintf("%s: %s", step, strerror(err));
}

int ax__proc_spawn(ax__proc *p, const ax__spec *spec, int chanfd,
                   char **why) {
  int crash[2];
  memset(p, 0, sizeof *p);
  p->pidfd = p->crashfd = -1;
  ax__list_init(&p->link);
  if (pipe2(crash, O_CLOEXEC) != 0) {
    if (why) *why = ax__spawn_why("pipe2", errno);
    return AX_ESPAWN;
  }
  crash[0] = high_fd(crash[0]);
  crash[1] = high_fd(crash[1]);
  if (chanfd <= 4) {
    /* Callers hand in fds from socketpair, never this low in practice. */
    close(crash[0]);
    close(crash[1]);
    return AX_EINVAL;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, chanfd, 3);
  posix_spawn_file_actions_adddup2(&fa, crash[1], 4);
  posix_spawnattr_init(&attr);
  sigset_t none, defs;
  sigemptyset(&none);
  sigemptyset(&defs);
  sigaddset(&defs, SIGPIPE);
  sigaddset(&defs, SIGCHLD);
  sigaddset(&defs, SIGINT);
  sigaddset(&defs, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defs);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char ppid[24], *argv[6];
  ax__spec_argv(argv, ppid, ax__rt_g->host, spec);
  pid_t pid;
  int rc = posix_spawn(&pid, ax__rt_g->host, &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(crash[1]);
  if (rc != 0) {
    close(crash[0]);
    char *step = ax__asprintf("posix_spawn %s", ax__rt_g->host);
    if (why) *why = ax__spawn_why(step ? step : "posix_spawn", rc);
    free(step);
    return AX_ESPAWN;
  }
  p->pid = pid;
  p->crashfd = crash[0];
  fcntl(p->crashfd, F_SETFL, fcntl(p->crashfd, F_GETFL) | O_NONBLOCK);
  ax__list_push(&procs, &p->link);
  nprocs++;
  ensure_sigchld();
  uv_ref((uv_handle_t *)&sigchld);
  /* AXLE_NO_PIDFD forces the SIGCHLD path, the one older kernels get. */
  const char *nopidfd = getenv("AXLE_NO_PIDFD");
  p->pidfd =
      nopidfd && *nopidfd == '1' ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
  if (p->pidfd >= 0) {
    p->poll = malloc(sizeof *p->poll);
    if (p->poll && uv_poll_init(AX__LOOP, p->poll, p->pidfd) == 0) {
      p->poll->data = p;
      uv_poll_start(p->poll, UV_READABLE, on_pidfd);
      /* The pidfd watches; SIGCHLD is only the fallback. */
      uv_unref((uv_handle_t *)&sigchld);
    } else {
      free(p->poll);
      p->poll = NULL;
    }
  }
  return 0;
}

static void ladder_cb(uv_timer_t *t);

/* Wake at the next step's deadline. Timers count from the loop's cached
 * time, which may lag: the callback checks the deadline itself. A grace
 * too large for a timer (a year and more) waits a year at a time. */
static void ladder_arm(ax__proc *p) {
  double at = p->ladder_step == 0 ? p->term_at : p->kill_at;
  double ms = (at - ax_now()) * 1000;
  if (ms > 3.2e10) ms = 3.2e10;
  uv_timer_start(p->ladder, ladder_cb, ms > 0 ? (uint64_t)ms + 1 : 0, 0);
}

/* What the child reported of its own teardown moves the next step to a
 * grace after that teardown's end: as if our cancel request came then.
 * A ladder ends AX__LADDER_MAX_GRACES graces after it started at the
 * latest, so a child cannot keep itself alive by reporting. */
static void ladder_extend(ax__proc *p) {
  double g = ax__rt_g->grace;
  double last = p->ladder_start + AX__LADDER_MAX_GRACES * g;
  double want = p->reap_until + g;
  if (p->ladder_step == 0) {
    if (want > last - g) want = last - g;
    if (want > p->term_at) p->term_at = want;
    p->kill_at = p->term_at + g;
  } else if (p->ladder_step == 1) {
    if (want > last) want = last;
    if (want > p->kill_at) p->kill_at = want;
  }
}

static void ladder_moved(void) {
  if (ax__rt_g->on_ladder) ax__rt_g->on_ladder();
}

static void ladder_cb(uv_timer_t *t) {
  ax__proc *p = t->data;
  if (p->exited) return;
  double now = ax_now();
  if (p->ladder_step == 0 && now >= p->term_at) {
    ax_log(AX_LOG_INFO, "child %d did not stop in time: SIGTERM", p->pid);
    kill(p->pid, SIGTERM);
    p->ladder_step = 1;
  } else if (p->ladder_step == 1 && now >= p->kill_at) {
    ax_log(AX_LOG_WARN, "child %d ignored SIGTERM: SIGKILL", p->pid);
    kill(p->pid, SIGKILL);
    p->ladder_step = 2;
    return;
  }
  ladder_arm(p);
}

void ax__proc_ladder(ax__proc *p) {
  if (p->exited || p->ladder) return;
  p->ladder = malloc(sizeof *p->ladder);
  if (!p->ladder) {
    kill(p->pid, SIGKILL);
    return;
  }
  uv_timer_init(AX__LOOP, p->ladder);
  p->ladder->data = p;
  double g = ax__rt_g->grace;
  p->ladder_step = 0;
  p->ladder_start = ax_now();
  p->term_at = p->ladder_start + g;
  p->kill_at = p->term_at + g;
  if (p->reap_until > 0) ladder_extend(p);
  ladder_arm(p);
  ladder_moved();
}

void ax__proc_reaping(ax__proc *p, double seconds) {
  if (p->exited) return;
  double until = ax_now() + seconds;
  if (until > p->reap_until) p->reap_until = until;
  if (!p->ladder || p->ladder_step > 1) return;
  double kill_at = p->kill_at;
  ladder_extend(p);
  ladder_arm(p);
  if (p->kill_at != kill_at) ladder_moved();
}

double ax__procs_ladder_end(void) {
  double end = 0;
  ax__list_each(it, &procs) {
    ax__proc *p = ax__container_of(it, ax__proc, link);
    if (p->ladder && p->ladder_step < 2 && p->kill_at > end) end = p->kill_at;
  }
  return end;
}

void ax__proc_kill(ax__proc *p, int sig) {
  if (!p->exited && p->pid > 0) kill(p->pid, sig);
}

void ax__proc_release(ax__proc *p) {
  free(p->crash_report);
  p->crash_report = NULL;
  if (p->crashfd >= 0) close(p->crashfd);
  p->crashfd = -1;
}

char *ax__proc_describe_exit(const ax__proc *p) {
  if (WIFSIGNALED(p->status))
    return ax__asprintf("killed by %s", ax__signame(WTERMSIG(p->status)));
  return ax__asprintf("exited with status %d", WEXITSTATUS(p->status));
}
