/*
 * memtouch: the test guest's workload. It fills MIB mebibytes with a deterministic pattern, keeps
 * rewriting pages at RATE pages per second, re-verifies every page in turn, and prints a heartbeat
 * twice a second (every MEMTOUCH_HB_MS milliseconds if that is set, at least 10: a benchmark that times
 * the guest's blackout from the heartbeat gap wants a fine one):
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
 * With a disk (DISK is a block device, e.g. /dev/vda) it also keeps writing 4 KiB blocks to the first
 * DMIB mebibytes of it at DRATE blocks per second, with O_DIRECT so every write reaches the virtual
 * disk, and re-reads every written block in turn (a sweep of that area takes about 2 x SWEEP seconds).
 * Each heartbeat is then followed by
 *
 *     DISK <counter> written=<blocks written> ok=<blocks verified good> bad=<verified wrong> sweeps=<n>
 *
 * A disk block: word 0 magic "ferrydk1", word 1 block index, word 2 sequence number (the global count
 * of disk writes when it was written), words 3..510 f(block, j, seq), word 511 a checksum of words
 * 0..510. The sequence number each block should hold lives in guest RAM, so a disk migrated out of
 * step with the RAM shows up as bad > 0.
 *
 * Usage: memtouch [MIB=64] [RATE=2000 pages/s] [SWEEP=4 s] [DISK DMIB=16 DRATE=100 blocks/s].
 * Built static: gcc -static -O2.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_WORDS 512 /* 4 KiB pages of 64-bit words */
#define TICK_NS 10000000LL /* work in 10 ms slices */
#define HB_DEFAULT_MS 500

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

#define DISK_MAGIC 0x6665727279646b31ULL /* "ferrydk1" */
#define DISK_SALT 0x5bd1e9955bd1e995ULL
#define DISK_READ_BLOCKS 16 /* verify reads 64 KiB at a time */

struct disk {
  int fd;
  uint64_t blocks;   /* blocks in the area it writes */
  uint64_t *seq;     /* per block: the sequence number it holds, 0 = never written */
  uint64_t *io;      /* an aligned buffer of DISK_READ_BLOCKS blocks (O_DIRECT) */
  uint64_t next_seq, written, ok, bad, sweeps, cursor;
};

static uint64_t block_checksum(const uint64_t *w) {
  uint64_t sum = 0;
  for (uint64_t j = 0; j < PAGE_WORDS - 1; j++) sum = mix(sum ^ w[j]) + j;
  return sum;
}

static void fill_block(uint64_t *w, uint64_t block, uint64_t seq) {
  w[0] = DISK_MAGIC;
  w[1] = block;
  w[2] = seq;
  for (uint64_t j = 3; j < PAGE_WORDS - 1; j++) w[j] = word_of(block ^ DISK_SALT, j, seq);
  w[PAGE_WORDS - 1] = block_checksum(w);
}

static int block_ok(const uint64_t *w, uint64_t block, uint64_t seq) {
  if (w[0] != DISK_MAGIC || w[1] != block || w[2] != seq) return 0;
  if (w[PAGE_WORDS - 1] != block_checksum(w)) return 0;
  for (uint64_t j = 3; j < PAGE_WORDS - 1; j++)
    if (w[j] != word_of(block ^ DISK_SALT, j, seq)) return 0;
  return 1;
}

static int disk_write(struct disk *d, uint64_t block) {
  uint64_t seq = ++d->next_seq;
  d->seq[block] = seq; /* RAM first: a write cut by the pause is replayed by the disk device */
  fill_block(d->io, block, seq);
  if (pwrite(d->fd, d->io, PAGE_WORDS * 8, (off_t)(block * PAGE_WORDS * 8)) != PAGE_WORDS * 8) return -1;
  d->written++;
  return 0;
}

/* Re-reads the next DISK_READ_BLOCKS blocks and checks the written ones. */
static void disk_verify_step(struct disk *d) {
  uint64_t n = d->blocks - d->cursor < DISK_READ_BLOCKS ? d->blocks - d->cursor : DISK_READ_BLOCKS;
  size_t bytes = (size_t)(n * PAGE_WORDS * 8);
  if (pread(d->fd, d->io, bytes, (off_t)(d->cursor * PAGE_WORDS * 8)) != (ssize_t)bytes) {
    d->bad += n;
  } else {
    for (uint64_t i = 0; i < n; i++) {
      uint64_t block = d->cursor + i;
      if (d->seq[block] == 0) continue;
      if (block_ok(d->io + i * PAGE_WORDS, block, d->seq[block])) d->ok++; else d->bad++;
    }
  }
  d->cursor += n;
  if (d->cursor >= d->blocks) {
    d->cursor = 0;
    d->sweeps++;
  }
}

