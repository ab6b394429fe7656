/* actor.c - this actor's conversations with its peers (parent, children):
 * the handshake, dispatch of incoming messages, the calls it serves as
 * tasks, the calls it waits on, and the child side of a spawn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct serve {
  ax__list link;
  ax__peer *peer;
  uint64_t cid;
  char *ns, *func;
  ax_data *args;
  ax_task *task;
} serve;

static struct {
  int booting;          /* waiting for the spawn spec */
  int failed;           /* the spec could not be honoured */
  int cancel_requested; /* the parent asked: answer with cancel_ack */
  ax__peer *parent;
  uv_timer_t boot_timer;
} child;

/* Encode m straight into the peer's output buffer. */
static int msg_send(ax__peer *peer, const ax__msg *m) {
  if (peer->gone || peer->chan.closing) return AX_ECLOSED;
  uint8_t *w = ax__chan_reserve(&peer->chan, ax__msg_bound(m));
  if (!w) return AX_ENOMEM;
  return ax__chan_commit(&peer->chan, (size_t)(ax__msg_write(w, m) - w));
}

static int send_cid(ax__peer *peer, int type, uint64_t cid) {
  ax__msg m = {.type = type};
  AX__SET(&m, cid, cid);
  return msg_send(peer, &m);
}

/* ------------------------------------------------------------- peers */

static int peer_on_frame(ax__chan *ch, const uint8_t *msg, size_t len);

static void peer_on_closed(ax__chan *ch, int status) {
  ax__peer *peer = ch->data;
  (void)status;
  ax__list_remove(&peer->link);
  ax__peer_unref(peer);
}

/* The channel stops carrying messages: fail what waits on it. */
static void peer_gone(ax__peer *peer, int status) {
  if (peer->gone) return;
  peer->gone = 1;
  AX__LOGD("peer %s gone (%s)", peer->id.name, ax_strerror(status));
  ax__list_each(it, &peer->serving) {
    serve *s = ax__container_of(it, serve, link);
    ax_task_cancel(s->task);
  }
  if (peer->portal) {
    ax__portal_on_gone(peer->portal);
  } else {
    ax__peer_fail_calls(peer, NULL);
  }
  if (peer->is_parent) {
    ax_log(status == 0 ? AX_LOG_INFO : AX_LOG_WARN,
           "parent channel closed (%s): cancelling the actor",
           status == 0 ? "end of file" : ax_strerror(status));
    ax__cancel_actor(0);
  }
}

static void chan_closed_first(ax__chan *ch, int status) {
  ax__peer *peer = ch->data;
  peer_gone(peer, status);
  peer_on_closed(ch, status);
}

ax__peer *ax__peer_new(int fd, int is_parent) {
  ax__peer *peer = calloc(1, sizeof *peer);
  if (!peer) return NULL;
  ax__list_init(&peer->calls);
  ax__list_init(&peer->serving);
  peer->next_cid = 1;
  peer->is_parent = is_parent;
  peer->refs = 1;
  if (ax__chan_open(&peer->chan, fd, peer_on_frame, chan_closed_first, peer) <
      0) {
    free(peer);
    return NULL;
  }
  ax__list_push(&ax__rt_g->peers, &peer->link);
  return peer;
}

void ax__peer_unref(ax__peer *peer) {
  if (--peer->refs == 0) free(peer);
}

void ax__peer_close(ax__peer *peer, const ax_error *err) {
  /* The channel may be gone already; calls still waiting learn why now. */
  peer->gone = 1;
  ax__peer_fail_calls(peer, err);
  ax__list_each(it, &peer->serving) {
    ax_task_cancel(ax__container_of(it, serve, link)->task);
  }
  ax__chan_close(&peer->chan, 0);
}

void ax__peers_close_all(void) {
  ax__list_each(it, &ax__rt_g->peers) {
    ax__peer *peer = ax__container_of(it, ax__peer, link);
    ax__chan_close(&peer->chan, 0);
  }
}

/* ------------------------------------------------------- outgoing */

int ax__peer_send_hello(ax__peer *peer) {
  ax__msg m = {.type = AX__M_HELLO};
  AX__SET(&m, version, AX__PROTO_VERSION);
  ax__msg_set_str(&m, AX__F_name, ax__rt_g->self.name);
  ax__msg_set_str(&m, AX__F_uid, ax__rt_g->self.uid);
  AX__SET(&m, pid, ax__rt_g->self.pid);
  return msg_send(peer, &m);
}

