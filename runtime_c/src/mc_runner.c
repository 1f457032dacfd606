/* Device side of the runner protocol (docs/protocol.md). Portable C99 for bare metal: no malloc, no
 * stdio, no libc headers; the only I/O is the board's mc_platform.h. */
#include "mc_runner.h"
#include "mc_platform.h"
#include "mc_stack.h"
#include "mc_mark.h"

enum { SYNC0 = 0xA5, SYNC1 = 0x5A };
enum { T_INFO = 0x01, T_WRITE = 0x02, T_INVOKE = 0x03, T_READ = 0x04, T_EXIT = 0x05, T_LOAD = 0x06, T_STORE = 0x07,
       T_LAYER = 0x08, T_RESET = 0x09, T_SELECT = 0x0A };
enum { T_RESPONSE = 0x80, T_ERROR = 0x7F };
enum {
  E_OK = 0, E_CRC = 1, E_TYPE = 2, E_RANGE = 3, E_VERSION = 4, E_TOO_LONG = 5, E_MALFORMED = 6,
  E_HEADER_CRC = 7, E_NO_HOST_FILES = 8, E_HOST_FILE = 9,
};

static const char *const error_text[] = {
  "", "bad CRC", "unknown request type", "index or range out of bounds",
  "unsupported protocol version", "payload too long", "malformed payload for its type", "bad header CRC",
  "no host files on this board", "host file could not be read or written",
};

/* CRC-32 as zlib computes it, a nibble at a time: a 64-byte table instead of 1 KiB of flash. */
static const uint32_t crc_nibble[16] = {
  0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
  0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};
#define CRC_INIT 0xFFFFFFFFu

static uint32_t crc_byte(uint32_t crc, uint8_t b) {
  crc ^= b;
  crc = (crc >> 4) ^ crc_nibble[crc & 15u];
  return (crc >> 4) ^ crc_nibble[crc & 15u];
}

static uint32_t str_len(const char *s) {
  uint32_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* True when [offset, offset + n) lies inside a buffer of `size` bytes; never overflows. */
static int in_range(uint32_t offset, uint32_t n, uint32_t size) {
  return offset <= size && n <= size - offset;
}

/* The request being answered; a response carries its sequence number. */
static struct {
  uint8_t type;
  uint16_t seq;
  uint32_t length;
  uint8_t payload[MC_RX_MAX + 1]; /* + a NUL after a LOAD or STORE's path */
} rx;

/* ---- transmit: responses stream straight to the UART, CRC computed on the way ---- */

static uint32_t tx_crc;

static void tx_byte(uint8_t b) {
  tx_crc = crc_byte(tx_crc, b);
  mc_uart_putc(b);
}

static void tx_uint(uint64_t v, unsigned nbytes) {
  unsigned i;
  for (i = 0; i < nbytes; i++) tx_byte((uint8_t)(v >> (8u * i)));
}

static void tx_bytes(const uint8_t *p, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; i++) tx_byte(p[i]);
}

/* The header's own CRC goes through tx_byte too: the frame CRC covers everything after the sync. */
static void tx_begin(uint8_t type, uint32_t length) {
  mc_uart_putc(SYNC0);
  mc_uart_putc(SYNC1);
  tx_crc = CRC_INIT;
  tx_byte(MC_PROTOCOL_VERSION);
  tx_byte(type);
  tx_uint(length, 4);
  tx_uint(rx.seq, 2);
  tx_uint(~tx_crc, 4);
}

static void tx_end(void) {
  uint32_t crc = ~tx_crc;
  unsigned i;
  for (i = 0; i < 4; i++) mc_uart_putc((uint8_t)(crc >> (8u * i)));
  mc_uart_flush();
}

static void send_empty(uint8_t type) {
  tx_begin(type, 0);
  tx_end();
}

static void send_error(int code) {
  const char *msg = error_text[code];
  uint32_t n = str_len(msg);
  tx_begin(T_ERROR, 1 + n);
  tx_byte((uint8_t)code);
  tx_bytes((const uint8_t *)msg, n);
  tx_end();
}

/* ---- receive: one frame at a time into a static buffer (kept off small MCU stacks) ---- */

static void rx_wait_sync(void) {
  uint8_t prev = 0;
  for (;;) {
    uint8_t c = mc_uart_getc();
    if (prev == SYNC0 && c == SYNC1) return;
    prev = c;
  }
}

static uint8_t rx_byte(uint32_t *crc) {
  uint8_t b = mc_uart_getc();
  *crc = crc_byte(*crc, b);
  return b;
}

/* Reads the next frame into rx; E_OK, or the error to answer it with. The header has its own CRC, so a
 * corrupted length is never acted on: after a bad header (or another version's frame, whose layout is
 * unknown) nothing more is read, and the sync hunt skips whatever follows. */
