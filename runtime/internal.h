/* internal.h - what the runtime's files share. Never installed; the public
 * surface is abi/axle.h. Non-static names here start with ax__. */
#ifndef AX_INTERNAL_H
#define AX_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "axle.h"

#define AX__PROTO_VERSION 1
#define AX__UID_LEN 32
#define AX__NAME_MAX 64

/* ------------------------------------------------------------- lists */

typedef struct ax__list {
  struct ax__list *prev, *next;
} ax__list;

static inline void ax__list_init(ax__list *l) { l->prev = l->next = l; }
static inline int ax__list_empty(const ax__list *l) { return l->next == l; }
static inline void ax__list_push(ax__list *head, ax__list *item) {
  item->prev = head->prev;
  item->next = head;
  head->prev->next = item;
  head->prev = item;
}
static inline void ax__list_remove(ax__list *item) {
  item->prev->next = item->next;
  item->next->prev = item->prev;
  item->prev = item->next = item;
}
#define ax__container_of(ptr, type, member) \
  ((type *)((char *)(ptr)-offsetof(type, member)))
#define ax__list_each(it, head) \
  for (ax__list *it = (head)->next, *it##_n = it->next; it != (head); \
       it = it##_n, it##_n = it->next)

/* -------------------------------------------------- identities (ident.c) */

typedef struct ax__ident {
  char name[AX__NAME_MAX];
  char uid[AX__UID_LEN + 1];
  int pid;
} ax__ident;

void ax__ident_set(ax__ident *id, const char *name, size_t nlen,
                   const char *uid, size_t ulen, int pid);
void ax__ident_new_uid(char out[AX__UID_LEN + 1]);

/* -------------------------------------- completion ops and waits (task.c) */

struct ax_op {
  void (*cancel)(ax_op *op);
};

/* A blocking wait of one task on one completion. */
typedef struct ax__wait {
  ax_task *task;
  int done;
  int aborted;
  void (*abort)(struct ax__wait *w);
  /* What it waits for, for the Cancelled error of a wait cut short: a
   * format with up to two %s, a and b (read only while the wait lasts),
   * e.g. "waiting for actor '%s' to answer call '%s'"; NULL: unsaid. */
  const char *what, *a, *b;
} ax__wait;

/* Suspend the current task until w->done; when the task is cancelled
 * meanwhile, w->abort runs once and the wait goes on until done. */
void ax__wait_for(ax__wait *w);
/* Say what w waits for (see ax__wait). */
static inline void ax__wait_about(ax__wait *w, const char *what,
                                  const char *a, const char *b) {
  w->what = what;
  w->a = a;
  w->b = b;
}
void ax__wait_done(ax__wait *w);

/* One completion a user waits for, in a record that outlives the call
 * that started it (contexts, streams): its op, its callback, whether it
 * is pending. */
typedef struct ax__waiter {
  ax_op op;
  ax_done_cb cb;
  void *ud;
  int on;
} ax__waiter;

/* Call w's callback, once: it is no longer pending. */
static inline void ax__waiter_fire(ax__waiter *w, int status, ax_data *v,
                                   ax_error *e) {
  w->on = 0;
  w->cb(w->ud, status, v, e);
}

/* Blocking form over a completion form: the result lands here. */
typedef struct ax__blk {
  ax__wait w;
  ax_op *op;
  int status;
  ax_data *result;
  ax_error *err;
} ax__blk;

void ax__blk_init(ax__blk *b);
void ax__blk_cb(void *ud, int status, ax_data *result, ax_error *err);
/* Wait for b, hand out result and err (each freed when the pointer to
 * receive it is NULL), return the status. */
int ax__blk_wait(ax__blk *b, ax_data **result, ax_error **err);
/* 0, AX_ENOTASK outside a task, AX_ECANCELED when the task is cancelled. */
int ax__can_block(void);
/* The message of a Cancelled error for the current task: what cancelled
 * it and what it was doing (doing, else what its last wait cut short
 * waited for), into buf; fallback when no task is cancelled. */
void ax__cancel_text(char *buf, size_t cap, const char *doing,
                     const char *fallback);

/* The body of a blocking function over its completion form: start is the
 * _cb call, given AX__BLK_ARGS as its (cb, ud, op) arguments. */
#define AX__BLK_ARGS ax__blk_cb, &blk_, &blk_.op
#define AX__BLOCK_ON(start, result, err, what, a, b) \
  do {                                              \
    int rc_ = ax__can_block();                      \
    if (rc_ < 0) return rc_;                        \
    ax__blk blk_;                                   \
    ax__blk_init(&blk_);                            \
    ax__wait_about(&blk_.w, (what), (a), (b));      \
    rc_ = (start);                                  \
    if (rc_ < 0) return rc_;                        \
    return ax__blk_wait(&blk_, (result), (err));    \
  } while (0)

/* ----------------------------------------- tasks, scopes (task.c, coro.c) */

struct ax_scope {
  ax_scope *parent;  /* enclosing scope; may belong to another task */
  ax_task *task;     /* owner, NULL for the actor scope */
  int cancelled;
  int shield;
  int nkids;         /* tasks whose root scope hangs below this one */
  double deadline;
  uv_timer_t *timer;
  const char *cause; /* who cancelled it, when known: "by a deadline" */
};

ax_task *ax__current(void);
int ax__task_cancelled(const ax_task *t);
/* Cancel the actor scope (signum: the signal that asked, or 0), and the
 * first time, interrupt what the modules run (rt->on_cancel). */
void ax__cancel_actor(int signum);
/* The same, saying who asked (the parent): the canceller a context's
 * ContextCancelled names. The first to say is kept. */
void ax__cancel_actor_by(const ax__ident *who);
/* Wake every blocked task that is now cancelled. */
void ax__cancel_sweep(void);
void ax__task_wake(ax_task *t);
/* Free t when it ends; the handle stays usable until then. */
void ax__task_detach(ax_task *t);
/* ax_task_cancel, saying who cancels (a static phrase, "by its caller"). */
void ax__task_cancel_by(ax_task *t, const char *cause);
/* Run fn(arg) on the loop soon, outside any task. */
int ax__defer(void (*fn)(void *), void *arg);
/* Run ready tasks, then flush channel output. */
void ax__schedule(void);
/* The loop must not block in poll while a channel is left dirty after a
 * flush (it has more to write next round): the scheduler keeps polling
 * until the dirty list is empty. */
void ax__keep_polling(void);
int ax__tasks_alive(void);
void ax__tasks_free_all(void);
/* Thread-pool calls started and not yet ended on the loop (a function
 * still running, even when its caller stopped waiting). */
int ax__threads_busy(void);

/* Context switching (coro.c). */
typedef struct ax__coro {
  void *sp;
  void *stack;      /* lowest address of the mapping (guard page) */
  size_t size;      /* whole mapping */
  int dying;        /* the last switch away from this coroutine */
} ax__coro;

int ax__coro_make(ax__coro *c, size_t stack_size, void (*entry)(void *),
                  void *arg);
void ax__coro_release(ax__coro *c);
/* Switch from the coroutine whose context is saved in *from to to. */
void ax__coro_switch(ax__coro *from, ax__coro *to);
void ax__coro_pool_drain(void);

/* ----------------------------------------- the runtime (rt.c, loop.c) */

/* The state of the runtime of one process: rt.c holds it, the lowest
 * layer, so that every file may read it; loop.c (the top) makes it, wires
 * the upper layers' hooks into it, and drives it; boot.c (the top of a
 * child) adds a child's hooks. */

typedef struct ax__rt {
  uv_loop_t loop;
  uv_prepare_t prepare;
  uv_check_t check;
  uv_idle_t idle;
  uv_signal_t sigint, sigterm;
  ax__ident self;
  char parent_uid[AX__UID_LEN + 1];
  int loglevel;
  double grace;
  size_t max_frame;
  size_t max_msg;           /* largest message taken, in parts or not */
  size_t stack_size;
  char *host;
  int is_child;
  int cancel_signal;        /* signal that cancelled the actor, or 0 */
  ax__ident canceller;      /* who cancelled the actor as a whole */
  int has_canceller;
  ax_scope actor_scope;     /* every task hangs below it */
  ax__list dirty;           /* channels with output to flush */
  ax__list refill;          /* channels whose owner gives more next round */
  void (*before_flush)(void); /* set by serving while acks are owed */
  void (*flush)(void);       /* after each run of the scheduler */
  void (*on_cancel)(void);   /* the actor was cancelled: interrupt modules */
  void (*on_ladder)(void);   /* a teardown ladder started or its end moved */
  ax__list peers;
  ax__list nurseries;       /* open ones: a cancelled actor cancels them */
} ax__rt;

extern ax__rt *ax__rt_g;
#define AX__LOOP (&ax__rt_g->loop)

void ax__run_until_done(void);

/* ----------------------------------------------------- signals (signal.c) */

/* SIGTERM (and, in the root, SIGINT; a child ignores it) cancel the actor. */
void ax__signal_start(int child);

/* ---------------------------------------------- signal names (signame.c) */

/* "SIGSEGV" for SIGSEGV...; "signal" for one without a name here. */
const char *ax__signame(int sig);

/* ------------------------------------------- axle's own files (path.c) */

/* The executable to start children with: opt, else AXLE_HOST, else this
 * executable when it is the host, else the host beside the library, else
 * axle on PATH. */
char *ax__host_find(const char *opt);

/* msgpack at the byte level (mp.c) */
#include "mp.h"

/* ------------------------------------------- large buffers (mem.c) */

/* A buffer of at least AX__MEM_BIG bytes asks for huge pages. */
#define AX__MEM_BIG (1u << 20)
void ax__mem_big_slow(void *p, size_t len);
static inline void ax__mem_big(void *p, size_t len) {
  if (__builtin_expect(len >= AX__MEM_BIG, 0)) ax__mem_big_slow(p, len);
}
static inline void *ax__mem_alloc(size_t len) {
  void *p = malloc(len);
  ax__mem_big(p, len);
  return p;
}
static inline void *ax__mem_realloc(void *p, size_t len) {
  void *q = realloc(p, len);
  ax__mem_big(q, len);
  return q;
}
/* A growable buffer of cap bytes: malloc'ed below AX__MEM_BIG, a mapping
 * of its own from there (which grows without copying). Resize keeps the
 * contents up to the smaller size and returns NULL, leaving p as it was,
 * when out of memory; p NULL is a new buffer. Free takes the cap it was
 * last given. */
void *ax__buf_resize(void *p, size_t cap, size_t newcap);
void ax__buf_free(void *p, size_t cap);

/* ---------------------------------------------------- values (value.c) */

/* A document of the value at bytes, which sc describes: one allocation. */
ax_data *ax__data_make(const void *bytes, const ax__scan *sc);
/* The same without copying the bytes: they stay in buf (an ax__buf of
 * cap bytes that holds them), which the document owns on success. */
ax_data *ax__data_adopt(void *buf, size_t cap, const void *bytes,
                        const ax__scan *sc);

/* The bytes of d as a call's arguments (d NULL: none, *len 0), or
 * AX_EINVAL when d holds no map, array or nil. */
int ax__data_args(const ax_data *d, const void **p, size_t *len);
/* Whether an append to p has failed for lack of memory. */
int ax__pack_failed(const ax_pack *p);
/* Take p's bytes over when they are in an ax__buf of their own (*buf, of
 * *cap bytes; p is left empty): 0, or AX_ENOENT when they are not. */
int ax__pack_take(ax_pack *p, void **buf, size_t *cap);

/* ------------------------------------------------ error objects (error.c) */

/* Bounds on an error's wire form (docs/PROTOCOL.md): entries of a relay
 * path, and error maps in one error (the error and its members at every
 * depth). A receiver refuses more as malformed; a sender never sends more
 * (nor members nested deeper than AX__ERR_MAX_NEST groups), and a path at
 * its bound drops its oldest hop after the source to take a new one. */
#define AX__ERR_MAX_RELAY 64
#define AX__ERR_MAX_MAPS 256
#define AX__ERR_MAX_NEST 8

ax_error *ax__error_make(const char *type, const char *msg,
                         const char *traceback, const ax__ident *src);
ax_error *ax__error_group(ax_error **members, size_t n);
/* Append the current actor as a hop of the relay path. */
void ax__error_relay_here(ax_error *e);
/* The wire form of e, within the bounds: an info that would nest too
 * deep where it sits is left out. */
int ax__error_pack(ax_pack *p, const ax_error *e);
/* The same without any info, its members' included: for an error too
 * large for a frame with them. */
int ax__error_pack_without_info(ax_pack *p, const ax_error *e);
/* Whether e or any of its members has an info. */
int ax__error_has_info(const ax_error *e);
/* An error from its wire form, bytes[0..len) (one map the scanner
 * accepted): AX_EPROTO when it is no error map or breaks a bound, checked
 * before anything is allocated for it; what it allocates is at most about
 * twice len plus a bounded amount, plus what its infos cost as decoded
 * payload values; unknown keys are skipped unread. */
int ax__error_decode(const void *bytes, size_t len, ax_error **out);
/* A MessageTooLarge error standing for e, whose wire form takes at most
 * max bytes: e's type in its message, what fits of e's message and
 * traceback, e's source and relay path, no members. NULL when out of
 * memory or max is too small even for that. */
ax_error *ax__error_fit(const ax_error *e, size_t max);
/* The wire form of an error of kind with message msg from this actor,
 * written into buf[0..cap) without allocating (when memory is out, or an
 * error cannot be cut to fit): its size, or 0 when cap is too small. A
 * buffer of AX__ERR_PLAIN_MAX bytes holds one with a message of up to 200
 * bytes. */
#define AX__ERR_PLAIN_MAX 640
size_t ax__error_write_plain(uint8_t *buf, size_t cap, int kind,
                             const char *msg);
char *ax__backtrace(int skip);

/* ------------------------------------------------------- strings (str.c) */

char *ax__strdup(const char *s);
char *ax__strndup(const char *s, size_t n);
char *ax__asprintf(const char *fmt, ...) AX_PRINTF(1, 2);
char *ax__vasprintf(const char *fmt, va_list ap);
/* Whether s[0..n) is well-formed UTF-8. */
int ax__utf8_valid(const char *s, size_t n);
/* A NUL-terminated copy of s[0..n) with each byte that is not part of
 * well-formed UTF-8 replaced by U+FFFD; NULL when out of memory. */
char *ax__utf8_fix(const char *s, size_t n);

/* free lists (pool.c) */
#include "pool.h"

/* channels (channel.c) */
#include "channel.h"

/* -------------------------------------------------- messages (msg.c) */

/* The message table (docs/PROTOCOL.md mirrors it; a test checks). Each
 * field: its member in ax__msg, its key on the wire, its type. */
#define AX__MSG_FIELDS(X)              \
  X(cid, "cid", UINT)                  \
  X(version, "v", INT)                 \
  X(name, "name", STR)                 \
  X(uid, "uid", UID)                   \
  X(pid, "pid", INT)                   \
  X(module, "module", STR)             \
  X(enable, "enable", STRS)            \
  X(loglevel, "loglevel", INT)         \
  X(debug, "debug", INT)               \
  X(grace, "grace", NUM)               \
  X(max_frame, "max_frame", INT)       \
  X(parent, "parent", UID)             \
  X(ns, "ns", STR)                     \
  X(func, "func", STR)                 \
  X(kwargs, "kwargs", ARGS)            \
  X(kind, "kind", STR)                 \
  X(value, "value", ANY)               \
  X(error, "error", MAP)               \
  X(time, "time", NUM)                 \
  X(reaping, "reaping", INT)           \
  X(ctx, "ctx", INT)                   \
  X(caller, "caller", INT)             \
  X(msgs, "msgs", UINT)                \
  X(bytes, "bytes", UINT)              \
  X(grow, "grow", INT)                 \
  X(max_msg, "max_msg", INT)           \
  X(id, "id", UINT)                    \
  X(data, "data", BIN)                 \
  X(last, "last", INT)

/* Each message: its enum, its "t", the fields it carries, those it
 * requires. F(x) is the bit of field x. A required cid is positive. */
#define AX__MSG_TYPES(X)                                                    \
  X(HELLO, "hello", F(version) | F(name) | F(uid) | F(pid) | F(max_msg),    \
    F(version) | F(name) | F(uid))                                          \
  X(SPAWN, "spawn",                                                         \
    F(name) | F(uid) | F(module) | F(enable) | F(loglevel) | F(debug) |     \
        F(grace) | F(max_frame) | F(parent) | F(reaping) | F(max_msg),      \
    F(name) | F(uid) | F(module))                                           \
  X(START, "start", F(cid) | F(func) | F(ns) | F(kwargs) | F(ctx),          \
    F(cid) | F(func))                                                       \
  X(START_ACK, "start_ack", F(cid) | F(kind), F(cid))                       \
  X(RETURN, "return", F(cid) | F(value), F(cid))                            \
  X(ERROR, "error", F(cid) | F(error), F(error))                            \
  X(CANCEL, "cancel", F(cid), 0)                                            \
  X(CANCEL_ACK, "cancel_ack", F(cid), 0)                                    \
  X(REAPING, "reaping", F(time), F(time))                                   \
  X(STARTED, "started", F(cid) | F(value), F(cid))                         \
  X(YIELD, "yield", F(cid) | F(caller) | F(value), F(cid))                  \
  X(STOP, "stop", F(cid) | F(caller), F(cid))                               \
  X(CREDIT, "credit",                                                       \
    F(cid) | F(caller) | F(msgs) | F(bytes) | F(grow), F(cid))              \
  X(PART, "part", F(id) | F(data) | F(last), F(id) | F(data))

/* Field types: UINT an int 0..2^63-1, INT any int64, NUM a float or an
 * int, STR a string without NUL, UID a string of 32 lowercase hex digits,
 * BIN bytes (a bin, or a str read as bytes), STRS an array of strings,
 * ARGS a map, an array or nil, MAP a map, ANY any value. */
enum { AX__FK_UINT, AX__FK_INT, AX__FK_NUM, AX__FK_STR, AX__FK_UID,
       AX__FK_BIN, AX__FK_STRS, AX__FK_ARGS, AX__FK_MAP, AX__FK_ANY };

enum {
#define X(name, key, kind) AX__F_##name,
  AX__MSG_FIELDS(X)
#undef X
  AX__F_COUNT
};

enum {
  AX__M_NONE,
#define X(id, name, allowed, required) AX__M_##id,
  AX__MSG_TYPES(X)
#undef X
  AX__M_COUNT
};

typedef struct ax__str {
  const char *p;
  uint32_t len;
  int present;
} ax__str;

/* A field's value as raw msgpack bytes, with what scanning them found. */
typedef struct ax__raw {
  const uint8_t *p;
  size_t len;
  ax__scan sc;
} ax__raw;

#define AX__FT_UINT uint64_t
#define AX__FT_INT int64_t
#define AX__FT_NUM double
#define AX__FT_STR ax__str
#define AX__FT_UID ax__str
#define AX__FT_BIN ax__str
#define AX__FT_STRS ax__raw
#define AX__FT_ARGS ax__raw
#define AX__FT_MAP ax__raw
#define AX__FT_ANY ax__raw

/* One message, decoded in place: strings and payloads point into the
 * frame and are valid while it is. */
typedef struct ax__msg {
  int type;
  uint32_t have; /* bit AX__F_x: field x is present */
#define X(name, key, kind) AX__FT_##kind name;
  AX__MSG_FIELDS(X)
#undef X
} ax__msg;

#define AX__HAS(m, f) (((m)->have >> AX__F_##f) & 1u)
/* Set a scalar field and mark it present. */
#define AX__SET(m, f, v) ((m)->f = (v), (m)->have |= 1u << AX__F_##f)

/* Decode one message: 0, or AX_EPROTO when it breaks the table. Each
 * payload is scanned exactly once, here. */
int ax__msg_decode(const uint8_t *p, size_t len, ax__msg *m);
/* Bytes that encoding m takes at most (the encoder may write up to that
 * many), exactly, and the encoder itself. */
size_t ax__msg_bound(const ax__msg *m);
size_t ax__msg_size(const ax__msg *m);
uint8_t *ax__msg_write(uint8_t *w, const ax__msg *m);
/* Raw field f of m (a value, arguments, an error map), or NULL when it is
 * not set or not such a field. */
const ax__raw *ax__msg_raw(const ax__msg *m, int f);
/* The same as ax__msg_write without the bytes of raw field `field` (set, not empty):
 * *at is where they would go. */
uint8_t *ax__msg_write_but(uint8_t *w, const ax__msg *m, int field,
                           uint8_t **at);
void ax__msg_set_str(ax__msg *m, int field, const char *s);
void ax__msg_set_raw(ax__msg *m, int field, const void *p, size_t len);
/* A BIN field: bytes p[0..len), len below 2^32. */
void ax__msg_set_bin(ax__msg *m, int field, const void *p, size_t len);
const char *ax__msg_type_name(int type);
/* The table, for tests and tools: a type's field bits, a field's key. */
int ax__msg_info(int type, uint32_t *allowed, uint32_t *required);
const char *ax__msg_field_info(int field, int *kind);
char *ax__msg_strdup(const ax__str *s);
int ax__msg_str_eq(const ax__str *s, const char *lit, size_t n);

/* --------------------------------------- large messages in parts (part.c) */

/* A message whose encoded size is above AX__PART_THRESHOLD goes, to a peer
 * that takes parts, as `part` messages carrying AX__PART_DATA bytes each at
 * most (a part then fits the smallest frame maximum), so that other
 * messages interleave with it (docs/PROTOCOL.md, "Large messages"). */
#define AX__PART_THRESHOLD 65536u
#define AX__PART_DATA (65536u - 64u)
/* Messages a receiver assembles at once, at most. */
#define AX__PART_OPEN_MAX 64
/* The default maximum message size (ax_opts.max_message). */
#define AX__MAX_MSG_DEFAULT (64u << 20)

/* A message being received in parts. */
typedef struct ax__inpart {
  uint64_t id;
  uint8_t *buf;
  size_t len, cap;
} ax__inpart;

/* What a channel's receiver assembles: the messages in parts under way,
 * the highest id seen, the largest assembled size it takes. Zeroed, it is
 * empty; max must be set. */
typedef struct ax__assembler {
  ax__inpart *open;
  int nopen, capopen;
  int started;
  uint64_t last_id;
  size_t max;
} ax__assembler;

/* Take one part: 0 when its message needs more, 1 when this was its last
 * part (then *out, *outlen are the whole message, the caller's to free
 * with ax__buf_free(*out, *outlen)),
 * AX_EPROTO when the part breaks the rules (*why says which: an id that
 * is not under way and no new one, too many messages at once, a message
 * over the maximum), AX_ENOMEM. On an error, the part's message is
 * dropped. */
int ax__assembler_add(ax__assembler *a, uint64_t id, const uint8_t *data,
                      size_t len, int last, uint8_t **out, size_t *outlen,
                      const char **why);
void ax__assembler_free(ax__assembler *a);

/* A message being sent in parts: its encoded bytes and how far it got;
 * or one held back behind such a message of the same call (in its
 * after list), which must not overtake it. */
typedef struct ax__outmsg {
  ax__list link;
  ax__list after; /* ax__outmsg of the same call sent meanwhile */
  uint64_t id;
  uint64_t key;  /* its call's order key (peer.c), 0 for none */
  int type;      /* the message's AX__M_ type */
  size_t len, off;
  /* A large value it took over instead of copying (ext_len 0: none): its
   * bytes go at offset `at` of the message, between buf's bytes, and
   * ext_buf is the ax__buf of ext_cap bytes that holds them. */
  const uint8_t *ext;
  size_t ext_len, at;
  void *ext_buf;
  size_t ext_cap;
  uint8_t buf[];
} ax__outmsg;

/* Room for an encoded message of len bytes (and the encoder's slack). */
ax__outmsg *ax__outmsg_new(size_t len);
/* The next part of o as a message whose data points into o; returns its
 * data bytes, by which o->off moves on once the part is queued. */
size_t ax__outmsg_part(const ax__outmsg *o, ax__msg *part);
/* Free o and the value it took over (not its after list). */
void ax__outmsg_free(ax__outmsg *o);

/* ------------------------------------------------------ peers (peer.c) */

typedef struct ax__peer ax__peer;

/* Intrusive hash tables of calls by cid. */
typedef struct ax__cidnode {
  uint64_t cid;
  struct ax__cidnode *next;
} ax__cidnode;

typedef struct ax__cidmap {
  ax__cidnode **b;
  size_t mask; /* buckets - 1, or 0 before the first add */
  size_t n;
} ax__cidmap;

int ax__cidmap_add(ax__cidmap *m, ax__cidnode *x);
ax__cidnode *ax__cidmap_find(const ax__cidmap *m, uint64_t cid);
void ax__cidmap_remove(ax__cidmap *m, ax__cidnode *x);

/* An outgoing call waiting for its return or error. A context's call
 * (ax__peer_open) also takes the callee's started value. */
typedef struct ax__call {
  ax_op op;
  ax__cidnode node;
  ax__peer *peer;
  ax_done_cb cb;
  void *ud;
  void (*started)(void *ud, ax_data *value); /* NULL: a plain call */
  /* A context's stream messages (yield, stop, credit) from the callee;
   * < 0 is a protocol error. */
  int (*stream)(void *ud, const ax__msg *m);
  int got_started;
} ax__call;

/* A call the peer asked us to serve; cancel runs when the peer cancels it
 * or goes away. Whoever serves it (serve.c) embeds this. */
typedef struct ax__incall {
  ax__cidnode node;
  void (*cancel)(struct ax__incall *in);
  /* A context's stream messages from its caller (NULL: not a context);
   * < 0 is a protocol error. */
  int (*stream)(struct ax__incall *in, const ax__msg *m);
} ax__incall;

/* A peer's life: CONNECTING until its transport is up (TCP, later), AUTH
 * while a cookie exchange runs (a slot for TCP peers), HANDSHAKING until
 * both hellos are through, READY, then CLOSING and CLOSED. */
enum { AX__PEER_CONNECTING, AX__PEER_AUTH, AX__PEER_HANDSHAKING,
       AX__PEER_READY, AX__PEER_CLOSING, AX__PEER_CLOSED };

/* What the owner of a peer decides. All run on the loop. */
typedef struct ax__peer_cbs {
  /* Optional: an authentication step before hello (TCP peers will prove
   * a shared cookie). While it is set and the peer is in AUTH, every frame
   * comes here raw, outside the message table; return < 0 to close the
   * channel, and call ax__peer_auth_done once the peer is trusted. */
  int (*auth)(ax__peer *peer, const uint8_t *frame, size_t len);
  /* The other side's hello arrived (may be NULL). */
  void (*ready)(ax__peer *peer, const ax__msg *hello);
  /* A call to serve; its cid is not in use. */
  void (*start)(ax__peer *peer, const ax__msg *m);
  /* A message about the actor as a whole: spawn, cancel and error with cid
   * 0, cancel_ack. Returns < 0 for a protocol error. */
  int (*control)(ax__peer *peer, const ax__msg *m);
  /* The channel stopped carrying messages (status as the channel's);
   * the calls served for the peer are cancelled already, the calls made
   * on it are the owner's to fail (ax__peer_fail_calls, ax__peer_close). */
  void (*gone)(ax__peer *peer, int status);
} ax__peer_cbs;

struct ax__peer {
  ax__chan chan;
  ax__ident id;
  int state;
  int hello_sent, hello_received;
  const ax__peer_cbs *cbs;
  void *owner;
  uint64_t next_cid;
  ax__cidmap calls;    /* ax__call by cid */
  ax__cidmap incalls;  /* ax__incall by cid */
  ax__list link;       /* in ax__rt_g->peers */
  int refs;            /* channel, owner, calls served */
  size_t max_msg;      /* the other side's, from its hello; 0: no parts */
  size_t refused;      /* size of the last message refused as too large */
  uint64_t next_part_id;
  ax__list outparts;   /* ax__outmsg being sent, a part per round each */
  ax__assembler inparts;
};

/* A peer on a connected stream fd; it sends nothing until told. It starts
 * in AUTH when cbs->auth is set, else in HANDSHAKING. */
ax__peer *ax__peer_new(int fd, const ax__peer_cbs *cbs, void *owner);
/* The authentication step is over: on to the handshake. */
void ax__peer_auth_done(ax__peer *peer);
/* Close the peer; frees it when the channel is closed and the last
 * reference is dropped. Pending calls are failed with err (copied per
 * call) or AX_ECLOSED when err is NULL; served calls are cancelled. */
void ax__peer_close(ax__peer *peer, const ax_error *err);
void ax__peer_fail_calls(ax__peer *peer, const ax_error *err);
void ax__peer_unref(ax__peer *peer);
/* Send m: as one frame, or in parts to a peer that takes them when it is
 * larger than AX__PART_THRESHOLD (queued here, sent a part per write
 * round). The messages of one call from this side keep their order: one
 * sent while an earlier one of its call is going out in parts is held
 * back until that one's last part is queued. AX_EMSGSIZE for a message
 * larger than the peer takes (its max_msg, else the frame maximum):
 * nothing is sent, and peer->refused is its size. */
int ax__peer_send(ax__peer *peer, const ax__msg *m);
/* The same for m whose raw field `field` holds the bytes of pack v (not
 * NULL): when m goes in parts, it takes v's buffer over rather than
 * copying it. The caller frees v after, as after ax__peer_send. */
int ax__peer_send_pack(ax__peer *peer, const ax__msg *m, int field,
                       ax_pack *v);
int ax__peer_sending_parts_slow(ax__peer *peer, uint64_t cid, int caller);
/* Whether a message of call cid from this side (caller: the side that
 * made the call) is going out in parts: what this side sends on the call
 * now waits behind it, held. */
static inline int ax__peer_sending_parts(ax__peer *peer, uint64_t cid,
                                         int caller) {
  return !ax__list_empty(&peer->outparts) &&
         ax__peer_sending_parts_slow(peer, cid, caller);
}
/* The largest message the peer takes now: its max_msg, else a frame. */
size_t ax__peer_max_message(const ax__peer *peer);
/* A MessageTooLarge error for the message just refused (peer->refused),
 * what naming what it carried ("" for a call's arguments). */
ax_error *ax__peer_too_large(const ax__peer *peer, const char *what);
int ax__peer_send_cid(ax__peer *peer, int type, uint64_t cid);
/* A message with cid 0 that comes after everything sent before it, also
 * after the messages still going out in parts (a cancel_ack: the last
 * word), which are queued whole first. */
int ax__peer_send_last(ax__peer *peer, int type);
/* The document of a value in a received message (NULL: no memory). A
 * large one that came in parts takes over the buffer it was assembled
 * in rather than copying it. */
ax_data *ax__peer_value(const ax__raw *r);
int ax__peer_send_hello(ax__peer *peer);
/* Send e as the error of call cid (0: of the actor as a whole). An error
 * too large for a frame goes as a MessageTooLarge cut to fit; one that
 * cannot be packed for lack of memory, or NULL (it could not even be
 * made), as a MemoryError written without allocating. Returns 0, or why
 * even the last attempt could not be queued (AX_ECLOSED, AX_ENOMEM...). */
int ax__peer_send_error(ax__peer *peer, uint64_t cid, const ax_error *e);
/* Start a call of func with args[0..len), valid msgpack of the kwargs
 * kind (len 0: none, sent as {}); the bytes are copied before it returns. */
int ax__peer_call(ax__peer *peer, const char *ns, const char *func,
                  const void *args, size_t len, ax_done_cb cb, void *ud,
                  ax__call **out);
/* The same for a context: start carries ctx kind (1, or 2 for a
 * generator, whose callee's runtime sends started), started(ud, value) comes
 * once when the callee calls ax_ctx_started (value is the callee's, NULL
 * on no memory), then cb with the outcome as for a call. */
int ax__peer_open(ax__peer *peer, const char *ns, const char *func,
                  const void *args, size_t len, int kind,
                  void (*started)(void *ud, ax_data *value),
                  int (*stream)(void *ud, const ax__msg *m), ax_done_cb cb,
                  void *ud, ax__call **out);
/* Ask the callee to cancel the call, and keep waiting for its outcome. */
void ax__call_cancel_keep(ax__call *c);
/* Register a served call (takes a reference on the peer) and drop it. */
int ax__peer_incall_add(ax__peer *peer, ax__incall *in);
void ax__peer_incall_remove(ax__peer *peer, ax__incall *in);
/* An error map received in a message, with this actor appended to its
 * relay path: AX_EPROTO when it is malformed (over a bound included),
 * AX_ENOMEM. */
int ax__peer_decode_error(const ax__raw *raw, ax_error **out);
void ax__peers_close_all(void);

/* ----------------------------------------------- streams (stream.c) */

/* Each direction of a stream starts with this window (docs/PROTOCOL.md). */
#define AX__STREAM_WINDOW_MSGS 1024u
#define AX__STREAM_WINDOW_BYTES (1u << 20)

/* A stream of the context whose call is cid on peer; caller: this side
 * opened the context. NULL when out of memory. */
ax_stream *ax__stream_new(ax__peer *peer, uint64_t cid, int caller);
/* A yield, stop or credit for it; < 0 is a protocol error. */
int ax__stream_msg(ax_stream *s, const ax__msg *m);
/* The context ended (rc, err: its outcome; err is copied): receiving
 * ends after the values queued, sending fails. */
void ax__stream_end(ax_stream *s, int rc, const ax_error *err);
int ax__stream_open(ax_stream *s, const ax_stream_opts *o);
void ax__stream_free(ax_stream *s);
/* End this side as its context closes, opened by its user or not: values
 * that come are dropped and credited back, and with stop the other side's
 * receiving ends. */
int ax__stream_end_here(ax_stream *s, int stop);
/* ax_stream_recv_cb for what is attached to it (its broadcast), which
 * the public one refuses once something is. */
int ax__stream_recv_cb(ax_stream *s, ax_done_cb cb, void *ud);
/* 0 when values may still be received: AX_ESTATE when the stream is not
 * open or closed here, AX_ECLOSED when nothing more will come. */
int ax__stream_receivable(ax_stream *s);
/* An upper layer's object on s, freed by ext_free with s. */
void ax__stream_attach(ax_stream *s, void *ext, void (*ext_free)(void *));
void *ax__stream_ext(const ax_stream *s);

/* --------------------------------------------------- serving (serve.c) */

/* The peer callback that serves a start. */
void ax__serve_start(ax__peer *peer, const ax__msg *m);
/* Send the start_acks owed by calls still running; runs right before the
 * loop writes its output. */
void ax__serve_before_flush(void);

/* ---------------------------------------------------- modules (module.c) */

/* The loader and module that serve ns.func: ns NULL/"" names the actor's
 * own module. Only enabled modules are reachable unless local is set
 * (which loads and enables). On failure *err says why. */
int ax__module_lookup(const char *ns, const char *func, int local,
                      const ax_loader **loader, void **handle,
                      const char **spec, ax_error **err);
int ax__modules_enable(const char *main_spec, const char *const *enable,
                       size_t n, ax_error **err);
/* Ask every loaded module to stop what it runs (the actor is cancelled). */
void ax__modules_interrupt(void);
void ax__modules_unload(void);

/* ---------------------------------------------- spawn specs (spec.c) */

/* Who a child is and what it runs; strings owned. */
typedef struct ax__spec {
  ax__ident id;                    /* name and uid (pid unused) */
  char *module;
  char **enable;
  size_t nenable;
  int loglevel, debug;
  double grace;
  size_t max_frame;
  size_t max_msg;
  char parent[AX__UID_LEN + 1];    /* read from a spawn message only */
} ax__spec;

/* A deep copy of opts under a new identity, or NULL (no module, no
 * memory). Levels, grace, frame and message sizes are this actor's. */
ax__spec *ax__spec_new(const char *name, const ax_spawn_opts *opts);
void ax__spec_free(ax__spec *s);
/* The spawn message, from s. */
int ax__spec_send(ax__peer *peer, const ax__spec *s);
/* The spec a received spawn message carries. */
int ax__spec_from_msg(const ax__msg *m, ax__spec **out);
/* The child's command line (ax_child_args parses it): argv[0] is host,
 * ppid is storage for the parent pid's text. */
void ax__spec_argv(char *argv[6], char ppid[24], char *host,
                   const ax__spec *s);

/* ------------------------------------------------- processes (spawn.c) */

typedef struct ax__proc ax__proc;
struct ax__proc {
  int pid;
  int pidfd;
  uv_poll_t *poll;        /* on pidfd; NULL with the SIGCHLD fallback */
  int crashfd;            /* read end of the child's crash pipe */
  int exited;
  int status;             /* waitpid status */
  char *crash_report;
  uv_timer_t *ladder;
  int ladder_step;        /* 0 before SIGTERM, 1 before SIGKILL, 2 done */
  double ladder_start;    /* the ladder's steps, on ax_now()'s clock */
  double term_at, kill_at;
  double reap_until;      /* the end of the child's own teardown, as it
                             last reported it (0: never) */
  void (*on_exit)(ax__proc *p);
  void *data;
  ax__list link;
};

/* Start the host executable for a child whose parent channel is chanfd
 * (fd 3 in the child). p->on_exit runs on the loop once it is reaped. */
/* Start the child process; on failure AX_ESPAWN (or AX_EINVAL) and, when
 * why is not NULL, *why: what failed and why (the caller's to free). */
int ax__proc_spawn(ax__proc *p, const ax__spec *spec, int chanfd,
                   char **why);
/* The text of an errno from a failed spawn step, with the limit behind it
 * when there is one ("... (RLIMIT_NOFILE is 64)"); the caller frees it. */
char *ax__spawn_why(const char *step, int err);
/* Start the rest of the ladder: after grace SIGTERM, after another grace
 * SIGKILL. The cancel request itself is the caller's to send. */
void ax__proc_ladder(ax__proc *p);
/* A ladder never ends later than this many graces after it started,
 * whatever the child reports (docs/PROTOCOL.md, `reaping`). */
#define AX__LADDER_MAX_GRACES 16
/* The child says its own teardown may take seconds more (finite, >= 0):
 * the ladder's next step waits until a grace after that, within the
 * bound; kept for a ladder that starts later. */
void ax__proc_reaping(ax__proc *p, double seconds);
/* When the last of this process's running ladders sends SIGKILL, on
 * ax_now()'s clock, or 0 when none runs. */
double ax__procs_ladder_end(void);
void ax__proc_kill(ax__proc *p, int sig);
/* Release the handles once exited; on_exit is not called again. */
void ax__proc_release(ax__proc *p);
char *ax__proc_describe_exit(const ax__proc *p);
int ax__procs_alive(void);
void ax__spawn_shutdown(void);

/* --------------------------------- nurseries and portals (nursery.c, portal.c) */

/* A handle on a remote actor (portal.c): its identity, the peer calls go
 * through, and, when this actor started it, its child record. */
struct ax_portal {
  ax__ident id;
  ax__peer *peer;
  struct ax__child *child;
};

enum { AX__P_STARTING, AX__P_READY, AX__P_STOPPING, AX__P_EXITED };

/* The peer calls to p go through: AX_ESTATE while the actor starts,
 * AX_ECLOSED once it is stopping or gone. */
int ax__portal_peer(const ax_portal *p, ax__peer **peer);

/* Who answers for a child (a nursery; later a supervisor): told of each
 * failure of the child (fail takes err) and, once, of its exit. The child
 * record knows its owner through these alone. */
typedef struct ax__child_owner {
  void (*fail)(void *owner, ax_error *err);
  void (*exited)(void *owner);
} ax__child_owner;

/* What a parent keeps for each actor it started (child.c). */
typedef struct ax__child {
  const ax__child_owner *owner;
  void *owner_ud;
  ax__list link;          /* in its owner's list */
  ax_portal portal;       /* the caller's handle; its peer is the channel */
  ax__spec *spec;         /* what it was started with, kept */
  ax__proc proc;
  int state;
  int oneshot;
  int cancel_sent;        /* we asked it to stop: its exit is no failure */
  struct {
    ax_op op;
    ax_done_cb cb;
    void *ud;
    int pending;
  } start;
  ax_error *start_err;    /* why it cannot start, known before it exits */
  char *func;             /* one-shot: what it runs */
  ax_data *kwargs;
  int have_result;
  ax_data *result;
  ax_error *error;
  ax__list result_waiters;
  ax__list exit_waiters;
} ax__child;

struct ax_nursery {
  ax__list link; /* in the runtime's open nurseries */
  ax__list children;
  int nalive;             /* children not yet reaped */
  ax_error **errors;
  size_t nerrors;
  ax_scope *scope;        /* the body's scope, when opened in a task */
  int cancelled;
  int closing;
  int keep;               /* closed by ax_nursery_close, which frees it */
  ax_done_cb close_cb;
  void *close_ud;
  ax_op close_op;
  void (*on_failure)(void *ud, const ax_error *err);
  void *failure_ud;
  uv_timer_t *slow; /* closing waits for daemons nobody cancelled */
};

/* Start a child for owner: spawn it, connect, send its spec; cb comes once
 * it said hello (or failed to start). func (may be NULL) makes it a
 * one-shot that runs func(kwargs); kwargs must be a map, array or NULL.
 * On success *out is the record, which the owner frees with
 * ax__child_free once it has exited. When it fails at once, *why (if why
 * is not NULL) may say why: a SpawnError, the caller's. */
int ax__child_start(const ax__child_owner *owner, void *owner_ud,
                    const char *name, const ax_spawn_opts *opts,
                    const char *func, const ax_data *kwargs, ax__child **out,
                    ax_done_cb cb, void *ud, ax_op **op, ax_error **why);
/* Ask the child to stop (cancel request, then the ladder); idempotent. */
void ax__child_cancel(ax__child *c);
void ax__child_free(ax__child *c);
int ax__child_result_cb(ax__child *c, ax_done_cb cb, void *ud, ax_op **op);
int ax__child_cancel_cb(ax__child *c, ax_done_cb cb, void *ud, ax_op **op);
/* Report (status, result, err) to cb from the loop, soon. */
int ax__defer_done(ax_done_cb cb, void *ud, int status, ax_data *result,
                   ax_error *err);
/* Cancel every open nursery that has children alive: nothing will ever
 * close them (the root function returned, or the actor is cancelled and
 * no task is left). Logs why (unless NULL) once, when there is one. */
void ax__nurseries_cancel(const char *why);


/* ----------------------------------------------------------- log (log.c) */

/* The level AXLE_LOG names (a root's default). */
int ax__log_env_level(void);

/* Whether debug lines are wanted: one load and compare on hot paths. */
#define AX__DEBUG (ax__rt_g && ax__rt_g->loglevel >= AX_LOG_DEBUG)
#define AX__LOGD(...)                                 \
  do {                                                \
    if (AX__DEBUG) ax_log(AX_LOG_DEBUG, __VA_ARGS__); \
  } while (0)

#endif /* AX_INTERNAL_H */