int ax__peer_send_spawn(ax__peer *peer, const ax__ident *id,
                        const ax_spawn_opts *o) {
  ax_pack *en = ax_pack_new();
  if (!en) return AX_ENOMEM;
  ax_pack_array(en, (uint32_t)o->nenable);
  for (size_t i = 0; i < o->nenable; i++) ax_pack_str(en, o->enable[i]);
  if (ax__pack_failed(en)) {
    ax_pack_free(en);
    return AX_ENOMEM;
  }
  size_t enlen;
  const void *enb = ax_pack_bytes(en, &enlen);
  ax__msg m = {.type = AX__M_SPAWN};
  ax__msg_set_str(&m, AX__F_name, id->name);
  ax__msg_set_str(&m, AX__F_uid, id->uid);
  ax__msg_set_str(&m, AX__F_module, o->module);
  ax__msg_set_raw(&m, AX__F_enable, enb, enlen);
  AX__SET(&m, loglevel, o->loglevel > 0 ? o->loglevel : ax__rt_g->loglevel);
  AX__SET(&m, debug, o->debug);
  AX__SET(&m, grace, ax__rt_g->grace);
  AX__SET(&m, max_frame, (int64_t)ax__rt_g->max_frame);
  ax__msg_set_str(&m, AX__F_parent, ax__rt_g->self.uid);
  int rc = msg_send(peer, &m);
  ax_pack_free(en);
  return rc;
}

int ax__peer_send_cancel(ax__peer *peer, uint64_t cid) {
  return send_cid(peer, AX__M_CANCEL, cid);
}

int ax__send_error(ax__peer *peer, uint64_t cid, const ax_error *e) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  int rc = ax__error_pack(p, e);
  if (rc == 0 && ax__pack_failed(p)) rc = AX_ENOMEM;
  if (rc == 0) {
    size_t len;
    const void *b = ax_pack_bytes(p, &len);
    ax__msg m = {.type = AX__M_ERROR};
    AX__SET(&m, cid, cid);
    ax__msg_set_raw(&m, AX__F_error, b, len);
    rc = msg_send(peer, &m);
  }
  ax_pack_free(p);
  return rc;
}

static void call_cancel(ax_op *op) {
  ax__call *c = (ax__call *)op;
  ax__list_remove(&c->link);
  if (!c->peer->gone) ax__peer_send_cancel(c->peer, c->cid);
  ax_done_cb cb = c->cb;
  void *ud = c->ud;
  free(c);
  cb(ud, AX_ECANCELED, NULL, NULL);
}

int ax__peer_call(ax__peer *peer, const char *ns, const char *func,
                  const ax_data *kwargs, ax_done_cb cb, void *ud,
                  ax__call **out) {
  if (peer->gone || peer->chan.closing) return AX_ECLOSED;
  ax__call *c = calloc(1, sizeof *c);
  if (!c) return AX_ENOMEM;
  c->op.cancel = call_cancel;
  c->peer = peer;
  c->cid = peer->next_cid++;
  c->cb = cb;
  c->ud = ud;
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, c->cid);
  ax__msg_set_str(&m, AX__F_ns, ns);
  ax__msg_set_str(&m, AX__F_func, func);
  size_t len = 1;
  const void *b = kwargs ? ax_data_bytes(kwargs, &len) : "\x80";
  ax__msg_set_raw(&m, AX__F_kwargs, b, len);
  int rc = msg_send(peer, &m);
  if (rc < 0) {
    free(c);
    return rc;
  }
  ax__list_push(&peer->calls, &c->link);
  if (out) *out = c;
  return 0;
}

void ax__peer_fail_calls(ax__peer *peer, const ax_error *err) {
  while (!ax__list_empty(&peer->calls)) {
    ax__call *c = ax__container_of(peer->calls.next, ax__call, link);
    ax__list_remove(&c->link);
    ax_done_cb cb = c->cb;
    void *ud = c->ud;
    free(c);
    if (err)
      cb(ud, AX_EREMOTE, NULL, ax_error_dup(err));
    else
      cb(ud, AX_ECLOSED, NULL, NULL);
  }
}

