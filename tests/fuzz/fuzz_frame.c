/* fuzz_frame.c - the frame reader (ax__frame_next) and the message decoder
 * (ax__msg_decode) on any byte stream, frame after frame, as a channel
 * reads it. A message the decoder accepts must encode again within
 * ax__msg_bound bytes, exactly ax__msg_size bytes, and decode to the same
 * message; its payloads must decode as the peer and the child side decode
 * them (values, errors, the spawn spec). `part` messages go to an
 * assembler (ax__assembler_add), as a peer's do: each part adds exactly
 * its data to its message, no more than the bound of messages is under
 * way, and an assembled message is checked as a frame's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME (1u << 20)

static void check(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "fuzz_frame: %s\n", what);
  abort();
}

static int same_raw(const ax__raw *a, const ax__raw *b) {
  return a->len == b->len && memcmp(a->p, b->p, a->len) == 0 &&
         a->sc.used == b->sc.used && a->sc.nodes == b->sc.nodes &&
         a->sc.strbytes == b->sc.strbytes;
}

static int same_str(const ax__str *a, const ax__str *b) {
  return a->present == b->present && a->len == b->len &&
         (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Every field the message carries, compared with the message table. */
static void check_same(const ax__msg *a, const ax__msg *b) {
  check(a->type == b->type && a->have == b->have, "type or fields differ");
  for (int f = 0; f < AX__F_COUNT; f++) {
    if (!((a->have >> f) & 1u)) continue;
    int kind;
    check(ax__msg_field_info(f, &kind) != NULL, "field info");
    const char *x = (const char *)a, *y = (const char *)b;
    switch (f) {
#define X(name, key, k)           \
  case AX__F_##name:              \
    x += offsetof(ax__msg, name); \
    y += offsetof(ax__msg, name); \
    break;
      AX__MSG_FIELDS(X)
#undef X
    }
    switch (kind) {
      case AX__FK_UINT:
      case AX__FK_INT:
      case AX__FK_NUM:
        check(memcmp(x, y, 8) == 0, "scalar field differs");
        break;
      case AX__FK_STR:
      case AX__FK_UID:
      case AX__FK_BIN:
        check(same_str((const ax__str *)x, (const ax__str *)y),
              "string field differs");
        break;
      default:
        check(same_raw((const ax__raw *)x, (const ax__raw *)y),
              "payload field differs");
        break;
    }
  }
}

/* What the runtime does with each payload once a message is accepted. */
static void use_payloads(const ax__msg *m) {
  const ax__raw *raws[] = {AX__HAS(m, value) ? &m->value : NULL,
                           AX__HAS(m, kwargs) ? &m->kwargs : NULL,
                           AX__HAS(m, enable) ? &m->enable : NULL};
  for (size_t i = 0; i < sizeof raws / sizeof *raws; i++) {
    if (!raws[i]) continue;
    ax_data *d = ax__data_make(raws[i]->p, &raws[i]->sc);
    check(d != NULL, "payload does not decode");
    char *text = ax_val_format(ax_data_root(d));
    ax_free(text);
    ax_data_free(d);
  }
  if (AX__HAS(m, error)) {
    ax_error *e = NULL;
    if (ax__peer_decode_error(&m->error, &e) == 0) {
      char *text = ax_error_format(e);
      ax_free(text);
      ax_error_free(e);
    }
  }
  if (m->type == AX__M_SPAWN) {
    ax__spec *s = NULL;
    check(ax__spec_from_msg(m, &s) == 0, "spawn spec refused");
    ax__spec_free(s);
  }
  if (m->type == AX__M_HELLO) {
    ax__ident id;
    ax__ident_set(&id, m->name.p, m->name.len, m->uid.p, m->uid.len,
                  (int)m->pid);
  }
}

/* The assembler of one input's parts; its maximum keeps inputs small. */
static ax__assembler parts;

static void check_message(const uint8_t *p, size_t len, int assembled);

/* A part, as a peer takes it. */
static void add_part(const ax__msg *m) {
  size_t before = 0;
  for (int i = 0; i < parts.nopen; i++)
    if (parts.open[i].id == m->id) before = parts.open[i].len;
  uint8_t *out = NULL;
  size_t len = 0;
  const char *why = NULL;
  int rc = ax__assembler_add(&parts, m->id, (const uint8_t *)m->data.p,
                             m->data.len, AX__HAS(m, last) && m->last, &out,
                             &len, &why);
  check(parts.nopen <= AX__PART_OPEN_MAX, "too many messages under way");
  if (rc == AX_EPROTO) {
    check(why != NULL, "a refused part says no why");
    for (int i = 0; i < parts.nopen; i++)
      check(parts.open[i].id != m->id, "a refused part's message stays");
    return;
  }
  check(rc >= 0, "assembler failed");
  if (rc == 0) {
    int found = 0;
    for (int i = 0; i < parts.nopen; i++)
      if (parts.open[i].id == m->id) {
        check(parts.open[i].len == before + m->data.len, "part not appended");
        found = 1;
      }
    check(found, "an open message is lost");
    return;
  }
  check(len == before + m->data.len && len <= parts.max, "assembled size");
  check_message(out, len, 1);
  ax__buf_free(out, len);
}

static void check_message(const uint8_t *p, size_t len, int assembled) {
  /* An exact copy: a read past the frame is caught. */
  uint8_t *copy = malloc(len ? len : 1);
  check(copy != NULL, "out of memory");
  memcpy(copy, p, len);
  ax__msg m;
  if (ax__msg_decode(copy, len, &m) == 0) {
    uint32_t allowed, required;
    check(ax__msg_info(m.type, &allowed, &required) == 0, "type info");
    check((m.have & ~allowed) == 0, "a field the type does not carry");
    check((m.have & required) == required, "a required field is missing");
    (void)ax__msg_type_name(m.type);
    use_payloads(&m);
    size_t bound = ax__msg_bound(&m);
    uint8_t *out = malloc(bound);
    check(out != NULL, "out of memory");
    size_t n = (size_t)(ax__msg_write(out, &m) - out);
    check(n <= bound, "encoded past the bound");
    check(n == ax__msg_size(&m), "encoded size is not ax__msg_size");
    ax__msg m2;
    check(ax__msg_decode(out, n, &m2) == 0, "re-encoded message refused");
    check_same(&m, &m2);
    free(out);
    /* A part assembled from parts is malformed to a peer: not added. */
    if (m.type == AX__M_PART && !assembled) add_part(&m);
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  parts = (ax__assembler){.max = 4 * MAX_FRAME};
  size_t off = 0;
  for (;;) {
    const uint8_t *msg;
    size_t mlen;
    long r = ax__frame_next(data + off, size - off, MAX_FRAME, &msg, &mlen);
    if (r == 0) break;
    if (r < 0) {
      check(r == AX_EMSGSIZE, "frame error other than its size");
      break;
    }
    check((size_t)r == mlen + 4 && (size_t)r <= size - off, "frame length");
    check(msg == data + off + 4, "frame start");
    check_message(msg, mlen, 0);
    off += (size_t)r;
  }
  ax__assembler_free(&parts);
  return 0;
}
