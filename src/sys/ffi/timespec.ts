/**
 * struct timespec for utimensat(2): the two special values and the
 * conversion from nanoseconds since the epoch, shared by the path calls
 * (fs-calls.ts) and the directory-fd calls (dir-calls.ts).
 */

/** tv_nsec values utimensat reads as "now" and "leave as it is". */
export const UTIME_NOW = (1n << 30n) - 1n;
export const UTIME_OMIT = (1n << 30n) - 2n;

/** Nanoseconds as the `index`th struct timespec in `into` (x86-64 and arm64: two 64-bit fields). */
export function timespec(ns: bigint, into: BigInt64Array, index: number): void {
  if (ns === UTIME_NOW || ns === UTIME_OMIT) {
    into[index * 2] = 0n;
    into[index * 2 + 1] = ns;
    return;
  }
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  into[index * 2] = sec;
  into[index * 2 + 1] = nsec;
}
