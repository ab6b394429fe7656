/* axle.h - the one public header of axle, a structured-concurrency actor
 * runtime. Everything a program, a host or a language binding may use is
 * declared here; no libuv or msgpack-c type appears in it.
 *
 * Conventions.
 * - Functions return 0 or a negative AX_E... code (see AX_ERRNO_MAP).
 * - "Blocking" functions may only be called inside a task (see ax_run and
 *   ax_task_start); they suspend the task, never the thread. Each fails with
 *   AX_ECANCELED once an enclosing cancel scope is cancelled or its deadline
 *   has passed. Outside a task they fail with AX_ENOTASK.
 * - Each blocking call has a completion form, suffix _cb, usable on the loop
 *   thread with or without a task. It returns 0 and later calls its callback
 *   exactly once, or returns an error at once and never calls the callback.
 * - Memory the runtime allocates is freed by the runtime: through the
 *   handle's own free/close function or ax_free(), never by the caller's free().
 */
#ifndef AXLE_H
#define AXLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AX_VERSION_MAJOR 0
#define AX_VERSION_MINOR 1
#define AX_VERSION_PATCH 0
#define AX_VERSION_HEX \
  ((AX_VERSION_MAJOR << 16) | (AX_VERSION_MINOR << 8) | AX_VERSION_PATCH)

#if defined(AX_BUILDING_LIB)
#define AX_EXTERN __attribute__((visibility("default")))
#else
#define AX_EXTERN
#endif

#if defined(__GNUC__)
#define AX_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AX_PRINTF(f, a)
#endif

/* The version string "MAJOR.MINOR.PATCH" of the loaded library (static). */
AX_EXTERN const char *ax_version(void);
/* AX_VERSION_HEX of the loaded library. */
AX_EXTERN unsigned ax_version_hex(void);

/* ------------------------------------------------------------------ errors */

/* The one table of error codes: name, value, message. */
#define AX_ERRNO_MAP(X)                                                    \
  X(EINVAL, -1, "invalid argument")                                        \
  X(ENOMEM, -2, "out of memory")                                           \
  X(ECANCELED, -3, "operation canceled")                                   \
  X(ETIMEDOUT, -4, "deadline exceeded")                                    \
  X(EREMOTE, -5, "remote error (see the error object)")                   \
  X(EPROTO, -6, "protocol error")                                          \
  X(EMSGSIZE, -7, "message larger than the receiver takes")              \
  X(ECLOSED, -8, "channel closed")                                         \
  X(ENOTASK, -9, "blocking call outside a task")                           \
  X(ESTATE, -10, "call not valid in this state")                           \
  X(ENOENT, -11, "not found")                                              \
  X(ETYPE, -12, "wrong value type")                                        \
  X(ESPAWN, -13, "could not start the actor process")                     \
  X(EIO, -14, "input/output error")                                        \
  X(ENOTSUP, -15, "not supported")                                         \
  X(ELOAD, -16, "module failed to load")                                  \
  X(EPENDING, -17, "the call finishes later (ax_ctx_finish)")             \
  X(ERANGE, -18, "value out of range")                                     \
  X(EBUSY, -19, "every thread runs a call whose caller stopped waiting")

#define AX__ERR_ENUM(name, value, msg) AX_##name = (value),
enum { AX_OK = 0, AX_ERRNO_MAP(AX__ERR_ENUM) AX__ERR_LAST };
#undef AX__ERR_ENUM

/* A static message for an error code; unknown codes get a generic text. */
AX_EXTERN const char *ax_strerror(int code);
/* A static name for an error code ("AX_ECANCELED"). */
AX_EXTERN const char *ax_err_name(int code);

/* Free memory returned by the runtime (strings from ax_*_format...). */
AX_EXTERN void ax_free(void *p);

/* ------------------------------------------------------------------ values */

/* Values crossing the ABI (arguments, results) are msgpack data. C code
 * builds them with an ax_pack and reads them through ax_val nodes of a
 * decoded ax_data. */
typedef enum ax_type {
  AX_T_NIL,
  AX_T_BOOL,
  AX_T_INT,
  AX_T_FLOAT,
  AX_T_STR,
  AX_T_BIN,
  AX_T_ARRAY,
  AX_T_MAP
} ax_type;

typedef struct ax_pack ax_pack; /* an encoder */
typedef struct ax_data ax_data; /* one encoded value and its decoded tree */
typedef struct ax_val ax_val;   /* a node of a decoded tree */

/* A new empty encoder, or NULL when out of memory. Free with ax_pack_free
 * or hand it to ax_pack_finish. */
AX_EXTERN ax_pack *ax_pack_new(void);
AX_EXTERN void ax_pack_free(ax_pack *p);
/* Appenders. A container (array/map) header is followed by its n items
 * (2n for a map: key, value, key, value...). */
AX_EXTERN int ax_pack_nil(ax_pack *p);
AX_EXTERN int ax_pack_bool(ax_pack *p, int v);
AX_EXTERN int ax_pack_int(ax_pack *p, int64_t v);
/* An integer from 0 to 2^64-1, exactly (msgpack's uint 64 above
 * INT64_MAX). */
AX_EXTERN int ax_pack_uint(ax_pack *p, uint64_t v);
AX_EXTERN int ax_pack_float(ax_pack *p, double v);
AX_EXTERN int ax_pack_str(ax_pack *p, const char *s);
AX_EXTERN int ax_pack_strn(ax_pack *p, const char *s, size_t len);
AX_EXTERN int ax_pack_bin(ax_pack *p, const void *b, size_t len);
AX_EXTERN int ax_pack_array(ax_pack *p, uint32_t n);
AX_EXTERN int ax_pack_map(ax_pack *p, uint32_t n);
/* Append a copy of a decoded node (and everything below it). */
AX_EXTERN int ax_pack_val(ax_pack *p, const ax_val *v);
/* The bytes encoded so far; valid until the next call on p. */
AX_EXTERN const void *ax_pack_bytes(const ax_pack *p, size_t *len);
/* Turn the encoded bytes into an ax_data. p is consumed (freed) in every
 * case; on success *out is owned by the caller. Fails with AX_EINVAL unless
 * p holds exactly one complete value. */
AX_EXTERN int ax_pack_finish(ax_pack *p, ax_data **out);