static ax__call *find_call(ax__peer *peer, uint64_t cid) {
  ax__list_each(it, &peer->calls) {
    ax__call *c = ax__container_of(it, ax__call, link);
    if (c->cid == cid) return c;
  }
  return NULL;
}

static int decode_error(const ax__raw *raw, ax_error **out) {
  ax_data *d = ax__data_make(raw->p, &raw->sc);
  if (!d) return AX_ENOMEM;
  int rc;
  rc = ax__error_unpack(ax_data_root(d), out);
  ax_data_free(d);
  if (rc == 0) ax__error_relay_here(*out);
  return rc;
}

static int on_reply(ax__peer *peer, const ax__msg *m) {
  ax__call *c = find_call(peer, m->cid);
  if (!c) {
    AX__LOGD("reply for unknown call %llu dropped", (unsigned long long)m->cid);
    return 0;
  }
  ax_data *value = NULL;
  ax_error *err = NULL;
  int status = 0;
  if (m->type == AX__M_ERROR) {
    status = decode_error(&m->error, &err);
    if (status == 0) status = AX_EREMOTE;
  } else if (AX__HAS(m, value)) {
    value = ax__data_make(m->value.p, &m->value.sc);
    if (!value) status = AX_ENOMEM;
  }
  ax__list_remove(&c->link);
  ax_done_cb cb = c->cb;
  void *ud = c->ud;
  free(c);
  cb(ud, status, value, err);
  return 0;
}

/* ------------------------------------------------------- serving */

static void send_outcome(ax__peer *peer, uint64_t cid, int status,
                         ax_data *result, ax_error *err) {
  if (peer->gone) return;
  if (status == 0) {
    size_t len = 1;
    const void *b = result ? ax_data_bytes(result, &len) : "\xc0";
    ax__msg m = {.type = AX__M_RETURN};
    AX__SET(&m, cid, cid);
    ax__msg_set_raw(&m, AX__F_value, b, len);
    int rc = msg_send(peer, &m);
    if (rc != AX_EMSGSIZE) return;
    err = ax_error_new("MessageTooLarge",
                       "result of %zu bytes exceeds the maximum frame size",
                       len);
    if (err) ax__send_error(peer, cid, err);
    ax_error_free(err);
    return;
  }
  ax__send_error(peer, cid, err);
}

static int serve_task(void *arg) {
  serve *s = arg;
  ax__peer *peer = s->peer;
  ax__msg ack = {.type = AX__M_START_ACK};
  AX__SET(&ack, cid, s->cid);
  ax__msg_set_str(&ack, AX__F_kind, "asyncfunc");
  msg_send(peer, &ack);
  ax_ctx ctx;
  ax__ctx_init(&ctx);
  int rc = ax__module_call(s->ns, s->func, ax_data_root(s->args), &ctx, 0);
  ax_data *result = NULL;
  ax_error *err = NULL;
  int status = ax__ctx_outcome(&ctx, rc, &result, &err);
  AX__LOGD("call %llu done: %s%s", (unsigned long long)s->cid,
           status == 0 ? "returned" : ax_error_type(err),
           peer->gone ? " (caller gone)" : "");
  send_outcome(peer, s->cid, status, result, err);
  ax_data_free(result);
  ax_error_free(err);
  ax__list_remove(&s->link);
  free(s->ns);
  free(s->func);
  ax_data_free(s->args);
  free(s);
  ax__peer_unref(peer);
  return 0;
}

static void serve_reject(ax__peer *peer, uint64_t cid, const char *type,
                         const char *msg) {
  ax_error *e = ax_error_new(type, "%s", msg);
  if (e) ax__send_error(peer, cid, e);
  ax_error_free(e);
}

static void serve_start(ax__peer *peer, const ax__msg *m) {
  serve *s = calloc(1, sizeof *s);
  if (!s) {
    serve_reject(peer, m->cid, "MemoryError", "out of memory");
    return;
  }
  s->peer = peer;
  s->cid = m->cid;
  s->ns = ax__msg_strdup(&m->ns);
  s->func = ax__msg_strdup(&m->func);
  int rc = 0;
  if (AX__HAS(m, kwargs) && !(s->args = ax__data_make(m->kwargs.p,
                                                      &m->kwargs.sc)))
    rc = AX_ENOMEM;
  if (rc == 0 && (!s->ns || !s->func)) rc = AX_ENOMEM;
  ax__list_init(&s->link);
  if (rc == 0) rc = ax_task_start(serve_task, s, &s->task);
  if (rc < 0) {
    serve_reject(peer, m->cid, "MemoryError", ax_strerror(rc));
    free(s->ns);
    free(s->func);
    ax_data_free(s->args);
    free(s);
    return;
  }
  /* The task frees itself; the handle is only used to cancel it. */
  ax__task_detach(s->task);
  ax__list_push(&peer->serving, &s->link);
  peer->refs++;
}

