/* portal.c - a portal is a handle on a remote actor: a peer and the calls
 * made on it. For an actor this one started, the portal sits in its child
 * record (child.c), which answers for results and for cancelling it. */
#include "internal.h"

int ax_portal_run_cb(ax_portal *p, const char *ns, const char *func,
                     const ax_data *kwargs, ax_done_cb cb, void *ud,
                     ax_op **op) {
  if (!p || !func || !cb) return AX_EINVAL;
  /* A child of ours is callable between its handshake and its cancel. */
  if (p->child && p->child->state == AX__P_STARTING) return AX_ESTATE;
  if ((p->child && p->child->state != AX__P_READY) || !p->peer ||
      p->peer->state != AX__PEER_READY)
    return AX_ECLOSED;
  ax__call *c;
  int rc = ax__peer_call(p->peer, ns, func, kwargs, cb, ud, &c);
  if (rc == 0 && op) *op = &c->op;
  return rc;
}

int ax_portal_run(ax_portal *p, const char *ns, const char *func,
                  const ax_data *kwargs, ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  /* Backpressure: wait while the channel has too much queued. */
  int wrc = p && p->peer ? ax__chan_wait_writable(&p->peer->chan) : 0;
  if (wrc < 0) return wrc;
  AX__BLOCK_ON(ax_portal_run_cb(p, ns, func, kwargs, AX__BLK_ARGS), result,
               err);
}

int ax_portal_result_cb(ax_portal *p, ax_done_cb cb, void *ud, ax_op **op) {
  if (!p || !cb) return AX_EINVAL;
  if (!p->child) return AX_ESTATE;
  return ax__child_result_cb(p->child, cb, ud, op);
}

int ax_portal_result(ax_portal *p, ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  AX__BLOCK_ON(ax_portal_result_cb(p, AX__BLK_ARGS), result, err);
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
  /* Not abortable: the ladder bounds the wait. */
  int rc = ax_portal_cancel_actor_cb(p, ax__blk_cb, &b, NULL);
  if (rc < 0) return rc;
  return ax__blk_wait(&b, NULL, NULL);
}

const char *ax_portal_name(const ax_portal *p) { return p ? p->id.name : ""; }
const char *ax_portal_uid(const ax_portal *p) { return p ? p->id.uid : ""; }
int ax_portal_pid(const ax_portal *p) { return p ? p->id.pid : 0; }
