/*
 * mapwriter: the soft-dirty guest test's writer. It maps FILE (MIB mebibytes) MAP_SHARED, fills every
 * page, creates FILE.ready, then keeps rewriting the first HOT pages in turn (a new 64-bit sequence
 * number and the page index at the start of each page), so writes land at every instant, including
 * any instant at which a dirty log is read or cleared.
 *
 * A dirty source that freezes the writer (SIGSTOP ... SIGCONT) around each read-and-clear starts a new
 * epoch at every SIGCONT: the handler counts them. The writer records which pages it wrote in the
 * current epoch: "definite" when no SIGCONT came between the epoch read before and after the write,
 * "maybe" when one did (the write fell on one side of the freeze or the other).
 *
 * On SIGUSR1 it writes COLD more pages (from page HOT on, every other page), writes REPORT as
 *     definite=<pages written only in this epoch> maybe=<pages that may belong to it> cold=<COLD>
 * (through a temporary file and rename), and stops itself with SIGSTOP: that is the pause.
 *
 * Usage: mapwriter FILE MIB HOT COLD REPORT. Built static: gcc -static -O2.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static volatile sig_atomic_t epoch;
static volatile sig_atomic_t pause_requested;

static void on_cont(int sig) { (void)sig; epoch++; }
static void on_usr1(int sig) { (void)sig; pause_requested = 1; }

static unsigned char *definite, *maybe;
static size_t pages;
static sig_atomic_t current_epoch;
static uint64_t seq;

static void write_page(unsigned char *base, size_t page) {
  sig_atomic_t before = epoch;
  uint64_t *words = (uint64_t *)(base + page * PAGE);
  words[0] = ++seq;
  words[1] = page;
  sig_atomic_t after = epoch;
  if (after != current_epoch) {
    memset(definite, 0, pages);
    memset(maybe, 0, pages);
    current_epoch = after;
  }
  if (before == after) definite[page] = 1;
  else maybe[page] = 1;
}

static void report(const char *path, size_t cold) {
  size_t d = 0, m = 0;
  for (size_t i = 0; i < pages; i++) {
    if (definite[i]) d++;
    else if (maybe[i]) m++;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) { perror("mapwriter: report"); exit(1); }
  fprintf(f, "definite=%zu maybe=%zu cold=%zu\n", d, m, cold);
  fclose(f);
  if (rename(tmp, path) != 0) { perror("mapwriter: rename"); exit(1); }
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: mapwriter FILE MIB HOT COLD REPORT\n"); return 2; }
  const char *file = argv[1];
  size_t size = (size_t)strtoull(argv[2], NULL, 10) << 20;
  size_t hot = strtoull(argv[3], NULL, 10), cold = strtoull(argv[4], NULL, 10);
  pages = size / PAGE;
  if (size == 0 || hot == 0 || hot + 2 * cold > pages) { fprintf(stderr, "mapwriter: HOT + 2*COLD must fit in the file\n"); return 2; }
  int fd = open(file, O_RDWR | O_CREAT, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) { perror("mapwriter: open"); return 1; }
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) { perror("mapwriter: mmap"); return 1; }
  definite = calloc(pages, 1);
  maybe = calloc(pages, 1);
  struct sigaction sa = {0};
  sa.sa_handler = on_cont;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCONT, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  for (size_t i = 0; i < pages; i++) write_page(base, i);
  char ready[4096];
  snprintf(ready, sizeof ready, "%s.ready", file);
  int r = open(ready, O_WRONLY | O_CREAT, 0600);
  if (r < 0) { perror("mapwriter: ready"); return 1; }
  close(r);
  for (size_t sweep = 0; !pause_requested; sweep++) {
    for (size_t i = 0; i < hot && !pause_requested; i++) write_page(base, i);
    usleep(1000);
  }
  for (size_t i = 0; i < cold; i++) write_page(base, hot + 2 * i);
  report(argv[5], cold);
  raise(SIGSTOP);
  return 0;
}
