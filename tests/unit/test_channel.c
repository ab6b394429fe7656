/* test_channel.c - the channel seen from the other end of a socketpair:
 * frames cut into 1-byte reads or batched into one arrive whole; a burst
 * bigger than the socket buffer arrives intact however slowly it is read;
 * a task sending above the write queue's high mark waits until the other
 * end reads, and stops waiting with AX_ECANCELED when it is cancelled.
 * The test steps the runtime with ax_loop_step, as a foreign loop would. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

/* ------------------------------------------------ the runtime's end */

static ax__chan ch;
static int fd; /* the test's end */
static int closed, close_status;

/* Frames received, concatenated, each preceded by its length byte. */
static uint8_t got[4096];
static size_t ngot, nframes;

static int on_frame(ax__chan *c, const uint8_t *msg, size_t len) {
  (void)c;
  assert_true(ngot + 1 + len <= sizeof got);
  got[ngot++] = (uint8_t)len;
  memcpy(got + ngot, msg, len);
  ngot += len;
  nframes++;
  return 0;
}

static void on_closed(ax__chan *c, int status) {
  (void)c;
  closed = 1;
  close_status = status;
}

/* A socketpair with small buffers on the runtime's side, so that a few
 * hundred KiB are more than the kernel takes. */
static void setup(void) {
  assert_int_equal(ax_init(NULL), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int small = 16384;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  fd = sv[1];
  closed = 0;
  ngot = nframes = 0;
  assert_int_equal(ax__chan_open(&ch, sv[0], on_frame, on_closed, NULL), 0);
}

static void teardown(void) {
  close(fd);
  ax__chan_close(&ch, 0);
  for (int i = 0; i < 10000 && !closed; i++) {
    struct pollfd p = {ax_loop_fd(), POLLIN, 0};
    poll(&p, 1, 10);
    ax_loop_step();
  }
  assert_true(closed);
  while (ax_loop_step()) {
  }
  assert_int_equal(ax_shutdown(), 0);
}

static void step(void) {
  struct pollfd p = {ax_loop_fd(), POLLIN, 0};
  poll(&p, 1, 1);
  ax_loop_step();
}

/* A frame of n bytes (n < 256) of value v, as the wire carries it. */
static size_t frame(uint8_t *out, size_t n, uint8_t v) {
  out[0] = out[1] = out[2] = 0;
  out[3] = (uint8_t)n;
  memset(out + 4, v, n);
  return n + 4;
}

static void check_frames(size_t n, const size_t *lens) {
  assert_int_equal(nframes, n);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(got[off], lens[i]);
    for (size_t j = 0; j < lens[i]; j++)
      assert_int_equal(got[off + 1 + j], (uint8_t)('a' + i));
    off += 1 + lens[i];
  }
  assert_int_equal(off, ngot);
}

/* ------------------------------------------------------------ reading */

static void test_frames_cut_into_single_bytes(void **state) {
  (void)state;
  setup();
  static const size_t lens[] = {0, 1, 5, 200};
  uint8_t wire[512];
  size_t len = 0;
  for (size_t i = 0; i < 4; i++)
    len += frame(wire + len, lens[i], (uint8_t)('a' + i));
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(write(fd, wire + i, 1), 1);
    /* Each byte is one read: nothing is delivered before its last. */
    for (int k = 0; k < 3; k++) step();
  }
  check_frames(4, lens);
  teardown();
}

static void test_frames_batched_in_one_write(void **state) {
  (void)state;
  setup();
  static const size_t lens[] = {3, 0, 100, 7, 1};
  uint8_t wire[512];
  size_t len = 0;
  for (size_t i = 0; i < 5; i++)
    len += frame(wire + len, lens[i], (uint8_t)('a' + i));
  assert_int_equal(write(fd, wire, len), (ssize_t)len);
  for (int k = 0; k < 20 && nframes < 5; k++) step();
  check_frames(5, lens);
  teardown();
}

/* ------------------------------------------------------------ writing */

/* Byte i of the burst. */
static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + (i >> 11)); }

/* Read what the runtime writes until want bytes of frames are in: check
 * each frame's bytes against the pattern, continuing across frames. */
typedef struct reader {
  uint8_t hdr[4];
  size_t hlen, left, pos, frames, bytes;
} reader;

static void reader_take(reader *r, const uint8_t *p, size_t n) {
  while (n) {
    if (r->left == 0 && r->hlen < 4) {
      r->hdr[r->hlen++] = *p++;
      n--;
      if (r->hlen == 4) {
        r->left = ((size_t)r->hdr[0] << 24) | ((size_t)r->hdr[1] << 16) |
                  ((size_t)r->hdr[2] << 8) | r->hdr[3];
        r->hlen = 0;
        r->frames++;
      }
      continue;
    }
    size_t k = n < r->left ? n : r->left;
    for (size_t i = 0; i < k; i++)
      if (p[i] != pattern(r->pos + i))
        fail_msg("byte %zu of the burst differs", r->pos + i);
    r->pos += k;
    r->left -= k;
    r->bytes += k;
    p += k;
    n -= k;
  }
}

/* One slow read of at most max bytes; returns what was read. */
static size_t read_some(reader *r, size_t max) {
  uint8_t buf[8192];
  if (max > sizeof buf) max = sizeof buf;
  ssize_t n = recv(fd, buf, max, MSG_DONTWAIT);
  if (n < 0) {
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return 0;
  }
  reader_take(r, buf, (size_t)n);
  return (size_t)n;
}