/* Decode a copy of bytes[0..len) that must hold exactly one valid value.
 * Fails with AX_EPROTO on malformed input. *out is owned by the caller. */
AX_EXTERN int ax_data_decode(const void *bytes, size_t len, ax_data **out);
/* A deep copy of d, or NULL when out of memory. */
AX_EXTERN ax_data *ax_data_dup(const ax_data *d);
/* The root node; valid as long as d. */
AX_EXTERN const ax_val *ax_data_root(const ax_data *d);
/* The encoded bytes; valid as long as d. */
AX_EXTERN const void *ax_data_bytes(const ax_data *d, size_t *len);
AX_EXTERN void ax_data_free(ax_data *d);

/* Node readers. Nodes stay valid as long as their ax_data. A reader applied
 * to a node of another type returns 0, 0.0 or NULL. */
AX_EXTERN ax_type ax_val_type(const ax_val *v);
AX_EXTERN int ax_val_bool(const ax_val *v);
/* An integer as int64; one above INT64_MAX (msgpack allows up to 2^64-1)
 * reads as INT64_MAX: the exact readers below tell it apart. */
AX_EXTERN int64_t ax_val_int(const ax_val *v);
/* Exact integer readers: 0 and *out when v is an integer that fits,
 * AX_ERANGE when it is an integer that does not (a negative one for
 * ax_val_uint64, one above INT64_MAX for ax_val_int64), AX_ETYPE when it
 * is no integer. */
AX_EXTERN int ax_val_int64(const ax_val *v, int64_t *out);
AX_EXTERN int ax_val_uint64(const ax_val *v, uint64_t *out);
/* A float, or an int converted to double. */
AX_EXTERN double ax_val_float(const ax_val *v);
/* A string; NUL-terminated, *len (if not NULL) excludes the NUL. */
AX_EXTERN const char *ax_val_str(const ax_val *v, size_t *len);
AX_EXTERN const void *ax_val_bin(const ax_val *v, size_t *len);
/* Number of items of an array or pairs of a map; length of a str/bin. */
AX_EXTERN uint32_t ax_val_len(const ax_val *v);
AX_EXTERN const ax_val *ax_val_at(const ax_val *v, uint32_t i);
AX_EXTERN const ax_val *ax_val_key(const ax_val *v, uint32_t i);
AX_EXTERN const ax_val *ax_val_value(const ax_val *v, uint32_t i);
/* The value under a string key of a map, or NULL. */
AX_EXTERN const ax_val *ax_val_get(const ax_val *v, const char *key);
/* A readable one-line rendering (JSON-like); free with ax_free. */
AX_EXTERN char *ax_val_format(const ax_val *v);

/* ---------------------------------------------------------- error objects */

/* A failure that happened somewhere in the tree: its type name, message,
 * traceback text, the actor it came from, the actors it passed through,
 * for a group of failures, its members, and the application's own fields
 * (its info). */
typedef struct ax_error ax_error;

/* The kinds of failure axle raises or knows by name, one table for all:
 * code that decides (a restart strategy, a binding mapping errors to its
 * exception classes) reads ax_error_kind, never compares type strings. A
 * type not in the table (a Lua error, an application's own type from
 * another actor) is AX_K_OTHER and keeps its name in ax_error_type. */
#define AX_ERROR_KINDS(X)                                                   \
  X(CANCELLED, "Cancelled")            /* cancelled, by a scope or peer */ \
  X(ACTOR_CRASHED, "ActorCrashed")     /* killed by a signal */            \
  X(ACTOR_EXITED, "ActorExited")       /* exited before its result */     \
  X(ERROR_GROUP, "ErrorGroup")         /* several failures */             \
  X(TOO_SLOW, "TooSlowError")          /* a fail_after deadline passed */ \
  X(MODULE_NOT_FOUND, "ModuleNotFoundError")                              \
  X(MODULE_LOAD, "ModuleLoadError")                                       \
  X(MODULE_VERSION, "ModuleVersionError")                                 \
  X(MODULE_NOT_EXPOSED, "ModuleNotExposed")                               \
  X(FUNCTION_NOT_FOUND, "FunctionNotFound")                               \
  X(TYPE_ERROR, "TypeError")           /* arguments or results */         \
  X(OVERFLOW_ERROR, "OverflowError")                                      \
  X(MESSAGE_TOO_LARGE, "MessageTooLarge")                                 \
  X(MEMORY_ERROR, "MemoryError")                                          \
  X(SPAWN_ERROR, "SpawnError")                                            \
  X(RUNTIME_ERROR, "RuntimeError")     /* a function failed with a code */ \
  X(USAGE_ERROR, "UsageError")         /* an API called wrongly */      \
  X(CONTEXT_CANCELLED, "ContextCancelled") /* a context's callee, by whom: \
                                              info's canceller */          \
  X(LAGGED, "Lagged") /* a broadcast subscriber fell behind its buffer */

#define AX__KIND_ENUM(id, name) AX_K_##id,
enum { AX_K_OTHER = 0, AX_ERROR_KINDS(AX__KIND_ENUM) AX_K_COUNT };
#undef AX__KIND_ENUM

/* The type name of a kind ("Cancelled"), or NULL for AX_K_OTHER and
 * numbers out of range. Static. */
AX_EXTERN const char *ax_error_kind_name(int kind);
/* e's kind; AX_K_OTHER for NULL or a type the table does not list. */
AX_EXTERN int ax_error_kind(const ax_error *e);

/* A new local error; type and message are copied. Owned by the caller. */
AX_EXTERN ax_error *ax_error_new(const char *type, const char *fmt, ...)
    AX_PRINTF(2, 3);
/* The same for a kind of the table (AX_K_OTHER is refused: NULL). */
AX_EXTERN ax_error *ax_error_new_kind(int kind, const char *fmt, ...)
    AX_PRINTF(2, 3);
/* Replace e's traceback text (copied), for bindings that have their own
 * (a Lua traceback). */
AX_EXTERN int ax_error_set_traceback(ax_error *e, const char *traceback);
/* Attach the application's own fields to e, as a copy of info, which
 * must hold a map (else AX_EINVAL, e unchanged): the error's info, which
 * crosses to other actors with it (Lua's error{code = 7} arrives with the
 * info {"code": 7}, and a Lua caller gets err.code). The caller keeps
 * info; NULL removes e's. An info that would nest deeper than a value may
 * where it sits (docs/PROTOCOL.md, "Error maps"), or that would make the
 * error too large for a frame, is left out when the error is sent. */
