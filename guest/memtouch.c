/*
 * memtouch: the test guest's workload. It fills MIB mebibytes with a deterministic pattern, keeps
 * rewriting pages at RATE pages per second, re-verifies every page in turn, and prints a heartbeat
 * about twice a second:
 *
 *     HB <counter> ok=<pages verified good> bad=<pages verified wrong>
 *
 * Every piece of state (the buffer, the per-page generations, the counters) lives in guest RAM, so a
 * correct migration continues the same counter; a lost or stale page shows up as bad > 0 once the
 * verifier reaches it (a full sweep takes about SWEEP seconds).
 *
 * Pattern: word j of page i holds f(i, j, gen[i]); a rewrite bumps gen[i] and rewrites the whole page,
 * so a page left at an older generation no longer matches.
 *
 * Usage: memtouch [MIB=64] [RATE=2000 pages/s] [SWEEP=4 s]. Built static: gcc -static -O2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_WORDS 512 /* 4 KiB pages of 64-bit words */
#define TICK_NS 10000000LL /* work in 10 ms slices */
#define HB_NS 500000000LL

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t word_of(uint64_t page, uint64_t j, uint64_t gen) {
  return mix((page << 20) ^ (gen << 40) ^ gen) ^ (j * 0x9e3779b97f4a7c15ULL);
}

static void write_page(uint64_t *buf, uint64_t page, uint64_t gen) {
  uint64_t *p = buf + page * PAGE_WORDS;
  for (uint64_t j = 0; j < PAGE_WORDS; j++) p[j] = word_of(page, j, gen);
}

static int page_ok(const uint64_t *buf, uint64_t page, uint64_t gen) {
  const uint64_t *p = buf + page * PAGE_WORDS;
  for (uint64_t j = 0; j < PAGE_WORDS; j++)
    if (p[j] != word_of(page, j, gen)) return 0;
  return 1;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(const char *line) {
  size_t len = strlen(line);
  while (len > 0) {
    ssize_t n = write(1, line, len);
    if (n <= 0) return;
    line += n;
    len -= (size_t)n;
  }
}

static long arg_or(int argc, char **argv, int i, long fallback) {
  if (argc <= i) return fallback;
  long v = strtol(argv[i], NULL, 10);
  return v > 0 ? v : fallback;
}

int main(int argc, char **argv) {
  const uint64_t mib = (uint64_t)arg_or(argc, argv, 1, 64);
  const uint64_t rate = (uint64_t)arg_or(argc, argv, 2, 2000);
  const uint64_t sweep = (uint64_t)arg_or(argc, argv, 3, 4);
  const uint64_t pages = mib * 256;
  uint64_t *buf = malloc(pages * PAGE_WORDS * sizeof(uint64_t));
  uint64_t *gen = calloc(pages, sizeof(uint64_t));
  char line[128];
  if (buf == NULL || gen == NULL) {
    say("memtouch: out of memory\n");
    return 1;
  }
  for (uint64_t i = 0; i < pages; i++) write_page(buf, i, 0);
  snprintf(line, sizeof line, "memtouch: %llu MiB, %llu pages/s rewritten, sweep %llu s\n",
           (unsigned long long)mib, (unsigned long long)rate, (unsigned long long)sweep);
  say(line);

  /* Fractional budgets carried in thousandths of a page so low rates still make progress. */
  const uint64_t write_milli = rate * 1000 * TICK_NS / 1000000000LL;
  const uint64_t verify_milli = pages * 1000 * TICK_NS / (sweep * 1000000000LL) + 1;
  uint64_t write_budget = 0, verify_budget = 0, verify_cursor = 0, rng = 0x243f6a8885a308d3ULL;
  uint64_t counter = 0, ok = 0, bad = 0;
  long long next_tick = now_ns(), next_hb = next_tick + HB_NS;
  for (;;) {
    write_budget += write_milli;
    for (; write_budget >= 1000; write_budget -= 1000) {
      rng = mix(rng + 0x9e3779b97f4a7c15ULL);
      uint64_t page = rng % pages;
      gen[page]++;
      write_page(buf, page, gen[page]);
    }
    verify_budget += verify_milli;
    for (; verify_budget >= 1000; verify_budget -= 1000) {
      if (page_ok(buf, verify_cursor, gen[verify_cursor])) ok++; else bad++;
      verify_cursor = (verify_cursor + 1) % pages;
    }
    long long t = now_ns();
    if (t >= next_hb) {
      counter++;
      snprintf(line, sizeof line, "HB %llu ok=%llu bad=%llu\n", (unsigned long long)counter,
               (unsigned long long)ok, (unsigned long long)bad);
      say(line);
      next_hb += HB_NS;
      if (next_hb < t) next_hb = t + HB_NS; /* after a pause: no burst of heartbeats */
    }
    next_tick += TICK_NS;
    if (next_tick < t) next_tick = t; /* fell behind (slow TCG, or the VM was stopped) */
    long long wait = next_tick - now_ns();
    if (wait > 0) {
      struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
      nanosleep(&ts, NULL);
    }
  }
}
