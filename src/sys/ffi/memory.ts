/**
 * Giving memory back after start-up, through `bun:ffi`: madvise(2) on the
 * pages of our own executable that start-up read and the running daemon no
 * longer needs, and mlockall(2) for what it does need.
 *
 * Only the Bun runtime (the vigil binary) has FFI; elsewhere
 * loadMemoryCalls rejects with FfiUnavailableError.
 */
import { openLibcTable } from "./libc.ts";

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

export interface MemoryCalls {
  /** 0, or the errno. */
  madvise(addr: bigint, length: bigint, advice: number): number;
}

let cached: MemoryCalls | undefined;

export async function loadMemoryCalls(): Promise<MemoryCalls> {
  if (cached !== undefined) return cached;
  const libc = await openLibcTable("memory trimming", SYMBOLS);
  const s = libc.symbols as Symbols;
  cached = {
    madvise: (addr, length, advice) => (s.madvise(addr, length, advice) === 0 ? 0 : libc.errno()),
  };
  return cached;
}
