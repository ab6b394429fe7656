/* portal.c - a portal is a handle on a remote actor: a peer and the calls
 * made on it. For an actor this one started, the portal sits in its child
 * record (child.c), which answers for results and for cancelling it. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ax__portal_peer(const ax_portal *p, ax__peer **peer) {
  /* A child of ours is callable between its handshake and its cancel. */
  if (p->child && p->child->state == AX__P_STARTING) return AX_ESTATE;
  if ((p->child && p->child->state != AX__P_READY) || !p->peer ||
      p->peer->state != AX__PEER_READY)
    return AX_ECLOSED;
  *peer = p->peer;
  return 0;
}

static int run_cb(ax_portal *p, const char *ns, const char *func,
                  const void *args, size_t len, ax_done_cb cb, void *ud,
                  ax_op **op) {
  ax__peer *peer;
  int rc = ax__portal_peer(p, &peer);
  if (rc < 0) return rc;
  ax__call *c;
  rc = ax__peer_call(peer, ns, func, args, len, cb, ud, &c);
  if (rc == 0 && op) *op = &c->op;
  return rc;
}

/* Whether args[0..len) may be a call's arguments (len 0: none). */
static int bytes_ok(const void *args, size_t len) {
  ax__scan sc;
  if (!len) return 1;
  return args && ax__mp_scan(args, len, &sc) == 0 && sc.used == len &&
         ax__mp_args_ok(*(const uint8_t *)args);
}

int ax_portal_run_cb(ax_portal *p, const char *ns, const char *func,
                     const ax_data *kwargs, ax_done_cb cb, void *ud,
                     ax_op **op) {
  const void *args;
  size_t len;
  if (!p || !func || !cb || ax__data_args(kwargs, &args, &len) < 0)
    return AX_EINVAL;
  return run_cb(p, ns, func, args, len, cb, ud, op);
}

int ax_portal_run_bytes_cb(ax_portal *p, const char *ns, const char *func,
                           const void *args, size_t len, ax_done_cb cb,
                           void *ud, ax_op **op) {
  if (!p || !func || !cb || !bytes_ok(args, len)) return AX_EINVAL;
  return run_cb(p, ns, func, args, len, cb, ud, op);
}

/* The blocking forms: backpressure first, a wait while the channel holds
 * more than its high mark (nothing is queued meanwhile, so the bound
 * holds and a call cancelled here was never sent), then the call, then
 * the wait for the reply. A caller's bytes may be a buffer it reuses as
 * soon as we block (copied says they are not): only when we must wait
 * are they copied first. */
static int run_block(ax_portal *p, const char *ns, const char *func,
                     const void *args, size_t len, int copied,
                     ax_data **result, ax_error **err) {
  int rc = ax__can_block();
  if (rc < 0) return rc;
  void *copy = NULL;
  /* Arguments that go in parts also wait for large messages before. */
  int large = len > AX__PART_THRESHOLD / 2;
  /* Looked at again after each wait: the waiters wake together. */
  while (p->peer && ax__chan_full(&p->peer->chan, large)) {
    if (!copied && len && !copy) {
      if (!(copy = malloc(len))) return AX_ENOMEM;
      args = memcpy(copy, args, len);
    }
    rc = ax__chan_wait_writable(&p->peer->chan, large);
    if (rc < 0) {
      free(copy);
      return rc;
    }
  }
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for actor '%s' to answer call '%s'", p->id.name,
                 func);
  rc = run_cb(p, ns, func, args, len, ax__blk_cb, &b, &b.op);
  free(copy); /* queued, or refused */
  if (rc == AX_EMSGSIZE && err) *err = ax__peer_too_large(p->peer, "");
  return rc < 0 ? rc : ax__blk_wait(&b, result, err);
}

int ax_portal_run(ax_portal *p, const char *ns, const char *func,
                  const ax_data *kwargs, ax_data **result, ax_error **err) {
  const void *args;
  size_t len;
  if (result) *result = NULL;
  if (err) *err = NULL;
  if (!p || !func || ax__data_args(kwargs, &args, &len) < 0) return AX_EINVAL;
  return run_block(p, ns, func, args, len, 1, result, err);
}

int ax_portal_run_bytes(ax_portal *p, const char *ns, const char *func,
                        const void *args, size_t len, ax_data **result,
                        ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  if (!p || !func || !bytes_ok(args, len)) return AX_EINVAL;
  return run_block(p, ns, func, args, len, 0, result, err);
}

int ax_portal_result_cb(ax_portal *p, ax_done_cb cb, void *ud, ax_op **op) {
  if (!p || !cb) return AX_EINVAL;
  if (!p->child) return AX_ESTATE;
  return ax__child_result_cb(p->child, cb, ud, op);
}

int ax_portal_result(ax_portal *p, ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  AX__BLOCK_ON(ax_portal_result_cb(p, AX__BLK_ARGS), result, err,
               "waiting for the result of actor '%s'", p ? p->id.name : "",
               NULL);
}

int ax_portal_cancel_actor_cb(ax_portal *p, ax_done_cb cb, void *ud,
                              ax_op **op) {
  if (!p || !cb) return AX_EINVAL;
  if (!p->child) return AX_ESTATE;
  return ax__child_cancel_cb(p->child, cb, ud, op);
}

int ax_portal_cancel_actor(ax_portal *p) {
  if (!ax_in_task()) return AX_ENOTASK;
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for actor '%s' to exit", p ? p->id.name : "",
                 NULL);
  /* Not abortable: the ladder bounds the wait. */
  int rc = ax_portal_cancel_actor_cb(p, ax__blk_cb, &b, NULL);
  if (rc < 0) return rc;
  return ax__blk_wait(&b, NULL, NULL);
}

const char *ax_portal_name(const ax_portal *p) { return p ? p->id.name : ""; }
const char *ax_portal_uid(const ax_portal *p) { return p ? p->id.uid : ""; }
int ax_portal_pid(const ax_portal *p) { return p ? p->id.pid : 0; }