AX_EXTERN int ax_error_set_info(ax_error *e, const ax_data *info);
/* e's info (a map), or NULL when it has none. Owned by e: valid as long
 * as e, until the next ax_error_set_info on it. */
AX_EXTERN const ax_val *ax_error_info(const ax_error *e);
/* A copy (its info and members included), owned by the caller. */
AX_EXTERN ax_error *ax_error_dup(const ax_error *e);
AX_EXTERN void ax_error_free(ax_error *e);
/* Accessors; strings are valid as long as e and never NULL (maybe ""). */
AX_EXTERN const char *ax_error_type(const ax_error *e);
AX_EXTERN const char *ax_error_message(const ax_error *e);
AX_EXTERN const char *ax_error_traceback(const ax_error *e);
AX_EXTERN const char *ax_error_src_name(const ax_error *e);
AX_EXTERN const char *ax_error_src_uid(const ax_error *e);
AX_EXTERN int ax_error_src_pid(const ax_error *e);
/* The relay path: entry 0 is the source actor, each following entry one
 * actor the error was relayed to, the last one the actor holding it now. */
AX_EXTERN size_t ax_error_relay_len(const ax_error *e);
AX_EXTERN const char *ax_error_relay_name(const ax_error *e, size_t i);
AX_EXTERN const char *ax_error_relay_uid(const ax_error *e, size_t i);
/* Members of a group error (type "ErrorGroup"); 0 for a single error. */
AX_EXTERN size_t ax_error_nmembers(const ax_error *e);
AX_EXTERN const ax_error *ax_error_member(const ax_error *e, size_t i);
/* A multi-line report like a Python traceback chain; free with ax_free. */
AX_EXTERN char *ax_error_format(const ax_error *e);

/* ----------------------------------------------------------------- runtime */

/* Log levels; 0 in an options struct means "the default" (inherit). */
#define AX_LOG_ERROR 1
#define AX_LOG_WARN 2
#define AX_LOG_INFO 3
#define AX_LOG_DEBUG 4

/* The smallest maximum frame size a process may set: room for any
 * handshake and for an error cut down to fit (see docs/PROTOCOL.md). */
#define AX_MIN_FRAME 65536u

typedef struct ax_opts {
  size_t size;          /* sizeof(ax_opts): lets the struct grow */
  const char *name;     /* this actor's name; default "root" */
  int loglevel;         /* AX_LOG_*; 0: from AXLE_LOG, else WARN */
  double grace;         /* teardown grace in seconds; default AXLE_GRACE
                           from the environment, else 0.5 */
  size_t max_frame;     /* largest frame sent or accepted; default 16 MiB,
                           AX_MIN_FRAME..2^32-1 (else AX_EINVAL) */
  size_t stack_size;    /* task stack size; default 256 KiB */
  const char *host;     /* path of the axle host executable; default
                           ax_path(AX_PATH_HOST) */
  size_t max_message;   /* largest message accepted, sent in parts when
                           larger than a frame may be (docs/PROTOCOL.md,
                           "Large messages"); default 64 MiB (or max_frame
                           when larger), max_frame..2^32-1 (else
                           AX_EINVAL); children take their parent's. Read
                           only when size covers it */
} ax_opts;

/* The files that come with libaxle: the host executable that starts child
 * actors, and the Lua binding (the Lua module axle.so, which the host loads
 * for lua: specs). */
enum { AX_PATH_HOST = 0, AX_PATH_LUA_BINDING = 1 };

/* Write where the file `what` (AX_PATH_...) is into buf, size bytes with the
 * terminating NUL: the environment's override (AXLE_HOST,
 * AXLE_LUA_BINDING) when set, else the file found relative to this
 * library's own location, as a build tree or an installed tree lays it out.
 * No absolute path is compiled in, so either tree can be moved. Returns 0,
 * AX_ENOENT when no such file is there, AX_ERANGE when buf is too small,
 * AX_EINVAL for an unknown `what`. Needs no ax_init. */
AX_EXTERN int ax_path(int what, char *buf, size_t size);

/* Set up the runtime of this process (one per process). opts may be NULL.
 * Fails with AX_ESTATE if it is already set up. */
AX_EXTERN int ax_init(const ax_opts *opts);
/* Tear the runtime down; every task must have finished. */
AX_EXTERN int ax_shutdown(void);

typedef int (*ax_task_fn)(void *arg);

/* Convenience for programs: ax_init(opts) if needed, run fn(arg) as the root
 * task, run the loop until it returns and every child actor is reaped, then
 * ax_shutdown(). Returns fn's result, or a negative code if set-up failed.
 * SIGINT and SIGTERM cancel the root task. */
AX_EXTERN int ax_run(const ax_opts *opts, ax_task_fn fn, void *arg);

/* What ax_run bundles, piece by piece, for programs that run their own
 * loop (after ax_init): ax_subreaper makes this process the reaper of its
 * orphaned descendants (a dying middle actor's children come here and are
 * reaped); ax_handle_signals makes SIGINT and SIGTERM cancel the actor;
 * ax_alive counts the tasks and child processes still running; ax_drain
 * runs the loop, outside any task, until that count is 0. */
AX_EXTERN int ax_subreaper(void);
AX_EXTERN int ax_handle_signals(void);
AX_EXTERN int ax_alive(void);
AX_EXTERN int ax_drain(void);

/* Driving the runtime from a foreign event loop (Python's asyncio): poll
 * ax_loop_fd() for readability, wait at most ax_loop_timeout() ms (-1:
 * forever), then call ax_loop_step(). ax_loop_step returns 1 while the
 * runtime has work (handles, tasks), 0 once it is idle. */
AX_EXTERN int ax_loop_fd(void);
AX_EXTERN int ax_loop_timeout(void);
AX_EXTERN int ax_loop_step(void);

/* Monotonic clock in seconds. */
AX_EXTERN double ax_now(void);

/* Log through the actor's logger: one line on stderr, written at once,
 * with the local time, the actor's name and pid and the level (in colour
 * when stderr is a terminal and NO_COLOR is unset or empty). fmt and its
 * arguments stay the caller's. */
