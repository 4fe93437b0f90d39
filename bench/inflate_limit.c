/*
 * The practical limit for bench/tiff.ts set B: zlib itself, in C, on the same
 * strips. Usage: inflate_limit <listfile> <reps> <threads> <huge 0|1>
 * The list holds one line per file, "path decoded_bytes strips", then one line
 * "offset length" per strip. Each repetition, every thread takes files in turn:
 * pread the whole file into its own reused buffer, inflate (zlib `uncompress`)
 * each strip into a fresh page-aligned output holding the file's pixels (with
 * huge = 1 2 MiB-aligned and madvise(MADV_HUGEPAGE) before first touch). Every
 * output stays mapped until the batch is done, as a batch loader's results
 * do; the unmapping after it is not timed. Prints one line per repetition:
 * wall ms.
 * No TIFF parsing, checks or predictors: the floor for a decoder on this libz
 * (tifffile's, through Python's zlib module); another inflater may be faster.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#define HUGE (2UL << 20)

typedef struct {
  char path[4096];
  size_t decoded, strips, size;
  uint64_t *off, *len;
  uint8_t *out, *base;
  size_t mapped;
} File;

static File *files;
static size_t nfiles, next_file;
static int huge;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what, const char *path) {
  fprintf(stderr, "inflate_limit: %s: %s\n", what, path);
  exit(1);
}

/* A fresh output of n bytes; huge: 2 MiB-aligned inside a larger mapping, advised first. */
static uint8_t *fresh(size_t n, size_t *mapped, uint8_t **base) {
  size_t want = huge ? n + HUGE : n;
  uint8_t *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap", "output");
  *mapped = want;
  *base = p;
  if (!huge) return p;
  uint8_t *a = (uint8_t *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
  madvise(a, n, MADV_HUGEPAGE);
  return a;
}

static void *worker(void *arg) {
  (void)arg;
  size_t cap = 0;
  uint8_t *buf = NULL;
  for (;;) {
    pthread_mutex_lock(&lock);
    size_t i = next_file++;
    pthread_mutex_unlock(&lock);
    if (i >= nfiles) break;
    File *f = &files[i];
    if (f->size > cap) {
      free(buf);
      cap = f->size;
      buf = malloc(cap);
      if (!buf) die("malloc", f->path);
    }
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open", f->path);
    if (pread(fd, buf, f->size, 0) != (ssize_t)f->size) die("pread", f->path);
    close(fd);
    uint8_t *out = fresh(f->decoded, &f->mapped, &f->base);
    f->out = out;
    size_t at = 0;
    for (size_t s = 0; s < f->strips; s++) {
      uLongf got = (uLongf)(f->decoded - at);
      if (uncompress(out + at, &got, buf + f->off[s], (uLong)f->len[s]) != Z_OK) {
        die("uncompress", f->path);
      }
      at += got;
    }
    if (at != f->decoded) die("decoded size differs", f->path);
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: inflate_limit <listfile> <reps> <threads> <huge 0|1>\n");
    return 2;
  }
  FILE *list = fopen(argv[1], "r");
  if (!list) die("open", argv[1]);
  int reps = atoi(argv[2]), threads = atoi(argv[3]);
  huge = atoi(argv[4]);
  size_t cap = 16;
  files = calloc(cap, sizeof(File));
  for (;;) {
    if (nfiles == cap) files = realloc(files, (cap *= 2) * sizeof(File));
    File *f = &files[nfiles];
    memset(f, 0, sizeof *f);
    if (fscanf(list, "%4095s %zu %zu", f->path, &f->decoded, &f->strips) != 3) break;
    f->off = calloc(f->strips, sizeof(uint64_t));
    f->len = calloc(f->strips, sizeof(uint64_t));
    for (size_t s = 0; s < f->strips; s++) {
      if (fscanf(list, "%lu %lu", &f->off[s], &f->len[s]) != 2) die("bad list", argv[1]);
      if (f->off[s] + f->len[s] > f->size) f->size = f->off[s] + f->len[s];
    }
    nfiles++;
  }
  fclose(list);
  pthread_t *t = calloc((size_t)threads, sizeof(pthread_t));
  for (int r = 0; r < reps; r++) {
    next_file = 0;
    double t0 = now_ms();
    for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, worker, NULL);
    for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
    double ms = now_ms() - t0;
    /* outside the timing, like the garbage collector's later freeing */
    for (size_t i = 0; i < nfiles; i++) munmap(files[i].base, files[i].mapped);
    printf("%.3f\n", ms);
    fflush(stdout);
  }
  return 0;
}