static int disk_open(struct disk *d, const char *path, uint64_t mib) {
  memset(d, 0, sizeof *d);
  d->fd = open(path, O_RDWR | O_DIRECT);
  d->blocks = mib * 256;
  d->seq = calloc(d->blocks, sizeof(uint64_t));
  if (d->fd < 0 || d->seq == NULL || posix_memalign((void **)&d->io, 4096, DISK_READ_BLOCKS * PAGE_WORDS * 8) != 0) return -1;
  for (uint64_t b = 0; b < d->blocks; b++) /* every block holds data before the first heartbeat */
    if (disk_write(d, b) != 0) return -1;
  return 0;
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
  const char *disk_path = argc > 4 ? argv[4] : NULL;
  const uint64_t disk_mib = (uint64_t)arg_or(argc, argv, 5, 16);
  const uint64_t disk_rate = (uint64_t)arg_or(argc, argv, 6, 100);
  const char *hb_env = getenv("MEMTOUCH_HB_MS");
  const long hb_ms = hb_env != NULL && strtol(hb_env, NULL, 10) >= 10 ? strtol(hb_env, NULL, 10) : HB_DEFAULT_MS;
  const long long hb_ns = hb_ms * 1000000LL;
  struct disk disk;
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
  if (disk_path != NULL) {
    if (disk_open(&disk, disk_path, disk_mib) != 0) {
      say("memtouch: cannot open or fill the disk\n");
      return 1;
    }
    snprintf(line, sizeof line, "memtouch: disk %s, %llu MiB, %llu blocks/s written\n", disk_path,
             (unsigned long long)disk_mib, (unsigned long long)disk_rate);
    say(line);
  }

  /* Fractional budgets carried in thousandths of a page so low rates still make progress. */
  const uint64_t write_milli = rate * 1000 * TICK_NS / 1000000000LL;
  const uint64_t verify_milli = pages * 1000 * TICK_NS / (sweep * 1000000000LL) + 1;
  const uint64_t disk_write_milli = disk_rate * 1000 * TICK_NS / 1000000000LL;
  const uint64_t disk_verify_milli = disk_path == NULL ? 0
      : disk_mib * 256 * 1000 * TICK_NS / (2 * sweep * 1000000000LL * DISK_READ_BLOCKS) + 1;
  uint64_t disk_write_budget = 0, disk_verify_budget = 0;
  uint64_t write_budget = 0, verify_budget = 0, verify_cursor = 0, rng = 0x243f6a8885a308d3ULL;
  uint64_t counter = 0, ok = 0, bad = 0;
  long long next_tick = now_ns(), next_hb = next_tick + hb_ns;
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
    if (disk_path != NULL) {
      disk_write_budget += disk_write_milli;
      for (; disk_write_budget >= 1000; disk_write_budget -= 1000) {
        rng = mix(rng + 0x9e3779b97f4a7c15ULL);
        if (disk_write(&disk, rng % disk.blocks) != 0) disk.bad++;
      }
      disk_verify_budget += disk_verify_milli;
      for (; disk_verify_budget >= 1000; disk_verify_budget -= 1000) disk_verify_step(&disk);
    }
    long long t = now_ns();
    if (t >= next_hb) {
      counter++;
      snprintf(line, sizeof line, "HB %llu ok=%llu bad=%llu\n", (unsigned long long)counter,
               (unsigned long long)ok, (unsigned long long)bad);
      say(line);
      if (disk_path != NULL) {
        snprintf(line, sizeof line, "DISK %llu written=%llu ok=%llu bad=%llu sweeps=%llu\n", (unsigned long long)counter,
                 (unsigned long long)disk.written, (unsigned long long)disk.ok, (unsigned long long)disk.bad,
                 (unsigned long long)disk.sweeps);
        say(line);
      }
      next_hb += hb_ns;
      if (next_hb < t) next_hb = t + hb_ns; /* after a pause: no burst of heartbeats */
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