AX_EXTERN void ax_log(int level, const char *fmt, ...) AX_PRINTF(2, 3);
AX_EXTERN int ax_loglevel(void);

/* This actor's identity; static strings valid until ax_shutdown. */
AX_EXTERN const char *ax_actor_name(void);
AX_EXTERN const char *ax_actor_uid(void);
/* The parent actor's uid, or "" in the root. */
AX_EXTERN const char *ax_actor_parent_uid(void);

/* ----------------------------------------------------- completion objects */

/* An operation started by a _cb function; valid until its callback ran. */
typedef struct ax_op ax_op;

/* The one callback type of completion forms. status is 0 or AX_E...; result
 * (may be NULL) and err (set with AX_EREMOTE) become the callback's to free. */
typedef void (*ax_done_cb)(void *ud, int status, ax_data *result,
                           ax_error *err);

/* Ask a pending operation to stop. Its callback still runs exactly once,
 * maybe during this call, with AX_ECANCELED unless it had finished. */
AX_EXTERN void ax_op_cancel(ax_op *op);

/* ------------------------------------------------------- tasks and scopes */

typedef struct ax_task ax_task;

/* Start fn(arg) as a new task of this actor. Inside a task, the new task is
 * cancelled when the current cancel scope is. *out (may be NULL) stays valid
 * until ax_task_join or its completion form has reported the task. A task
 * nobody joins is freed when it ends. */
AX_EXTERN int ax_task_start(ax_task_fn fn, void *arg, ax_task **out);
/* Blocking: wait for t to end; *result gets fn's return value. Frees t.
 * When the waiting task is cancelled, t is cancelled and still joined. */
AX_EXTERN int ax_task_join(ax_task *t, int *result);
/* Completion form: cb's status is fn's return value. Frees t. Cancelling
 * *op cancels t; the callback still comes when t has ended. */
AX_EXTERN int ax_task_join_cb(ax_task *t, ax_done_cb cb, void *ud,
                              ax_op **op);
/* Cancel t's root scope. */
AX_EXTERN void ax_task_cancel(ax_task *t);
/* 1 inside a task, 0 on the loop outside tasks. */
AX_EXTERN int ax_in_task(void);
/* 1 if the current task is cancelled (a non-blocking check), else 0. */
AX_EXTERN int ax_cancelled(void);
/* The signal (SIGINT, SIGTERM) that cancelled this actor, or 0 when no
 * signal did: tells Ctrl-C from an expired deadline, for exit codes. */
AX_EXTERN int ax_cancel_signal(void);
/* A new Cancelled error (the caller's; NULL out of memory) for the current
 * task, whose blocking call just failed with AX_ECANCELED: its message
 * says what cancelled the task (a signal, a deadline, its caller...) and
 * what the call was waiting for, e.g. "cancelled by SIGTERM while
 * sleeping". doing, when not NULL, says what the task was doing instead,
 * for code cancelled while busy ("running Lua code"). */
AX_EXTERN ax_error *ax_cancelled_error(const char *doing);
/* Let other tasks run, and the loop poll once, then go on; AX_ECANCELED if
 * the task is cancelled. */
AX_EXTERN int ax_yield(void);
/* For code that runs long without blocking (a binding calls it from an
 * instruction-count hook; C code may call it in its loops): AX_ECANCELED
 * at once if the current task is cancelled; else, when this loop iteration
 * has lasted over 10 ms, it yields so that the loop can read a cancel
 * request, and returns what ax_yield returns. Costs a clock read; 0
 * outside a task. */
AX_EXTERN int ax_checkpoint(void);
/* Blocking: sleep for seconds (0: just a yield). A span too long to
 * count, up to INFINITY, is forever: only a cancel ends it. NaN and
 * negative spans are refused with AX_EINVAL. */
AX_EXTERN int ax_sleep(double seconds);
AX_EXTERN int ax_sleep_cb(double seconds, ax_done_cb cb, void *ud,
                          ax_op **op);

/* Blocking: run fn(arg) on a thread of the runtime's pool and wait. On 0,
 * fn has returned and arg is the caller's again. On an error (AX_ECANCELED:
 * the task was cancelled, and the call returns at once while fn runs on),
 * arg is no longer the caller's: release(arg), if not NULL, runs on the
 * loop thread once fn has returned or was dropped unrun.
 * A function whose caller stopped waiting keeps its thread until it
 * returns, but later calls never wait for it: the pool starts threads as
 * calls need them, up to AX_THREADS_MAX, and a call waits for a thread
 * only while some thread runs a call whose caller still waits. When every
 * one of them runs a call nobody waits for, the call fails with AX_EBUSY.
 * A function that calls exit() ends the process with that status. */
#define AX_THREADS_MAX 64
AX_EXTERN int ax_run_in_thread(void (*fn)(void *), void *arg,
                               void (*release)(void *));
/* Completion form: cb gets 0 once fn has returned (arg is the caller's
 * again), or AX_ECANCELED when *op was cancelled first, or AX_EBUSY when
 * it waited for a thread and every thread came to run an abandoned call;
 * then arg is no longer the caller's, and release(arg) runs on the loop
 * once fn returned or was dropped unrun. On an immediate error (AX_EBUSY
 * too) arg stays the caller's. */
AX_EXTERN int ax_run_in_thread_cb(void (*fn)(void *), void *arg,
                                  void (*release)(void *), ax_done_cb cb,
                                  void *ud, ax_op **op);

/* Cancel scopes nest per task. Once a scope is cancelled (explicitly or by
 * its deadline), every blocking call inside it fails with AX_ECANCELED until
 * it is closed. A shielded scope hides the cancellation of outer scopes. */
typedef struct ax_scope ax_scope;

#define AX_FOREVER (-1.0)

/* Open a scope in the current task; timeout in seconds from now, or
 * AX_FOREVER (as is INFINITY, or a span too long to count). Returns NULL
 * outside a task, and for a NaN or negative timeout other than AX_FOREVER
 * (no scope is opened). Close it with ax_scope_close in the same task,
 * innermost first. */
