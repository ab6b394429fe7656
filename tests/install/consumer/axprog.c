/* axprog.c - a program built outside axle's tree that links the installed
 * libaxle: its root actor starts two children running the plugin named on
 * the command line, prints the result of one and the error of the other.
 *   axprog PATH/plugin.so   prints "square 49" and "error ValueError ..." */
#include <stdio.h>

#include "axle.h"

static const char *plugin;

static int one_shot(const char *func, ax_data **result, ax_error **err) {
  char spec[4200];
  snprintf(spec, sizeof spec, "c:%s", plugin);
  ax_spawn_opts opts = {.size = sizeof opts, .module = spec};
  ax_pack *p = ax_pack_new();
  ax_data *kwargs = NULL;
  ax_pack_map(p, 1);
  ax_pack_str(p, "n");
  ax_pack_int(p, 7);
  ax_pack_finish(p, &kwargs);
  ax_nursery *n;
  ax_portal *portal;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  rc = ax_run_in_actor(n, func, &opts, func, kwargs, &portal, err);
  if (rc == 0) rc = ax_portal_result(portal, result, err);
  ax_data_free(kwargs);
  ax_error *cerr = NULL;
  int crc = ax_nursery_close(n, &cerr);
  if (rc == 0 && crc < 0) {
    rc = crc;
    *err = cerr;
  } else {
    ax_error_free(cerr);
  }
  return rc;
}

static int root(void *arg) {
  (void)arg;
  ax_data *result = NULL;
  ax_error *err = NULL;
  int rc = one_shot("square", &result, &err);
  if (rc < 0) {
    char *s = err ? ax_error_format(err) : NULL;
    fprintf(stderr, "square failed: %s\n", s ? s : ax_strerror(rc));
    return 1;
  }
  printf("square %lld\n", (long long)ax_val_int(ax_data_root(result)));
  ax_data_free(result);
  rc = one_shot("fail", &result, &err);
  if (rc != AX_EREMOTE || !err) {
    fprintf(stderr, "fail did not fail: %s\n", ax_strerror(rc));
    return 1;
  }
  printf("error %s: %s\n", ax_error_type(err), ax_error_message(err));
  ax_error_free(err);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: axprog PATH/plugin.so\n");
    return 2;
  }
  plugin = argv[1];
  return ax_run(NULL, root, NULL) == 0 ? 0 : 1;
}
