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

static ax_pack *scratch;

static ax_pack *msg_begin(int type, uint32_t nfields) {
  if (!scratch) scratch = ax_pack_new();
  if (!scratch) return NULL;
  ax__pack_reset(scratch);
  ax_pack_map(scratch, nfields + 1);
  ax_pack_str(scratch, "t");
  ax_pack_str(scratch, ax__msg_type_name(type));
  return scratch;
}

static int msg_send(ax__peer *peer, ax_pack *p) {
  if (!p) return AX_ENOMEM;
  if (peer->gone || peer->chan.closing) return AX_ECLOSED;
  size_t len;
  const void *b = ax_pack_bytes(p, &len);
  return ax__chan_send(&peer->chan, b, len);
}

static void kv_str(ax_pack *p, const char *k, const char *v) {
  ax_pack_str(p, k);
  ax_pack_str(p, v);
}

static void kv_int(ax_pack *p, const char *k, int64_t v) {
  ax_pack_str(p, k);
  ax_pack_int(p, v);
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
  ax_pack_free(scratch);
  scratch = NULL;
}

/* ------------------------------------------------------- outgoing */

int ax__peer_send_hello(ax__peer *peer) {
  ax_pack *p = msg_begin(AX__M_HELLO, 4);
  if (!p) return AX_ENOMEM;
  kv_int(p, "v", AX__PROTO_VERSION);
  kv_str(p, "name", ax__rt_g->self.name);
  kv_str(p, "uid", ax__rt_g->self.uid);
  kv_int(p, "pid", ax__rt_g->self.pid);
  return msg_send(peer, p);
}

int ax__peer_send_spawn(ax__peer *peer, const ax__ident *id,
                        const ax_spawn_opts *o) {
  ax_pack *p = msg_begin(AX__M_SPAWN, 9);
  if (!p) return AX_ENOMEM;
  kv_str(p, "name", id->name);
  kv_str(p, "uid", id->uid);
  kv_str(p, "module", o->module);
  ax_pack_str(p, "enable");
  ax_pack_array(p, (uint32_t)o->nenable);
  for (size_t i = 0; i < o->nenable; i++) ax_pack_str(p, o->enable[i]);
  kv_int(p, "loglevel", o->loglevel > 0 ? o->loglevel : ax__rt_g->loglevel);
  kv_int(p, "debug", o->debug);
  ax_pack_str(p, "grace");
  ax_pack_float(p, ax__rt_g->grace);
  kv_int(p, "max_frame", (int64_t)ax__rt_g->max_frame);
  kv_str(p, "parent", ax__rt_g->self.uid);
  return msg_send(peer, p);
}

int ax__peer_send_cancel(ax__peer *peer, uint64_t cid) {
  ax_pack *p = msg_begin(AX__M_CANCEL, 1);
  if (!p) return AX_ENOMEM;
  kv_int(p, "cid", (int64_t)cid);
  return msg_send(peer, p);
}

int ax__send_error(ax__peer *peer, uint64_t cid, const ax_error *e) {
  ax_pack *p = msg_begin(AX__M_ERROR, 2);
  if (!p) return AX_ENOMEM;
  kv_int(p, "cid", (int64_t)cid);
  ax_pack_str(p, "error");
  ax__error_pack(p, e);
  return msg_send(peer, p);
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
  ax_pack *p = msg_begin(AX__M_START, 4);
  if (!p) {
    free(c);
    return AX_ENOMEM;
  }
  kv_int(p, "cid", (int64_t)c->cid);
  kv_str(p, "ns", ns ? ns : "");
  kv_str(p, "func", func);
  ax_pack_str(p, "kwargs");
  if (kwargs) {
    size_t len;
    const void *b = ax_data_bytes(kwargs, &len);
    ax__pack_raw(p, b, len);
  } else {
    ax_pack_map(p, 0);
  }
  int rc = msg_send(peer, p);
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
  ax_data *d;
  int rc = ax_data_decode(raw->p, raw->len, &d);
  if (rc < 0) return rc;
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
  } else if (m->value.len) {
    status = ax_data_decode(m->value.p, m->value.len, &value);
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
    ax_pack *p = msg_begin(AX__M_RETURN, 2);
    if (!p) return;
    kv_int(p, "cid", (int64_t)cid);
    ax_pack_str(p, "value");
    size_t len = 0;
    const void *b = result ? ax_data_bytes(result, &len) : NULL;
    if (b)
      ax__pack_raw(p, b, len);
    else
      ax_pack_nil(p);
    int rc = msg_send(peer, p);
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
  ax_pack *p = msg_begin(AX__M_START_ACK, 2);
  if (p) {
    kv_int(p, "cid", (int64_t)s->cid);
    kv_str(p, "kind", "asyncfunc");
    msg_send(peer, p);
  }
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
  s->ns = ax__str_dup(&m->ns);
  s->func = ax__str_dup(&m->func);
  int rc = 0;
  if (m->kwargs.len) rc = ax_data_decode(m->kwargs.p, m->kwargs.len, &s->args);
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
  char *module = ax__str_dup(&m->module);
  const char **enable = NULL;
  size_t nenable = 0;
  ax_data *en = NULL;
  ax_error *err = NULL;
  int rc = module ? 0 : AX_ENOMEM;
  if (rc == 0 && m->enable.len) {
    rc = ax_data_decode(m->enable.p, m->enable.len, &en);
    const ax_val *arr = ax_data_root(en);
    if (rc == 0 && ax_val_type(arr) == AX_T_ARRAY) {
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
  if (child.cancel_requested && !parent->gone) {
    ax_pack *p = msg_begin(AX__M_CANCEL_ACK, 1);
    if (p) {
      kv_int(p, "cid", 0);
      msg_send(parent, p);
    }
  }
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