AX_EXTERN ax_scope *ax_scope_open(double timeout);
/* Move the deadline to an absolute ax_now() time: INFINITY for none, a
 * past time (even -INFINITY) cancels s at once. AX_EINVAL for a NaN
 * deadline (s is left as it was) or a NULL s. */
AX_EXTERN int ax_scope_set_deadline(ax_scope *s, double deadline);
AX_EXTERN void ax_scope_cancel(ax_scope *s);
AX_EXTERN void ax_scope_shield(ax_scope *s, int on);
/* 1 if s was cancelled (directly or by deadline). */
AX_EXTERN int ax_scope_cancelled(const ax_scope *s);
/* Close and free s. Returns 1 if s itself was cancelled, 0 otherwise. */
AX_EXTERN int ax_scope_close(ax_scope *s);

/* --------------------------------------------------- nurseries and portals */

typedef struct ax_nursery ax_nursery;
typedef struct ax_portal ax_portal;

typedef struct ax_spawn_opts {
  size_t size;                 /* sizeof(ax_spawn_opts) */
  const char *module;          /* the actor's module spec: "c:path.so" */
  const char *const *enable;   /* more module specs callers may use */
  size_t nenable;
  int loglevel;                /* AX_LOG_*, 0: the parent's */
  int debug;
} ax_spawn_opts;

/* Open an actor nursery. Inside a task it also opens a cancel scope that
 * the nursery cancels when a child fails (one-cancels-all), so that the
 * body's blocking calls stop. Close it with ax_nursery_close, which frees
 * it. A cancelled actor whose tasks have all ended cancels every nursery
 * still open (nothing could close it any more); when the
 * root function of ax_run returns, the runtime cancels (with a warning)
 * the nurseries left open, which the caller must still close or leak. */
AX_EXTERN int ax_nursery_open(ax_nursery **out);

/* Blocking: start a daemon actor running opts->module, wait for its
 * handshake. *out belongs to the nursery and is valid until the nursery is
 * closed. On failure to start or load, returns AX_EREMOTE with *err (the
 * caller's to free) giving the reason; the process is reaped. When no
 * process could be started at all (no file descriptors left, say), returns
 * AX_ESPAWN at once, with *err a SpawnError that says which step failed
 * and why. A nursery that is cancelled or closing starts nothing:
 * AX_ESTATE at once, with *err saying so. The reason is said once: in
 * *err, or, when err is NULL, in the log. */
AX_EXTERN int ax_start_actor(ax_nursery *n, const char *name,
                             const ax_spawn_opts *opts, ax_portal **out,
                             ax_error **err);
/* Completion form: *out is valid at once; cb runs after the handshake.
 * An AX_ESPAWN at once is explained in the log. */
AX_EXTERN int ax_start_actor_cb(ax_nursery *n, const char *name,
                                const ax_spawn_opts *opts, ax_portal **out,
                                ax_done_cb cb, void *ud, ax_op **op);

/* Blocking: start a one-shot actor that runs func(kwargs) of opts->module as
 * its main task. Its result is collected by ax_portal_result; the actor is
 * cancelled once its result is in, and a failure cancels the nursery.
 * kwargs (a map, an array or NULL, as for ax_portal_run) is copied. */
AX_EXTERN int ax_run_in_actor(ax_nursery *n, const char *name,
                              const ax_spawn_opts *opts, const char *func,
                              const ax_data *kwargs, ax_portal **out,
                              ax_error **err);
AX_EXTERN int ax_run_in_actor_cb(ax_nursery *n, const char *name,
                                 const ax_spawn_opts *opts, const char *func,
                                 const ax_data *kwargs, ax_portal **out,
                                 ax_done_cb cb, void *ud, ax_op **op);

/* Cancel every child of n through the teardown ladder (cancel request,
 * grace, SIGTERM, grace, SIGKILL; later for a child that reports it is
 * still tearing down its own children, at most 16 graces in all; see
 * docs/PROTOCOL.md, `reaping`). Returns at once. */
AX_EXTERN int ax_nursery_cancel(ax_nursery *n);
/* Blocking: wait for the one-shot results, then for every child to exit,
 * and free n. A daemon (ax_start_actor) exits only when cancelled: cancel
 * it first (ax_portal_cancel_actor, or ax_nursery_cancel for all), or
 * the close waits for it; the log says, at info level, which it waits
 * for. Returns 0, or AX_EREMOTE with *err the failure (an
 * "ErrorGroup" when several children failed), or AX_ECANCELED when an
 * outer scope cancelled the body. Always waits until every child is reaped,
 * even when cancelled. */
AX_EXTERN int ax_nursery_close(ax_nursery *n, ax_error **err);
/* Completion form (works outside a task). Cancelling *op cancels the
 * children; the callback still comes once every child is reaped. */
AX_EXTERN int ax_nursery_close_cb(ax_nursery *n, ax_done_cb cb, void *ud,
                                  ax_op **op);
/* cb(ud, err) runs on the loop at each failure of a child (err is valid
 * during the call only). A nursery opened in a task cancels its body on a
 * failure; one used from a foreign loop has no body, so this is how its
 * owner learns of a failure before it closes the nursery. */
AX_EXTERN int ax_nursery_on_failure(ax_nursery *n,
                                    void (*cb)(void *ud, const ax_error *err),
                                    void *ud);

/* Function references. func is "name" or "name:SIG", where SIG is the C
 * signature of a plain library function ("d(d)" for cos). ns is a module
 * spec the actor enabled, or NULL/"" for its own module. */

/* Blocking: call func(kwargs) in the actor; kwargs is a map of keyword
 * arguments, an array of positional ones, or NULL (anything else:
 * AX_EINVAL). *result is the caller's (NULL for nil). On a remote failure
 * returns AX_EREMOTE with *err. While the channel to the actor holds more
 * than its high-water mark the caller first waits for it to drain; then
 * the call is sent and the caller waits for the reply. A call whose
 * message is larger than the actor takes (its max_message, see ax_opts)
 * is not sent: AX_EMSGSIZE, with *err a MessageTooLarge error that gives
 * both sizes (the completion forms return AX_EMSGSIZE alone). Results
 * larger than this actor takes arrive as a MessageTooLarge error. */
AX_EXTERN int ax_portal_run(ax_portal *p, const char *ns, const char *func,
                            const ax_data *kwargs, ax_data **result,
                            ax_error **err);