static void on_cancel(ax__peer *peer, const ax__msg *m) {
  if (m->cid == 0) {
    if (!peer->is_parent) {
      ax_log(AX_LOG_WARN, "actor cancel from %s ignored: not our parent",
             peer->id.name);
      return;
    }
    ax_log(AX_LOG_INFO, "cancel requested by the parent");
    child.cancel_requested = 1;
    ax__cancel_actor(0);
    return;
  }
  ax__list_each(it, &peer->serving) {
    serve *s = ax__container_of(it, serve, link);
    if (s->cid == m->cid) ax_task_cancel(s->task);
  }
}

/* ------------------------------------------------------- dispatch */

static void child_on_spawn(ax__peer *peer, const ax__msg *m);

static int peer_on_frame(ax__chan *ch, const uint8_t *msg, size_t len) {
  ax__peer *peer = ch->data;
  ax__msg m;
  if (ax__msg_decode(msg, len, &m) < 0) {
    ax_log(AX_LOG_ERROR, "malformed message (%zu bytes) from %s", len,
           peer->handshaken ? peer->id.name : "a peer before its handshake");
    return AX_EPROTO;
  }
  AX__LOGD("recv %s cid %llu from %s", ax__msg_type_name(m.type),
           (unsigned long long)m.cid, peer->id.name);
  if (!peer->handshaken && m.type != AX__M_HELLO &&
      !(m.type == AX__M_ERROR && m.cid == 0)) {
    ax_log(AX_LOG_ERROR, "%s before the handshake",
           ax__msg_type_name(m.type));
    return AX_EPROTO;
  }
  switch (m.type) {
    case AX__M_HELLO:
      if (peer->handshaken) return AX_EPROTO;
      if (m.version != AX__PROTO_VERSION) {
        ax_log(AX_LOG_ERROR, "peer speaks protocol %lld, we speak %d",
               (long long)m.version, AX__PROTO_VERSION);
        return AX_EPROTO;
      }
      ax__ident_set(&peer->id, m.name.p, m.name.len, m.uid.p, m.uid.len,
                    (int)m.pid);
      peer->handshaken = 1;
      if (peer->portal) ax__portal_on_hello(peer->portal, &m);
      return 0;
    case AX__M_SPAWN:
      if (!peer->is_parent || !child.booting) return AX_EPROTO;
      child_on_spawn(peer, &m);
      return 0;
    case AX__M_START:
      serve_start(peer, &m);
      return 0;
    case AX__M_START_ACK:
    case AX__M_CANCEL_ACK:
      return 0;
    case AX__M_RETURN:
      return on_reply(peer, &m);
    case AX__M_ERROR:
      if (m.cid == 0) {
        ax_error *err = NULL;
        int rc = decode_error(&m.error, &err);
        if (rc < 0) return rc;
        if (peer->portal) {
          ax__portal_on_actor_error(peer->portal, err);
        } else {
          char *text = ax_error_format(err);
          ax_log(AX_LOG_ERROR, "actor error from %s:\n%s", peer->id.name,
                 text ? text : "");
          ax_free(text);
          ax_error_free(err);
        }
        return 0;
      }
      return on_reply(peer, &m);
    case AX__M_CANCEL:
      on_cancel(peer, &m);
      return 0;
    default:
      return AX_EPROTO;
  }
}

/* ------------------------------------------------------ child side */

