/* crash.c - when a child actor dies of a fatal signal, its last words (a
 * backtrace) go to a pipe its parent reads after reaping it, so that the
 * parent's error, which names the signal, shows where it happened. */
#include "crash.h"

#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int crash_fd = -1;
static char altstack[64 * 1024];

static void put(const char *s) {
  if (write(crash_fd, s, strlen(s)) < 0) return;
}

static void on_fatal(int sig) {
  /* The parent names the signal, from the exit status: said once. */
  put("native backtrace at the fatal signal:\n");
  void *frames[64];
  int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, crash_fd);
  signal(sig, SIG_DFL);
  raise(sig);
}

void axh_crash_install(int fd) {
  crash_fd = fd;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  /* backtrace() loads libgcc on first use: not inside a signal handler. */
  void *warm[2];
  backtrace(warm, 2);
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
    sigaction(sigs[i], &sa, NULL);
}