static int rx_frame(void) {
  uint32_t crc = CRC_INIT, header_crc, i;
  uint8_t wire[4];
  rx_wait_sync();
  rx.seq = 0;
  if (rx_byte(&crc) != MC_PROTOCOL_VERSION) return E_VERSION;
  rx.type = rx_byte(&crc);
  rx.length = 0;
  for (i = 0; i < 4; i++) rx.length |= (uint32_t)rx_byte(&crc) << (8u * i);
  for (i = 0; i < 2; i++) rx.seq |= (uint16_t)(rx_byte(&crc) << (8u * i));
  header_crc = ~crc;
  for (i = 0; i < 4; i++) wire[i] = rx_byte(&crc);
  if (le32(wire) != header_crc) return E_HEADER_CRC;
  if (rx.length > MC_RX_MAX) return E_TOO_LONG;
  for (i = 0; i < rx.length; i++) rx.payload[i] = rx_byte(&crc);
  for (i = 0; i < 4; i++) wire[i] = mc_uart_getc();
  if (le32(wire) != ~crc) return E_CRC;
  return E_OK;
}

/* ---- requests: each answers and returns E_OK, or returns the error to answer with ---- */

/* The last INVOKE's result. The host resends a request whose answer it did not get, with the same
 * sequence number: a resent INVOKE is answered from here instead of running the model twice. */
static struct {
  uint8_t valid;
  uint16_t seq;
  int32_t status;
  uint64_t ticks;
  uint32_t stack; /* high-water mark of the stack during the invoke (mc_stack.h), 0 when unknown */
} last_invoke;

/* The last LAYER that ran a layer, for the same reason: a layer run twice would read an output it
 * already overwrote when it works in place. */
static struct {
  uint8_t valid;
  uint16_t seq;
  int32_t status;
} last_layer;

static int handle_info(const mc_model_t *m) {
  uint32_t n = str_len(m->info_json);
  if (rx.length != 0) return E_MALFORMED;
  tx_begin(T_INFO | T_RESPONSE, n);
  tx_bytes((const uint8_t *)m->info_json, n);
  tx_end();
  return E_OK;
}

static int handle_write(const mc_model_t *m) {
  uint8_t idx;
  uint32_t offset, n, i;
  uint8_t *dst;
  if (rx.length < 5) return E_MALFORMED;
  idx = rx.payload[0];
  offset = le32(rx.payload + 1);
  n = rx.length - 5;
  if (idx >= m->n_inputs || !in_range(offset, n, m->input_bytes[idx])) return E_RANGE;
  dst = (uint8_t *)m->input_ptr(idx) + offset;
  for (i = 0; i < n; i++) dst[i] = rx.payload[5 + i];
  last_invoke.valid = 0; /* new inputs: a later INVOKE is a new one whatever its sequence number */
  last_layer.valid = 0;
  send_empty(T_WRITE | T_RESPONSE);
  return E_OK;
}

static int handle_invoke(const mc_model_t *m) {
  int per_layer, with_stack;
  uint16_t n_layers, i;
  uint64_t t0;
  if (rx.length != 1) return E_MALFORMED;
  if (!last_invoke.valid || last_invoke.seq != rx.seq) {
    mc_stack_paint();
    t0 = mc_ticks();
    mc_mark_invoke_begin();
    last_invoke.status = (int32_t)m->invoke();
    mc_mark_invoke_end(); /* an emulator's counts are recorded here, before the answer goes out */
    last_invoke.ticks = mc_ticks() - t0;
    last_invoke.stack = mc_stack_used();
    last_invoke.seq = rx.seq;
    last_invoke.valid = 1;
  }
  per_layer = (rx.payload[0] & 1u) != 0;
  /* A firmware built without profiling still answers the per-layer form, with n = 0. */
  n_layers = (per_layer && m->layer_ticks != 0) ? m->n_layers : 0;
  with_stack = (rx.payload[0] & 2u) != 0;
  tx_begin(T_INVOKE | T_RESPONSE,
           12u + (per_layer ? 2u + 8u * (uint32_t)n_layers : 0u) + (with_stack ? 4u : 0u));
  tx_uint((uint32_t)last_invoke.status, 4);
  tx_uint(last_invoke.ticks, 8);
  if (per_layer) {
    tx_uint(n_layers, 2);
    for (i = 0; i < n_layers; i++) tx_uint(m->layer_ticks[i], 8);
  }
  if (with_stack) tx_uint(last_invoke.stack, 4);
  tx_end();
  return E_OK;
}

static int handle_read(const mc_model_t *m) {
  uint8_t idx;
  uint32_t offset, n;
  if (rx.length != 9) return E_MALFORMED;
  idx = rx.payload[0];
  offset = le32(rx.payload + 1);
  n = le32(rx.payload + 5);
  if (idx >= m->n_outputs || n > MC_RX_MAX || !in_range(offset, n, m->output_bytes[idx])) return E_RANGE;
  tx_begin(T_READ | T_RESPONSE, n);
  tx_bytes((const uint8_t *)m->output_ptr(idx) + offset, n);
  tx_end();
  return E_OK;
}