AX_EXTERN int ax_portal_run_cb(ax_portal *p, const char *ns,
                               const char *func, const ax_data *kwargs,
                               ax_done_cb cb, void *ud, ax_op **op);
/* ax_portal_run with the arguments as msgpack bytes: args[0..len) holds
 * one map, array or nil, checked as a received message is (AX_EINVAL
 * otherwise); len 0 means none. The bytes are read before the call
 * blocks (copied if it must wait) or returns, so the caller may reuse
 * them once it blocks: a binding encodes straight into one buffer and no
 * ax_data is built. */
AX_EXTERN int ax_portal_run_bytes(ax_portal *p, const char *ns,
                                  const char *func, const void *args,
                                  size_t len, ax_data **result,
                                  ax_error **err);
AX_EXTERN int ax_portal_run_bytes_cb(ax_portal *p, const char *ns,
                                     const char *func, const void *args,
                                     size_t len, ax_done_cb cb, void *ud,
                                     ax_op **op);
/* Blocking: the result of a one-shot actor (may be called several times;
 * each call gets its own copy). */
AX_EXTERN int ax_portal_result(ax_portal *p, ax_data **result,
                               ax_error **err);
AX_EXTERN int ax_portal_result_cb(ax_portal *p, ax_done_cb cb, void *ud,
                                  ax_op **op);
/* Blocking: cancel the actor and wait until it has exited. */
AX_EXTERN int ax_portal_cancel_actor(ax_portal *p);
/* Completion form. Cancelling *op sends SIGKILL at once instead of
 * waiting out the ladder; the callback still comes once it is reaped. */
AX_EXTERN int ax_portal_cancel_actor_cb(ax_portal *p, ax_done_cb cb,
                                        void *ud, ax_op **op);
/* The actor's identity; strings valid as long as the portal. */
AX_EXTERN const char *ax_portal_name(const ax_portal *p);
AX_EXTERN const char *ax_portal_uid(const ax_portal *p);
AX_EXTERN int ax_portal_pid(const ax_portal *p);

/* ------------------------------------------------------------ contexts */

/* A context is a call that talks before it ends: the callee (any
 * ax_ctx_fn) calls ax_ctx_started(ctx, value) once it is ready, which
 * hands the caller a first value; the call then runs on until it returns,
 * and its outcome is the context's result. Errors travel both ways: a
 * failure of the caller's block cancels the callee (ax_context_close),
 * and the callee's failure is the result. */
typedef struct ax_context ax_context;

/* Blocking: start func(kwargs) of the actor (ns and kwargs as for
 * ax_portal_run) as a context and wait until it calls ax_ctx_started.
 * On success *out is the caller's, to end with ax_context_close, and
 * *first the started value (the caller's; NULL for nil). When the callee
 * fails or returns before started, returns AX_EREMOTE with *err (a
 * returned function gives a UsageError) and *out is NULL: nothing is
 * left to close. Cancelled while waiting, it cancels the callee. */
AX_EXTERN int ax_portal_open_context(ax_portal *p, const char *ns,
                                     const char *func, const ax_data *kwargs,
                                     ax_context **out, ax_data **first,
                                     ax_error **err);
/* Completion form: *out is valid at once and stays the caller's to close
 * (ax_context_close_cb) whatever cb says; cb(ud, status, first, err)
 * comes once, when started arrives or the callee ends first. Cancelling
 * *op cancels the callee. */
AX_EXTERN int ax_portal_open_context_cb(ax_portal *p, const char *ns,
                                        const char *func,
                                        const ax_data *kwargs,
                                        ax_context **out, ax_done_cb cb,
                                        void *ud, ax_op **op);
/* Blocking: wait for the callee to end and take its outcome: 0 and
 * *result (the caller's; NULL for nil), or AX_EREMOTE and *err, which for
 * a callee this side cancelled (ax_context_cancel) is its Cancelled
 * error. Once only: AX_ESTATE after the outcome was taken. */
AX_EXTERN int ax_context_result(ax_context *c, ax_data **result,
                                ax_error **err);
AX_EXTERN int ax_context_result_cb(ax_context *c, ax_done_cb cb, void *ud,
                                   ax_op **op);
/* Ask the callee to cancel (only it: its actor serves on). Returns at
 * once; the outcome still comes, and a Cancelled one is this side's
 * doing, so ax_context_close absorbs it (and the stream ends cleanly with
 * it). */
AX_EXTERN int ax_context_cancel(ax_context *c);
/* Blocking: end the context and free c. body is how the caller's block
 * went: negative (it failed) cancels the callee first. Waits for the
 * callee to end; returns 0, or AX_EREMOTE with *err the callee's failure
 * unless it is a Cancelled this side asked for, or already taken by
 * ax_context_result. Cancelled while waiting, it stops waiting for the
 * callee (which is asked to cancel) and returns AX_ECANCELED. */
AX_EXTERN int ax_context_close(ax_context *c, int body, ax_error **err);
AX_EXTERN int ax_context_close_cb(ax_context *c, int body, ax_done_cb cb,
                                  void *ud, ax_op **op);

/* ------------------------------------------------------------- streams */

/* A context's stream: values both ways between its caller and callee,
 * each direction with a credit window (docs/PROTOCOL.md, *Streams*). A
 * sender whose window is used up waits; the receiver gives credit back as
 * it takes values. The stream belongs to its context: valid until the
 * context is closed (caller) or its function returns (callee). */
typedef struct ax_stream ax_stream;

typedef struct ax_stream_opts {
  size_t size;         /* sizeof(ax_stream_opts) */
  uint64_t window_msgs;  /* values this side lets the other send ahead;
                            0 or less than the default (1024): the default */
  uint64_t window_bytes; /* their bytes; default 1 MiB. Either above
                            2^63-1 (UINT64_MAX: unbounded) is 2^63-1 */
} ax_stream_opts;

/* Open the stream of a context, on the caller's side (once open) or the
 * callee's (after ax_ctx_started); opts may be NULL. *out belongs to the
 * context. AX_ESTATE: opened already, the context is not open, or (the
 * callee) started was not sent. Values the other side sent before are
 * kept, within the window. */
AX_EXTERN int ax_context_open_stream(ax_context *c, const ax_stream_opts *opts,
                                     ax_stream **out);
