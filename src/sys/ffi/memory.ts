/**
 * Giving memory back after start-up, through `bun:ffi`: madvise(2) on the
 * pages of our own executable that start-up read and the running daemon no
 * longer needs, and mlockall(2) for what it does need.
 *
 * Only the Bun runtime (the vigil binary) has FFI; elsewhere
 * loadMemoryCalls rejects with FfiUnavailableError.
 */
import { FfiUnavailableError, LIBC_PATH, loadFfi } from "./libc.ts";

/** madvise: drop this range's page table entries; file pages stay in the page cache and fault back in on use. */
export const MADV_DONTNEED = 4;

const SYMBOLS = {
  madvise: { args: ["u64", "u64", "i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

interface Symbols {
  madvise(addr: bigint, length: bigint, advice: number): number;
  __errno_location(): number | bigint | null;
}

interface FfiForMemory {
  dlopen(path: string, symbols: typeof SYMBOLS): { symbols: unknown };
  read: { i32(ptr: number | bigint, byteOffset?: number): number };
}

export interface MemoryCalls {
  /** 0, or the errno. */
  madvise(addr: bigint, length: bigint, advice: number): number;
}

let cached: MemoryCalls | undefined;

export async function loadMemoryCalls(): Promise<MemoryCalls> {
  if (cached !== undefined) return cached;
  const ffi = (await loadFfi("memory trimming")) as unknown as FfiForMemory;
  let s: Symbols;
  try {
    s = ffi.dlopen(LIBC_PATH, SYMBOLS).symbols as Symbols;
  } catch (e) {
    throw new FfiUnavailableError("memory trimming", `cannot open ${LIBC_PATH}: ${e instanceof Error ? e.message : String(e)}`);
  }
  cached = {
    madvise(addr, length, advice) {
      if (s.madvise(addr, length, advice) === 0) return 0;
      const at = s.__errno_location();
      return at === null ? -1 : ffi.read.i32(at, 0);
    },
  };
  return cached;
}