/* LAYER: u8 flags (bit 0: run the layer first), u16 layer, u32 arena offset, u32 length. Answers the
 * layer's status (0 when not run) and the arena bytes, so the host can read a layer's output right after
 * it ran, before a later layer reuses its place. A resent LAYER (same seq) does not run the layer again. */
static int handle_layer(const mc_model_t *m) {
  int run;
  int32_t status = 0;
  uint16_t layer;
  uint32_t offset, n;
  if (rx.length != 11) return E_MALFORMED;
  run = (rx.payload[0] & 1u) != 0;
  layer = (uint16_t)(rx.payload[1] | (rx.payload[2] << 8));
  offset = le32(rx.payload + 3);
  n = le32(rx.payload + 7);
  if (m->run_layer == 0 || (run && layer >= m->n_layers) || n > MC_RX_MAX ||
      !in_range(offset, n, m->arena_bytes))
    return E_RANGE;
  if (run && (!last_layer.valid || last_layer.seq != rx.seq)) {
    last_layer.status = (int32_t)m->run_layer(layer);
    last_layer.seq = rx.seq;
    last_layer.valid = 1;
  }
  if (run) status = last_layer.status;
  tx_begin(T_LAYER | T_RESPONSE, 4u + n);
  tx_uint((uint32_t)status, 4);
  tx_bytes(m->arena + offset, n);
  tx_end();
  return E_OK;
}

/* RESET: the model's state (variable tensors) back to its initial value. Idempotent, so safe to resend;
 * the next INVOKE runs again whatever its sequence number. */
static int handle_reset(const mc_model_t *m) {
  if (rx.length != 0) return E_MALFORMED;
  if (m->reset != 0) m->reset();
  last_invoke.valid = 0;
  last_layer.valid = 0;
  send_empty(T_RESET | T_RESPONSE);
  return E_OK;
}

/* SELECT: u8 model index; later requests address that model. Answers the firmware's model count, so a
 * host can also send SELECT 0 just to ask it. A new model means a new INVOKE whatever its seq. */
static int handle_select(const mc_model_t *const *models, uint8_t n, const mc_model_t **current) {
  if (rx.length != 1) return E_MALFORMED;
  if (rx.payload[0] >= n) return E_RANGE;
  *current = models[rx.payload[0]];
  last_invoke.valid = 0;
  last_layer.valid = 0;
  tx_begin(T_SELECT | T_RESPONSE, 1);
  tx_byte(n);
  tx_end();
  return E_OK;
}

static int handle_exit(void) {
  if (rx.length != 1) return E_MALFORMED;
  send_empty(T_EXIT | T_RESPONSE);
  mc_uart_flush();
  mc_exit(rx.payload[0]);
  return E_OK;
}

/* LOAD (input) or STORE (output): u8 index, then the file's path. */
static int handle_host_file(const mc_model_t *m, int store) {
  uint8_t idx;
  int status;
  if (rx.length < 2) return E_MALFORMED;
  idx = rx.payload[0];
  if (idx >= (store ? m->n_outputs : m->n_inputs)) return E_RANGE;
  rx.payload[rx.length] = 0;
  if (store) {
    status = mc_host_file(1, (const char *)rx.payload + 1, (uint8_t *)m->output_ptr(idx), m->output_bytes[idx]);
  } else {
    last_invoke.valid = 0; /* as for WRITE, even if the file fails half-read */
    last_layer.valid = 0;
    status = mc_host_file(0, (const char *)rx.payload + 1, (uint8_t *)m->input_ptr(idx), m->input_bytes[idx]);
  }
  if (status == MC_NO_HOST_FILES) return E_NO_HOST_FILES;
  if (status != 0) return E_HOST_FILE;
  send_empty(rx.type | T_RESPONSE);
  return E_OK;
}

static int dispatch(const mc_model_t *m) {
  switch (rx.type) {
    case T_INFO: return handle_info(m);
    case T_WRITE: return handle_write(m);
    case T_INVOKE: return handle_invoke(m);
    case T_READ: return handle_read(m);
    case T_EXIT: return handle_exit();
    case T_LOAD: return handle_host_file(m, 0);
    case T_STORE: return handle_host_file(m, 1);
    case T_LAYER: return handle_layer(m);
    case T_RESET: return handle_reset(m);
    default: return E_TYPE;
  }
}

void mc_serve_models(const mc_model_t *const *models, uint8_t n) {
  const mc_model_t *current = models[0];
  for (;;) {
    int err = rx_frame();
    if (err == E_OK) err = rx.type == T_SELECT ? handle_select(models, n, &current) : dispatch(current);
    if (err != E_OK) send_error(err);
  }
}

void mc_serve(const mc_model_t *model) {
  mc_serve_models(&model, 1);
}