/* The callee's side: ax_ctx_open_stream (with the actor functions). */

/* Blocking: a generator stream (tractor's stream from an async generator):
 * start func(kwargs) as a context whose callee's runtime sends started
 * itself (start.ctx 2), and open its stream; the function sends values
 * (ax_ctx_open_stream, then ax_stream_send) and returns. *out and *stream
 * as for ax_portal_open_context and ax_context_open_stream: end early by
 * closing the context with a negative body, which cancels the producer. */
AX_EXTERN int ax_portal_open_stream_from(ax_portal *p, const char *ns,
                                         const char *func,
                                         const ax_data *kwargs,
                                         ax_context **out, ax_stream **stream,
                                         ax_error **err);
/* Blocking: send a value (takes ownership of value, an ax_pack holding
 * one; NULL for nil). Returns at once while the window has room, else
 * waits for credit. AX_ECLOSED once the context has ended; AX_ESTATE
 * after ax_stream_close (also when another task closes the stream while
 * this send waits); AX_ECANCELED in a cancelled task, credit or not;
 * AX_EMSGSIZE for a value larger than the receiver's maximum message
 * size (nothing is sent; the stream goes on). */
AX_EXTERN int ax_stream_send(ax_stream *s, ax_pack *value);
AX_EXTERN int ax_stream_send_cb(ax_stream *s, ax_pack *value, ax_done_cb cb,
                                void *ud, ax_op **op);
/* Blocking: the next value (*value the caller's; NULL for nil). At the end
 * of the stream: AX_ECLOSED when the other side closed its stream or its
 * function returned (or the context ended by a cancel this side asked
 * for, which is absorbed here), AX_EREMOTE with *err when the context
 * failed. AX_ECLOSED too when another task closes the stream while this
 * receive waits (ax_stream_close, ax_stream_drop); AX_ECANCELED when the
 * context is closed meanwhile with a failed body. In a cancelled task, AX_ECANCELED, even with values
 * queued (they stay queued). */
AX_EXTERN int ax_stream_recv(ax_stream *s, ax_data **value, ax_error **err);
AX_EXTERN int ax_stream_recv_cb(ax_stream *s, ax_done_cb cb, void *ud,
                                ax_op **op);
/* Close this side: the other side's receiving ends once it has taken
 * what was sent (a stop message), and what it still sends is dropped.
 * Returns at once. The stream stays the context's. */
AX_EXTERN int ax_stream_close(ax_stream *s);
/* Close this side without the stop: for a side that is failing, whose
 * error is on its way to the other side instead (which then ends its
 * receiving with that error, not a clean end). */
AX_EXTERN int ax_stream_drop(ax_stream *s);
/* Broadcast: several local receivers of one stream. A subscriber gets
 * every value that arrives after it subscribed, each its own copy, from a
 * ring of the newest `buffer` values (0: 64); whichever subscriber needs a
 * value the ring does not hold takes it from the stream, so the fastest
 * sets the pace, and one more than the ring behind has lost values: its
 * next receive fails with AX_ERANGE and a Lagged error, then AX_ECLOSED;
 * it may subscribe again. Once a stream has subscribers, ax_stream_recv
 * on it is AX_ESTATE. Subscribing to a stream that has ended (nothing
 * queued, nothing more to come) is AX_ECLOSED at once. A subscription
 * ends with its stream (AX_ECLOSED); free it with ax_sub_close. */
typedef struct ax_sub ax_sub;
AX_EXTERN int ax_stream_subscribe(ax_stream *s, size_t buffer, ax_sub **out);
/* Blocking: the next value, as ax_stream_recv gives. */
AX_EXTERN int ax_sub_recv(ax_sub *sub, ax_data **value, ax_error **err);
AX_EXTERN int ax_sub_recv_cb(ax_sub *sub, ax_done_cb cb, void *ud,
                             ax_op **op);
AX_EXTERN void ax_sub_close(ax_sub *sub);

/* The error that ended the stream's context (its callee failed, or the
 * other actor died), or NULL: what a send that returned AX_ECLOSED ran
 * into. Owned by the stream. */
AX_EXTERN const ax_error *ax_stream_error(const ax_stream *s);
/* The largest message the other side takes, in bytes: a value sent on s
 * must fit in it with its message's own few fields, else the send fails
 * with AX_EMSGSIZE. 0 once the stream's context has ended. */
AX_EXTERN size_t ax_stream_max_message(const ax_stream *s);

/* ------------------------------------------------------- actor functions */

/* The call a function of an actor is serving: where results and failures
 * go. Valid until the function returns, or, when it returned AX_EPENDING,
 * until ax_ctx_finish. */
typedef struct ax_ctx ax_ctx;

/* A function written against the ABI. It runs in a task and may block,
 * spawn and call other actors. Return 0 (after ax_ctx_return, else the
 * result is nil) or a negative code (after ax_ctx_fail/ax_ctx_raise, else a
 * generic error is made from the code). */
typedef int (*ax_ctx_fn)(ax_ctx *ctx, const ax_val *args);

/* Set the result; takes ownership of value (an ax_pack holding one value). */
AX_EXTERN int ax_ctx_return(ax_ctx *ctx, ax_pack *value);
/* Set the result to a copy of a decoded value. */
AX_EXTERN int ax_ctx_return_val(ax_ctx *ctx, const ax_val *value);
/* Fail with a new error of the given type; records a C backtrace. The
 * message has no length limit of its own (the reply cuts what does not fit
 * the caller's max_msg); out of memory, the caller gets a MemoryError.
 * Returns AX_EREMOTE for the function to return. */
AX_EXTERN int ax_ctx_fail(ax_ctx *ctx, const char *type, const char *fmt,
                          ...) AX_PRINTF(3, 4);
/* The spec of the module the function belongs to ("c:path.so"), so that it
 * can spawn children running the same module. Valid while ctx is. */
AX_EXTERN const char *ax_ctx_module(const ax_ctx *ctx);
/* The name of the function called. Valid while ctx is. */
AX_EXTERN const char *ax_ctx_function(const ax_ctx *ctx);
/* End a call whose function returned AX_EPENDING: rc is what the function
 * would have returned (0 after ax_ctx_return, or AX_EREMOTE after
 * ax_ctx_fail/ax_ctx_raise). Call it on the loop thread, exactly once; ctx
 * is invalid afterwards. AX_EINVAL if ctx is not pending. */