/* Queue a burst of frames of the given sizes, each encoded in place. */
static size_t queue_burst(const size_t *sizes, size_t n, size_t *pos) {
  size_t total = 0;
  for (size_t f = 0; f < n; f++) {
    uint8_t *w = ax__chan_reserve(&ch, sizes[f]);
    assert_non_null(w);
    for (size_t i = 0; i < sizes[f]; i++) w[i] = pattern(*pos + i);
    *pos += sizes[f];
    assert_int_equal(ax__chan_commit(&ch, sizes[f]), 0);
    total += sizes[f];
  }
  return total;
}

static void test_burst_bigger_than_the_socket_buffer(void **state) {
  (void)state;
  setup();
  /* Big frames (each its own chunk) between small ones that share. */
  static const size_t sizes[] = {10, 300000, 20, 30, 1 << 20, 5, 70000, 1};
  size_t pos = 0;
  size_t total = queue_burst(sizes, 8, &pos);
  assert_int_equal(ch.wqueued, total + 4 * 8);
  reader r = {0};
  int saw_write_in_flight = 0;
  for (int spins = 0; spins < 200000 && r.bytes < total; spins++) {
    step();
    if (ch.writes_pending) saw_write_in_flight = 1;
    read_some(&r, 4096); /* slowly: a page per loop iteration */
  }
  assert_int_equal(r.bytes, total);
  assert_int_equal(r.frames, 8);
  assert_true(saw_write_in_flight);
  for (int k = 0; k < 10; k++) step();
  assert_int_equal(ch.writes_pending, 0);
  assert_int_equal(ch.wqueued, 0);
  /* A second burst after the first reuses the channel's chunks. */
  static const size_t more[] = {100, 200};
  total = queue_burst(more, 2, &pos);
  r.bytes = 0;
  for (int spins = 0; spins < 1000 && r.bytes < total; spins++) {
    step();
    read_some(&r, 4096);
  }
  assert_int_equal(r.bytes, total);
  teardown();
}

/* ------------------------------------------------------- backpressure */

#define BP_FRAME 16384
#define BP_FRAMES 32

static int sent, send_rc;

/* A task that sends BP_FRAMES frames, waiting for room before each. */
static int sender(void *arg) {
  size_t *pos = arg;
  for (sent = 0; sent < BP_FRAMES; sent++) {
    send_rc = ax__chan_wait_writable(&ch, 0);
    if (send_rc < 0) return send_rc;
    size_t one = BP_FRAME;
    queue_burst(&one, 1, pos);
  }
  return 0;
}

static int joined;

static void on_joined(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  (void)r;
  (void)e;
  joined = status;
}

/* The sender, started as a task the test can cancel. */
static ax_task *start_sender(size_t *pos) {
  ax_task *t;
  assert_int_equal(ax_task_start(sender, pos, &t), 0);
  joined = 1;
  assert_int_equal(ax_task_join_cb(t, on_joined, NULL, NULL), 0);
  return t;
}

static void bp_setup(void) {
  setup();
  ch.high_water = 64 << 10;
  ch.low_water = 16 << 10;
  sent = 0;
  send_rc = 1;
}

static void test_sender_waits_for_the_reader(void **state) {
  (void)state;
  bp_setup();
  size_t pos = 0;
  start_sender(&pos);
  for (int k = 0; k < 50; k++) step();
  /* Nobody reads: the task stopped above the high mark, not finished. */
  int stalled = sent;
  assert_true(stalled > 0 && stalled < BP_FRAMES);
  assert_true(ch.wqueued >= ch.low_water); /* some were written */
  assert_int_equal(send_rc, 0);
  for (int k = 0; k < 50; k++) step();
  assert_int_equal(sent, stalled);
  /* Outside a task the mark is soft: it never waits. */
  assert_int_equal(ax__chan_wait_writable(&ch, 0), 0);
  /* The other end reads: the sender goes on to the end. */
  reader r = {0};
  size_t total = (size_t)BP_FRAMES * BP_FRAME;
  for (int spins = 0; spins < 100000 && r.bytes < total; spins++) {
    step();
    while (read_some(&r, 8192)) {
    }
  }
  assert_int_equal(r.bytes, total);
  assert_int_equal(sent, BP_FRAMES);
  for (int k = 0; k < 5; k++) step();
  assert_int_equal(joined, 0);
  teardown();
}

static void test_waiting_sender_cancelled(void **state) {
  (void)state;
  bp_setup();
  size_t pos = 0;
  ax_task *t = start_sender(&pos);
  for (int k = 0; k < 50; k++) step();
  int stalled = sent;
  assert_true(stalled > 0 && stalled < BP_FRAMES);
  assert_int_equal(joined, 1);
  ax_task_cancel(t);
  for (int k = 0; k < 5; k++) step();
  assert_int_equal(send_rc, AX_ECANCELED);
  assert_int_equal(joined, AX_ECANCELED);
  assert_int_equal(sent, stalled);
  assert_true(ax__list_empty(&ch.writers));
  teardown();
}

static void test_close_releases_waiting_sender(void **state) {
  (void)state;
  bp_setup();
  size_t pos = 0;
  start_sender(&pos);
  for (int k = 0; k < 50; k++) step();
  assert_true(sent > 0 && sent < BP_FRAMES);
  ax__chan_close(&ch, AX_EIO);
  for (int k = 0; k < 5; k++) step();
  assert_int_equal(send_rc, AX_ECLOSED);
  assert_int_equal(joined, AX_ECLOSED);
  assert_true(closed);
  assert_int_equal(close_status, AX_EIO);
  teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frames_cut_into_single_bytes),
      cmocka_unit_test(test_frames_batched_in_one_write),
      cmocka_unit_test(test_burst_bigger_than_the_socket_buffer),
      cmocka_unit_test(test_sender_waits_for_the_reader),
      cmocka_unit_test(test_waiting_sender_cancelled),
      cmocka_unit_test(test_close_releases_waiting_sender),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
