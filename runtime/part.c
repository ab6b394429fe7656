/* part.c - large messages in parts (docs/PROTOCOL.md, "Large messages").
 * A message too large to hold up a channel for its whole transfer is
 * encoded once and sent as `part` messages, a slice of its bytes each,
 * which the peer (peer.c) interleaves with other messages; the receiver
 * appends the parts of each message by id and, at the last, hands the
 * whole to the same decoding as a frame's. Here are the two ends: the
 * slicing of an encoded message and the assembling, with the receiver's
 * limits. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------- receiving */

static void drop(ax__assembler *a, int i, int keep_buf) {
  if (!keep_buf) ax__buf_free(a->open[i].buf, a->open[i].cap);
  a->open[i] = a->open[--a->nopen];
}

/* Room for len more bytes in p: doubling, within the maximum. */
static int grow(ax__inpart *p, size_t len, size_t max) {
  if (p->cap - p->len >= len) return 0;
  size_t cap = p->cap ? p->cap : AX__PART_THRESHOLD;
  while (cap - p->len < len) cap = cap > max / 2 ? max : 2 * cap;
  uint8_t *b = ax__buf_resize(p->buf, p->cap, cap);
  if (!b) return AX_ENOMEM;
  p->buf = b;
  p->cap = cap;
  return 0;
}

int ax__assembler_add(ax__assembler *a, uint64_t id, const uint8_t *data,
                      size_t len, int last, uint8_t **out, size_t *outlen,
                      const char **why) {
  int i = 0;
  while (i < a->nopen && a->open[i].id != id) i++;
  if (i == a->nopen) {
    /* Not under way: a new message, whose id is above all before. */
    if (a->started && id <= a->last_id) {
      *why = "a part of no message under way";
      return AX_EPROTO;
    }
    if (a->nopen == AX__PART_OPEN_MAX) {
      *why = "too many messages in parts at once";
      return AX_EPROTO;
    }
    if (a->nopen == a->capopen) {
      int cap = a->capopen ? 2 * a->capopen : 4;
      ax__inpart *o = realloc(a->open, (size_t)cap * sizeof *o);
      if (!o) return AX_ENOMEM;
      a->open = o;
      a->capopen = cap;
    }
    a->open[i] = (ax__inpart){id, NULL, 0, 0};
    a->nopen++;
    a->started = 1;
    a->last_id = id;
  }
  ax__inpart *p = &a->open[i];
  if (len > a->max - p->len) {
    *why = "a message in parts larger than the maximum message size";
    drop(a, i, 0);
    return AX_EPROTO;
  }
  if (grow(p, len, a->max) < 0) {
    drop(a, i, 0);
    return AX_ENOMEM;
  }
  if (len) memcpy(p->buf + p->len, data, len);
  p->len += len;
  if (!last) return 0;
  /* The message may be kept as long as a value in it is (it is adopted,
   * not copied): no room it will not use. */
  uint8_t *b = ax__buf_resize(p->buf, p->cap, p->len);
  if (!b) {
    drop(a, i, 0);
    return AX_ENOMEM;
  }
  *out = p->buf = b;
  *outlen = p->len;
  drop(a, i, 1);
  return 1;
}

void ax__assembler_free(ax__assembler *a) {
  while (a->nopen > 0) drop(a, a->nopen - 1, 0);
  free(a->open);
  a->open = NULL;
  a->capopen = 0;
}

/* ------------------------------------------------------------ sending */

ax__outmsg *ax__outmsg_new(size_t len) {
  /* The encoder writes keys as fixed-size copies: 16 bytes of slack. */
  ax__outmsg *o = ax__mem_alloc(sizeof *o + len + 16);
  if (!o) return NULL;
  memset(o, 0, sizeof *o);
  ax__list_init(&o->link);
  ax__list_init(&o->after);
  o->len = len;
  return o;
}

size_t ax__outmsg_part(const ax__outmsg *o, ax__msg *part) {
  /* A part takes from one piece: the bytes before the value it took
   * over, the value, or the bytes after it. */
  const uint8_t *p;
  size_t n;
  if (!o->ext_len || o->off < o->at) {
    p = o->buf + o->off;
    n = (o->ext_len ? o->at : o->len) - o->off;
  } else if (o->off < o->at + o->ext_len) {
    p = o->ext + (o->off - o->at);
    n = o->at + o->ext_len - o->off;
  } else {
    p = o->buf + (o->off - o->ext_len);
    n = o->len - o->off;
  }
  if (n > AX__PART_DATA) n = AX__PART_DATA;
  *part = (ax__msg){.type = AX__M_PART};
  AX__SET(part, id, o->id);
  ax__msg_set_bin(part, AX__F_data, p, n);
  if (o->off + n == o->len) AX__SET(part, last, 1);
  return n;
}

void ax__outmsg_free(ax__outmsg *o) {
  ax__buf_free(o->ext_buf, o->ext_cap);
  free(o);
}
