/* spec.c - the spawn spec: who a child is and what it runs. One type,
 * built once from the caller's options as a deep copy that outlives them
 * (a child can be started again from it), sent once as the `spawn`
 * message and read back from it by the child. The child's command line is
 * defined here too: the parent builds it and the child's host parses it
 * with the same code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define CHILD_FLAG "--child"
#define PPID_FLAG "--ppid"

ax__spec *ax__spec_new(const char *name, const ax_spawn_opts *opts) {
  ax_spawn_opts o = {sizeof o, NULL, NULL, 0, 0, 0};
  /* Callers built against an older, smaller ax_spawn_opts stay valid. */
  memcpy(&o, opts, opts->size && opts->size < sizeof o ? opts->size : sizeof o);
  if (!o.module || !name) return NULL;
  ax__spec *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  char uid[AX__UID_LEN + 1];
  ax__ident_new_uid(uid);
  ax__ident_set(&s->id, name, strlen(name), uid, strlen(uid), 0);
  s->module = ax__strdup(o.module);
  s->enable = calloc(o.nenable ? o.nenable : 1, sizeof *s->enable);
  s->loglevel = o.loglevel > 0 ? o.loglevel : ax__rt_g->loglevel;
  s->debug = o.debug;
  s->grace = ax__rt_g->grace;
  s->max_frame = ax__rt_g->max_frame;
  s->max_msg = ax__rt_g->max_msg;
  int ok = s->module && s->enable;
  for (size_t i = 0; ok && i < o.nenable; i++) {
    s->enable[i] = ax__strdup(o.enable[i] ? o.enable[i] : "");
    ok = s->enable[i] != NULL;
    s->nenable = i + 1;
  }
  if (!ok) {
    ax__spec_free(s);
    return NULL;
  }
  return s;
}

void ax__spec_free(ax__spec *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nenable; i++) free(s->enable[i]);
  free(s->enable);
  free(s->module);
  free(s);
}

int ax__spec_send(ax__peer *peer, const ax__spec *s) {
  ax_pack *en = ax_pack_new();
  if (!en) return AX_ENOMEM;
  ax_pack_array(en, (uint32_t)s->nenable);
  for (size_t i = 0; i < s->nenable; i++) ax_pack_str(en, s->enable[i]);
  if (ax__pack_failed(en)) {
    ax_pack_free(en);
    return AX_ENOMEM;
  }
  size_t enlen;
  const void *enb = ax_pack_bytes(en, &enlen);
  ax__msg m = {.type = AX__M_SPAWN};
  ax__msg_set_str(&m, AX__F_name, s->id.name);
  ax__msg_set_str(&m, AX__F_uid, s->id.uid);
  ax__msg_set_str(&m, AX__F_module, s->module);
  ax__msg_set_raw(&m, AX__F_enable, enb, enlen);
  AX__SET(&m, loglevel, s->loglevel);
  AX__SET(&m, debug, s->debug);
  AX__SET(&m, grace, s->grace);
  AX__SET(&m, max_frame, (int64_t)s->max_frame);
  AX__SET(&m, max_msg, (int64_t)s->max_msg);
  ax__msg_set_str(&m, AX__F_parent, ax__rt_g->self.uid);
  /* Our ladders wait for a child that reports its own teardown. */
  AX__SET(&m, reaping, 1);
  int rc = ax__peer_send(peer, &m);
  ax_pack_free(en);
  return rc;
}

int ax__spec_from_msg(const ax__msg *m, ax__spec **out) {
  ax__spec *s = calloc(1, sizeof *s);
  if (!s) return AX_ENOMEM;
  ax__ident_set(&s->id, m->name.p, m->name.len, m->uid.p, m->uid.len, 0);
  if (m->parent.present) {
    size_t n = m->parent.len < AX__UID_LEN ? m->parent.len : AX__UID_LEN;
    memcpy(s->parent, m->parent.p, n);
  }
  s->module = ax__msg_strdup(&m->module);
  s->loglevel = (int)m->loglevel;
  s->debug = (int)m->debug;
  s->grace = m->grace;
  s->max_frame = m->max_frame > 0 ? (size_t)m->max_frame : 0;
  s->max_msg = m->max_msg > 0 ? (size_t)m->max_msg : 0;
  int rc = s->module ? 0 : AX_ENOMEM;
  if (rc == 0 && AX__HAS(m, enable)) {
    /* The message table has checked: an array of strings. */
    ax_data *en = ax__data_make(m->enable.p, &m->enable.sc);
    const ax_val *arr = ax_data_root(en);
    size_t n = ax_val_len(arr);
    s->enable = calloc(n ? n : 1, sizeof *s->enable);
    if (!en || !s->enable) rc = AX_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
      s->enable[i] = ax__strdup(ax_val_str(ax_val_at(arr, (uint32_t)i), NULL));
      if (!s->enable[i]) rc = AX_ENOMEM;
      s->nenable = i + 1;
    }
    ax_data_free(en);
  }
  if (rc < 0) {
    ax__spec_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ------------------------------------------------------- command line */

void ax__spec_argv(char *argv[6], char ppid[24], char *host,
                   const ax__spec *s) {
  snprintf(ppid, 24, "%d", (int)getpid());
  argv[0] = host;
  argv[1] = CHILD_FLAG;
  argv[2] = (char *)s->id.name;
  argv[3] = PPID_FLAG;
  argv[4] = ppid;
  argv[5] = NULL;
}

int ax_child_args(int argc, char **argv, const char **name, int *ppid) {
  if (argc != 5 || strcmp(argv[1], CHILD_FLAG) != 0 ||
      strcmp(argv[3], PPID_FLAG) != 0)
    return AX_EINVAL;
  char *end;
  long pid = strtol(argv[4], &end, 10);
  if (*end || pid <= 0) return AX_EINVAL;
  if (name) *name = argv[2];
  if (ppid) *ppid = (int)pid;
  return 0;
}
