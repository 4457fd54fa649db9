/**
 * An eventfd that tells a receive Worker blocked in poll() (raw-reader.ts)
 * to stop. Without it the Worker had to wake on a short poll timeout just
 * to look at its stop flag: ten times a second on every idle VRRP node, for
 * nothing. With it the Worker polls its socket and this fd, and wakes only
 * for a datagram or for close().
 *
 * Its own libc table (openLibcTable): eventfd and write are needed nowhere
 * else.
 */
import { openLibcTable } from "./libc.ts";

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

const TABLE = {
  eventfd: { args: ["u32", "i32"], returns: "i32" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

interface WakeSymbols {
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Uint8Array, count: number): bigint | number;
  close(fd: number): number;
}

export interface WakeFd {
  readonly fd: number;
  /** Makes the fd readable: a poll() on it returns. Call after setting the stop flag. */
  wake(): void;
  close(): void;
}

/** The count an eventfd write adds: 1, as a little-endian u64 (x86-64 and arm64). */
const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * A wake fd, or undefined where one cannot be made (no FFI, no eventfd):
 * the caller then keeps a short poll timeout, as before.
 */
export async function openWakeFd(feature: string): Promise<WakeFd | undefined> {
  let symbols: WakeSymbols;
  try {
    symbols = (await openLibcTable(feature, TABLE)).symbols as WakeSymbols;
  } catch {
    return undefined;
  }
  const fd = symbols.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return undefined;
  let open = true;
  return {
    fd,
    wake() {
      if (open) symbols.write(fd, ONE, ONE.length);
    },
    close() {
      if (!open) return;
      open = false;
      symbols.close(fd);
    },
  };
}
