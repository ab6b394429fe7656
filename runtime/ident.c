/* ident.c - who an actor is: a name (not unique), a uid (32 hex digits
 * from 16 random bytes) and a pid; this actor's own identity. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "internal.h"

void ax__ident_set(ax__ident *id, const char *name, size_t nlen,
                   const char *uid, size_t ulen, int pid) {
  if (nlen >= sizeof id->name) nlen = sizeof id->name - 1;
  if (ulen >= sizeof id->uid) ulen = sizeof id->uid - 1;
  memcpy(id->name, name ? name : "", name ? nlen : 0);
  id->name[name ? nlen : 0] = 0;
  memcpy(id->uid, uid ? uid : "", uid ? ulen : 0);
  id->uid[uid ? ulen : 0] = 0;
  id->pid = pid;
}

void ax__ident_new_uid(char out[AX__UID_LEN + 1]) {
  unsigned char b[AX__UID_LEN / 2];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
    /* Unique enough without entropy: time and pid. */
    uint64_t x = (uint64_t)(ax_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < sizeof b; i++)
      b[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)i;
  }
  for (size_t i = 0; i < sizeof b; i++) sprintf(out + 2 * i, "%02x", b[i]);
  out[AX__UID_LEN] = 0;
}

const char *ax_actor_name(void) { return ax__rt_g ? ax__rt_g->self.name : ""; }
const char *ax_actor_uid(void) { return ax__rt_g ? ax__rt_g->self.uid : ""; }
const char *ax_actor_parent_uid(void) {
  return ax__rt_g ? ax__rt_g->parent_uid : "";
}
