/* main.c - the axle executable: `axle run MODULE [FUNCTION] [ARG...]` runs
 * a module's function as the root actor; `axle help` says how; `axle
 * --child ...` is how a parent starts a child actor (never typed by
 * people). Uses abi/axle.h only. */
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
    "usage: axle run MODULE [FUNCTION] [key=value ... | value ...]\n"
    "       axle help [run]\n"
    "       axle --version\n";

static const char help_main[] =
    "\n"
    "axle runs actor programs: each actor is a process, started by its\n"
    "parent in a nursery and never outliving it.\n"
    "\n"
    "Commands:\n"
    "  run MODULE ...    run a function of MODULE as the root actor\n"
    "                    (axle help run, axle run --help)\n"
    "  help [COMMAND]    this text, or a command's\n"
    "  --version         the version\n"
    "\n"
    "Module specs:\n"
    "  c:path/to/plugin.so    a C plugin, or any shared library "
    "(c:libm.so.6)\n"
    "  lua:path/to/file.lua   a Lua script (also plainly: path/to/file.lua)\n"
    "  lua:dotted.name        a Lua module, found in AXLE_LUA_PATH or\n"
    "                         package.path\n"
    "\n"
    "Exit status:\n"
    "  0    the function returned\n"
    "  1    it raised an error (an expired deadline's Cancelled included),\n"
    "       or the runtime could not start\n"
    "  2    usage error\n"
    "  130  cancelled by SIGINT (Ctrl-C)\n"
    "  143  cancelled by SIGTERM\n"
    "\n"
    "Environment:\n"
    "  AXLE_LOG            log level: error, warn (the default), info, "
    "debug,\n"
    "                      or 1 to 4; children inherit it; at debug,\n"
    "                      errors are printed with every traceback\n"
    "  AXLE_GRACE          seconds a child gets to stop after a cancel\n"
    "                      request, then after SIGTERM, before SIGKILL;\n"
    "                      default 0.5\n"
    "  AXLE_HOST           the executable that starts child actors\n"
    "                      (default: this axle)\n"
    "  AXLE_LUA_PATH       where lua:dotted.name modules are searched "
    "first\n"
    "                      (a package.path template list)\n"
    "  AXLE_LUA_BINDING    the Lua binding (axle.so) to load for lua: "
    "specs\n"
    "                      (default: the one beside libaxle)\n"
    "  AXLE_LUA_SCRIPT_DIR the root script's folder, searched first; set by\n"
    "                      axle for the actors below a script\n"
    "  AXLE_NO_PIDFD       1: watch children through SIGCHLD, not pidfds\n"
    "  NO_COLOR            set and not empty: logs without colour (colour\n"
    "                      is only ever used when stderr is a terminal)\n"
    "\n"
    "Log lines go to stderr: 2026-12-01T04:05:06.123 [axle NAME PID] "
    "LEVEL: ...\n";

static const char help_run[] =
    "usage: axle run MODULE [FUNCTION] [key=value ...]\n"
    "       axle run MODULE FUNCTION value ...\n"
    "\n"
    "Runs FUNCTION (default: main) of MODULE as the root actor, prints what\n"
    "it returns unless it is nil, and exits 0. An error it raises is "
    "printed\n"
    "on stderr with its traceback, and axle exits 1 (130 after Ctrl-C, 143\n"
    "after SIGTERM). MODULE is a module spec (axle help): c:path.so,\n"
    "lua:path.lua or lua:dotted.name, or plainly path.lua.\n"
    "\n"
    "Arguments are all keyword arguments, key=value, which the function\n"
    "gets as one map, or all positional, value, which it gets in order;\n"
    "mixing them is a usage error, and positional ones need FUNCTION. A\n"
    "value is an int (decimal, or hex with 0x), a float, true or false, or\n"
    "else a string.\n"
    "\n"
    "  axle run c:plugin.so add a=1 b=2.5   add() of an axle plugin\n"
    "  axle run c:libm.so.6 'pow:d(dd)' 2 10\n"
    "                                       a plain library's function, "
    "named\n"
    "                                       with its signature "
    "NAME:R(A...),\n"
    "                                       letters v b i u l d f s\n"
    "  axle run script.lua main who=you     M.main({who = \"you\"})\n"
    "  axle run script.lua add 1 2          M.add(1, 2)\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "axle: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%sRun 'axle help' for more.\n", usage);
  return 2;
}

static int is_help(const char *a) {
  return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* `axle help [TOPIC]`: on stdout, as asked for. */
static int cmd_help(const char *topic) {
  if (!topic || !strcmp(topic, "help")) {
    fputs(usage, stdout);
    fputs(help_main, stdout);
  } else if (!strcmp(topic, "run")) {
    fputs(help_run, stdout);
  } else {
    return usage_error("no help on '%s': the commands are run and help", topic);
  }
  return 0;
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
    int base =
        digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') ? 16 : 10;
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

/* Arguments: all key=value (a map) or all plain values (an array); a
 * mixture is said on stderr and is AX_EINVAL. */
static int pack_args(ax_pack *p, int argc, char **argv, int first) {
  int keyed = 0, plain = 0;
  for (int i = first; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq == argv[i]) {
      usage_error("argument '%s' is not key=value", argv[i]);
      return AX_EINVAL;
    }
    if (eq ? plain : keyed) {
      usage_error(
          "argument '%s': arguments are either all key=value or all "
          "positional",
          argv[i]);
      return AX_EINVAL;
    }
    keyed |= eq != NULL;
    plain |= eq == NULL;
  }
  if (plain)
    ax_pack_array(p, (uint32_t)(argc - first));
  else
    ax_pack_map(p, (uint32_t)(argc - first));
  for (int i = first; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq) {
      ax_pack_strn(p, argv[i], (size_t)(eq - argv[i]));
      pack_value(p, eq + 1);
    } else {
      pack_value(p, argv[i]);
    }
  }
  return 0;
}

static int cmd_run(int argc, char **argv) {
  if (argc >= 3 && is_help(argv[2])) return cmd_help("run");
  if (argc < 3) return usage_error("%s", "run needs a MODULE");
  run_args a = {0};
  a.spec = argv[2];
  int first_arg = 3;
  a.func = "main";
  if (argc > 3 && !strchr(argv[3], '=')) {
    a.func = argv[3];
    first_arg = 4;
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
  if (pack_args(p, argc, argv, first_arg) < 0) {
    ax_pack_free(p);
    return 2;
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
  if (is_help(argv[1])) return cmd_help(NULL);
  if (!strcmp(argv[1], "help")) {
    if (argc > 3) return usage_error("%s", "help takes one COMMAND");
    return cmd_help(argc > 2 ? argv[2] : NULL);
  }
  if (!strcmp(argv[1], "run")) return cmd_run(argc, argv);
  return usage_error("unknown command '%s'", argv[1]);
}
