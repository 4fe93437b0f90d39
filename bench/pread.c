/*
 * The practical limit for bench/ffi.ts: a C loop over the same files.
 * Usage: pread <listfile> <reps>
 * Runs each kind <reps> times in a row, printing a line per run: kind, wall ms, process CPU ms.
 *   reused …  open, fstat, pread into one preallocated buffer, close (issue 4's baseline)
 *   fresh …   the same into a fresh page-aligned arena holding every file (64-byte slots),
 *             as a loader that returns all the bytes must do: map, read (page faults
 *             included), unmap (the freeing a garbage collector does later)
 *   huge …    "fresh" with the arena 2 MiB-aligned, madvise(MADV_HUGEPAGE) before first
 *             touch, then MADV_POPULATE_WRITE (what the FFI reader does with huge pages
 *             on): the measured limit of fresh memory
 *   arena …   the same into one arena mapped before the first repetition and reused,
 *             pages already faulted in (what leaseFiles does after its first lease)
 *   mmap …    mmap each file (MAP_POPULATE), sum one byte per 4 KiB page, munmap: the
 *             work of the zero-copy row, which touches every page the same way
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define HUGE (2UL << 20)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  FILE *list = fopen(argv[1], "r");
  if (!list) return 2;
  int reps = atoi(argv[2]);
  size_t cap = 1024, n = 0, max = 0;
  char **paths = malloc(cap * sizeof *paths);
  char line[8192];
  while (fgets(line, sizeof line, list)) {
    line[strcspn(line, "\n")] = 0;
    if (!*line) continue;
    if (n == cap) paths = realloc(paths, (cap *= 2) * sizeof *paths);
    paths[n++] = strdup(line);
    struct stat st;
    if (stat(line, &st) != 0) return 3;
    if ((size_t)st.st_size > max) max = st.st_size;
  }
  fclose(list);
  char *buf = aligned_alloc(4096, (max + 4095) / 4096 * 4096 + 4096);
  memset(buf, 0, (max + 4095) / 4096 * 4096);
  int *fds = malloc(n * sizeof *fds);
  size_t *sizes = malloc(n * sizeof *sizes);
  char *kept = NULL;
  size_t kept_len = 0;
  // Kind-major: every kind runs `reps` times in a row (the caller keeps the
  // last), so each measures the steady state of a loop doing only that work
  // (the fresh kinds then get pages their previous repetition just freed).
  for (int k = 0; k < 5; k++) for (int r = 0; r < reps; r++) {
    double t0 = now_ms(), c0 = cpu_ms();
    size_t total = 0, arena = 0, off = 0;
    if (k == 0) {
    for (size_t i = 0; i < n; i++) {
      int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0) return 4;
      ssize_t got = pread(fd, buf, st.st_size, 0);
      if (got != st.st_size) return 5;
      total += got;
      close(fd);
    }
    printf("reused %.3f %.3f\n", now_ms() - t0, cpu_ms() - c0);
    if (total == 0 && n > 0 && max > 0) return 7;
    } else if (k == 1) {
    for (size_t i = 0; i < n; i++) {
      fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fds[i] < 0 || fstat(fds[i], &st) != 0) return 4;
      sizes[i] = st.st_size;
      arena += (st.st_size + 64) & ~(size_t)63;
    }
    char *a = mmap(NULL, arena, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) return 6;
    for (size_t i = 0; i < n; i++) {
      if (pread(fds[i], a + off, sizes[i], 0) != (ssize_t)sizes[i]) return 5;
      off += (sizes[i] + 64) & ~(size_t)63;
      close(fds[i]);
    }
    munmap(a, arena);
    printf("fresh %.3f %.3f\n", now_ms() - t0, cpu_ms() - c0);
    } else if (k == 2) {
    for (size_t i = 0; i < n; i++) {
      fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fds[i] < 0 || fstat(fds[i], &st) != 0) return 4;
      sizes[i] = st.st_size;
      arena += (st.st_size + 64) & ~(size_t)63;
    }
    size_t mapped = arena + HUGE;
    char *h = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED) return 6;
    char *ha = (char *)(((uintptr_t)h + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    size_t hlen = ((uintptr_t)(h + mapped) & ~(uintptr_t)(HUGE - 1)) - (uintptr_t)ha;
    madvise(ha, hlen, MADV_HUGEPAGE);
    madvise(ha, arena, MADV_POPULATE_WRITE);
    off = 0;
    for (size_t i = 0; i < n; i++) {
      if (pread(fds[i], ha + off, sizes[i], 0) != (ssize_t)sizes[i]) return 5;
      off += (sizes[i] + 64) & ~(size_t)63;
      close(fds[i]);
    }
    munmap(h, mapped);
    printf("huge %.3f %.3f\n", now_ms() - t0, cpu_ms() - c0);
    } else if (k == 3) {
    if (kept == NULL) {
      for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return 4;
        arena += (st.st_size + 64) & ~(size_t)63;
      }
      kept_len = arena;
      kept = mmap(NULL, kept_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (kept == MAP_FAILED) return 6;
      memset(kept, 0, kept_len);
    }
    t0 = now_ms();
    c0 = cpu_ms();
    for (size_t i = 0; i < n; i++) {
      fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fds[i] < 0 || fstat(fds[i], &st) != 0) return 4;
      sizes[i] = st.st_size;
    }
    off = 0;
    for (size_t i = 0; i < n; i++) {
      if (off + sizes[i] > kept_len) return 8;
      if (pread(fds[i], kept + off, sizes[i], 0) != (ssize_t)sizes[i]) return 5;
      off += (sizes[i] + 64) & ~(size_t)63;
      close(fds[i]);
    }
    printf("arena %.3f %.3f\n", now_ms() - t0, cpu_ms() - c0);
    } else {
    unsigned long touched = 0;
    for (size_t i = 0; i < n; i++) {
      int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0) return 4;
      if (st.st_size > 0) {
        volatile unsigned char *m =
            mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m == MAP_FAILED) return 6;
        for (off_t p = 0; p < st.st_size; p += 4096) touched += m[p];
        munmap((void *)m, st.st_size);
      }
      close(fd);
    }
    printf("mmap %.3f %.3f %lu\n", now_ms() - t0, cpu_ms() - c0, touched);
    }
    fflush(stdout);
  }
  return 0;
}
