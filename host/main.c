/* main.c - the axle executable: `axle run MODULE [FUNCTION] [k=v...]` runs
 * a module's function as the root actor; `axle --child ...` is how a parent
 * starts a child actor (never typed by people). Uses abi/axle.h only. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "axle.h"
#include "crash.h"
#include "loader.h"

static const char usage[] =
    "usage: axle run MODULE [FUNCTION] [key=value ...]\n"
    "       axle --version\n"
    "       axle --help\n"
    "\n"
    "Runs FUNCTION (default: main) of MODULE as the root actor and prints its\n"
    "return value unless it is nil. MODULE is a module spec:\n"
    "  c:path/to/plugin.so    a C plugin (or any shared library)\n"
    "  lua:path/to/file.lua   a Lua script (also plainly: path/to/file.lua)\n"
    "  lua:dotted.name        a Lua module, found in AXLE_LUA_PATH or\n"
    "                         package.path\n"
    "Values are parsed as int, float, true/false, or else kept as strings.\n"
    "Environment: AXLE_LOG=error|warn|info|debug sets the log level; at\n"
    "debug, errors are printed with every traceback.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "axle: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* ------------------------------------------------------------- child */

static int child_main(int argc, char **argv) {
  /* The runtime defines this command line and parses it. */
  struct stat st;
  int ppid;
  if (ax_child_args(argc, argv, NULL, &ppid) < 0 || fstat(3, &st) != 0 ||
      !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "axle: --child is for axle's own use\n");
    return 2;
  }
  /* Die with the parent, and close the race where it died before this. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != (pid_t)ppid) _exit(1);
  /* Grandchildren must not inherit our channel or crash pipe. */
  fcntl(3, F_SETFD, FD_CLOEXEC);
  axh_crash_install(4);
  ax_loader_register(&axh_c_loader);
  ax_loader_register(&axh_lua_loader);
  return ax_child_main(3);
}

/* --------------------------------------------------------------- run */

typedef struct run_args {
  const char *spec;
  const char *func;
  ax_data *kwargs;
  ax_data *result;
  ax_error *err;
  int rc;
} run_args;

static int run_root(void *arg) {
  run_args *a = arg;
  a->rc = ax_call_local(a->spec, a->func, a->kwargs, &a->result, &a->err);
  return 0;
}

static int pack_value(ax_pack *p, const char *s) {
  char *end;
  if (*s) {
    /* Decimal, or hex with 0x (x=0x10 is 16); never octal: 010 is 10. */
    const char *digits = s + (*s == '-' || *s == '+');
    int base = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') ? 16
                                                                          : 10;
    errno = 0;
    long long i = strtoll(s, &end, base);
    if (!*end && !errno) return ax_pack_int(p, i);
    double d = strtod(s, &end);
    if (!*end) return ax_pack_float(p, d);
  }
  if (!strcmp(s, "true")) return ax_pack_bool(p, 1);
  if (!strcmp(s, "false")) return ax_pack_bool(p, 0);
  return ax_pack_str(p, s);
}

static int cmd_run(int argc, char **argv) {
  if (argc < 3) return usage_error("%s", "run needs a MODULE");
  run_args a = {0};
  a.spec = argv[2];
  int first_kw = 3;
  a.func = "main";
  if (argc > 3 && !strchr(argv[3], '=')) {
    a.func = argv[3];
    first_kw = 4;
  }
  char spec[4096];
  size_t slen = strlen(a.spec);
  if (!strchr(a.spec, ':') && slen > 4 && !strcmp(a.spec + slen - 4, ".lua") &&
      slen + 5 < sizeof spec) {
    /* A Lua script may be named plainly. */
    snprintf(spec, sizeof spec, "lua:%s", a.spec);
    a.spec = spec;
  }
  if (!strchr(a.spec, ':'))
    return usage_error("module spec '%s' needs a scheme, e.g. c:path.so",
                       a.spec);
  ax_pack *p = ax_pack_new();
  if (!p) return 1;
  ax_pack_map(p, (uint32_t)(argc - first_kw));
  for (int i = first_kw; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i]) {
      ax_pack_free(p);
      return usage_error("argument '%s' is not key=value", argv[i]);
    }
    ax_pack_strn(p, argv[i], (size_t)(eq - argv[i]));
    pack_value(p, eq + 1);
  }
  if (ax_pack_finish(p, &a.kwargs) < 0) return 1;
  ax_opts o = {.size = sizeof o, .name = "root"};
  int rc = ax_init(&o);
  if (rc < 0) {
    fprintf(stderr, "axle: cannot start the runtime: %s\n", ax_strerror(rc));
    return 1;
  }
  ax_loader_register(&axh_c_loader);
  ax_loader_register(&axh_lua_loader);
  ax_run(&o, run_root, &a);
  ax_data_free(a.kwargs);
  int code = 0;
  if (a.rc == 0) {
    const ax_val *v = ax_data_root(a.result);
    if (v && ax_val_type(v) == AX_T_STR) {
      printf("%s\n", ax_val_str(v, NULL));
    } else if (v && ax_val_type(v) != AX_T_NIL) {
      char *s = ax_val_format(v);
      printf("%s\n", s ? s : "");
      ax_free(s);
    }
  } else if (a.err) {
    char *s = ax_error_format(a.err);
    fprintf(stderr, "%s", s ? s : "");
    ax_free(s);
    /* 128 + the signal for Ctrl-C (130) or SIGTERM (143); any other
     * failure, an expired deadline's Cancelled included, is 1. */
    int sig = ax_cancel_signal();
    code = ax_error_kind(a.err) == AX_K_CANCELLED && sig ? 128 + sig : 1;
  } else {
    fprintf(stderr, "axle: %s\n", ax_strerror(a.rc));
    code = 1;
  }
  ax_data_free(a.result);
  ax_error_free(a.err);
  fflush(stdout);
  return code;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--child")) return child_main(argc, argv);
  if (argc < 2) return usage_error("%s", "missing command");
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
    printf("axle %s\n", ax_version());
    return 0;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(argv[1], "run")) return cmd_run(argc, argv);
  return usage_error("unknown command '%s'", argv[1]);
}
