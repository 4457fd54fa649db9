/**
 * Clock steps for one process: a preload library that adds an offset to the
 * wall clock (CLOCK_REALTIME, gettimeofday, time) of the program it is loaded
 * into, and leaves the monotonic clocks alone, as an NTP step or an operator's
 * `date -s` does. The offset (signed ms, 8 bytes little-endian) is read from
 * a shared mapping of a file, so the soak steps the clock of a running
 * process by rewriting those 8 bytes in place; nothing else on the machine
 * sees it (setting the real clock would step every process of the host).
 */
import { execFile } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const SHIM_C = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
static volatile int64_t *offset_ms;
static int (*real_gettime)(clockid_t, struct timespec *);
static void load(void) {
  if (real_gettime == 0) real_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  if (offset_ms == 0) {
    const char *p = getenv("SOAK_CLOCK_FILE");
    if (p == 0) return;
    int fd = open(p, O_RDONLY);
    if (fd < 0) return;
    void *m = mmap(0, 8, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m != MAP_FAILED) offset_ms = (volatile int64_t *)m;
  }
}
__attribute__((constructor)) static void init(void) { load(); }
int clock_gettime(clockid_t c, struct timespec *ts) {
  if (real_gettime == 0) load();
  int r = real_gettime(c, ts);
  if (r == 0 && offset_ms != 0 && (c == CLOCK_REALTIME || c == CLOCK_REALTIME_COARSE)) {
    int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + *offset_ms * 1000000;
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
  }
  return r;
}
int gettimeofday(struct timeval *tv, void *tz) {
  (void)tz;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
  return 0;
}
time_t time(time_t *t) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (t) *t = ts.tv_sec;
  return ts.tv_sec;
}
`;

export interface SteppedClock {
  /** Environment for the process whose clock is stepped. */
  readonly env: Record<string, string>;
  /** The offset now, ms. */
  offsetMs(): number;
  /** Moves the process's wall clock by `deltaMs` (negative: back). */
  step(deltaMs: number): void;
}

/** Compiles the library into `dir` (gcc) and makes the offset file, at 0. */
export async function steppedClock(dir: string): Promise<SteppedClock> {
  mkdirSync(dir, { recursive: true });
  const lib = join(dir, "soak-clock.so");
  if (!existsSync(lib)) {
    const source = join(dir, "soak-clock.c");
    writeFileSync(source, SHIM_C);
    await new Promise<void>((resolve, reject) => {
      execFile("gcc", ["-O2", "-shared", "-fPIC", "-o", lib, source, "-ldl"], (e, _out, stderr) => (e ? reject(new Error(`gcc ${source}: ${stderr || e.message}`)) : resolve()));
    });
  }
  const file = join(dir, "clock-offset");
  writeFileSync(file, Buffer.alloc(8));
  let offset = 0;
  return {
    env: { LD_PRELOAD: lib, SOAK_CLOCK_FILE: file },
    offsetMs: () => offset,
    step(deltaMs) {
      offset += Math.round(deltaMs);
      const bytes = Buffer.alloc(8);
      bytes.writeBigInt64LE(BigInt(offset));
      // Rewritten in place, never truncated: the mapping in the stepped process must stay 8 bytes long.
      const fd = openSync(file, "r+");
      try {
        writeSync(fd, bytes, 0, 8, 0);
      } finally {
        closeSync(fd);
      }
    },
  };
}
