/* harness.h - helpers for integration tests: every test runs a real tree
 * of processes and checks afterwards that none of it is left. Processes
 * of a test are found by an environment tag they all inherit. */
#ifndef AXT_HARNESS_H
#define AXT_HARNESS_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/types.h>

#include "axle.h"

/* Tag this test's processes and arm a watchdog against hangs. */
void h_begin(unsigned timeout_s);
/* Processes (not zombies) carrying this test's tag, other than us. */
int h_alive(void);
/* Wait until none is alive or timeout; returns how many are left. */
int h_wait_none(double timeout_s);
/* Wait until at least n are alive or timeout; returns the count. */
int h_wait_at_least(int n, double timeout_s);
/* Reap our own exited children (orphans handed to us as subreaper). */
void h_reap(void);
/* A map of keyword arguments: fmt letters s (string), i (long long),
 * f (double), b (int as bool), each consuming a key then a value. */
ax_data *h_kw(const char *fmt, ...);
/* Run fn as the root task of a fresh runtime with grace seconds. */
int h_run(double grace, ax_task_fn fn, void *arg);
/* posix_spawn argv with the tag in the environment; returns the pid. */
pid_t h_spawn(char *const argv[]);
/* As h_spawn, with stdout and stderr on a pipe whose read end is *outfd. */
pid_t h_spawn_out(char *const argv[], int *outfd);
/* Read fd, appending to the NUL-terminated buf, until it holds want:
 * 0, or -1 at end of file, when buf is full, or after timeout_s (which
 * only catches hangs). */
int h_read_until(int fd, const char *want, double timeout_s, char *buf,
                 size_t cap);
/* waitpid with a timeout that catches hangs: 0 with *status, or -1. */
int h_wait_exit(pid_t pid, double timeout_s, int *status);
/* Run a command, capture stdout+stderr into out (cap bytes); exit status. */
int h_capture(const char *cmd, char *out, size_t cap);
/* What the last h_expect captured. */
extern char h_out[1 << 16];
/* As a new test: run cmd, fail unless it exits with status and its output
 * contains want (if not NULL), and unless nothing it started survives. */
void h_expect(const char *cmd, int status, const char *want);

#define AXT_TESTMOD "c:" TESTMOD_PATH
#endif