AX_EXTERN int ax_ctx_finish(ax_ctx *ctx, int rc);
/* Fail with an existing error (e.g. one a nursery returned); takes
 * ownership of err. Returns AX_EREMOTE. */
AX_EXTERN int ax_ctx_raise(ax_ctx *ctx, ax_error *err);
/* For a call opened as a context (ax_portal_open_context): send the
 * caller its first value, once. Takes ownership of value (an ax_pack
 * holding one value; NULL for nil). Returns at once: AX_ESTATE when the
 * call is not a context or started was sent already. */
AX_EXTERN int ax_ctx_started(ax_ctx *ctx, ax_pack *value);
/* Whether the call was opened as a context: 0 no, 1 a context, 2 a
 * generator stream (ax_portal_open_stream_from), for which the runtime
 * has sent started already: the function only opens the stream and
 * sends. */
AX_EXTERN int ax_ctx_is_context(const ax_ctx *ctx);
/* The largest message the caller takes, in bytes: the function's result,
 * started value and stream values must fit in it with their message's
 * own few fields. 0 for a call made in this actor (no limit). */
AX_EXTERN size_t ax_ctx_max_message(const ax_ctx *ctx);
/* A context's callee cancels itself: its function's blocking calls fail
 * with AX_ECANCELED from now on, and the call ends with a
 * ContextCancelled that names this actor, which its caller raises (it did
 * not ask). AX_ESTATE when the call is not a context. */
AX_EXTERN int ax_ctx_cancel(ax_ctx *ctx);
/* The callee's side of ax_context_open_stream: after ax_ctx_started; the
 * stream is valid until the function returns. */
AX_EXTERN int ax_ctx_open_stream(ax_ctx *ctx, const ax_stream_opts *opts,
                                 ax_stream **out);

/* ---------------------------------------------------------- C plugins */

/* A plugin .so exports one module descriptor named AX_MODULE_SYMBOL. */
#define AX_MODULE_ABI 1
#define AX_MODULE_SYMBOL "axle_module"

typedef void (*ax_plain_fn)(void);

typedef struct ax_export {
  const char *name;
  /* Plain C function called through libffi: sig is "R(A...)" with type
   * letters v (void, result only), b (bool), i (int), u (unsigned), l
   * (int64_t), d (double), f (float), s (const char *); args names the
   * parameters, comma-separated ("a,b"). Runs on the thread pool. */
  const char *sig;
  const char *args;
  ax_plain_fn fn;
  /* Or a function written against the ABI (sig, args and fn unused). */
  ax_ctx_fn ctx_fn;
} ax_export;

typedef struct ax_module_def {
  uint32_t abi;             /* AX_MODULE_ABI */
  const char *name;
  const ax_export *exports; /* ends with an entry whose name is NULL */
} ax_module_def;

#define AX_PLUGIN_EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------- module loaders */

/* Hosts and bindings teach the runtime a language by registering a loader
 * for a module-spec scheme ("c", "lua", "py"). */
typedef struct ax_loader {
  size_t size;          /* sizeof(ax_loader) */
  const char *scheme;   /* "c" for specs "c:..." */
  /* Load the module named by the text after "scheme:". On failure return a
   * negative code and set *err. Runs on the loop thread. */
  int (*load)(const char *name, void **mod, ax_error **err);
  /* Call func (maybe "name:SIG") with args (map, array or NULL; valid
   * until the call ends). Runs in a task (or, with AX_LOADER_ASYNC, on the
   * loop outside any task) and returns like an ax_ctx_fn, or AX_EPENDING to
   * finish the call later with ax_ctx_finish. */
  int (*call)(void *mod, ax_ctx *ctx, const char *func, const ax_val *args);
  void (*unload)(void *mod);
  /* Below: optional; a loader whose size stops before them has neither. */
  unsigned flags; /* AX_LOADER_ASYNC */
  /* Called on the loop, never from a signal handler, when something this
   * module runs must stop: the call ctx was cancelled, or (ctx NULL) the
   * whole actor was, by its parent, SIGINT or SIGTERM. It must not block;
   * the call still ends by returning or through ax_ctx_finish. */
  void (*interrupt)(void *mod, ax_ctx *ctx);
} ax_loader;

/* The loader's code never runs on a task stack (a binding driven by its
 * own event loop): calls start on the loop and end with ax_ctx_finish. */
#define AX_LOADER_ASYNC 1u

/* Register a loader; the struct must outlive the runtime. */
AX_EXTERN int ax_loader_register(const ax_loader *l);

/* For a loader's "did you mean" when a function is not found: the name
 * among names[0..n) closest to name, i.e. the same but for case, else
 * within two edits (one for a name of one or two letters) that change
 * at most half the letters, else one of three letters or more that
 * starts the other; NULL when none is close.
 * The result is one of the names' pointers (the caller's). */
AX_EXTERN const char *ax_closest_name(const char *name,
                                      const char *const *names, size_t n);

/* Blocking: load spec in this actor (if not loaded) and call func(kwargs)
 * in the current task, as the root's entry function. Results as
 * ax_portal_run. */
AX_EXTERN int ax_call_local(const char *spec, const char *func,
                            const ax_data *kwargs, ax_data **result,
                            ax_error **err);
/* Completion form: the call runs in a task of its own (or on the loop for
 * an asynchronous loader); kwargs is copied. A module that fails to load
 * is reported through cb. */
AX_EXTERN int ax_call_local_cb(const char *spec, const char *func,
                               const ax_data *kwargs, ax_done_cb cb, void *ud,
                               ax_op **op);

/* Whether argv is the command line a parent starts a child with
 * (`HOST --child NAME --ppid PID`): 0 with *name (may be NULL; points into
 * argv) and *ppid, or AX_EINVAL. The runtime builds and parses it alike. */
AX_EXTERN int ax_child_args(int argc, char **argv, const char **name,
                            int *ppid);

/* The child side of a spawn, for the host executable: serve the parent
 * channel fd as an actor until cancelled. Returns the process exit code. */
AX_EXTERN int ax_child_main(int fd);

#ifdef __cplusplus
}
#endif
#endif /* AXLE_H */
