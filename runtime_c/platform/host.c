/* The host "board": the runner's link is this process's stdin/stdout as raw bytes, ticks are
 * nanoseconds. POSIX, not bare metal: build with -std=c99 -D_POSIX_C_SOURCE=200809L. */
#include "mc_platform.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Exit status when the host closes the link without sending EXIT: there is nobody left to serve. */
#define LINK_CLOSED_STATUS 1

static uint8_t in_buf[4096];
static size_t in_len, in_pos;
static uint8_t out_buf[4096];
static size_t out_len;

void mc_platform_init(void) {
  /* A closed pipe must surface as EPIPE from write(), so we exit with a status instead of a signal. */
  signal(SIGPIPE, SIG_IGN);
}

static void write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(LINK_CLOSED_STATUS);
    p += w;
    n -= (size_t)w;
  }
}

void mc_uart_flush(void) {
  write_all(out_buf, out_len);
  out_len = 0;
}

void mc_uart_putc(uint8_t c) {
  if (out_len == sizeof out_buf) mc_uart_flush();
  out_buf[out_len++] = c;
}

/* Blocks for at least one byte and takes whatever else has already arrived (never waits for more). */
static void fill_input(void) {
  for (;;) {
    ssize_t r = read(STDIN_FILENO, in_buf, sizeof in_buf);
    if (r > 0) {
      in_len = (size_t)r;
      in_pos = 0;
      return;
    }
    if (r < 0 && errno == EINTR) continue;
    exit(LINK_CLOSED_STATUS);
  }
}

uint8_t mc_uart_getc(void) {
  if (in_pos == in_len) {
    mc_uart_flush(); /* the host may be waiting for what we buffered before it sends more */
    fill_input();
  }
  return in_buf[in_pos++];
}

uint64_t mc_ticks(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mc_exit(int code) {
  mc_uart_flush();
  exit(code);
}

/* This machine's files, as QEMU's semihosting gives its host's (tests drive LOAD and STORE this way). */
int mc_host_file(int write, const char *path, uint8_t *buf, uint32_t n) {
  FILE *f = fopen(path, write ? "wb" : "rb");
  size_t done;
  int longer = 0;
  if (f == NULL) return -1;
  done = write ? fwrite(buf, 1, n, f) : fread(buf, 1, n, f);
  if (!write) longer = fgetc(f) != EOF;
  if (fclose(f) != 0 || done != n || longer) return -1;
  return 0;
}