static void child_on_spawn(ax__peer *peer, const ax__msg *m) {
  ax__rt *rt = ax__rt_g;
  child.booting = 0;
  uv_timer_stop(&child.boot_timer);
  ax__ident_set(&rt->self, m->name.p, m->name.len, m->uid.p, m->uid.len,
                getpid());
  if (m->parent.present) {
    size_t n = m->parent.len < AX__UID_LEN ? m->parent.len : AX__UID_LEN;
    memcpy(rt->parent_uid, m->parent.p, n);
    rt->parent_uid[n] = 0;
  }
  if (m->loglevel > 0) rt->loglevel = (int)m->loglevel;
  if (m->grace > 0) rt->grace = m->grace;
  if (m->max_frame > 0) {
    rt->max_frame = (size_t)m->max_frame;
    peer->chan.max_frame = rt->max_frame;
  }
  char *module = ax__msg_strdup(&m->module);
  const char **enable = NULL;
  size_t nenable = 0;
  ax_data *en = NULL;
  ax_error *err = NULL;
  int rc = module ? 0 : AX_ENOMEM;
  if (rc == 0 && AX__HAS(m, enable)) {
    en = ax__data_make(m->enable.p, &m->enable.sc);
    if (!en) rc = AX_ENOMEM;
    const ax_val *arr = ax_data_root(en);
    if (rc == 0) {
      nenable = ax_val_len(arr);
      enable = calloc(nenable ? nenable : 1, sizeof *enable);
      for (size_t i = 0; enable && i < nenable; i++) {
        enable[i] = ax_val_str(ax_val_at(arr, (uint32_t)i), NULL);
        if (!enable[i]) enable[i] = "";
      }
      if (!enable) rc = AX_ENOMEM;
    }
  }
  if (rc == 0) rc = ax__modules_enable(module, enable, nenable, &err);
  free(enable);
  ax_data_free(en);
  free(module);
  if (rc < 0) {
    if (!err) err = ax_error_new("SpawnError", "%s", ax_strerror(rc));
    ax_log(AX_LOG_ERROR, "cannot start: %s: %s", ax_error_type(err),
           ax_error_message(err));
    if (err) ax__send_error(peer, 0, err);
    ax_error_free(err);
    child.failed = 1;
    ax__cancel_actor(0);
    return;
  }
  ax__peer_send_hello(peer);
}

static void boot_timeout(uv_timer_t *t) {
  (void)t;
  if (!child.booting) return;
  ax_log(AX_LOG_ERROR, "no spawn spec from the parent in time; exiting");
  child.failed = 1;
  ax__cancel_actor(0);
}

int ax_child_main(int fd) {
  ax_opts o = {sizeof o, "child", 0, 0, 0, 0, NULL};
  int rc = ax_init(&o);
  if (rc < 0) return 70;
  ax__rt *rt = ax__rt_g;
  rt->is_child = 1;
  ax__signals_start(1);
  child.booting = 1;
  child.parent = ax__peer_new(fd, 1);
  if (!child.parent) {
    ax_log(AX_LOG_ERROR, "cannot open the parent channel (fd %d)", fd);
    ax_shutdown();
    return 70;
  }
  child.parent->refs++;
  uv_timer_init(&rt->loop, &child.boot_timer);
  /* Our hello goes out once the spawn spec is honoured: it tells the
   * parent we are ready, with the identity it gave us. */
  uv_timer_start(&child.boot_timer, boot_timeout, 10000, 0);
  /* Serve until cancelled, then until every task and child is gone. */
  while (!rt->actor_scope.cancelled) {
    ax__schedule();
    if (!uv_run(&rt->loop, UV_RUN_ONCE) && !rt->actor_scope.cancelled) {
      ax__schedule();
      if (!uv_loop_alive(&rt->loop)) ax__cancel_actor(0);
    }
  }
  uv_timer_stop(&child.boot_timer);
  uv_close((uv_handle_t *)&child.boot_timer, NULL);
  ax__run_until_done();
  AX__LOGD("actor done (%d tasks left); closing the parent channel",
           ax__tasks_alive());
  ax__peer *parent = child.parent;
  if (child.cancel_requested && !parent->gone)
    send_cid(parent, AX__M_CANCEL_ACK, 0);
  ax__chan_close(&parent->chan, 0);
  ax__peer_unref(parent);
  child.parent = NULL;
  int code = child.failed ? 1 : 0;
  /* A plain C function still running on the pool cannot be stopped; do not
   * wait for it at exit (libuv joins its threads in a destructor). */
  if (ax__threads_busy() > 0) {
    fflush(NULL);
    _exit(code);
  }
  ax_shutdown();
  return code;
}
